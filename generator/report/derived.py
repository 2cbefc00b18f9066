"""Tables derived from a report for its pages, computed when its site is built (they are not in report.json):
the likely label errors in page order and the threshold explorer's table. The site-building command gets
them with `derived_tables` and hands them to evalsite.render, which never computes."""

from __future__ import annotations

from dataclasses import dataclass

from evalsite.core.enums import SuspectReason
from evalsite.metrics.label_errors import suspect_order
from evalsite.metrics.threshold_table import threshold_table
from evalsite.report.classification_model import ClassificationReport, Misclassification
from evalsite.report.detection_model import BoxMistake, DetectionReport
from evalsite.report.kinds import task_kind
from evalsite.report.model import Report


@dataclass
class ClassificationTables:
    suspects: list[Misclassification]  # `ranked_suspects`


@dataclass
class DetectionTables:
    suspects: dict[SuspectReason, list[BoxMistake]]  # `suspects_by_reason`
    thresholds: dict | None  # `explorer_table`


Tables = ClassificationTables | DetectionTables


def derived_tables(report: Report) -> Tables:
    """The tables of `report`'s pages (of its task kind: evalsite.report.kinds)."""
    return task_kind(report.task.type).derive_tables(report)


def classification_tables(report: ClassificationReport) -> ClassificationTables:
    return ClassificationTables(suspects=ranked_suspects(report))


def detection_tables(report: DetectionReport) -> DetectionTables:
    return DetectionTables(suspects=suspects_by_reason(report), thresholds=explorer_table(report))


def ranked_suspects(report: ClassificationReport) -> list[Misclassification]:
    """The likely label errors, most suspicious first (largest margin; ties: error order)."""
    return sorted((e for e in report.errors if e.suspect), key=lambda e: -(e.suspicion or 0.0))


def suspects_by_reason(report: DetectionReport) -> dict[SuspectReason, list[BoxMistake]]:
    """The likely label errors by reason (REASONS order), most suspicious first in each (then the largest
    box; evalsite.metrics.label_errors.suspect_order)."""
    flagged = [e for e in report.errors if e.suspect]
    order = suspect_order([e.suspect for e in flagged], [e.suspicion for e in flagged],
                          [e.box[2] * e.box[3] for e in flagged])
    found: dict[SuspectReason, list[BoxMistake]] = {}
    for i in order:
        found.setdefault(flagged[i].suspect, []).append(flagged[i])  # type: ignore[arg-type]
    return found


def explorer_table(report: DetectionReport) -> dict | None:
    """The threshold explorer's table (evalsite.metrics.threshold_table) with `t_star` and the label `names`;
    None without evidence (a report written by an older evalsite)."""
    e = report.evidence
    if e is None:
        return None
    t_star = report.metrics.get("threshold")
    t_star = t_star if isinstance(t_star, (int, float)) and t_star == t_star else None
    table = threshold_table(e.dt_label, e.dt_score, e.dt_tp, e.gt_label, len(report.dataset.labels),
                            keep=[t_star] if t_star is not None else [])
    table.update(t_star=t_star, names=list(report.dataset.labels))
    return table
