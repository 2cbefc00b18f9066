"""COCO detection metrics (docs/metrics.md): pycocotools' `COCOeval` with default parameters, in numpy.

Equal to pycocotools (`COCOeval(gt, dt, "bbox")`, `evaluate()`, `accumulate()`, `summarize()`) on every
input that pycocotools accepts, with one intended difference: a ground truth whose annotation id is 0 is a
real ground truth here (pycocotools stores the matched gt *id* and tests it for truth, so a detection
matched to gt id 0 counts as a false positive there). The arrays carry no annotation ids, so the bug has
nowhere to live.

Definitions (pycocotools' default `Params`, bbox):

* IoU thresholds t = 0.50, 0.55, ..., 0.95 (`np.linspace`, as pycocotools), compared as
  `iou >= min(t, 1 - 1e-10)`; 101 recall thresholds 0, 0.01, ..., 1; maxDets 1, 10, 100; area ranges
  all [0, 1e10], small [0, 32²], medium [32², 96²], large [96², 1e10], both ends inclusive.
* Evaluation is per (image, label). Detections are ranked by score, highest first; equal scores keep
  their input order (pycocotools' mergesort). Only the first 100 take part at all.
* A ground truth is *ignored* in an area range if it is crowd or its `area` (COCO's segment area, not the
  box area) lies outside the range. Ignored ground truth is never counted as missed.
* Matching, for each area range and IoU threshold separately, detections in rank order: a detection takes
  the free, non-ignored ground truth with the highest IoU >= t (equal IoU: the later ground truth in input
  order); only if there is none, the ignored one with the highest IoU >= t (same tie rule). A crowd
  ground truth is never used up (it can absorb any number of detections); any other one is, once taken,
  ignored or not. Crowd IoU = intersection / detection area.
* A detection matched to a non-ignored ground truth is a true positive; matched to an ignored one, it is
  ignored; unmatched, it is ignored if its own area (`dt_area`, by default the box area w*h) lies outside
  the range, and a false positive otherwise.
* maxDets 1 and 10 reuse the matching done with 100 and keep each (image, label)'s first 1 or 10.
* Per label, area range and maxDets: all detections of the label over all images, by score (equal scores:
  images in ascending id order, then rank inside the image); cumulative TP and FP; recall = TP / number of
  non-ignored ground truth; precision = TP / (TP + FP + eps). Precision is made non-increasing from the
  right (the envelope) and read at the first point whose recall >= each recall threshold (0 where the
  recall is never reached). A label without non-ignored ground truth in that area range gets -1.
* Each of the 12 stats is the mean of the entries > -1 of its slice of `precision` (T, R, K, A, M) or
  `recall` (T, K, A, M), exactly as `COCOeval.summarize()`; -1 if there is none.

Everything is vectorised: one IoU call for all (detection, ground truth) pairs of the same image and
label, matching in one pass per "level" (the n-th detection of each (image, label) that overlaps any
ground truth at IoU >= 0.5, all images at once; at most 100 passes), and accumulation from the matched
detections only, with cumulative sums and `np.maximum.reduceat`, a group of labels at a time
(`evalsite.metrics.coco_accumulate`). Memory is linear in the number of detections and in the number of
(detection, ground truth) pairs of the same image and label (at most 100 per ground truth), and small per
label: pycocotools' dense precision array (97 KB per label) is built only on request
(`CocoResult.precision`); the 12 numbers need one area range's entries at a time (8 KB per label).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evalsite.core.boxes import box_columns, pair_iou_of
from evalsite.core.on_disk import rows_where
from evalsite.metrics.arrays import descending_order, rows_of
from evalsite.metrics.coco_accumulate import CocoMatches, run_starts
from evalsite.metrics.coco_params import AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, STAT_NAMES
from evalsite.metrics.pairs import chunk_bounds, expand_pairs

PairIouFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Upper bound on (detection, ground truth) pairs whose IoU is computed in one call (bounds peak memory).
_PAIR_CHUNK = 1 << 18


@dataclass
class CocoEvidence:
    """What AP@[.50:.95] (area all, maxDets 100) is made of, per image, so that it can be recomputed on
    resampled images (`evalsite.metrics.coco_bootstrap.coco_resampled`).

    Detections: the first 100 of each (image, label), in accumulation order (by label, then score
    descending, then image, then rank inside the image); those ignored at every IoU threshold are left out.
    Ground truth: the objects that are not ignored in area "all" (not crowd, `area` within [0, 1e10])."""

    dt_image: np.ndarray  # (n,) image index
    dt_label: np.ndarray  # (n,) label index
    tp: np.ndarray  # (T, n) bool: a true positive at IoU threshold t (or packed: `packed`)
    ignored: np.ndarray  # (T, n) bool: ignored at t (matched to an ignored ground truth); else a false positive
    gt_image: np.ndarray  # (G',) image index
    gt_label: np.ndarray  # (G',) label index

    def packed(self) -> CocoEvidence:
        """The same evidence with `tp` and `ignored` packed as report.json holds them: (n,) int16 whose bit t
        is the flag at IoU threshold t (`pack_flags`), 2 bytes per detection instead of 10 each; itself
        when packed already."""
        if np.ndim(self.tp) == 1:
            return self
        return CocoEvidence(self.dt_image, self.dt_label, pack_flags(self.tp), pack_flags(self.ignored),
                            self.gt_image, self.gt_label)

    def unpacked(self) -> CocoEvidence:
        """The same evidence with `tp` and `ignored` as (T, n) bool (`packed`'s inverse); itself when so."""
        if np.ndim(self.tp) != 1:
            return self
        return CocoEvidence(self.dt_image, self.dt_label, *self.flags(), self.gt_image, self.gt_label)

    def flags(self, index=slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """(tp, ignored) of the detections `index` as (T, len) bool, packed or not."""
        if np.ndim(self.tp) == 1:
            return unpack_flags(rows_of(self.tp, index)), unpack_flags(rows_of(self.ignored, index))
        return np.asarray(self.tp, dtype=bool)[:, index], np.asarray(self.ignored, dtype=bool)[:, index]


def pack_flags(flags: np.ndarray) -> np.ndarray:
    """(T, n) bool -> (n,) int16 whose bit t is flags[t] (T = 10: 0 to 1023), without a (T, n) product.

    >>> pack_flags(np.array([[True, False], [True, True]])).tolist()
    [3, 2]
    """
    packed = np.packbits(np.asarray(flags, dtype=bool), axis=0, bitorder="little")  # (ceil(T / 8), n) uint8
    out = np.zeros(np.shape(flags)[1], dtype=np.int16)
    for byte, row in enumerate(packed):
        out |= row.astype(np.int16) << (8 * byte)
    return out


def unpack_flags(packed, thresholds: int = IOU_THRESHOLDS.size) -> np.ndarray:
    """`pack_flags` undone: (n,) integers -> (T, n) bool.

    >>> unpack_flags(np.array([3, 2]), 2).tolist()
    [[True, False], [True, True]]
    """
    bits = np.arange(thresholds, dtype=np.int64)[:, None]
    return ((np.asarray(packed, dtype=np.int64).reshape(1, -1) >> bits) & 1).astype(bool)


@dataclass
class CocoResult:
    """The outcome of `coco_evaluate`.

    stats: (12,) in `STAT_NAMES` order, -1 where pycocotools gives -1.
    per_label_ap: (K,) AP@[.50:.95], area all, maxDets 100, per label: the mean of
        `precision[:, :, k, 0, -1]`; -1 for a label without non-ignored ground truth.
    per_label_ap50: (K,) the same at IoU 0.50 only (`precision[0, :, k, 0, -1]`).
    evidence: the matching behind AP@[.50:.95], for resampling (`CocoEvidence`).
    matches: the whole matching (`evalsite.metrics.coco_accumulate.CocoMatches`), linear in the detections.

    precision and recall, pycocotools' dense arrays, are built from `matches` on each request (they hold
    97 KB per label; nothing else needs them).
    """

    stats: np.ndarray
    per_label_ap: np.ndarray
    per_label_ap50: np.ndarray
    evidence: CocoEvidence
    matches: CocoMatches

    @property
    def precision(self) -> np.ndarray:
        """(T=10, R=101, K, A=4, M=3) as pycocotools' `eval["precision"]`."""
        return self.matches.arrays()[0]

    @property
    def recall(self) -> np.ndarray:
        """(T, K, A, M) as pycocotools' `eval["recall"]`."""
        return self.matches.arrays()[1]

    def as_dict(self) -> dict[str, float]:
        """The 12 stats by name (`STAT_NAMES`)."""
        return {name: float(value) for name, value in zip(STAT_NAMES, self.stats)}


def coco_evaluate(gt_image, gt_label, gt_box, gt_area, gt_crowd, dt_image, dt_label, dt_box, dt_score,
                  n_labels: int, dt_area=None, pair_iou_fn: PairIouFn | None = None) -> CocoResult:
    """COCO evaluation of detections against ground truth (see the module docstring for the definitions).

    gt_image, gt_label: (G,) int, 0-based image and label index of each ground truth object.
    gt_box: (G, 4) [x, y, w, h]. gt_area: (G,) COCO's `area` (decides the area ranges). gt_crowd: (G,) bool.
    dt_image, dt_label: (D,) int; dt_box: (D, 4) [x, y, w, h]; dt_score: (D,) finite.
    n_labels: K, the number of labels; label indices are in [0, K).
    dt_area: (D,) a detection's area for the area ranges; default the box area w*h (bbox results). For
        segmentation pass the mask area.
    pair_iou_fn: `f(dt_idx, gt_idx) -> iou` for index arrays of equal length (pairs of the same image and
        label); default box IoU (`evalsite.core.boxes.pair_iou`, crowd rule included). For segmentation
        pass mask IoU with the same crowd rule.

    Image index order must be ascending image id order (it breaks score ties across images). Within an
    image, the arrays' order is the input (file) order: it breaks score ties between detections and IoU
    ties between ground truths.
    """
    return coco_result(*coco_match(gt_image, gt_label, gt_box, gt_area, gt_crowd, dt_image, dt_label, dt_box,
                                   dt_score, n_labels, dt_area, pair_iou_fn))


def coco_match(gt_image, gt_label, gt_box, gt_area, gt_crowd, dt_image, dt_label, dt_box, dt_score,
               n_labels: int, dt_area=None, pair_iou_fn: PairIouFn | None = None, keep_rows: bool = False
               ) -> tuple[CocoMatches, CocoEvidence]:
    """COCO's matching of `coco_evaluate` (same arguments), before accumulation: the `CocoMatches` that
    accumulation needs and the `CocoEvidence`. Labels are independent: the matching of a range of labels
    (renumbered from 0, the images and the input order kept) is that part of the whole one
    (`CocoMatches.label_summary`, `join_label_summaries`). So are images: the matchings of consecutive image
    ranges, each with its ranked detections' rows kept (`keep_rows`: `CocoMatches.det`), join into the whole
    one (`evalsite.metrics.coco_accumulate.join_image_ranges`).
    """
    K = int(n_labels)
    gt_image = np.asarray(gt_image, dtype=np.int64).reshape(-1)
    gt_label = np.asarray(gt_label, dtype=np.int64).reshape(-1)
    gt_box = np.asarray(gt_box, dtype=np.float64).reshape(-1, 4)
    gt_area = np.asarray(gt_area, dtype=np.float64).reshape(-1)
    gt_crowd = np.asarray(gt_crowd, dtype=bool).reshape(-1)
    dt_image = np.asarray(dt_image, dtype=np.int64).reshape(-1)
    dt_label = np.asarray(dt_label, dtype=np.int64).reshape(-1)
    dt_box = np.asarray(dt_box, dtype=np.float64).reshape(-1, 4)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    dt_area = dt_box[:, 2] * dt_box[:, 3] if dt_area is None else np.asarray(dt_area, np.float64).reshape(-1)
    _check_inputs(K, gt_image, gt_label, gt_box, gt_area, gt_crowd, dt_image, dt_label, dt_box, dt_score,
                  dt_area)
    if pair_iou_fn is None:
        dt_columns, gt_columns = box_columns(dt_box), box_columns(gt_box)

        def pair_iou_fn(d: np.ndarray, g: np.ndarray) -> np.ndarray:
            return pair_iou_of(dt_columns, gt_columns, d, g, gt_crowd)

    dets = _rank_detections(dt_image, dt_label, dt_score, K, MAX_DETS[-1])
    gt_ignored = area_ignored(gt_area, gt_crowd)  # (A, G)
    cand = _candidate_pairs(dets, gt_image * K + gt_label, pair_iou_fn)
    code = _match(cand, gt_crowd, gt_ignored, len(gt_label))
    area = dt_area[dets.det]
    dt_out = np.stack([(area < lo) | (area > hi) for lo, hi in AREA_RANGES])  # (A, n)
    n_positive = np.stack([np.bincount(gt_label[~ig], minlength=K) for ig in gt_ignored])  # (A, K)
    matches = CocoMatches(label=dets.label, rank=dets.rank, column_position=cand.column_position, code=code,
                          dt_out=dt_out, n_positive=n_positive, det=dets.det if keep_rows else None)
    counted = ~gt_ignored[0]
    return matches, evidence_of(matches, dt_image[dets.det], gt_image[counted], gt_label[counted])


def coco_result(matches: CocoMatches, evidence: CocoEvidence) -> CocoResult:
    """The `CocoResult` of a matching (`coco_match`): its accumulation and the 12 numbers."""
    stats, per_label_ap, per_label_ap50 = matches.summary()
    return CocoResult(stats=stats, per_label_ap=per_label_ap, per_label_ap50=per_label_ap50, matches=matches,
                      evidence=evidence)


def area_ignored(gt_area: np.ndarray, gt_crowd: np.ndarray) -> np.ndarray:
    """(A, G) bool: ground truth ignored in each area range (`AREA_RANGES`): crowd, or its `area` outside."""
    return np.stack([gt_crowd | (gt_area < lo) | (gt_area > hi) for lo, hi in AREA_RANGES])


def counted_rows(gt_area, gt_crowd) -> np.ndarray:
    """The rows (int64, ascending) of the ground truth that area "all" counts (`area_ignored`'s first range:
    not crowd, its area inside), found a block at a time (`rows_where`: columns kept on disk are not read
    whole).

    Examples
    --------
    >>> counted_rows(np.array([4.0, 9.0, 1e11]), np.array([False, True, False])).tolist()
    [0]
    """
    lo, hi = AREA_RANGES[0]
    inside = rows_where(gt_area, lambda area: ~((area < lo) | (area > hi)))
    return inside[~np.asarray(gt_crowd[inside], bool)]


# ------------------------------------------------------------------------------------------------ internals

def _check_inputs(K, gt_image, gt_label, gt_box, gt_area, gt_crowd, dt_image, dt_label, dt_box, dt_score,
                  dt_area) -> None:
    n_gt, n_dt = len(gt_image), len(dt_image)
    if not (len(gt_label) == len(gt_box) == len(gt_area) == len(gt_crowd) == n_gt):
        raise ValueError("ground truth arrays differ in length")
    if not (len(dt_label) == len(dt_box) == len(dt_score) == len(dt_area) == n_dt):
        raise ValueError("detection arrays differ in length")
    if K < 0:
        raise ValueError("n_labels must be >= 0")
    for name, labels in (("gt_label", gt_label), ("dt_label", dt_label)):
        if labels.size and (labels.min() < 0 or labels.max() >= K):
            raise ValueError(f"{name} must lie in [0, n_labels)")
    for name, images in (("gt_image", gt_image), ("dt_image", dt_image)):
        if images.size and images.min() < 0:
            raise ValueError(f"{name} must be >= 0")
    if not np.isfinite(dt_score).all():
        raise ValueError("dt_score must be finite")


@dataclass
class _Detections:
    """The detections that take part (the first 100 per (image, label)), in accumulation order: by label,
    then score descending, then image, then rank inside the (image, label)."""

    det: np.ndarray  # (n,) index into the input detection arrays
    label: np.ndarray  # (n,)
    rank: np.ndarray  # (n,) rank inside its (image, label), 0 = highest score
    group_order: np.ndarray  # (n,) the same detections' positions, listed by (image, label, rank)
    group_key: np.ndarray  # (n,) image * K + label, in group order


def _position_in_run(first: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... restarting at every True of `first`."""
    idx = np.arange(first.size)
    return idx - np.maximum.accumulate(np.where(first, idx, 0)) if first.size else idx


def _stable_argsort(values: np.ndarray) -> np.ndarray:
    """Stable argsort; small non-negative integers go through uint16 (numpy's radix sort)."""
    if values.dtype.kind in "iu" and values.size and 0 <= values.min() and values.max() < 1 << 16:
        values = values.astype(np.uint16)
    return np.argsort(values, kind="stable")


def _stable_argsort_pairs(major: np.ndarray, minor: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The stable argsort of `key` = major * K + minor (0 <= minor < K): when both fit 16 bits, as two radix
    sorts (stable by minor, then stable by major: the same order), about four times faster than one sort of
    the int64 keys."""
    if major.size and 0 <= major.min() and major.max() < 1 << 16 and 0 <= minor.min() and minor.max() < 1 << 16:
        by_minor = np.argsort(minor.astype(np.uint16), kind="stable")
        return by_minor[np.argsort(major.astype(np.uint16)[by_minor], kind="stable")]
    return _stable_argsort(key)


def _rank_detections(dt_image, dt_label, dt_score, K, max_det) -> _Detections:
    # One float sort: score descending, ties by image, then input order (stable sorts throughout, as
    # pycocotools' mergesort). Inputs usually come grouped by image already: skip that sort then.
    if np.all(dt_image[1:] >= dt_image[:-1]):
        by_score = descending_order(dt_score)
    else:
        by_image = _stable_argsort(dt_image)
        by_score = by_image[descending_order(dt_score[by_image])]
    # Group order: (image, label), then score, then input order; rank inside the group; keep the first 100.
    key_s = (dt_image * K + dt_label)[by_score]
    to_group = _stable_argsort_pairs(dt_image[by_score], dt_label[by_score], key_s)
    by_group, key_g = by_score[to_group], key_s[to_group]
    rank_g = _position_in_run(run_starts(key_g))
    rank = np.empty(dt_score.size, dtype=np.int64)
    rank[by_group] = rank_g
    if rank_g.size and rank_g.max() >= max_det:
        keep_g = rank_g < max_det
        by_group, key_g = by_group[keep_g], key_g[keep_g]
        by_score = by_score[rank[by_score] < max_det]
    # Accumulation order: label, then score, then image, then rank (= input order among equal scores).
    det = by_score[_stable_argsort(dt_label[by_score])]
    position = np.empty(dt_score.size, dtype=np.int64)
    position[det] = np.arange(det.size)
    return _Detections(det=det, label=dt_label[det], rank=rank[det], group_order=position[by_group],
                       group_key=key_g)


@dataclass
class _Candidates:
    """(detection, ground truth) pairs of the same image and label with IoU >= the lowest threshold, sorted
    by matching level, then detection, then IoU ascending, then ground-truth input order."""

    column: np.ndarray  # (P,) the detection's column in the match table
    gt: np.ndarray  # (P,) ground-truth index
    iou: np.ndarray  # (P,)
    level_bounds: np.ndarray  # (L+1,) pair offsets of each level
    column_position: np.ndarray  # (C,) accumulation position of each column, ascending


def _candidate_pairs(dets: _Detections, gt_key: np.ndarray, pair_iou_fn: PairIouFn) -> _Candidates:
    thr_min = min(float(IOU_THRESHOLDS.min()), 1 - 1e-10)
    g_order = np.argsort(gt_key, kind="stable")  # input order inside each (image, label)
    g_keys, g_start, g_count = np.unique(gt_key[g_order], return_index=True, return_counts=True)
    n = dets.group_key.size
    if g_keys.size and n:
        where = np.minimum(np.searchsorted(g_keys, dets.group_key), g_keys.size - 1)
        n_pairs = np.where(g_keys[where] == dets.group_key, g_count[where], 0)
        first_gt = g_start[where]
    else:
        n_pairs = np.zeros(n, dtype=np.int64)
        first_gt = n_pairs
    det_g = dets.det[dets.group_order]  # input index of each detection, in group order
    # IoU of every pair of the same (image, label), in chunks of whole detections.
    parts_d, parts_g, parts_iou = [], [], []
    for lo, hi in chunk_bounds(n_pairs, _PAIR_CHUNK):
        counts = n_pairs[lo:hi]
        total = int(counts.sum())
        if total:
            p_d, p_g = expand_pairs(np.arange(lo, hi), first_gt[lo:hi], counts, g_order)
            iou = np.asarray(pair_iou_fn(det_g[p_d], p_g), dtype=np.float64)
            hit = iou >= thr_min
            parts_d.append(p_d[hit])
            parts_g.append(p_g[hit])
            parts_iou.append(iou[hit])
    p_d = np.concatenate(parts_d) if parts_d else np.zeros(0, np.int64)
    p_g = np.concatenate(parts_g) if parts_g else np.zeros(0, np.int64)
    p_iou = np.concatenate(parts_iou) if parts_iou else np.zeros(0, np.float64)

    # Candidate detections (group order) and their level: the n-th candidate of its (image, label).
    cand_det, pair_cand = np.unique(p_d, return_inverse=True)
    level = _position_in_run(run_starts(dets.group_key[cand_det]))
    # Columns of the match table follow accumulation order.
    position = np.asarray(dets.group_order[cand_det])
    col_order = np.argsort(position, kind="stable")
    column_of_cand = np.empty_like(col_order)
    column_of_cand[col_order] = np.arange(col_order.size)
    # Pairs: by level, detection, IoU ascending; equal IoU keep ground-truth input order (stable sort).
    pair_level = level[pair_cand]
    order = np.lexsort((p_iou, pair_cand, pair_level))
    n_levels = int(level.max()) + 1 if level.size else 0
    return _Candidates(column=column_of_cand[pair_cand[order]], gt=p_g[order], iou=p_iou[order],
                       level_bounds=np.searchsorted(pair_level[order], np.arange(n_levels + 1)),
                       column_position=position[col_order])


def _match(cand: _Candidates, gt_crowd: np.ndarray, gt_ignored: np.ndarray, n_gt: int) -> np.ndarray:
    """The match table (A, T, C) int8: 0 unmatched, 1 matched to a non-ignored ground truth (true
    positive), 2 matched to an ignored one. One pass per level; a level holds at most one detection per
    (image, label), so its detections never compete with each other."""
    A, T = len(AREA_RANGES), IOU_THRESHOLDS.size
    thr = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[None, :, None]  # (1, T, 1)
    taken = np.zeros((A, T, n_gt), dtype=bool)
    code = np.zeros((A, T, cand.column_position.size), dtype=np.int8)
    bounds = cand.level_bounds
    for lv in range(bounds.size - 1):
        s, e = int(bounds[lv]), int(bounds[lv + 1])
        col, g, iou = cand.column[s:e], cand.gt[s:e], cand.iou[s:e]
        n = e - s
        seg = np.flatnonzero(run_starts(col))
        crowd = gt_crowd[g]
        free = ~taken[:, :, g] | crowd  # (A, T, n)
        ok = free & (iou >= thr)
        # Preference: any non-ignored pair beats every ignored one; then the later pair (higher IoU, then
        # later ground truth) wins. Encoded as one integer so one max per detection decides.
        pref = np.arange(n) + n * (~gt_ignored[:, g]).astype(np.int64)[:, None, :]  # (A, 1, n)
        best = np.maximum.reduceat(np.where(ok, pref, -1), seg, axis=2)  # (A, T, dets)
        found = best >= 0
        regular = best >= n
        chosen = np.where(regular, best - n, np.maximum(best, 0))
        code[:, :, col[seg]] = np.where(found, np.where(regular, 1, 2), 0)
        a, t, d = np.nonzero(found)
        gi = g[chosen[a, t, d]]
        use = ~gt_crowd[gi]
        taken[a[use], t[use], gi[use]] = True
    return code


def evidence_of(matches: CocoMatches, dt_image: np.ndarray, gt_image: np.ndarray,
                gt_label: np.ndarray) -> CocoEvidence:
    """The `CocoEvidence` of a matching: its area "all", maxDets 100 entries (every ranked detection: the
    ranking keeps 100 already). dt_image: each ranked detection's image, in the matching's order; gt_image,
    gt_label: the objects that count in area "all" (`counted_rows`)."""
    full = np.zeros((IOU_THRESHOLDS.size, matches.label.size), dtype=np.int8)
    full[:, matches.column_position] = matches.code[0]
    ignored = (full == 2) | ((full == 0) & matches.dt_out[0][None, :])  # unmatched: ignored when out of range
    keep = ~ignored.all(axis=0)
    return CocoEvidence(dt_image=dt_image[keep], dt_label=matches.label[keep], tp=(full == 1)[:, keep],
                        ignored=ignored[:, keep], gt_image=gt_image, gt_label=gt_label)
