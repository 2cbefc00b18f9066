"""The report's operating point (docs/metrics.md, "Operating point"): F1 of every score threshold over the VOC
matching (`evalsite.metrics.matching`), t* and the precision / recall / F1 at t*, each label's own best
threshold, F1-vs-threshold and precision-recall curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from evalsite.core.on_disk import DiskArrayWriter, count_below, first_row_where, max_of, rows_where
from evalsite.metrics.arrays import descending_order, group_best, int_array, ratio, take
from evalsite.metrics.matching import Matching, counted_by_label

F1_TIE_TOLERANCE = 1e-12  # F1(t) values this close to the maximum are ties (then the highest t wins)
MAX_CURVE_POINTS = 500
# The per-label curves share this many points, with at least MIN_LABEL_CURVE_POINTS each: at 1,200 labels
# 500 points each made 17 MB of report.json (charts draw per-label curves only up to 30 labels).
LABEL_CURVE_POINTS = 20_000
MIN_LABEL_CURVE_POINTS = 20
# Grid entries of label groups' sweeps (`join_sweep_parts`) merged at a time: the merge's working arrays then
# stay about 16 MB, whatever the number of detections
MERGE_BLOCK = 1 << 18


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
    """Indices of at most `max_points` points of a sorted array (or `DiskArray`, read a block at a time): half
    evenly spaced in position, half nearest to evenly spaced values, plus both ends and `keep`."""
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    keep = [k for k in keep if 0 <= k < n] + [0, n - 1]
    budget = max(max_points - len(keep), 2)
    by_pos = np.rint(np.linspace(0, n - 1, budget - budget // 2)).astype(np.int64)
    first, last = values[0], values[-1]
    targets = np.linspace(min(first, last), max(first, last), budget // 2)
    pos = np.clip(count_below(values, targets), 0, n - 1)  # (the ascending values' searchsorted)
    by_value = (n - 1 - pos) if first > last else pos
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
    in_mean = labels_in_mean(dt_label[~matching.ignored], n_gt)
    bits = fixed_point_bits(int(in_mean.sum()))
    # (the sorted rows, passed without a name here, are freed inside as soon as used: 17 bytes per detection)
    part = sweep_part(counted_rows(matching.tp, matching.ignored, dt_label, dt_score, len(n_gt), matching.order),
                      n_gt, bits, label_curve_points(len(n_gt), max_points))
    return join_sweep_parts([part], matching, dt_label, dt_score, max_points)


def counted_rows(tp: np.ndarray, ignored: np.ndarray, dt_label: np.ndarray, dt_score: np.ndarray, n_labels: int,
                 order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label, score, TP flag) of the counted detections by label, then descending score, then file order
    (`evalsite.metrics.matching.counted_by_label`): the rows of `sweep_part` and of
    `evalsite.metrics.voc_ap.label_average_precisions`."""
    d = counted_by_label(ignored, dt_label, dt_score, n_labels, order)
    return dt_label[d], dt_score[d], tp[d]


