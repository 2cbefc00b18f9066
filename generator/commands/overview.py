"""`evalsite overview`: the task overview of every report under a folder."""

from __future__ import annotations

from pathlib import Path

from evalsite.commands.common import report_notices
from evalsite.core.errors import InputError
from evalsite.core.progress import Console


def run_overview(root: Path, language: str, console: Console) -> Path:
    """ROOT/overview/ and ROOT/index.html, which opens it, for every ROOT/<task>/report.json; returns
    ROOT/index.html."""
    from evalsite.site.overview import build_overview

    if not root.is_dir():
        raise InputError("folder not found", root)
    index, entries, notices = build_overview(root, language)
    report_notices(console, notices)
    console.step(f"{len(entries)} task(s) listed")
    return index
