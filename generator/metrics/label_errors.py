"""Likely annotation mistakes: which errors look more like a wrong label than a wrong model.

Pure functions over arrays; the report builders store the result on each error (`suspect`, `suspicion`,
`suspect_threshold`). Every rule compares a score only with scores of the same report, so it holds for any
score scale (probabilities, logits, decision values).

Classification (confident learning, Northcutt et al. 2021, with the mean self-confidence as the per-label
threshold):

* self-confidence of an image = the model's score for its given (annotated) label. With top-k lists only,
  a given label outside the list has no score: the lowest listed score stands in (an upper bound of the
  self-confidence, so the margin below is a lower bound).
* t_j = the mean self-confidence over the images annotated j (only images whose given label was scored).
* An image is suspected ("confident_other_label") when the model's top-1 label j differs from the given
  label, its top-1 score is >= t_j (the model is as sure it is a j as it is, on average, about the images
  annotated j), and the margin (top-1 score minus self-confidence) is > 0. Suspicion = the margin; the
  largest margins come first. Labels never annotated have no t_j: their predictions are never flagged.

Detection and segmentation, on the errors at the report's threshold t*:

* s_c = the median score of the true positives of label c at t* (all labels' true positives when c has
  none; nothing is flagged when there are no true positives at all). It is >= t*.
* "missing_annotation": a false positive of type background (IoU < 0.1 with every ground-truth object of
  any label) of label c with score >= s_c: the model is as sure as it usually is when right, and nothing
  is annotated there. Suspicion = its score.
* "swapped_label": a false positive of type wrong_label (IoU >= the report's IoU threshold with an object
  of another label) of label c with score >= s_c: the box is right and the model is sure, the labels
  differ. Suspicion = its score.
* "spurious_annotation": a missed object of type no_detection whose box IoU with every prediction of any
  label, at any score (below t* too), is < 0.1, of a label whose recall at t* is >= 0.5 (the model
  usually finds this label, and here it did not even put a low-score box near it). Suspicion = that
  recall; ties: larger objects first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsite.core.enums import SuspectReason

NEAR_IOU = 0.1  # a prediction with box IoU >= this is "near" a ground-truth object
MIN_RECALL = 0.5  # spurious_annotation: the label's recall at t* must be at least this
REASONS = tuple(r.value for r in SuspectReason)  # the reasons in the order the pages list them (core.enums)


@dataclass
class ClassificationSuspects:
    flagged: np.ndarray  # (n,) bool
    suspicion: np.ndarray  # (n,) float: margin = top-1 score - self-confidence (NaN without a prediction)
    self_confidence: np.ndarray  # (n,) float: score of the given label (lowest listed score if not listed)
    thresholds: np.ndarray  # (L,) float: t_j, NaN where undefined
    order: np.ndarray  # indices of the flagged images, most suspicious first (ties: image order)


def classification_suspects(y_true: np.ndarray, ranked: np.ndarray, ranked_scores: np.ndarray, n_labels: int,
                            scores: np.ndarray | None = None) -> ClassificationSuspects:
    """Suspected label errors of a classification (see the module docstring).

    y_true (n,) label indices; ranked / ranked_scores (n, K) the ranking, best first, -1 / NaN padding;
    scores (n, L) the full score matrix when there is one (NaN: no score for that label)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    ranked = np.asarray(ranked, dtype=np.int64).reshape(len(y_true), -1)
    ranked_scores = np.asarray(ranked_scores, dtype=float).reshape(len(y_true), -1)
    n = len(y_true)
    rows = np.arange(n)
    listed = ranked == y_true[:, None]
    in_list = listed.any(axis=1)
    if scores is not None:
        full = np.asarray(scores, dtype=float).reshape(n, -1)
        own = full[rows, y_true] if n else np.zeros(0)
        exact = ~np.isnan(own)
        lowest = np.nanmin(np.where(np.isnan(full), np.inf, full), axis=1) if n else np.zeros(0)
    else:
        own = np.where(in_list, ranked_scores[rows, np.argmax(listed, axis=1)] if n else np.zeros(0), np.nan)
        exact = in_list
        lowest = np.nanmin(np.where(np.isnan(ranked_scores), np.inf, ranked_scores), axis=1) if n else np.zeros(0)
    self_confidence = np.where(exact, own, np.where(np.isfinite(lowest), lowest, np.nan))
    sums = np.bincount(y_true[exact], weights=own[exact], minlength=n_labels)[:n_labels]
    counts = np.bincount(y_true[exact], minlength=n_labels)[:n_labels]
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    top = ranked[:, 0] if ranked.shape[1] else np.full(n, -1)
    top_score = ranked_scores[:, 0] if ranked.shape[1] else np.full(n, np.nan)
    has = top >= 0
    with np.errstate(over="ignore"):  # scores of +-1e308 (finite, allowed): the difference is +-inf, still in order
        suspicion = np.where(has, top_score - self_confidence, np.nan)
    bar = np.where(has, thresholds[np.maximum(top, 0)] if n_labels else np.nan, np.nan)
    with np.errstate(invalid="ignore"):
        flagged = has & (top != y_true) & (top_score >= bar) & (suspicion > 0)
    flagged &= ~np.isnan(bar)
    index = np.flatnonzero(flagged)
    order = index[np.argsort(-suspicion[index], kind="stable")]
    return ClassificationSuspects(flagged=flagged, suspicion=suspicion, self_confidence=self_confidence,
                                  thresholds=thresholds, order=order)


