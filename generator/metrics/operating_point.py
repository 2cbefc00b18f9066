"""The report's operating point (docs/metrics.md, "Operating point"): F1 of every score threshold over the VOC
matching (`evalsite.metrics.matching`), t* and the precision / recall / F1 at t*, each label's own best
threshold, F1-vs-threshold and precision-recall curves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from evalsite.metrics.arrays import descending_order, group_best, int_array, ratio, score_order, take
from evalsite.metrics.matching import Matching

F1_TIE_TOLERANCE = 1e-12  # F1(t) values this close to the maximum are ties (then the highest t wins)
MAX_CURVE_POINTS = 500
# The per-label curves share this many points, with at least MIN_LABEL_CURVE_POINTS each: at 1,200 labels
# 500 points each made 17 MB of report.json (charts draw per-label curves only up to 30 labels).
LABEL_CURVE_POINTS = 20_000
MIN_LABEL_CURVE_POINTS = 20


@dataclass
class OperatingPoint:
    """The report's operating point: counts over all labels at score >= threshold and IoU >= iou_threshold.

    threshold is t* (NaN when there is no counted detection at all: then every count but fn is 0).
    precision = tp / (tp + fp), recall = tp / (tp + fn), f1 = F1(t*) (the mean of per-label F1, not the F1 of
    the totals). 0 where a denominator is 0."""

    threshold: float
    iou_threshold: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


@dataclass
class ThresholdCurve:
    """F1 against the score threshold, thresholds decreasing (the order of a sweep)."""

    threshold: np.ndarray
    f1: np.ndarray


@dataclass
class PRCurve:
    """Precision and recall of one label at each of its thresholds, thresholds decreasing (recall grows)."""

    threshold: np.ndarray
    precision: np.ndarray
    recall: np.ndarray


@dataclass
class ThresholdSweep:
    """Result of `operating_point`. Per-label arrays have length L."""

    point: OperatingPoint
    in_mean: np.ndarray  # (L,) bool: the labels F1(t) averages over
    thresholds: np.ndarray  # every candidate t (distinct scores of counted detections), decreasing
    f1: np.ndarray  # F1(t) at each of them (exact grid, not downsampled)
    label_tp: np.ndarray  # (L,) int64 at t*
    label_fp: np.ndarray
    label_fn: np.ndarray
    label_precision: np.ndarray  # (L,) float at t*; 0 where undefined
    label_recall: np.ndarray
    label_f1: np.ndarray
    label_best_threshold: np.ndarray  # (L,) each label's own F1-maximising t; NaN where its best F1 is 0
    label_best_f1: np.ndarray  # (L,)
    f1_curve: ThresholdCurve  # F1(t), at most max_points points, t* included
    label_f1_curves: list[ThresholdCurve]  # F1_c(t) at label c's own thresholds, downsampled
    pr_curves: list[PRCurve]  # per label, downsampled; empty for labels without counted ground truth

    def without_grid(self) -> ThresholdSweep:
        """This sweep without its exact grid (`thresholds`, `f1` emptied: 16 bytes per distinct score), for a
        caller that keeps it long and reads the point, the per-label numbers and the curves (a report)."""
        empty = np.zeros(0, dtype=np.float64)
        return replace(self, thresholds=empty, f1=empty)


def _downsample(values: np.ndarray, max_points: int, keep: list[int]) -> np.ndarray:
    """Indices of at most `max_points` points of a sorted array: half evenly spaced in position, half
    nearest to evenly spaced values, plus both ends and `keep`."""
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    keep = [k for k in keep if 0 <= k < n] + [0, n - 1]
    budget = max(max_points - len(keep), 2)
    by_pos = np.rint(np.linspace(0, n - 1, budget - budget // 2)).astype(np.int64)
    lo, hi = values.min(), values.max()
    targets = np.linspace(lo, hi, budget // 2)
    asc = values[::-1] if values[0] > values[-1] else values
    pos = np.clip(np.searchsorted(asc, targets), 0, n - 1)
    by_value = (n - 1 - pos) if values[0] > values[-1] else pos
    idx = np.unique(np.concatenate([by_pos, by_value, np.asarray(keep, dtype=np.int64)]))
    return idx[:max_points] if len(idx) > max_points else idx


def operating_point(matching: Matching, dt_label, dt_score,
                    max_points: int = MAX_CURVE_POINTS) -> ThresholdSweep:
    """The score threshold t* of the report, and the curves of the sweep (docs/metrics.md, "Operating point").

    For a threshold t, per label c, with the matching of `match_detections` restricted to detections with
    score >= t (the prefix of the full matching, see there): TP_c(t), FP_c(t) (ignored detections count in
    neither), FN_c(t) = n_gt_c - TP_c(t), and F1_c(t) = 2 TP / (2 TP + FP + FN) (0 when that is 0/0).

    F1(t) = the mean of F1_c(t) over a FIXED set of labels: those with counted ground truth or with at least
    one counted (not ignored) detection at any score. A label predicted but absent from the ground truth
    thus weighs F1 down at every t (its F1 is 0), like in scikit-learn's macro F1 over the labels present in
    the ground truth or the predictions; a label whose only detections are ignored does not count.

    t ranges over the distinct scores of the counted detections (F1 only changes there); t* maximises F1(t),
    values within F1_TIE_TOLERANCE (1e-12) of the maximum being ties, won by the highest t. The sum over
    labels is accumulated in integer fixed point (each F1_c rounded to 2^-48 or finer), so F1(t) at every
    grid point is exact to about 1e-15 whatever the number of detections, and ties are found reliably.
    The report's counts at t* are totals over all labels: precision = ΣTP / Σ(TP + FP),
    recall = ΣTP / Σn_gt, f1 = F1(t*). Each label's own best threshold maximises its F1_c (ties: highest t);
    NaN when that F1 is 0.

    Without any counted detection, t* is NaN and precision = recall = F1 = 0.

    Parameters
    ----------
    matching : the `Matching` of all detections (`evalsite.metrics.matching.match_detections`).
    dt_label, dt_score : (D,) label and score of each detection.
    max_points : the most points of each curve (the exact grid `thresholds` / `f1` is kept whole). The
        per-label curves have at most max(MIN_LABEL_CURVE_POINTS, LABEL_CURVE_POINTS / labels) points each
        (when that is fewer): their total stays bounded with thousands of labels.

    Returns
    -------
    `ThresholdSweep`.

    Examples
    --------
    TP, FP, TP (scores 0.9, 0.8, 0.7) on 2 GT of one label: F1 is 2/3, 1/2 and 4/5 at t = 0.9, 0.8, 0.7:

    >>> from evalsite.metrics.matching import match_detections
    >>> gt_box = [[0, 0, 10, 10], [20, 0, 10, 10]]
    >>> dt_box = [[0, 0, 10, 10], [1, 0, 10, 10], [20, 0, 10, 10]]
    >>> m = match_detections([0, 0], [0, 0], gt_box, None, None, [0, 0, 0], [0, 0, 0], dt_box, [0.9, 0.8, 0.7])
    >>> sweep = operating_point(m, [0, 0, 0], [0.9, 0.8, 0.7])
    >>> sweep.thresholds.tolist(), sweep.f1.round(6).tolist()
    ([0.9, 0.8, 0.7], [0.666667, 0.5, 0.8])
    >>> p = sweep.point
    >>> p.threshold, (p.tp, p.fp, p.fn), round(p.precision, 6), p.recall, round(p.f1, 6)
    (0.7, (2, 1, 0), 0.666667, 1.0, 0.8)
    """
    dt_label = int_array(dt_label)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    n_gt = matching.n_gt
    nl = len(n_gt)
    in_mean = (n_gt > 0) | (np.bincount(dt_label[~matching.ignored], minlength=nl)[:nl] > 0)
    n_mean = int(in_mean.sum())

    # Counted detections by label, then descending score, ties in file order: the score order (the
    # matching's), then a stable sort by label (a radix sort up to 65,536 labels: 8x faster than lexsort).
    by_score = score_order(dt_score, matching.order)
    by_score = by_score[~matching.ignored[by_score]]
    label_order = dt_label[by_score]
    d = by_score[np.argsort(label_order.astype(np.uint16) if nl <= 1 << 16 else label_order, kind="stable")]
    del by_score, label_order  # (arrays over every detection: freed as soon as done, for a driver holding them all)
    lab, s, hit = dt_label[d], dt_score[d], matching.tp[d]
    del d
    ctp = np.cumsum(hit)  # true positives up to each position; the false positives are the rest
    # Events: the last detection of each (label, distinct score) group.
    last = np.flatnonzero(np.append((lab[1:] != lab[:-1]) | (s[1:] != s[:-1]), True)[:len(lab)])
    ev_label, ev_score = lab[last], s[last]
    start = np.searchsorted(lab, ev_label)  # first position of each event's label block
    del lab, s, hit
    base_tp = np.where(start > 0, ctp[start - 1], 0)  # (a cumulative count before the block: start - base_tp FP)
    ev_tp = (ctp[last] - base_tp).astype(np.int64)
    ev_fp = (last + 1 - ctp[last] - (start - base_tp)).astype(np.int64)
    del ctp, start, base_tp, last
    ev_f1 = ratio(2 * ev_tp, ev_tp + ev_fp + n_gt[ev_label])
    ev_first = np.append(True, ev_label[1:] != ev_label[:-1]) if len(ev_label) else np.zeros(0, bool)

    # F1(t) on the merged grid: fixed-point deltas of each label's F1_c, summed in descending score order.
    scale_bits = min(52, 62 - max(n_mean, 1).bit_length())
    scale = float(2 ** scale_bits)
    q = np.rint(ev_f1 * scale).astype(np.int64)
    delta = q - (np.where(ev_first, 0, np.roll(q, 1)) if len(q) else q)
    del q, ev_first
    merge = descending_order(ev_score)
    total_q = np.cumsum(delta[merge])
    del delta
    merged_scores = ev_score[merge]
    del merge  # (each array over every event goes as soon as it is used: 8 bytes per detection each)
    grid_last = np.flatnonzero(np.append(merged_scores[1:] != merged_scores[:-1], True)[:len(merged_scores)])
    thresholds = merged_scores[grid_last]
    del merged_scores
    grid_q = total_q[grid_last]
    del total_q, grid_last
    grid_f1 = grid_q / scale / max(n_mean, 1)

    if len(thresholds):
        tolerance = int(np.ceil(F1_TIE_TOLERANCE * max(n_mean, 1) * scale))
        t_index = int(np.flatnonzero(grid_q >= grid_q.max() - tolerance)[0])  # thresholds decrease
        t_star = float(thresholds[t_index])
        shown = np.flatnonzero((dt_score >= t_star) & ~matching.ignored)  # the counted detections at t*
        label_tp = np.bincount(dt_label[shown[matching.tp[shown]]], minlength=nl)[:nl]
        label_fp = np.bincount(dt_label[shown[~matching.tp[shown]]], minlength=nl)[:nl]
        del shown
    else:
        t_index, t_star = -1, float("nan")
        label_tp = np.zeros(nl, dtype=np.int64)
        label_fp = np.zeros(nl, dtype=np.int64)
    label_tp, label_fp = label_tp.astype(np.int64), label_fp.astype(np.int64)
    label_fn = n_gt - label_tp
    label_f1 = ratio(2 * label_tp, 2 * label_tp + label_fp + label_fn)
    tp, fp, fn = int(label_tp.sum()), int(label_fp.sum()), int(label_fn.sum())
    f1 = float(np.sum(label_f1[in_mean]) / n_mean) if n_mean and len(thresholds) else 0.0
    point = OperatingPoint(
        threshold=t_star, iou_threshold=matching.iou_threshold,
        precision=float(ratio(tp, tp + fp)), recall=float(ratio(tp, tp + fn)), f1=f1, tp=tp, fp=fp, fn=fn,
    )

    # Each label's best threshold: largest F1_c, then the earliest event (= highest score) of its block.
    best_f1, best_ev = group_best(ev_label, ev_f1, np.arange(len(ev_label)), nl)
    best_f1 = np.where(best_ev >= 0, best_f1, 0.0)
    best_threshold = np.where(best_f1 > 0, take(ev_score, best_ev, np.nan), np.nan)

    f1_keep = _downsample(thresholds, max_points, [t_index])
    f1_curve = ThresholdCurve(thresholds[f1_keep], grid_f1[f1_keep])
    label_points = min(max_points, max(MIN_LABEL_CURVE_POINTS, LABEL_CURVE_POINTS // max(nl, 1)))
    bounds = np.searchsorted(ev_label, np.arange(nl + 1))
    label_curves, pr_curves = [], []
    for c in range(nl):
        sl = slice(bounds[c], bounds[c + 1])
        ts, f = ev_score[sl], ev_f1[sl]
        keep = _downsample(ts, label_points, [int(best_ev[c] - bounds[c])] if best_ev[c] >= 0 else [])
        label_curves.append(ThresholdCurve(ts[keep], f[keep]))
        if n_gt[c] > 0:
            t_, f_ = ev_tp[sl], ev_fp[sl]
            pr_curves.append(PRCurve(ts[keep], ratio(t_, t_ + f_)[keep], (t_ / n_gt[c])[keep]))
        else:
            pr_curves.append(PRCurve(np.zeros(0), np.zeros(0), np.zeros(0)))

    return ThresholdSweep(
        point=point, in_mean=in_mean, thresholds=thresholds, f1=grid_f1,
        label_tp=label_tp, label_fp=label_fp, label_fn=label_fn,
        label_precision=ratio(label_tp, label_tp + label_fp), label_recall=ratio(label_tp, n_gt),
        label_f1=label_f1, label_best_threshold=best_threshold, label_best_f1=best_f1,
        f1_curve=f1_curve, label_f1_curves=label_curves, pr_curves=pr_curves,
    )
