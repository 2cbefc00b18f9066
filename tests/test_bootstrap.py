"""The image-level bootstrap (generator/metrics/bootstrap.py): a resampled metric equals the metric of the
evaluation set with the drawn images really repeated (scikit-learn for classification, the full VOC
matching of the duplicated images for detection, pycocotools on the duplicated images for COCO AP), the
unresampled metric equals the report's (COCO AP: pycocotools'), identical models differ by exactly 0, and a
two-image case worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from evalsite.metrics import bootstrap as bs
from evalsite.metrics import coco_bootstrap as cbs
from evalsite.metrics.matching import match_detections
from evalsite.metrics.voc_ap import average_precision_per_label, voc_map


def test_resample_weights_draw_n_images_each_time_and_are_seeded():
    w = bs.resample_weights(37, resamples=200, seed=5)
    assert w.shape == (200, 37) and (w.sum(axis=1) == 37).all() and (w >= 0).all()
    assert np.array_equal(w, bs.resample_weights(37, resamples=200, seed=5))
    assert not np.array_equal(w, bs.resample_weights(37, resamples=200, seed=6))
    # every image is drawn 1 time on average
    assert abs(w.mean() - 1) < 0.02


@pytest.mark.parametrize("n_images", [1, 2, 37, 1001])
def test_resample_weights_are_one_draw_of_all_rows_stored_in_a_byte(n_images):
    # the reference: all resamples drawn in one call, counted in int64 (the stream the report's seed names)
    draws = np.random.default_rng(4).integers(0, n_images, size=(30, n_images), dtype=np.int64)
    expected = np.stack([np.bincount(row, minlength=n_images) for row in draws])
    w = bs.resample_weights(n_images, resamples=30, seed=4)
    assert w.dtype == np.uint8 == bs.WEIGHT_DTYPE and np.array_equal(w, expected)
    shared = np.zeros((30, n_images), dtype=np.uint8)
    assert bs.resample_weights(n_images, resamples=30, seed=4, out=shared) is shared
    assert np.array_equal(shared, expected)
    assert bs.resample_weights(0, resamples=30).shape == (30, 0)


# ----------------------------------------------------------------------------------------- classification

def _classification_case(rng, n: int, n_labels: int):
    true = rng.integers(0, n_labels, n)
    scores = rng.random((n, n_labels)) + np.eye(n_labels)[true] * rng.random((n, 1)) * 1.5
    order = np.argsort(-scores, axis=1, kind="stable")
    predicted = order[:, 0].copy()
    predicted[rng.random(n) < 0.05] = -1  # no prediction
    rank = np.argmax(order == true[:, None], axis=1) + 1
    rank[predicted < 0] = 0
    return true, predicted, rank


def _sklearn(true, predicted, rank, n_labels):
    pred = np.where(predicted < 0, n_labels, predicted)  # "no prediction" is never right
    present = sorted(set(true.tolist()) | set(pred.tolist()) - {n_labels})
    p, r, f, _ = precision_recall_fscore_support(true, pred, labels=present, zero_division=0)
    out = {"accuracy": accuracy_score(true, pred), "precision": p.mean(), "recall": r.mean(), "f1": f.mean()}
    for k in range(1, 6):
        if k < n_labels:
            out[f"top{k}"] = float(np.mean((rank >= 1) & (rank <= k)))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_classification_resample_equals_repeated_images(seed):
    rng = np.random.default_rng(seed)
    n_labels = int(rng.integers(2, 9))
    true, predicted, rank = _classification_case(rng, int(rng.integers(5, 60)), n_labels)
    weights = bs.resample_weights(len(true), resamples=25, seed=seed)
    weights = np.vstack([np.ones(len(true), dtype=np.int64), weights])  # row 0: the set itself
    got = bs.classification_resampled(true, predicted, rank, n_labels, weights)
    for r, w in enumerate(weights):
        idx = np.repeat(np.arange(len(true)), w)
        expected = _sklearn(true[idx], predicted[idx], rank[idx], n_labels)
        for name, value in expected.items():
            assert got[name][r] == pytest.approx(value, abs=1e-12), (name, r)


# ----------------------------------------------------------------------------------------------- detection

def _detection_case(rng, n_images: int, n_labels: int):
    gt, dt = [], []
    for i in range(n_images):
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, 80, 2)
            box = [x, y, rng.uniform(5, 20), rng.uniform(5, 20)]
            gt.append((i, int(rng.integers(0, n_labels)), box, bool(rng.random() < 0.1)))
            for _ in range(int(rng.integers(0, 3))):  # detections near it, some of another label
                jitter = np.array(box) + rng.normal(0, 3, 4) * [1, 1, 0.5, 0.5]
                label = gt[-1][1] if rng.random() < 0.8 else int(rng.integers(0, n_labels))
                dt.append((i, label, [jitter[0], jitter[1], max(1, jitter[2]), max(1, jitter[3])], rng.random()))
        for _ in range(int(rng.integers(0, 3))):  # background
            dt.append((i, int(rng.integers(0, n_labels)), [*rng.uniform(0, 80, 2), 8, 8], rng.random()))
    return gt, dt


def _arrays(gt, dt):
    g = (np.array([x[0] for x in gt], dtype=np.int64), np.array([x[1] for x in gt], dtype=np.int64),
         np.array([x[2] for x in gt], dtype=np.float64).reshape(-1, 4), np.array([x[3] for x in gt], dtype=bool),
         np.zeros(len(gt), dtype=bool))
    d = (np.array([x[0] for x in dt], dtype=np.int64), np.array([x[1] for x in dt], dtype=np.int64),
         np.array([x[2] for x in dt], dtype=np.float64).reshape(-1, 4), np.array([x[3] for x in dt]))
    return g, d


def _evidence(gt, dt, n_labels):
    """As report.json's evidence, built here from the VOC matching."""
    g, d = _arrays(gt, dt)
    m = match_detections(*g, *d, n_labels=n_labels)
    counted = np.flatnonzero(~m.ignored)
    order = counted[np.argsort(-d[3][counted], kind="stable")]
    return dict(dt_image=d[0][order], dt_label=d[1][order], dt_score=d[3][order], dt_tp=m.tp[order].astype(int),
                gt_image=g[0][m.gt_counted], gt_label=g[1][m.gt_counted])