def score_thresholds(tp_label: np.ndarray, tp_score: np.ndarray, n_labels: int) -> np.ndarray:
    """s_c per label: the median score of label c's true positives at t*; all true positives' median when
    c has none; NaN everywhere without any true positive."""
    tp_label = np.asarray(tp_label, dtype=np.int64)
    tp_score = np.asarray(tp_score, dtype=float)
    overall = float(np.median(tp_score)) if len(tp_score) else np.nan
    by_label = np.argsort(tp_label, kind="stable")  # each label's true positives in input order
    scores = tp_score[by_label]
    bounds = np.searchsorted(tp_label[by_label], np.arange(n_labels + 1))
    return np.array([float(np.median(scores[bounds[c]:bounds[c + 1]])) if bounds[c + 1] > bounds[c] else overall
                     for c in range(n_labels)])


#: (box, candidate) pairs per vectorised step of `max_ious` (bounds its temporaries to a few tens of MB)
_PAIRS = 1 << 18


def max_ious(boxes: np.ndarray, candidates: np.ndarray, bounds: np.ndarray, group: np.ndarray,
             rows: np.ndarray | None = None) -> np.ndarray:
    """The largest IoU of each box k (x, y, w, h rows of `boxes`) with any of
    `candidates[bounds[group[k]]:bounds[group[k] + 1]]` (each group's candidates are consecutive rows), 0
    where that range is empty; a pair whose union is 0 has IoU 0. Vectorised over all pairs, a bounded number
    (_PAIRS) at a time. `rows`: the candidates are `candidates[rows]`, read a step at a time (no copy of them
    all)."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    candidates = np.asarray(candidates, dtype=float).reshape(-1, 4)
    group = np.asarray(group, dtype=np.int64)
    lo, hi = bounds[group], bounds[group + 1]
    counts = hi - lo
    out = np.zeros(len(boxes))
    ends = np.cumsum(counts)
    k0 = 0
    while k0 < len(boxes):  # boxes k0..k1-1 in one step, at most _PAIRS pairs (at least one box)
        k1 = max(k0 + 1, int(np.searchsorted(ends, (ends[k0 - 1] if k0 else 0) + _PAIRS, side="right")))
        n = counts[k0:k1]
        has = np.flatnonzero(n > 0) + k0
        if len(has):
            n = counts[has]
            owner = np.repeat(np.arange(len(has)), n)  # the pairs of each box, consecutive
            starts = np.cumsum(n) - n
            at = np.arange(int(n.sum())) - np.repeat(starts - lo[has], n)
            x, y, w, h = (boxes[has, j][owner] for j in range(4))
            b = candidates[at if rows is None else rows[at]]
            ix = np.clip(np.minimum(x + w, b[:, 0] + b[:, 2]) - np.maximum(x, b[:, 0]), 0, None)
            iy = np.clip(np.minimum(y + h, b[:, 1] + b[:, 3]) - np.maximum(y, b[:, 1]), 0, None)
            inter = ix * iy
            union = w * h + b[:, 2] * b[:, 3] - inter
            with np.errstate(invalid="ignore", divide="ignore"):
                iou = np.where(union > 0, inter / union, 0.0)
            out[has] = np.maximum.reduceat(iou, starts)
        k0 = k1
    return out


@dataclass
class BoxSuspect:
    reason: str
    suspicion: float
    threshold: float  # the bar passed: s_c for false positives, MIN_RECALL for missed objects


def box_suspect(kind: str, error_type: str, label: int, score: float | None, thresholds: np.ndarray,
                recall: float | None = None, near: float | None = None) -> BoxSuspect | None:
    """The reason an error (kind false_positive | missed, its type, its label index, the prediction's
    score) looks like an annotation mistake, or None. `thresholds` from `score_thresholds`; for missed
    objects `recall` is the label's recall at t* and `near` the largest box IoU with a prediction of any
    label at any score."""
    if kind == "false_positive" and error_type in ("background", "wrong_label") and score is not None:
        bar = float(thresholds[label])
        if not np.isnan(bar) and score >= bar:
            reason = "missing_annotation" if error_type == "background" else "swapped_label"
            return BoxSuspect(reason, float(score), bar)
    if (kind == "missed" and error_type == "no_detection" and recall is not None and recall >= MIN_RECALL
            and near is not None and near < NEAR_IOU):
        return BoxSuspect("spurious_annotation", float(recall), MIN_RECALL)
    return None


def suspect_order(reasons: list[str | None], suspicion: list[float | None], area: list[float]) -> list[int]:
    """Indices of the flagged items: by reason (REASONS order), then most suspicious, then largest area,
    then position."""
    flagged = [i for i, r in enumerate(reasons) if r is not None]
    return sorted(flagged, key=lambda i: (REASONS.index(reasons[i]), -(suspicion[i] or 0.0), -area[i], i))
