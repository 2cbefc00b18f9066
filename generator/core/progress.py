"""Progress on stderr: a bar per long step, silent with --quiet."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click


class Console:
    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def step(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True)

    def warn(self, text: str) -> None:
        # Warnings are shown even with --quiet: they say what the report leaves out.
        click.echo(f"warning: {text}", err=True)

    def progress(self, label: str, total: int) -> Callable[[int], None]:
        """A bar for `total` units of work; returns advance(n). Closes itself when done."""
        if self.quiet or total <= 0:
            return lambda n: None
        bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, width=30)
        bar.__enter__()
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            bar.update(n)
            if done >= total:
                bar.__exit__(None, None, None)

        return advance