def _repeated(gt, dt, w):
    """The evaluation set with image i repeated w[i] times (copies are new images, in image order)."""
    new_gt, new_dt, new_image = [], [], 0
    for i, times in enumerate(w.tolist()):
        for _ in range(times):
            new_gt += [(new_image, *x[1:]) for x in gt if x[0] == i]
            new_dt += [(new_image, *x[1:]) for x in dt if x[0] == i]
            new_image += 1
    return new_gt, new_dt


def _direct(gt, dt, n_labels, threshold):
    """mAP50 and P/R/F1 at `threshold` of a set, by the detection module's own VOC code and plain counting."""
    g, d = _arrays(gt, dt)
    m = match_detections(*g, *d, n_labels=n_labels)
    ap = average_precision_per_label(m, d[1], d[3], "all")
    above = (d[3] >= threshold) & ~m.ignored
    tp = np.bincount(d[1][above & m.tp], minlength=n_labels)
    fp = np.bincount(d[1][above & ~m.tp], minlength=n_labels)
    n_gt = m.n_gt
    present = (n_gt + tp + fp) > 0
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + (n_gt - tp), 1), 0.0)
    return {"mAP50": voc_map(ap), "precision": tp.sum() / max(1, tp.sum() + fp.sum()),
            "recall": tp.sum() / max(1, n_gt.sum()), "f1": f1[present].mean() if present.any() else 0.0}


@pytest.mark.parametrize("seed", range(5))
def test_detection_resample_equals_repeated_images(seed):
    rng = np.random.default_rng(100 + seed)
    n_images, n_labels = int(rng.integers(3, 12)), int(rng.integers(1, 4))
    gt, dt = _detection_case(rng, n_images, n_labels)
    threshold = float(rng.uniform(0.2, 0.7))
    weights = np.vstack([np.ones(n_images, dtype=np.int64), bs.resample_weights(n_images, resamples=15, seed=seed)])
    got = bs.detection_resampled(**_evidence(gt, dt, n_labels), n_images=n_images, n_labels=n_labels,
                                 threshold=threshold, weights=weights)
    for r, w in enumerate(weights):
        expected = _direct(*_repeated(gt, dt, w), n_labels, threshold)
        for name, value in expected.items():
            if np.isnan(value):
                assert np.isnan(got[name][r]), (name, r)
            else:
                assert got[name][r] == pytest.approx(value, abs=1e-12), (name, r, w)


# ------------------------------------------------------------------------------------------------ COCO AP

def _coco_case(seed: int, distinct_scores: bool):
    from test_coco_metrics import random_case

    images, categories, anns, dets = random_case(seed)
    if distinct_scores:  # see test_coco_resample_equals_pycocotools_on_repeated_images
        for d, score in zip(dets, np.random.default_rng(seed).permutation(len(dets))):
            d["score"] = float(score + 1) / (len(dets) + 1)
    return images, categories, anns, dets


def _coco_resampled(case, weights):
    from test_coco_metrics import arrays

    from evalsite.metrics.coco import coco_evaluate

    a = arrays(case)
    return cbs.coco_resampled(coco_evaluate(**a).evidence, len(case[0]), a["n_labels"], weights)


