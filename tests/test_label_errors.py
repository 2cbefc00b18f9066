"""Likely label errors (generator/metrics/label_errors.py): the rules on hand-made cases, and end to end."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalsite.cli import main
from evalsite.metrics.classification import rank_from_scores
from evalsite.metrics.label_errors import (
    MIN_RECALL,
    NEAR_IOU,
    REASONS,
    box_suspect,
    classification_suspects,
    max_ious,
    score_thresholds,
    suspect_order,
)

from conftest import _coco_manifest, write_task


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# --- classification -------------------------------------------------------------------------------------

def test_classification_flags_confident_other_label_ranked_by_margin() -> None:
    # Self-confidence of the label-1 images: 0.9, 0.7, 0.2 -> t_1 = 0.6; label 0: 0.8, 0.45, 0.1 -> t_0 = 0.45.
    scores = np.array([
        [0.1, 0.9],   # 0: true 1, right
        [0.3, 0.7],   # 1: true 1, right
        [0.8, 0.2],   # 2: true 1, top-1 label 0 at 0.8 >= t_0 = 0.45: flagged, margin 0.6
        [0.8, 0.2],   # 3: true 0, right
        [0.45, 0.1],  # 4: true 0, right
        [0.1, 0.6],   # 5: true 0, top-1 label 1 at exactly t_1 = 0.6: flagged (the boundary), margin 0.5
    ])
    y_true = np.array([1, 1, 1, 0, 0, 0])
    ranked, ranked_scores = rank_from_scores(scores, 2)
    s = classification_suspects(y_true, ranked, ranked_scores, 2, scores)
    assert s.thresholds == pytest.approx([0.45, 0.6])
    assert s.flagged.tolist() == [False, False, True, False, False, True]  # image 5: 0.6 >= 0.6, the boundary
    assert s.suspicion[2] == pytest.approx(0.6) and s.suspicion[5] == pytest.approx(0.5)
    assert s.order.tolist() == [2, 5]  # largest margin first
    # just below the bar: not flagged
    scores[5, 1] = 0.599
    ranked, ranked_scores = rank_from_scores(scores, 2)
    s = classification_suspects(y_true, ranked, ranked_scores, 2, scores)
    assert not s.flagged[5]


def test_classification_topk_lists_and_unannotated_labels() -> None:
    # top-2 lists over 3 labels; label 2 is never annotated (no t_2: never flagged).
    y_true = np.array([0, 0, 1, 1])
    ranked = np.array([[0, 1], [1, 2], [1, 0], [2, 0]])
    ranked_scores = np.array([[0.9, 0.1], [0.95, 0.03], [0.6, 0.3], [0.99, 0.01]])
    s = classification_suspects(y_true, ranked, ranked_scores, 3)
    # image 1: label 0 not listed -> self-confidence = lowest listed 0.03; t_0 = 0.9 (image 1 not exact)
    assert s.self_confidence[1] == pytest.approx(0.03)
    assert s.thresholds[0] == pytest.approx(0.9) and s.thresholds[1] == pytest.approx(0.6)
    assert np.isnan(s.thresholds[2])
    # image 1: top-1 label 1 at 0.95 >= t_1 = 0.6: flagged; image 3: label 2 has no t_2: not flagged
    assert s.flagged.tolist() == [False, True, False, False]
    assert s.suspicion[1] == pytest.approx(0.92)


def test_classification_without_prediction_is_never_flagged() -> None:
    scores = np.array([[np.nan, np.nan], [0.9, 0.1], [0.2, 0.8]])
    ranked, ranked_scores = rank_from_scores(scores, 2)
    s = classification_suspects(np.array([0, 0, 1]), ranked, ranked_scores, 2, scores)
    assert s.flagged.tolist() == [False, False, False]


# --- detection ------------------------------------------------------------------------------------------

def test_score_thresholds_are_per_label_medians_with_fallback() -> None:
    t = score_thresholds(np.array([0, 0, 0, 1, 1]), np.array([0.9, 0.5, 0.7, 0.6, 0.8]), 3)
    assert t.tolist() == pytest.approx([0.7, 0.7, 0.7])  # label 2: the overall median 0.7
    t = score_thresholds(np.array([0, 0]), np.array([0.9, 0.5]), 2)
    assert t.tolist() == pytest.approx([0.7, 0.7])
    assert np.isnan(score_thresholds(np.array([], int), np.array([]), 2)).all()


def test_box_reasons_and_boundaries() -> None:
    th = np.array([0.8, np.nan])
    assert box_suspect("false_positive", "background", 0, 0.8, th).reason == "missing_annotation"  # at the bar
    assert box_suspect("false_positive", "background", 0, 0.79, th) is None
    found = box_suspect("false_positive", "wrong_label", 0, 0.95, th)
    assert (found.reason, found.suspicion, found.threshold) == ("swapped_label", 0.95, 0.8)
    assert box_suspect("false_positive", "localisation", 0, 0.99, th) is None
    assert box_suspect("false_positive", "duplicate", 0, 0.99, th) is None
    assert box_suspect("false_positive", "background", 1, 0.99, th) is None  # no bar for that label
    found = box_suspect("missed", "no_detection", 0, None, th, recall=MIN_RECALL, near=0.0)
    assert (found.reason, found.suspicion, found.threshold) == ("spurious_annotation", MIN_RECALL, MIN_RECALL)
    assert box_suspect("missed", "no_detection", 0, None, th, recall=0.49, near=0.0) is None
    assert box_suspect("missed", "no_detection", 0, None, th, recall=0.9, near=NEAR_IOU) is None  # near: IoU 0.1
    assert box_suspect("missed", "no_detection", 0, None, th, recall=0.9, near=0.099).reason == "spurious_annotation"
    assert box_suspect("missed", "below_threshold", 0, 0.3, th, recall=0.9, near=0.0) is None


def max_iou(box: list[float], boxes: np.ndarray) -> float:
    """Reference: the largest IoU of one x, y, w, h box with any of `boxes`, one box at a time (0 for none)."""
    best = 0.0
    x, y, w, h = box
    for bx, by, bw, bh in np.asarray(boxes, dtype=float).reshape(-1, 4).tolist():
        inter = max(min(x + w, bx + bw) - max(x, bx), 0.0) * max(min(y + h, by + bh) - max(y, by), 0.0)
        union = w * h + bw * bh - inter
        best = max(best, inter / union if union > 0 else 0.0)
    return best


def test_max_ious_equals_max_iou_box_by_box(monkeypatch) -> None:
    """The vectorised form gives the reference's values to the last bit, also when its steps split the boxes."""
    import evalsite.metrics.label_errors as label_errors

    rng = np.random.default_rng(1)
    for trial in range(200):
        n_boxes, n_candidates, n_groups = rng.integers(0, 30), rng.integers(0, 60), rng.integers(1, 8)
        candidates = np.round(rng.random((n_candidates, 4)) * 20, int(rng.integers(0, 3)))
        bounds = np.searchsorted(np.sort(rng.integers(0, n_groups, n_candidates)), np.arange(n_groups + 1))
        boxes = np.round(rng.random((n_boxes, 4)) * 20, int(rng.integers(0, 3)))
        group = rng.integers(0, n_groups, n_boxes)
        monkeypatch.setattr(label_errors, "_PAIRS", int(rng.integers(1, 50)))
        want = [max_iou(b.tolist(), candidates[bounds[g]:bounds[g + 1]]) for b, g in zip(boxes, group)]
        assert max_ious(boxes, candidates, bounds, group).tolist() == want, trial
        # the candidates given as rows of a larger array (read a step at a time, never copied whole)
        table = np.round(rng.random((n_candidates + 7, 4)) * 20)
        rows = rng.permutation(len(table))[:n_candidates]
        table[rows] = candidates
        assert max_ious(boxes, table, bounds, group, rows=rows).tolist() == want, trial


