"""report.json for detection and segmentation: the same schema "evalsite.report/1", the same top level
(task, dataset, metrics, per_label, confusion, curves, errors, images, findings, notices), with
object-level content. Segmentation adds masks (pycocotools' compressed RLE strings, column-major, in the
image's height x width) and box IoU next to mask IoU. Documented field by field in docs/report-json.md."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated

import numpy as np

from evalsite.core.enums import BoxKind, ErrorKind, ErrorType, ImageStatus, Rating, SuspectReason
from evalsite.core.image_info import STATUSES, ImageChecks
from evalsite.core.on_disk import DiskArray, StringsOnDisk, blocks_of, on_disk
from evalsite.report.codec import Check, Invalid, json_kind
from evalsite.report.model import BaseReport, ConfusedPair, Intervals, Rows, cells_in_matrix


@dataclass
class DetLabelCount:
    label: str
    images: int  # images with at least one ground-truth object of this label
    objects: int  # ground-truth objects (crowd and difficult ones not counted)
    predictions: int  # predicted objects (any score)


@dataclass
class DetDataset:
    images: int
    labels: list[str]
    label_ids: list[int]  # the category ids of the inputs (COCO ids; class index for YOLO; position for VOC)
    counts: list[DetLabelCount]
    objects: int  # counted ground-truth objects
    ignored_objects: int  # crowd regions and VOC "difficult" objects: never counted, never penalised
    predictions: int
    images_missing: int
    images_unreadable: int
    images_without_objects: int
    small_set: bool
    label_names: dict[str, str] | None = None  # manifest `label_names`: display name of each label id


@dataclass
class DetLabelMetrics:
    label: str
    ap50: float | None  # VOC all-point AP at IoU 0.5; None without ground truth
    ap50_11pt: float | None
    ap: float | None  # COCO AP@[.5:.95]; None where pycocotools gives -1
    precision: float  # at the report's threshold t*, IoU 0.5
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    best_threshold: float | None  # this label's own F1-maximising threshold
    best_f1: float
    objects: int
    predictions: int
    # 95% bootstrap intervals [low, high] (see report.model.Intervals); None when undefined
    ap50_interval: list[float] | None = None
    precision_interval: list[float] | None = None
    recall_interval: list[float] | None = None
    f1_interval: list[float] | None = None
    ap_interval: list[float] | None = None  # COCO AP@[.5:.95]


@dataclass
class DetConfusion:
    """At t*, class-agnostic matching. Rows: ground-truth labels then None (background: predictions that
    match nothing); columns: predicted labels then None (missed: ground truth that nothing matched)."""

    rows: list[str | None]
    columns: list[str | None]
    cells: list[list[int]]  # the non-zero cells [row, column, count] (indices into rows, columns), row order
    row_totals: list[int]
    top_pairs: list[ConfusedPair]  # the largest label-to-label cells (evalsite.report.confusion.TOP_PAIRS)


@dataclass
class Curve:
    label: str | None  # None: all labels together
    x: list[float]
    y: list[float]


@dataclass
class DetCurves:
    f1_vs_threshold: list[Curve]  # first the overall F1(t), then one per label
    pr: list[Curve]  # per label: x recall, y precision


@dataclass
class BoxMistake:
    id: int  # stable number of the error in this report
    kind: ErrorKind  # false_positive (误识别) | missed (漏识别)
    type: ErrorType  # one of FALSE_POSITIVE_TYPES or of MISSED_TYPES (evalsite.core.enums) by kind
    image: str
    image_id: int
    label: str  # the predicted label (false positive) or the true label (missed)
    box: list[float]  # x, y, w, h
    score: float | None  # the prediction's score; for missed: the best related prediction's, if any
    iou: float | None  # IoU with the related object
    related_label: str | None
    related_box: list[float] | None
    annotation_id: int | None  # the ground truth concerned (missed, or the one a prediction confused)
    # segmentation only (None for detection): iou above is mask IoU; box_iou the boxes' IoU of the same pair
    box_iou: float | None = None
    mask: str | None = None  # this object's mask, compressed RLE in its image's size
    related_mask: str | None = None
    # likely label error (generator/metrics/label_errors.py): missing_annotation | swapped_label |
    # spurious_annotation, or None; suspicion = the score (false positives) or the label's recall (missed);
    # suspect_threshold = the bar it passed (the label's median true-positive score, or the minimum recall)
    suspect: SuspectReason | None = None
    suspicion: float | None = None
    suspect_threshold: float | None = None


def columns_on_disk(rows: Rows) -> Rows:
    """`rows` (a shard's `BoxMistakes` or `ImageRows`, as its task sent them) with its array columns and its
    masks' strings kept on this machine's disk (`DiskArray`, `StringsOnDisk`) until joined (`_joined_column`):
    a cluster's driver takes the shards' rows as their tasks end, and holds about 170 bytes an error and 50 a
    drawn box less for each meanwhile (and for segmentation each mask's string, hundreds of bytes). Its
    images' checks stay in memory (about 9 bytes an image)."""
    for name, value in vars(rows).items():
        if isinstance(value, np.ndarray) and name != "image_ids":
            setattr(rows, name, on_disk(value))
        elif name in _MASK_COLUMNS and value is not None:
            setattr(rows, name, StringsOnDisk.joined([value]))
    return rows


_MASK_COLUMNS = ("masks", "related_masks")  # (the lists of strings of `BoxMistakes` and `ImageRows`)


def _joined_column(shards: list[Rows], name: str) -> np.ndarray | DiskArray | StringsOnDisk | list | None:
    """Column `name` of shards of a report's rows, joined in their order (`BoxMistakes.joined`,
    `ImageRows.joined`, on a Dask cluster's driver): arrays concatenated on this machine's disk
    (`DiskArray.joined`: read a part at a time as report.json is written and the pages made), the masks'
    strings likewise (`StringsOnDisk.joined`), lists chained, None (a column the task has not) kept; each
    shard's column is let go (set to None) once joined, so that the shards and the joined rows are not both
    whole at once."""
    first = getattr(shards[0], name)
    if first is None:
        return None
    if isinstance(first, StringsOnDisk):
        del first
        columns = [getattr(shard, name) for shard in shards]
        for shard in shards:
            setattr(shard, name, None)
        return StringsOnDisk.joined(columns)
    if isinstance(first, (np.ndarray, DiskArray)):
        del first
        columns = [getattr(shard, name) for shard in shards]
        for shard in shards:
            setattr(shard, name, None)
        return DiskArray.joined(columns)
    joined = []
    for shard in shards:
        joined += getattr(shard, name)
        setattr(shard, name, None)
    return joined


# The codes of `BoxMistakes.kind`, `.type` and `.suspect` (1 byte an error each, where a list of the members takes 8)
ERROR_KINDS = tuple(ErrorKind)
ERROR_TYPES = tuple(ErrorType)
SUSPECTS = (None, *SuspectReason)  # 0: not suspected


class BoxMistakes(Rows):
    """The errors of a DetectionReport just built (`evalsite.report.detection`), as columns: about 170 bytes
    an error, where a `BoxMistake` object with its lists and numbers takes about 740 (166 MB at 50,000
    COCO-like images). Item k is the `BoxMistake` numbered k + 1, made when it is read; report.json holds the
    same list (`Rows`), and a report read back holds `BoxMistake` objects equal to these.

    `kind`, `type` and `suspect` are codes (int8) into `ERROR_KINDS`, `ERROR_TYPES` and `SUSPECTS`. Index
    columns point into the report's `images` / `labels` (-1: none); in the float columns NaN stands for
    None; the suspects' columns are set after (`suspect`, `suspicion`, `suspect_threshold`: 0 / NaN where
    an error is not suspected), and for segmentation the masks' strings (`masks`, `related_masks`)."""

    def __init__(self, images: list[str], image_ids: np.ndarray, labels: list[str], kind: np.ndarray,
                 type: np.ndarray, image: np.ndarray, label: np.ndarray, box: np.ndarray, score: np.ndarray,
                 iou: np.ndarray, related_label: np.ndarray, related_box: np.ndarray, annotation_id: np.ndarray,
                 has_annotation: np.ndarray, box_iou: np.ndarray | None = None):
        self.images, self.image_ids, self.labels = images, image_ids, labels
        self.kind, self.type, self.image, self.label, self.box = kind, type, image, label, box
        self.score, self.iou, self.related_label, self.related_box = score, iou, related_label, related_box
        self.annotation_id, self.has_annotation, self.box_iou = annotation_id, has_annotation, box_iou
        n = len(kind)
        self.masks: list[str | None] | None = None
        self.related_masks: list[str | None] | None = None
        self.suspect = np.zeros(n, np.int8)
        self.suspicion = np.full(n, np.nan)
        self.suspect_threshold = np.full(n, np.nan)

    def type_counts(self) -> dict[tuple[ErrorKind, ErrorType], int]:
        """How many errors there are of each kind and type, in the order each first occurs (read a block at
        a time: no error object made)."""
        width = len(ERROR_TYPES)
        counts = np.zeros(len(ERROR_KINDS) * width, np.int64)
        first = np.full(len(counts), len(self), np.int64)
        for start, kinds in blocks_of(self.kind):
            codes = kinds.astype(np.int64) * width + self.type[start:start + len(kinds)]
            counts += np.bincount(codes, minlength=len(counts))
            seen, at = np.unique(codes, return_index=True)
            first[seen] = np.minimum(first[seen], start + at)
        return {(ERROR_KINDS[c // width], ERROR_TYPES[c % width]): int(counts[c])
                for c in np.argsort(first, kind="stable").tolist() if counts[c]}

    def __len__(self) -> int:
        return len(self.kind)

    @classmethod
    def joined(cls, parts: list[tuple[int, BoxMistakes]], images: list[str], image_ids: np.ndarray,
               labels: list[str]) -> BoxMistakes:
        """The errors of shards of whole images in their order, each (offset, its errors numbered by its own
        images from 0): the errors of all `images` (numbered by image first, so a shard's come after those of
        the shards before it)."""
        shards = [p for _, p in parts]

        def column(name: str):
            return _joined_column(shards, name)

        joined = cls(images=images, image_ids=image_ids, labels=labels, kind=column("kind"), type=column("type"),
                     image=DiskArray.joined([p.image for p in shards], [offset for offset, _ in parts]),
                     label=column("label"),
                     box=column("box"), score=column("score"), iou=column("iou"), related_label=column("related_label"),
                     related_box=column("related_box"), annotation_id=column("annotation_id"),
                     has_annotation=column("has_annotation"), box_iou=column("box_iou"))
        joined.masks, joined.related_masks = column("masks"), column("related_masks")
        joined.suspect, joined.suspicion, joined.suspect_threshold = (column("suspect"), column("suspicion"),
                                                                      column("suspect_threshold"))
        return joined

    def items(self, start: int, stop: int) -> list[BoxMistake]:
        def opt(values: np.ndarray | None) -> list:
            if values is None:
                return [None] * (stop - start)
            return [None if v != v else v for v in values[start:stop].tolist()]  # (v != v: NaN)

        image, label = self.image[start:stop].tolist(), self.label[start:stop].tolist()
        image_id = self.image_ids[self.image[start:stop]].tolist()
        related, related_box = self.related_label[start:stop].tolist(), self.related_box[start:stop].tolist()
        annotation, has = self.annotation_id[start:stop].tolist(), self.has_annotation[start:stop].tolist()
        masks = self.masks[start:stop] if self.masks is not None else [None] * (stop - start)
        related_masks = self.related_masks[start:stop] if self.related_masks is not None else [None] * (stop - start)
        return [BoxMistake(id=start + k + 1, kind=ERROR_KINDS[kind], type=ERROR_TYPES[type_],
                           image=self.images[image[k]], image_id=image_id[k], label=self.labels[label[k]], box=box,
                           score=score, iou=iou,
                           related_label=self.labels[related[k]] if related[k] >= 0 else None,
                           related_box=related_box[k] if related[k] >= 0 else None,
                           annotation_id=annotation[k] if has[k] else None, box_iou=box_iou, mask=masks[k],
                           related_mask=related_masks[k], suspect=SUSPECTS[suspect], suspicion=suspicion,
                           suspect_threshold=threshold)
                for k, (kind, type_, box, score, iou, box_iou, suspect, suspicion, threshold) in enumerate(zip(
                    self.kind[start:stop].tolist(), self.type[start:stop].tolist(), self.box[start:stop].tolist(),
                    opt(self.score), opt(self.iou), opt(self.box_iou), self.suspect[start:stop].tolist(),
                    opt(self.suspicion), opt(self.suspect_threshold)))]


class _Columns:
    """Equality of records of columns, each a list (read from report.json) or a numpy array (just built): the
    same values in the same order are equal either way."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))  # type: ignore[arg-type]


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is not None and b is not None and np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


@dataclass(eq=False)
class DrawnBoxes(_Columns):
    """The boxes of one image at t*, as columns (compact in report.json): box i is kinds[i], labels[i],
    xywh[4*i:4*i+4], scores[i] (None for ground truth), and for segmentation masks[i] (compressed RLE).
    A report read from report.json holds `xywh` as a list; one just built as a numpy array (a list's four
    floats are four Python objects: 96 bytes more per box, 60 MB at 50,000 COCO-like images)."""

    kinds: list[BoxKind]
    labels: list[str]
    xywh: list[float]
    scores: list[float | None]
    masks: list[str] | None = None  # segmentation only

    def __iter__(self):
        for i, (kind, label, score) in enumerate(zip(self.kinds, self.labels, self.scores)):
            yield kind, label, self.xywh[4 * i:4 * i + 4], score


@dataclass
class DetImage:
    image: str
    image_id: int
    width: int | None
    height: int | None
    status: ImageStatus
    problem: str | None
    objects: int
    predictions: int  # at t*
    false_positives: int
    missed: int
    boxes: DrawnBoxes | None = None  # every object at t* (ground truth and predictions); None: nothing to draw


# The kind of each code of `ImageRows.kind`
BOX_KINDS = (BoxKind.GROUND_TRUTH, BoxKind.MISSED, BoxKind.CORRECT, BoxKind.FALSE_POSITIVE)


class ImageRows(Rows):
    """The images of a DetectionReport just built (`evalsite.report.detection_images.image_rows`), as columns:
    about 50 bytes an image and 50 a drawn box, where the `DetImage` objects with their `DrawnBoxes` lists take
    about 1.3 KB an image at COCO's density (64 MB at 50,000 images). Item k is the `DetImage` of image k, made
    when it is read; report.json holds the same list (`Rows`), and a report read back holds `DetImage` objects
    equal to these.

    Per image: `width`, `height` (-1: None), its `checks` (the status and problem: `ImageChecks`), and the
    counts at t*. The drawn boxes of
    image k are rows `bounds[k]:bounds[k + 1]` of the box columns: `kind` (codes into `BOX_KINDS`), `label`
    (into `labels`), `xywh` (rows of 4), `score` (NaN: None, ground truth) and for segmentation `masks`."""

    def __init__(self, images: list[str], image_ids: np.ndarray, labels: list[str], width: np.ndarray,
                 height: np.ndarray, checks: ImageChecks, objects: np.ndarray,
                 predictions: np.ndarray, false_positives: np.ndarray, missed: np.ndarray, bounds: np.ndarray,
                 kind: np.ndarray, label: np.ndarray, xywh: np.ndarray, score: np.ndarray,
                 masks: list[str | None] | None = None):
        self.images, self.image_ids, self.labels = images, image_ids, labels
        self.width, self.height, self.checks = width, height, checks
        self.objects, self.predictions, self.false_positives = objects, predictions, false_positives
        self.missed = missed
        self.bounds, self.kind, self.label, self.xywh, self.score, self.masks = bounds, kind, label, xywh, score, masks

    def __len__(self) -> int:
        return len(self.checks)

    @classmethod
    def joined(cls, parts: list[ImageRows], images: list[str], image_ids: np.ndarray) -> ImageRows:
        """The rows of shards of whole images (`parts`, in image order) as the rows of all `images`."""
        def column(name: str):
            return _joined_column(parts, name)

        starts = np.cumsum([0] + [int(p.bounds[-1]) for p in parts])
        bounds = DiskArray.joined([np.zeros(1, np.int64), *(p.bounds[1:] for p in parts)], [0, *starts[:-1]])
        return cls(images=images, image_ids=image_ids, labels=parts[0].labels, width=column("width"),
                   height=column("height"), checks=ImageChecks.joined([p.checks for p in parts]),
                   objects=column("objects"), predictions=column("predictions"),
                   false_positives=column("false_positives"), missed=column("missed"), bounds=bounds,
                   kind=column("kind"), label=column("label"), xywh=column("xywh"), score=column("score"),
                   masks=column("masks"))

    def items(self, start: int, stop: int) -> list[DetImage]:
        lo, hi = int(self.bounds[start]), int(self.bounds[stop])
        kinds = [BOX_KINDS[c] for c in self.kind[lo:hi].tolist()]
        labels = [self.labels[c] for c in self.label[lo:hi].tolist()]
        scores = [None if s != s else s for s in self.score[lo:hi].tolist()]  # (s != s: NaN)
        bounds = (self.bounds[start:stop + 1] - lo).tolist()
        flat = self.xywh[lo:hi].reshape(-1)  # (each image's boxes: a view)
        masks = self.masks[lo:hi] if self.masks is not None else None  # (one read: a list)
        out = []
        for k, (width, height, objects, predictions, fps, missed) in enumerate(zip(
                self.width[start:stop].tolist(), self.height[start:stop].tolist(),
                self.objects[start:stop].tolist(), self.predictions[start:stop].tolist(),
                self.false_positives[start:stop].tolist(), self.missed[start:stop].tolist())):
            b0, b1 = bounds[k], bounds[k + 1]
            boxes = None
            if b1 > b0:
                boxes = DrawnBoxes(kinds=kinds[b0:b1], labels=labels[b0:b1], xywh=flat[4 * b0:4 * b1],
                                   scores=scores[b0:b1])
                if masks is not None:
                    boxes.masks = masks[b0:b1]
            i = start + k
            out.append(DetImage(image=self.images[i], image_id=int(self.image_ids[i]),
                                width=None if width < 0 else width, height=None if height < 0 else height,
                                status=ImageStatus(STATUSES[self.checks.status[i]]),
                                problem=self.checks.problems.get(i), objects=objects,
                                predictions=predictions, false_positives=fps, missed=missed, boxes=boxes))
        return out


@dataclass(eq=False)
class DetEvidence(_Columns):
    """What the headline numbers are made of, per image, so that they can be recomputed on resampled
    images (the paired bootstrap of `evalsite compare`) without the inputs. Columns, one entry per
    detection that counts (not ignored) under the VOC matching at the report's IoU, in descending score
    order (ties: file order); and one entry per counted ground-truth object. A report read from report.json
    holds lists; one just built holds numpy arrays (a list's memory is five times the array's: 1.6 M
    detections are 0.5 GB as lists), written as the same lists."""

    dt_image: list[int]  # index into `images`
    dt_label: list[int]  # index into `dataset.labels`
    dt_score: list[float]
    dt_tp: list[int]  # 1: true positive, 0: false positive
    gt_image: list[int]
    gt_label: list[int]
    coco: DetCocoEvidence | None = None  # COCO AP@[.5:.95]'s own matching


@dataclass(eq=False)
class DetCocoEvidence(_Columns):
    """What COCO AP@[.5:.95] (area all, 100 detections) is made of (evalsite.metrics.coco.CocoEvidence):
    the detections of the COCO matching in its ranking order (by label, score descending, image; those
    ignored at every IoU threshold left out) with bit t of `tp` set when a true positive at the t-th IoU
    threshold (0.50, 0.55, ... 0.95) and bit t of `ignored` when ignored there (else a false positive);
    and the ground truth that COCO counts (not crowd)."""

    dt_image: list[int]  # index into `images`
    dt_label: list[int]  # index into `dataset.labels`
    tp: list[int]
    ignored: list[int]
    gt_image: list[int]
    gt_label: list[int]


@dataclass
class DetPair:
    true: str | None  # None: background
    predicted: str | None  # None: missed
    count: int


@dataclass
class DetFindings:
    rating: Rating
    rated_metric: str  # mAP50
    weakest: list[str]
    confused: list[DetPair]
    error_types: dict[str, int]  # type (missed_<type> for missed objects) -> count, over all errors
    few_examples: list[str]
    collect_more: list[str]


def numbers_and_coco(metrics: dict) -> None:
    """Detection `metrics` in report.json: numbers (or null), and `coco`, an object of numbers."""
    for key, value in metrics.items():
        values = value.items() if key == "coco" and isinstance(value, dict) else [(None, value)]
        for sub, v in values:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise Invalid(f"expected a number, found {json_kind(v)}", *([key, sub] if sub else [key]))


@dataclass
class DetectionReport(BaseReport):
    dataset: DetDataset
    # mAP50, mAP50_11pt, precision, recall, f1, threshold, iou_threshold, coco (an object: the 12 COCO numbers)
    metrics: Annotated[dict[str, object], Check(numbers_and_coco)]
    per_label: list[DetLabelMetrics]
    confusion: Annotated[DetConfusion, Check(cells_in_matrix)]
    curves: DetCurves
    errors: list[BoxMistake]  # just built: `BoxMistakes` (columns), which reads as this list
    images: list[DetImage]
    findings: DetFindings
    evidence: DetEvidence | None = None
    intervals: Intervals | None = None
    metadata: dict[str, dict[str, str]] | None = None  # the manifest's metadata CSV: image -> {column: value}