def _assert_coco_equal(got: dict, r: int, E, what) -> None:
    """Resample r of `got` against pycocotools' COCOeval E (its -1 is our NaN)."""
    for name, stat in (("coco.AP", 0), ("coco.AP50", 1), ("coco.AP75", 2)):
        expected = E.stats[stat]
        if expected == -1:
            assert np.isnan(got[name][r]), (name, what)
        else:
            assert got[name][r] == pytest.approx(expected, abs=1e-12), (name, what)
    precision = E.eval["precision"][:, :, :, 0, 2]  # (T, R, K): area all, 100 detections
    for k in range(precision.shape[2]):
        p = precision[:, :, k]
        if (p > -1).any():
            assert got["label_coco_ap"][r, k] == pytest.approx(p[p > -1].mean(), abs=1e-12), (k, what)
        else:
            assert np.isnan(got["label_coco_ap"][r, k]), (k, what)


@pytest.mark.parametrize("first", range(0, 400, 100))
def test_coco_unresampled_equals_pycocotools(first):
    """All weights 1: the evaluation set itself (crowd regions, empty images, ties, labels without ground
    truth: the random cases of test_coco_metrics)."""
    from test_coco_metrics import pycoco

    for seed in range(first, first + 100):
        case = _coco_case(seed, distinct_scores=False)
        got = _coco_resampled(case, np.ones((1, len(case[0])), dtype=np.int64))
        _assert_coco_equal(got, 0, pycoco(case), f"seed {seed}")


def _coco_repeated(case, w):
    """The case with image i (in ascending id order) repeated w[i] times: copies get new ids in that order
    and their annotations new ids."""
    images, categories, anns, dets = case
    new_images, new_anns, new_dets = [], [], []
    for image_id, times in zip(sorted(im["id"] for im in images), w.tolist()):
        for _ in range(times):
            new_id = len(new_images) + 1
            new_images.append({"id": new_id})
            copies = [a for a in anns if a["image_id"] == image_id]
            new_anns += [dict(a, image_id=new_id, id=len(new_anns) + 1 + n) for n, a in enumerate(copies)]
            new_dets += [dict(d, image_id=new_id) for d in dets if d["image_id"] == image_id]
    return new_images, categories, new_anns, new_dets


@pytest.mark.parametrize("first", range(0, 120, 40))
def test_coco_resample_equals_pycocotools_on_repeated_images(first):
    """A resample is the evaluation set with the drawn images really repeated. With distinct scores: a tie
    between a detection's copies and another detection of the same image and score is ranked by copy in
    the repeated set but as one weighted step in the resample (see the module docstring)."""
    from test_coco_metrics import pycoco

    for seed in range(first, first + 40):
        case = _coco_case(seed, distinct_scores=True)
        n_images = len(case[0])
        weights = bs.resample_weights(n_images, resamples=3, seed=seed)
        weights[0, 0] = 0  # an image left out, and one drawn 3 times
        weights[0, -1] += 3
        got = _coco_resampled(case, weights)
        for r, w in enumerate(weights):
            repeated = _coco_repeated(case, w)
            if not repeated[0]:
                continue
            _assert_coco_equal(got, r, pycoco(repeated), f"seed {seed}, weights {w}")


def test_coco_interval_by_hand():
    """One label, two images, one object each. Image 0: a detection (0.9) with IoU 0.82; image 1: a false
    positive (0.8), then a detection (0.7) with IoU 0.62. Per IoU threshold t (0.50 ... 0.95):
    t <= 0.60: TP, FP, TP: precision 1 up to recall 0.5, then 2/3 to recall 1; AP = (51 + 50 * 2/3) / 101.
    0.60 < t <= 0.80: TP, FP, FP: AP = 51 / 101. t > 0.80: nothing matches: AP 0.
    Resample (image 0 twice): only the first detection, twice: AP = 1 for t <= 0.8, else 0.
    Resample (image 1 twice): both copies of the 0.8 false positive, then both of the 0.7 detection:
    recall 0.5 at precision 1/3, recall 1 at 1/2; envelope 1/2 everywhere, AP = 0.5 for t <= 0.6, else 0."""
    from evalsite.metrics.coco import coco_evaluate

    gt_box = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=np.float64)
    dt_box = np.array([[0, 0, 10, 8.2], [50, 50, 10, 10], [0, 0, 10, 6.2]])  # IoU 0.82, 0, 0.62
    result = coco_evaluate(gt_image=[0, 1], gt_label=[0, 0], gt_box=gt_box, gt_area=[100, 100],
                           gt_crowd=[False, False], dt_image=[0, 1, 1], dt_label=[0, 0, 0], dt_box=dt_box,
                           dt_score=[0.9, 0.8, 0.7], n_labels=1)
    got = cbs.coco_resampled(result.evidence, 2, 1, np.array([[1, 1], [2, 0], [0, 2]]))
    n_low, n_mid = 3, 7  # thresholds up to 0.60 and up to 0.80
    full = (n_low * (51 + 50 * 2 / 3) / 101 + (n_mid - n_low) * 51 / 101) / 10
    assert got["coco.AP"][0] == pytest.approx(full, abs=1e-12) == result.stats[0]
    assert got["coco.AP"][1] == pytest.approx(n_mid / 10, abs=1e-12)
    assert got["coco.AP"][2] == pytest.approx(n_low * 0.5 / 10, abs=1e-12)
    assert got["coco.AP50"].tolist() == pytest.approx([(51 + 50 * 2 / 3) / 101, 1.0, 0.5], abs=1e-12)
    assert got["coco.AP75"].tolist() == pytest.approx([51 / 101, 1.0, 0.0], abs=1e-12)


