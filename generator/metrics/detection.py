"""Detection metrics other than COCO (DESIGN.md §3 "Detection and segmentation"), on column arrays.

Conventions (those of `evalsite.core.detection_data.DetectionData`):

* ground truth ("GT") g = 0..G-1 and detections d = 0..D-1 are rows of column arrays: image index, label
  index 0..L-1, box [x, y, w, h] (continuous coordinates, no VOC "+1"), and for GT the `difficult` and
  `crowd` flags, for detections a finite score;
* "counted" GT = neither difficult nor crowd: only these count in recall (n_gt) and can be missed;
* detection order: descending score, equal scores in file order (a stable sort). Every greedy step below
  uses this order;
* IoU comes from a `pair_iou_fn(dt_index, gt_index) -> iou` callback evaluated on index pairs of the same
  image (by default `evalsite.core.boxes.pair_iou` on the boxes, pycocotools' arithmetic; segmentation
  passes mask IoU). For a crowd GT the callback returns pycocotools' crowd "IoU" (intersection over the
  detection's area), which is what crowd regions are tested with here;
* only overlapping pairs matter (every threshold is > 0): when boxes are given, pairs whose boxes cannot
  overlap may be left out (a sweep over left edges, used when there are many pairs; a custom callback must
  then be 0 for boxes that do not overlap, as mask IoU is with the masks' bounding boxes); give
  dt_box = gt_box = None with a callback to evaluate every same-image pair. A detection "without a GT"
  means without one of IoU > 0.

What is computed (each function's docstring states its definition):

* `match_detections`: the PASCAL VOC matching of each label at IoU >= 0.5;
* `average_precision` / `average_precision_per_label` / `voc_map`: VOC2010+ all-point AP and VOC2007
  11-point AP, and their mean over labels with ground truth (the headline mAP50);
* `operating_point`: F1 of every score threshold, t* and the report's precision / recall / F1 at t*,
  each label's own best threshold, F1-vs-threshold and precision-recall curves;
* `confusion_at_threshold`: class-agnostic confusion matrix at t* (background row, missed column);
* `type_errors`: the type of every false positive and every missed object at t*;
* `evaluate_detection`: all of the above for a `DetectionData`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from evalsite.core.boxes import pair_iou

if TYPE_CHECKING:  # pragma: no cover
    from evalsite.core.detection_data import DetectionData

PairIoU = Callable[[np.ndarray, np.ndarray], np.ndarray]

IOU_THRESHOLD = 0.5
BACKGROUND_IOU = 0.1  # below this IoU with every ground truth a false positive is "background"
F1_TIE_TOLERANCE = 1e-12  # F1(t) values this close to the maximum are ties (then the highest t wins)
MAX_CURVE_POINTS = 500
_PRUNE_FACTOR = 4  # prune pairs by box overlap when same-key pairs exceed this many per object

# False-positive types, in order of precedence (the first that applies is the type); see `type_errors`.
FP_TYPES = ("duplicate", "wrong_label", "mask_quality", "localisation", "label_and_localisation", "background")
# Missed-object (false-negative) types, in order of precedence; see `type_errors`.
FN_TYPES = ("wrong_label", "below_threshold", "mask_quality", "localisation", "no_detection")
# "mask_quality" only occurs in segmentation (type_errors given the boxes to compare the masks with).


# ------------------------------------------------------------------------------------------------ helpers

def _int(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64).reshape(-1)


def _bool(a, n: int) -> np.ndarray:
    if a is None:
        return np.zeros(n, dtype=bool)
    return np.asarray(a, dtype=bool).reshape(-1)


class _Geometry:
    """How IoU is found: the callback, and boxes (if any) to skip pairs whose boxes cannot overlap."""

    def __init__(self, pair_iou_fn: PairIoU | None, dt_box, gt_box, gt_crowd: np.ndarray):
        self.dt_box = None if dt_box is None else np.asarray(dt_box, dtype=np.float64).reshape(-1, 4)
        self.gt_box = None if gt_box is None else np.asarray(gt_box, dtype=np.float64).reshape(-1, 4)
        if pair_iou_fn is None:
            if self.dt_box is None or self.gt_box is None:
                raise ValueError("give the boxes or a pair_iou_fn")
            dtb, gtb = self.dt_box, self.gt_box

            def pair_iou_fn(d: np.ndarray, g: np.ndarray) -> np.ndarray:
                return pair_iou(dtb[d], gtb[g], gt_crowd[g])

        self.fn = pair_iou_fn

    def iou(self, d: np.ndarray, g: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(d, g), dtype=np.float64).reshape(-1)

    def pairs(self, dt_idx: np.ndarray, dt_key: np.ndarray, gt_idx: np.ndarray, gt_key: np.ndarray):
        """(detection, GT) index pairs with equal keys (same image, or same image and label) whose boxes may
        overlap, with their IoU; pairs with IoU 0 are dropped (only overlapping pairs matter anywhere)."""
        gs = np.argsort(gt_key, kind="stable")
        keys = gt_key[gs]
        lo = np.searchsorted(keys, dt_key, "left")
        n = np.searchsorted(keys, dt_key, "right") - lo
        few = int(n.sum()) <= _PRUNE_FACTOR * (len(dt_idx) + len(gt_idx))
        if self.dt_box is None or self.gt_box is None or few:
            pd, pg = _expand(dt_idx, lo, n, gt_idx[gs])  # few pairs: all of them, pruning would cost more
        else:
            pd, pg = _overlap_pairs(dt_idx, dt_key, self.dt_box, gt_idx, gt_key, self.gt_box)
        iou = self.iou(pd, pg)
        keep = iou > 0
        return pd[keep], pg[keep], iou[keep]


def _expand(dt_idx: np.ndarray, lo: np.ndarray, n: np.ndarray, gt_sorted: np.ndarray):
    """Pairs (dt_idx[i], gt_sorted[lo[i] + j]) for j < n[i], without a Python loop."""
    total = int(n.sum())
    pair_dt = np.repeat(dt_idx, n)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return pair_dt, gt_sorted[np.repeat(lo, n) + offset]


def _overlap_pairs(dt_idx, dt_key, dt_box, gt_idx, gt_key, gt_box):
    """The (detection, GT) pairs with equal keys whose x-ranges may overlap: per key, GT sorted by left edge;
    a detection [x0, x1) can only overlap a GT whose left edge lies in (x0 - widest GT of the key, x1). Both
    bounds are widened by a relative 1e-9 so that rounding never drops an overlapping pair (extra pairs get
    IoU 0 and are dropped by the caller). Keys and coordinates are combined into exact int64 sort keys
    (group * M + rank of the coordinate), so one searchsorted serves all keys at once."""
    if len(dt_idx) == 0 or len(gt_idx) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
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
    return _expand(dt_idx, lo, n, gt_idx[order])


def _group_best(group: np.ndarray, value: np.ndarray, obj: np.ndarray, n_groups: int):
    """Per group: the largest value (-inf for an empty group) and the smallest `obj` among the entries that
    hold it (-1 for an empty group). With obj = object indices, "smallest" means "first in file order"."""
    best = np.full(n_groups, -np.inf)
    np.maximum.at(best, group, value)
    hit = value == best[group]
    big = np.iinfo(np.int64).max
    first = np.full(n_groups, big, dtype=np.int64)
    np.minimum.at(first, group[hit], np.asarray(obj, dtype=np.int64)[hit])
    first[first == big] = -1
    return best, first


def _rank(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Detection order (descending score, ties in file order) and each detection's position in it."""
    order = np.argsort(-score, kind="stable")
    rank = np.empty(len(score), dtype=np.int64)
    rank[order] = np.arange(len(score))
    return order, rank


