"""PASCAL VOC average precision (docs/metrics.md, "Detection"): VOC2010+ all-point AP and
VOC2007 11-point AP of each label from the VOC matching (`evalsite.metrics.matching`), and their mean over
labels with ground truth (the headline mAP50).
"""

from __future__ import annotations

import numpy as np

from evalsite.metrics.arrays import int_array
from evalsite.metrics.matching import Matching, counted_by_label


def average_precision(tp, ignored, scores, n_gt: int, method: str = "all") -> float:
    """VOC average precision of one label from its detections' TP flags (from `match_detections`).

    Detections are ranked by descending score (ties: the given order, as the devkit does: no grouping of
    equal scores); ignored ones are left out (in the devkit they add no TP and no FP, which changes nothing).
    After the k-th detection: recall r_k = TP_k / n_gt, precision p_k = TP_k / k.

    * method="all" (VOC2010+): the area under the precision envelope p̂(r) = max{p_k : r_k >= r}, i.e.
      sum over k of (r_k - r_{k-1}) * p̂(r_k), with r_0 = 0;
    * method="11point" (VOC2007): the mean over r in {0, 0.1, ..., 1} of p̂(r) (0 when no r_k >= r). The
      recall levels are exactly k/10 (the devkit's 0:0.1:1 accumulates 0.1 and misses r_k == 0.3 exactly).

    A label with ground truth but no detections has AP 0; a label without counted ground truth has no AP
    (NaN).

    Parameters
    ----------
    tp : (N,) bool, whether each detection of the label is a true positive.
    ignored : (N,) bool, whether it is ignored (neither TP nor FP), or None (none is).
    scores : (N,) float, the detections' scores.
    n_gt : the label's number of counted GT.
    method : "all" or "11point".

    Returns
    -------
    float, the AP (NaN when n_gt <= 0).

    Examples
    --------
    TP, FP, TP out of 2 GT: recall 0.5, 0.5, 1 and precision 1, 0.5, 2/3, so AP = 0.5 * 1 + 0.5 * 2/3:

    >>> round(average_precision([True, False, True], None, [0.9, 0.8, 0.7], 2), 6)
    0.833333
    >>> round(average_precision([True, False, True], None, [0.9, 0.8, 0.7], 2, "11point"), 6)  # (6 + 5 * 2/3) / 11
    0.848485
    """
    if n_gt <= 0:
        return float("nan")
    tp = np.asarray(tp, dtype=bool).reshape(-1)
    keep = ~np.asarray(ignored, dtype=bool).reshape(-1) if ignored is not None else np.ones(len(tp), bool)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    flags = tp[order][keep[order]]
    return _ap_sorted(flags, int(n_gt), method)


def _ap_sorted(flags: np.ndarray, n_gt: int, method: str) -> float:
    """AP of TP flags already in detection order, ignored detections left out (see `average_precision`)."""
    if len(flags) == 0:
        return 0.0
    ctp = np.cumsum(flags)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(flags) + 1)
    if method == "all":
        mrec = np.concatenate(([0.0], recall, [1.0]))
        mpre = np.concatenate(([0.0], precision, [0.0]))
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        i = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
    if method == "11point":
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        idx = np.searchsorted(recall, np.arange(11) / 10, side="left")
        p = np.where(idx < len(recall), envelope[np.minimum(idx, len(recall) - 1)], 0.0)
        return float(np.sum(p) / 11)
    raise ValueError(f"unknown AP method {method!r}")


def average_precision_per_label(matching: Matching, dt_label, dt_score, method: str = "all") -> np.ndarray:
    """(L,) AP of every label (see `average_precision`); NaN for labels without counted ground truth.

    Parameters
    ----------
    matching : the `Matching` of the detections.
    dt_label, dt_score : (D,) label and score of each detection.
    method : "all" or "11point".

    Examples
    --------
    >>> from evalsite.metrics.matching import match_detections
    >>> gt_box = [[0, 0, 10, 10], [20, 0, 10, 10]]
    >>> dt_box = [[0, 0, 10, 10], [1, 0, 10, 10], [20, 0, 10, 10]]
    >>> m = match_detections([0, 0], [0, 0], gt_box, None, None, [0, 0, 0], [0, 0, 0], dt_box, [0.9, 0.8, 0.7],
    ...                      n_labels=2)
    >>> average_precision_per_label(m, [0, 0, 0], [0.9, 0.8, 0.7]).round(6).tolist()
    [0.833333, nan]
    """
    return average_precisions_per_label(matching, dt_label, dt_score, (method,))[0]


def average_precisions_per_label(matching: Matching, dt_label, dt_score, methods: tuple[str, ...] = ("all", "11point")
                                 ) -> list[np.ndarray]:
    """`average_precision_per_label` of each of `methods`, the detections sorted once for all."""
    dt_label = int_array(dt_label)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    d = counted_by_label(matching.ignored, dt_label, dt_score, len(matching.n_gt), matching.order)
    return label_average_precisions(dt_label[d], matching.tp[d], matching.n_gt, methods)


def label_average_precisions(labels: np.ndarray, tp: np.ndarray, n_gt: np.ndarray,
                             methods: tuple[str, ...] = ("all", "11point")) -> list[np.ndarray]:
    """(L,) AP of every label for each of `methods` (see `average_precision`; NaN without counted ground truth),
    from the counted detections' labels and TP flags by label, then descending score, then file order
    (`evalsite.metrics.matching.counted_by_label`), and `n_gt`, the (L,) counted ground truth per label.

    >>> label_average_precisions(np.array([0, 0, 0]), np.array([True, False, True]), np.array([2, 0]),
    ...                          ("all",))[0].round(6).tolist()
    [0.833333, nan]
    """
    bounds = np.searchsorted(labels, np.arange(len(n_gt) + 1))
    aps = [np.full(len(n_gt), np.nan) for _ in methods]
    for c in np.flatnonzero(n_gt > 0):
        flags = tp[bounds[c]:bounds[c + 1]]
        for ap, method in zip(aps, methods):
            ap[c] = _ap_sorted(flags, int(n_gt[c]), method)
    return aps


def voc_map(ap_per_label) -> float:
    """mAP: the mean AP over labels with ground truth (the non-NaN entries); NaN if there are none.

    Examples
    --------
    >>> voc_map([0.5, float("nan"), 1.0])
    0.75
    """
    ap = np.asarray(ap_per_label, dtype=np.float64)
    ap = ap[~np.isnan(ap)]
    return float(ap.mean()) if len(ap) else float("nan")