def test_float32_counts_give_the_same_numbers_as_float64(monkeypatch):
    """The weighted counts are kept in float32 while every one stays below 2^24 (see bootstrap.Block); the
    float64 path, taken above it, must give the very same numbers."""
    from test_coco_metrics import arrays

    from evalsite.metrics.coco import coco_evaluate

    case = _coco_case(7, distinct_scores=False)
    a = arrays(case)
    evidence = coco_evaluate(**a).evidence
    n_images = len(case[0])
    weights = bs.resample_weights(n_images, resamples=50, seed=1)
    rng = np.random.default_rng(3)
    gt, dt = _detection_case(rng, 9, 3)
    true, predicted, rank = _classification_case(rng, 40, 4)
    assert bs.Block(weights.astype(np.float64), 1000).dtype == np.float32  # the default takes float32 here
    runs = {}
    for bound in (bs._FLOAT32_EXACT, 0):  # 0: float64 everywhere
        monkeypatch.setattr(bs, "_FLOAT32_EXACT", bound)
        runs[bound] = (cbs.coco_resampled(evidence, n_images, a["n_labels"], weights),
                       bs.detection_resampled(**_evidence(gt, dt, 3), n_images=9, n_labels=3, threshold=0.4,
                                              weights=bs.resample_weights(9, resamples=50, seed=2)),
                       bs.classification_resampled(true, predicted, rank, 4, bs.resample_weights(40, 50, 3)))
    for f32, f64 in zip(runs[2 ** 24], runs[0]):
        assert f32.keys() == f64.keys()
        for key in f32:
            np.testing.assert_array_equal(f32[key], f64[key], err_msg=key)


def test_coco_steps_count_like_searchsorted_on_whole_counts():
    """`_coco_steps` (COCO's stacked bootstrap): for whole counts, the recall points reached by each row as
    searchsorted counts them on recall = ctp / n_gt, as differences down the rows; every exact multiple of
    1 / 100 included (where np.linspace's point lies one ulp above j / 100 for some j)."""
    from evalsite.metrics.coco_params import RECALL_THRESHOLDS

    rng = np.random.default_rng(1)
    n_gt = np.concatenate([np.arange(1, 401), [1000, 2000, 3000, 5000, 10_000, 123_457, 2 ** 23 - 1]]).astype(float)
    ctp = np.sort(np.minimum(rng.integers(0, 1200, (60, n_gt.size)), n_gt), axis=0)
    ctp = np.concatenate([ctp, np.round(np.outer(np.arange(101) / 100, n_gt))], axis=0)  # j / 100 where whole
    ctp = np.sort(np.minimum(ctp, n_gt), axis=0)
    reached = np.searchsorted(RECALL_THRESHOLDS, (ctp / n_gt).ravel(), side="right").reshape(ctp.shape)
    expected = np.diff(reached, axis=0, prepend=0)
    got = cbs._coco_steps(ctp.copy(), n_gt)
    np.testing.assert_array_equal(got, expected)
    assert cbs._POINT_ABOVE.any() and (ctp[:, n_gt == 100] == 35).any()  # a point above j / 100 was met


def test_detection_without_threshold_has_no_operating_point():
    gt = [(0, 0, [0, 0, 10, 10], False)]
    got = bs.detection_resampled(**_evidence(gt, [], 1), n_images=1, n_labels=1, threshold=None,
                                 weights=np.ones((3, 1), dtype=np.int64))
    assert got["mAP50"].tolist() == [0.0] * 3 and got["recall"].tolist() == [0.0] * 3


# ------------------------------------------------------------------------------------------------- paired

def test_identical_models_differ_by_exactly_zero():
    rng = np.random.default_rng(1)
    true, predicted, rank = _classification_case(rng, 50, 4)
    weights = bs.resample_weights(50, resamples=300)
    a = bs.classification_resampled(true, predicted, rank, 4, weights)
    b = bs.classification_resampled(true, predicted, rank, 4, weights)
    for name in a:
        d = bs.paired_difference(0.5, 0.5, a[name], b[name])
        assert (d.difference, d.low, d.high, d.verdict) == (0.0, 0.0, 0.0, "within_noise")