def _n_labels(*label_arrays: np.ndarray, n_labels: int | None = None) -> int:
    if n_labels is not None:
        return int(n_labels)
    return int(max((int(a.max()) + 1 for a in label_arrays if len(a)), default=0))


def _take(values: np.ndarray, index: np.ndarray, fill) -> np.ndarray:
    """values[index] where index >= 0, else `fill` (also when `values` is empty)."""
    index = np.asarray(index, dtype=np.int64)
    if len(values) == 0:
        return np.full(index.shape, fill, dtype=np.result_type(values, np.asarray(fill)))
    return np.where(index >= 0, values[np.maximum(index, 0)], fill)


def _check_iou_threshold(iou_threshold: float) -> None:
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"the IoU threshold must be in (0, 1], not {iou_threshold}")


def _ratio(num, den):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


# ------------------------------------------------------------------------------------------------ matching

@dataclass
class Matching:
    """The per-label PASCAL VOC matching of every detection (see `match_detections`)."""

    tp: np.ndarray  # (D,) bool: true positive
    ignored: np.ndarray  # (D,) bool: neither TP nor FP (best match difficult, or inside a crowd region)
    gt_index: np.ndarray  # (D,) int64: the GT a TP matched or an ignored detection fell on; -1 for a FP
    best_gt: np.ndarray  # (D,) int64: same-label, non-crowd GT of highest IoU in the image (-1: no IoU > 0)
    best_iou: np.ndarray  # (D,) float64: IoU with best_gt (0 without one)
    gt_matched_by: np.ndarray  # (G,) int64: the detection that matched this GT, -1 if none
    gt_counted: np.ndarray  # (G,) bool: neither difficult nor crowd
    n_gt: np.ndarray  # (L,) int64: counted GT per label
    iou_threshold: float

    @property
    def fp(self) -> np.ndarray:
        """(D,) bool: false positive (neither TP nor ignored)."""
        return ~self.tp & ~self.ignored

    @property
    def gt_matched(self) -> np.ndarray:
        """(G,) bool: matched by a detection of any score."""
        return self.gt_matched_by >= 0


def _prepare(gt_image, gt_label, gt_box, gt_difficult, gt_crowd, dt_image, dt_label, dt_box, dt_score,
             iou_threshold, pair_iou_fn, n_labels):
    """The checked arrays, counts, pair geometry, label count and score ranks that the matchings share."""
    gt_image, gt_label = _int(gt_image), _int(gt_label)
    dt_image, dt_label = _int(dt_image), _int(dt_label)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    n_gt_objects, n_dt = len(gt_image), len(dt_image)
    difficult = _bool(gt_difficult, n_gt_objects)
    crowd = _bool(gt_crowd, n_gt_objects)
    _check_iou_threshold(iou_threshold)
    geometry = _Geometry(pair_iou_fn, dt_box, gt_box, crowd)
    nl = _n_labels(gt_label, dt_label, n_labels=n_labels)
    _, rank = _rank(dt_score)
    return gt_image, gt_label, dt_image, dt_label, dt_score, n_gt_objects, n_dt, difficult, crowd, geometry, nl, rank


