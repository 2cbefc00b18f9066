"""Boxes [x, y, w, h]: IoU elementwise over pairs or as a full matrix, with pycocotools' exact operation order.

pycocotools' bbIou (maskApi.c): intersection of [x, y, w, h] boxes; for a crowd ground truth the
"union" is the detection's own area (a crowd region may absorb any number of detections).
"""

from __future__ import annotations

import numpy as np


def pair_iou(dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of each row of `dt_boxes` (N, 4) with the same row of `gt_boxes` (N, 4), xywh."""
    return _iou(*np.asarray(dt_boxes, dtype=np.float64).T, *np.asarray(gt_boxes, dtype=np.float64).T, gt_crowd)


def box_columns(boxes: np.ndarray) -> np.ndarray:
    """(4, N) contiguous x, y, w and h of (N, 4) xywh boxes, for `pair_iou_of`."""
    return np.ascontiguousarray(np.asarray(boxes, dtype=np.float64).reshape(-1, 4).T)


def pair_iou_of(dt_columns: np.ndarray, gt_columns: np.ndarray, d: np.ndarray, g: np.ndarray,
                gt_crowd: np.ndarray | None = None) -> np.ndarray:
    """`pair_iou(dt_boxes[d], gt_boxes[g], gt_crowd[g])` from the `box_columns` of both: the same numbers,
    with each coordinate gathered into a contiguous array (about 1.6x faster for a million pairs)."""
    return _iou(*(column[d] for column in dt_columns), *(column[g] for column in gt_columns),
                None if gt_crowd is None else gt_crowd[g])


def _iou(dx, dy, dw, dh, gx, gy, gw, gh, gt_crowd) -> np.ndarray:
    w = np.minimum(dx + dw, gx + gw) - np.maximum(dx, gx)
    h = np.minimum(dy + dh, gy + gh) - np.maximum(dy, gy)
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, 0.0)
    dt_area = dw * dh
    union = dt_area + gw * gh - inter
    if gt_crowd is not None:
        union = np.where(gt_crowd, dt_area, union)
    return np.divide(inter, union, out=np.zeros_like(inter), where=overlap)


def iou_matrix(dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray | None = None) -> np.ndarray:
    """(D, G) IoU of every detection with every ground truth (one image), same arithmetic as pair_iou."""
    d = np.asarray(dt_boxes, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    di = np.repeat(np.arange(len(d)), len(g))
    gi = np.tile(np.arange(len(g)), len(d))
    crowd = None if gt_crowd is None else np.asarray(gt_crowd, dtype=bool)[gi]
    return pair_iou(d[di], g[gi], crowd).reshape(len(d), len(g))


def empty_boxes() -> np.ndarray:
    """No boxes: a (0, 4) float64 array."""
    return np.zeros((0, 4), dtype=np.float64)
