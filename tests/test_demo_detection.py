"""The detection demo task: valid COCO files, boxes inside the images, deterministic, and a detector whose
predictions show, at the report's threshold t*, every kind of error the report explains."""

from __future__ import annotations

import collections
import contextlib
import io
import json
from pathlib import Path

import pytest
import yaml
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from evalsite.commands.evaluate import evaluate
from evalsite.demo.detection import write_detection_inputs
from evalsite.manifest import load_manifest


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The full-size demo task, as `evalsite demo` writes it."""
    return write_detection_inputs(tmp_path_factory.mktemp("detection"), "en")


@pytest.fixture(scope="module")
def report(demo: Path):
    """The demo task's report, through the real pipeline."""
    return evaluate(load_manifest(demo))


def _load(manifest: Path) -> tuple[dict, list[dict]]:
    folder = manifest.parent
    return (json.loads((folder / "ground_truth.json").read_text(encoding="utf-8")),
            json.loads((folder / "predictions.json").read_text(encoding="utf-8")))


def check_demo_files(manifest: Path, file: str, name: str, task_type: str, n_images: int) -> tuple[dict, list]:
    """The manifest, the COCO files and the images of a shapes demo task as `evalsite demo` writes them."""
    assert manifest.name == file
    spec = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    assert spec == {"name": name, "type": task_type, "images": "images",
                    "ground_truth": {"format": "coco", "path": "ground_truth.json"},
                    "predictions": {"format": "coco", "path": "predictions.json"}, "language": "en"}
    gt, predictions = _load(manifest)
    assert len(gt["images"]) == n_images
    assert {c["name"] for c in gt["categories"]} == {"circle", "square", "triangle", "ring"}
    for image in gt["images"]:
        with Image.open(manifest.parent / "images" / image["file_name"]) as picture:
            assert picture.format == "PNG"
            assert picture.size == (image["width"], image["height"])
    return gt, predictions


def test_files_and_manifest(demo: Path):
    gt, predictions = check_demo_files(demo, "detection.yaml", "shapes", "detection", 120)
    assert min(a["id"] for a in gt["annotations"]) == 0  # 0 is a valid annotation id
    assert len({a["id"] for a in gt["annotations"]}) == len(gt["annotations"])
    assert predictions and all(set(p) == {"image_id", "category_id", "bbox", "score"} for p in predictions)
    assert all(0 < p["score"] <= 1 and p["score"] == round(p["score"], 4) for p in predictions)


def test_boxes_inside_images(demo: Path):
    gt, predictions = _load(demo)
    sizes = {image["id"]: (image["width"], image["height"]) for image in gt["images"]}
    category_ids = {c["id"] for c in gt["categories"]}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= sizes[a["image_id"]][0] and y + h <= sizes[a["image_id"]][1]
        assert a["area"] == w * h and a["iscrowd"] == 0 and a["category_id"] in category_ids
    for p in predictions:
        x, y, w, h = p["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= sizes[p["image_id"]][0] and y + h <= sizes[p["image_id"]][1]
        assert p["category_id"] in category_ids


def test_valid_for_pycocotools(demo: Path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(demo.parent / "ground_truth.json"))
        dt = gt.loadRes(str(demo.parent / "predictions.json"))
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    ap50 = evaluation.stats[1]
    assert 0.5 < ap50 < 0.9, ap50  # a real model, neither useless nor perfect


def test_every_kind_of_error_at_the_report_threshold(demo: Path, report):
    """The report shows errors at its operating point t*, so every kind must occur at t*, not only below."""
    threshold = report.metrics["threshold"]
    assert 0 < threshold < 1, threshold
    assert 0.6 < report.metrics["mAP50"] < 0.85, report.metrics["mAP50"]  # a real model, neither bad nor perfect
    counts = collections.Counter((e.kind, e.type) for e in report.errors)
    assert all(e.score is not None and e.score >= threshold for e in report.errors if e.kind == "false_positive")
    assert counts["false_positive", "wrong_label"] >= 3, counts
    for fp_type in ("background", "localisation", "duplicate"):
        assert counts["false_positive", fp_type] >= 2, counts
    for fn_type in ("wrong_label", "below_threshold", "localisation", "no_detection"):
        assert counts["missed", fn_type] >= 2, counts

    # the wrong labels are confident mistakes: each is its box's top-1 label, not a runner-up label
    _, predictions = _load(demo)
    best: dict[tuple, float] = {}
    for p in predictions:
        key = (p["image_id"], tuple(p["bbox"]))
        best[key] = max(best.get(key, 0.0), p["score"])
    top1 = [e for e in report.errors if e.kind == "false_positive" and e.type == "wrong_label"
            and e.score == best[e.image_id, tuple(e.box)]]
    assert len(top1) >= 3, top1


def check_deterministic(write, tmp_path: Path, manifest_name: str) -> None:
    """`write(folder, language, seed=..., n_train=..., n_eval=...)` gives the same bytes for the same seed."""
    first = write(tmp_path / "a", "zh", seed=3, n_train=30, n_eval=12)
    second = write(tmp_path / "b", "zh", seed=3, n_train=30, n_eval=12)
    for name in ("ground_truth.json", "predictions.json", manifest_name):
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes(), name
    images = sorted(p.name for p in (first.parent / "images").iterdir())
    assert len(images) == 12 and images == sorted(p.name for p in (second.parent / "images").iterdir())
    assert all((first.parent / "images" / n).read_bytes() == (second.parent / "images" / n).read_bytes()
               for n in images)
    assert "language: zh" in first.read_text(encoding="utf-8")
    other = write(tmp_path / "c", "zh", seed=4, n_train=30, n_eval=12)
    assert (other.parent / "ground_truth.json").read_bytes() != (first.parent / "ground_truth.json").read_bytes()


def test_deterministic(tmp_path: Path):
    check_deterministic(write_detection_inputs, tmp_path, "detection.yaml")