def match_detections(gt_image, gt_label, gt_box, gt_difficult, gt_crowd, dt_image, dt_label, dt_box, dt_score,
                     iou_threshold: float = IOU_THRESHOLD, pair_iou_fn: PairIoU | None = None,
                     n_labels: int | None = None) -> Matching:
    """PASCAL VOC matching (VOC devkit `VOCevaldet` / `voc_eval.py`), every label at once.

    Detections are taken by descending score (equal scores: file order). Each one is compared with the GT of
    its image and label that has the highest IoU with it (equal IoUs: the first GT in file order), taken or
    not. If that IoU is below `iou_threshold`, the detection is a false positive. Otherwise: if that GT is
    `difficult`, the detection is ignored (neither TP nor FP; a difficult GT is never "taken", so it can
    absorb several detections); else, if an earlier detection already took that GT, it is a false positive
    (a duplicate), otherwise a true positive that takes it. Difficult GT is not counted in `n_gt`.

    The best GT of a detection does not depend on the other detections, so the loop of the devkit reduces to
    "the first detection (in score order) whose best GT is g takes g": computed for all detections at once.
    Each detection's outcome depends only on the detections ranked before it; hence the matching of the
    detections with score >= t is the prefix of this one (a threshold never splits equal scores), which is
    what `operating_point` relies on.

    Crowd GT (COCO `iscrowd`; VOC has none) is treated like difficult GT, with COCO's preference for real
    objects: it never counts, is never missed, and is not a candidate for the VOC rule above; a detection
    that would be a false positive under that rule but lies in a crowd region of its label (crowd IoU =
    intersection / detection area >= `iou_threshold`) is ignored instead.
    """
    (gt_image, gt_label, dt_image, dt_label, dt_score, n_gt_objects, n_dt, difficult, crowd, geometry, nl,
     rank) = _prepare(gt_image, gt_label, gt_box, gt_difficult, gt_crowd, dt_image, dt_label, dt_box, dt_score,
                      iou_threshold, pair_iou_fn, n_labels)

    width = max(nl, 1)
    dt_key = dt_image * width + dt_label
    gt_key = gt_image * width + gt_label
    real = np.flatnonzero(~crowd)
    pd, pg, iou = geometry.pairs(np.arange(n_dt), dt_key, real, gt_key[real])
    best, best_gt = _group_best(pd, iou, pg, n_dt)
    has = best_gt >= 0
    best_iou = np.where(has, best, 0.0)

    hit = has & (best_iou >= iou_threshold)
    ignored = hit & _take(difficult, best_gt, False).astype(bool)
    eligible = hit & ~ignored
    first_rank = np.full(n_gt_objects, n_dt, dtype=np.int64)
    np.minimum.at(first_rank, best_gt[eligible], rank[eligible])
    tp = eligible & (rank == _take(first_rank, best_gt, -1))
    gt_index = np.where(tp | ignored, best_gt, -1)

    crowd_idx = np.flatnonzero(crowd)
    if len(crowd_idx):
        fp = np.flatnonzero(~tp & ~ignored)
        cd, cg, cov = geometry.pairs(fp, dt_key[fp], crowd_idx, gt_key[crowd_idx])
        cov_best, region = _group_best(cd, cov, cg, n_dt)
        absorbed = (region >= 0) & (cov_best >= iou_threshold)
        ignored = ignored | absorbed
        gt_index[absorbed] = region[absorbed]

    matched_by = np.full(n_gt_objects, -1, dtype=np.int64)
    matched_by[best_gt[tp]] = np.flatnonzero(tp)
    counted = ~difficult & ~crowd
    return Matching(
        tp=tp, ignored=ignored, gt_index=gt_index, best_gt=best_gt, best_iou=best_iou,
        gt_matched_by=matched_by, gt_counted=counted,
        n_gt=np.bincount(gt_label[counted], minlength=nl).astype(np.int64),
        iou_threshold=float(iou_threshold),
    )


# ------------------------------------------------------------------------------------- average precision

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
    """(L,) AP of every label (see `average_precision`); NaN for labels without counted ground truth."""
    dt_label = _int(dt_label)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    n_gt = matching.n_gt
    keep = np.flatnonzero(~matching.ignored)
    order, _ = _rank(dt_score[keep])
    d = keep[order]
    d = d[np.argsort(dt_label[d], kind="stable")]  # by label, then descending score, then file order
    labels = dt_label[d]
    bounds = np.searchsorted(labels, np.arange(len(n_gt) + 1))
    ap = np.full(len(n_gt), np.nan)
    for c in np.flatnonzero(n_gt > 0):
        ap[c] = _ap_sorted(matching.tp[d[bounds[c]:bounds[c + 1]]], int(n_gt[c]), method)
    return ap


def voc_map(ap_per_label) -> float:
    """mAP: the mean AP over labels with ground truth (the non-NaN entries); NaN if there are none."""
    ap = np.asarray(ap_per_label, dtype=np.float64)
    ap = ap[~np.isnan(ap)]
    return float(ap.mean()) if len(ap) else float("nan")


