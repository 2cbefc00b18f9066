"""Errors and warnings about the user's inputs.

An :class:`InputError` names the file, the record (line, row or key) and the problem; the CLI prints it on one
line and exits with status 2 without writing anything. A :class:`Notice` is a problem that does not stop the
report (a missing image, a prediction for an unknown image): it is printed, counted and kept in report.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class InputError(Exception):
    """Bad input: `file`, `record` (e.g. "line 12") and what is wrong."""

    def __init__(self, problem: str, file: str | Path | None = None, record: str | None = None):
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.record = record
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ", ".join(part for part in (self.file, self.record) if part)
        return f"{where}: {self.problem}" if where else self.problem


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
