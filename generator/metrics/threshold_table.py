"""Precomputed tables for the threshold explorer (docs/metrics.md; docs/report/threshold-explorer.md).

From the report's evidence (every counted detection with its label, score and VOC match at IoU 0.5, and
every counted ground-truth object) this builds, per label, the cumulative TP and FP at every threshold of
a grid of scores, so that a page can show precision, recall, F1 and TP/FP/FN at a chosen threshold
without computing any match: at threshold t, label c counts the detections of c with score >= t.

The grid holds the distinct detection scores (descending). With more than `max_points` of them it is
thinned to `max_points` (always keeping the highest, the lowest and the `keep` scores, e.g. t*); the
numbers are exact at every grid score, and a page snaps a chosen threshold up to the next grid score.
Each label lists only the grid scores where its counts change (at most the grid's size), as indices into
the grid. The grid is coarser when there are many labels: all labels' entries together stay under
MAX_ENTRIES (thresholds.js within the 2 MB budget of a page's data, docs/scale.md).
"""

from __future__ import annotations

import math

import numpy as np

MAX_THRESHOLDS = 500
MAX_ENTRIES = 100_000  # per-label entries in all (about 14 bytes each in thresholds.js: the 2 MB data budget)


def _thin(scores: np.ndarray, max_points: int, keep: list[float]) -> np.ndarray:
    """At most max_points of the descending distinct `scores` (first, last and `keep` among them)."""
    n = len(scores)
    if n <= max_points:
        return scores
    wanted = [s for s in keep if s is not None and np.isfinite(s) and s in set(scores.tolist())]
    room = max(max_points - len(wanted), 2)
    idx = np.unique(np.rint(np.linspace(0, n - 1, room)).astype(np.int64))
    chosen = np.unique(np.concatenate([scores[idx], np.asarray(wanted, dtype=np.float64)]))
    return chosen[::-1]


def _entries(lab: np.ndarray, score: np.ndarray, hit: np.ndarray, grid: np.ndarray):
    """Per (label, grid index) where a label's counts change: the label, the grid index and the cumulative
    TP and FP of the label at that grid score, sorted by label then grid index (score descending)."""
    # A detection counts from the lowest grid score <= its score on: grid index i (grid descending).
    ascending = grid[::-1]
    bucket = len(grid) - np.searchsorted(ascending, score, side="right")
    order = np.lexsort((bucket, lab))
    lab, bucket, hit = lab[order], bucket[order], hit[order]
    last = np.append((lab[1:] != lab[:-1]) | (bucket[1:] != bucket[:-1]), True) if len(lab) else np.zeros(0, bool)
    tp, fp = np.cumsum(hit), np.cumsum(~hit)
    first_of_label = np.append(True, lab[1:] != lab[:-1]) if len(lab) else np.zeros(0, bool)
    # Cumulative counts restart at each label: subtract the counts before the label's first detection.
    before = np.maximum.accumulate(np.where(first_of_label, np.arange(len(lab)), 0))
    tp_before = np.where(before > 0, tp[before - 1], 0)
    fp_before = np.where(before > 0, fp[before - 1], 0)
    return lab[last], bucket[last], (tp - tp_before)[last], (fp - fp_before)[last]


def threshold_table(dt_label, dt_score, dt_tp, gt_label, n_labels: int, *, keep: list[float] | None = None,
                    max_points: int = MAX_THRESHOLDS, max_entries: int = MAX_ENTRIES) -> dict:
    """{"thresholds": descending grid, "complete": the grid holds every distinct score,
    "labels": per label {"n_gt", "in_mean", "at", "tp", "fp"}}: tp[i], fp[i] = the label's TP and FP
    at threshold thresholds[at[i]] (at ascending: score descending; only where the label's counts change).
    in_mean: the label counts in the mean F1 (it has counted ground truth or counted detections).
    The grid is halved until the entries of all labels together are at most `max_entries` (the size of the
    page's data: thousands of labels share a coarser grid)."""
    lab = np.asarray(dt_label, dtype=np.int64).reshape(-1)
    score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    hit = np.asarray(dt_tp, dtype=np.int64).reshape(-1) > 0
    n_gt = np.bincount(np.asarray(gt_label, dtype=np.int64).reshape(-1), minlength=n_labels)[:n_labels]
    n_dt = np.bincount(lab, minlength=n_labels)[:n_labels]
    distinct = np.unique(score)[::-1]
    while True:
        grid = _thin(distinct, max_points, list(keep or []))
        e_lab, e_at, e_tp, e_fp = _entries(lab, score, hit, grid)
        if len(e_lab) <= max_entries or max_points <= 2:
            break
        max_points //= 2
    cut = np.searchsorted(e_lab, np.arange(1, n_labels))
    labels = [{"n_gt": int(n_gt[c]), "in_mean": bool(n_gt[c] > 0 or n_dt[c] > 0), "at": at.tolist(),
               "tp": tp.tolist(), "fp": fp.tolist()}
              for c, (at, tp, fp) in enumerate(zip(np.split(e_at, cut), np.split(e_tp, cut), np.split(e_fp, cut)))]
    return {"thresholds": grid.tolist(), "complete": bool(len(grid) == len(distinct)), "labels": labels}


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def counts_at(table: dict, t: float, label: int | None = None) -> dict:
    """What the explorer shows at threshold t (overall, or for one label), from the table alone.
    A threshold between grid scores counts like the next grid score above it (exact when complete)."""
    grid = table["thresholds"]
    above = [g for g in grid if g >= t]
    g = min(above) if above else math.inf
    rows = []
    for c, entry in enumerate(table["labels"]):
        k = sum(1 for i in entry["at"] if grid[i] >= g)
        tp = entry["tp"][k - 1] if k else 0
        fp = entry["fp"][k - 1] if k else 0
        rows.append((c, tp, fp, entry["n_gt"] - tp, entry["in_mean"]))
    if label is not None:
        _, tp, fp, fn, _ = rows[label]
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    else:
        tp, fp, fn = (sum(r[i] for r in rows) for i in (1, 2, 3))
        counted = [_ratio(2 * r[1], 2 * r[1] + r[2] + r[3]) for r in rows if r[4]]
        f1 = sum(counted) / len(counted) if counted else 0.0
    return {"threshold": g, "tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn), "f1": f1}