# ------------------------------------------------------------------------------------------ operating point

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
    """The score threshold t* of the report, and the curves of the sweep (DESIGN.md §3 "Operating point").

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
    """
    dt_label = _int(dt_label)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    n_gt = matching.n_gt
    nl = len(n_gt)
    counted = np.flatnonzero(~matching.ignored)
    in_mean = (n_gt > 0) | (np.bincount(dt_label[counted], minlength=nl)[:nl] > 0)
    n_mean = int(in_mean.sum())

    # Counted detections by label, then descending score.
    d = counted[np.lexsort((-dt_score[counted], dt_label[counted]))]
    lab, s, hit = dt_label[d], dt_score[d], matching.tp[d]
    ctp, cfp = np.cumsum(hit), np.cumsum(~hit)
    start = np.searchsorted(lab, lab)  # first position of each label's block
    base_tp = np.where(start > 0, ctp[start - 1], 0)
    base_fp = np.where(start > 0, cfp[start - 1], 0)
    # Events: the last detection of each (label, distinct score) group.
    last = np.flatnonzero(np.append((lab[1:] != lab[:-1]) | (s[1:] != s[:-1]), True)[:len(d)])
    ev_label, ev_score = lab[last], s[last]
    ev_tp = (ctp[last] - base_tp[last]).astype(np.int64)
    ev_fp = (cfp[last] - base_fp[last]).astype(np.int64)
    ev_f1 = _ratio(2 * ev_tp, ev_tp + ev_fp + n_gt[ev_label])
    ev_first = np.append(True, ev_label[1:] != ev_label[:-1]) if len(last) else np.zeros(0, bool)

    # F1(t) on the merged grid: fixed-point deltas of each label's F1_c, summed in descending score order.
    scale_bits = min(52, 62 - max(n_mean, 1).bit_length())
    scale = float(2 ** scale_bits)
    q = np.rint(ev_f1 * scale).astype(np.int64)
    q_prev = np.where(ev_first, 0, np.roll(q, 1)) if len(q) else q
    merge = np.argsort(-ev_score, kind="stable")
    total_q = np.cumsum((q - q_prev)[merge])
    merged_scores = ev_score[merge]
    grid_last = np.flatnonzero(np.append(merged_scores[1:] != merged_scores[:-1], True)[:len(merge)])
    thresholds = merged_scores[grid_last]
    grid_q = total_q[grid_last]
    grid_f1 = grid_q / scale / max(n_mean, 1)

    if len(thresholds):
        tolerance = int(np.ceil(F1_TIE_TOLERANCE * max(n_mean, 1) * scale))
        t_index = int(np.flatnonzero(grid_q >= grid_q.max() - tolerance)[0])  # thresholds decrease
        t_star = float(thresholds[t_index])
        above = dt_score[counted] >= t_star
        label_tp = np.bincount(dt_label[counted][above & matching.tp[counted]], minlength=nl)[:nl]
        label_fp = np.bincount(dt_label[counted][above & ~matching.tp[counted]], minlength=nl)[:nl]
    else:
        t_index, t_star = -1, float("nan")
        label_tp = np.zeros(nl, dtype=np.int64)
        label_fp = np.zeros(nl, dtype=np.int64)
    label_tp, label_fp = label_tp.astype(np.int64), label_fp.astype(np.int64)
    label_fn = n_gt - label_tp
    label_f1 = _ratio(2 * label_tp, 2 * label_tp + label_fp + label_fn)
    tp, fp, fn = int(label_tp.sum()), int(label_fp.sum()), int(label_fn.sum())
    f1 = float(np.sum(label_f1[in_mean]) / n_mean) if n_mean and len(thresholds) else 0.0
    point = OperatingPoint(
        threshold=t_star, iou_threshold=matching.iou_threshold,
        precision=float(_ratio(tp, tp + fp)), recall=float(_ratio(tp, tp + fn)), f1=f1, tp=tp, fp=fp, fn=fn,
    )

    # Each label's best threshold: largest F1_c, then the earliest event (= highest score) of its block.
    best_f1, best_ev = _group_best(ev_label, ev_f1, np.arange(len(ev_label)), nl)
    best_f1 = np.where(best_ev >= 0, best_f1, 0.0)
    best_threshold = np.where(best_f1 > 0, _take(ev_score, best_ev, np.nan), np.nan)

    f1_keep = _downsample(thresholds, max_points, [t_index])
    f1_curve = ThresholdCurve(thresholds[f1_keep], grid_f1[f1_keep])
    bounds = np.searchsorted(ev_label, np.arange(nl + 1))
    label_curves, pr_curves = [], []
    for c in range(nl):
        sl = slice(bounds[c], bounds[c + 1])
        ts, f = ev_score[sl], ev_f1[sl]
        keep = _downsample(ts, max_points, [int(best_ev[c] - bounds[c])] if best_ev[c] >= 0 else [])
        label_curves.append(ThresholdCurve(ts[keep], f[keep]))
        if n_gt[c] > 0:
            t_, f_ = ev_tp[sl], ev_fp[sl]
            pr_curves.append(PRCurve(ts[keep], _ratio(t_, t_ + f_)[keep], (t_ / n_gt[c])[keep]))
        else:
            pr_curves.append(PRCurve(np.zeros(0), np.zeros(0), np.zeros(0)))

    return ThresholdSweep(
        point=point, in_mean=in_mean, thresholds=thresholds, f1=grid_f1,
        label_tp=label_tp, label_fp=label_fp, label_fn=label_fn,
        label_precision=_ratio(label_tp, label_tp + label_fp), label_recall=_ratio(label_tp, n_gt),
        label_f1=label_f1, label_best_threshold=best_threshold, label_best_f1=best_f1,
        f1_curve=f1_curve, label_f1_curves=label_curves, pr_curves=pr_curves,
    )


