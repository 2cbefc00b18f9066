"""`evalsite compare`: numbers of a hand-made pair of classification reports, identical models, a detection
pair checked against the two report.json files, and bad input (one line, exit 2)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main

from conftest import assert_one_line_error, write_shapes_pair, write_task

TRUE = ["cat", "cat", "cat", "dog", "dog", "dog"]
BASE = ["cat", "cat", "dog", "dog", "dog", "cat"]  # wrong: img2, img5
CANDIDATE = ["cat", "cat", "cat", "dog", "cat", "cat"]  # img2 fixed, img4 broken, img5 still wrong


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _classification(folder: Path, name: str, model: str, predicted: list[str]) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i in range(len(TRUE)):
        Image.new("RGB", (16, 16), (40 * i, 90, 160)).save(folder / "images" / f"img{i}.png")
    with open(folder / "gt.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["image", "label"], *[[f"img{i}.png", t] for i, t in enumerate(TRUE)]])
    with open(folder / "pred.csv", "w", newline="", encoding="utf-8") as handle:
        rows = [[f"img{i}.png", 0.9 if p == "cat" else 0.1, 0.9 if p == "dog" else 0.1]
                for i, p in enumerate(predicted)]
        csv.writer(handle).writerows([["image", "cat", "dog"], *rows])
    manifest = folder / "task.yaml"
    manifest.write_text(f"name: {name}\ngroup: pets\nmodel: {model}\ntype: classification\nimages: images\n"
                        "ground_truth: gt.csv\npredictions: pred.csv\nlanguage: en\n", encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def pets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pets")
    manifests = [_classification(root / "in-a", "pets-a", "A", BASE),
                 _classification(root / "in-b", "pets-b", "B", CANDIDATE)]
    result = run("build", *manifests, "-o", root / "out", "--quiet")
    assert result.exit_code == 0, result.output
    result = run("compare", root / "out" / "pets-a", root / "out" / "pets-b", "-o", root / "out", "--quiet",
                 "--images", root / "in-a" / "images")
    assert result.exit_code == 0, result.output
    return root / "out"


def test_hand_made_classification_pair(pets: Path) -> None:
    site = pets / "pets B vs A"
    c = json.loads((site / "compare.json").read_text(encoding="utf-8"))
    assert c["schema"] == "evalsite.compare/1" and c["group"] == "pets" and c["images"] == 6
    assert (c["base"]["model"], c["candidate"]["model"]) == ("A", "B")
    head = {m["metric"]: m for m in c["headline"]}
    # accuracy 4/6 both: no change; by hand per-label F1: base cat 2/3, dog 2/3; candidate cat: TP 3 of 5
    # predicted, 3 true -> 2*3/8 = 3/4; dog: TP 1 of 1 predicted, 3 true -> 2/4 = 1/2.
    assert head["accuracy"]["base"] == pytest.approx(4 / 6) and head["accuracy"]["difference"] == pytest.approx(0)
    assert head["f1"]["candidate"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert head["f1"]["difference"] == pytest.approx((3 / 4 + 1 / 2) / 2 - 2 / 3)
    assert all(m["verdict"] == "within_noise" for m in c["headline"])  # six images prove nothing
    assert all(m["low"] <= m["difference"] <= m["high"] for m in c["headline"])
    labels = [(label["label"], round(label["difference"], 12)) for label in c["labels"]]
    assert labels == [("dog", round(1 / 2 - 2 / 3, 12)), ("cat", round(3 / 4 - 2 / 3, 12))]
    assert [(f["image"], f["base_summary"], f["candidate_summary"]) for f in c["fixed"]] == [
        ("img2.png", "dog", "cat")]
    assert [(b["image"], b["base_summary"], b["candidate_summary"]) for b in c["broken"]] == [
        ("img4.png", "dog", "cat")]
    assert c["unchanged_errors"] == 1  # img5: wrong under both
    pairs = [(p["true"], p["predicted"], p["base"], p["candidate"]) for p in c["confusion"]]
    assert pairs == [("cat", "dog", 1, 0), ("dog", "cat", 1, 2)]
    fixed = (site / "fixed.html").read_text(encoding="utf-8")
    assert "img2.png" in fixed and "img4.png" not in fixed
    with open(site / "downloads" / "changed_images.csv", encoding="utf-8") as handle:
        assert [(r["image"], r["change"]) for r in csv.DictReader(handle)] == [
            ("img2.png", "fixed"), ("img4.png", "broken")]


def test_identical_models_differ_by_zero(pets: Path, tmp_path: Path) -> None:
    copy = tmp_path / "pets-a-again"
    shutil.copytree(pets / "pets-a", copy)
    result = run("compare", pets / "pets-a" / "report.json", copy, "-o", tmp_path / "out", "--name", "same",
                 "--images", pets.parent / "in-a" / "images", "--quiet", "--no-overview")
    assert result.exit_code == 0, result.output
    c = json.loads((tmp_path / "out" / "same" / "compare.json").read_text(encoding="utf-8"))
    for m in c["headline"]:
        assert (m["difference"], m["low"], m["high"], m["verdict"]) == (0, 0, 0, "within_noise"), m
    assert c["fixed"] == [] and c["broken"] == [] and c["confusion"] == []
    assert all(label["difference"] == 0 for label in c["labels"])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    manifests = write_shapes_pair(root, "en", n_eval=16)
    assert run("build", *manifests, "-o", root / "out", "--quiet", "--no-overview").exit_code == 0
    return root


def test_detection_pair_agrees_with_both_reports(shapes: Path) -> None:
    out = shapes / "out"
    result = run("compare", out / "shapes-weak", out / "shapes-strong", "-o", out, "--name", "cmp", "--quiet",
                 "--images", shapes / "in-weak" / "images")
    assert result.exit_code == 0, result.output
    c = json.loads((out / "cmp" / "compare.json").read_text(encoding="utf-8"))
    reports = [json.loads((out / n / "report.json").read_text(encoding="utf-8"))
               for n in ("shapes-weak", "shapes-strong")]
    assert [m["metric"] for m in c["headline"]] == ["mAP50", "precision", "recall", "f1", "coco.AP"]
    for m in c["headline"]:
        key = m["metric"]
        values = [r["metrics"]["coco"]["AP"] if key == "coco.AP" else r["metrics"][key] for r in reports]
        assert [m["base"], m["candidate"]] == values and m["difference"] == pytest.approx(values[1] - values[0])
        assert m["low"] <= m["high"] and m["verdict"] in ("better", "worse", "within_noise")
    assert (c["threshold_base"], c["threshold_candidate"]) == tuple(r["metrics"]["threshold"] for r in reports)
    errors = [{i["image"]: i["false_positives"] + i["missed"] for i in r["images"]} for r in reports]
    assert {f["image"] for f in c["fixed"]} == {k for k in errors[0] if errors[1][k] < errors[0][k]}
    assert {b["image"] for b in c["broken"]} == {k for k in errors[0] if errors[1][k] > errors[0][k]}
    pictures = sorted(p.name for p in (out / "cmp" / "pics").glob("*.png"))
    assert len(pictures) == 4 * (len(c["fixed"]) + len(c["broken"]))  # base and candidate, thumb and full
    # the overview lists the comparison's reports
    assert (out / "overview" / "index.html").is_file()


def _compare_with_edited_copy(shapes: Path, tmp_path: Path, edit) -> tuple[object, Path]:
    data = json.loads((shapes / "out" / "shapes-weak" / "report.json").read_text(encoding="utf-8"))
    edit(data)
    other = tmp_path / "report.json"
    other.write_text(json.dumps(data), encoding="utf-8")
    result = run("compare", shapes / "out" / "shapes-weak", other, "-o", tmp_path / "out", "--name", "cmp",
                 "--quiet", "--no-overview", "--images", shapes / "in-weak" / "images")
    return result, tmp_path / "out" / "cmp" / "compare.json"


def test_identical_detection_models_differ_by_zero_coco_ap_included(shapes: Path, tmp_path: Path) -> None:
    result, compare_json = _compare_with_edited_copy(shapes, tmp_path, lambda d: None)
    assert result.exit_code == 0, result.output
    c = json.loads(compare_json.read_text(encoding="utf-8"))
    assert "coco.AP" in [m["metric"] for m in c["headline"]]
    for m in c["headline"]:
        assert (m["difference"], m["low"], m["high"], m["verdict"]) == (0, 0, 0, "within_noise"), m


def test_report_without_coco_evidence_compares_coco_ap_without_interval(shapes: Path, tmp_path: Path) -> None:
    result, compare_json = _compare_with_edited_copy(shapes, tmp_path, lambda d: d["evidence"].update(coco=None))
    assert result.exit_code == 0, result.output
    (coco,) = [m for m in json.loads(compare_json.read_text(encoding="utf-8"))["headline"] if m["metric"] == "coco.AP"]
    assert (coco["difference"], coco["low"], coco["high"], coco["verdict"]) == (0, None, None, "not_resampled")


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["evidence"]["coco"]["tp"].pop(), "evidence.coco' is damaged: its lists differ in length"),
    (lambda d: d["evidence"]["coco"]["dt_image"].__setitem__(0, 10**6), "index is out of range"),
    (lambda d: d["evidence"]["coco"]["gt_label"].__setitem__(0, -1), "index is out of range"),
    (lambda d: d["evidence"]["dt_tp"].pop(), "'evidence' is damaged: its lists differ in length"),
    (lambda d: d["evidence"]["gt_image"].__setitem__(0, 10**6), "'evidence' is damaged: an image or label index"),
])
def test_damaged_evidence_is_one_line_exit_2(shapes: Path, tmp_path: Path, edit, expected: str) -> None:
    result, compare_json = _compare_with_edited_copy(shapes, tmp_path, edit)
    assert_one_line_error(result, expected)
    assert not compare_json.exists()


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(schema="evalsite.report/0"), "evalsite.report/0"),
    (lambda d: d["task"].update(type="detection"), "report"),
    (lambda d: d["images"].pop(), "not the same evaluation set"),
])
def test_bad_comparisons_are_one_line_exit_2(pets: Path, tmp_path: Path, change, expected: str) -> None:
    data = json.loads((pets / "pets-b" / "report.json").read_text(encoding="utf-8"))
    change(data)
    other = tmp_path / "report.json"
    other.write_text(json.dumps(data), encoding="utf-8")
    result = run("compare", pets / "pets-a", other, "-o", tmp_path / "out", "--quiet",
                 "--images", pets.parent / "in-a" / "images")
    assert_one_line_error(result, expected)
    assert not (tmp_path / "out").exists()


def test_images_not_found_asks_for_images(pets: Path, tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "elsewhere" / "pets-a"
    shutil.copytree(pets / "pets-a", copy)
    monkeypatch.chdir(tmp_path)
    result = run("compare", copy, pets / "pets-b", "-o", tmp_path / "out", "--quiet")
    assert_one_line_error(result, "give --images DIR")


def test_compare_of_an_unused_fixture_classification_task(tmp_path: Path) -> None:
    """A report against a task of other images: the message names images only in one of them."""
    a = write_task(tmp_path / "a", ["x", "y"], n_images=6, name="a")
    b = write_task(tmp_path / "b", ["x", "y"], n_images=7, name="b")
    assert run("build", a, b, "-o", tmp_path / "out", "--quiet", "--no-overview").exit_code == 0
    result = run("compare", tmp_path / "out" / "a", tmp_path / "out" / "b", "-o", tmp_path / "out", "--quiet")
    assert_one_line_error(result, "1 only in")


def test_comparison_sites_are_reproducible(pets: Path, tmp_path: Path) -> None:
    """The same two reports compared twice, into two output roots: byte-identical sites."""
    import hashlib

    sites = []
    for out in (tmp_path / "one", tmp_path / "two"):
        result = run("compare", pets / "pets-a", pets / "pets-b", "-o", out, "--name", "cmp", "--quiet",
                     "--no-overview", "--images", pets.parent / "in-a" / "images")
        assert result.exit_code == 0, result.output
        sites.append({p.relative_to(out / "cmp").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in sorted((out / "cmp").rglob("*")) if p.is_file()})
    assert sites[0] == sites[1] and len(sites[0]) > 10
