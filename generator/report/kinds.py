"""The registry of task kinds: for each task type, its report class, its headline metric, its report builder
and the tables its pages derive from the report (evalsite.report.derived). Code that depends on the task
type asks here (or `report.task.type`, a TaskType) rather than comparing type names; the pages of each kind
are in evalsite.render.kinds."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from evalsite.core.enums import TaskType
from evalsite.report.classification_model import ClassificationReport
from evalsite.report.detection_model import DetectionReport
from evalsite.report.model import BaseReport

__all__ = ["KINDS", "TaskKind", "task_kind"]


@dataclass(frozen=True)
class TaskKind:
    type: TaskType
    report: type[BaseReport]  # the class of its report.json
    headline: str  # its headline metric, a key of the report's `metrics` (the overview shows it)
    # "module:function" names, imported when used (they import numpy, scikit-learn...; loading a report does not)
    builder: str  # assembles its report from the inputs
    tables: str  # the tables its pages show that are not in report.json
    starter: str = ""  # starts the builder's work that needs only the inputs ("": none)
    preparer: str = ""  # readies what the builder needs before the inputs are read ("": nothing)

    def prepare_report(self, with_intervals: bool = True) -> None:
        """Ready what the report's work needs (imports), while the reader waits on its forked part: done then,
        it is not done again in each of the report's two processes (`start_report`)."""
        if self.preparer:
            _function(self.preparer)(with_intervals)

    def start_report(self, inputs: Any, with_intervals: bool = True) -> Any:
        """The work of the report that needs only `inputs`, started beside the caller (None when this kind
        has none), for `build_report(..., started=)`: the caller checks the images meanwhile."""
        return _function(self.starter)(inputs, with_intervals) if self.starter else None

    def cancel_report(self, started: Any) -> None:
        """Stop what `start_report` started, when `build_report` will not be called (an error)."""
        if started is not None:
            started.cancel()

    def build_report(self, inputs: Any, infos: list, task: Any, notices: list, with_intervals: bool = True,
                     started: Any = None) -> BaseReport:
        """The report of `inputs` (what this kind's reader gives), the images' checks `infos`, the TaskInfo
        `task` and the reading's notices; `with_intervals=False` leaves out the bootstrap intervals;
        `started`: what `start_report(inputs, with_intervals)` returned, if it was called."""
        if started is None:
            return _function(self.builder)(inputs, infos, task, notices, with_intervals)
        return _function(self.builder)(inputs, infos, task, notices, with_intervals, started=started)

    def derive_tables(self, report: BaseReport) -> Any:
        """The tables of `report`'s pages (evalsite.report.derived)."""
        return _function(self.tables)(report)


def _function(name: str) -> Any:
    module, function = name.split(":")
    return getattr(importlib.import_module(module), function)


KINDS: dict[TaskType, TaskKind] = {
    TaskType.CLASSIFICATION: TaskKind(TaskType.CLASSIFICATION, ClassificationReport, "accuracy",
                                      "evalsite.report.classification:build_classification_report",
                                      "evalsite.report.derived:classification_tables"),
    TaskType.DETECTION: TaskKind(TaskType.DETECTION, DetectionReport, "mAP50",
                                 "evalsite.report.detection:build_detection_report",
                                 "evalsite.report.derived:detection_tables",
                                 "evalsite.report.detection:start_detection_report",
                                 "evalsite.report.detection:prepare_detection_report"),
    TaskType.SEGMENTATION: TaskKind(TaskType.SEGMENTATION, DetectionReport, "mAP50",
                                    "evalsite.report.detection:build_detection_report",
                                    "evalsite.report.derived:detection_tables",
                                    "evalsite.report.detection:start_detection_report",
                                 "evalsite.report.detection:prepare_detection_report"),
}


def task_kind(task_type: str) -> TaskKind:
    """The kind of a task type (a TaskType or its name); KeyError for an unknown one."""
    return KINDS[task_type]  # type: ignore[index]  # a TaskType is its name: a plain string finds it too
