"""report.json, schema "evalsite.report/2" (documented field by field in docs/report-json.md): what every
report has.

Plain dataclasses. :class:`BaseReport` (also named `Report`: any report) holds the top level that every task
type shares; each task type's report is a subclass with its own dataset, metrics, errors, images...
(evalsite.report.classification_model.ClassificationReport, evalsite.report.detection_model.DetectionReport;
which type has which report: evalsite.report.kinds). `to_json` writes a report with the dataclass fields in
declaration order as report.json's key order; `evalsite.report.load.read_report` (through
evalsite.report.codec) reads them back, so a site can be rebuilt from report.json and the images alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import orjson

from evalsite.core.enums import ImageMatching, InputRole, LabelMatching, LabelSource, PredictionKind, TaskType
from evalsite.core.errors import Notice
from evalsite.core.on_disk import DiskArray
from evalsite.report.codec import Invalid

SCHEMA = "evalsite.report/2"
READABLE_SCHEMAS = ("evalsite.report/1", SCHEMA)  # /1 held dense confusion counts (evalsite.report.load upgrades)
_E = TypeVar("_E", bound=StrEnum)


def _member(cls: type[_E], value: Any) -> Any:
    """The member `value` names, when it is a plain string: the manifest and the readers give plain strings, and
    a report just built should hold members as one read back does (so that `task.type.is_detection` works on
    both); report.json is the same either way. Members and None stay as they are."""
    return cls(value) if type(value) is str else value


@dataclass
class ConfusedPair:
    """A confusion-matrix cell off the diagonal: `count` items of label `true` given label `predicted`."""

    true: str
    predicted: str | None  # None: no prediction (classification) / missed (detection)
    count: int
    share: float  # count / the items of the true label (its row total)


def cells_in_matrix(confusion: Any) -> None:
    """A confusion matrix in report.json: every cell [row, column, count] inside the matrix with a positive
    count, one row total per row (report.json's `confusion` of either kind)."""
    n_rows, n_cols = len(confusion.rows), len(confusion.columns)
    if len(confusion.row_totals) != n_rows:
        raise Invalid(f"expected {n_rows} numbers (one per row), found {len(confusion.row_totals)}", "row_totals")
    for i, cell in enumerate(confusion.cells):
        if len(cell) != 3 or not (0 <= cell[0] < n_rows and 0 <= cell[1] < n_cols and cell[2] > 0):
            raise Invalid(f"expected [row, column, count] with 0 <= row < {n_rows}, 0 <= column < {n_cols} "
                          f"and count > 0, found {cell}", "cells", i)


@dataclass
class InputFile:
    role: InputRole
    format: str
    path: str
    sha256: str

    def __post_init__(self) -> None:
        self.role = _member(InputRole, self.role)


@dataclass
class TaskInfo:
    name: str
    type: TaskType
    language: str  # zh | en
    evalsite_version: str
    date: str  # YYYY-MM-DD of the evaluation (SOURCE_DATE_EPOCH when set, for reproducible builds)
    images_root: str
    inputs: list[InputFile]
    label_source: LabelSource  # classification: declared | score columns | data; detection: categories | declared
    prediction_kind: PredictionKind  # classification: scores | topk; detection: boxes; segmentation: masks
    small_set_threshold: int
    image_matching: ImageMatching | None = None  # detection
    label_matching: LabelMatching | None = None  # detection
    iou_threshold: float | None = None  # detection: IoU for the headline mAP, operating point and errors
    annotation_url: str | None = None  # detection: template linking an error to the annotation tool
    group: str | None = None  # the training task this report belongs to (default: name); see the overview
    model: str | None = None  # the model version evaluated, when the manifest names it
    # detection: how the category ids of Ultralytics' predictions.json were read: "index+1" (class index + 1),
    # "coco91" (COCO's 91 ids) or "exact" (the ground truth's ids); None for other predictions
    category_mapping: str | None = None
    images_path: str | None = None  # the images root relative to the folder report.json was written to

    def __post_init__(self) -> None:
        self.type = _member(TaskType, self.type)
        self.label_source = _member(LabelSource, self.label_source)
        self.prediction_kind = _member(PredictionKind, self.prediction_kind)
        self.image_matching = _member(ImageMatching, self.image_matching)
        self.label_matching = _member(LabelMatching, self.label_matching)


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
class BaseReport:
    """The top level of every report.json, in its key order. The fields from `dataset` to `findings` are each
    task type's own (a subclass declares their types); after `notices` a subclass adds its own optional
    fields, then `intervals` and `metadata`, last in every report (declared by each subclass, so that they stay
    last: a dataclass puts a subclass's new fields after its base's)."""

    schema: str
    task: TaskInfo
    dataset: Any  # .images (count), .labels (the task's label order), .counts, .images_missing ...
    metrics: dict[str, Any]  # the headline numbers, by name
    per_label: list[Any]  # one entry per label, with .label
    confusion: Any
    curves: Any
    errors: list[Any]  # the errors shown in the galleries, with .image
    images: list[Any]  # every evaluation image, with .image (its path under the images root) and .status
    findings: Any  # the basic conclusion: .rating, .rated_metric, .weakest, .confused, .few_examples ...
    notices: list[Notice] = field(default_factory=list)
    if TYPE_CHECKING:  # every subclass has them, as its last two fields
        intervals: Intervals | None
        metadata: dict[str, dict[str, str]] | None  # the manifest's metadata CSV: image -> {column: value}

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The report as report.json text; with `path`, also written there (atomically, folders created).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Where to write report.json (any file name).

        Returns
        -------
        str
            The JSON text (the module-level :func:`to_json` of this report).
        """
        text = to_json(self)
        if path is not None:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
        return text



Report = BaseReport  # any report, in annotations


def to_json(report: object) -> str:
    """report.json text: dataclass fields in declaration order, compact. The report builders turn undefined
    numbers into None (null); orjson would also write a stray NaN as null rather than invalid JSON. Long
    columns (a detection report's evidence) may be numpy arrays: orjson writes them as the same lists, in the
    same digits (tests/test_report_codec.py), without a Python object per number."""
    return to_json_bytes(report).decode("utf-8")


_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
JSON_CHUNK = 4096  # items of a long list (errors, images, evidence columns) serialized at a time by `json_pieces`


def to_json_bytes(report: object) -> bytes:
    """`to_json`, UTF-8 encoded (what a file gets: no str of tens of MB decoded and encoded again)."""
    return orjson.dumps(report, option=_JSON_OPTIONS | orjson.OPT_APPEND_NEWLINE, default=_rows_as_list)


class Rows(Sequence):
    """A long list of a report held as columns, its items made as they are read (e.g. a detection report's
    errors, `evalsite.report.detection_model.BoxMistakes`): report.json writes it as the list of its items
    (a few thousand made at a time, `json_pieces`), and it equals a list of the same items. A subclass gives
    `__len__` and `items(start, stop)`."""

    def items(self, start: int, stop: int) -> list:
        """Items start..stop-1 (within range), made now."""
        raise NotImplementedError

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[k] for k in range(start, stop, step)]
            return self.items(start, stop) if start < stop else []
        k = index + len(self) if index < 0 else index
        if not 0 <= k < len(self):
            raise IndexError(index)
        return self.items(k, k + 1)[0]

    def __iter__(self) -> Iterator:
        for start in range(0, len(self), JSON_CHUNK):
            yield from self.items(start, min(start + JSON_CHUNK, len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (list, Rows)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # (mutable, as a list)


def _rows_as_list(value: object) -> list:
    """orjson's `default`: `Rows` as the list of its items, a `DiskArray` as its array."""
    if isinstance(value, Rows):
        return list(value)
    if isinstance(value, DiskArray):
        return np.asarray(value)
    raise TypeError




def json_pieces(value: object, chunk: int = JSON_CHUNK) -> Iterator[bytes]:
    """`to_json_bytes(value)` in pieces whose concatenation is those bytes, none of them holding more than
    `chunk` items of a list: a report of 200,000 images is 1.3 GB of report.json, which a file then gets
    without the whole text ever in memory (`write_json`). Dataclasses are opened field by field as orjson
    writes them (declaration order, fields named with a leading underscore left out), long lists and
    arrays `chunk` items at a time; anything else is one orjson call."""
    yield from _pieces(value, chunk)
    yield b"\n"


def _pieces(value: object, chunk: int) -> Iterator[bytes]:
    if isinstance(value, DiskArray) and len(value) <= chunk:
        value = np.asarray(value)  # (a short column kept on disk: read whole)
    if is_dataclass(value) and not isinstance(value, type):
        yield b"{"
        first = True
        for f in fields(value):
            if f.name.startswith("_"):
                continue
            yield (b"" if first else b",") + orjson.dumps(f.name) + b":"
            first = False
            yield from _pieces(getattr(value, f.name), chunk)
        yield b"}"
    elif isinstance(value, Rows) and not len(value):
        yield b"[]"
    elif isinstance(value, Rows) or isinstance(value, (list, np.ndarray, DiskArray)) and len(value) > chunk:
        for start in range(0, len(value), chunk):
            part = orjson.dumps(value[start:start + chunk], option=_JSON_OPTIONS)  # "[...]"
            yield (b"[" if start == 0 else b",") + part[1:-1]
        yield b"]"
    else:
        yield orjson.dumps(value, option=_JSON_OPTIONS)


def write_json(report: object, path: str | os.PathLike) -> None:
    """report.json of `report` written to `path` atomically (a temporary file beside it, then renamed;
    folders created), streamed (`json_pieces`): the same bytes as `to_json_bytes`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with open(tmp, "wb") as file:
            for piece in json_pieces(report):
                file.write(piece)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
