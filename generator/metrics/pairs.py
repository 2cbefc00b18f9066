"""Which (detection, ground truth) pairs the detection metrics compute an IoU for, and that IoU.

Detections d and ground truth ("GT") g are rows of column arrays (see `evalsite.metrics.matching`).

* IoU comes from a `pair_iou_fn(dt_index, gt_index) -> iou` callback evaluated on index pairs of the same
  image (by default `evalsite.core.boxes.pair_iou` on the boxes, pycocotools' arithmetic; segmentation
  passes mask IoU). For a crowd GT the callback returns pycocotools' crowd "IoU" (intersection over the
  detection's area), which is what crowd regions are tested with;
* only overlapping pairs matter (every threshold is > 0): when boxes are given, pairs whose boxes cannot
  overlap may be left out (a sweep over left edges, used when there are many pairs; a custom callback must
  then be 0 for boxes that do not overlap, as mask IoU is with the masks' bounding boxes); give
  dt_box = gt_box = None with a callback to evaluate every same-image pair. A detection "without a GT"
  means without one of IoU > 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evalsite.core.boxes import box_columns, pair_iou_of

PairIoU = Callable[[np.ndarray, np.ndarray], np.ndarray]

PRUNE_FACTOR = 4  # prune pairs by box overlap when same-key pairs exceed this many per object
# Candidate pairs whose IoU is computed at once: the IoU's temporaries (about 100 bytes per pair) stay near
# 100 MB whatever the set's size (a Dask driver holds the whole set); only the pairs of IoU > 0 are kept.
PAIR_CHUNK = 1 << 20


class PairGeometry:
    """How IoU is found: the callback, and boxes (if any) to skip pairs whose boxes cannot overlap.

    Parameters
    ----------
    pair_iou_fn : `PairIoU` or None. None: the box IoU of `evalsite.core.boxes.pair_iou` (crowd GT: over the
        detection's area), which needs both box arrays.
    dt_box, gt_box : (D, 4) and (G, 4) xywh boxes, or None (then every pair of equal keys is evaluated).
    gt_crowd : (G,) bool, the crowd flag of each GT.

    Examples
    --------
    >>> dt_box = np.array([[0, 0, 10, 10], [50, 0, 10, 10]], dtype=float)
    >>> gt_box = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [200, 0, 5, 5]], dtype=float)
    >>> geometry = PairGeometry(None, dt_box, gt_box, np.zeros(3, dtype=bool))
    >>> pd, pg, iou = geometry.pairs(np.arange(2), np.zeros(2, np.int64), np.arange(3), np.zeros(3, np.int64))
    >>> pd.tolist(), pg.tolist(), iou.round(4).tolist()
    ([0, 0], [0, 1], [0.3333, 1.0])
    """

    def __init__(self, pair_iou_fn: PairIoU | None, dt_box, gt_box, gt_crowd: np.ndarray):
        self.dt_box = None if dt_box is None else np.asarray(dt_box, dtype=np.float64).reshape(-1, 4)
        self.gt_box = None if gt_box is None else np.asarray(gt_box, dtype=np.float64).reshape(-1, 4)
        if pair_iou_fn is None:
            if self.dt_box is None or self.gt_box is None:
                raise ValueError("give the boxes or a pair_iou_fn")
            dtc, gtc = box_columns(self.dt_box), box_columns(self.gt_box)

            def pair_iou_fn(d: np.ndarray, g: np.ndarray) -> np.ndarray:
                return pair_iou_of(dtc, gtc, d, g, gt_crowd)

        self.fn = pair_iou_fn

    def iou(self, d: np.ndarray, g: np.ndarray) -> np.ndarray:
        """(N,) float64 IoU of the pairs (d[i], g[i])."""
        return np.asarray(self.fn(d, g), dtype=np.float64).reshape(-1)

    def pairs(self, dt_idx: np.ndarray, dt_key: np.ndarray, gt_idx: np.ndarray, gt_key: np.ndarray):
        """(detection, GT) index pairs with equal keys (same image, or same image and label) whose boxes may
        overlap, with their IoU; pairs with IoU 0 are dropped (only overlapping pairs matter anywhere).

        Parameters
        ----------
        dt_idx, dt_key : (N,) int, the detections to pair and the key of each.
        gt_idx, gt_key : (M,) int, the GT to pair and the key of each.

        Returns
        -------
        pd, pg : (P,) int64, detection and GT index of each pair with IoU > 0.
        iou : (P,) float64, their IoU.
        """
        gs = np.argsort(gt_key, kind="stable")
        lo, n = _key_ranges(gt_key[gs], dt_key)
        few = int(n.sum()) <= PRUNE_FACTOR * (len(dt_idx) + len(gt_idx))
        if self.dt_box is None or self.gt_box is None or few:
            gt_sorted = gt_idx[gs]  # few pairs: all of them, pruning would cost more
        else:
            lo, n, gt_sorted = overlap_ranges(dt_idx, dt_key, self.dt_box, gt_idx, gt_key, self.gt_box)
        parts = []
        for a, b in chunk_bounds(n, PAIR_CHUNK):
            pd, pg = expand_pairs(dt_idx[a:b], lo[a:b], n[a:b], gt_sorted)
            iou = self.iou(pd, pg)
            keep = iou > 0
            parts.append((pd[keep], pg[keep], iou[keep]))
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(column) for column in zip(*parts))


def chunk_bounds(counts: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive ranges [a, b) of `counts`' positions whose counts sum to at most `size` each (a single
    count larger than `size` is a range of its own), covering them all; one range when they fit `size`
    (also when there are none, so that a caller still produces its empty result).

    >>> chunk_bounds(np.array([2, 2, 5, 1, 0]), 4)
    [(0, 2), (2, 3), (3, 5)]
    """
    total = int(counts.sum())
    if total <= size:
        return [(0, len(counts))]
    ends = np.cumsum(counts)
    bounds, a = [], 0
    while a < len(counts):
        start = int(ends[a] - counts[a])
        b = max(int(np.searchsorted(ends, start + size, side="right")), a + 1)
        bounds.append((a, b))
        a = b
    return bounds


