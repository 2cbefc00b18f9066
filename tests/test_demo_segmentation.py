"""The segmentation demo task: valid COCO files whose masks are what they claim, deterministic, fast, and a
model whose predictions show, at the report's threshold t*, every kind of error the report explains,
"mask_quality" (right box, wrong mask) included."""

from __future__ import annotations

import collections
import contextlib
import io
import time
from pathlib import Path

import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from test_demo_detection import _load, check_demo_files, check_deterministic

from evalsite.commands.evaluate import evaluate
from evalsite.demo.segmentation import write_segmentation_inputs
from evalsite.manifest import load_manifest


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, float]:
    """The full-size demo task, as `evalsite demo` writes it, and the CPU time that writing it took."""
    start = time.process_time()
    manifest = write_segmentation_inputs(tmp_path_factory.mktemp("segmentation"), "en")
    return manifest, time.process_time() - start


@pytest.fixture(scope="module")
def manifest(demo) -> Path:
    return demo[0]


@pytest.fixture(scope="module")
def report(manifest: Path):
    """The demo task's report, through the real pipeline."""
    return evaluate(load_manifest(manifest))


def test_fast_enough(demo):
    """`make demo` and these tests run it: generating, training and predicting stay a few seconds (CPU time of
    this process, so that other work on the machine does not count; about 4 s on a 2-core machine)."""
    assert demo[1] < 12, demo[1]


def test_files_and_manifest(manifest: Path):
    gt, predictions = check_demo_files(manifest, "segmentation.yaml", "shapes-masks", "segmentation", 100)
    assert len({a["id"] for a in gt["annotations"]}) == len(gt["annotations"])
    ring = next(c["id"] for c in gt["categories"] if c["name"] == "ring")
    for a in gt["annotations"]:  # rings (holes) as compressed RLE, the others mostly as polygons
        if a["category_id"] == ring:
            assert isinstance(a["segmentation"]["counts"], str), a
    polygons = sum(isinstance(a["segmentation"], list) for a in gt["annotations"])
    assert polygons > 0.6 * len(gt["annotations"]), polygons
    assert predictions and all(set(p) == {"image_id", "category_id", "segmentation", "bbox", "score"}
                               for p in predictions)
    assert all(0 < p["score"] <= 1 and p["score"] == round(p["score"], 4) for p in predictions)
    assert all(p["segmentation"]["size"] == [120, 160] and isinstance(p["segmentation"]["counts"], str)
               for p in predictions)


def test_masks_boxes_and_areas_agree(manifest: Path):
    """Every box and area is its mask's, as pycocotools decodes the mask (so the polygons are exact)."""
    gt, predictions = _load(manifest)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(manifest.parent / "ground_truth.json"))
    for a in gt["annotations"]:
        rle = coco.annToRLE(a)
        assert mask_utils.toBbox(rle).tolist() == a["bbox"] and int(mask_utils.area(rle)) == a["area"] > 0, a["id"]
        assert a["iscrowd"] == 0
    category_ids = {c["id"] for c in gt["categories"]}
    for p in predictions:
        assert mask_utils.toBbox(p["segmentation"]).tolist() == p["bbox"]
        assert p["category_id"] in category_ids


def test_coco_segm_metrics_equal_pycocotools(manifest: Path, report):
    """The report's COCO numbers are pycocotools' segm evaluation of the results without 'bbox' (the
    detectron2 rule: detection areas are mask areas), and the model is neither useless nor perfect."""
    _, predictions = _load(manifest)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(manifest.parent / "ground_truth.json"))
        dt = gt.loadRes([{k: v for k, v in p.items() if k != "bbox"} for p in predictions])
        evaluation = COCOeval(gt, dt, "segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert 0.5 < evaluation.stats[1] < 0.85, evaluation.stats[1]
    assert report.metrics["coco"]["AP"] == pytest.approx(evaluation.stats[0], abs=1e-9)
    assert report.metrics["coco"]["AP50"] == pytest.approx(evaluation.stats[1], abs=1e-9)


def test_every_kind_of_error_at_the_report_threshold(report):
    """The report shows errors at its operating point t*, so every kind must occur at t*, not only below."""
    threshold = report.metrics["threshold"]
    assert 0 < threshold < 1, threshold
    assert 0.55 < report.metrics["mAP50"] < 0.85, report.metrics["mAP50"]  # a real model, neither bad nor perfect
    counts = collections.Counter((e.kind, e.type) for e in report.errors)
    assert all(e.score is not None and e.score >= threshold for e in report.errors if e.kind == "false_positive")
    for fp_type in ("background", "wrong_label", "mask_quality", "localisation", "duplicate"):
        assert counts["false_positive", fp_type] >= 2, counts
    assert counts["false_positive", "label_and_localisation"] >= 1, counts
    for fn_type in ("wrong_label", "below_threshold", "mask_quality", "localisation", "no_detection"):
        assert counts["missed", fn_type] >= 2, counts

    # mask quality: the box is right (IoU >= 0.5 with an object of the same label), the mask is not
    quality = [e for e in report.errors if e.type == "mask_quality"]
    assert all(e.label == e.related_label and e.box_iou >= 0.5 > e.iou for e in quality), quality
    assert all(e.mask and e.related_mask for e in quality)


def test_deterministic(tmp_path: Path):
    check_deterministic(write_segmentation_inputs, tmp_path, "segmentation.yaml")
