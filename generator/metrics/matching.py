"""PASCAL VOC matching of detections to ground truth (docs/metrics.md, "Detection"), on column
arrays; the matching that VOC AP (`evalsite.metrics.voc_ap`), the operating point
(`evalsite.metrics.operating_point`) and error typing (`evalsite.metrics.error_types`) start from.

Conventions of the detection metrics (those of `evalsite.core.detection_data.DetectionData`):

* ground truth ("GT") g = 0..G-1 and detections d = 0..D-1 are rows of column arrays: image index, label
  index 0..L-1, box [x, y, w, h] (continuous coordinates, no VOC "+1"), and for GT the `difficult` and
  `crowd` flags, for detections a finite score;
* "counted" GT = neither difficult nor crowd: only these count in recall (n_gt) and can be missed;
* detection order: descending score, equal scores in file order (a stable sort). Every greedy step of the
  detection metrics uses this order;
* IoU comes from a `pair_iou_fn(dt_index, gt_index) -> iou` callback, or from the boxes; which pairs are
  evaluated, and how crowd regions are measured: see `evalsite.metrics.pairs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from evalsite.core.on_disk import on_disk
from evalsite.metrics.arrays import (
    RowsJoin,
    bool_array,
    check_iou_threshold,
    counts_of,
    group_best,
    int_array,
    label_count,
    label_rows,
    placed_by_ranges,
    score_order,
    score_rank,
    take,
)
from evalsite.metrics.pairs import PairGeometry, PairIoU

IOU_THRESHOLD = 0.5
# The per-row fields of a matching in `Matching.which_count`'s form: emptied (read-only, shared)
_EMPTY = np.zeros(0, dtype=np.int64)
_NO_IOUS = np.zeros(0, dtype=np.float64)
_EMPTY.flags.writeable = _NO_IOUS.flags.writeable = False


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
    order: np.ndarray | None = None  # (D,) the detection order (`score_rank`), for the callers that need it

    @property
    def fp(self) -> np.ndarray:
        """(D,) bool: false positive (neither TP nor ignored)."""
        return ~self.tp & ~self.ignored

    @property
    def gt_matched(self) -> np.ndarray:
        """(G,) bool: matched by a detection of any score."""
        return self.gt_matched_by >= 0

    def which_count(self) -> Matching:
        """This matching with only which rows count and how (`tp`, `ignored`, `gt_counted`, `n_gt`): its per-row
        indices, IoUs and order emptied (length 0), for a caller that keeps it long and needs no more (a report
        being assembled: 32 bytes per detection, 6.4 GB at 200 M detections)."""
        return Matching(tp=self.tp, ignored=self.ignored, gt_index=_EMPTY, best_gt=_EMPTY, best_iou=_NO_IOUS,
                        gt_matched_by=_EMPTY, gt_counted=self.gt_counted, n_gt=self.n_gt,
                        iou_threshold=self.iou_threshold)


def counted_by_label(ignored: np.ndarray, dt_label: np.ndarray, dt_score: np.ndarray, n_labels: int,
                     order: np.ndarray | None = None) -> np.ndarray:
    """The detections that count (not `ignored`) by label, then descending score, then file order: the order in
    which VOC AP and the operating point walk each label's detections. `order`: the detection order when known
    (`Matching.order`).

    >>> counted_by_label(np.array([False, True, False, False]), np.array([1, 0, 0, 1]),
    ...                  np.array([0.5, 0.9, 0.2, 0.7]), 2).tolist()
    [2, 3, 0]
    """
    by_score = score_order(dt_score, order)
    by_score = by_score[~ignored[by_score]]
    label_order = dt_label[by_score]
    # a stable sort by label after the score order: a radix sort up to 65,536 labels (8x faster than lexsort)
    return by_score[np.argsort(label_order.astype(np.uint16) if n_labels <= 1 << 16 else label_order, kind="stable")]


def prepare_inputs(gt_image, gt_label, gt_box, gt_difficult, gt_crowd, dt_image, dt_label, dt_box, dt_score,
                   iou_threshold, pair_iou_fn, n_labels, score_order=None):
    """The checked arrays, counts, pair geometry, label count and score ranks that the matchings share
    (`match_detections` here, and the class-agnostic matching of `evalsite.metrics.detection_confusion`).

    Parameters are those of `match_detections` (all required here), and `score_order`: the detection order
    when known (`score_rank`'s `known`).

    Returns
    -------
    A tuple (gt_image, gt_label, dt_image, dt_label, dt_score, n_gt_objects, n_dt, difficult, crowd,
    geometry, n_labels, rank): the columns as flat int64 / float64 arrays, G and D, the (G,) bool flags (False
    where not given), the `PairGeometry`, the label count L and each detection's position in the detection
    order (`evalsite.metrics.arrays.score_rank`). Raises ValueError for an IoU threshold outside (0, 1], or
    without both boxes and a callback.
    """
    gt_image, gt_label = int_array(gt_image), int_array(gt_label)
    dt_image, dt_label = int_array(dt_image), int_array(dt_label)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    n_gt_objects, n_dt = len(gt_image), len(dt_image)
    difficult = bool_array(gt_difficult, n_gt_objects)
    crowd = bool_array(gt_crowd, n_gt_objects)
    check_iou_threshold(iou_threshold)
    geometry = PairGeometry(pair_iou_fn, dt_box, gt_box, crowd)
    nl = label_count(gt_label, dt_label, n_labels=n_labels)
    _, rank = score_rank(dt_score, score_order)
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

    Parameters
    ----------
    gt_image, gt_label : (G,) int, image and label index of each GT.
    gt_box : (G, 4) xywh boxes, or None with a `pair_iou_fn` (then no pruning by box).
    gt_difficult, gt_crowd : (G,) bool flags, or None (all False).
    dt_image, dt_label : (D,) int, image and label index of each detection.
    dt_box : (D, 4) xywh boxes, or None with a `pair_iou_fn`.
    dt_score : (D,) float, finite scores.
    iou_threshold : in (0, 1], 0.5 for VOC.
    pair_iou_fn : `evalsite.metrics.pairs.PairIoU`, or None for the box IoU.
    n_labels : L; by default one more than the largest label given.

    Returns
    -------
    `Matching`.

    Examples
    --------
    Two GT of label 0 in image 0; the second detection overlaps the GT that the first one took:

    >>> gt_box = [[0, 0, 10, 10], [20, 0, 10, 10]]
    >>> dt_box = [[0, 0, 10, 10], [1, 0, 10, 10], [20, 0, 10, 10]]
    >>> m = match_detections([0, 0], [0, 0], gt_box, None, None, [0, 0, 0], [0, 0, 0], dt_box, [0.9, 0.8, 0.7])
    >>> m.tp.tolist(), m.fp.tolist(), m.gt_matched_by.tolist(), m.n_gt.tolist()
    ([True, False, True], [False, True, False], [0, 2], [2])
    """
    (gt_image, gt_label, dt_image, dt_label, dt_score, n_gt_objects, n_dt, difficult, crowd, geometry, nl,
     rank) = prepare_inputs(gt_image, gt_label, gt_box, gt_difficult, gt_crowd, dt_image, dt_label, dt_box,
                            dt_score, iou_threshold, pair_iou_fn, n_labels)

    width = max(nl, 1)
    dt_key = dt_image * width + dt_label
    gt_key = gt_image * width + gt_label
    real = np.flatnonzero(~crowd)
    pd, pg, iou = geometry.pairs(np.arange(n_dt), dt_key, real, gt_key[real])
    best, best_gt = group_best(pd, iou, pg, n_dt)
    has = best_gt >= 0
    best_iou = np.where(has, best, 0.0)

    hit = has & (best_iou >= iou_threshold)
    ignored = hit & take(difficult, best_gt, False).astype(bool)
    eligible = hit & ~ignored
    first_rank = np.full(n_gt_objects, n_dt, dtype=np.int64)
    np.minimum.at(first_rank, best_gt[eligible], rank[eligible])
    tp = eligible & (rank == take(first_rank, best_gt, -1))
    gt_index = np.where(tp | ignored, best_gt, -1)

    crowd_idx = np.flatnonzero(crowd)
    if len(crowd_idx):
        fp = np.flatnonzero(~tp & ~ignored)
        cd, cg, cov = geometry.pairs(fp, dt_key[fp], crowd_idx, gt_key[crowd_idx])
        cov_best, region = group_best(cd, cov, cg, n_dt)
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
        iou_threshold=float(iou_threshold), order=_order_of(rank),
    )


