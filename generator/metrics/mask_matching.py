"""What the VOC-style matching, operating point and error typing of `generator.metrics.detection` need for
segmentation: the mask IoU of a pair, and boxes that contain each mask so that pairs can be pruned.

Pruning boxes: `detection.py` may skip pairs whose boxes do not overlap, so each object's pruning box must
contain its mask *and* its given box (the box IoU decides "mask_quality", and a given box need not be the
mask's): the smallest box enclosing both. An empty mask has IoU 0 with everything; its given box is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from generator.metrics.masks import rle_area, rle_bbox
from generator.metrics.segm import mask_pair_iou_fn

if TYPE_CHECKING:  # pragma: no cover
    from generator.formats.boxes import DetectionData


@dataclass
class MaskGeometry:
    iou: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (dt_idx, gt_idx) -> mask IoU (crowd: over dt)
    prune_boxes: tuple[np.ndarray, np.ndarray]  # (D, 4), (G, 4) xywh, each containing mask and given box


def _mask_boxes(masks, hw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(boxes xywh, areas) of the masks (rle_bbox / rle_area)."""
    if hasattr(masks, "bboxes"):
        return np.asarray(masks.bboxes(), dtype=np.float64), np.asarray(masks.areas(), dtype=np.float64)
    boxes = np.zeros((len(masks), 4), dtype=np.float64)
    areas = np.zeros(len(masks), dtype=np.float64)
    for i, (c, (h, w)) in enumerate(zip(masks, hw.tolist())):
        boxes[i] = rle_bbox(c, h, w)
        areas[i] = rle_area(c)
    return boxes, areas


def enclosing_boxes(given: np.ndarray, mask_box: np.ndarray, mask_area: np.ndarray) -> np.ndarray:
    """Per row, the smallest xywh box containing both boxes (the given box alone where the mask is empty)."""
    x0 = np.minimum(given[:, 0], mask_box[:, 0])
    y0 = np.minimum(given[:, 1], mask_box[:, 1])
    x1 = np.maximum(given[:, 0] + given[:, 2], mask_box[:, 0] + mask_box[:, 2])
    y1 = np.maximum(given[:, 1] + given[:, 3], mask_box[:, 1] + mask_box[:, 3])
    out = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    empty = mask_area <= 0
    out[empty] = given[empty]
    return out


def mask_geometry(data: "DetectionData") -> MaskGeometry:
    """Mask IoU and pruning boxes of a segmentation task's `DetectionData` (masks in every object's image)."""
    hw = np.stack([data.heights, data.widths], axis=1)
    dt_hw, gt_hw = hw[data.dt_image], hw[data.gt_image]
    fn = mask_pair_iou_fn(data.dt_masks, data.gt_masks, data.gt_crowd, dt_hw=dt_hw, gt_hw=gt_hw)
    dt_box, dt_area = _mask_boxes(data.dt_masks, dt_hw)
    gt_box, gt_area = _mask_boxes(data.gt_masks, gt_hw)
    return MaskGeometry(iou=fn, prune_boxes=(enclosing_boxes(data.dt_box, dt_box, dt_area),
                                             enclosing_boxes(data.gt_box, gt_box, gt_area)))