def test_max_ious_by_hand_and_order() -> None:
    box = np.array([[0, 0, 10, 10]])
    assert max_ious(box, np.zeros((0, 4)), np.array([0, 0]), np.array([0])).tolist() == [0.0]
    assert max_ious(box, np.array([[0, 0, 10, 10], [5, 0, 10, 10]]), np.array([0, 2]), np.array([0]))[0] == 1.0
    assert max_ious(box, np.array([[5, 0, 10, 10]]), np.array([0, 1]), np.array([0]))[0] == pytest.approx(50 / 150)
    reasons = ["spurious_annotation", None, "missing_annotation", "missing_annotation", "swapped_label",
               "spurious_annotation"]
    suspicion = [0.9, None, 0.7, 0.95, 0.8, 0.9]
    area = [10.0, 0.0, 1.0, 1.0, 1.0, 50.0]
    assert suspect_order(reasons, suspicion, area) == [3, 2, 4, 5, 0]
    assert REASONS[0] == "confident_other_label"


# --- end to end -----------------------------------------------------------------------------------------

NASTY = ["<script>window.__pwned=1</script>", "*bold* _it_"]


def write_planted_detection(folder: Path, labels: list[str]) -> Path:
    """Labels 0 and 1; four right detections, and one planted case of each reason."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    from PIL import Image

    gts = {0: [(0, [4, 4, 20, 20])], 1: [(0, [10, 10, 20, 20])], 2: [(1, [30, 10, 16, 16])],
           3: [(1, [5, 5, 20, 20])], 4: [], 5: [(1, [10, 10, 20, 20])], 6: [(0, [40, 5, 15, 15])]}
    preds = [(0, 0, [5, 4, 20, 19], 0.9), (1, 0, [10, 10, 20, 20], 0.8), (2, 1, [30, 10, 16, 16], 0.85),
             (3, 1, [5, 5, 20, 20], 0.7),
             (4, 0, [30, 20, 20, 20], 0.95),  # background, 0.95 >= median(0.9, 0.8): missing annotation
             (5, 0, [10, 10, 20, 20], 0.92)]  # on a label-1 box, 0.92 >= 0.85: swapped label
    # image 6: a label-0 object with nothing near it; label 0 recall 2/3 >= 0.5: spurious annotation
    images, annotations = [], []
    for i, objects in gts.items():
        Image.new("RGB", (64, 48), (20 * i, 90, 160)).save(folder / "images" / f"im{i}.png")
        images.append({"id": i, "file_name": f"im{i}.png", "width": 64, "height": 48})
        for c, box in objects:
            annotations.append({"id": len(annotations) + 100, "image_id": i, "category_id": c, "bbox": box,
                                "area": box[2] * box[3], "iscrowd": 0})
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": c, "name": n} for c, n in enumerate(labels)]}
    results = [{"image_id": i, "category_id": c, "bbox": b, "score": s} for i, c, b, s in preds]
    (folder / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (folder / "pred.json").write_text(json.dumps(results), encoding="utf-8")
    manifest = _coco_manifest(folder, "det", "detection", "en")
    manifest.write_text(manifest.read_text(encoding="utf-8")
                        + "annotation_url: https://label.example/edit?image={file_name}&ann={annotation_id}\n",
                        encoding="utf-8")
    return manifest


def _assert_escaped(pages: dict[Path, str]) -> None:
    for page, html in pages.items():
        assert "<script>window.__pwned" not in html, page
        assert "<strong>bold</strong>" not in html and "<em>bold</em>" not in html, page


def test_detection_suspects_end_to_end(tmp_path: Path) -> None:
    labels = ["cat", NASTY[0]]
    result = run("build", write_planted_detection(tmp_path / "in", labels), "-o", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    site = tmp_path / "out" / "det"
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    flagged = {(e["image"], e["suspect"]) for e in report["errors"] if e["suspect"]}
    assert flagged == {("im4.png", "missing_annotation"), ("im5.png", "swapped_label"),
                       ("im6.png", "spurious_annotation")}
    by_image = {e["image"]: e for e in report["errors"] if e["suspect"]}
    assert by_image["im4.png"]["suspect_threshold"] == pytest.approx(0.85)
    assert by_image["im6.png"]["suspicion"] == pytest.approx(2 / 3)
    with open(site / "downloads" / "errors.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["image"], r["suspect"]) for r in rows if r["suspect"]} == flagged
    assert all("suspicion" in r for r in rows)
    page = (site / "errors" / "suspects.html").read_text(encoding="utf-8")
    for reason in ("possibly missing annotation", "possibly swapped label", "possibly spurious annotation"):
        assert reason in page
    assert "https://label.example/edit?image=im5.png&amp;ann=" in page  # the annotation link
    assert page.count('class="es-badge"') == 3
    galleries = "".join(p.read_text(encoding="utf-8") for p in (site / "errors").glob("label-*.html"))
    assert galleries.count('class="es-badge"') == 3
    assert 'href="suspects.html"' in (site / "errors" / "index.html").read_text(encoding="utf-8")
    assert "errors/suspects.html" in (site / "data.html").read_text(encoding="utf-8")
    _assert_escaped({p: p.read_text(encoding="utf-8") for p in site.rglob("*.html")})


def test_classification_suspects_end_to_end(tmp_path: Path) -> None:
    labels = ["cat", *NASTY]
    manifest = write_task(tmp_path / "in", labels, n_images=30)
    rows = list(csv.reader(open(tmp_path / "in" / "pred.csv", encoding="utf-8")))
    rows[1] = [rows[1][0], "0.01", "2.5", "0.1"]  # img-000, annotated cat: the model is sure of label 1
    with open(tmp_path / "in" / "pred.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    result = run("build", manifest, "-o", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    site = tmp_path / "out" / "task"
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    suspects = [e for e in report["errors"] if e["suspect"]]
    assert suspects and all(e["suspect"] == "confident_other_label" for e in suspects)
    first = max(suspects, key=lambda e: e["suspicion"])
    assert first["image"] == "img-000.png" and first["suspicion"] == pytest.approx(2.49)
    with open(site / "downloads" / "suspects.csv", encoding="utf-8", newline="") as handle:
        listed = list(csv.DictReader(handle))
    assert [r["image"] for r in listed][0] == "img-000.png" and len(listed) == len(suspects)
    assert float(listed[0]["true_label_score"]) == pytest.approx(0.01)
    page = (site / "errors" / "suspects.html").read_text(encoding="utf-8")
    assert page.count('class="es-badge"') == len(suspects) and "img-000.png" in page
    assert re.search(r"t_j is the mean self-confidence", page)
    galleries = "".join(p.read_text(encoding="utf-8") for p in (site / "errors").glob("label-*.html"))
    assert galleries.count('class="es-badge"') == len(suspects)
    assert "Check these annotations" in (site / "index.html").read_text(encoding="utf-8")  # in the nav
    _assert_escaped({p: p.read_text(encoding="utf-8") for p in site.rglob("*.html")})


def test_every_reason_has_messages() -> None:
    import yaml

    catalogue = yaml.safe_load((Path(__file__).resolve().parent.parent / "templates/messages.yaml")
                               .read_text(encoding="utf-8"))
    for reason in REASONS:
        for key in (f"suspect_{reason}", f"suspect_hint_{reason}", f"suspects_rule_{reason}"):
            assert key in catalogue, key