def test_two_images_by_hand():
    """Base right on image 0 only, candidate right on both. A resample draws image 1 k = 0, 1 or 2 times
    (probability 1/4, 1/2, 1/4); the accuracy difference is then k/2: 0, 1/2 or 1. The 2.5th and 97.5th
    percentiles are 0 and 1: the interval touches 0, so "within noise" (two images prove nothing)."""
    true = np.array([0, 1])
    base_pred, cand_pred = np.array([0, 0]), np.array([0, 1])
    ranks_base, ranks_cand = np.array([1, 2]), np.array([1, 1])
    weights = bs.resample_weights(2, resamples=4000, seed=3)
    a = bs.classification_resampled(true, base_pred, ranks_base, 2, weights)["accuracy"]
    b = bs.classification_resampled(true, cand_pred, ranks_cand, 2, weights)["accuracy"]
    diff = b - a
    assert np.array_equal(diff, weights[:, 1] / 2)
    shares = [np.mean(diff == v) for v in (0, 0.5, 1)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.03)
    d = bs.paired_difference(0.5, 1.0, a, b)
    assert (d.difference, d.low, d.high, d.verdict) == (0.5, 0.0, 1.0, "within_noise")


def test_clear_improvement_is_better_and_clear_loss_is_worse():
    n = 400
    true = np.zeros(n, dtype=np.int64)
    good = np.zeros(n, dtype=np.int64)
    bad = np.where(np.arange(n) % 2 == 0, 0, 1)  # half wrong
    ranks_good, ranks_bad = np.ones(n, dtype=np.int64), np.where(bad == 0, 1, 2)
    w = bs.resample_weights(n)
    a = bs.classification_resampled(true, bad, ranks_bad, 2, w)["accuracy"]
    b = bs.classification_resampled(true, good, ranks_good, 2, w)["accuracy"]
    assert bs.paired_difference(0.5, 1.0, a, b).verdict == "better"
    assert bs.paired_difference(1.0, 0.5, b, a).verdict == "worse"
    assert bs.paired_difference(None, 1.0, a, b).verdict == "undefined"


# ------------------------------------------------------------------------------------------------ intervals

def test_wilson_interval_textbook_values():
    # 8 of 10: Wilson 95% interval 0.4902 to 0.9433 (Newcombe 1998, table I); 0 of 10: 0 to 0.2775
    assert bs.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert bs.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert bs.wilson_interval(0, 0) is None


def test_bootstrap_intervals_cover_the_true_accuracy():
    """Simulated evaluation sets of 200 images from a model that is right 80% of the time: the 95%
    percentile-bootstrap interval holds 0.8 in about 95% of them (seeded; 300 sets)."""
    rng = np.random.default_rng(11)
    covered = 0
    sets = 300
    weights = bs.resample_weights(200, resamples=500, seed=2)
    for _ in range(sets):
        true = rng.integers(0, 3, 200)
        right = rng.random(200) < 0.8
        predicted = np.where(right, true, (true + 1) % 3)
        rank = np.where(right, 1, 2)
        accuracy = bs.classification_resampled(true, predicted, rank, 3, weights)["accuracy"]
        low, high = bs.percentile_interval(accuracy)
        covered += low <= 0.8 <= high
    assert 0.90 <= covered / sets <= 0.99, covered / sets


def test_report_intervals_hold_the_point_estimates(tmp_path):
    from evalsite.commands.evaluate import evaluate
    from evalsite.manifest import load_manifest

    from conftest import write_detection_task, write_task

    for manifest in (write_task(tmp_path / "c", ["cat", "dog", "bird"], n_images=60),
                     write_detection_task(tmp_path / "d")):
        report = evaluate(load_manifest(manifest))
        assert report.intervals.resamples == bs.RESAMPLES and report.intervals.level == 0.95
        for key, bounds in report.intervals.metrics.items():
            section, _, name = key.partition(".")  # "coco.AP": metrics["coco"]["AP"]
            value = report.metrics[section][name] if name else report.metrics[key]
            assert bounds is None or bounds[0] <= value + 1e-12 and value - 1e-12 <= bounds[1], (key, bounds, value)
        for row in report.per_label:
            if row.f1_interval is not None:
                assert row.f1_interval[0] <= row.f1_interval[1]
            if getattr(row, "ap", None) is not None:
                assert row.ap_interval[0] - 1e-12 <= row.ap <= row.ap_interval[1] + 1e-12
    assert set(report.intervals.metrics) >= {"mAP50", "precision", "recall", "f1", "coco.AP", "coco.AP50",
                                             "coco.AP75"}
    # classification: the Wilson interval of the accuracy is there too
    report = evaluate(load_manifest(tmp_path / "c" / "task.yaml"))
    n_right = sum(r.correct for r in report.images)
    assert report.intervals.accuracy_wilson == pytest.approx(list(bs.wilson_interval(n_right, len(report.images))))


