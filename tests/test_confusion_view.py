"""Confusion matrices without labels² (evalsite.metrics.cells, evalsite.report.confusion): the sparse cells
equal a dense count, the heat map puts confused labels side by side and bins many labels, confusion.csv is
square or long, and a report.json of schema /1 (dense counts) is still read."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from evalsite.cli import main
from evalsite.metrics.cells import count_cells, top_off_diagonal
from evalsite.report.confusion import confused_pairs, confusion_map, csv_rows
from evalsite.report.load import load_report

from conftest import write_task


@pytest.mark.parametrize("seed", range(4))
def test_cells_equal_a_dense_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    row, col = rng.integers(0, shape[0], 200), rng.integers(0, shape[1], 200)
    dense = np.zeros(shape, dtype=np.int64)
    np.add.at(dense, (row, col), 1)
    cells = count_cells(row, col, shape)
    np.testing.assert_array_equal(cells.dense(), dense)
    np.testing.assert_array_equal(cells.row_totals(), dense.sum(axis=1))
    np.testing.assert_array_equal(cells.diagonal(), np.diagonal(dense))
    assert all(cells.at(r, c) == dense[r, c] for r in range(shape[0]) for c in range(shape[1]))
    off = sorted((-int(dense[r, c]), r, c) for r in range(shape[0]) for c in range(shape[1])
                  if r != c and dense[r, c])[:5]
    assert top_off_diagonal(cells, 5) == [(r, c, -n) for n, r, c in off]


def test_pairs_give_the_share_of_the_true_label() -> None:
    # label a: 6 items, 2 taken for b and 1 for "no prediction"; label b: 4 items, 1 taken for a
    cells = count_cells(np.array([0] * 6 + [1] * 4), np.array([0, 0, 0, 1, 1, 2, 1, 1, 1, 0]), (2, 3))
    pairs = confused_pairs(cells, ["a", "b"], ["a", "b", None])
    assert [(p.true, p.predicted, p.count, p.share) for p in pairs] == [
        ("a", "b", 2, 2 / 6), ("a", None, 1, 1 / 6), ("b", "a", 1, 1 / 4)]
    assert [p.predicted for p in confused_pairs(cells, ["a", "b"], ["a", "b", None], skip_col=2)] == ["b", "a"]


def test_map_puts_confused_labels_next_to_each_other() -> None:
    # 12 labels; 0<->7, 3<->10 and 5<->1 confused often, everything else only right.
    n = 12
    row = list(range(n)) * 5
    col = list(range(n)) * 5
    for a, b in ((0, 7), (3, 10), (5, 1)):
        row += [a] * 3 + [b] * 2
        col += [b] * 3 + [a] * 2
    m = confusion_map(count_cells(np.array(row), np.array(col), (n, n)), n)
    position = {label: i for i, label in enumerate(m.order.tolist())}
    assert sorted(m.order.tolist()) == list(range(n)) and m.group == 1
    for a, b in ((0, 7), (3, 10), (5, 1)):
        assert abs(position[a] - position[b]) == 1, m.order
    # Shares by hand: label 0 has 5 right and 3 given label 7.
    assert m.share[position[0], position[0]] == pytest.approx(5 / 8)
    assert m.share[position[0], position[7]] == pytest.approx(3 / 8)
    np.testing.assert_allclose(m.share.sum(axis=1), 1.0)


def test_map_bins_many_labels_without_a_labels_squared_array() -> None:
    n = 5000
    rng = np.random.default_rng(3)
    row = rng.integers(0, n, 40000)
    col = np.where(rng.random(40000) < 0.8, row, rng.integers(0, n, 40000))
    m = confusion_map(count_cells(row, col, (n, n + 1)), n, max_side=600)
    assert m.group == 9 and m.share.shape == (556, 556)
    assert (m.share.sum(axis=1) <= 1 + 1e-12).all() and m.share.sum() > 0


def test_csv_is_square_or_one_line_per_cell() -> None:
    triples = [[0, 0, 3], [0, 2, 1], [1, 0, 2]]
    assert list(csv_rows(triples, ["a", "b"], ["a", "b", "none"])) == [
        ["true \\ predicted", "a", "b", "none"], ["a", 3, 0, 1], ["b", 2, 0, 0]]
    assert list(csv_rows(triples, ["a", "b"], ["a", "b", "none"], square_up_to=1)) == [
        ["true", "predicted", "count"], ["a", "a", 3], ["a", "none", 1], ["b", "a", 2]]


def test_a_schema_1_report_is_read(tmp_path) -> None:
    """report.json as evalsite wrote it before the sparse cells (dense `counts` and `normalised`)."""
    manifest = write_task(tmp_path / "in", ["cat", "dog", "bird"], n_images=40, name="old")
    result = CliRunner().invoke(main, ["evaluate", str(manifest), "-o", str(tmp_path / "new.json"), "--quiet"])
    assert result.exit_code == 0, result.output
    new = json.loads((tmp_path / "new.json").read_text(encoding="utf-8"))
    c = new["confusion"]
    counts = [[0] * len(c["columns"]) for _ in c["rows"]]
    for r, k, n in c["cells"]:
        counts[r][k] = n
    old = {**new, "schema": "evalsite.report/1",
           "confusion": {"rows": c["rows"], "columns": c["columns"], "counts": counts,
                         "normalised": [[n / max(sum(line), 1) for n in line] for line in counts],
                         "top_pairs": c["top_pairs"]}}
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    report, _ = load_report(tmp_path / "old.json")
    assert report.confusion.cells == c["cells"] and report.confusion.row_totals == c["row_totals"]
    assert [p.count for p in report.confusion.top_pairs] == [p["count"] for p in c["top_pairs"]]


def test_a_schema_1_detection_report_gets_its_top_pairs(tmp_path) -> None:
    """A /1 detection report had no `top_pairs`: reading it derives them as a /2 report has them (label to
    label, background and missed left out). The demo's detections confuse some labels."""
    from evalsite.demo.detection import write_detection_inputs

    manifest = write_detection_inputs(tmp_path / "demo", "en", n_train=40, n_eval=40)
    result = CliRunner().invoke(main, ["evaluate", str(manifest), "-o", str(tmp_path / "new.json"), "--quiet"])
    assert result.exit_code == 0, result.output
    new = json.loads((tmp_path / "new.json").read_text(encoding="utf-8"))
    c = new["confusion"]
    assert c["top_pairs"], "the demo should confuse some labels"
    counts = [[0] * len(c["columns"]) for _ in c["rows"]]
    for r, k, n in c["cells"]:
        counts[r][k] = n
    old = {**new, "schema": "evalsite.report/1",
           "confusion": {"rows": c["rows"], "columns": c["columns"], "counts": counts}}
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    report, _ = load_report(tmp_path / "old.json")
    assert [(p.true, p.predicted, p.count, p.share) for p in report.confusion.top_pairs] == [
        (p["true"], p["predicted"], p["count"], p["share"]) for p in c["top_pairs"]]
