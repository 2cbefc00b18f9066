"""compare.json (schema "evalsite.compare/1"): two reports of the same evaluation set side by side, with
paired-bootstrap intervals of their differences. Documented field by field in docs/report-json.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from evalsite.core.enums import TaskType, Verdict

COMPARE_SCHEMA = "evalsite.compare/1"


@dataclass
class ReportRef:
    name: str  # the report's task name (its folder)
    model: str | None
    path: str  # the report.json compared, as given
    sha256: str  # of that report.json
    date: str


@dataclass
class MetricChange:
    metric: str  # a key of report.json `metrics` (coco.AP for the nested COCO AP)
    base: float | None
    candidate: float | None
    difference: float | None  # candidate - base
    low: float | None  # paired bootstrap 95% interval of the difference (None: not resampled)
    high: float | None
    verdict: Verdict


@dataclass
class LabelChange:
    label: str
    base: float | None  # the label's metric (classification F1, detection AP@0.5)
    candidate: float | None
    difference: float | None
    base_recall: float | None
    candidate_recall: float | None
    examples: int  # ground-truth images (classification) or objects (detection) of the label


@dataclass
class PairChange:
    true: str | None  # None: background (detection)
    predicted: str | None  # None: no prediction (classification) / missed (detection)
    base: int
    candidate: int


@dataclass
class ImageChange:
    image: str
    base_errors: int  # classification: 1 if wrong; detection: false positives + missed objects at own t*
    candidate_errors: int
    base_summary: str  # classification: the top-1 label; detection: "FP/missed" counts, for captions
    candidate_summary: str
    base_score: float | None = None  # classification: the top-1 confidence
    candidate_score: float | None = None
    true: str | None = None  # classification: the true label


@dataclass
class Comparison:
    schema: str
    type: TaskType
    group: str
    language: str
    evalsite_version: str
    base: ReportRef
    candidate: ReportRef
    images: int
    resamples: int
    seed: int
    headline: list[MetricChange]
    labels: list[LabelChange]  # sorted by the size of the change, largest first
    label_metric: str  # f1 | ap50
    threshold_base: float | None  # detection: each model's own t*
    threshold_candidate: float | None
    confusion: list[PairChange]  # off-diagonal cells whose count changed, largest change first
    fixed: list[ImageChange]  # fewer errors with the candidate, most improved first
    broken: list[ImageChange]  # more errors with the candidate, most worsened first
    unchanged_errors: int  # images with errors under both, as many
    notes: list[str] = field(default_factory=list)
