"""pycocotools' `accumulate()` and `summarize()` (definitions: `evalsite.metrics.coco`) from the match table,
a group of labels at a time, so that memory never holds pycocotools' dense arrays over all labels.

Memory: the arrays of one label group stay within `LABEL_BUDGET` bytes (a group holds at least one label).
Beyond them, only what is linear and small per label is kept: recall (T, K, A, M), 960 bytes per label, and,
one area range at a time, the precision entries that one of the 12 numbers averages, (T, R) float64 per label
with ground truth in that range (8 KB). That one is needed whole: each number is `np.mean` over its entries,
whose floating-point sum depends on all of them in pycocotools' order, and the numbers are bit-identical to
pycocotools'. pycocotools' dense `precision` (T, R, K, A, M), 97 KB per label, is only built on request
(`CocoMatches.arrays`). Label groups change no number: every entry is computed from its own label's
detections, with the same operations, whatever the group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsite.metrics.arrays import descending_order
from evalsite.metrics.coco_params import AREA_NAMES, AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS

#: Bytes of the temporary arrays of one label group (about 100 KB per label: see `CocoMatches.groups`).
LABEL_BUDGET = 64 << 20


def run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Boolean mask: True where a run of equal keys begins."""
    first = np.ones(sorted_keys.size, dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return first


def _segmented_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of integer `values`, restarting where `first` is True."""
    c = np.cumsum(values, dtype=np.int64)
    before = (c - values)[first]
    return c - np.repeat(before, np.diff(np.append(np.flatnonzero(first), values.size)))


def _first_count_reaching(n_positive: np.ndarray) -> np.ndarray:
    """(K, R): the smallest TP count c >= 1 with c / n_positive >= each recall threshold, in the same float
    arithmetic as pycocotools' `np.searchsorted(tp / npig, recThrs, 'left')`; labels without positives get a
    count no sequence reaches."""
    npig = n_positive.astype(np.float64)[:, None]
    safe = np.maximum(npig, 1.0)
    c = np.maximum(np.ceil(RECALL_THRESHOLDS[None, :] * safe), 1.0)
    for _ in range(4):  # ceil() of a rounded product is off by at most one; settle on the exact count
        down = (c > 1) & ((c - 1) / safe >= RECALL_THRESHOLDS)
        up = c / safe < RECALL_THRESHOLDS
        c = c - down + up
    big = np.iinfo(np.int64).max // 4
    return np.where(npig > 0, c, big).astype(np.int64)


def _mean(kept: np.ndarray) -> float:
    """`COCOeval.summarize()`'s number from its kept entries (a 1-D array in its order): their `np.mean`."""
    return -1.0 if len(kept) == 0 else float(np.mean(kept))


def _recall_stats(recall: np.ndarray) -> list[float]:
    """The six AR numbers of `summarize()` from recall (T, K, A, M), with its slicing."""
    def one(area: str, max_dets: int) -> float:
        s = recall[:, :, [AREA_NAMES.index(area)], [MAX_DETS.index(max_dets)]]
        return _mean(s[s > -1])

    return [one("all", 1), one("all", 10), one("all", 100), one("small", 100), one("medium", 100),
            one("large", 100)]


def _ap_stats(kept_of_area) -> list[float]:
    """The six AP numbers of `summarize()`; `kept_of_area(a)`: (T, R, K') the precision entries > -1 of area
    range a at maxDets 100, in pycocotools' order (threshold, recall point, label)."""
    stats = []
    for a in range(len(AREA_RANGES)):
        kept = kept_of_area(a)
        for iou_thr in (None, .5, .75) if a == 0 else (None,):
            s = kept if iou_thr is None else kept[np.where(iou_thr == IOU_THRESHOLDS)[0]]
            stats.append(_mean(s.reshape(-1)))
        del kept
    return stats


def summarize(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """The 12 numbers of `COCOeval.summarize()` from its dense precision and recall arrays (same slicing,
    same `np.mean`, so the same floating-point result)."""
    def kept_of_area(a: int) -> np.ndarray:
        s = precision[:, :, :, a, MAX_DETS.index(100)]
        return s[:, :, (s > -1).all(axis=(0, 1))]  # a label's entries are all > -1 or all -1

    return np.array(_ap_stats(kept_of_area) + _recall_stats(recall))


def _per_label(precision: np.ndarray, t: int | None) -> np.ndarray:
    """Per label: the mean of `precision[:, :, k]` (T, R, K) (or of threshold `t` only) over entries > -1."""
    K = precision.shape[2]
    out = np.full(K, -1.0)
    for k in range(K):
        s = precision[:, :, k] if t is None else precision[t, :, k]
        s = s[s > -1]
        if s.size:
            out[k] = np.mean(s)
    return out


@dataclass
class CocoMatches:
    """The outcome of COCO's matching, as accumulation needs it (`evalsite.metrics.coco`).

    label, rank: (n,) each ranked detection's label and rank inside its (image, label), in accumulation
    order (by label, then score, then image, then rank). column_position: (C,) ascending, the accumulation
    position of each column of `code` (A, T, C) int8 (0 unmatched, 1 true positive, 2 matched to an ignored
    ground truth). dt_out: (A, n) a detection's own area lies outside the range. n_positive: (A, K)
    non-ignored ground truth per area range and label. det: (n,) each ranked detection's row in the inputs,
    when kept (`evalsite.metrics.coco.coco_match`'s `keep_rows`), else None."""

    label: np.ndarray
    rank: np.ndarray
    column_position: np.ndarray
    code: np.ndarray
    dt_out: np.ndarray
    n_positive: np.ndarray
    det: np.ndarray | None = None

    def __post_init__(self):
        K = self.n_positive.shape[1]
        self.label_start = np.searchsorted(self.label, np.arange(K + 1))
        self.column_start = np.searchsorted(self.label[self.column_position], np.arange(K + 1))

    @classmethod
    def concatenated(cls, parts: list[CocoMatches]) -> CocoMatches:
        """The matchings `parts` (of the same labels) one after the other, as `join_image_ranges` takes them:
        each part's detections after the previous ones', its columns' positions moved with them, `n_positive`
        summed; not in accumulation order."""
        offsets = np.cumsum([0] + [part.label.size for part in parts])
        return cls(label=np.concatenate([part.label for part in parts]),
                   rank=np.concatenate([part.rank for part in parts]),
                   column_position=np.concatenate([part.column_position + offset
                                                   for part, offset in zip(parts, offsets)]),
                   code=np.concatenate([part.code for part in parts], axis=2),
                   dt_out=np.concatenate([part.dt_out for part in parts], axis=1),
                   n_positive=np.sum([part.n_positive for part in parts], axis=0))

    def groups(self) -> list[tuple[int, int]]:
        """Label ranges [k0, k1) whose accumulation arrays fit `LABEL_BUDGET` (about 12 arrays of
        T x (R + 1) float64 or int64 per label)."""
        K = self.n_positive.shape[1]
        per_label = 12 * IOU_THRESHOLDS.size * (RECALL_THRESHOLDS.size + 1) * 8
        step = max(1, LABEL_BUDGET // per_label)
        return [(k0, min(k0 + step, K)) for k0 in range(0, K, step)]

    def labels(self, a: int, mi: int, k0: int, k1: int, envelope: bool = True
               ) -> tuple[np.ndarray | None, np.ndarray]:
        """pycocotools' `accumulate()` for area range a, maxDets MAX_DETS[mi] and labels k0..k1-1: precision
        (T, R, k1 - k0) (None unless `envelope`) and recall (T, k1 - k0), -1 for a label without positives.

        Precision only rises at a true positive, so the envelope read at a recall threshold is the highest
        precision among the true positives from the first one that reaches the threshold on. For the k-th
        true positive of a label, FP so far = (not-ignored detections up to it) - (matched, not-ignored
        detections up to it): unmatched detections only matter through that count.
        """
        T, R, Kg = IOU_THRESHOLDS.size, RECALL_THRESHOLDS.size, k1 - k0
        d0, d1 = int(self.label_start[k0]), int(self.label_start[k1])
        c0, c1 = int(self.column_start[k0]), int(self.column_start[k1])
        in_m = self.rank[d0:d1] < MAX_DETS[mi]
        col_pos = self.column_position[c0:c1] - d0  # positions inside the group's detections
        code = self.code[a, :, c0:c1]  # (T, columns)
        if not in_m.all():
            col_in = in_m[col_pos]
            col_pos, code = col_pos[col_in], code[:, col_in]
        col_lab = self.label[d0:d1][col_pos] - k0
        n_positive = self.n_positive[a, k0:k1]
        has_pos = n_positive > 0
        if not envelope:  # recall only: the true positives per (threshold, label)
            t, j = np.nonzero(code == 1)
            n_tp = np.bincount(t * Kg + col_lab[j], minlength=T * Kg)
            return None, np.where(has_pos, n_tp.reshape(T, Kg) / np.maximum(n_positive, 1), -1.0)
        counted = ~self.dt_out[a, d0:d1] & in_m  # detections that are not ignored when unmatched
        counted_before = np.zeros(d1 - d0 + 1, dtype=np.int64)
        np.cumsum(counted, out=counted_before[1:])
        t, j = np.nonzero(code)
        kind = code[t, j]
        pos, lab = col_pos[j], col_lab[j]
        seg = t * Kg + lab  # events are sorted by (threshold, label, position)
        first = run_starts(seg)
        tp = kind == 1
        tp_count = _segmented_cumsum(tp.astype(np.int64), first)
        matched_counted = _segmented_cumsum(counted[pos].astype(np.int64), first)
        fp = counted_before[pos + 1] - counted_before[self.label_start[lab + k0] - d0] - matched_counted
        c, fp, seg = tp_count[tp].astype(np.float64), fp[tp].astype(np.float64), seg[tp]
        n_tp = np.bincount(seg, minlength=T * Kg)
        recall = np.where(has_pos, n_tp.reshape(T, Kg) / np.maximum(n_positive, 1), -1.0)
        pr = c / (fp + c + np.spacing(1))
        start = np.cumsum(n_tp) - n_tp
        # Envelope at each recall threshold: max of pr from the c_r-th true positive to the label's end, as
        # block maxima between consecutive thresholds, then a running max from the right.
        c_r = np.tile(_first_count_reaching(n_positive), (T, 1))  # (T*Kg, R)
        reach = c_r <= n_tp[:, None]
        end = (start + n_tp)[:, None]
        idx = np.where(reach, start[:, None] + c_r - 1, end)
        idx = np.concatenate([idx, end], axis=1).reshape(-1)
        block = np.maximum.reduceat(np.append(pr, 0.0), idx).reshape(T * Kg, R + 1)[:, :R]
        block = np.where(reach, block, 0.0)
        q = np.maximum.accumulate(block[:, ::-1], axis=1)[:, ::-1].reshape(T, Kg, R)
        return np.where(has_pos[None, :, None], q, -1.0).transpose(0, 2, 1), recall

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """pycocotools' dense `eval["precision"]` (T, R, K, A, M) and `eval["recall"]` (T, K, A, M)."""
        T, R, (A, K), M = IOU_THRESHOLDS.size, RECALL_THRESHOLDS.size, self.n_positive.shape, len(MAX_DETS)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        for k0, k1 in self.groups():
            for mi in range(M):
                for a in range(A):
                    precision[:, :, k0:k1, a, mi], recall[:, k0:k1, a, mi] = self.labels(a, mi, k0, k1)
        return precision, recall

    def summary(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(stats (12,) as `summarize`, per-label AP@[.50:.95] (K,), per-label AP@.50 (K,)), as from the dense
        arrays (`coco.CocoResult`), without them: one area range at a time, label group by label group."""
        recall, per_label = self._recall_room(), {}
        stats = np.array(_ap_stats(lambda a: self._kept(a, recall, per_label)) + _recall_stats(recall))
        return (stats, *self._per_label_aps(per_label))

    def label_summary(self) -> CocoLabelSummary:
        """What the 12 numbers need of these labels (`join_label_summaries`: those of consecutive label
        ranges, each matched on its own, give the numbers of all): every area range's kept precision at once
        (8 KB per label and area range), the recall, the per-label APs."""
        recall, per_label = self._recall_room(), {}
        kept = [self._kept(a, recall, per_label) for a in range(len(AREA_RANGES))]
        return CocoLabelSummary(kept, recall, *self._per_label_aps(per_label))

    def _recall_room(self) -> np.ndarray:
        T, (A, K), M = IOU_THRESHOLDS.size, self.n_positive.shape, len(MAX_DETS)
        return -np.ones((T, K, A, M))

    def _kept(self, a: int, recall: np.ndarray, per_label: dict) -> np.ndarray:
        """(T, R, K') the precision entries > -1 of area range a at maxDets 100 (`_ap_stats`); fills area a of
        `recall` and, for a = 0, `per_label` (group start -> its per-label APs)."""
        T, R, M = IOU_THRESHOLDS.size, RECALL_THRESHOLDS.size, len(MAX_DETS)
        has_pos = self.n_positive[a] > 0
        at = np.cumsum(has_pos) - has_pos  # a label's place among those with positives
        kept = np.empty((T, R, int(has_pos.sum())))
        for k0, k1 in self.groups():
            for mi in range(M):
                precision, recall[:, k0:k1, a, mi] = self.labels(a, mi, k0, k1, envelope=mi == M - 1)
            keep = has_pos[k0:k1]
            kept[:, :, at[k0:k1][keep]] = precision[:, :, keep]
            if a == 0:
                per_label[k0] = (_per_label(precision, None), _per_label(precision, 0))
        return kept

    def _per_label_aps(self, per_label: dict) -> tuple[np.ndarray, np.ndarray]:
        K = self.n_positive.shape[1]
        groups = [per_label[k0] for k0 in sorted(per_label)]
        return (np.concatenate([g[0] for g in groups]) if groups else np.full(K, -1.0),
                np.concatenate([g[1] for g in groups]) if groups else np.full(K, -1.0))


def join_image_ranges(matches: CocoMatches, score: np.ndarray) -> tuple[CocoMatches, np.ndarray]:
    """The matching of the images of consecutive ranges from their matchings (each with the same labels, the
    images and input order kept), concatenated in image order (`CocoMatches.concatenated`), with each ranked
    detection's `score` in that concatenation: (the matching of them all, as `evalsite.metrics.coco.coco_match`
    of all the images gives it, array for array; the order of its detections in the concatenation).

    Each image is matched on its own, so only the accumulation order is to be made again: by label, then
    score descending, then image, then rank inside the image. Among a label's equal scores the concatenation
    is in that order already (ranges in image order, each range's detections in accumulation order), so a
    stable sort by score, then by label, gives it; a column moves with its detection.
    """
    order = descending_order(score)
    order = order[np.argsort(matches.label[order], kind="stable")]
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)
    column_position = position[matches.column_position]
    by_column = np.argsort(column_position)  # (positions are distinct)
    joined = CocoMatches(label=matches.label[order], rank=matches.rank[order],
                         column_position=column_position[by_column], code=matches.code[:, :, by_column],
                         dt_out=matches.dt_out[:, order], n_positive=matches.n_positive)
    return joined, order


@dataclass
class CocoLabelSummary:
    """`CocoMatches.label_summary`: kept (A entries of (T, R, K')), the precision entries > -1 of each area
    range at maxDets 100, K' the labels with positives there; recall (T, K, A, M); per-label AP@[.50:.95]
    and AP@.50 (K,)."""

    kept: list[np.ndarray]
    recall: np.ndarray
    per_label_ap: np.ndarray
    per_label_ap50: np.ndarray


def join_label_summaries(parts: list[CocoLabelSummary]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`CocoMatches.summary()` of all labels from the summaries of consecutive label ranges, in label order:
    the same arrays joined along the label axis, so the same means, bit for bit."""
    recall = np.concatenate([p.recall for p in parts], axis=1)
    stats = _ap_stats(lambda a: np.concatenate([p.kept[a] for p in parts], axis=2)) + _recall_stats(recall)
    return (np.array(stats), np.concatenate([p.per_label_ap for p in parts]),
            np.concatenate([p.per_label_ap50 for p in parts]))
