"""The images of a DetectionReport: each image's counts and the boxes drawn on it at t*, and the compressed
RLE strings of the masks the report shows (segmentation)."""

from __future__ import annotations

import math

import numpy as np

from evalsite.core.detection_data import DetectionData
from evalsite.core.enums import BoxKind
from evalsite.core.image_info import ImageChecks, ImageInfo
from evalsite.metrics.error_types import ErrorTypes
from evalsite.metrics.matching import Matching
from evalsite.report.detection_model import BOX_KINDS, ImageRows

# The codes of `ImageRows.kind`
_GROUND_TRUTH, _MISSED, _CORRECT, _FALSE_POSITIVE = (BOX_KINDS.index(k) for k in (
    BoxKind.GROUND_TRUTH, BoxKind.MISSED, BoxKind.CORRECT, BoxKind.FALSE_POSITIVE))


class MaskStrings:
    """Compressed RLE strings of the masks that the report shows. `fill(target, key, side, index)` asks for
    `target[key] = ` the string of mask `index` of `side` ("dt" or "gt"; -1: None); `encode()` then encodes
    them all, in one vectorised batch per side, and fills every target."""

    def __init__(self, data: DetectionData):
        self.masks = {"dt": data.dt_masks, "gt": data.gt_masks}
        self.wanted: dict[str, set[int]] = {"dt": set(), "gt": set()}
        self.targets: list[tuple[object, object, str, int]] = []

    def fill(self, target: object, key: object, side: str, index: int) -> None:
        if index >= 0:
            self.wanted[side].add(index)
        self.targets.append((target, key, side, index))

    def encode(self) -> None:
        done: dict[tuple[str, int], str] = {}
        for side, wanted in self.wanted.items():
            index = sorted(wanted)
            done.update(zip(((side, i) for i in index), self.masks[side].strings(index)))
        for target, key, side, index in self.targets:
            value = done[side, index] if index >= 0 else None
            if isinstance(target, list):
                target[key] = value
            else:
                setattr(target, key, value)


def image_rows(data: DetectionData, m: Matching, e: ErrorTypes, t: float, infos: list[ImageInfo],
               strings: MaskStrings | None = None) -> ImageRows:
    """Each image's row of the report: its counts at t* = `t` (`m`: the VOC matching, `e`: the error types at
    t*, their codes at least) and the boxes drawn on it: every object at t* (full views draw them all;
    comparisons draw both models' results of the same image), objects first, then detections, each in their
    order."""
    n = len(data.images)
    shown = (~m.ignored) & (data.dt_score >= t) if not math.isnan(t) else np.zeros(len(data.dt_score), bool)
    is_fp = e.dt_code != 0
    is_fn = e.gt_code != 0
    g, d = np.flatnonzero(m.gt_counted), np.flatnonzero(shown)
    image = np.concatenate([data.gt_image[g], data.dt_image[d]])
    order = np.argsort(image, kind="stable")  # (by image; objects, then detections, each in file order)
    kind = np.concatenate([np.where(is_fn[g], _MISSED, _GROUND_TRUTH),
                           np.where(is_fp[d], _FALSE_POSITIVE, _CORRECT)]).astype(np.int8)[order]
    masks = None
    if strings is not None:
        side = np.r_[np.zeros(len(g), bool), np.ones(len(d), bool)][order].tolist()  # (True: a detection's)
        masks = [None] * len(order)
        for position, (is_dt, k) in enumerate(zip(side, np.concatenate([g, d])[order].tolist())):
            strings.fill(masks, position, "dt" if is_dt else "gt", k)
    widths, heights = data.widths.copy(), data.heights.copy()
    for sizes, field in ((widths, "width"), (heights, "height")):  # (unknown in the inputs: the image's, when read)
        for i in np.flatnonzero(sizes == 0).tolist():
            size = getattr(infos[i], field)
            sizes[i] = -1 if size is None else size
    return ImageRows(
        images=data.images, image_ids=data.image_ids, labels=data.labels, width=widths, height=heights,
        checks=ImageChecks.of(infos),
        objects=np.bincount(data.gt_image[g], minlength=n), predictions=np.bincount(data.dt_image[d], minlength=n),
        false_positives=np.bincount(data.dt_image[is_fp], minlength=n),
        missed=np.bincount(data.gt_image[is_fn], minlength=n),
        bounds=np.searchsorted(image[order], np.arange(n + 1)), kind=kind,
        label=np.concatenate([data.gt_label[g], data.dt_label[d]])[order],
        xywh=np.concatenate([data.gt_box[g], data.dt_box[d]])[order].reshape(-1, 4),
        score=np.concatenate([np.full(len(g), np.nan), data.dt_score[d]])[order], masks=masks)