def _order_of(rank: np.ndarray) -> np.ndarray:
    """The detection order from each detection's position in it."""
    order = np.empty(len(rank), dtype=np.int64)
    order[rank] = np.arange(len(rank))
    return order


def join_label_matchings(parts: Iterable[tuple[np.ndarray, np.ndarray, Matching]], n_dt: int, gt_label: np.ndarray,
                         n_labels: int, iou_threshold: float = IOU_THRESHOLD,
                         order: np.ndarray | None = None, which_count: bool = False) -> Matching:
    """The matching of all labels from those of label ranges apart (a Dask cluster's tasks).

    Each label is matched on its own (a detection's candidates are GT of its image and label; the greedy
    step compares only detections whose best GT is the same, so of the same label), so the matching of the
    rows of some labels, kept in file order, is those rows' part of the whole matching: the same flags, IoUs
    (the same pairs) and ties (file order, and score order, are kept among the rows).

    Parameters
    ----------
    parts : (d, g, m): `match_detections` of the detections d and the GT g (row indices of the whole, in
        ascending order, together every row once) with their own indices; the labels need not be renumbered.
        At least one part.
    n_dt : D, the whole's detections.
    gt_label : (G,) the whole's GT labels.
    n_labels : L.
    iou_threshold : the parts' IoU threshold.
    order : the whole's detection order (`score_rank`), kept in `Matching.order`.
    which_count : join only which rows count and how: the parts may be in `Matching.which_count`'s form.

    Returns
    -------
    `Matching` of the whole, equal to `match_detections` of all rows (with `which_count`: to its
    `which_count()`).

    Examples
    --------
    >>> gt_box = [[0, 0, 10, 10], [20, 0, 10, 10]]
    >>> dt_box = np.array([[0, 0, 10, 10], [20, 0, 10, 10], [1, 0, 10, 10]], dtype=float)
    >>> whole = match_detections([0, 0], [0, 1], gt_box, None, None, [0, 0, 0], [0, 1, 0], dt_box, [0.9, 0.8, 0.7])
    >>> parts = [(np.array(d), np.array(g), match_detections([0], [0], [gt_box[g[0]]], None, None, [0] * len(d),
    ...           [0] * len(d), dt_box[d], np.array([0.9, 0.8, 0.7])[d])) for d, g in (([0, 2], [0]), ([1], [1]))]
    >>> m = join_label_matchings(parts, 3, np.array([0, 1]), 2)
    >>> m.tp.tolist() == whole.tp.tolist(), m.gt_matched_by.tolist(), m.gt_index.tolist()
    (True, [0, 1], [0, 1, -1])
    >>> flags = join_label_matchings([(d, g, p.which_count()) for d, g, p in parts], 3, np.array([0, 1]), 2,
    ...                              which_count=True)
    >>> flags.tp.tolist() == whole.tp.tolist(), len(flags.gt_index)
    (True, 0)
    """
    names = ("tp", "ignored") if which_count else ("tp", "ignored", "gt_index", "best_gt", "best_iou")
    det = {name: RowsJoin(n_dt) for name in names}
    counted, matched_by = RowsJoin(len(gt_label)), RowsJoin(len(gt_label))
    for d, g, m in parts:
        for name, rows in det.items():  # (gt_index, best_gt: object rows)
            rows.add(d, getattr(m, name), g if name in ("gt_index", "best_gt") else None)
        counted.add(g, m.gt_counted)
        if not which_count:
            matched_by.add(g, m.gt_matched_by, d)
    if counted.out is None:
        raise ValueError("join_label_matchings needs at least one part")
    joined = Matching(tp=det["tp"].out, ignored=det["ignored"].out, gt_index=_EMPTY, best_gt=_EMPTY,
                      best_iou=_NO_IOUS, gt_matched_by=_EMPTY, gt_counted=counted.out,
                      n_gt=counts_of(gt_label, minlength=n_labels, where=counted.out),
                      iou_threshold=float(iou_threshold), order=order)
    if not which_count:
        joined.gt_index, joined.best_gt, joined.best_iou = det["gt_index"].out, det["best_gt"].out, det["best_iou"].out
        joined.gt_matched_by = matched_by.out
    return joined