def labels_in_mean(counted_label: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """(L,) bool: the labels F1(t) averages over (`operating_point`): with counted ground truth (`n_gt` > 0) or
    with at least one counted (not ignored) detection, whose labels are `counted_label`."""
    nl = len(n_gt)
    return (n_gt > 0) | (np.bincount(counted_label, minlength=nl)[:nl] > 0)


def fixed_point_bits(n_mean: int) -> int:
    """The bits after the point of each F1_c in the sum F1(t) over `n_mean` labels: the sum stays below 2^62."""
    return min(52, 62 - max(n_mean, 1).bit_length())


def bits_before_matching(n_gt: np.ndarray, n_dt: np.ndarray) -> int | None:
    """`fixed_point_bits` of the labels in the mean, known before the matching that decides it, or None: the
    labels with counted ground truth (`n_gt` > 0) are in it, those without any detection (`n_dt` == 0) are not,
    and the others are when a detection of theirs counts (is not ignored); the bits are known when every count
    in between gives the same (always below 1,024 labels: 52 bits).

    >>> bits_before_matching(np.array([3, 0, 1]), np.array([5, 2, 0])), bits_before_matching(
    ...     np.r_[np.ones(1000), np.zeros(100)], np.ones(1100))
    (52, None)
    """
    bits = fixed_point_bits(int(np.count_nonzero(n_gt > 0)))
    return bits if fixed_point_bits(int(np.count_nonzero((n_gt > 0) | (n_dt > 0)))) == bits else None


def label_curve_points(n_labels: int, max_points: int = MAX_CURVE_POINTS) -> int:
    """The most points of each label's curves (`operating_point`'s `max_points`)."""
    return min(max_points, max(MIN_LABEL_CURVE_POINTS, LABEL_CURVE_POINTS // max(n_labels, 1)))


@dataclass
class SweepPart:
    """What a group of consecutive labels gives the sweep on its own (`sweep_part`), per label of the group
    (L_g of them); the groups' parts are joined by `join_sweep_parts`."""

    grid_score: np.ndarray  # the distinct scores of the group's counted detections, decreasing
    grid_q: np.ndarray  # (int64) at each: the sum of the group's F1_c(t) in fixed point (`fixed_point_bits`)
    bits: int  # those bits
    in_mean: np.ndarray  # (L_g,) bool: `labels_in_mean` of the group's labels
    best_f1: np.ndarray  # (L_g,) each label's best F1_c
    best_threshold: np.ndarray  # (L_g,) where it is reached (the highest such t); NaN where it is 0
    label_f1_curves: list[ThresholdCurve]  # (L_g) downsampled
    pr_curves: list[PRCurve]  # (L_g) downsampled; empty for labels without counted ground truth


def sweep_part(rows: tuple[np.ndarray, np.ndarray, np.ndarray], n_gt: np.ndarray, bits: int,
               label_points: int) -> SweepPart:
    """The part of the sweep of a group of labels 0..L_g-1 (`operating_point` for a group's labels, renumbered
    from 0): their F1_c(t) summed at their own distinct scores, each label's best threshold and its curves.

    Parameters
    ----------
    rows : (label, score, TP flag) of the group's counted detections, by label, then descending score, then
        file order (`counted_rows`); freed here once used when the caller keeps no other reference.
    n_gt : (L_g,) counted ground truth per label.
    bits : `fixed_point_bits` of the whole's labels in the mean (the same for every group: their sums add up).
    label_points : `label_curve_points` of the whole's labels.

    Returns
    -------
    `SweepPart`.
    """
    nl = len(n_gt)
    lab, s, hit = rows
    del rows
    in_mean = labels_in_mean(lab, n_gt)  # (these rows are the counted ones)
    ctp = np.cumsum(hit)  # true positives up to each position; the false positives are the rest
    # Events: the last detection of each (label, distinct score) group.
    last = np.flatnonzero(np.append((lab[1:] != lab[:-1]) | (s[1:] != s[:-1]), True)[:len(lab)])
    ev_label, ev_score = lab[last], s[last]
    start = np.searchsorted(lab, ev_label)  # first position of each event's label block
    del lab, s, hit
    base_tp = np.where(start > 0, ctp[start - 1], 0)  # (a cumulative count before the block: start - base_tp FP)
    ev_tp = (ctp[last] - base_tp).astype(np.int64)
    ev_fp = (last + 1 - ctp[last] - (start - base_tp)).astype(np.int64)
    del ctp, start, base_tp, last  # (each array over every event goes as soon as it is used: 8 bytes per detection)
    ev_f1 = ratio(2 * ev_tp, ev_tp + ev_fp + n_gt[ev_label])
    ev_first = np.append(True, ev_label[1:] != ev_label[:-1]) if len(ev_label) else np.zeros(0, bool)

    # The group's share of F1(t) on its own grid: fixed-point deltas of each label's F1_c, summed in descending
    # score order
    q = np.rint(ev_f1 * float(2 ** bits)).astype(np.int64)
    delta = q - (np.where(ev_first, 0, np.roll(q, 1)) if len(q) else q)
    del q, ev_first
    merge = descending_order(ev_score)
    grid_score, grid_q = _summed_at_distinct(ev_score[merge], np.cumsum(delta[merge]))
    del delta, merge

    # Each label's best threshold: largest F1_c, then the earliest event (= highest score) of its block.
    best_f1, best_ev = group_best(ev_label, ev_f1, np.arange(len(ev_label)), nl)
    best_f1 = np.where(best_ev >= 0, best_f1, 0.0)
    best_threshold = np.where(best_f1 > 0, take(ev_score, best_ev, np.nan), np.nan)
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
    return SweepPart(grid_score, grid_q, bits, in_mean, best_f1, best_threshold, label_curves, pr_curves)


def _summed_at_distinct(scores: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values of decreasing `scores`, `total` at the last position of each)."""
    last = np.flatnonzero(np.append(scores[1:] != scores[:-1], True)[:len(scores)])
    return scores[last], total[last]


def _merged_grid(parts: list[SweepPart], kept_on_disk: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(every distinct score of the parts' grids, decreasing; at each, the sum over parts of their `grid_q` at
    their last score >= it): the whole's grid and fixed-point F1 sum. The parts' grid entries are merged a
    range of scores at a time, about MERGE_BLOCK entries each (a score in one range only), so that the merge's
    working arrays (about 60 bytes per entry) are a range's, not every entry's; with `kept_on_disk` the
    grid is written to this machine's disk a range at a time (`DiskArray`), never whole in memory."""
    if len(parts) == 1:  # (its grid is the whole's)
        return parts[0].grid_score, parts[0].grid_q
    total = sum(len(part.grid_score) for part in parts)
    # Cut scores, decreasing: every MERGE_BLOCK / 4-th entry of each part, then every fourth of those
    stride = max(1, MERGE_BLOCK // 4)
    cuts = np.unique(np.concatenate([part.grid_score[stride - 1::stride] for part in parts]))[::-1]
    cuts = cuts[max(1, MERGE_BLOCK // stride) - 1::max(1, MERGE_BLOCK // stride)]
    # each part's entries >= each cut: its ranges' bounds (range j: scores in [cuts[j], cuts[j - 1]))
    ends = [np.r_[np.searchsorted(-part.grid_score, -cuts, side="right"), len(part.grid_score)] for part in parts]
    if kept_on_disk:
        written = DiskArrayWriter(np.float64), DiskArrayWriter(np.int64)
    else:
        thresholds, grid_q = np.empty(total, dtype=np.float64), np.empty(total, dtype=np.int64)
    done, carry = 0, np.int64(0)
    for j in range(len(cuts) + 1):
        pieces = [(part, int(end[j - 1]) if j else 0, int(end[j])) for part, end in zip(parts, ends)]
        scores = np.concatenate([part.grid_score[a:b] for part, a, b in pieces])
        # each entry's change of its part's sum (the entry before it in its part: 0 for the first)
        deltas = np.concatenate([np.diff(part.grid_q[a - 1:b]) if a else np.diff(part.grid_q[:b], prepend=np.int64(0))
                                 for part, a, b in pieces])
        merge = descending_order(scores)
        distinct, summed = _summed_at_distinct(scores[merge], carry + np.cumsum(deltas[merge]))
        if kept_on_disk:
            written[0].append(distinct)
            written[1].append(summed)
        else:
            thresholds[done:done + len(distinct)], grid_q[done:done + len(distinct)] = distinct, summed
        done += len(distinct)
        carry = summed[-1] if len(summed) else carry
    if kept_on_disk:
        return written[0].finish(), written[1].finish()
    if done < total:  # (shrunk in place: not copied)
        thresholds.resize(done, refcheck=False)
        grid_q.resize(done, refcheck=False)
    return thresholds, grid_q


def join_sweep_parts(parts: list[SweepPart], matching: Matching, dt_label: np.ndarray, dt_score: np.ndarray,
                     max_points: int = MAX_CURVE_POINTS, keep_grid: bool = True) -> ThresholdSweep:
    """`operating_point` of all labels from the `sweep_part` of each group of consecutive labels, in label order
    (e.g. a Dask cluster's tasks): the same sweep bit for bit. F1(t) in fixed point is an integer sum over
    labels, so the groups' sums, merged at every distinct score, add up to the whole's exactly; the rest of a
    part is per label. The counts at t* are read from `matching` (`dt_label`, `dt_score`: the detections').
    Without `keep_grid`, the sweep is `without_grid()`'s (its exact grid let go as soon as t* and the curve are
    read from it: 24 bytes per distinct score less at the peak). A part summed with other bits than those of
    the whole's labels in the mean is a ValueError."""
    in_mean = np.concatenate([part.in_mean for part in parts])
    n_mean = int(in_mean.sum())
    bits = fixed_point_bits(n_mean)
    if any(part.bits != bits for part in parts):
        raise ValueError(f"a sweep part is in fixed point of other bits than {bits}")
    scale = float(2 ** bits)
    # (without keep_grid, on this machine's disk until t* and the curve are read: 16 bytes per distinct score)
    thresholds, grid_q = _merged_grid(parts, kept_on_disk=not keep_grid)
    n_gt, nl = matching.n_gt, len(matching.n_gt)
    if len(thresholds):  # the first (thresholds decrease) within the tolerance of the best
        best = max_of(grid_q) - int(np.ceil(F1_TIE_TOLERANCE * max(n_mean, 1) * scale))
        t_index = first_row_where(grid_q, lambda block: block >= best)
    else:
        t_index = -1
    def f1_of(q: np.ndarray) -> np.ndarray:  # F1(t) of its fixed-point sum over the labels in the mean
        return q / scale / max(n_mean, 1)

    f1_keep = _downsample(thresholds, max_points, [t_index])
    f1_curve = ThresholdCurve(thresholds[f1_keep], f1_of(grid_q[f1_keep]))
    t_star = float(thresholds[t_index]) if len(thresholds) else float("nan")
    if keep_grid:
        grid_f1 = f1_of(grid_q)
    else:
        thresholds = grid_f1 = np.zeros(0, dtype=np.float64)
    del grid_q
    if not math.isnan(t_star):
        # the counted detections at t* (the scores read a block at a time: on a cluster's driver, from its disk)
        shown = rows_where(dt_score, lambda block: block >= t_star)
        shown = shown[~matching.ignored[shown]]
        label_tp = np.bincount(dt_label[shown[matching.tp[shown]]], minlength=nl)[:nl]
        label_fp = np.bincount(dt_label[shown[~matching.tp[shown]]], minlength=nl)[:nl]
        del shown
    else:
        label_tp = np.zeros(nl, dtype=np.int64)
        label_fp = np.zeros(nl, dtype=np.int64)
    label_tp, label_fp = label_tp.astype(np.int64), label_fp.astype(np.int64)
    label_fn = n_gt - label_tp
    label_f1 = ratio(2 * label_tp, 2 * label_tp + label_fp + label_fn)
    tp, fp, fn = int(label_tp.sum()), int(label_fp.sum()), int(label_fn.sum())
    f1 = float(np.sum(label_f1[in_mean]) / n_mean) if n_mean and not math.isnan(t_star) else 0.0
    point = OperatingPoint(
        threshold=t_star, iou_threshold=matching.iou_threshold,
        precision=float(ratio(tp, tp + fp)), recall=float(ratio(tp, tp + fn)), f1=f1, tp=tp, fp=fp, fn=fn,
    )
    return ThresholdSweep(
        point=point, in_mean=in_mean, thresholds=thresholds, f1=grid_f1,
        label_tp=label_tp, label_fp=label_fp, label_fn=label_fn,
        label_precision=ratio(label_tp, label_tp + label_fp), label_recall=ratio(label_tp, n_gt),
        label_f1=label_f1, label_best_threshold=np.concatenate([part.best_threshold for part in parts]),
        label_best_f1=np.concatenate([part.best_f1 for part in parts]), f1_curve=f1_curve,
        label_f1_curves=[curve for part in parts for curve in part.label_f1_curves],
        pr_curves=[curve for part in parts for curve in part.pr_curves],
    )
