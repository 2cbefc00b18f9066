"""COCO AP@[.50:.95]'s image-level bootstrap (`coco_resampled`): the definitions are evalsite.metrics.bootstrap's
(resamples as per-image weights, every metric a function of weighted per-image counts); this module holds
COCO's own part, the 101-point AP over ten IoU thresholds recomputed on every resample at once."""

from __future__ import annotations

import numpy as np

from evalsite.core.parallel import SpareCore, run_units, shared_array
from evalsite.metrics.arrays import rows_of
from evalsite.metrics.bootstrap import (
    CELLS,
    Block,
    TruePositiveRanking,
    chunk_spans,
    each_chunk,
    label_groups,
    label_range,
    macro_mean,
    masked_mean,
    running,
    sparse_counts,
    weighted_counts,
)
from evalsite.metrics.coco import CocoEvidence
from evalsite.metrics.coco_params import IOU_THRESHOLDS, RECALL_THRESHOLDS


class _SteadyFalsePositives:
    """COCO's detections that are false positives at every IoU threshold (most of them: nothing overlaps),
    counted once for all thresholds. The other detections of a label, in ranking order, fall into
    segments (a new one after each steady false positive); `before(block)` gives the weighted steady false
    positives ranked before each segment, and the per-threshold rankings (`TruePositiveRanking` over the
    other detections, with `segment`) add them to their own."""

    def __init__(self, image: np.ndarray, label: np.ndarray, steady: np.ndarray, n_images: int, n_labels: int):
        # image, label, steady: in ranking order inside each label, labels ascending
        first_of_label = np.r_[True, label[1:] != label[:-1]]
        opens = ~steady & (first_of_label | np.r_[False, steady[:-1]])  # a non-steady item opening a segment
        opened = np.cumsum(opens)
        self.segment = opened - 1  # at a non-steady item: its segment
        self.size = int(opened[-1]) if opened.size else 0
        self.bounds = np.concatenate(([0], np.cumsum(np.bincount(label[opens], minlength=n_labels))))
        self.first_segment = np.zeros(self.size, dtype=bool)
        self.first_segment[self.bounds[:-1][self.bounds[:-1] < self.bounds[1:]]] = True
        # a steady false positive ranks before the next segment of its label, if there is one
        counted = np.flatnonzero(steady & (opened < self.bounds[label + 1]))
        self.gaps = sparse_counts(opened[counted], image[counted], self.size, n_images)

    def before(self, block: Block, s0: int, s1: int) -> np.ndarray:
        """(s1 - s0, r): weighted steady false positives of the label ranked before each segment s0..s1-1 (s0:
        a label's first segment)."""
        return running(np.add, weighted_counts(self.gaps[s0:s1], block), self.first_segment[s0:s1])


class _StackedRuns:
    """The runs of every IoU threshold's `TruePositiveRanking`, label by label, stacked: label c has
    `size[c]` = its most runs at any threshold, and its block of `counts` (rows `start[c]` on) holds for
    each run k the true positives of run k at threshold t in row (k * 2 + 0) * T + t and the false
    positives ranked right before it in row (k * 2 + 1) * T + t. A threshold with fewer runs repeats its
    last one with nothing added: no weight, no false positive, the same segment, so the same precision and
    recall (an AP term of 0); one without any run has 0 precision everywhere (an AP of 0, as without
    rows). So each step of the running sums (`running`) takes both sums of all T thresholds at once, and
    each step of the running maxima all T thresholds: one numpy call instead of 3 T."""

    def __init__(self, rankings: list[TruePositiveRanking], steady: _SteadyFalsePositives, n_images: int,
                 n_labels: int):
        t_count = len(rankings)
        runs = np.stack([np.diff(r.bounds) for r in rankings]) if n_labels else np.zeros((t_count, 0), np.int64)
        self.size = runs.max(axis=0) if t_count else np.zeros(n_labels, dtype=np.int64)
        self.start = np.concatenate(([0], np.cumsum(self.size * 2 * t_count)))
        segment = np.full(int(self.size.sum()) * t_count, -1, dtype=np.int64)  # of run k at t: k * T + t
        seg_start = self.start // 2
        found = []
        for t, ranking in enumerate(rankings):
            label = np.repeat(np.arange(n_labels), runs[t])  # each run's label (runs go label by label)
            k = np.arange(ranking.size) - ranking.bounds[label]
            segment[seg_start[label] + k * t_count + t] = ranking.run_segment
            for side, name in enumerate(("runs", "gaps")):
                counts = getattr(ranking, name).tocoo()
                row = self.start[label] + (k * 2 + side) * t_count + t
                found.append((row[counts.row], counts.col, counts.data))
        r, c, d = (np.concatenate([f[i] for f in found]).astype(np.int64 if i < 2 else np.float32) if found
                   else np.zeros(0, dtype=np.int64) for i in range(3))
        self.counts = sparse_counts(r, c, int(self.start[-1]), n_images, d)
        # the rows of a threshold's missing runs: its last run's segment, or the label's first
        for c in np.flatnonzero(self.size).tolist():
            block = segment[seg_start[c]:seg_start[c + 1]].reshape(-1, t_count)
            np.maximum.accumulate(block, axis=0, out=block)  # segments rise along the ranking
            block[block < 0] = steady.bounds[c]
        self.segment = segment
        self.segment_start = seg_start