def _key_ranges(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of `wanted`, where its run starts in the sorted `keys` and how long it is (0 when absent):
    searchsorted's left side and right minus left; counted with bincount when the keys (non-negative) span
    few values, which is 4x faster (most uses: image x label keys)."""
    if len(keys) and len(wanted) and keys[0] >= 0 and wanted.min() >= 0:
        span = int(max(keys[-1], wanted.max())) + 1
        if span <= 4 * (len(keys) + len(wanted)):
            counts = np.bincount(keys, minlength=span)
            starts = np.cumsum(counts) - counts
            return starts[wanted], counts[wanted]
    lo = np.searchsorted(keys, wanted, "left")
    return lo, np.searchsorted(keys, wanted, "right") - lo


def expand_pairs(dt_idx: np.ndarray, lo: np.ndarray, n: np.ndarray, gt_sorted: np.ndarray):
    """Pairs (dt_idx[i], gt_sorted[lo[i] + j]) for j < n[i], without a Python loop."""
    total = int(n.sum())
    pair_dt = np.repeat(dt_idx, n)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return pair_dt, gt_sorted[np.repeat(lo, n) + offset]


def overlap_pairs(dt_idx, dt_key, dt_box, gt_idx, gt_key, gt_box):
    """The (detection, GT) pairs with equal keys whose x-ranges may overlap: per key, GT sorted by left edge;
    a detection [x0, x1) can only overlap a GT whose left edge lies in (x0 - widest GT of the key, x1). Both
    bounds are widened by a relative 1e-9 so that rounding never drops an overlapping pair (extra pairs get
    IoU 0 and are dropped by the caller). Keys and coordinates are combined into exact int64 sort keys
    (group * M + rank of the coordinate), so one searchsorted serves all keys at once.

    Parameters
    ----------
    dt_idx, dt_key : (N,) int, the detections (indices into dt_box) and the key of each.
    dt_box : (D, 4) float64 xywh boxes of all detections.
    gt_idx, gt_key : (M,) int, the GT (indices into gt_box) and the key of each.
    gt_box : (G, 4) float64 xywh boxes of all GT.

    Returns
    -------
    pd, pg : (P,) int64, detection and GT index of each candidate pair (a superset of the pairs of equal
        keys whose boxes overlap).

    Examples
    --------
    >>> dt_box = np.array([[0, 0, 10, 10], [50, 0, 10, 10]], dtype=float)
    >>> gt_box = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [200, 0, 5, 5]], dtype=float)
    >>> pd, pg = overlap_pairs(np.arange(2), np.zeros(2, np.int64), dt_box, np.arange(3), np.zeros(3, np.int64),
    ...                        gt_box)
    >>> pd.tolist(), pg.tolist()
    ([0, 0], [1, 0])
    """
    return expand_pairs(dt_idx, *overlap_ranges(dt_idx, dt_key, dt_box, gt_idx, gt_key, gt_box))


def overlap_ranges(dt_idx, dt_key, dt_box, gt_idx, gt_key, gt_box) -> tuple[np.ndarray, ...]:
    """`overlap_pairs` before expansion: (lo, n, gt_sorted), where detection dt_idx[i]'s candidates are
    gt_sorted[lo[i]:lo[i] + n[i]] (what `expand_pairs` takes, and `PairGeometry.pairs` expands in chunks)."""
    if len(dt_idx) == 0 or len(gt_idx) == 0:
        return np.zeros(len(dt_idx), np.int64), np.zeros(len(dt_idx), np.int64), np.zeros(0, np.int64)
    groups, gt_group = np.unique(gt_key, return_inverse=True)
    pos = np.minimum(np.searchsorted(groups, dt_key), len(groups) - 1)
    dt_has = groups[pos] == dt_key
    x0 = gt_box[gt_idx, 0]
    widest = np.zeros(len(groups))
    np.maximum.at(widest, gt_group, np.maximum(gt_box[gt_idx, 2], 0.0))
    dx0 = dt_box[dt_idx, 0]
    dx1 = dx0 + dt_box[dt_idx, 2]
    margin = 1e-9 * max(1.0, float(np.abs(x0).max()) + float(widest.max()), float(np.abs(dx1).max()))
    q_lo = dx0 - widest[pos] - margin
    q_hi = dx1 + margin
    _, rank = np.unique(np.concatenate([x0, q_lo, q_hi]), return_inverse=True)
    m = int(rank.max()) + 1
    n_gt = len(gt_idx)
    order = np.lexsort((x0, gt_group))
    gt_comb = gt_group[order] * m + rank[:n_gt][order]
    lo = np.searchsorted(gt_comb, pos * m + rank[n_gt:n_gt + len(dt_idx)], "right")
    hi = np.searchsorted(gt_comb, pos * m + rank[n_gt + len(dt_idx):], "left")
    n = np.where(dt_has, np.maximum(hi - lo, 0), 0)
    return lo, n, gt_idx[order]