# ---------------------------------------------------------------------------------------- confusion matrix

@dataclass
class Confusion:
    """Class-agnostic confusion at a threshold (see `confusion_at_threshold`). L = number of labels."""

    counts: np.ndarray  # (L+1, L+1) int64: rows GT label then background; columns predicted label then missed
    dt_row: np.ndarray  # (D,) int64: row of the detection's cell (its GT's label, L: background); -1: not in it
    gt_column: np.ndarray  # (G,) int64: column of the GT's cell (label that took it, L: missed); -1: not counted
    dt_gt: np.ndarray  # (D,) int64: the GT a detection took, -1 if none
    gt_dt: np.ndarray  # (G,) int64: the detection that took a GT, -1 if none
    threshold: float
    iou_threshold: float


def _greedy_take(pd: np.ndarray, pg: np.ndarray, iou: np.ndarray, rank: np.ndarray, n_dt: int, n_gt: int):
    """Greedy matching: detections by `rank`, each taking the untaken GT of highest IoU among its pairs
    (equal IoUs: first GT in file order); the result of the sequential loop, found in rounds.

    In a round every unresolved detection proposes its best untaken GT, and a proposal is accepted when the
    proposer is the first (by rank) of all unresolved detections that still have a pair with that GT. Such a
    detection gets the same GT in the sequential loop: every GT it prefers is already taken, and no earlier
    detection can still take this one. Each round settles at least the first unresolved detection, and
    usually far more (all images advance together; only chains of conflicting detections need rounds).
    """
    dt_gt = np.full(n_dt, -1, dtype=np.int64)
    gt_dt = np.full(n_gt, -1, dtype=np.int64)
    order = np.lexsort((pg, -iou, rank[pd]))
    pd, pg = pd[order], pg[order]
    taken = np.zeros(n_gt, dtype=bool)
    while len(pd):
        r = rank[pd]
        proposal = np.flatnonzero(np.append(True, pd[1:] != pd[:-1]))  # first (best) pair of each detection
        earliest = np.full(n_gt, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, pg, r)
        accept = proposal[r[proposal] == earliest[pg[proposal]]]
        dt_gt[pd[accept]] = pg[accept]
        gt_dt[pg[accept]] = pd[accept]
        taken[pg[accept]] = True
        alive = ~taken[pg] & (dt_gt[pd] < 0)
        pd, pg = pd[alive], pg[alive]
    return dt_gt, gt_dt


def confusion_at_threshold(gt_image, gt_label, gt_box, gt_difficult, gt_crowd, dt_image, dt_label, dt_box,
                           dt_score, threshold: float, iou_threshold: float = IOU_THRESHOLD,
                           pair_iou_fn: PairIoU | None = None, n_labels: int | None = None) -> Confusion:
    """Confusion matrix of the detections with score >= threshold (t*), class-agnostic.

    Matching ignores labels: by descending score (ties: file order), each detection takes the untaken
    counted GT of any label with the highest IoU >= iou_threshold (ties: first GT in file order); this is
    COCO's greedy rule, not VOC's, so a detection whose best GT is taken may take the next one. Cell
    (true label, predicted label) counts each such pair. A detection that takes nothing is "background"
    (row L) unless it has IoU >= iou_threshold with a difficult GT or crowd IoU >= iou_threshold with a crowd
    region (of any label): then it is left out, as difficult and crowd objects never count. A counted GT that
    nothing took is "missed" (column L). Cell (L, L) is always 0. With threshold NaN (no detections), every
    counted GT is missed.

    This matching differs from the per-label VOC matching of `match_detections` (a detection of the wrong
    label may take a GT here), so its diagonal need not equal the per-label TP counts.
    """
    (gt_image, gt_label, dt_image, dt_label, dt_score, n_gt_objects, n_dt, difficult, crowd, geometry, nl,
     rank) = _prepare(gt_image, gt_label, gt_box, gt_difficult, gt_crowd, dt_image, dt_label, dt_box, dt_score,
                      iou_threshold, pair_iou_fn, n_labels)
    counted = ~difficult & ~crowd

    active = np.flatnonzero(dt_score >= threshold) if not np.isnan(threshold) else np.zeros(0, np.int64)
    pd, pg, iou = geometry.pairs(active, dt_image[active], np.arange(n_gt_objects), gt_image)
    close = iou >= iou_threshold
    real = close & counted[pg]
    dt_gt, gt_dt = _greedy_take(pd[real], pg[real], iou[real], rank, n_dt, n_gt_objects)
    left_out = np.zeros(n_dt, dtype=bool)
    left_out[pd[close & ~counted[pg]]] = True  # difficult or crowd region (crowd IoU) overlapping enough
    in_matrix = np.zeros(n_dt, dtype=bool)
    in_matrix[active] = True
    in_matrix &= (dt_gt >= 0) | ~left_out

    dt_row = np.full(n_dt, -1, dtype=np.int64)
    dt_row[in_matrix] = _take(gt_label, dt_gt[in_matrix], nl)
    gt_column = np.full(n_gt_objects, -1, dtype=np.int64)
    gt_column[counted] = _take(dt_label, gt_dt[counted], nl)
    counts = np.zeros((nl + 1, nl + 1), dtype=np.int64)
    pred_cols = dt_label[in_matrix]
    np.add.at(counts, (dt_row[in_matrix], pred_cols), 1)
    missed = counted & (gt_dt < 0)
    np.add.at(counts, (gt_label[missed], np.full(int(missed.sum()), nl)), 1)
    return Confusion(counts=counts, dt_row=dt_row, gt_column=gt_column, dt_gt=dt_gt, gt_dt=gt_dt,
                     threshold=float(threshold), iou_threshold=float(iou_threshold))


