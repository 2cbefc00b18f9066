"""The image-level bootstrap: headline metrics recomputed on resampled evaluation sets, without re-running
the evaluation.

Definitions:

* A resample draws n images with replacement from the n evaluation images (seeded). It is given by
  weights: `weights[r, i]` = how many times image i was drawn in resample r (each row sums to n).
* A metric on a resample is the metric of the evaluation set made of those images, each as many times as
  drawn. Per-image results (a classification image's true and predicted label; a detection's image,
  label, score and TP/FP outcome, and the counted objects of each image) do not change when images are
  repeated, because matching never crosses images; so every metric is a function of weighted per-image
  counts, computed here for all resamples at once.
* Paired bootstrap of a difference: both models' metrics on the *same* resamples; the interval of
  `candidate - base` is the 2.5th to 97.5th percentile of the resampled differences (percentile method).
  "better" when the whole interval is above 0, "worse" when below 0, else "within noise".

Score ties across images are broken by image order as in the full evaluation (a weighted detection is one
step of the ranking, which gives the same AP as its copies: consecutive copies of a TP raise precision,
so the precision envelope is the same at each).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from evalsite.metrics.arrays import index_array, label_rows, rows_of

RESAMPLES = 1000
SEED = 0
CELLS = 4_000_000  # resample x item cells per vectorised chunk (bounds the temporaries)
#: Bytes of the arrays of one label group inside a chunk of resamples (`label_groups`; at least one label).
LABEL_BUDGET = 64 << 20
_FLOAT32_EXACT = 2 ** 24  # float32 holds every integer below this exactly (see Block)
#: The dtype of `resample_weights`' counts (see there); memory filled by others (`out`) takes it too.
WEIGHT_DTYPE = np.dtype(np.uint8)


def resample_weights(n_images: int, resamples: int = RESAMPLES, seed: int = SEED,
                     out: np.ndarray | None = None) -> np.ndarray:
    """(resamples, n_images) counts: how many times each image is drawn in each resample (each row: n_images
    draws with replacement, `numpy.random.default_rng(seed).integers`, one row after the other).

    The counts are `WEIGHT_DTYPE`, uint8 (one byte per image and resample: 200 MB, not 1.6 GB, at 200,000
    images): a count is at most n_images, and one above 255 has a probability below n_images / 256! (about
    1e-500), so it is an OverflowError, not a quiet wrap. `out`: a (resamples, n_images) array to fill
    instead (e.g. memory another process shares, of `WEIGHT_DTYPE`). Every user turns a block of rows into
    float64 (`_chunks`), so the dtype changes no number."""
    if out is None:
        out = np.empty((resamples, n_images), dtype=WEIGHT_DTYPE)
    if n_images == 0:
        return out
    rng = np.random.default_rng(seed)  # one call per row draws the same stream as one call for all rows
    for row in range(resamples):
        counts = np.bincount(rng.integers(0, n_images, size=n_images, dtype=np.int64), minlength=n_images)
        if int(counts.max()) > np.iinfo(out.dtype).max:
            raise OverflowError(f"an image drawn {int(counts.max())} times does not fit {out.dtype}")
        out[row] = counts
    return out


def chunk_spans(resamples: int, width: int) -> list[tuple[int, int]]:
    """The resamples [start, stop) of each chunk, for arrays of `width` items per resample (`CELLS`)."""
    step = max(1, CELLS // max(1, width))
    return [(start, min(resamples, start + step)) for start in range(0, resamples, step)]


def _chunks(weights: np.ndarray, width: int):
    for start, stop in chunk_spans(len(weights), width):
        yield start, weights[start:stop].astype(np.float64)


def each_chunk(fn, weights: np.ndarray, width: int, threads: int, items: int) -> None:
    """fn(start, block) for every chunk of resamples (a `Block` over `items` counted things); numpy and
    scipy release the GIL, so with `threads` > 1 that many chunks run at once (each fills its own rows of
    the outputs)."""
    if threads <= 1:
        for start, w in _chunks(weights, width):
            fn(start, Block(w, items))
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda item: fn(item[0], Block(item[1], items)), _chunks(weights, width)))


class Block:
    """One chunk of resamples: `w` (r, n_images) float64, and its transpose for the sparse products.

    Every weighted count here (a sum over at most `items` counted things: detections, objects, images,
    each drawn at most max(w) times; or twice that, where two counts are added or one is doubled) is an
    integer. Below 2^24 float32 holds every integer exactly, so while 2 * items * max(w) stays below it,
    the counts and all their partial sums are kept in float32: the same numbers as in float64, with half
    the memory traffic (the sparse products run about 3.5x faster). Ratios are taken in float64."""

    def __init__(self, w: np.ndarray, items: int):
        self.w = w
        self.dtype = np.float32 if 2 * items * (float(w.max()) if w.size else 0.0) < _FLOAT32_EXACT else np.float64
        self.t = np.ascontiguousarray(w.T, dtype=self.dtype)


def weighted_counts(counts, block: Block) -> np.ndarray:
    """(rows, r): sparse counts (rows, n_images) times the block's weights, per resample, in the block's
    dtype."""
    if not counts.nnz:
        return np.zeros((counts.shape[0], block.t.shape[1]), dtype=block.dtype)
    return np.asarray(counts.astype(block.dtype, copy=False) @ block.t)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den in float64 (counts may come in float32: see `Block`), 0 where den is 0."""
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(np.shape(num), np.shape(den))), where=den > 0,
                     dtype=np.float64)


