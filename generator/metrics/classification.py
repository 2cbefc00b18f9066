"""Classification metrics (docs/metrics.md), on integer label indices.

Conventions: labels are indices 0..L-1 into the task's label order; a prediction of -1 means "no prediction"
(an image without a prediction, which counts as wrong). Per-label precision, recall and F1 are scikit-learn's
`precision_recall_fscore_support` with `zero_division=0`, over the labels present in the ground truth or the
top-1 predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from evalsite.metrics.cells import Cells, count_cells

MAX_K = 5


def rank_from_scores(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best labels per row of an (n, L) score matrix, best first, and their scores.

    A higher score ranks higher; equal scores rank in label order (the first label wins a tie). NaN means
    "no score for this label": such labels rank last and come back as -1 (score NaN).
    """
    scores = np.asarray(scores, dtype=float)
    k = min(k, scores.shape[1])
    keyed = np.where(np.isnan(scores), -np.inf, scores)
    # A stable sort of the negated scores keeps label order among equal scores.
    order = np.argsort(-keyed, axis=1, kind="stable")[:, :k]
    top_scores = np.take_along_axis(scores, order, axis=1)
    ranked = np.where(np.isnan(top_scores), -1, order)
    return ranked.astype(np.int64), top_scores


def top_k_accuracy(y_true: np.ndarray, ranked: np.ndarray, k: int) -> float:
    """Share of rows whose true label is among the first k entries of its ranking (shorter lists: all)."""
    hits = (ranked[:, :k] == np.asarray(y_true)[:, None]).any(axis=1)
    return float(hits.mean())


def rank_of_true(y_true: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """1-based position of the true label in each ranking, 0 where it is not ranked."""
    match = ranked == np.asarray(y_true)[:, None]
    return np.where(match.any(axis=1), match.argmax(axis=1) + 1, 0)


@dataclass
class ClassificationMetrics:
    accuracy: float
    precision: float  # macro
    recall: float  # macro
    f1: float  # macro
    topk: dict[int, float | None]  # k -> top-k accuracy; None where k >= number of labels
    present: np.ndarray  # label indices that count (in ground truth or top-1 predictions), ascending
    per_label_precision: np.ndarray  # aligned on `present`
    per_label_recall: np.ndarray
    per_label_f1: np.ndarray
    per_label_support: np.ndarray
    per_label_predicted: np.ndarray  # how often each present label is the top-1 prediction
    confusion: Cells  # (len(present), len(present) + 1) counts; last column: no prediction


def evaluate_classification(y_true: np.ndarray, ranked: np.ndarray, n_labels: int) -> ClassificationMetrics:
    """All classification metrics from true labels and rankings (n, K>=1; -1 padding)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    ranked = np.asarray(ranked, dtype=np.int64)
    if y_true.ndim != 1 or ranked.ndim != 2 or len(y_true) != len(ranked) or len(y_true) == 0:
        raise ValueError("y_true must be (n,) and ranked (n, K) with n > 0")
    y_pred = ranked[:, 0]
    present = np.union1d(y_true, y_pred[y_pred >= 0])
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=present, zero_division=0)
    predicted = np.bincount(np.searchsorted(present, y_pred[y_pred >= 0]), minlength=len(present))
    # Rows: every present label; columns: the same labels, then "no prediction" (-1). Sparse: a dense
    # matrix would grow with labels² (evalsite.metrics.cells).
    column = np.where(y_pred >= 0, np.searchsorted(present, y_pred), len(present))
    confusion = count_cells(np.searchsorted(present, y_true), column, (len(present), len(present) + 1))
    topk = {k: (top_k_accuracy(y_true, ranked, k) if k < n_labels else None) for k in range(1, MAX_K + 1)}
    return ClassificationMetrics(
        accuracy=float((y_pred == y_true).mean()),
        precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean()),
        topk=topk, present=present,
        per_label_precision=precision, per_label_recall=recall, per_label_f1=f1,
        per_label_support=support.astype(np.int64), per_label_predicted=predicted,
        confusion=confusion,
    )