# ------------------------------------------------------------------------------------------------- errors

@dataclass
class ErrorTypes:
    """Errors at a threshold (see `type_errors`). Types are strings, "" where there is no error."""

    dt_type: np.ndarray  # (D,) str: FP type (FP_TYPES) of each false positive with score >= threshold
    dt_related_gt: np.ndarray  # (D,) int64: the GT it is confused with (-1: none, e.g. background)
    dt_related_iou: np.ndarray  # (D,) float64: IoU with that GT (NaN: none)
    gt_type: np.ndarray  # (G,) str: missed type (FN_TYPES) of each counted GT missed at the threshold
    gt_related_dt: np.ndarray  # (G,) int64: the detection that explains it (-1: none)
    gt_related_iou: np.ndarray  # (G,) float64: IoU with that detection (NaN: none)
    threshold: float
    dt_related_box_iou: np.ndarray | None = None  # segmentation: box IoU with the related GT (NaN: none)
    gt_related_box_iou: np.ndarray | None = None


def type_errors(matching: Matching, gt_image, gt_label, gt_box, gt_crowd, dt_image, dt_label, dt_box,
                dt_score, threshold: float, background_iou: float = BACKGROUND_IOU,
                pair_iou_fn: PairIoU | None = None,
                mask_quality_boxes: tuple[np.ndarray, np.ndarray] | None = None) -> ErrorTypes:
    """Type every error at score threshold t* (false positive = 误识别, missed object = 漏识别).

    IoU thresholds: T = matching.iou_threshold (0.5), B = background_iou (0.1). "GT" below means the
    non-crowd GT of the detection's image (difficult included: a prediction of another label on a difficult
    object is still a wrong label); crowd regions play no part in typing.

    A false positive is a detection with score >= t* that is neither TP nor ignored in `matching`. Its type
    is the first that applies, in this order (most specific first):

    1. "duplicate": its best same-label GT has IoU >= T (under the VOC rule that GT was then taken by a
       higher-ranked detection). Related GT: that one.
    2. "wrong_label": a GT of another label has IoU >= T with it (the box is right, the label is not).
       Related GT: the one of highest IoU among those.
    3. "localisation": its best same-label GT has B <= IoU < T. Related GT: that one.
    4. "label_and_localisation": a GT of another label has B <= IoU < T (wrong label and poor box: TIDE's
       "both"; no other type covers it, and it is not background since a GT overlaps it). Related: the GT
       of highest IoU.
    5. "background": no GT has IoU >= B. Related: none.

    A missed object is a counted GT that no detection with score >= t* matched. Its type, first that applies:

    1. "wrong_label": a detection of another label with score >= t* has IoU >= T with it. Related: the one
       of highest IoU (ties: file order).
    2. "below_threshold": a detection of its label matches it when the threshold is lowered (the VOC
       matching of all detections gives it one, whose score is < t*). Related: that detection.
    3. "localisation": a detection of its label with score >= t* has IoU >= B with it (IoU < T, or >= T but
       that detection went to another GT it overlaps more). Related: the one of highest IoU.
    4. "no_detection": none of the above. Related: none.

    wrong_label comes first for missed objects because a confident prediction of the wrong label is the
    error that a user can see and fix; below_threshold then says that the right prediction exists.
    With threshold NaN (no counted detection), there is no false positive and every counted GT is missed.

    Segmentation (IoU = mask IoU) passes `mask_quality_boxes` = (detection boxes, GT boxes), and one more
    type comes in, for both kinds, right after wrong_label / below_threshold:

    * "mask_quality": the box is right but the mask is not: a non-crowd GT of the same label has box IoU
      >= T with the detection (for a missed object: a detection of its label with score >= t* has box IoU
      >= T with it), while their mask IoU is < T. Related: the one of highest box IoU (ties: file order);
      the related IoU is then their mask IoU, and `*_related_box_iou` their box IoU.

    (For false positives the mask IoU of that pair is < T by then: otherwise the detection is a
    duplicate.) `*_related_box_iou` is the box IoU of the related pair for every type in segmentation.
    """
    gt_image, gt_label = _int(gt_image), _int(gt_label)
    dt_image, dt_label = _int(dt_image), _int(dt_label)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    n_gt_objects, n_dt = len(gt_image), len(dt_image)
    crowd = _bool(gt_crowd, n_gt_objects)
    geometry = _Geometry(pair_iou_fn, dt_box, gt_box, crowd)
    t_thr = matching.iou_threshold
    has_t = not np.isnan(threshold)
    above = dt_score >= threshold if has_t else np.zeros(n_dt, dtype=bool)

    # False positives against every non-crowd GT of their image.
    fp = np.flatnonzero(above & matching.fp)
    real = np.flatnonzero(~crowd)
    pd, pg, iou = geometry.pairs(fp, dt_image[fp], real, gt_image[real])
    other = gt_label[pg] != dt_label[pd]
    o_best, o_gt = _group_best(pd[other], iou[other], pg[other], n_dt)
    same_best, same_gt = matching.best_iou, matching.best_gt
    boxes = None if mask_quality_boxes is None else _BoxIoU(*mask_quality_boxes, crowd)
    if boxes is not None:
        bd, bg, biou = boxes.same_label_pairs(fp, dt_image, dt_label, real, gt_image, gt_label)
        mq_best, mq_gt = _group_best(bd, biou, bg, n_dt)
        mq_iou = boxes.lookup(np.arange(n_dt), mq_gt, pd, pg, iou)

    dt_type, dt_rel, dt_rel_iou = _first_rule(fp, n_dt, FP_TYPES, [
        ("duplicate", (same_gt >= 0) & (same_best >= t_thr), same_gt, same_best),
        ("wrong_label", o_best >= t_thr, o_gt, o_best),
        *([("mask_quality", mq_best >= t_thr, mq_gt, mq_iou)] if boxes is not None else []),
        ("localisation", (same_gt >= 0) & (same_best >= background_iou), same_gt, same_best),
        ("label_and_localisation", o_best >= background_iou, o_gt, o_best),
        ("background", np.ones(n_dt, dtype=bool), np.full(n_dt, -1), np.full(n_dt, np.nan)),
    ])

    # Missed objects against every detection of their image with score >= t*.
    matched_by = matching.gt_matched_by
    found = _take(above, matched_by, False).astype(bool)
    missed = np.flatnonzero(matching.gt_counted & ~found)
    shown = np.flatnonzero(above)
    pd, pg, iou = geometry.pairs(shown, dt_image[shown], missed, gt_image[missed])
    same = gt_label[pg] == dt_label[pd]
    ob, o_dt = _group_best(pg[~same], iou[~same], pd[~same], n_gt_objects)
    sb, s_dt = _group_best(pg[same], iou[same], pd[same], n_gt_objects)
    below = matched_by >= 0
    below_iou = _take(matching.best_iou, matched_by, np.nan)
    if boxes is not None:
        bd, bg, biou = boxes.same_label_pairs(shown, dt_image, dt_label, missed, gt_image, gt_label)
        mqg_best, mqg_dt = _group_best(bg, biou, bd, n_gt_objects)
        mqg_iou = boxes.lookup(mqg_dt, np.arange(n_gt_objects), pd, pg, iou)

    gt_type, gt_rel, gt_rel_iou = _first_rule(missed, n_gt_objects, FN_TYPES, [
        ("wrong_label", ob >= t_thr, o_dt, ob),
        ("below_threshold", below, matched_by, below_iou),
        *([("mask_quality", mqg_best >= t_thr, mqg_dt, mqg_iou)] if boxes is not None else []),
        ("localisation", sb >= background_iou, s_dt, sb),
        ("no_detection", np.ones(n_gt_objects, dtype=bool), np.full(n_gt_objects, -1),
         np.full(n_gt_objects, np.nan)),
    ])
    dt_box_iou = gt_box_iou = None
    if boxes is not None:
        dt_box_iou = boxes.related(np.arange(n_dt), dt_rel)
        gt_box_iou = boxes.related(gt_rel, np.arange(n_gt_objects))
    return ErrorTypes(dt_type=dt_type, dt_related_gt=dt_rel, dt_related_iou=dt_rel_iou, gt_type=gt_type,
                      gt_related_dt=gt_rel, gt_related_iou=gt_rel_iou, threshold=float(threshold),
                      dt_related_box_iou=dt_box_iou, gt_related_box_iou=gt_box_iou)


