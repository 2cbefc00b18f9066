"""`evalsite` on instance-segmentation tasks: numbers worked out by hand (mask IoU from pycocotools), masks in
report.json and drawn in the pictures, and bad input end to end (one line, exit 2, the old site kept)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from pycocotools import mask as maskUtils

from evalsite.cli import main

from conftest import assert_one_line_error, edit_json, listing, write_segmentation_task

RED, ORANGE, GREEN = (220, 38, 38), (245, 140, 0), (22, 163, 74)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def count(path: Path, colour: tuple[int, int, int]) -> int:
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    return int((pixels == colour).all(axis=1).sum())


@pytest.fixture
def seg(tmp_path: Path) -> Path:
    return write_segmentation_task(tmp_path / "in")


@pytest.fixture
def built(seg: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    result = run("build", seg, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out / "seg"


def _reference_masks(seg: Path) -> tuple[dict, dict]:
    """pycocotools' RLEs of the ground truth (annotation id -> RLE) and of the predictions (index -> RLE)."""
    gt = json.loads((seg.parent / "gt.json").read_text(encoding="utf-8"))
    preds = json.loads((seg.parent / "pred.json").read_text(encoding="utf-8"))
    truth = {a["id"]: maskUtils.merge(maskUtils.frPyObjects(a["segmentation"], 60, 80)) for a in gt["annotations"]}
    predicted = {i: {"size": p["segmentation"]["size"], "counts": p["segmentation"]["counts"].encode()}
                 for i, p in enumerate(preds)}
    return truth, predicted


