"""Provenance and portability (docs/report-json.md): the format actually read is recorded, recorded paths are
normalised, report.json says where its images are (so that compare and verify work from any working folder,
--images overriding), every reader format can be forced from the command line, and option-only builds give
the report.json of a manifest build."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import ReaderFormats, main
from evalsite.formats import classification, detection

from conftest import write_detection_task, write_task

EPOCH = "1718000000"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def report_of(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def formats(report: dict) -> dict[str, str]:
    return {i["role"]: i["format"] for i in report["task"]["inputs"]}


# ---------------------------------------------------------------- the format read is recorded

def test_detected_coco_is_recorded_as_coco(tmp_path: Path) -> None:
    task = write_detection_task(tmp_path)
    task.write_text(task.read_text(encoding="utf-8").replace("{format: coco, path: gt.json}", "gt.json")
                    .replace("{format: coco, path: pred.json}", "pred.json"), encoding="utf-8")
    assert run("evaluate", task, "-o", tmp_path / "r.json").exit_code == 0
    assert formats(report_of(tmp_path / "r.json")) == {"ground_truth": "coco", "predictions": "coco"}


def write_yolo(folder: Path) -> Path:
    """YOLO ground truth and predictions folders (Ultralytics' save_txt save_conf layout) for two images."""
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    (folder / "preds").mkdir()
    for i in range(2):
        Image.new("RGB", (100, 50)).save(folder / "images" / f"im{i}.jpg")
        (folder / "labels" / f"im{i}.txt").write_text(f"{i} 0.5 0.5 0.2 0.4\n", encoding="utf-8")
        (folder / "preds" / f"im{i}.txt").write_text(f"{i} 0.5 0.5 0.2 0.4 0.9\n", encoding="utf-8")
    (folder / "labels" / "classes.txt").write_text("cat\ndog\n", encoding="utf-8")
    task = folder / "task.yaml"
    task.write_text("name: y\ntype: detection\nimages: images\nground_truth: labels\npredictions: preds\n"
                    "language: en\n", encoding="utf-8")
    return task


def test_yolo_folders_are_recorded_as_yolo(tmp_path: Path) -> None:
    task = write_yolo(tmp_path)
    result = run("evaluate", task, "-o", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path / "r.json")
    assert formats(report) == {"ground_truth": "yolo", "predictions": "yolo"}
    assert report["metrics"]["mAP50"] == pytest.approx(1.0)


def test_classification_folders_and_jsonl_are_recorded(tmp_path: Path) -> None:
    for label in ("cat", "dog"):
        (tmp_path / "images" / label).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "images" / label / "a.png")
    lines = [json.dumps({"image": f"{label}/a.png", "scores": {"cat": 0.7, "dog": 0.3}}) for label in ("cat", "dog")]
    (tmp_path / "pred.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = tmp_path / "task.yaml"
    task.write_text("name: c\ntype: classification\nimages: images\nground_truth: images\n"
                    "predictions: pred.jsonl\n", encoding="utf-8")
    result = run("evaluate", task, "-o", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert formats(report_of(tmp_path / "r.json")) == {"ground_truth": "folders", "predictions": "jsonl"}


# ---------------------------------------------------------------- paths normalised

def test_recorded_paths_keep_no_dot_dot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_task(data, ["cat", "dog"], n_images=6)
    (tmp_path / "tasks" / "sub").mkdir(parents=True)
    task = tmp_path / "tasks" / "task.yaml"
    shutil.copy(data / "gt.csv", tmp_path / "tasks" / "gt.csv")
    task.write_text("name: n\ntype: classification\nimages: ../data/images\nground_truth: sub/../gt.csv\n"
                    "predictions: ../data/pred.csv\n", encoding="utf-8")
    result = run("evaluate", task, "-o", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path / "r.json")
    paths = {i["role"]: i["path"] for i in report["task"]["inputs"]}
    assert paths == {"ground_truth": "gt.csv", "predictions": (data / "pred.csv").resolve().as_posix()}
    assert report["task"]["images_root"] == (data / "images").resolve().as_posix()
    assert ".." not in json.dumps(report["task"]["inputs"]) + report["task"]["images_root"]


# ---------------------------------------------------------------- where the images are

def test_images_path_is_relative_to_report_json(tmp_path: Path) -> None:
    task = write_task(tmp_path / "in", ["cat", "dog"], n_images=6)
    out = tmp_path / "elsewhere" / "r.json"
    assert run("evaluate", task, "-o", out).exit_code == 0
    assert report_of(out)["task"]["images_path"] == "../in/images"
    assert run("build", task, "-o", tmp_path / "site", "--no-overview").exit_code == 0
    assert report_of(tmp_path / "site" / "task" / "report.json")["task"]["images_path"] == "../../in/images"
    assert run("evaluate", task, "-o", "-").exit_code == 0  # printed: no folder to be relative to
    assert json.loads(run("evaluate", task, "-o", "-", "-q").stdout)["task"]["images_path"] is None


def test_compare_and_verify_work_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    task = write_detection_task(folder)
    assert run("build", task, "-o", tmp_path / "a", "--no-overview", "-q").exit_code == 0
    assert run("build", task, "-o", tmp_path / "b", "--no-overview", "-q").exit_code == 0
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    monkeypatch.chdir(nowhere)  # neither the manifest's folder nor anything near the reports
    result = run("compare", tmp_path / "a" / "det", tmp_path / "b" / "det", "-o", tmp_path / "cmp", "-q")
    assert result.exit_code == 0, result.output
    new = tmp_path / "new"
    new.mkdir()
    Image.new("RGB", (64, 48)).save(new / "n0.png")
    (tmp_path / "preds.jsonl").write_text(json.dumps({"image": "n0.png", "predictions": []}) + "\n", encoding="utf-8")
    result = run("verify", tmp_path / "a" / "det", "--images", new, "--predictions", tmp_path / "preds.jsonl", "-q")
    assert result.exit_code == 0, result.output
    # The images moved: the recorded place is gone and the error asks for --images, which overrides.
    shutil.move(folder / "images", tmp_path / "moved")
    result = run("compare", tmp_path / "a" / "det", tmp_path / "b" / "det", "-o", tmp_path / "cmp2", "-q")
    assert result.exit_code == 2 and "give --images DIR" in result.stderr
    result = run("compare", tmp_path / "a" / "det", tmp_path / "b" / "det", "-o", tmp_path / "cmp2", "-q",
                 "--images", tmp_path / "moved")
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- every format from the command line

def test_format_options_offer_every_reader_format() -> None:
    gt = ReaderFormats("ground_truth").choices
    pred = ReaderFormats("predictions").choices
    assert set(gt) == {*classification.GROUND_TRUTH_FORMATS, *detection.GROUND_TRUTH_FORMATS}
    assert set(pred) == {*classification.PREDICTION_FORMATS, *detection.PREDICTION_FORMATS}
    assert len(gt) == len(set(gt)) and {"coco", "voc", "yolo", "folders"} <= set(gt)


def test_forced_formats_from_options_read_files_of_any_name(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "in"
    write_detection_task(folder)
    (folder / "gt.json").rename(folder / "instances.data")
    (folder / "pred.json").rename(folder / "results.out")
    monkeypatch.chdir(folder)
    base = ("--name", "det", "--type", "detection", "--images", "images", "--ground-truth", "instances.data",
            "--predictions", "results.out")
    result = run("evaluate", *base, "-o", tmp_path / "r.json", "-q")
    assert result.exit_code == 2 and "cannot tell the ground truth format" in result.stderr
    result = run("evaluate", *base, "--gt-format", "coco", "--pred-format", "coco", "-o", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert formats(report_of(tmp_path / "r.json")) == {"ground_truth": "coco", "predictions": "coco"}
    # A format of another task type: the reader says which ones it takes.
    result = run("evaluate", *base, "--gt-format", "csv", "--pred-format", "coco", "-o", "-", "-q")
    assert result.exit_code == 2 and "unknown ground truth format 'csv' for detection" in result.stderr


# ---------------------------------------------------------------- option-only builds

@pytest.mark.parametrize("kind", ["classification", "detection"])
def test_option_only_build_equals_the_manifest_build(tmp_path: Path, monkeypatch, kind: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    folder = tmp_path / "in"
    if kind == "classification":
        write_task(folder, ["cat", "dog", "bird"], n_images=12, name="same")
        gt, pred, fmt = "gt.csv", "pred.csv", ()
    else:
        write_detection_task(folder, name="same")
        gt, pred, fmt = "gt.json", "pred.json", ("--gt-format", "coco", "--pred-format", "coco")
    manifest = folder / "task.yaml"
    manifest.write_text(f"name: same\ntype: {kind}\nimages: images\nground_truth: {gt}\npredictions: {pred}\n"
                        "language: en\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert run("build", manifest, "-o", tmp_path / "m", "--no-overview", "-q").exit_code == 0
    monkeypatch.chdir(folder)
    result = run("build", "--name", "same", "--type", kind, "--images", "images", "--ground-truth", gt,
                 "--predictions", pred, *fmt, "--lang", "en", "-o", tmp_path / "o", "--no-overview", "-q")
    assert result.exit_code == 0, result.output
    from_manifest = (tmp_path / "m" / "same" / "report.json").read_bytes()
    from_options = (tmp_path / "o" / "same" / "report.json").read_bytes()
    assert from_options == from_manifest
    assert report_of(tmp_path / "o" / "same" / "report.json")["task"]["images_path"] == os.path.relpath(
        folder / "images", tmp_path / "o" / "same")