def join_group_flags(parts: Iterable[tuple[tuple[int, int], Matching]], groups: list[tuple[int, int]],
                     dt_label, gt_label, n_labels: int, iou_threshold: float = IOU_THRESHOLD) -> Matching:
    """`join_label_matchings(..., which_count=True)` of label groups' matchings, each part ((k0, k1), its
    matching in `Matching.which_count`'s form) as it comes, in any order; `groups`: every group, in label order
    (together every label once). A group's detections are the rows whose label is in k0..k1-1, in file order,
    so its flags go to those rows a block of labels at a time (`placed_by_ranges`): the detections' flags are
    kept on this machine's disk (`evalsite.core.on_disk.DiskArray`, 2 bytes per detection), each group's as
    it comes, then placed once all are in; no group's rows are whole in memory (a cluster's driver).

    Examples
    --------
    >>> gt_box = [[0, 0, 10, 10], [20, 0, 10, 10]]
    >>> dt_box = np.array([[0, 0, 10, 10], [20, 0, 10, 10], [1, 0, 10, 10]], dtype=float)
    >>> whole = match_detections([0, 0], [0, 1], gt_box, None, None, [0, 0, 0], [0, 1, 0], dt_box, [0.9, 0.8, 0.7])
    >>> parts = [((1, 2), match_detections([0], [0], [gt_box[1]], None, None, [0], [0], dt_box[[1]], [0.8])),
    ...          ((0, 1), match_detections([0], [0], [gt_box[0]], None, None, [0, 0], [0, 0], dt_box[[0, 2]],
    ...                                    [0.9, 0.7]))]
    >>> m = join_group_flags([(group, p.which_count()) for group, p in parts], [(0, 1), (1, 2)], np.array([0, 1, 0]),
    ...                      np.array([0, 1]), 2)
    >>> np.asarray(m.tp).tolist(), np.asarray(m.tp).tolist() == whole.tp.tolist(), m.n_gt.tolist()
    ([True, True, False], True, [1, 1])
    """
    flags: dict[tuple[int, int], tuple] = {}
    counted = RowsJoin(len(gt_label))
    for group, m in parts:
        flags[group] = (on_disk(m.tp), on_disk(m.ignored))
        counted.add(label_rows(gt_label, *group), m.gt_counted)
    if counted.out is None:
        raise ValueError("join_group_flags needs at least one part")
    tp, ignored = (placed_by_ranges(dt_label, groups, [flags[group][k] for group in groups], dtype)
                   for k, dtype in enumerate((flags[groups[0]][0].dtype, flags[groups[0]][1].dtype)))
    return Matching(tp=tp, ignored=ignored, gt_index=_EMPTY, best_gt=_EMPTY, best_iou=_NO_IOUS,
                    gt_matched_by=_EMPTY, gt_counted=counted.out,
                    n_gt=counts_of(gt_label, minlength=n_labels, where=counted.out),
                    iou_threshold=float(iou_threshold), order=None)
