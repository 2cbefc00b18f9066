"""The detection demo task: valid COCO files, boxes inside the images, deterministic, and a detector whose
predictions show every kind of error the report explains."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from generator.demo_detection import write_detection_inputs


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The full-size demo task, as `evalsite demo` writes it."""
    return write_detection_inputs(tmp_path_factory.mktemp("detection"), "en")


def _load(manifest: Path) -> tuple[dict, list[dict]]:
    folder = manifest.parent
    return (json.loads((folder / "ground_truth.json").read_text(encoding="utf-8")),
            json.loads((folder / "predictions.json").read_text(encoding="utf-8")))


def _iou(box: list[float], boxes: np.ndarray) -> np.ndarray:
    """IoU of one xywh box with each row of `boxes`, written independently of the generator's."""
    if not len(boxes):
        return np.zeros(0)
    x, y, w, h = box
    ix = np.clip(np.minimum(x + w, boxes[:, 0] + boxes[:, 2]) - np.maximum(x, boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(y + h, boxes[:, 1] + boxes[:, 3]) - np.maximum(y, boxes[:, 1]), 0, None)
    inter = ix * iy
    return inter / (w * h + boxes[:, 2] * boxes[:, 3] - inter)


def _error_kinds(gt: dict, predictions: list[dict]) -> dict[str, int]:
    """TIDE-style kinds at IoU 0.5 (foreground) and 0.1 (background), greedy matching by score per image."""
    counts = dict.fromkeys(["correct", "background", "wrong label", "localisation", "duplicate", "missed"], 0)
    for image in gt["images"]:
        objects = [a for a in gt["annotations"] if a["image_id"] == image["id"]]
        found = sorted((p for p in predictions if p["image_id"] == image["id"]), key=lambda p: -p["score"])
        boxes = np.array([a["bbox"] for a in objects], dtype=float).reshape(-1, 4)
        labels = np.array([a["category_id"] for a in objects])
        taken = np.zeros(len(objects), dtype=bool)
        for p in found:
            iou = _iou(p["bbox"], boxes)
            same = labels == p["category_id"]
            free = np.flatnonzero(same & ~taken & (iou >= 0.5))
            if len(free):
                taken[free[np.argmax(iou[free])]] = True
                counts["correct"] += 1
            elif (iou[same] >= 0.5).any():
                counts["duplicate"] += 1
            elif len(iou) and iou.max() >= 0.5:
                counts["wrong label"] += 1
            elif (iou[same] >= 0.1).any():
                counts["localisation"] += 1
            elif not len(iou) or iou.max() < 0.1:
                counts["background"] += 1
        for box in boxes:  # not even roughly found by any detection
            overlap = _iou(list(box), np.array([p["bbox"] for p in found], dtype=float).reshape(-1, 4))
            counts["missed"] += int(not (overlap >= 0.1).any())
    return counts


def test_files_and_manifest(demo: Path):
    assert demo.name == "detection.yaml"
    spec = yaml.safe_load(demo.read_text(encoding="utf-8"))
    assert spec == {"name": "shapes", "type": "detection", "images": "images",
                    "ground_truth": {"format": "coco", "path": "ground_truth.json"},
                    "predictions": {"format": "coco", "path": "predictions.json"}, "language": "en"}
    gt, predictions = _load(demo)
    assert len(gt["images"]) == 120
    assert {c["name"] for c in gt["categories"]} == {"circle", "square", "triangle", "ring"}
    for image in gt["images"]:
        with Image.open(demo.parent / "images" / image["file_name"]) as picture:
            assert picture.format == "PNG"
            assert picture.size == (image["width"], image["height"])
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
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(demo.parent / "ground_truth.json"))
        dt = gt.loadRes(str(demo.parent / "predictions.json"))
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    ap50 = evaluation.stats[1]
    assert 0.5 < ap50 < 0.9, ap50  # a real model, neither useless nor perfect


def test_every_kind_of_error(demo: Path):
    counts = _error_kinds(*_load(demo))
    assert counts["correct"] > 100, counts
    for kind in ("background", "wrong label", "localisation", "duplicate", "missed"):
        assert counts[kind] >= 2, counts


def test_deterministic(tmp_path: Path):
    first = write_detection_inputs(tmp_path / "a", "zh", seed=3, n_train=30, n_eval=12)
    second = write_detection_inputs(tmp_path / "b", "zh", seed=3, n_train=30, n_eval=12)
    for name in ("ground_truth.json", "predictions.json", "detection.yaml"):
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes(), name
    images = sorted(p.name for p in (first.parent / "images").iterdir())
    assert len(images) == 12 and images == sorted(p.name for p in (second.parent / "images").iterdir())
    assert all((first.parent / "images" / n).read_bytes() == (second.parent / "images" / n).read_bytes()
               for n in images)
    assert "language: zh" in first.read_text(encoding="utf-8")
    other = write_detection_inputs(tmp_path / "c", "zh", seed=4, n_train=30, n_eval=12)
    assert (other.parent / "ground_truth.json").read_bytes() != (first.parent / "ground_truth.json").read_bytes()