def _first_rule(errors: np.ndarray, n: int, types: tuple[str, ...], rules: list) -> tuple[np.ndarray, ...]:
    """(type, related object, related IoU) of each of `errors` (indices among n objects): the first of
    `rules` (name, condition, related, related IoU; arrays over the n objects) whose condition holds."""
    kind = np.full(n, "", dtype=f"<U{max(map(len, types))}")
    rel = np.full(n, -1, dtype=np.int64)
    rel_iou = np.full(n, np.nan)
    todo = np.zeros(n, dtype=bool)
    todo[errors] = True
    for name, cond, related, related_iou in rules:
        pick = todo & cond
        kind[pick], rel[pick], rel_iou[pick] = name, related[pick], related_iou[pick]
        todo &= ~pick
    return kind, rel, rel_iou


class _BoxIoU:
    """Box IoU beside a mask IoU, for the "mask_quality" type of segmentation errors."""

    def __init__(self, dt_box, gt_box, gt_crowd: np.ndarray):
        self.dt_box = np.asarray(dt_box, dtype=np.float64).reshape(-1, 4)
        self.gt_box = np.asarray(gt_box, dtype=np.float64).reshape(-1, 4)
        self.geometry = _Geometry(None, self.dt_box, self.gt_box, gt_crowd)

    def same_label_pairs(self, dt_idx, dt_image, dt_label, gt_idx, gt_image, gt_label):
        """Pairs of the same image and label with box IoU > 0, and that IoU."""
        n_labels = int(max(dt_label.max(initial=0), gt_label.max(initial=0))) + 1
        return self.geometry.pairs(dt_idx, dt_image[dt_idx] * n_labels + dt_label[dt_idx],
                                   gt_idx, gt_image[gt_idx] * n_labels + gt_label[gt_idx])

    @staticmethod
    def lookup(d: np.ndarray, g: np.ndarray, pd: np.ndarray, pg: np.ndarray, iou: np.ndarray) -> np.ndarray:
        """The mask IoU of pairs (d[i], g[i]) from the listed pairs (pd, pg, iou); 0 when not listed (the
        listed pairs are all those of mask IoU > 0), NaN where d or g is -1."""
        out = np.full(len(d), np.nan)
        has = (d >= 0) & (g >= 0)
        out[has] = 0.0
        if len(pd):
            scale = int(max(pg.max(), g.max(initial=0))) + 1
            listed = pd * scale + pg
            order = np.argsort(listed)
            wanted = d[has] * scale + g[has]
            pos = np.minimum(np.searchsorted(listed[order], wanted), len(listed) - 1)
            hit = listed[order][pos] == wanted
            vals = out[has]
            vals[hit] = iou[order][pos][hit]
            out[has] = vals
        return out

    def related(self, d: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Box IoU of the pairs (d[i], g[i]); NaN where either is -1 (no related object)."""
        has = (d >= 0) & (g >= 0)
        out = np.full(len(d), np.nan)
        out[has] = pair_iou(self.dt_box[d[has]], self.gt_box[g[has]])
        return out


# ----------------------------------------------------------------------------------------------- together

@dataclass
class DetectionEvaluation:
    matching: Matching
    ap50: np.ndarray  # (L,) VOC all-point AP at IoU 0.5, NaN without ground truth
    ap50_11pt: np.ndarray  # (L,) VOC2007 11-point AP
    map50: float  # mean of ap50 over labels with ground truth (NaN: no ground truth at all)
    map50_11pt: float
    sweep: ThresholdSweep  # operating point t*, per-label numbers at t*, curves
    confusion: Confusion  # at t*
    errors: ErrorTypes  # at t*


def evaluate_matching(data: "DetectionData", iou_threshold: float = IOU_THRESHOLD,
                      pair_iou_fn: PairIoU | None = None, max_points: int = MAX_CURVE_POINTS,
                      prune_boxes: tuple[np.ndarray, np.ndarray] | None = None
                      ) -> tuple[Matching, np.ndarray, np.ndarray, ThresholdSweep]:
    """The first half of `evaluate_detection`: the VOC matching, per-label AP (all-point, 11-point) and the
    operating point with its curves."""
    dt_box, gt_box = prune_boxes if prune_boxes is not None else (data.dt_box, data.gt_box)
    matching = match_detections(data.gt_image, data.gt_label, gt_box, data.gt_difficult, data.gt_crowd,
                                data.dt_image, data.dt_label, dt_box, data.dt_score, iou_threshold=iou_threshold,
                                pair_iou_fn=pair_iou_fn, n_labels=len(data.labels))
    ap = average_precision_per_label(matching, data.dt_label, data.dt_score, "all")
    ap11 = average_precision_per_label(matching, data.dt_label, data.dt_score, "11point")
    sweep = operating_point(matching, data.dt_label, data.dt_score, max_points=max_points)
    return matching, ap, ap11, sweep


def evaluate_detection(data: "DetectionData", iou_threshold: float = IOU_THRESHOLD,
                       pair_iou_fn: PairIoU | None = None,
                       max_points: int = MAX_CURVE_POINTS, prune_boxes: tuple[np.ndarray, np.ndarray] | None = None,
                       mask_quality_boxes: tuple[np.ndarray, np.ndarray] | None = None,
                       first_half: tuple | None = None) -> DetectionEvaluation:
    """Everything of this module for one `DetectionData` (labels 0..len(data.labels)-1).

    Segmentation passes the mask IoU as `pair_iou_fn`, boxes that contain each mask as `prune_boxes`
    (detections, GT; default: data's boxes) and the boxes to type "mask_quality" errors with.
    `first_half`: the result of `evaluate_matching` with the same arguments, when the caller has it already.
    """
    nl = len(data.labels)
    dt_box, gt_box = prune_boxes if prune_boxes is not None else (data.dt_box, data.gt_box)
    matching, ap, ap11, sweep = first_half or evaluate_matching(data, iou_threshold, pair_iou_fn, max_points,
                                                                prune_boxes)
    gt = (data.gt_image, data.gt_label, gt_box, data.gt_difficult, data.gt_crowd)
    dt = (data.dt_image, data.dt_label, dt_box, data.dt_score)
    t_star = sweep.point.threshold
    confusion = confusion_at_threshold(*gt, *dt, threshold=t_star, iou_threshold=iou_threshold,
                                       pair_iou_fn=pair_iou_fn, n_labels=nl)
    errors = type_errors(matching, data.gt_image, data.gt_label, gt_box, data.gt_crowd, *dt,
                         threshold=t_star, pair_iou_fn=pair_iou_fn, mask_quality_boxes=mask_quality_boxes)
    return DetectionEvaluation(matching=matching, ap50=ap, ap50_11pt=ap11, map50=voc_map(ap),
                               map50_11pt=voc_map(ap11), sweep=sweep, confusion=confusion, errors=errors)