def test_evaluate_without_intervals(tmp_path):
    from click.testing import CliRunner

    from evalsite.cli import main

    from conftest import write_detection_task

    manifest = write_detection_task(tmp_path / "d")
    with_them = json.loads(CliRunner().invoke(main, ["evaluate", str(manifest), "-o", "-", "--quiet"]).stdout)
    without = json.loads(CliRunner().invoke(main, ["evaluate", str(manifest), "-o", "-", "--quiet",
                                                   "--no-intervals"]).stdout)
    assert with_them["intervals"]["metrics"]["mAP50"] is not None and without["intervals"] is None
    assert without["metrics"] == with_them["metrics"]
    assert all(row["ap50_interval"] is None for row in without["per_label"])


def test_coco_resampled_is_the_same_with_a_helper_process_and_with_threads():
    """`coco_resampled`'s units (chunk of resamples x label) run one after the other, on two threads, or half
    of them in a helper forked onto an offered core (core.parallel.run_units): the same values to the bit.
    In a process of its own: a fork needs a process without other threads."""
    import subprocess
    import sys
    import textwrap

    body = textwrap.dedent("""
        import numpy as np
        from evalsite.core import parallel
        from evalsite.metrics import bootstrap as bs
        from evalsite.metrics import coco_bootstrap as cbs
        from evalsite.metrics.coco import coco_evaluate

        rng = np.random.default_rng(7)
        n_images, n_labels = 300, 5
        gt_image = rng.integers(0, n_images, 1500)
        gt_box = np.c_[rng.uniform(0, 200, (1500, 2)), rng.uniform(5, 60, (1500, 2))]
        pick = rng.integers(0, 1500, 6000)
        dt_box = gt_box[pick] + rng.normal(0, 6, (6000, 4)) * [1, 1, 0.5, 0.5]
        dt_box[:, 2:] = np.abs(dt_box[:, 2:]) + 1
        dt_label = np.where(rng.random(6000) < 0.8, pick % n_labels, rng.integers(0, n_labels, 6000))
        coco = coco_evaluate(gt_image, np.arange(1500) % n_labels, gt_box, gt_box[:, 2] * gt_box[:, 3],
                             rng.random(1500) < 0.03, gt_image[pick], dt_label, dt_box,
                             np.round(rng.random(6000), 2), n_labels)
        weights = bs.resample_weights(n_images, resamples=200, seed=3)
        bs.CELLS = n_images * 30  # chunks of 30 resamples: 7 of them, 35 units
        alone = cbs.coco_resampled(coco.evidence, n_images, n_labels, weights, threads=1)
        threads = cbs.coco_resampled(coco.evidence, n_images, n_labels, weights, threads=2)
        forks = []
        fork_helper = parallel._fork_helper
        parallel._fork_helper = lambda *a: forks.append(a) or fork_helper(*a)
        parallel.HELP_WORTH_SECONDS = 0.0
        spare = parallel.SpareCore()
        spare.offer()
        helped = cbs.coco_resampled(coco.evidence, n_images, n_labels, weights, threads=1, spare=spare)
        assert len(forks) == 1 and 1 < forks[0][1] < 35 == forks[0][2], forks  # a helper took the second half
        assert np.isfinite(alone["coco.AP"]).all() and 0.05 < alone["coco.AP"].mean() < 0.95
        for name, values in alone.items():
            assert np.array_equal(values, threads[name], equal_nan=True), name
            assert np.array_equal(values, helped[name], equal_nan=True), name
    """)
    run = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def _cut_from_disk_as_from_memory(evidence, groups) -> None:
    """With a cluster the driver keeps the evidence on its disk (packed, indices in 4 bytes) and cuts the label
    groups' parts from there a block at a time: the same parts as from the columns in memory, for COCO's
    evidence (`label_evidence`) and VOC's columns (`label_columns`); and so are the parts it sends in pieces of
    a few detections (report.intervals `_group_pieces`), once joined on the worker."""
    import dataclasses

    from evalsite.core import cluster
    from evalsite.core import on_disk as disk
    from evalsite.core.cluster import _built
    from evalsite.core.on_disk import DiskArray
    from evalsite.metrics import bootstrap as bs
    from evalsite.metrics import coco_bootstrap as cbs
    from evalsite.metrics.arrays import held_indices
    from evalsite.report import intervals

    def joined(part):  # (as a worker joins the pieces)
        return _built(part.build, part.fixed, list(part.pieces))

    packed = evidence.packed()
    columns = {f.name: getattr(packed, f.name) for f in dataclasses.fields(packed)}
    columns = {name: held_indices(c, 1000) if name.endswith(("image", "label")) else c for name, c in columns.items()}
    kept = dataclasses.replace(packed, **{name: DiskArray(c) for name, c in columns.items()})
    held = dataclasses.replace(packed, **columns)
    saved = disk.READ_BYTES, cluster.PIECE_ROWS
    try:
        disk.READ_BYTES = 28  # (7 rows of the 4-byte indices a block)
        for k0, k1 in groups:
            got, expected = cbs.label_evidence(kept, k0, k1), cbs.label_evidence(held, k0, k1)
            for f in dataclasses.fields(got):
                a, b = getattr(got, f.name), getattr(expected, f.name)
                assert type(a) is np.ndarray and np.array_equal(a, b), f.name
            voc = [columns["dt_image"], columns["dt_label"], np.arange(len(columns["dt_label"])) / 7.0,
                   columns["tp"] & 1, columns["gt_image"], columns["gt_label"]]
            for a, b in zip(bs.label_columns(*map(DiskArray, voc), k0, k1), bs.label_columns(*voc, k0, k1)):
                assert type(a) is np.ndarray and np.array_equal(a, b)
            on_disk = [DiskArray(c) for c in voc]
            cluster.PIECE_ROWS = 5
            pieced = joined(intervals._group_pieces((on_disk[0], on_disk[2], on_disk[3]), on_disk[1], on_disk[4],
                                                    on_disk[5], (k0, k1), intervals._voc_evidence_built, 1000, 0.5))
            assert pieced[1:] == (1000, k1 - k0, 0.5)
            for a, b in zip(pieced[0], bs.label_columns(*voc, k0, k1), strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)
            disk = kept.packed()
            pieced = joined(intervals._group_pieces((disk.dt_image, disk.tp, disk.ignored), disk.dt_label,
                                                    disk.gt_image, disk.gt_label, (k0, k1),
                                                    intervals._coco_evidence_built, 1000))
            assert pieced[1:] == (1000, k1 - k0) and pieced[0].tp.ndim == 1  # (flags packed: unpacked there)
            for f in dataclasses.fields(expected):
                a, b = getattr(pieced[0].unpacked(), f.name), getattr(expected, f.name)
                assert a.dtype == b.dtype and np.array_equal(a, b), f.name
    finally:
        disk.READ_BYTES, cluster.PIECE_ROWS = saved


