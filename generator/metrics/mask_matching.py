"""What the VOC-style matching, operating point and error typing (`evalsite.metrics.matching`,
`evalsite.metrics.operating_point`, `evalsite.metrics.error_types`, run by `evalsite.metrics.detection`) need
for segmentation: the mask IoU of a pair, and boxes that contain each mask so that pairs can be pruned.

Pruning boxes: `evalsite.metrics.pairs` may skip pairs whose boxes do not overlap, so each object's pruning
box must contain its mask *and* its given box (the box IoU decides "mask_quality", and a given box need not
be the mask's): the smallest box enclosing both. An empty mask has IoU 0 with everything; its given box is
kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from evalsite.metrics.segm import mask_pair_iou_fn

if TYPE_CHECKING:  # pragma: no cover
    from evalsite.core.detection_data import DetectionData


@dataclass
class MaskGeometry:
    iou: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (dt_idx, gt_idx) -> mask IoU (crowd: over dt)
    prune_boxes: tuple[np.ndarray, np.ndarray]  # (D, 4), (G, 4) xywh, each containing mask and given box


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


def mask_geometry(data: DetectionData) -> MaskGeometry:
    """Mask IoU and pruning boxes of a segmentation task's `DetectionData` (its masks are MaskSets)."""
    return masks_geometry(data.dt_box, data.dt_masks, data.gt_box, data.gt_masks, data.gt_crowd)


def pairing(dt_box: np.ndarray, gt_box: np.ndarray, gt_crowd: np.ndarray, masks: tuple | None = None
            ) -> tuple[Callable | None, np.ndarray, np.ndarray]:
    """(pair IoU callback, detections' and objects' pruning boxes) of some rows, as the matchings take them:
    without masks (None) the box IoU (None) and the boxes themselves; with masks (objects', detections'), the
    mask IoU and boxes that contain each mask (`masks_geometry`)."""
    if masks is None:
        return None, dt_box, gt_box
    gt_masks, dt_masks = masks
    geometry = masks_geometry(dt_box, dt_masks, gt_box, gt_masks, gt_crowd)
    return geometry.iou, *geometry.prune_boxes


def masks_geometry(dt_box: np.ndarray, dt_masks, gt_box: np.ndarray, gt_masks, gt_crowd: np.ndarray) -> MaskGeometry:
    """`mask_geometry` of the given columns (some rows of a task: a pair's IoU and a row's box depend on those
    rows alone)."""
    fn = mask_pair_iou_fn(dt_masks, gt_masks, gt_crowd)
    return MaskGeometry(iou=fn, prune_boxes=(enclosing_boxes(dt_box, dt_masks.bboxes(), dt_masks.areas()),
                                             enclosing_boxes(gt_box, gt_masks.bboxes(), gt_masks.areas())))
