"""Precomputed tables for the threshold explorer (docs/metrics.md; docs/report/threshold-explorer.md).

From the report's evidence (every counted detection with its label, score and VOC match at IoU 0.5, and
every counted ground-truth object) this builds, per label, the cumulative TP and FP at every threshold of
a grid of scores, so that a page can show precision, recall, F1 and TP/FP/FN at a chosen threshold
without computing any match: at threshold t, label c counts the detections of c with score >= t.

The grid holds the distinct detection scores (descending). With more than `max_points` of them it is
thinned to `max_points` (always keeping the highest, the lowest and the `keep` scores, e.g. t*); the
numbers are exact at every grid score, and a page snaps a chosen threshold up to the next grid score.
Each label lists only the grid scores where its counts change (at most the grid's size).
"""

from __future__ import annotations

import math

import numpy as np

MAX_THRESHOLDS = 500


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


def threshold_table(dt_label, dt_score, dt_tp, gt_label, n_labels: int, *, keep: list[float] | None = None,
                    max_points: int = MAX_THRESHOLDS) -> dict:
    """{"thresholds": descending grid, "complete": the grid holds every distinct score,
    "labels": per label {"n_gt", "in_mean", "score", "tp", "fp"}}: tp[i], fp[i] = the label's TP and FP
    at threshold score[i] (score descending, a subset of the grid: where the label's counts change).
    in_mean: the label counts in the mean F1 (it has counted ground truth or counted detections)."""
    lab = np.asarray(dt_label, dtype=np.int64).reshape(-1)
    score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    hit = np.asarray(dt_tp, dtype=np.int64).reshape(-1) > 0
    n_gt = np.bincount(np.asarray(gt_label, dtype=np.int64).reshape(-1), minlength=n_labels)[:n_labels]
    n_dt = np.bincount(lab, minlength=n_labels)[:n_labels]
    distinct = np.unique(score)[::-1]
    grid = _thin(distinct, max_points, list(keep or []))
    labels = []
    by_label = np.argsort(lab, kind="stable")  # each label's detections in input order, labels in a row
    bounds = np.searchsorted(lab[by_label], np.arange(n_labels + 1))
    for c in range(n_labels):
        mine = by_label[bounds[c]:bounds[c + 1]]
        s = np.sort(score[mine])[::-1]
        order = np.argsort(-score[mine], kind="stable")
        h = hit[mine][order]
        ctp, cfp = np.cumsum(h), np.cumsum(~h)
        # Counts at each grid score g: the detections of c with score >= g.
        n_above = len(s) - np.searchsorted(s[::-1], grid, side="left")
        changes = np.flatnonzero(np.diff(np.concatenate([[0], n_above])) > 0)
        at = n_above[changes] - 1
        labels.append({"n_gt": int(n_gt[c]), "in_mean": bool(n_gt[c] > 0 or n_dt[c] > 0),
                       "score": grid[changes].tolist(), "tp": ctp[at].astype(int).tolist(),
                       "fp": cfp[at].astype(int).tolist()})
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
        k = sum(1 for s in entry["score"] if s >= g)
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