def test_coco_label_samples_of_label_groups_are_the_columns_of_all_labels():
    """A Dask cluster computes COCO AP's resamples a label group at a time (`label_evidence`,
    report.intervals `_coco_on_cluster`): each group's per-label arrays are those columns of the whole run,
    bit for bit, and their means (`coco_means` after `bs.join_label_samples`) are `coco_resampled`'s. The
    groups are small enough that their counts fit float32 where the whole set's do not (`Block`): the
    counts are exact either way."""
    from evalsite.metrics import bootstrap as bs
    from evalsite.metrics import coco_bootstrap as cbs
    from evalsite.metrics.coco import coco_evaluate

    rng = np.random.default_rng(11)
    n_images, n_labels, n_gt, n_dt = 400, 6, 1600, 7000
    gt_image = rng.integers(0, n_images, n_gt)
    gt_box = np.c_[rng.uniform(0, 200, (n_gt, 2)), rng.uniform(5, 60, (n_gt, 2))]
    pick = rng.integers(0, n_gt, n_dt)
    dt_box = gt_box[pick] + rng.normal(0, 6, (n_dt, 4)) * [1, 1, 0.5, 0.5]
    dt_box[:, 2:] = np.abs(dt_box[:, 2:]) + 1
    dt_label = np.where(rng.random(n_dt) < 0.8, pick % n_labels, rng.integers(0, n_labels, n_dt))
    dt_label[dt_label == 4] = 3  # label 4: objects, no detection
    coco = coco_evaluate(gt_image, np.arange(n_gt) % n_labels, gt_box, gt_box[:, 2] * gt_box[:, 3],
                         rng.random(n_gt) < 0.03, gt_image[pick], dt_label, dt_box, np.round(rng.random(n_dt), 2),
                         n_labels)
    weights = bs.resample_weights(n_images, resamples=120, seed=5)
    groups = [(0, 2), (2, 3), (3, 6)]
    evidence = [cbs.label_evidence(coco.evidence, k0, k1) for k0, k1 in groups]
    _cut_from_disk_as_from_memory(coco.evidence, groups)
    items = [len(e.dt_image) + len(e.gt_image) for e in evidence]
    assert sum(items) == len(coco.evidence.dt_image) + len(coco.evidence.gt_image)
    w_max = float(weights.max())
    saved = bs._FLOAT32_EXACT
    try:  # float64 counts for the whole set, float32 for every group (all exact at this size)
        bs._FLOAT32_EXACT = 2 * sum(items) * w_max
        assert bs.Block(weights.astype(np.float64), sum(items)).dtype == np.float64
        assert all(bs.Block(weights.astype(np.float64), n).dtype == np.float32 for n in items)
        whole = cbs.coco_label_samples(coco.evidence, n_images, n_labels, weights, threads=1)
        parts = [cbs.coco_label_samples(e, n_images, k1 - k0, weights, threads=1)
                 for e, (k0, k1) in zip(evidence, groups)]
    finally:
        bs._FLOAT32_EXACT = saved
    joined = bs.join_label_samples(parts)
    assert joined.keys() == whole.keys()
    for name, values in whole.items():
        assert values.dtype == joined[name].dtype and np.array_equal(values, joined[name], equal_nan=True), name
    assert joined["has_gt"][:, 4].any() and (joined["label_coco_ap"][:, 4][joined["has_gt"][:, 4]] == 0).all()
    means, direct = cbs.coco_means(joined), cbs.coco_resampled(coco.evidence, n_images, n_labels, weights, threads=1)
    for name, values in direct.items():
        assert np.array_equal(values, means[name], equal_nan=True), name
    assert 0.05 < np.nanmean(direct["coco.AP"]) < 0.95


