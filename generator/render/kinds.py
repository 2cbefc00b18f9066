"""The pages of each task kind: for each task type, the function that writes its report's pages and the
galleries the "Shared traits" page links to (the report side of each kind is evalsite.report.kinds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsite.core.enums import TaskType
from evalsite.render.detection_pages import detection_galleries, render_detection
from evalsite.render.pages import gallery_pages, render_classification
from evalsite.report.derived import Tables
from evalsite.report.model import Report

__all__ = ["PAGES", "KindPages", "first_gallery_pages", "render_report"]


@dataclass(frozen=True)
class KindPages:
    # (report, tables, images root, docs, progress): every page, chart, picture and download into docs
    render: Callable[..., None]
    # (report) -> the gallery pages of its errors, without pictures (.label, .file)
    galleries: Callable[[Any], list]


_CLASSIFICATION = KindPages(render_classification, lambda report: gallery_pages(report, {}))
_DETECTION = KindPages(render_detection, lambda report: detection_galleries(report))
PAGES: dict[TaskType, KindPages] = {TaskType.CLASSIFICATION: _CLASSIFICATION, TaskType.DETECTION: _DETECTION,
                                    TaskType.SEGMENTATION: _DETECTION}


def render_report(report: Report, tables: Tables, images_root: Path, docs: Path,
                  progress: Callable[[int], None] | None = None) -> None:
    """Write every page, chart, picture and download of `report` into `docs`; `tables` from
    evalsite.report.derived.derived_tables(report)."""
    PAGES[report.task.type].render(report, tables, images_root, docs, progress)


def first_gallery_pages(report: Report) -> dict[str, str]:
    """The docs path of the first gallery page of each label with errors."""
    return {g.label: g.file for g in PAGES[report.task.type].galleries(report)}
