"""Class-agnostic confusion matrix of detections at the report's threshold t* (background row, missed
column), from COCO's greedy matching over all labels (not the per-label VOC matching of
`evalsite.metrics.matching`). Classification's confusion matrix is elsewhere (`evalsite.metrics.classification`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsite.metrics.arrays import take
from evalsite.metrics.cells import Cells, count_cells
from evalsite.metrics.matching import IOU_THRESHOLD, prepare_inputs
from evalsite.metrics.pairs import PairIoU


@dataclass
class Confusion:
    """Class-agnostic confusion at a threshold (see `confusion_at_threshold`). L = number of labels."""

    counts: Cells  # (L+1, L+1): rows GT label then background; columns predicted label then missed (sparse)
    dt_row: np.ndarray  # (D,) int64: row of the detection's cell (its GT's label, L: background); -1: not in it
    gt_column: np.ndarray  # (G,) int64: column of the GT's cell (label that took it, L: missed); -1: not counted
    dt_gt: np.ndarray  # (D,) int64: the GT a detection took, -1 if none
    gt_dt: np.ndarray  # (G,) int64: the detection that took a GT, -1 if none
    threshold: float
    iou_threshold: float

    @classmethod
    def of_counts(cls, counts: Cells, threshold: float, iou_threshold: float) -> Confusion:
        """A confusion of its counts only, its per-row arrays empty (length 0): for a caller that needs only the
        counts (a report being assembled; the sum of shards' counts, `evalsite.metrics.cells.add_cells`)."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(counts=counts, dt_row=empty, gt_column=empty, dt_gt=empty, gt_dt=empty,
                   threshold=float(threshold), iou_threshold=float(iou_threshold))


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
                           pair_iou_fn: PairIoU | None = None, n_labels: int | None = None,
                           score_order: np.ndarray | None = None) -> Confusion:
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

    Parameters
    ----------
    gt_image, ..., dt_score, iou_threshold, pair_iou_fn, n_labels : as in
        `evalsite.metrics.matching.match_detections`.
    threshold : t*, the lowest score shown; NaN for none.
    score_order : the detection order when known (`Matching.order`; checked before use).

    Returns
    -------
    `Confusion`.

    Examples
    --------
    GT of label 0 and 1; the detection of label 0 on the second GT is confused, the second detection is a
    duplicate (background):

    >>> gt_box = [[0, 0, 10, 10], [20, 0, 10, 10]]
    >>> dt_box = [[0, 0, 10, 10], [1, 0, 10, 10], [20, 0, 10, 10]]
    >>> c = confusion_at_threshold([0, 0], [0, 1], gt_box, None, None, [0, 0, 0], [0, 0, 0], dt_box,
    ...                            [0.9, 0.8, 0.7], threshold=0.7)
    >>> c.counts.dense().tolist(), c.dt_row.tolist(), c.gt_column.tolist()
    ([[1, 0, 0], [1, 0, 0], [1, 0, 0]], [0, 2, 1], [0, 0])
    """
    (gt_image, gt_label, dt_image, dt_label, dt_score, n_gt_objects, n_dt, difficult, crowd, geometry, nl,
     rank) = prepare_inputs(gt_image, gt_label, gt_box, gt_difficult, gt_crowd, dt_image, dt_label, dt_box,
                            dt_score, iou_threshold, pair_iou_fn, n_labels, score_order)
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
    dt_row[in_matrix] = take(gt_label, dt_gt[in_matrix], nl)
    gt_column = np.full(n_gt_objects, -1, dtype=np.int64)
    gt_column[counted] = take(dt_label, gt_dt[counted], nl)
    missed = counted & (gt_dt < 0)
    counts = count_cells(np.concatenate([dt_row[in_matrix], gt_label[missed]]),
                         np.concatenate([dt_label[in_matrix], np.full(int(missed.sum()), nl)]), (nl + 1, nl + 1))
    return Confusion(counts=counts, dt_row=dt_row, gt_column=gt_column, dt_gt=dt_gt, gt_dt=gt_dt,
                     threshold=float(threshold), iou_threshold=float(iou_threshold))
