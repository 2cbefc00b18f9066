"""The threshold explorer's precomputed table: brute-force counting on random evidence, thinning exact at the
scores kept, and at t* the report's own numbers through the real pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from evalsite.commands.evaluate import evaluate
from evalsite.demo.detection import write_detection_inputs
from evalsite.manifest import load_manifest
from evalsite.metrics.threshold_table import counts_at, threshold_table

from conftest import write_detection_task


def _brute(label, score, tp, gt_label, n_labels: int, t: float, only: int | None = None) -> dict:
    rows = []
    for c in range(n_labels):
        sel = (label == c) & (score >= t)
        a, b = int((sel & (tp == 1)).sum()), int((sel & (tp == 0)).sum())
        n = int((gt_label == c).sum())
        rows.append((a, b, n - a, n > 0 or bool((label == c).any())))
    if only is not None:
        a, b, f, _ = rows[only]
        f1 = 2 * a / (2 * a + b + f) if 2 * a + b + f else 0.0
    else:
        a, b, f = (sum(r[i] for r in rows) for i in range(3))
        f1s = [2 * r[0] / (2 * r[0] + r[1] + r[2]) if 2 * r[0] + r[1] + r[2] else 0.0 for r in rows if r[3]]
        f1 = sum(f1s) / len(f1s) if f1s else 0.0
    return {"tp": a, "fp": b, "fn": f, "precision": a / (a + b) if a + b else 0.0,
            "recall": a / (a + f) if a + f else 0.0, "f1": f1}


def _random_evidence(rng, n_dt: int, n_gt: int, n_labels: int, decimals: int):
    score = np.round(rng.random(n_dt), decimals)
    order = np.argsort(-score, kind="stable")
    return (rng.integers(0, n_labels, n_dt)[order], score[order], rng.integers(0, 2, n_dt)[order],
            rng.integers(0, n_labels - 1, n_gt))  # the last label has no ground truth


@pytest.mark.parametrize("seed", range(5))
def test_table_equals_brute_force_counting(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_labels = 4
    label, score, tp, gt = _random_evidence(rng, 300, 120, n_labels, decimals=2)
    table = threshold_table(label, score, tp, gt, n_labels)
    assert table["complete"] and len(table["thresholds"]) == len(np.unique(score))
    probes = list(np.unique(score)) + list(rng.random(40)) + [0.0, -1.0, 1.5]
    for t in probes:
        for only in [None, *range(n_labels)]:
            got, want = counts_at(table, float(t), only), _brute(label, score, tp, gt, n_labels, float(t), only)
            assert {k: got[k] for k in want} == pytest.approx(want), (t, only)


def test_thinned_table_is_exact_at_the_scores_kept() -> None:
    rng = np.random.default_rng(7)
    n_labels = 3
    label, score, tp, gt = _random_evidence(rng, 3000, 900, n_labels, decimals=6)
    keep = float(score[1234])
    table = threshold_table(label, score, tp, gt, n_labels, keep=[keep], max_points=100)
    assert not table["complete"] and len(table["thresholds"]) <= 100
    assert keep in table["thresholds"] and table["thresholds"][0] == score.max()
    assert table["thresholds"][-1] == score.min()
    assert all(len(entry["at"]) <= 100 for entry in table["labels"])
    for t in table["thresholds"]:
        for only in [None, 0, 2]:
            got, want = counts_at(table, t, only), _brute(label, score, tp, gt, n_labels, t, only)
            assert {k: got[k] for k in want} == pytest.approx(want)
    # Between grid scores a threshold counts like the next grid score above it.
    t = (table["thresholds"][10] + table["thresholds"][11]) / 2
    assert counts_at(table, t)["threshold"] == table["thresholds"][10]


def test_many_labels_share_a_coarser_grid_within_the_entry_budget() -> None:
    """1,000 labels: the grid is halved until all labels' entries fit `max_entries`; t* stays on the grid
    and the counts are exact at every grid score (checked against the brute-force count)."""
    rng = np.random.default_rng(11)
    n_labels = 1000
    label, score, tp, gt = _random_evidence(rng, 20000, 5000, n_labels, decimals=6)
    keep = float(score[77])
    table = threshold_table(label, score, tp, gt, n_labels, keep=[keep], max_entries=4000)
    assert sum(len(entry["at"]) for entry in table["labels"]) <= 4000
    assert keep in table["thresholds"] and len(table["thresholds"]) < 500
    grid = table["thresholds"]
    for t in [grid[0], keep, grid[len(grid) // 2], grid[-1]]:
        for only in [None, 0, 999]:
            got, want = counts_at(table, t, only), _brute(label, score, tp, gt, n_labels, t, only)
            assert {k: got[k] for k in want} == pytest.approx(want)


def test_no_detection_at_all() -> None:
    table = threshold_table([], [], [], [0, 1, 1], 3)
    assert table["thresholds"] == [] and table["complete"]
    got = counts_at(table, 0.5)
    assert (got["tp"], got["fp"], got["fn"], got["f1"]) == (0, 0, 3, 0.0)


def _check_report(report) -> None:
    e = report.evidence
    table = threshold_table(e.dt_label, e.dt_score, e.dt_tp, e.gt_label, len(report.dataset.labels),
                            keep=[report.metrics["threshold"]])
    t_star = report.metrics["threshold"]
    overall = counts_at(table, t_star)
    for key in ("precision", "recall", "f1"):
        assert overall[key] == pytest.approx(report.metrics[key], abs=1e-12), key
    for c, row in enumerate(report.per_label):
        got = counts_at(table, t_star, c)
        assert (got["tp"], got["fp"], got["fn"]) == (row.tp, row.fp, row.fn), row.label
        for key in ("precision", "recall", "f1"):
            assert got[key] == pytest.approx(getattr(row, key), abs=1e-12), (row.label, key)


def test_at_t_star_the_table_gives_the_reports_numbers(tmp_path) -> None:
    _check_report(evaluate(load_manifest(write_detection_task(tmp_path / "small"))))
    _check_report(evaluate(load_manifest(write_detection_inputs(tmp_path / "demo", "en", n_train=60,
                                                                n_eval=40))))