def macro_mean(values: np.ndarray, present: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """Per row: the mean of `values` over the `present` columns (`empty` when there is none)."""
    return masked_mean(np.where(present, values, 0.0), present, empty)


def masked_mean(masked: np.ndarray, present: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """`macro_mean` of values already set to 0 where not `present`."""
    count = present.sum(axis=1)
    return np.divide(masked.sum(axis=1), count, out=np.full(len(masked), empty), where=count > 0)


def label_groups(cost: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """Consecutive label ranges [k0, k1) whose arrays fit `LABEL_BUDGET` with `rows` resamples: label c
    needs `cost[c]` float64 rows of `rows` values. Each range holds at least one label.

    Labels are independent of each other (a label's numbers come from its own detections and objects), so
    the groups change no number: the macro means over labels are taken once all groups are done, over the
    same values in the same order."""
    cells = max(1, LABEL_BUDGET // (8 * max(rows, 1)))
    total = np.cumsum(cost)
    groups, k0 = [], 0
    while k0 < len(cost):
        k1 = max(k0 + 1, int(np.searchsorted(total, (total[k0 - 1] if k0 else 0) + cells, side="right")))
        groups.append((k0, k1))
        k0 = k1
    return groups


# ------------------------------------------------------------------------------------------ classification

def classification_resampled(true: np.ndarray, predicted: np.ndarray, true_rank: np.ndarray, n_labels: int,
                             weights: np.ndarray) -> dict[str, np.ndarray]:
    """accuracy, macro precision / recall / F1 and top1..top5 (k < n_labels) on every resample, and per
    label ("label_precision", "label_recall", "label_f1": (resamples, labels); recall NaN where the label
    has no image in the resample, F1 NaN where it is neither true nor predicted).

    true: (n,) label index; predicted: (n,) top-1 label index, -1 for an image without a prediction;
    true_rank: (n,) 1-based rank of the true label among the scores, 0 when not ranked. The definitions are
    those of the report (scikit-learn's, zero_division=0, macro over the labels that occur among the true
    or the predicted labels of the resample)."""
    true, predicted, true_rank = (np.asarray(a, dtype=np.int64) for a in (true, predicted, true_rank))
    n = len(true)
    rows = np.arange(n)
    has_pred = predicted >= 0
    hit = true == predicted
    a_true = sparse_counts(true, rows, n_labels, n)
    a_pred = sparse_counts(predicted[has_pred], rows[has_pred], n_labels, n)
    a_hit = sparse_counts(true[hit], rows[hit], n_labels, n)
    correct = hit.astype(np.float64)
    ks = [k for k in range(1, 6) if k < n_labels]
    hits = np.stack([((true_rank >= 1) & (true_rank <= k)).astype(np.float64) for k in ks], axis=1) \
        if ks else np.zeros((n, 0))
    out = {name: np.zeros(len(weights)) for name in ("accuracy", "precision", "recall", "f1", *(f"top{k}" for k in ks))}
    out.update({name: np.zeros((len(weights), n_labels)) for name in ("label_precision", "label_recall", "label_f1")})
    for start, w in _chunks(weights, max(n, n_labels)):
        stop = start + len(w)
        total = w.sum(axis=1)
        out["accuracy"][start:stop] = _ratio(w @ correct, total)
        block = Block(w, n)
        tp, support, pred = (weighted_counts(m, block).T for m in (a_hit, a_true, a_pred))  # (r, L) each
        present = (support + pred) > 0
        out["precision"][start:stop] = macro_mean(_ratio(tp, pred), present)
        out["recall"][start:stop] = macro_mean(_ratio(tp, support), present)
        out["f1"][start:stop] = macro_mean(_ratio(2 * tp, pred + support), present)
        out["label_precision"][start:stop] = _ratio(tp, pred)
        out["label_recall"][start:stop] = np.where(support > 0, _ratio(tp, support), np.nan)
        out["label_f1"][start:stop] = np.where(present, _ratio(2 * tp, pred + support), np.nan)
        top = w @ hits
        for j, k in enumerate(ks):
            out[f"top{k}"][start:stop] = _ratio(top[:, j], total)
    return out


# ----------------------------------------------------------------------------------------------- detection

def detection_resampled(dt_image, dt_label, dt_score, dt_tp, gt_image, gt_label, n_images: int, n_labels: int,
                        threshold: float | None, weights: np.ndarray, threads: int = 2) -> dict[str, np.ndarray]:
    """mAP50 (VOC all-point) and precision / recall / F1 at the fixed threshold `threshold` (the report's
    t*) on every resample, from the report's evidence: the counted detections in descending score order
    (ties in file order) with their TP/FP outcome, and the counted ground truth.

    Per label c and resample: n_gt = weighted counted objects; AP = all-point interpolated AP of the
    weighted ranking (NaN when n_gt = 0; mAP is the mean over labels with n_gt > 0, NaN without any).
    At t: TP_c, FP_c = weighted detections with score >= t; precision = ΣTP / Σ(TP+FP), recall =
    ΣTP / Σn_gt, F1 = mean over labels with ground truth or predictions of 2TP / (2TP + FP + FN).
    Also per label ("label_ap50", "label_precision", "label_recall", "label_f1": (resamples, labels)).
    Labels are taken a group at a time (`label_groups`): the temporaries stay within `LABEL_BUDGET` per
    chunk of resamples, whatever the number of labels.

    AP needs the precision at true positives only (after a false positive precision only falls, so the
    precision envelope's maxima lie at true positives): each true positive's precision is its weighted
    rank among true positives over that plus the weighted false positives ranked before it. The false
    positives between two true positives of a label are summed per resample with one sparse product, so
    the cost grows with the true positives, not with the (often far more numerous) false positives.

    The values are `detection_means` of `detection_label_samples`.
    """
    return detection_means(detection_label_samples(dt_image, dt_label, dt_score, dt_tp, gt_image, gt_label,
                                                   n_images, n_labels, threshold, weights, threads))


def detection_label_samples(dt_image, dt_label, dt_score, dt_tp, gt_image, gt_label, n_images: int,
                            n_labels: int, threshold: float | None, weights: np.ndarray,
                            threads: int = 2) -> dict[str, np.ndarray]:
    """`detection_resampled`'s per-label values, (resamples, labels) each: "label_ap50", "label_precision",
    "label_recall" (NaN where the label has no weighted object), "label_f1" (NaN where it has neither
    objects nor detections at t); and "sums", (resamples, 3): the weighted TP, TP + FP and objects at t
    summed over the labels. The sums are whole numbers (see `Block`), so those of label groups computed
    apart (e.g. on a Dask cluster) add up to the whole set's exactly."""
    # (int32 as the report holds them, `held_indices`: indices only, compared and looked up, never multiplied)
    dt_image, dt_label, gt_image, gt_label = (index_array(a) for a in (dt_image, dt_label, gt_image, gt_label))
    dt_score = np.asarray(dt_score, dtype=np.float64)
    dt_tp = np.asarray(dt_tp, dtype=np.int64) > 0
    above = dt_score >= threshold if threshold is not None else np.zeros(len(dt_score), dtype=bool)
    # per image and label: counted objects, and TP / FP at t (sparse: most images hold few labels)
    gt_counts = sparse_counts(gt_label, gt_image, n_labels, n_images)
    tp_at = sparse_counts(dt_label[above & dt_tp], dt_image[above & dt_tp], n_labels, n_images)
    fp_at = sparse_counts(dt_label[above & ~dt_tp], dt_image[above & ~dt_tp], n_labels, n_images)
    ranking = TruePositiveRanking(dt_image, dt_label, dt_tp, n_images, n_labels)
    r_all = len(weights)
    out = {name: np.zeros((r_all, n_labels)) for name in
           ("label_ap50", "label_precision", "label_recall", "label_f1")}
    out["sums"] = np.zeros((r_all, 3))
    width = max(ranking.size, n_images, n_labels)
    groups = label_groups(2 * np.diff(ranking.bounds) + 8, min(r_all, max(1, CELLS // width)))

    def chunk(start: int, block: Block) -> None:  # fills rows start.. of `out` (disjoint per chunk)
        stop = start + len(block.w)
        rows = slice(start, stop)
        # whole counts (integers, exact in any order: see Block): sum of TP, of TP + FP, of n_gt
        sums = out["sums"][rows]
        for k0, k1 in groups:
            n_gt, tp_c, fp_c = (weighted_counts(m[k0:k1], block).T for m in (gt_counts, tp_at, fp_at))  # (r, labels)
            sums[:, 0] += tp_c.sum(axis=1)
            sums[:, 1] += (tp_c + fp_c).sum(axis=1)
            sums[:, 2] += n_gt.sum(axis=1)
            p = (n_gt + tp_c + fp_c) > 0
            g = n_gt > 0
            out["label_ap50"][rows, k0:k1] = ranking.average_precision(block, n_gt, k0)
            out["label_precision"][rows, k0:k1] = _ratio(tp_c, tp_c + fp_c)
            out["label_recall"][rows, k0:k1] = np.where(g, _ratio(tp_c, n_gt), np.nan)
            out["label_f1"][rows, k0:k1] = np.where(p, _ratio(2 * tp_c, tp_c + fp_c + n_gt), np.nan)

    each_chunk(chunk, weights, width, threads, len(dt_tp) + len(gt_image))
    return out


def detection_means(samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`detection_resampled`'s values from `detection_label_samples` (of all labels: those of label groups
    computed apart joined column by column, their "sums" added, `join_label_samples`): mAP50 = the mean
    of label_ap50 over the labels with objects (NaN without any), precision = ΣTP / Σ(TP + FP), recall =
    ΣTP / Σobjects, F1 = the mean of label_f1 over the labels with objects or detections at t (NaN exactly
    where a label has neither), and the per-label arrays."""
    sums, label_f1 = samples["sums"], samples["label_f1"]
    return {"mAP50": macro_mean(samples["label_ap50"], ~np.isnan(samples["label_recall"]), np.nan),
            "precision": _ratio(sums[:, 0], sums[:, 1]), "recall": _ratio(sums[:, 0], sums[:, 2]),
            "f1": macro_mean(label_f1, ~np.isnan(label_f1)),
            **{name: samples[name] for name in ("label_ap50", "label_precision", "label_recall", "label_f1")}}


def join_label_samples(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The per-label samples (`detection_label_samples`, `coco_label_samples`: (resamples, labels) arrays) of
    consecutive label groups as those of all their labels: side by side, and "sums" added (whole numbers:
    exact in any order)."""
    joined = {name: np.concatenate([part[name] for part in parts], axis=1) for name in parts[0] if name != "sums"}
    if "sums" in parts[0]:
        joined["sums"] = np.add.reduce([part["sums"] for part in parts])
    return joined


def label_range(labels, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
    """(the rows of `labels` in k0..k1-1, ascending; those labels renumbered from 0): how a label group's
    evidence is cut from the whole's (`label_columns`, `coco_bootstrap.label_evidence`). A column kept on disk
    is read a block at a time (`label_rows`), then its group's rows; an int32 column as held (`held_indices`)
    is not copied whole for each group."""
    rows = label_rows(labels, k0, k1)
    return rows, index_array(rows_of(labels, rows)) - k0


def label_columns(dt_image, dt_label, dt_score, dt_tp, gt_image, gt_label, k0: int, k1: int) -> tuple:
    """The evidence columns (`detection_label_samples`' first six arguments) of labels k0..k1-1 only, as
    labels 0..k1-k0-1, in the same order: its per-label samples are columns k0..k1-1 of the whole's."""
    dt, dt_label = label_range(dt_label, k0, k1)
    gt, gt_label = label_range(gt_label, k0, k1)
    return (rows_of(dt_image, dt), dt_label, rows_of(dt_score, dt), rows_of(dt_tp, dt), rows_of(gt_image, gt),
            gt_label)


def sparse_counts(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, counts: np.ndarray | None = None):
    """(n_rows, n_cols) sparse counts of the (rows[k], cols[k]) pairs, each `counts[k]` times (default 1)
    (float32: see `Block`)."""
    from scipy import sparse

    data = np.ones(len(rows), dtype=np.float32) if counts is None else counts.astype(np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(n_rows, n_cols))


class TruePositiveRanking:
    """The true positives of every label in ranking order, grouped into runs (consecutive true positives of
    a label, no false positive between them), and which images' false positives rank before each run (see
    `detection_resampled`).

    Within a run precision only rises (each step adds the same weight above and below the fraction line),
    so the precision envelope is the same at every true positive of a run: a run is one step of the
    ranking, of its summed weight, at its precision after its last true positive."""

    def __init__(self, image: np.ndarray, label: np.ndarray, tp: np.ndarray, n_images: int, n_labels: int,
                 segment: np.ndarray | None = None):
        """`segment`: for rankings that leave out false positives counted elsewhere (`_SteadyFalsePositives`),
        each item's segment; a run never spans two (a left-out false positive lies between them)."""
        order = np.argsort(label, kind="stable")  # by label; ranking order kept inside each label
        image, label, tp = image[order], label[order], tp[order]
        joined = np.r_[False, tp[:-1] & (label[1:] == label[:-1])]  # a TP right after a TP of its label
        if segment is not None:
            segment = segment[order]
            joined[1:] &= segment[1:] == segment[:-1]
        starts = tp & ~joined  # a TP that opens a run
        run = np.cumsum(starts) - 1  # at a TP: its run; at a FP: the last run opened before it (any label)
        self.size = int(starts.sum())
        self.run_segment = None if segment is None else segment[starts]
        runs_per_label = np.bincount(label[starts], minlength=n_labels)
        self.bounds = np.concatenate(([0], np.cumsum(runs_per_label)))  # label c: runs bounds[c]:bounds[c+1]
        self.has_runs = runs_per_label > 0
        # the run a FP ranks before: the next run of its label, if there is one
        next_run = run + 1
        fp = np.flatnonzero(~tp & (next_run < self.bounds[label + 1]))
        self.runs = sparse_counts(run[tp], image[tp], self.size, n_images)
        self.gaps = sparse_counts(next_run[fp], image[fp], self.size, n_images)

    def average_precision(self, block: Block, n_gt: np.ndarray, first_label: int = 0) -> np.ndarray:
        """(r, l) all-point interpolated AP of labels first_label.. first_label + l - 1 (n_gt: (r, l)) in every
        resample (NaN where n_gt is 0). (COCO's 101-point AP: `_coco_label_ap`.)"""
        ap = np.zeros(n_gt.shape)
        k0 = first_label
        r0, r1 = int(self.bounds[k0]), int(self.bounds[k0 + n_gt.shape[1]])  # the labels' runs
        if r0 == r1:
            return np.where(n_gt > 0, ap, np.nan)
        # (runs, r): runs down the rows; running sums and maxima go row by row (`running`), label by label
        # (slices small enough to stay in cache)
        weight = weighted_counts(self.runs[r0:r1], block)  # each run's weighted true positives
        fp = weighted_counts(self.gaps[r0:r1], block)  # weighted FPs ranked right before each run
        for c in np.flatnonzero(self.has_runs[k0:k0 + n_gt.shape[1]]).tolist():
            a, b = int(self.bounds[k0 + c]) - r0, int(self.bounds[k0 + c + 1]) - r0
            wt = weight[a:b]
            ctp = running(np.add, wt.copy())
            total = running(np.add, fp[a:b])
            total += ctp
            envelope = running(np.maximum, _ratio(ctp, total), reverse=True)
            ap[:, c] = _ratio(np.einsum("ij,ij->j", wt, envelope), n_gt[:, c])
        return np.where(n_gt > 0, ap, np.nan)


def running(op, x: np.ndarray, restart: np.ndarray | None = None, reverse: bool = False) -> np.ndarray:
    """x[i] = op(x[i], x[i - 1]) down the rows, in place, except at the rows where `restart` is True (with
    `reverse`: x[i] = op(x[i], x[i + 1]) up from the last row). Row by row: numpy's accumulate along the
    first axis is about three times slower on these shapes."""
    rows = list(x[::-1] if reverse else x)  # views, made once
    if not rows:
        return x
    if restart is None:
        prev = rows[0]
        for row in rows[1:]:
            op(row, prev, out=row)
            prev = row
        return x
    prev = None
    for row, new in zip(rows, (restart[::-1] if reverse else restart).tolist()):
        if not new:
            op(row, prev, out=row)
        prev = row
    return x


# ------------------------------------------------------------------------------------------------ paired

def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """The central `level` interval of the resampled values (NaN, undefined resamples, left out)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float] | None:
    """Wilson score interval of a proportion successes / n (95% for the default z)."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


@dataclass
class PairedDifference:
    base: float | None  # the metric on the full evaluation set
    candidate: float | None
    difference: float | None  # candidate - base
    low: float | None  # 2.5th percentile of the resampled differences
    high: float | None  # 97.5th percentile
    verdict: str  # better | worse | within_noise | undefined


def paired_difference(base: float | None, candidate: float | None, base_resampled: np.ndarray,
                      candidate_resampled: np.ndarray) -> PairedDifference:
    if base is None or candidate is None:
        return PairedDifference(base, candidate, None, None, None, "undefined")
    interval = percentile_interval(np.asarray(candidate_resampled, dtype=np.float64)
                                   - np.asarray(base_resampled, dtype=np.float64))
    if interval is None:
        return PairedDifference(base, candidate, candidate - base, None, None, "undefined")
    low, high = interval
    verdict = "better" if low > 0 else "worse" if high < 0 else "within_noise"
    return PairedDifference(base, candidate, candidate - base, low, high, verdict)
