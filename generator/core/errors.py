"""Every error evalsite raises on purpose, under one root, and the exit codes they map to.

Like MkDocs' ``exceptions.py``: one root (:class:`EvalsiteError`), a class per kind of failure below it,
and the exit status each kind gives in one place (:data:`EXIT_CODES`), so the command line, the Python API
and the tests agree on what a failure means.

An :class:`InputError` names the file, the record (line, row or key) and the problem; the CLI prints it on one
line and exits with status 2 without writing anything. A :class:`Notice` is a problem that does not stop the
report (a missing image, a prediction for an unknown image): it is printed, counted and kept in report.json.
`listing` writes the names a message or notice lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

__all__ = ["EXIT_CODES", "LOUD_NOTICES", "BuildError", "ClusterError", "EvalsiteError", "ExitCode", "InputError",
           "MaskError", "Notice", "OutputError", "exit_code"]


class ExitCode(IntEnum):
    """The exit status of the `evalsite` command; scripts rely on these."""

    OK = 0
    BUG = 1  # an unexpected failure: a bug in evalsite (please report it)
    INPUT = 2  # bad input, bad usage or an environment problem (a folder not writable, a full disk, a file-size
    # limit): the message names the file (and the record) and the problem
    INTERRUPTED = 130  # Ctrl-C; nothing was written


class EvalsiteError(Exception):
    """The root of every error evalsite raises on purpose. `one_line()` is the message the CLI prints."""

    def one_line(self) -> str:
        return str(self)


class InputError(EvalsiteError):
    """Bad input: `file`, `record` (e.g. "line 12") and what is wrong."""

    def __init__(self, problem: str, file: str | Path | None = None, record: str | None = None):
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.record = record
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ", ".join(part for part in (self.file, self.record) if part)
        return f"{where}: {self.problem}" if where else self.problem


class BuildError(EvalsiteError):
    """MkDocs refused the generated site (a bug in evalsite: its pages must build without warnings)."""


class OutputError(EvalsiteError):
    """An output that could not be written (not writable, disk full, file-size limit...): `path` and `problem`.
    Nothing was published: the previous site, if any, is untouched."""

    def __init__(self, problem: str, path: str | Path):
        self.problem, self.path = problem, str(path)
        super().__init__(f"{self.path}: {problem}")


class ClusterError(EvalsiteError):
    """The Dask cluster asked for cannot be used: Dask not installed, a scheduler that does not answer, a worker
    that died on every try of the same work (docs/cluster.md)."""


class MaskError(EvalsiteError, ValueError):
    """A bad mask of a batch: `index` (its position in the batch) and `problem` (one line, no index).

    Also a ValueError, so that code decoding one mask can treat it like any other bad value."""

    def __init__(self, index: int, problem: str):
        super().__init__(f"mask {index}: {problem}")
        self.index, self.problem = index, problem


# The exit status of each kind of error; the most specific class listed wins.
EXIT_CODES: dict[type[EvalsiteError], ExitCode] = {
    InputError: ExitCode.INPUT,
    OutputError: ExitCode.INPUT,
    MaskError: ExitCode.INPUT,
    ClusterError: ExitCode.INPUT,
    BuildError: ExitCode.BUG,
    EvalsiteError: ExitCode.BUG,
}


def exit_code(error: BaseException) -> ExitCode:
    """The exit status for `error` (:data:`EXIT_CODES`; a file-system error is an environment problem, 2;
    anything else not ours is a bug, 1)."""
    if isinstance(error, OSError):
        return ExitCode.INPUT
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return ExitCode.BUG


@dataclass
class Notice:
    """A problem that is reported but does not stop the build. `code` selects the catalogue message."""

    code: str
    file: str | None = None
    record: str | None = None
    detail: str = ""

    def one_line(self) -> str:
        where = ", ".join(part for part in (self.file, self.record) if part)
        text = f"{self.code}: {self.detail}" if self.detail else self.code
        return f"{where}: {text}" if where else text


# Notices that may mean the inputs were misread (evalsite.formats.misreads): besides the console and the Data &
# method page, the report's first page lists them in a warning box, each with its fix (messages.yaml fix_<code>).
LOUD_NOTICES = frozenset({"ground_truth_without_prediction", "images_mostly_missing"})

LISTED = 10  # how many names a message lists before "and N more"


def listing(names: list[str]) -> str:
    """Names for a message: the first LISTED quoted, then "and N more"."""
    shown = ", ".join(repr(n) for n in names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
