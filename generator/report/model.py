"""report.json, schema "evalsite.report/1" (documented field by field in the README).

Plain dataclasses; `to_json` writes them with a stable key order, `Report.from_dict` reads them back, so a
site can be rebuilt from report.json and the images alone.
"""

from __future__ import annotations

import dataclasses
import functools
import orjson
import types
import typing
from dataclasses import dataclass, field

from evalsite.core.errors import Notice

SCHEMA = "evalsite.report/1"


@dataclass
class InputFile:
    role: str  # "ground_truth", "predictions", "labels"
    format: str
    path: str
    sha256: str


@dataclass
class TaskInfo:
    name: str
    type: str  # classification | detection | segmentation
    language: str  # zh | en
    evalsite_version: str
    date: str  # YYYY-MM-DD of the evaluation (SOURCE_DATE_EPOCH when set, for reproducible builds)
    images_root: str
    inputs: list[InputFile]
    label_source: str  # classification: declared | score columns | data; detection: categories | declared
    prediction_kind: str  # classification: scores | topk; detection: boxes
    small_set_threshold: int
    image_matching: str | None = None  # detection: "id" or "file name"
    label_matching: str | None = None  # detection: "id" or "name"
    iou_threshold: float | None = None  # detection: IoU for the headline mAP, operating point and errors
    annotation_url: str | None = None  # detection: template linking an error to the annotation tool
    group: str | None = None  # the training task this report belongs to (default: name); see the overview
    model: str | None = None  # the model version evaluated, when the manifest names it


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
class Intervals:
    """95% intervals of the headline metrics: the percentile bootstrap over images (`resamples` draws of the
    evaluation images with replacement, fixed `seed`), from the per-image results. `metrics` maps a key of
    the report's `metrics` ("coco.AP" style for nested ones) to [low, high], or None when undefined."""

    method: str  # "percentile bootstrap over images"
    resamples: int
    seed: int
    level: float
    metrics: dict[str, list[float] | None]
    accuracy_wilson: list[float] | None = None  # classification: Wilson score interval of the accuracy


@dataclass
class ConfusedPair:
    true: str
    predicted: str | None  # None: no prediction
    count: int
    share: float  # count / images of the true label


@dataclass
class Confusion:
    rows: list[str]  # true labels (present ones, label order)
    columns: list[str | None]  # predicted labels, then None for "no prediction"
    counts: list[list[int]]
    normalised: list[list[float]]  # each row divided by its sum
    top_pairs: list[ConfusedPair]


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
    status: str  # ok | missing | unreadable
    width: int | None
    height: int | None
    problem: str | None = None


@dataclass
class ClassificationError:
    image: str
    true: str
    predicted: str | None
    confidence: float | None
    # likely label error (generator/metrics/label_errors.py): reason code or None; suspicion = top-1 score
    # minus the given label's score; suspect_threshold = t_j, the bar the top-1 score passed
    suspect: str | None = None
    suspicion: float | None = None
    suspect_threshold: float | None = None


@dataclass
class Findings:
    """What the basic conclusion says, as data; the sentences come from the message catalogue."""

    rating: str  # excellent | good | fair | poor
    rated_metric: str
    weakest: list[str]  # labels with the lowest F1, below the average
    confused: list[ConfusedPair]  # most frequent mistakes
    few_examples: list[str]  # labels with fewer than FEW_EXAMPLES images
    collect_more: list[str]  # labels to collect more data for


class Loadable:
    """A report that can be read back from parsed report.json."""

    @classmethod
    def from_dict(cls, data: dict):
        if data.get("schema") != SCHEMA:
            raise ValueError(f"unknown report schema {data.get('schema')!r}; this evalsite reads {SCHEMA!r}")
        return _build(cls, data)


@dataclass
class Report(Loadable):
    schema: str
    task: TaskInfo
    dataset: Dataset
    metrics: dict[str, float | None]
    per_label: list[LabelMetrics]
    confusion: Confusion
    curves: Curves
    errors: list[ClassificationError]
    images: list[ImageResult]
    findings: Findings
    notices: list[Notice] = field(default_factory=list)
    intervals: Intervals | None = None
    metadata: dict[str, dict[str, str]] | None = None  # the manifest's metadata CSV: image -> {column: value}



def to_json(report: object) -> str:
    """report.json text: dataclass fields in declaration order, compact. The report builders turn undefined
    numbers into None (null); orjson would also write a stray NaN as null rather than invalid JSON."""
    return orjson.dumps(report, option=orjson.OPT_APPEND_NEWLINE).decode("utf-8")


@functools.lru_cache(maxsize=None)
def _fields_of(tp: type) -> dict[str, object]:
    """A dataclass's field types (typing.get_type_hints is slow: once per class, not once per object)."""
    hints = typing.get_type_hints(tp)
    return {f.name: hints[f.name] for f in dataclasses.fields(tp)}


def _build(tp: object, value: object) -> object:
    """Rebuild a value of type `tp` (dataclass, list[...], dict[...], X | None) from parsed JSON."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = _fields_of(tp)
        return tp(**{k: _build(hints[k], v) for k, v in value.items() if k in hints})  # type: ignore[union-attr]
    if origin is list:
        (item,) = typing.get_args(tp)
        if item in (int, float, str, bool):  # plain columns (e.g. detection evidence): nothing to rebuild
            return list(value)  # type: ignore[call-overload]
        return [_build(item, v) for v in value]  # type: ignore[union-attr]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: _build(item, v) for k, v in value.items()}  # type: ignore[union-attr]
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    return value
