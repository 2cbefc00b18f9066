"""Boxes [x, y, w, h]: IoU elementwise over pairs or as a full matrix, with pycocotools' exact operation order.

pycocotools' bbIou (maskApi.c): intersection of [x, y, w, h] boxes; for a crowd ground truth the
"union" is the detection's own area (a crowd region may absorb any number of detections).
"""

from __future__ import annotations

import numpy as np


def pair_iou(dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of each row of `dt_boxes` (N, 4) with the same row of `gt_boxes` (N, 4), xywh."""
    dx, dy, dw, dh = np.asarray(dt_boxes, dtype=np.float64).T
    gx, gy, gw, gh = np.asarray(gt_boxes, dtype=np.float64).T
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