#: The recall points at which COCO's comparison `recall >= point` differs from the exact one when recall is
#: exactly j / 100 (the point, np.linspace's, is one ulp above j / 100 there): see `_coco_steps`.
_POINT_ABOVE = np.array([RECALL_THRESHOLDS[j] > j / (RECALL_THRESHOLDS.size - 1)
                         for j in range(RECALL_THRESHOLDS.size)])
_STACK_CELLS = 1 << 20  # cells of one label's arrays at once (`_coco_label_ap`)


def _coco_steps(ctp: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """How many more recall points each run reaches than the one before it (the first: how many it
    reaches), where run k reaches the points <= recall = ctp[k] / n_gt (float64, as COCO divides), for
    whole counts ctp ((k, ...) float32 or float64, not modified) and n_gt >= 1: searchsorted(points, recall, 'right'),
    in a few passes: with whole numbers, 100 * ctp / n_gt is either a whole number j, exactly (then recall
    is j / 100 rounded, which reaches point j unless `_POINT_ABOVE[j]`), or at least 1 / n_gt away from
    one, far beyond rounding (so its floor is exact): floor(100 * ctp / n_gt) + 1 points."""
    scaled = np.multiply(ctp, RECALL_THRESHOLDS.size - 1, dtype=np.float64)  # exact: whole numbers below 2^53
    scaled /= n_gt
    count = np.floor(scaled)
    exact = np.flatnonzero(count == scaled)
    if exact.size:
        flat = count.reshape(-1)
        flat[exact] -= _POINT_ABOVE[flat[exact].astype(np.int64)]
    steps = scaled  # (no longer needed)
    np.subtract(count[1:], count[:-1], out=steps[1:])
    np.add(count[0], 1, out=steps[0])
    return steps


def _coco_label_ap(stacked: _StackedRuns, c: int, block: Block, n_gt: np.ndarray, before: np.ndarray,
                   first_segment: int, eps: float, parts: dict) -> np.ndarray:
    """(T, r) COCO 101-point AP of label c at every IoU threshold in every resample of `block` (n_gt: (r,)
    the label's weighted objects; NaN where 0); `before`: the steady false positives ranked before each
    segment (`_SteadyFalsePositives.before`, from segment `first_segment` on); `parts`: the block's column
    slices made so far (`_Slice`), reused by the next labels.

    Per threshold, run by run (`TruePositiveRanking`): precision = TP / ((TP + FP) + eps) as COCO
    computes it, its envelope (the running maximum from the last run up), and the recall points each run
    reaches first (`_coco_steps`): reading at a recall point p takes the first step of the ranking whose
    recall >= p, and every step of run k has the envelope of run k, so run k takes the points p with
    recall_{k-1} < p <= recall_k (the first run also the point 0; leading runs without weight have the
    envelope of the first weighted run, their own precision being 0, so the AP is the same). AP = the sum
    of points x envelope down the runs (in order: einsum adds row after row) / 101."""
    t_count = len(IOU_THRESHOLDS)
    k = int(stacked.size[c])
    r_all = len(block.w)
    ap = np.zeros((t_count, r_all))
    if k:
        counts = stacked.counts[int(stacked.start[c]):int(stacked.start[c + 1])]
        segment = stacked.segment[int(stacked.segment_start[c]):int(stacked.segment_start[c + 1])] - first_segment
        step = r_all
        while step > 1 and k * t_count * step > _STACK_CELLS:
            step = (step + 1) // 2
        for j0 in range(0, r_all, step):
            j1 = min(r_all, j0 + step)
            part = block if step == r_all else parts.get((j0, j1)) or parts.setdefault((j0, j1), _Slice(block, j0, j1))
            both = running(np.add, weighted_counts(counts, part).reshape(k, 2, t_count, -1))  # whole numbers: exact
            shape = (k, t_count, j1 - j0)
            total = both[:, 1]
            total += before[segment, j0:j1].reshape(shape)
            total += both[:, 0]
            ctp = both[:, 0]  # (whole numbers in float32 or float64: each use below turns them into float64)
            precision = np.add(total, eps, dtype=np.float64)  # (tp + fp) + eps, as COCO
            np.divide(ctp, precision, out=precision)
            envelope = running(np.maximum, precision, reverse=True)
            steps = _coco_steps(ctp, np.maximum(n_gt[j0:j1], 1.0, dtype=np.float64))
            ap[:, j0:j1] = np.einsum("ktr,ktr->tr", steps, envelope)
        ap /= len(RECALL_THRESHOLDS)
    return np.where(n_gt > 0, ap, np.nan)


class _Slice:
    """Resamples j0..j1-1 of a `Block` (its transpose's columns, contiguous for the sparse products)."""

    def __init__(self, block: Block, j0: int, j1: int):
        self.w = block.w[j0:j1]
        self.dtype = block.dtype
        self.t = np.ascontiguousarray(block.t[:, j0:j1])


def coco_resampled(evidence: CocoEvidence, n_images: int, n_labels: int, weights: np.ndarray,
                   threads: int = 2, spare: SpareCore | None = None) -> dict[str, np.ndarray]:
    """COCO AP@[.50:.95] (area all, maxDets 100), AP@.50 and AP@.75 on every resample, and per label
    ("label_coco_ap": (resamples, labels)): `coco_label_samples` and their means (`coco_means`)."""
    return coco_means(coco_label_samples(evidence, n_images, n_labels, weights, threads, spare))


def coco_means(samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`coco_resampled`'s values from the per-label ones of `coco_label_samples` (of all labels: those of label
    groups computed apart, e.g. on a Dask cluster, joined column by column first, `bootstrap.join_label_samples`)."""
    has_gt = samples["has_gt"]
    return {"coco.AP": macro_mean(samples["label_coco_ap"], has_gt, np.nan),
            **{name: masked_mean(samples[name], has_gt, np.nan) for name in _AT},
            "label_coco_ap": samples["label_coco_ap"]}


def label_evidence(evidence: CocoEvidence, k0: int, k1: int) -> CocoEvidence:
    """The evidence of labels k0..k1-1 only, as labels 0..k1-k0-1 (in the same order), its flags unpacked
    (`CocoEvidence.packed`): its `coco_label_samples` are columns k0..k1-1 of the whole evidence's, bit for
    bit (labels are independent)."""
    dt, dt_label = label_range(evidence.dt_label, k0, k1)
    gt, gt_label = label_range(evidence.gt_label, k0, k1)
    tp, ignored = evidence.flags(dt)
    return CocoEvidence(dt_image=rows_of(evidence.dt_image, dt), dt_label=dt_label, tp=tp, ignored=ignored,
                        gt_image=rows_of(evidence.gt_image, gt), gt_label=gt_label)


# The AP at one IoU threshold of `coco_resampled`, by name
_AT = {name: int(np.flatnonzero(np.isclose(IOU_THRESHOLDS, value))[0])
       for name, value in (("coco.AP50", 0.5), ("coco.AP75", 0.75))}


def coco_label_samples(evidence: CocoEvidence, n_images: int, n_labels: int, weights: np.ndarray,
                       threads: int = 2, spare: SpareCore | None = None) -> dict[str, np.ndarray]:
    """Per resample and label, (resamples, labels) arrays: COCO AP@[.50:.95] (area all, maxDets 100)
    ("label_coco_ap"), AP@.50 and AP@.75 ("coco.AP50", "coco.AP75": 0 without weighted ground truth) and
    whether the label has weighted ground truth ("has_gt"), from the COCO matching
    (`evalsite.metrics.coco.CocoEvidence`: the detections in accumulation order with their TP / ignored
    flags at each IoU threshold, and the counted ground truth).

    Per IoU threshold t, label c and resample: COCO's 101-point AP of the weighted ranking of the detections
    not ignored at t (`TruePositiveRanking` with the recall points); a label takes part when it has
    weighted ground truth. "coco.AP" = mean over those labels of the mean over t (= the mean of
    pycocotools' `precision[:, :, k, 0, 2]` entries > -1; the mean over t sums t = 0, 1, ... in order); NaN
    without any. Labels are taken a group at a time (`label_groups`), as in `detection_resampled`.

    The work is one unit per chunk of resamples and label (each filling its own cells of the per-label
    arrays), run on `threads` threads a chunk each, or with `threads` 1 one after the other, where a
    `spare` core offered meanwhile takes the second half of the units left in a forked helper
    (`core.parallel.run_units`): every value is computed by the same code either way."""
    e = evidence
    dt_image, dt_label, gt_image, gt_label = (np.asarray(a, dtype=np.int64) for a in
                                              (e.dt_image, e.dt_label, e.gt_image, e.gt_label))
    tp, ignored = np.asarray(e.tp, dtype=bool), np.asarray(e.ignored, dtype=bool)
    order = np.argsort(dt_label, kind="stable")  # (the evidence's order already)
    dt_image, dt_label, tp, ignored = dt_image[order], dt_label[order], tp[:, order], ignored[:, order]
    gt_counts = sparse_counts(gt_label, gt_image, n_labels, n_images)
    is_steady = ~tp.any(axis=0) & ~ignored.any(axis=0)  # a false positive at every threshold
    steady = _SteadyFalsePositives(dt_image, dt_label, is_steady, n_images, n_labels)
    rankings = []
    for t in range(IOU_THRESHOLDS.size):
        keep = ~ignored[t] & ~is_steady
        rankings.append(TruePositiveRanking(dt_image[keep], dt_label[keep], tp[t][keep], n_images, n_labels,
                                             segment=steady.segment[keep]))
    r_all, items = len(weights), len(dt_image) + len(gt_image)
    eps = np.spacing(1)
    stacked = _StackedRuns(rankings, steady, n_images, n_labels)
    width = max(n_images, n_labels)
    groups = label_groups(np.diff(steady.bounds) + 8, min(r_all, max(1, CELLS // width)))

    # per resample and label: AP (mean over t), AP at t for `at` (0 without ground truth), has ground truth
    forks = threads <= 1 and spare is not None
    new = shared_array if forks else np.zeros
    label_ap = new((r_all, n_labels), np.float64)
    at_t = {name: new((r_all, n_labels), np.float64) for name in _AT}
    has_gt = new((r_all, n_labels), np.bool_)

    def group_part(start: int, block: Block, k0: int, k1: int) -> tuple:
        """What the labels k0..k1-1 share in a chunk: (block, its start, (r, k1 - k0) weighted objects, the
        steady false positives before each segment, first segment, column slices)."""
        n_gt = weighted_counts(gt_counts[k0:k1], block).T
        s0 = int(steady.bounds[k0])
        return block, start, n_gt, steady.before(block, s0, int(steady.bounds[k1])), s0, {}

    def label_unit(part: tuple, c: int, k0: int) -> None:
        block, start, n_gt, before, s0, parts = part
        rows = slice(start, start + len(block.w))
        ap = _coco_label_ap(stacked, c, block, n_gt[:, c - k0], before, s0, eps, parts)
        has = has_gt[rows, c] = n_gt[:, c - k0] > 0
        for name, t in _AT.items():
            at_t[name][rows, c] = np.where(has, ap[t], 0.0)
        total = ap[0].copy()
        for t in range(1, len(ap)):
            total += ap[t]
        label_ap[rows, c] = total / len(ap)

    if threads > 1:
        def chunk(start: int, block: Block) -> None:
            for k0, k1 in groups:
                part = group_part(start, block, k0, k1)
                for c in range(k0, k1):
                    label_unit(part, c, k0)

        each_chunk(chunk, weights, width, threads, items)
    else:
        spans = chunk_spans(r_all, width)
        units = [(span, group, c) for span in range(len(spans)) for group, (k0, k1) in enumerate(groups)
                 for c in range(k0, k1)]
        made: dict = {}  # the (chunk, group) of the unit before, and its `group_part`

        def run(k: int) -> None:
            span, group, c = units[k]
            (start, stop), (k0, k1) = spans[span], groups[group]
            if made.get("key") != (span, group):
                block = made["block"] if made.get("span") == span else \
                    Block(weights[start:stop].astype(np.float64), items)
                made.update(key=(span, group), span=span, block=block, part=group_part(start, block, k0, k1))
            label_unit(made["part"], c, k0)

        run_units(run, [(spans[span][1] - spans[span][0]) * (int(stacked.size[c]) + 1) for span, _, c in units],
                  spare)
    own = np.array if forks else np.asarray  # (memory shared with a helper: copied out of it)
    return {"label_coco_ap": own(label_ap), **{name: own(at_t[name]) for name in _AT}, "has_gt": own(has_gt)}
