"""`evalsite` on detection tasks: outputs, numbers worked out by hand, and bad input end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main

from conftest import assert_one_line_error, edit_json, listing, write_detection_task


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def det(tmp_path: Path) -> Path:
    return write_detection_task(tmp_path / "in")


def test_build_detection_site_with_hand_checked_numbers(det: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("build", det, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "det" / "report.json").read_text(encoding="utf-8"))
    m = report["metrics"]
    # By hand. cat: GT on im0 and im2; detections by score: 0.9 on im0 (IoU 380/420 > .5: TP),
    # 0.8 on im1 (no cat there: FP), 0.4 on im2 (IoU 132/156 > .5: TP). Precision/recall steps:
    # (1, 1/2), (1/2, 1/2), (2/3, 1): all-point AP = 1/2*1 + 1/2*2/3 = 5/6. dog: one GT, no detection: AP 0.
    # mAP@0.5 = (5/6 + 0) / 2 = 5/12.
    assert m["mAP50"] == pytest.approx(5 / 12, abs=1e-12)
    # F1(t): dog's F1 is 0 at every t; cat: t=0.9 -> P 1, R 1/2, F1 2/3; t=0.8 -> P 1/2, R 1/2, F1 1/2;
    # t=0.4 -> P 2/3, R 1, F1 4/5. F1(t) = cat/2: the maximum is at t=0.4 (0.4).
    assert m["threshold"] == 0.4 and m["f1"] == pytest.approx(0.4)
    # At t*: TP 2, FP 1, GT 3 -> precision 2/3, recall 2/3.
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    kinds = sorted((e["kind"], e["label"], e["image"]) for e in report["errors"])
    assert kinds == [("false_positive", "cat", "im1.png"), ("missed", "dog", "im1.png")]
    # The relabelling exports list the same errors.
    with open(out / "det" / "downloads" / "errors.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["kind"], r["label"], r["image"]) for r in rows) == kinds
    relabel = json.loads((out / "det" / "downloads" / "relabel.json").read_text(encoding="utf-8"))
    assert {a["category_id"] for a in relabel["annotations"]} == {0, 1}
    assert (out / "overview" / "index.html").read_text(encoding="utf-8").count("mAP@0.5") == 1
    # COCO AP's interval is shown on its card, in the COCO table and per label
    ci = report["intervals"]["metrics"]
    low, high = ci["coco.AP"]
    assert low <= m["coco"]["AP"] <= high
    index = (out / "det" / "index.html").read_text(encoding="utf-8")
    assert (f'<div class="es-card__interval">95% interval {low * 100:.1f}–{high * 100:.1f}%</div>'
            f'<div class="es-card__label">COCO AP@[.5:.95]</div>') in index
    text = (out / "det" / "details.html").read_text(encoding="utf-8")
    for key in ("AP", "AP50", "AP75"):
        a, b = ci[f"coco.{key}"]
        assert f'{m["coco"][key]:.3f} <small class="es-ci">({a:.2f}–{b:.2f})</small>' in text, key
    cat = next(row for row in report["per_label"] if row["label"] == "cat")
    a, b = cat["ap_interval"]
    assert f'{cat["ap"]:.3f} <small class="es-ci">({a:.2f}–{b:.2f})</small>' in text


def test_annotation_url_links_every_error(det: Path, tmp_path: Path) -> None:
    text = det.read_text(encoding="utf-8")
    det.write_text(text + "annotation_url: https://label.example/edit?image={file_name}&id={annotation_id}\n")
    out = tmp_path / "out"
    assert run("build", det, "-o", out, "--quiet").exit_code == 0
    with open(out / "det" / "downloads" / "errors.csv", encoding="utf-8") as handle:
        urls = {r["kind"]: r["annotation_url"] for r in csv.DictReader(handle)}
    assert urls["missed"] == "https://label.example/edit?image=im1.png&id=1"
    galleries = "".join(p.read_text(encoding="utf-8") for p in (out / "det" / "errors").glob("label-*.html"))
    assert "https://label.example/edit?image=im1.png&amp;id=1" in galleries


@pytest.mark.parametrize("url, problem", [
    ("javascript:alert(1)", "must be an http:// or https:// URL template"),
    ("https://x/{nope}", "unknown field(s) ['nope']"),
])
def test_bad_annotation_url(det: Path, url: str, problem: str) -> None:
    det.write_text(det.read_text(encoding="utf-8") + f"annotation_url: '{url}'\n")
    result = run("evaluate", det, "-o", "-")
    assert result.exit_code == 2 and problem in result.stderr and "key 'annotation_url'" in result.stderr


@pytest.mark.parametrize("file, change, expected", [
    ("gt.json", lambda d: d["annotations"][0].update(bbox=[4, 4, 0, 20]), "gt.json, annotation id 0"),
    ("gt.json", lambda d: d["annotations"][1].update(id=0), "annotation id 0 appears twice"),
    ("gt.json", lambda d: d.pop("images"), "images"),
    ("gt.json", lambda d: d.pop("categories"), "categories"),
    ("pred.json", lambda d: d[1].update(score=float("nan")), "pred.json, results entry 2"),
    ("pred.json", lambda d: d[0].update(bbox=[1, 2, float("inf"), 3]), "pred.json, results entry 1"),
    ("pred.json", lambda d: d[2].update(image_id=99), "99"),
    ("pred.json", lambda d: d[2].update(category_id=7), "7"),
])
def test_bad_detection_input_is_one_line_exit_2_and_keeps_the_site(det: Path, tmp_path: Path, file, change,
                                                                   expected: str) -> None:
    out = tmp_path / "out"
    assert run("build", det, "-o", out, "--quiet").exit_code == 0
    before = listing(out)
    edit_json(det.parent / file, change)
    result = run("build", det, "-o", out, "--quiet")
    assert_one_line_error(result, expected)
    assert listing(out) == before


def test_malformed_json_names_line_and_column(det: Path) -> None:
    (det.parent / "pred.json").write_text('[{"image_id": 0,\n  "score": }]')
    result = run("evaluate", det, "-o", "-")
    assert result.exit_code == 2 and "pred.json, line 2" in result.stderr


def test_boxes_outside_the_image_are_clipped_with_a_warning(det: Path) -> None:
    edit_json(det.parent / "pred.json", lambda d: d[0].update(bbox=[50, 4, 30, 20]))
    result = run("evaluate", det, "-o", "-", "--quiet")
    assert result.exit_code == 0
    assert "box_clipped" in result.stderr
    report = json.loads(result.stdout)
    assert any(n["code"] == "box_clipped" for n in report["notices"])


def test_voc_xml_not_well_formed(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "images" / "a.png")
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "a.xml").write_text("<annotation><filename>a.png</filename><object>\n</annotation>")
    (tmp_path / "p.jsonl").write_text('{"image": "a.png", "predictions": []}\n')
    (tmp_path / "t.yaml").write_text("name: v\ntype: detection\nimages: images\n"
                                     "ground_truth: {format: voc, path: voc}\npredictions: p.jsonl\n")
    result = run("evaluate", tmp_path / "t.yaml", "-o", "-")
    assert result.exit_code == 2 and "a.xml" in result.stderr and "line 2" in result.stderr, result.stderr


def test_report_json_reads_back_into_the_same_report(det: Path, task: Path) -> None:
    """report.json is the contract: parsed back, it gives the very report that was written."""
    from evalsite.commands.evaluate import evaluate
    from evalsite.core.errors import InputError
    from evalsite.manifest import load_manifest
    from evalsite.report.classification_model import ClassificationReport
    from evalsite.report.detection_model import DetectionReport
    from evalsite.report.load import read_report
    from evalsite.report.model import to_json

    for manifest, kind in ((det, DetectionReport), (task, ClassificationReport)):
        report = evaluate(load_manifest(manifest))
        assert type(report) is kind
        again = read_report(json.loads(to_json(report)), None)
        assert type(again) is kind and again == report
        assert to_json(again) == to_json(report)
    with pytest.raises(InputError, match="unknown report schema"):
        read_report({"schema": "evalsite.report/0"}, None)
