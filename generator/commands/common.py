"""What several commands share: the progress callback type, the warnings they print, and where a built
report's evaluation images are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evalsite.core.errors import LOUD_NOTICES, InputError, Notice
from evalsite.core.progress import Console

Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> advance(n)
Echo = Callable[[str], None]  # prints one line of a command's result on standard output (a path to open...)
MAX_WARNINGS = 20


def silent(label: str, total: int) -> Callable[[int], None]:
    """A Progress that shows nothing."""
    return lambda n: None


def report_notices(console: Console, notices: list[Notice]) -> None:
    """The first MAX_WARNINGS notices as warnings, those that may mean a misread (LOUD_NOTICES) first, and
    how many more there are."""
    notices = sorted(notices, key=lambda notice: notice.code not in LOUD_NOTICES)  # stable: file order kept
    for notice in notices[:MAX_WARNINGS]:
        console.warn(notice.one_line())
    if len(notices) > MAX_WARNINGS:
        console.warn(f"... and {len(notices) - MAX_WARNINGS} more (all listed on the Data & method page)")


def images_root(report, report_dir: Path, option: str = "--images") -> Path:
    """The images of a report (callers take --images first when given): its `images_path` (relative to
    report.json's folder, `report_dir`: found from any working folder), else its images root as recorded
    (absolute, or relative to the current folder, the report's folder or its parent: reports written before
    `images_path`); an InputError asks for `option` (the command's: --images, verify's --report-images) when
    none exists."""
    recorded = Path(report.task.images_root)
    located = [report_dir / report.task.images_path] if report.task.images_path else []
    relative = [Path.cwd() / recorded, report_dir / recorded, report_dir.parent / recorded]
    for candidate in located + ([recorded] if recorded.is_absolute() else relative):
        if candidate.is_dir():
            return candidate
    raise InputError(f"cannot find the images of this report ({report.task.images_root!r}); give {option} DIR",
                     report_dir)
