"""Classification metrics (docs/metrics.md) checked against scikit-learn, the independent reference.

Conventions of the code under test: label indices 0..L-1; `ranked` is (n, K), best first, -1 padding; a
top-1 of -1 means "no prediction" (counts as wrong); equal scores: the first label in label order wins; a NaN
score means "no score" (ranks last and comes back as -1).

How the references are made independent of our implementation:
- accuracy and per-label metrics: scikit-learn on y_pred = np.argmax(scores) (numpy returns the first
  maximum, which is our tie rule without using our stable sort); "no prediction" is mapped to a dummy extra
  label that is left out of `labels=`.
- top-k: scikit-learn's `top_k_accuracy_score` lets the LATER label win a tie (mergesort, reversed), ours the
  EARLIER one. Reversing the column order (scores[:, ::-1], y' = L-1-y) turns sklearn's rule into ours.
- ranked lists (with -1 padding): turned into a score matrix with extra dummy labels that sit between the
  ranked labels and the unranked ones, so sklearn's top-k sees exactly the listed labels.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from evalsite.commands.evaluate import evaluate
from evalsite.manifest import spec_from_dict
from evalsite.metrics.cells import Cells, top_off_diagonal
from evalsite.metrics.classification import (
    MAX_K,
    evaluate_classification,
    rank_from_scores,
    rank_of_true,
    top_k_accuracy,
)

HYPOTHESIS = settings(max_examples=60, deadline=None, database=None)


# --------------------------------------------------------------------------------------------- references

def top_confused_pairs(counts: np.ndarray, limit: int = 20) -> list[tuple[int, int, int]]:
    """evalsite.metrics.cells.top_off_diagonal on the non-zero cells of a dense matrix."""
    rows, cols = np.nonzero(counts)
    return top_off_diagonal(Cells(rows, cols, counts[rows, cols], counts.shape), limit)


def argmax_prediction(scores: np.ndarray) -> np.ndarray:
    """Top-1 by numpy's argmax (first maximum wins); -1 for a row without any score."""
    scores = np.asarray(scores, dtype=float)
    filled = np.where(np.isnan(scores), -np.inf, scores)
    pred = np.argmax(filled, axis=1)
    return np.where(np.isnan(scores).all(axis=1), -1, pred)


