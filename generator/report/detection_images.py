"""The images of a DetectionReport: each image's counts and the boxes drawn on it at t*, and the compressed
RLE strings of the masks the report shows (segmentation)."""

from __future__ import annotations

import math

import numpy as np

from evalsite.core.detection_data import DetectionData
from evalsite.core.enums import BoxKind, ImageStatus
from evalsite.core.image_info import ImageInfo
from evalsite.metrics.error_types import ErrorTypes
from evalsite.metrics.matching import Matching
from evalsite.report.detection_model import DetImage, DrawnBoxes

# Images whose drawn boxes `image_rows` turns into lists at a time (about 1 KB of lists per image at work)
IMAGE_BLOCK = 10_000
# The members by value, for long lists (a lookup is faster than calling the enum)
_BOX_KINDS = {k.value: k for k in BoxKind}


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
               strings: MaskStrings | None = None) -> list[DetImage]:
    """Each image's row of the report: its counts at t* = `t` (`m`: the VOC matching, `e`: the error types at
    t*, their codes at least) and the boxes drawn on it (None when it has none)."""
    n = len(data.images)
    shown = (~m.ignored) & (data.dt_score >= t) if not math.isnan(t) else np.zeros(len(data.dt_score), bool)
    is_fp = e.dt_code != 0
    is_fn = e.gt_code != 0
    objects = np.bincount(data.gt_image[m.gt_counted], minlength=n)
    preds = np.bincount(data.dt_image[shown], minlength=n)
    fps = np.bincount(data.dt_image[is_fp], minlength=n)
    fns = np.bincount(data.gt_image[is_fn], minlength=n)
    # Every object at t* of every image (full views draw them all; comparisons draw both models' results
    # of the same image), IMAGE_BLOCK images at a time (the lists of one block at work, not of all boxes)
    g_all, d_all = np.flatnonzero(m.gt_counted), np.flatnonzero(shown)
    g_image, d_image = data.gt_image[g_all], data.dt_image[d_all]
    drawn: dict[int, DrawnBoxes] = {}
    for i0 in range(0, n, IMAGE_BLOCK):
        i1 = min(i0 + IMAGE_BLOCK, n)
        g = g_all[(g_image >= i0) & (g_image < i1)]
        d = d_all[(d_image >= i0) & (d_image < i1)]
        drawn.update(_drawn_boxes(data, is_fp, is_fn, g, d, i0, i1, strings))
    widths, heights = data.widths.tolist(), data.heights.tolist()
    return [DetImage(image=data.images[i], image_id=int(data.image_ids[i]), width=widths[i] or infos[i].width,
                     height=heights[i] or infos[i].height, status=ImageStatus(infos[i].status),
                     problem=infos[i].problem, objects=int(objects[i]), predictions=int(preds[i]),
                     false_positives=int(fps[i]), missed=int(fns[i]), boxes=drawn.get(i))
            for i in range(n)]


def _drawn_boxes(data: DetectionData, is_fp: np.ndarray, is_fn: np.ndarray, g: np.ndarray, d: np.ndarray, i0: int,
                 i1: int, strings: MaskStrings | None) -> dict[int, DrawnBoxes]:
    """The boxes drawn on images i0..i1-1 that have any (`image_rows`): objects `g` and detections `d` of those
    images, grouped by image in one sort (objects first, then detections, each in their order)."""
    image = np.concatenate([data.gt_image[g], data.dt_image[d]])
    kind = np.concatenate([np.where(is_fn[g], BoxKind.MISSED.value, BoxKind.GROUND_TRUTH.value),
                           np.where(is_fp[d], BoxKind.FALSE_POSITIVE.value, BoxKind.CORRECT.value)])
    label = np.concatenate([data.gt_label[g], data.dt_label[d]])
    xywh = np.concatenate([data.gt_box[g], data.dt_box[d]])
    score = np.concatenate([np.full(len(g), np.nan), data.dt_score[d]])
    side = ["gt"] * len(g) + ["dt"] * len(d)
    index = np.concatenate([g, d]).tolist()
    order = np.argsort(image, kind="stable")
    bounds = np.searchsorted(image[order], np.arange(i0, i1 + 1))
    kinds, labels_of, boxes_of, scores = ([_BOX_KINDS[k] for k in kind[order].tolist()], label[order].tolist(),
                                          xywh[order].ravel(), score[order].tolist())  # (each image's boxes: a view)
    names = data.labels
    drawn: dict[int, DrawnBoxes] = {}
    ordered = order.tolist()
    for j in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
        lo, hi = int(bounds[j]), int(bounds[j + 1])
        drawn[i0 + j] = boxes = DrawnBoxes(kinds=kinds[lo:hi], labels=[names[c] for c in labels_of[lo:hi]],
                                           xywh=boxes_of[4 * lo:4 * hi],
                                           scores=[None if math.isnan(s) else s for s in scores[lo:hi]])
        if strings is not None:
            boxes.masks = [None] * (hi - lo)
            for position, k in enumerate(ordered[lo:hi]):
                strings.fill(boxes.masks, position, side[k], index[k])
    return drawn
