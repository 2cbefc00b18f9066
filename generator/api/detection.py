"""`evalsite.DetectionEvaluator`: a detection or segmentation report from per-image dicts of arrays
(torchvision / torchmetrics style), one batch at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalsite.api.arrays import (
    as_array,
    check_labels,
    check_length,
    check_task,
    image_names,
    label_indices,
    number_array,
    task_info,
)
from evalsite.core.detection_data import DetectionData
from evalsite.core.enums import LabelSource, PredictionKind, TaskType
from evalsite.core.errors import InputError
from evalsite.core.files import inside
from evalsite.core.image_info import ImageInfo
from evalsite.core.masks.rle import rle_encode
from evalsite.report.model import Report

__all__ = ["DetectionEvaluator"]

IOU_TYPES = ("bbox", "segm")
BOX_FORMATS = ("xyxy", "xywh")


@dataclass
class _Objects:
    """One image's ground-truth objects or detections, checked."""

    box: np.ndarray | None  # (N, 4) xywh; None: segm predictions without boxes (the masks' boxes are taken)
    label: np.ndarray
    score: np.ndarray | None = None  # detections
    crowd: np.ndarray | None = None  # ground truth
    area: np.ndarray | None = None  # ground truth: NaN where not given
    masks: list | None = None  # segm: one COCO 'segmentation' value (an RLE dict) per object


