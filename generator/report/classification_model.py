"""report.json of a classification task: the shared top level (evalsite.report.model) with one label per image.
Documented field by field in docs/report-json.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from evalsite.core.enums import ImageStatus, Rating, SuspectReason
from evalsite.report.codec import Check
from evalsite.report.model import BaseReport, ConfusedPair, Intervals, cells_in_matrix


@dataclass
class LabelCount:
    label: str
    images: int  # images whose true label this is


@dataclass
class Dataset:
    images: int
    labels: list[str]  # the task's label order (ties in scores go to the first)
    counts: list[LabelCount]
    images_without_prediction: int
    images_missing: int  # image file not found
    images_unreadable: int  # corrupt, truncated or not an image
    labels_only_predicted: list[str]
    small_set: bool  # images < small_set_threshold
    label_names: dict[str, str] | None = None  # manifest `label_names`: display name of each label id


@dataclass
class LabelMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int  # images of this label in the ground truth
    predicted: int  # images predicted as this label (top-1)
    errors: int  # images of this label whose top-1 is another label or missing
    # 95% bootstrap intervals [low, high] (see Intervals); None when undefined
    precision_interval: list[float] | None = None
    recall_interval: list[float] | None = None
    f1_interval: list[float] | None = None


@dataclass
class Confusion:
    rows: list[str]  # true labels (present ones, label order)
    columns: list[str | None]  # predicted labels, then None for "no prediction"
    cells: list[list[int]]  # the non-zero cells [row, column, count] (indices into rows, columns), row order
    row_totals: list[int]  # images of each true label
    top_pairs: list[ConfusedPair]  # the largest cells off the diagonal (evalsite.report.confusion.TOP_PAIRS)


@dataclass
class TopK:
    k: int
    accuracy: float


@dataclass
class Curves:
    topk: list[TopK]


@dataclass
class ImageResult:
    image: str  # path relative to the images root
    true: str
    predicted: str | None  # top-1 label; None without a prediction
    confidence: float | None  # the top-1 score (any scale: probability, logit, decision value)
    true_rank: int  # 1-based position of the true label in the ranking; 0 when not ranked
    correct: bool
    status: ImageStatus
    width: int | None
    height: int | None
    problem: str | None = None


@dataclass
class Misclassification:
    image: str
    true: str
    predicted: str | None
    confidence: float | None
    # likely label error (generator/metrics/label_errors.py): reason code or None; suspicion = top-1 score
    # minus the given label's score; suspect_threshold = t_j, the bar the top-1 score passed
    suspect: SuspectReason | None = None  # confident_other_label
    suspicion: float | None = None
    suspect_threshold: float | None = None


@dataclass
class Findings:
    """What the basic conclusion says, as data; the sentences come from the message catalogue."""

    rating: Rating
    rated_metric: str
    weakest: list[str]  # labels with the lowest F1, below the average
    confused: list[ConfusedPair]  # most frequent mistakes
    few_examples: list[str]  # labels with fewer than FEW_EXAMPLES images
    collect_more: list[str]  # labels to collect more data for


@dataclass
class ClassificationReport(BaseReport):
    dataset: Dataset
    metrics: dict[str, float | None]  # accuracy, precision, recall, f1, top1 ... top5
    per_label: list[LabelMetrics]
    confusion: Annotated[Confusion, Check(cells_in_matrix)]
    curves: Curves
    errors: list[Misclassification]
    images: list[ImageResult]
    findings: Findings
    intervals: Intervals | None = None
    metadata: dict[str, dict[str, str]] | None = None  # the manifest's metadata CSV: image -> {column: value}
