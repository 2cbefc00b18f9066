"""Detection sets with nothing on one side: no predictions at all, no ground-truth object at all, neither.
Each once crashed (IndexError in the report's error list); the numbers are the documented ones
(docs/metrics.md): a label with GT and no prediction has AP 0, mAP is undefined without any GT, and with no
prediction t* is undefined and P = R = F1 = 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main

GT_OBJECT = {"id": 7, "image_id": 0, "category_id": 0, "bbox": [4, 4, 20, 20], "area": 400, "iscrowd": 0}
PREDICTION = {"image_id": 1, "category_id": 1, "bbox": [30, 10, 16, 16], "score": 0.9}


def _task(root: Path, name: str, annotations: list, predictions: list, task_type: str = "detection") -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(3):
        Image.new("RGB", (64, 48), (40 * i, 90, 160)).save(root / "images" / f"im{i}.png")
        images.append({"id": i, "file_name": f"im{i}.png", "width": 64, "height": 48})
    gt = {"images": images, "categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}],
          "annotations": annotations}
    if task_type == "segmentation":
        for a in gt["annotations"]:
            a["segmentation"] = [[4, 4, 24, 4, 24, 24, 4, 24]]
        for p in predictions:
            p["segmentation"] = [[30, 10, 46, 10, 46, 26, 30, 26]]
    (root / f"{name}-gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (root / f"{name}-pred.json").write_text(json.dumps(predictions), encoding="utf-8")
    manifest = root / f"{name}.yaml"
    manifest.write_text(f"name: {name}\ntype: {task_type}\nimages: images\nlanguage: en\n"
                        f"ground_truth: {{format: coco, path: {name}-gt.json}}\n"
                        f"predictions: {{format: coco, path: {name}-pred.json}}\n", encoding="utf-8")
    return manifest


def _build(manifest: Path, out: Path) -> dict:
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    name = manifest.stem
    assert (out / name / "index.html").is_file() and (out / name / "errors" / "index.html").is_file()
    return json.loads((out / name / "report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("task_type", ["detection", "segmentation"])
def test_no_prediction_at_all(tmp_path: Path, task_type: str) -> None:
    report = _build(_task(tmp_path, "nopred", [GT_OBJECT], [], task_type), tmp_path / "out")
    m = report["metrics"]
    assert m["threshold"] is None and (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    assert m["mAP50"] == 0.0  # cat has GT and no prediction: AP 0; dog has no GT: no AP
    assert [(e["kind"], e["type"], e["label"], e["annotation_id"], e["related_box"]) for e in report["errors"]] \
        == [("missed", "no_detection", "cat", 7, None)]


@pytest.mark.parametrize("task_type", ["detection", "segmentation"])
def test_no_ground_truth_object_at_all(tmp_path: Path, task_type: str) -> None:
    report = _build(_task(tmp_path, "nogt", [], [PREDICTION], task_type), tmp_path / "out")
    m = report["metrics"]
    assert m["mAP50"] is None and (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    assert [(e["kind"], e["type"], e["label"], e["related_label"], e["annotation_id"]) for e in report["errors"]] \
        == [("false_positive", "background", "dog", None, None)]


def test_neither(tmp_path: Path) -> None:
    report = _build(_task(tmp_path, "neither", [], []), tmp_path / "out")
    m = report["metrics"]
    assert m["mAP50"] is None and m["threshold"] is None and report["errors"] == []