def test_segmentation_numbers_by_hand(seg: Path, built: Path) -> None:
    report = json.loads((built / "report.json").read_text(encoding="utf-8"))
    assert report["task"]["type"] == "segmentation" and report["task"]["prediction_kind"] == "masks"
    m = report["metrics"]
    # By hand (mask IoU): cat: GT on im0 and im2; predictions by score: 0.92 on im2 (nowhere near the cat:
    # FP), 0.9 on im0 (the same square: TP). Precision/recall steps (0, 0), (1/2, 1/2): all-point AP = 1/4.
    # dog: its one prediction (0.95) has the right box but an L-shaped object inside it (mask IoU 224/900 <
    # 0.5): FP, AP 0. mAP@0.5 = 1/8.
    assert m["mAP50"] == pytest.approx(1 / 8, abs=1e-12)
    # F1(t) (mean over cat and dog): t=0.95: 0; t=0.92: 0; t=0.9: cat P 1/2, R 1/2 -> 1/2, dog 0 -> 1/4.
    # t* = 0.9; at t*: TP 1, FP 2, GT 3.
    assert m["threshold"] == 0.9 and m["f1"] == pytest.approx(0.25)
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(1 / 3)
    errors = sorted((e["kind"], e["type"], e["label"], e["image"]) for e in report["errors"])
    assert errors == [("false_positive", "background", "cat", "im2.png"),
                      ("false_positive", "mask_quality", "dog", "im1.png"),
                      ("missed", "mask_quality", "dog", "im1.png"),
                      ("missed", "no_detection", "cat", "im2.png")]
    truth, predicted = _reference_masks(seg)
    expected_iou = float(maskUtils.iou([predicted[1]], [truth[2]], [0])[0][0])
    assert expected_iou < 0.5
    for e in report["errors"]:
        if e["type"] == "mask_quality":
            assert e["iou"] == pytest.approx(expected_iou, abs=1e-12) and e["box_iou"] == pytest.approx(1.0)
    # Every mask in report.json is the very mask of its object (pycocotools decodes it to the same pixels).
    def pixels(rle: str) -> np.ndarray:
        return maskUtils.decode({"size": [60, 80], "counts": rle.encode()})

    for e in report["errors"]:
        own = truth[e["annotation_id"]] if e["kind"] == "missed" else None
        if own is not None:
            assert np.array_equal(pixels(e["mask"]), maskUtils.decode(own))
    fp_dog = next(e for e in report["errors"] if e["kind"] == "false_positive" and e["label"] == "dog")
    assert np.array_equal(pixels(fp_dog["mask"]), maskUtils.decode(predicted[1]))
    assert np.array_equal(pixels(fp_dog["related_mask"]), maskUtils.decode(truth[2]))
    drawn = {r["image"]: r["boxes"] for r in report["images"]}
    assert drawn["im0.png"]["kinds"] == ["ground_truth", "correct"]  # no error there, still drawn
    assert len(drawn["im1.png"]["masks"]) == len(drawn["im1.png"]["kinds"]) == 2
    with open(built / "downloads" / "errors.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["kind"], r["type"], r["label"], r["image"]) for r in rows) == errors


def test_masks_are_drawn_red_orange_and_green(built: Path) -> None:
    report = json.loads((built / "report.json").read_text(encoding="utf-8"))
    for e in report["errors"]:
        thumb = built / "thumbs" / f"e{e['id']:06d}.png"
        colour = RED if e["kind"] == "false_positive" else ORANGE
        assert count(thumb, colour) > 40, (e["kind"], e["type"])
        # The fill is translucent: inside the outline, the (flat) image colour blended 40% with the colour.
        img = np.asarray(Image.open(thumb).convert("RGB")).reshape(-1, 3).astype(float)
        values, counts = np.unique(img, axis=0, return_counts=True)
        background = values[np.argmax(counts)]
        blend = background + (np.array(colour) - background) * round(255 * 0.4) / 255
        assert (np.abs(img - blend).max(axis=1) <= 2).sum() > 100, (e["kind"], e["type"])
    related = next(e for e in report["errors"] if e["kind"] == "false_positive" and e["type"] == "mask_quality")
    assert count(built / "thumbs" / f"e{related['id']:06d}.png", GREEN) > 20  # the L it should have found
    fulls = sorted((built / "full").glob("*.png"))
    assert len(fulls) == 2 and all(count(f, RED) > 40 and count(f, ORANGE) > 40 for f in fulls)
    page = (built / "errors" / "label-002.html").read_text(encoding="utf-8")
    assert "mask IoU 0.25</span><span>box IoU 1.00</span>" in page and 'data-type="mask_quality"' in page
    assert "every IoU in this report is mask IoU" in (built / "index.html").read_text(encoding="utf-8")


def test_report_json_reads_back(seg: Path) -> None:
    from evalsite.commands.evaluate import evaluate
    from evalsite.manifest import load_manifest
    from evalsite.report.detection_model import DetectionReport
    from evalsite.report.load import read_report
    from evalsite.report.model import to_json

    report = evaluate(load_manifest(seg))
    again = read_report(json.loads(to_json(report)), None)
    assert type(again) is DetectionReport and again == report and to_json(again) == to_json(report)


def _rle_sum_wrong(d: list) -> None:
    d[0]["segmentation"] = {"size": [60, 80], "counts": [10, 20]}


@pytest.mark.parametrize("file, change, expected", [
    ("pred.json", _rle_sum_wrong, "pred.json, results entry 1: bad RLE mask: RLE counts sum to 30, expected"),
    ("pred.json", lambda d: d[1]["segmentation"].update(size=[61, 80]),
     "results entry 2: RLE size [61, 80] (height, width) differs from the image's size [60, 80]"),
    ("pred.json", lambda d: d[2]["segmentation"].update(counts="0!"), "results entry 3: bad compressed RLE"),
    ("gt.json", lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4]]),
     "annotation id 1: bad polygon: a polygon needs at least 3 points, got 2"),
    ("gt.json", lambda d: d["annotations"][1].update(segmentation=[[1, 2, 3, 4, 5, 6, 7]]),
     "annotation id 2: bad polygon: a polygon needs an even number of coordinates, got 7"),
    ("gt.json", lambda d: d["annotations"][2].pop("segmentation"), "annotation id 3: missing 'segmentation'"),
    ("pred.json", lambda d: [p.pop("segmentation") for p in d],
     "segmentation task, but the predictions have no masks"),
])
def test_bad_segmentation_input_is_one_line_exit_2_and_keeps_the_site(seg: Path, built: Path, file, change,
                                                                      expected: str) -> None:
    out = built.parent
    before = listing(out)
    edit_json(seg.parent / file, change)
    result = run("build", seg, "-o", out, "--quiet")
    assert_one_line_error(result, expected)
    assert listing(out) == before