def test_label_samples_of_resample_blocks_are_the_rows_of_all_resamples():
    """A Dask cluster splits a large label's resampling into blocks of resamples (report.intervals
    `_on_cluster`): each block's values are those rows of the whole run, bit for bit, for COCO AP's and for
    mAP50 / P / R / F1's per-label samples and sums; also where a block's counts are kept in float32 and the
    whole run's in float64 (`Block`: exact either way)."""
    from evalsite.metrics import bootstrap as bs
    from evalsite.metrics import coco_bootstrap as cbs
    from evalsite.metrics.coco import coco_evaluate
    from evalsite.metrics.matching import match_detections

    rng = np.random.default_rng(23)
    n_images, n_labels, n_gt, n_dt = 300, 3, 1200, 5000
    gt_image = rng.integers(0, n_images, n_gt)
    gt_label = np.arange(n_gt) % n_labels
    gt_box = np.c_[rng.uniform(0, 200, (n_gt, 2)), rng.uniform(5, 60, (n_gt, 2))]
    pick = rng.integers(0, n_gt, n_dt)
    dt_box = gt_box[pick] + rng.normal(0, 6, (n_dt, 4)) * [1, 1, 0.5, 0.5]
    dt_box[:, 2:] = np.abs(dt_box[:, 2:]) + 1
    dt_image, dt_label, dt_score = gt_image[pick], pick % n_labels, np.round(rng.random(n_dt), 2)
    coco = coco_evaluate(gt_image, gt_label, gt_box, gt_box[:, 2] * gt_box[:, 3], np.zeros(n_gt, bool), dt_image,
                         dt_label, dt_box, dt_score, n_labels)
    m = match_detections(gt_image, gt_label, gt_box, None, None, dt_image, dt_label, dt_box, dt_score)
    voc = (dt_image, dt_label, dt_score, m.tp.astype(np.int64), gt_image, gt_label)
    weights = bs.resample_weights(n_images, resamples=90, seed=2)
    blocks = [(0, 7), (7, 50), (50, 90)]
    saved = bs._FLOAT32_EXACT
    try:  # float64 for the whole run (its largest count), float32 for the block of 7 resamples
        w = weights.astype(np.float64)
        bs._FLOAT32_EXACT = 2 * (n_dt + n_gt) * float(w.max())
        assert bs.Block(w, n_dt + n_gt).dtype == np.float64
        assert bs.Block(w[:7], n_dt + n_gt).dtype == np.float32
        runs = {"coco": lambda rows: cbs.coco_label_samples(coco.evidence, n_images, n_labels, weights[rows],
                                                            threads=1),
                "voc": lambda rows: bs.detection_label_samples(*voc, n_images, n_labels, 0.5, weights[rows],
                                                               threads=1)}
        for kind, run in runs.items():
            whole = run(slice(None))
            parts = [run(slice(r0, r1)) for r0, r1 in blocks]
            for name, values in whole.items():
                joined = np.concatenate([part[name] for part in parts], axis=0)
                assert values.dtype == joined.dtype and np.array_equal(values, joined, equal_nan=True), (kind, name)
    finally:
        bs._FLOAT32_EXACT = saved
    assert 0.05 < np.nanmean(bs.detection_means(whole)["mAP50"]) < 0.95
