"""A DetectionEvaluator's batches -> DetectionData, by the rules of the file readers
(evalsite.formats.detection): boxes partly outside their image clipped to it, boxes wholly outside dropped,
masks decoded into a MaskSet, a missing ground-truth area the box's (or, for masks, the mask's) area, and a
detection's area its mask's area for segmentation (pycocotools' loadRes of results given as masks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from evalsite.core.boxes import empty_boxes
from evalsite.core.detection_data import DetectionData
from evalsite.core.errors import Notice, listing
from evalsite.formats.columns import clip_boxes
from evalsite.formats.mask_decoding import decode_masks


def _rows(objects: list, attribute: str, empty: Any) -> np.ndarray:
    parts = [getattr(o, attribute) for o in objects]
    return np.concatenate(parts) if parts and sum(len(p) for p in parts) else empty


def assemble(labels: list[str], names: list[str], where: list[str], sizes: list[tuple[int, int]], gt: list,
             dt: list, segmentation: bool, by_name: bool) -> DetectionData:
    """The DetectionData of a DetectionEvaluator's images (`where` each was given, their (height, width),
    0 unknown) and per-image objects (`gt`, `dt`)."""
    heights = np.array([h for h, _ in sizes], dtype=np.int64)
    widths = np.array([w for _, w in sizes], dtype=np.int64)
    notices = []
    unknown = np.flatnonzero((widths == 0) | (heights == 0))
    if len(unknown):
        notices.append(unknown_size_notice(names, unknown))
    columns = {}
    for side, objects in (("gt", gt), ("dt", dt)):
        counts = [len(o.label) for o in objects]
        image = np.repeat(np.arange(len(names), dtype=np.int64), counts)
        first = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        file = Path("targets" if side == "gt" else "predictions")

        def locate(i: int, image=image, first=first, file=file) -> tuple[str, str]:
            k = int(image[i])
            return str(file), f"{where[k]}, object {i - int(first[k])}"

        masks = mask_area = None
        if segmentation:
            values = [m for o in objects for m in o.masks]
            masks, mask_area, more = decode_masks(values, image, widths, heights, names, locate, file,
                                                  "ground-truth" if side == "gt" else "predicted")
            notices += more
        boxes = [o.box if o.box is not None else masks.bboxes()[image == k] for k, o in enumerate(objects)] \
            if segmentation else [o.box for o in objects]
        box = np.concatenate(boxes) if sum(counts) else empty_boxes()
        label = _rows(objects, "label", np.zeros(0, dtype=np.int64))
        if side == "gt":
            area = _rows(objects, "area", np.zeros(0))
            area = np.where(np.isnan(area), mask_area if mask_area is not None else box[:, 2] * box[:, 3], area)
            extra = [_rows(objects, "crowd", np.zeros(0, dtype=bool)), area]
        else:
            extra = [_rows(objects, "score", np.zeros(0))]
        box, keep, more = clip_boxes(box, image, widths, heights, locate, names, file, True,
                                     "ground-truth" if side == "gt" else "predicted")
        notices += more
        if keep is not None:
            image, label, box = image[keep], label[keep], box[keep]
            extra = [e[keep] for e in extra]
            if masks is not None:
                masks, mask_area = masks.take(keep), mask_area[keep]
        columns[side] = (image, label, np.ascontiguousarray(box), extra, masks, mask_area)
    gt_image, gt_label, gt_box, (gt_crowd, gt_area), gt_masks, _ = columns["gt"]
    dt_image, dt_label, dt_box, (dt_score,), dt_masks, dt_mask_area = columns["dt"]
    return DetectionData(
        labels=list(labels), label_ids=np.arange(len(labels), dtype=np.int64), images=list(names),
        image_ids=np.arange(len(names), dtype=np.int64), widths=widths, heights=heights,
        gt_image=gt_image, gt_label=gt_label, gt_box=gt_box, gt_area=gt_area.astype(np.float64),
        gt_crowd=gt_crowd.astype(bool), gt_difficult=np.zeros(len(gt_image), dtype=bool),
        gt_id=np.arange(1, len(gt_image) + 1, dtype=np.int64),
        dt_image=dt_image, dt_label=dt_label, dt_box=dt_box, dt_score=dt_score.astype(np.float64),
        image_matching="id", label_matching="name" if by_name else "id", notices=notices,
        gt_masks=gt_masks, dt_masks=dt_masks, dt_mask_area=dt_mask_area)


def unknown_size_notice(names: list[str], unknown: np.ndarray) -> Notice:
    """The CLI's notice for images whose size is not known (their boxes are not checked)."""
    return Notice("image_size_unknown", "sizes", None,
                  f"{len(unknown)} image(s) without width/height: their boxes are not checked against the image, "
                  f"e.g. {listing([names[i] for i in unknown])}")