def test_self_intersecting_polygon_is_rasterised_not_rejected(seg: Path) -> None:
    bowtie = [[10, 10, 25, 40, 25, 10, 10, 40]]  # two triangles meeting at (17.5, 25)
    edit_json(seg.parent / "gt.json", lambda d: d["annotations"][0].update(segmentation=bowtie))
    result = run("evaluate", seg, "-o", "-", "--quiet")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    # The bow tie covers a quarter of the predicted square: mask IoU < 0.5, so the cat is missed.
    missed = [e for e in report["errors"] if e["kind"] == "missed" and e["label"] == "cat" and e["image"] == "im0.png"]
    reference = maskUtils.merge(maskUtils.frPyObjects(bowtie, 60, 80))
    assert missed and np.array_equal(maskUtils.decode({"size": [60, 80], "counts": missed[0]["mask"].encode()}),
                                      maskUtils.decode(reference))


def test_relabel_export_carries_the_masks(seg: Path, built: Path) -> None:
    """relabel.json is a COCO file with the masks of what to review: pycocotools reads it back."""
    from pycocotools.coco import COCO

    truth, predicted = _reference_masks(seg)
    coco = COCO(str(built / "downloads" / "relabel.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    by_kind = {(a["attributes"]["evalsite_kind"], a["attributes"]["evalsite_type"]): a for a in anns}
    missed = by_kind[("missed", "no_detection")]
    assert np.array_equal(coco.annToMask(missed), maskUtils.decode(truth[3]))
    assert missed["area"] == float(maskUtils.area(truth[3]))
    background = by_kind[("false_positive", "background")]
    assert np.array_equal(coco.annToMask(background), maskUtils.decode(predicted[2]))
    with open(built / "downloads" / "errors.csv", encoding="utf-8") as handle:
        rows = {r["type"]: r for r in csv.DictReader(handle) if r["kind"] == "false_positive"}
    assert float(rows["mask_quality"]["box_iou"]) == pytest.approx(1.0) and rows["background"]["box_iou"] == ""
    assert rows["mask_quality"]["mask_rle"] == predicted[1]["counts"].decode()


def test_coco_numbers_do_not_depend_on_a_bbox_in_the_results(seg: Path) -> None:
    """As detectron2: a prediction's area is its mask area whether or not the results carry a 'bbox'."""
    first = json.loads(run("evaluate", seg, "-o", "-", "--quiet").stdout)["metrics"]
    edit_json(seg.parent / "pred.json", lambda d: [p.update(bbox=[0, 0, 80, 60]) for p in d])
    second = json.loads(run("evaluate", seg, "-o", "-", "--quiet").stdout)["metrics"]
    assert second["coco"] == first["coco"] and second["mAP50"] == first["mAP50"]


def test_polygon_outside_the_image_end_to_end(seg: Path, built: Path) -> None:
    out = built.parent
    before = listing(out)
    edit_json(seg.parent / "gt.json", lambda d: d["annotations"][2].update(segmentation=[[90, 5, 99, 5, 95, 9]]))
    result = run("build", seg, "-o", out, "--quiet")
    assert_one_line_error(result, "gt.json, annotation id 3: the polygon lies entirely outside its image 'im2.png'")
    assert listing(out) == before