def python_ranking(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain-Python ranking: sort by (-score, label index), NaN labels dropped, -1 / NaN padding."""
    n, n_labels = scores.shape
    width = min(k, n_labels)
    labels = np.full((n, width), -1, dtype=np.int64)
    values = np.full((n, width), np.nan)
    for i, row in enumerate(scores.tolist()):
        order = sorted((j for j in range(n_labels) if not math.isnan(row[j])), key=lambda j: (-row[j], j))
        for col, j in enumerate(order[:width]):
            labels[i, col] = j
            values[i, col] = row[j]
    return labels, values


def sklearn_label_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> dict:
    """scikit-learn's numbers; y_pred -1 (no prediction) becomes a dummy label that is not in labels=."""
    dummy = n_labels
    y_sk = np.where(y_pred < 0, dummy, y_pred)
    present = np.array(sorted(set(y_true.tolist()) | {p for p in y_pred.tolist() if p >= 0}), dtype=np.int64)
    p, r, f, s = precision_recall_fscore_support(y_true, y_sk, labels=present, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_sk, labels=present, average="macro",
                                                     zero_division=0)
    with_dummy = [*present.tolist(), dummy]
    counts = confusion_matrix(y_true, y_sk, labels=with_dummy)[:-1]  # the dummy row is empty
    normalised = confusion_matrix(y_true, y_sk, labels=with_dummy, normalize="true")[:-1]
    return dict(accuracy=accuracy_score(y_true, y_sk), present=present, precision=p, recall=r, f1=f,
                support=s, macro_precision=mp, macro_recall=mr, macro_f1=mf, confusion=counts,
                confusion_normalised=normalised)


def sklearn_topk_first_wins(y_true: np.ndarray, scores: np.ndarray, k: int) -> float:
    """sklearn's top-k accuracy under "first label wins a tie"; NaN = no score.

    A row whose true label has no score can never be a hit: it gets sample weight 0 (normalize=False, then
    divided by n). Other NaN scores are put below every real score, where they cannot change the true label's
    position.
    """
    n, n_labels = scores.shape
    valid = ~np.isnan(scores[np.arange(n), y_true])
    finite = scores[~np.isnan(scores)]
    low = (finite.min() if finite.size else 0.0) - 1.0
    filled = np.where(np.isnan(scores), low, scores)
    if n_labels == 2:
        # sklearn's binary form: a 1-d score, label 1 iff score > threshold (threshold 0 unless every score
        # lies in [0, 1], then 0.5; with values in {-2, 0, 2} both give the same answer). A tie (0) gives
        # label 0, the first label: already our rule, so no reversal here.
        assert k == 1
        y_score = 2.0 * np.sign(filled[:, 1] - filled[:, 0])
        hits = top_k_accuracy_score(y_true, y_score, k=1, labels=[0, 1], normalize=False,
                                    sample_weight=valid.astype(float))
    else:
        hits = top_k_accuracy_score(n_labels - 1 - y_true, filled[:, ::-1], k=k, labels=np.arange(n_labels),
                                    normalize=False, sample_weight=valid.astype(float))
    return hits / n


def scores_from_ranked(ranked: np.ndarray, n_labels: int) -> np.ndarray:
    """A score matrix over n_labels + MAX_K labels whose top-k (k <= MAX_K) is exactly the ranked list,
    followed by dummy labels: listed labels score K+1-position (>= 2, no ties), dummies 0.5, others 0."""
    n, width = ranked.shape
    scores = np.zeros((n, n_labels + MAX_K))
    scores[:, n_labels:] = 0.5
    for i in range(n):
        for pos, label in enumerate(ranked[i]):
            if label >= 0:
                scores[i, label] = width + 1 - pos
    return scores


def sklearn_topk_ranked(y_true: np.ndarray, ranked: np.ndarray, n_labels: int, k: int) -> float:
    scores = scores_from_ranked(ranked, n_labels)
    return top_k_accuracy_score(y_true, scores, k=k, labels=np.arange(scores.shape[1]))


# ------------------------------------------------------------------------------------------------- checks

def check_label_metrics(m, y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> None:
    ref = sklearn_label_metrics(y_true, y_pred, n_labels)
    assert m.accuracy == pytest.approx(ref["accuracy"], abs=1e-12)
    np.testing.assert_array_equal(m.present, ref["present"])
    np.testing.assert_allclose(m.per_label_precision, ref["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.per_label_recall, ref["recall"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.per_label_f1, ref["f1"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(m.per_label_support, ref["support"])
    # Macro = unweighted mean of the per-label values (sklearn's average="macro").
    assert m.precision == pytest.approx(ref["macro_precision"], abs=1e-12)
    assert m.recall == pytest.approx(ref["macro_recall"], abs=1e-12)
    assert m.f1 == pytest.approx(ref["macro_f1"], abs=1e-12)
    # Confusion: rows = present labels, columns = present labels + "no prediction".
    expected = ref["confusion"]
    assert m.confusion.shape == (len(ref["present"]), len(ref["present"]) + 1)
    np.testing.assert_array_equal(m.confusion.dense(), expected)
    np.testing.assert_array_equal(m.confusion.row_totals(), expected.sum(axis=1))
    assert (m.confusion.count > 0).all()  # sparse: only non-zero cells are stored
    # Every prediction of a present label sits in some present row (every true label is present).
    np.testing.assert_array_equal(m.per_label_predicted, expected[:, :-1].sum(axis=0))


def check_scores_case(y_true: np.ndarray, scores: np.ndarray) -> None:
    """Everything that can be computed from a score matrix, against the references."""
    y_true = np.asarray(y_true, dtype=np.int64)
    scores = np.asarray(scores, dtype=float)
    n_labels = scores.shape[1]
    ranked, top_scores = rank_from_scores(scores, MAX_K)
    ref_ranked, ref_scores = python_ranking(scores, MAX_K)
    np.testing.assert_array_equal(ranked, ref_ranked)
    np.testing.assert_array_equal(top_scores, ref_scores)  # NaN == NaN here

    y_pred = argmax_prediction(scores)
    np.testing.assert_array_equal(ranked[:, 0], y_pred)
    m = evaluate_classification(y_true, ranked, n_labels)
    check_label_metrics(m, y_true, y_pred, n_labels)
    assert m.topk[1] == m.accuracy
    assert set(m.topk) == set(range(1, MAX_K + 1))
    for k in range(1, MAX_K + 1):
        if k < n_labels:
            assert m.topk[k] == pytest.approx(sklearn_topk_first_wins(y_true, scores, k), abs=1e-12), k
        else:
            assert m.topk[k] is None, k


def check_ranked_case(y_true: np.ndarray, ranked: np.ndarray, n_labels: int) -> None:
    """Everything that can be computed from ranked lists (-1 padding), against the references."""
    y_true = np.asarray(y_true, dtype=np.int64)
    ranked = np.asarray(ranked, dtype=np.int64)
    m = evaluate_classification(y_true, ranked, n_labels)
    check_label_metrics(m, y_true, ranked[:, 0], n_labels)
    assert m.topk[1] == m.accuracy
    for k in range(1, MAX_K + 1):
        if k < n_labels:
            assert m.topk[k] == pytest.approx(sklearn_topk_ranked(y_true, ranked, n_labels, k), abs=1e-12), k
            assert top_k_accuracy(y_true, ranked, k) == m.topk[k]
        else:
            assert m.topk[k] is None, k


# ------------------------------------------------------------------------------------- seeded random cases

def random_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n in 1..60 images, L in 2..12 labels; four kinds of scores by seed % 4."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 61))
    n_labels = int(rng.integers(2, 13))
    y_true = rng.integers(0, n_labels, n)
    raw = rng.random((n, n_labels))
    informed = rng.random(n) < 0.5  # half the images lean towards their true label, so there are hits
    raw[informed, y_true[informed]] += 0.4
    kind = seed % 4
    if kind == 0:  # probabilities, ties practically impossible
        logits = raw * 4
        scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    elif kind == 1:  # rounded to one decimal: many ties
        scores = raw.round(1)
    elif kind == 2:  # integer logits, negative too: very many ties
        scores = np.floor(raw * 4) - 2
    else:  # ties, missing scores, and whole rows without a prediction
        scores = raw.round(1)
        scores[rng.random((n, n_labels)) < 0.2] = np.nan
        scores[rng.random(n) < 0.15] = np.nan
    return y_true, scores


@pytest.mark.parametrize("seed", range(300))
def test_random_scores_against_sklearn(seed):
    y_true, scores = random_case(seed)
    check_scores_case(y_true, scores)


@pytest.mark.parametrize("seed", range(0, 300, 3))
def test_random_ranked_lists_against_sklearn(seed):
    """The same cases as ranked lists, cut to random lengths (-1 padding)."""
    y_true, scores = random_case(seed)
    ranked, _ = rank_from_scores(scores, MAX_K)
    rng = np.random.default_rng(10_000 + seed)
    lengths = rng.integers(0, ranked.shape[1] + 1, len(ranked))
    ranked = np.where(np.arange(ranked.shape[1])[None, :] < lengths[:, None], ranked, -1)
    check_ranked_case(y_true, ranked, scores.shape[1])


# --------------------------------------------------------------------------------------- hypothesis tests

TIE_PRONE = st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, -2.0, float("nan")])
ANY_SCORE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def score_cases(draw):
    n_labels = draw(st.integers(2, 8))
    n = draw(st.integers(1, 25))
    y_true = draw(arrays(np.int64, n, elements=st.integers(0, n_labels - 1)))
    scores = draw(arrays(np.float64, (n, n_labels), elements=st.one_of(TIE_PRONE, ANY_SCORE)))
    return y_true, scores


@st.composite
def ranked_cases(draw):
    n_labels = draw(st.integers(2, 9))
    n = draw(st.integers(1, 20))
    width = draw(st.integers(1, 6))
    rows = []
    for _ in range(n):
        length = draw(st.integers(0, min(width, n_labels)))
        listed = draw(st.permutations(range(n_labels)))[:length]
        rows.append(list(listed) + [-1] * (width - length))
    y_true = np.array(draw(st.lists(st.integers(0, n_labels - 1), min_size=n, max_size=n)), dtype=np.int64)
    return y_true, np.array(rows, dtype=np.int64), n_labels


@HYPOTHESIS
@given(score_cases())
def test_property_scores_against_sklearn(case):
    check_scores_case(*case)


@HYPOTHESIS
@given(ranked_cases())
def test_property_ranked_lists_against_sklearn(case):
    check_ranked_case(*case)


@HYPOTHESIS
@given(ranked_cases())
def test_property_topk_and_rank_of_true_agree(case):
    y_true, ranked, n_labels = case
    rank = rank_of_true(y_true, ranked)
    for i, r in enumerate(rank):  # rank r > 0: the true label sits at position r; 0: it is not listed
        if r > 0:
            assert ranked[i, r - 1] == y_true[i] and y_true[i] not in ranked[i, : r - 1]
        else:
            assert y_true[i] not in ranked[i]
    previous = 0.0
    for k in range(1, ranked.shape[1] + 2):
        value = top_k_accuracy(y_true, ranked, k)
        assert value == pytest.approx(np.mean((rank > 0) & (rank <= k)), abs=1e-12)
        assert value >= previous  # non-decreasing in k
        previous = value


@HYPOTHESIS
@given(st.data())
def test_property_label_permutation_invariance(data):
    """Without ties, renaming the labels changes no headline number."""
    n_labels = data.draw(st.integers(2, 8))
    n = data.draw(st.integers(1, 20))
    scores = data.draw(arrays(np.float64, (n, n_labels), elements=ANY_SCORE, unique=True))
    y_true = np.array(data.draw(st.lists(st.integers(0, n_labels - 1), min_size=n, max_size=n)))
    perm = np.array(data.draw(st.permutations(range(n_labels))))  # old label j becomes perm[j]
    new_scores = np.empty_like(scores)
    new_scores[:, perm] = scores
    a = evaluate_classification(y_true, rank_from_scores(scores, MAX_K)[0], n_labels)
    b = evaluate_classification(perm[y_true], rank_from_scores(new_scores, MAX_K)[0], n_labels)
    for name in ("accuracy", "precision", "recall", "f1"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), abs=1e-12)
    for k, value in a.topk.items():
        if value is None:
            assert b.topk[k] is None
        else:
            assert b.topk[k] == pytest.approx(value, abs=1e-12)


@HYPOTHESIS
@given(st.data())
def test_property_top_confused_pairs_brute_force(data):
    rows = data.draw(st.integers(1, 6))
    counts = data.draw(arrays(np.int64, (rows, rows + 1), elements=st.integers(0, 4)))
    limit = data.draw(st.integers(0, 12))
    cells = [(-int(counts[r, c]), r, c) for r in range(rows) for c in range(rows + 1)
             if r != c and counts[r, c] > 0]
    expected = [(r, c, -v) for v, r, c in sorted(cells)][:limit]
    assert top_confused_pairs(counts, limit) == expected


# -------------------------------------------------------------------------------------- hand-made cases

def one_hot_scores(y_pred: list[int], n_labels: int) -> np.ndarray:
    scores = np.full((len(y_pred), n_labels), 0.1)
    scores[np.arange(len(y_pred)), y_pred] = 0.9
    return scores


def test_label_never_predicted():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = [0, 0, 1, 0, 1, 0]
    scores = one_hot_scores(y_pred, 3)
    m = evaluate_classification(y_true, rank_from_scores(scores, MAX_K)[0], 3)
    # label 0: predicted at images 0,1,3,5, right at 0,1 -> P 2/4, R 2/2, F1 2*.5*1/1.5 = 2/3
    # label 1: predicted at 2,4, right at 2       -> P 1/2, R 1/2, F1 1/2
    # label 2: never predicted                      -> P 0 (zero_division), R 0/2, F1 0
    np.testing.assert_allclose(m.per_label_precision, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(m.per_label_recall, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(m.per_label_f1, [2 / 3, 0.5, 0.0])
    assert m.precision == pytest.approx(1 / 3)  # (.5 + .5 + 0) / 3
    assert m.recall == pytest.approx(0.5)  # (1 + .5 + 0) / 3
    assert m.f1 == pytest.approx(7 / 18)  # (2/3 + 1/2 + 0) / 3
    assert m.accuracy == pytest.approx(0.5)  # images 0, 1, 2
    np.testing.assert_array_equal(m.per_label_predicted, [4, 2, 0])
    check_scores_case(y_true, scores)


def test_label_only_predicted_counts_in_macro_average():
    y_true = np.array([0, 0, 1, 1])
    y_pred = [0, 2, 1, 2]  # label 2 is not in the ground truth
    # Label 3 exists (n_labels = 4) but is neither true nor predicted: it must not count.
    scores = one_hot_scores(y_pred, 4)
    m = evaluate_classification(y_true, rank_from_scores(scores, MAX_K)[0], 4)
    np.testing.assert_array_equal(m.present, [0, 1, 2])
    # label 0: P 1/1, R 1/2, F1 2/3; label 1: the same; label 2: P 0/2, R 0 (no support), F1 0
    np.testing.assert_allclose(m.per_label_precision, [1, 1, 0])
    np.testing.assert_allclose(m.per_label_recall, [0.5, 0.5, 0])
    np.testing.assert_array_equal(m.per_label_support, [2, 2, 0])
    assert m.precision == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(1 / 3)
    assert m.f1 == pytest.approx(4 / 9)  # (2/3 + 2/3 + 0) / 3
    np.testing.assert_array_equal(m.confusion.dense(), [[1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    check_scores_case(y_true, scores)


def test_ties_first_label_in_label_order_wins():
    scores = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [0.3, 0.3, 0.3], [0.1, np.nan, 0.1]])
    y_true = np.array([1, 2, 2, 2])
    ranked, top = rank_from_scores(scores, MAX_K)
    np.testing.assert_array_equal(ranked, [[0, 1, 2], [1, 2, 0], [0, 1, 2], [0, 2, -1]])
    np.testing.assert_array_equal(top[3], [0.1, 0.1, np.nan])
    m = evaluate_classification(y_true, ranked, 3)
    assert m.accuracy == 0.0  # top-1 = [0, 1, 0, 0]
    # top-2: image 0 (1 in [0,1]) yes, 1 (2 in [1,2]) yes, 2 (2 in [0,1]) no, 3 (2 in [0,2]) yes -> 3/4
    assert m.topk[2] == pytest.approx(0.75)
    assert m.topk[3] is None and m.topk[4] is None
    # sklearn used directly (later label wins) would give a different answer: the reversal matters.
    plain = top_k_accuracy_score(y_true, np.nan_to_num(scores, nan=-1.0), k=1, labels=[0, 1, 2])
    assert plain != m.topk[1]
    check_scores_case(y_true, scores)


def test_exactly_two_labels():
    scores = np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5], [0.2, 0.8]])
    y_true = np.array([0, 1, 1, 0])
    m = evaluate_classification(y_true, rank_from_scores(scores, MAX_K)[0], 2)
    # top-1 = [0, 1, 0 (tie), 1]: right at images 0 and 1 -> 1/2
    assert m.accuracy == pytest.approx(0.5)
    assert m.topk == {1: pytest.approx(0.5), 2: None, 3: None, 4: None, 5: None}
    # label 0: predicted at 0,2, right at 0 -> P 1/2, R 1/2; label 1: predicted at 1,3, right at 1 -> 1/2, 1/2
    assert (m.precision, m.recall, m.f1) == pytest.approx((0.5, 0.5, 0.5))
    check_scores_case(y_true, scores)


def test_two_hundred_labels():
    rng = np.random.default_rng(2024)
    n, n_labels = 600, 200
    y_true = rng.integers(0, n_labels, n)
    scores = rng.random((n, n_labels)).round(2)  # ties within rows are common with 200 labels
    scores[np.arange(n), y_true] += rng.random(n) * 0.05  # sometimes enough to reach the top 5
    scores = scores.round(2)
    m = evaluate_classification(y_true, rank_from_scores(scores, MAX_K)[0], n_labels)
    assert all(m.topk[k] is not None for k in range(1, MAX_K + 1))
    assert 0 < m.topk[1] < m.topk[5] < 1
    check_scores_case(y_true, scores)


def test_ranked_lists_shorter_than_k():
    ranked = np.array([[2, -1, -1], [0, 1, -1], [3, 4, 5], [-1, -1, -1]])
    y_true = np.array([1, 1, 5, 0])
    m = evaluate_classification(y_true, ranked, 6)
    # top-1 [2, 0, 3, none]: no hit; top-2: image 1; top-3..5: images 1 and 2 (lists end there)
    assert [m.topk[k] for k in range(1, 6)] == pytest.approx([0, 0.25, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(rank_of_true(y_true, ranked), [0, 2, 3, 0])
    np.testing.assert_array_equal(m.present, [0, 1, 2, 3, 5])
    assert m.confusion.at(0, 5) == 1  # the image of label 0 has no prediction (the column after the 5 present)
    check_ranked_case(y_true, ranked, 6)


def test_images_without_prediction_count_wrong():
    ranked = np.array([[0, 1], [-1, -1], [1, 0], [-1, -1], [2, 0]])
    y_true = np.array([0, 0, 1, 2, 2])
    m = evaluate_classification(y_true, ranked, 3)
    assert m.accuracy == pytest.approx(3 / 5)  # images 0, 2, 4
    # label 0: P 1/1, R 1/2 (one image without prediction) -> F1 2/3; label 1: 1, 1, 1; label 2: 1, 1/2, 2/3
    np.testing.assert_allclose(m.per_label_recall, [0.5, 1, 0.5])
    np.testing.assert_allclose(m.per_label_precision, [1, 1, 1])
    np.testing.assert_array_equal(m.confusion.dense()[:, -1], [1, 0, 1])
    check_ranked_case(y_true, ranked, 3)
    # The same through scores: a row of NaN is an image without a prediction.
    scores = np.array([[0.9, 0.1, 0.0], [np.nan] * 3, [0.1, 0.8, 0.1], [np.nan] * 3, [0.2, 0.0, 0.8]])
    np.testing.assert_array_equal(rank_from_scores(scores, MAX_K)[0][[1, 3]], -1)
    check_scores_case(y_true, scores)


def test_all_images_without_prediction():
    ranked = np.full((3, 2), -1)
    m = evaluate_classification(np.array([0, 1, 1]), ranked, 4)
    assert m.accuracy == 0 and m.f1 == 0 and m.topk[3] == 0
    np.testing.assert_array_equal(m.confusion.dense(), [[0, 0, 1], [0, 0, 2]])
    check_ranked_case(np.array([0, 1, 1]), ranked, 4)


def test_single_image():
    check_scores_case(np.array([2]), np.array([[0.1, 0.2, 0.7]]))
    check_scores_case(np.array([0]), np.array([[0.5, 0.5]]))


def test_rank_from_scores_k_larger_than_labels_and_nan_last():
    scores = np.array([[np.nan, 0.2, 0.2], [1.0, np.nan, np.nan]])
    ranked, top = rank_from_scores(scores, 5)
    assert ranked.shape == (2, 3)
    np.testing.assert_array_equal(ranked, [[1, 2, -1], [0, -1, -1]])
    np.testing.assert_array_equal(top, [[0.2, 0.2, np.nan], [1.0, np.nan, np.nan]])


def test_top_confused_pairs_hand_made():
    counts = np.array([[5, 2, 0, 1], [2, 3, 2, 0], [0, 0, 4, 2]])  # last column: no prediction
    # off-diagonal cells: (0,1)=2 (0,3)=1 (1,0)=2 (1,2)=2 (2,3)=2; largest first, ties by row then column
    assert top_confused_pairs(counts, 3) == [(0, 1, 2), (1, 0, 2), (1, 2, 2)]
    assert top_confused_pairs(counts) == [(0, 1, 2), (1, 0, 2), (1, 2, 2), (2, 3, 2), (0, 3, 1)]


@pytest.mark.parametrize("y_true, ranked", [
    (np.array([], dtype=int), np.zeros((0, 1), dtype=int)),
    (np.array([0, 1]), np.array([[0]])),
    (np.array([0, 1]), np.array([0, 1])),
])
def test_evaluate_rejects_bad_shapes(y_true, ranked):
    with pytest.raises(ValueError, match="n > 0"):
        evaluate_classification(y_true, ranked, 2)


# ------------------------------------------------------------------------------------------- end to end

def write_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), (200, 30, 30)).save(path)


def test_end_to_end_csv_scores_against_sklearn(tmp_path):
    """Manifest fields → files → evaluate(spec).metrics, compared with sklearn on the numbers written."""
    columns = ["dog", "cat", "bird", "fox"]  # label order = score column order; "fox" is never true
    truth = {"a.png": "dog", "b.png": "dog", "c.png": "cat", "d.png": "cat", "e.png": "bird",
             "f.png": "bird", "g.png": "dog", "h.png": "cat", "i.png": "bird", "j.png": "dog"}
    rows = {
        "a.png": [0.7, 0.1, 0.1, 0.1],
        "b.png": [0.4, 0.4, 0.1, 0.1],  # tie dog/cat: dog (first column) wins
        "c.png": [0.3, 0.3, 0.3, 0.1],  # three-way tie: dog wins (wrong)
        "d.png": [0.1, 0.6, 0.2, 0.1],
        "e.png": [0.1, 0.2, 0.3, 0.4],  # fox: a label that is only predicted
        "f.png": [0.2, 0.2, 0.5, 0.1],
        "g.png": [0.1, 0.1, 0.1, 0.7],  # fox again
        "h.png": [0.0, 0.5, 0.5, 0.0],  # tie cat/bird: cat wins (right)
        "j.png": [0.2, 0.3, 0.4, 0.1],
        # "i.png" has no prediction; "zz.png" is not in the ground truth
        "zz.png": [0.9, 0.1, 0.0, 0.0],
    }
    (tmp_path / "images").mkdir()
    for image in truth:
        write_png(tmp_path / "images" / image)
    with open(tmp_path / "gt.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["image", "label"], *truth.items()])
    with open(tmp_path / "pred.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["image", *columns], *([k, *v] for k, v in rows.items())])
    spec = spec_from_dict({"name": "e2e", "type": "classification", "images": "images",
                           "ground_truth": "gt.csv", "predictions": "pred.csv", "language": "en"}, tmp_path)
    report = evaluate(spec)

    images = list(truth)
    y_true = np.array([columns.index(truth[i]) for i in images])
    scores = np.array([rows.get(i, [np.nan] * 4) for i in images], dtype=float)
    y_pred_names = [columns[int(np.argmax(rows[i]))] if i in rows else "<none>" for i in images]
    true_names = [truth[i] for i in images]
    present = [c for c in columns if c in set(true_names) | set(y_pred_names)]
    assert present == columns
    p, r, f, s = precision_recall_fscore_support(true_names, y_pred_names, labels=present, zero_division=0)
    assert report.metrics["accuracy"] == pytest.approx(accuracy_score(true_names, y_pred_names))
    assert report.metrics["precision"] == pytest.approx(p.mean())
    assert report.metrics["recall"] == pytest.approx(r.mean())
    assert report.metrics["f1"] == pytest.approx(f.mean())
    valid = (~np.isnan(scores).any(axis=1)).astype(float)  # the image without prediction is never a hit
    for k in (1, 2, 3):
        expected = top_k_accuracy_score(3 - y_true, np.nan_to_num(scores, nan=0)[:, ::-1], k=k,
                                        labels=range(4), normalize=False, sample_weight=valid) / len(images)
        assert report.metrics[f"top{k}"] == pytest.approx(expected), k
    assert report.metrics["top4"] is None and report.metrics["top5"] is None
    assert report.metrics["top1"] == report.metrics["accuracy"]

    assert [x.label for x in report.per_label] == present
    np.testing.assert_allclose([x.f1 for x in report.per_label], f)
    np.testing.assert_array_equal([x.support for x in report.per_label], s)
    assert report.dataset.images_without_prediction == 1
    assert report.dataset.labels_only_predicted == ["fox"]
    by_image = {x.image: x for x in report.images}
    assert by_image["i.png"].predicted is None and not by_image["i.png"].correct
    assert by_image["b.png"].predicted == "dog" and by_image["h.png"].predicted == "cat"
    codes = {n.code for n in report.notices}
    assert {"prediction_without_ground_truth", "ground_truth_without_prediction", "labels_only_predicted"} <= codes


def test_end_to_end_jsonl_topk_against_sklearn(tmp_path):
    labels = ["a", "b", "c", "d", "e", "f", "g"]  # declared: 7 labels, so top-1..5 are all computed
    truth = {"1.png": "a", "2.png": "b", "3.png": "c", "4.png": "a", "5.png": "g", "6.png": "d"}
    topk = {
        "1.png": [["b", 0.6], ["a", 0.3]],
        "2.png": [["b", 0.9]],
        "3.png": [["a", 0.5], ["b", 0.2], ["d", 0.1], ["e", 0.1], ["f", 0.05], ["c", 0.05]],  # c 6th
        "4.png": [["e", 0.5], ["f", 0.2], ["g", 0.1], ["a", 0.1]],
        "5.png": [],  # an empty list: no prediction
        # "6.png": no line at all
    }
    (tmp_path / "images").mkdir()
    for image in truth:
        write_png(tmp_path / "images" / image)
    (tmp_path / "gt.jsonl").write_text("".join(json.dumps({"image": i, "label": label}) + "\n"
                                               for i, label in truth.items()))
    (tmp_path / "pred.jsonl").write_text("".join(json.dumps({"image": i, "topk": t}) + "\n" for i, t in topk.items()))
    spec = spec_from_dict({"name": "e2e", "type": "classification", "images": "images", "labels": labels,
                           "ground_truth": "gt.jsonl", "predictions": "pred.jsonl"}, tmp_path)
    report = evaluate(spec)

    images = list(truth)
    y_true = np.array([labels.index(truth[i]) for i in images])
    width = max(len(t) for t in topk.values())
    ranked = np.full((len(images), width), -1)
    for row, image in enumerate(images):
        for col, (name, _) in enumerate(topk.get(image, [])):
            ranked[row, col] = labels.index(name)
    for k in range(1, 6):
        assert report.metrics[f"top{k}"] == pytest.approx(sklearn_topk_ranked(y_true, ranked, 7, k)), k
    # hand check: top-1 hits image 2 only (1/6); top-2 adds image 1 (2/6); top-4 adds image 4 (3/6);
    # image 3's true label is 6th in its list, so top-5 stays 3/6
    assert [report.metrics[f"top{k}"] for k in range(1, 6)] == pytest.approx([1 / 6, 2 / 6, 2 / 6, 3 / 6, 3 / 6])
    y_pred_names = [topk[i][0][0] if topk.get(i) else "<none>" for i in images]
    true_names = [truth[i] for i in images]
    present = [x for x in labels if x in set(true_names) | set(y_pred_names)]
    p, r, f, _ = precision_recall_fscore_support(true_names, y_pred_names, labels=present, zero_division=0)
    assert report.metrics["accuracy"] == pytest.approx(accuracy_score(true_names, y_pred_names))
    assert (report.metrics["precision"], report.metrics["recall"], report.metrics["f1"]) == pytest.approx(
        (p.mean(), r.mean(), f.mean()))
    assert report.dataset.images_without_prediction == 2  # 6.png (no line) and 5.png (an empty list)
    assert "e" in report.dataset.labels_only_predicted  # the top-1 of 4.png, never a true label


def test_score_column_that_never_wins_is_not_a_label_only_predicted(tmp_path):
    """Only labels that are someone's top-1 take part in the metrics, so only they are reported."""
    (tmp_path / "images").mkdir()
    for image in ("a.png", "b.png"):
        write_png(tmp_path / "images" / image)
    (tmp_path / "gt.csv").write_text("image,label\na.png,cat\nb.png,dog\n")
    (tmp_path / "pred.csv").write_text("image,cat,dog,wolf,fox\na.png,0.9,0.1,0.5,0.0\nb.png,0.1,0.2,0.1,0.7\n")
    spec = spec_from_dict({"name": "t", "type": "classification", "images": "images",
                           "ground_truth": "gt.csv", "predictions": "pred.csv"}, tmp_path)
    report = evaluate(spec)
    assert report.dataset.labels_only_predicted == ["fox"]
    assert [m.label for m in report.per_label] == ["cat", "dog", "fox"]
    (notice,) = [n for n in report.notices if n.code == "labels_only_predicted"]
    assert notice.detail == "'fox'"