class DetectionEvaluator:
    """Accumulate a detection (boxes) or instance-segmentation (masks) evaluation batch by batch, then build
    its report.

    Each image's ground truth and predictions are dicts of arrays as torchvision's detection models and
    torchmetrics' ``MeanAveragePrecision`` use them. The evaluator fills the same
    :class:`~evalsite.core.detection_data.DetectionData` the file readers fill and hands it to the same
    report builder as ``evalsite evaluate``, so the numbers are those of the command line (and of pycocotools
    for the COCO numbers) for the same data. As in the CLI, boxes reaching out of their image are clipped to
    it (a notice says which); images of unknown size are not checked.

    Parameters
    ----------
    labels : sequence of str, or dict of int to str
        The label names in index order (or a dict ``{index: name}``, as Ultralytics' ``model.names``):
        label index ``i`` is ``labels[i]`` (torchvision models trained with a background class at index 0
        give indices into a list whose first name is that background).
    iou_type : {"bbox", "segm"}, default "bbox"
        ``"bbox"``: a detection report on boxes. ``"segm"``: a segmentation report on masks (the targets and
        predictions need ``masks``).
    box_format : {"xyxy", "xywh"}, default "xyxy"
        How ``boxes`` are given, in absolute pixels: ``[x1, y1, x2, y2]`` (torchvision) or ``[x, y, width,
        height]`` (COCO).
    name : str, default "evaluation"
        The task name (the report's title and its site folder name).
    images_root : str or os.PathLike, optional
        The folder the image paths are relative to. When given, image sizes not passed to ``update`` are read
        from the image files' headers, ``compute`` checks every image (a missing one is a notice), and the
        report records the folder for :func:`evalsite.build_site`. When left out, the images are not looked
        at.
    iou_threshold : float, default 0.5
        The IoU of the headline numbers (mAP50, the operating point and the error galleries), as the
        manifest's ``iou_threshold``. The COCO numbers always use 0.50:0.95.
    language : {"zh", "en"}, default "zh"
        The language of the report's pages.

    Examples
    --------
    >>> import numpy as np
    >>> import evalsite
    >>> ev = evalsite.DetectionEvaluator(["cat", "dog"], language="en")
    >>> target = {"boxes": np.array([[10, 10, 50, 60]]), "labels": np.array([0])}
    >>> pred = {"boxes": np.array([[12, 11, 50, 58]]), "scores": np.array([0.9]), "labels": np.array([0])}
    >>> ev.update(["a.jpg"], [target], [pred], sizes=[(480, 640)])
    >>> round(ev.compute().metrics["mAP50"], 3)
    1.0
    """

    def __init__(self, labels: Sequence[str], *, iou_type: str = "bbox", box_format: str = "xyxy",
                 name: str = "evaluation", images_root: str | Path | None = None, iou_threshold: float = 0.5,
                 language: str = "zh") -> None:
        if iou_type not in IOU_TYPES:
            raise InputError(f"unknown iou_type {iou_type!r}; expected 'bbox' or 'segm'")
        if box_format not in BOX_FORMATS:
            raise InputError(f"unknown box_format {box_format!r}; expected 'xyxy' or 'xywh'")
        if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float)) \
                or not 0 < iou_threshold <= 1:
            raise InputError(f"'iou_threshold' must be a number in (0, 1], found {iou_threshold!r}")
        self.labels = check_labels(labels)
        check_task(name, language)
        self._index = {label: i for i, label in enumerate(self.labels)}
        self.iou_type, self.box_format, self.name, self.language = iou_type, box_format, name, language
        self.iou_threshold = float(iou_threshold)
        self.images_root = Path(images_root) if images_root is not None else None
        self._images: list[str] = []
        self._where: list[str] = []  # per image: "update call 2, image 'a.jpg'"
        self._sizes: list[tuple[int, int]] = []  # (height, width); (0, 0) unknown
        self._gt: list[_Objects] = []
        self._dt: list[_Objects] = []
        self._seen: dict[str, str] = {}
        self._by_name = False
        self._calls = 0

    @property
    def segmentation(self) -> bool:
        """Whether this evaluates masks (``iou_type="segm"``)."""
        return self.iou_type == "segm"

    def update(self, images: Sequence[str | Path | int], targets: Sequence[Mapping[str, Any]],
               predictions: Sequence[Mapping[str, Any]], sizes: Sequence[tuple[int, int]] | None = None) -> None:
        """Add one batch: per image, its ground truth and the model's predictions.

        Parameters
        ----------
        images : sequence of str, os.PathLike or int
            One image path per item (relative to ``images_root``; an int is taken as the name ``str(i)``).
            An image may be given only once in the whole evaluation.
        targets : sequence of dict
            Per image, the ground truth: ``boxes`` (N, 4) in ``box_format`` (may be left out with
            ``iou_type="segm"``: the masks' boxes are taken), ``labels`` (N,) label indices or names,
            optional ``iscrowd`` (N,) 0/1, optional ``area`` (N,) (default: the box area, for ``"segm"`` the
            mask area, as pycocotools needs it), and with ``"segm"`` ``masks``. Other keys are ignored.
        predictions : sequence of dict
            Per image, the detections: ``boxes`` (D, 4) (optional with ``"segm"``), ``scores`` (D,) finite,
            ``labels`` (D,) indices or names, and with ``"segm"`` ``masks``. An image without detections has
            empty arrays.
        sizes : sequence of (height, width), optional
            Each image's size in pixels (e.g. ``image.shape[-2:]`` of the input tensor before resizing).
            Default: read from the image file under ``images_root``; else, for ``"segm"``, the masks'
            size; else unknown (boxes are then not checked against the image).

        Notes
        -----
        ``masks`` is a boolean (or 0/1 integer) array of shape (N, H, W) or (N, 1, H, W) (threshold soft masks
        first, e.g. ``masks[:, 0] > 0.5``), or a list of N masks, each a 2-D boolean array, a COCO RLE dict
        ``{"size": [h, w], "counts": ...}`` (compressed counts as ``str`` or ``bytes``, as
        ``pycocotools.mask.encode`` gives them, or a list of ints) or COCO polygons ``[[x0, y0, x1, y1, ...]]``.
        Tensors are accepted wherever arrays are (anything with ``.numpy()`` or ``__array__``).

        Raises
        ------
        evalsite.InputError
            On the first problem, in one line naming the update call, the image and the field: lengths that
            differ, boxes not of shape (N, 4), NaN or infinite values, boxes of zero or negative size, an
            unknown label or an index out of range, a missing key, a mask of another size than its image.
        """
        self._calls += 1
        call = f"update call {self._calls}"
        seen = dict(self._seen)
        names = image_names(images, self.images_root, call, seen)
        n = len(names)
        targets = check_length(targets, n, call, "targets")
        predictions = check_length(predictions, n, call, "predictions")
        size_list = check_length(sizes, n, call, "sizes") if sizes is not None else [None] * n
        rows = []
        for k, name in enumerate(names):
            where = f"{call}, image {name!r}"
            size = self._size(size_list[k], name, where)
            gt = self._objects(targets[k], where, "targets", truth=True)
            dt = self._objects(predictions[k], where, "predictions", truth=False)
            for objects in (gt, dt):
                size = self._mask_size(objects, size, where)
            rows.append((name, where, size, gt, dt))
        for name, where, size, gt, dt in rows:
            self._images.append(name)
            self._where.append(where)
            self._sizes.append(size)
            self._gt.append(gt)
            self._dt.append(dt)
        self._seen = seen

    def _size(self, given: Any, name: str, where: str) -> tuple[int, int]:
        if given is not None:
            array = as_array(given, where, "sizes")
            if array.shape != (2,) or array.dtype.kind not in "iuf" or not (array == np.round(array)).all() \
                    or (array <= 0).any():
                raise InputError(f"a size must be (height, width), two positive integers, found {given!r}", where)
            return int(array[0]), int(array[1])
        if self.images_root is not None:
            from evalsite.formats.images import image_size

            try:
                width, height = image_size(inside(self.images_root, name))
            except OSError as exc:
                raise InputError(f"cannot read the size of image {name!r} under {self.images_root} ({exc}); give "
                                 "sizes=[(height, width), ...]", where) from None
            return height, width
        return 0, 0

    def _objects(self, record: Any, where: str, field: str, truth: bool) -> _Objects:
        if not isinstance(record, Mapping):
            raise InputError(f"each entry of '{field}' must be a dict (boxes, labels...), found "
                             f"{type(record).__name__}", where)
        need = ["labels"] + ([] if truth else ["scores"]) + (["masks"] if self.segmentation else ["boxes"])
        missing = [key for key in need if key not in record or record[key] is None]
        if missing:
            raise InputError(f"{field} has no {missing[0]!r} (keys given: {', '.join(map(str, record)) or 'none'})",
                             where)
        raw_labels = record["labels"]
        labels = label_indices(list(raw_labels) if isinstance(raw_labels, tuple) else raw_labels, self.labels,
                               self._index, where, f"{field}['labels']")
        if len(labels) and as_array(raw_labels, where, "labels").dtype.kind in "UO":
            self._by_name = True
        n = len(labels)
        box = None
        if record.get("boxes") is not None:
            box = self._boxes(record["boxes"], n, where, f"{field}['boxes']")
        objects = _Objects(box, labels)
        if not truth:
            objects.score = number_array(record["scores"], where, f"{field}['scores']", (n,))
        else:
            crowd = record.get("iscrowd")
            if crowd is None:
                objects.crowd = np.zeros(n, dtype=bool)
            else:
                values = number_array(crowd, where, f"{field}['iscrowd']", (n,))
                if not np.isin(values, (0, 1)).all():
                    raise InputError(f"{field}['iscrowd'] must be 0 or 1", where)
                objects.crowd = values.astype(bool)
            area = record.get("area")
            objects.area = np.full(n, np.nan) if area is None else \
                number_array(area, where, f"{field}['area']", (n,))
            if (objects.area < 0).any():
                raise InputError(f"{field}['area'] must not be negative", where)
        if self.segmentation:
            objects.masks = self._masks(record["masks"], n, where, f"{field}['masks']")
        return objects

    def _boxes(self, value: Any, n: int, where: str, field: str) -> np.ndarray:
        box = number_array(value, where, field, (n, 4))
        if self.box_format == "xyxy":
            box = np.column_stack([box[:, 0], box[:, 1], box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]])
        small = np.flatnonzero((box[:, 2] <= 0) | (box[:, 3] <= 0))
        if len(small):
            shown = as_array(value, where, field)[small[0]].tolist()
            raise InputError(f"{field} row {int(small[0])}: box {shown} ({self.box_format}) has zero or negative "
                             f"width or height", where)
        return box

    def _masks(self, value: Any, n: int, where: str, field: str) -> list:
        if not isinstance(value, (list, tuple)):
            array = as_array(value, where, field)
            if array.ndim == 4 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 3 or array.shape[0] != n:
                raise InputError(f"{field} must be an array of shape ({n}, H, W) or a list of {n} masks, found "
                                 f"shape {tuple(array.shape)}", where)
            value = list(array)
        if len(value) != n:
            raise InputError(f"{field} has {len(value)} masks for {n} objects", where)
        return [self._mask(m, where, f"{field}[{i}]") for i, m in enumerate(value)]

    @staticmethod
    def _mask(mask: Any, where: str, field: str) -> Any:
        if isinstance(mask, Mapping):
            counts = mask.get("counts")
            rle = dict(mask)
            if isinstance(counts, bytes):
                rle["counts"] = counts.decode("ascii")
            size = rle.get("size")
            if size is not None and not isinstance(size, list):
                rle["size"] = [int(s) for s in as_array(size, where, field).tolist()]
            return rle
        if isinstance(mask, list) and mask and isinstance(mask[0], (list, tuple)):
            return [list(p) for p in mask]  # COCO polygons
        array = as_array(mask, where, field)
        if array.ndim != 2:
            raise InputError(f"{field}: a mask must be 2-D (H, W), found shape {tuple(array.shape)}", where)
        if array.dtype.kind == "f" or array.dtype.kind not in "biu" or (array.dtype.kind != "b" and (
                (array != 0) & (array != 1)).any()):
            raise InputError(f"{field}: a mask must be boolean or 0/1, found dtype {array.dtype} (threshold soft "
                             "masks first, e.g. masks > 0.5)", where)
        return {"size": [int(array.shape[0]), int(array.shape[1])], "counts": rle_encode(array).tolist()}

    @staticmethod
    def _mask_size(objects: _Objects, size: tuple[int, int], where: str) -> tuple[int, int]:
        """The image size, taken from the first mask when unknown."""
        if size != (0, 0) or not objects.masks:
            return size
        first = objects.masks[0]
        if isinstance(first, dict) and isinstance(first.get("size"), list) and len(first["size"]) == 2:
            return int(first["size"][0]), int(first["size"][1])
        return size

    def data(self) -> DetectionData:
        """The accumulated batches as the core type the report builder takes (boxes clipped, masks decoded).

        Returns
        -------
        DetectionData
            Images in update order (ids 0, 1, ...), label ids 0..L-1, boxes as xywh.
        """
        from evalsite.api.assemble import assemble

        if not self._images:
            raise InputError("nothing to evaluate: call update() with at least one image first")
        return assemble(self.labels, self._images, self._where, self._sizes, self._gt, self._dt, self.segmentation,
                        self._by_name)

    def compute(self, *, intervals: bool = True) -> Report:
        """The report of everything added so far (the evaluator can go on accumulating).

        Parameters
        ----------
        intervals : bool, default True
            Compute the 95% bootstrap intervals of the headline metrics (``report.intervals``).

        Returns
        -------
        Report
            A detection (``"bbox"``) or segmentation (``"segm"``) report: ``report.metrics["mAP50"]``,
            ``report.metrics["coco"]["AP"]``, ``report.per_label``...; ``report.to_json(path)`` writes it.
        """
        from evalsite.api.functions import built_report

        data = self.data()
        task = task_info(self.name, TaskType.SEGMENTATION if self.segmentation else TaskType.DETECTION,
                         self.language, self.images_root, LabelSource.DECLARED,
                         PredictionKind.MASKS if self.segmentation else PredictionKind.BOXES,
                         image_matching=data.image_matching, label_matching=data.label_matching,
                         iou_threshold=self.iou_threshold)
        sizes = self._sizes
        return built_report(data, task, self.images_root,
                            lambda n: [ImageInfo("ok", w or None, h or None) for h, w in sizes], intervals)
