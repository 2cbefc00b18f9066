"""Checks against silent misreads (evalsite.formats.misreads, docs/inputs.md "Checks against silent misreads"):
each case that used to give exit 0 with wrong numbers is now an error (exit 2, one line with the fix) or a loud
warning on the console and in a warning box on the report's first page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main
from evalsite.core.errors import LOUD_NOTICES

from conftest import assert_one_line_error

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = yaml.safe_load((ROOT / "templates/messages.yaml").read_text(encoding="utf-8"))


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def manifest(folder: Path, gt: str, pred: str, task_type: str = "classification", images: str = "images",
             extra: str = "") -> Path:
    path = folder / "task.yaml"
    path.write_text(f"name: t\ntype: {task_type}\nimages: {images}\nground_truth: {gt}\npredictions: {pred}\n"
                    f"language: en\n{extra}", encoding="utf-8")
    return path


def classification_inputs(folder: Path, n: int = 10, *, pred_image=lambda name: name, skip: int = 0,
                          gt_label=lambda label: label, columns=("cat", "dog")) -> Path:
    """`n` images, GT CSV, JSONL-free score CSV (one row per image except the first `skip`); returns the manifest."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    gt, pred = ["image,label"], ["image," + ",".join(columns)]
    for i in range(n):
        name = f"im{i:02d}.png"
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / "images" / name)
        label = ("cat", "dog")[i % 2]
        gt.append(f"{name},{gt_label(label)}")
        if i >= skip:
            scores = (0.9, 0.1) if label == "cat" else (0.2, 0.8)
            pred.append(f"{pred_image(name)},{scores[0]},{scores[1]}")
    (folder / "gt.csv").write_text("\n".join(gt) + "\n", encoding="utf-8")
    (folder / "pred.csv").write_text("\n".join(pred) + "\n", encoding="utf-8")
    return manifest(folder, "gt.csv", "pred.csv")


# ---------------------------------------------------------------- overlap between GT and prediction images

def test_prefix_on_every_prediction_path_is_an_error_naming_it(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path, pred_image=lambda name: f"val/{name}")
    result = run("evaluate", task, "-o", tmp_path / "r.json")
    assert_one_line_error(result, "10 of 10 ground-truth image(s) have no prediction record")
    assert "all of the 10 prediction path(s) not in the ground truth start with 'val/'" in result.stderr
    assert "remove 'val/' from the predictions' image paths" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_prefix_the_predictions_lack_is_named(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path)
    (tmp_path / "images" / "val").mkdir()
    for p in (tmp_path / "images").glob("*.png"):
        p.rename(tmp_path / "images" / "val" / p.name)
    text = (tmp_path / "gt.csv").read_text(encoding="utf-8").replace("\nim", "\nval/im")
    (tmp_path / "gt.csv").write_text(text, encoding="utf-8")
    result = run("evaluate", task, "-o", tmp_path / "r.json")
    assert_one_line_error(result, "the ground truth's paths start with 'val/', which all of the 10 prediction path(s) "
                                  "not in the ground truth lack")


def test_detection_predictions_for_unknown_images_name_the_prefix(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "cat")], boxes=[[(1, 1)]] * 3)
    lines = [json.dumps({"image": f"val/im{i}.png", "predictions": []}) for i in range(3)]
    (folder / "pred.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("evaluate", manifest(folder, "gt.json", "pred.jsonl", "detection"), "-o", folder / "r.json")
    assert_one_line_error(result, "3 image(s) not in the ground truth")
    assert "remove 'val/'" in result.stderr


# ---------------------------------------------------------------- records per image (CSV, JSONL)

def test_a_few_images_without_a_record_are_a_loud_warning_on_console_and_first_page(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path, skip=2)
    result = run("build", task, "-o", tmp_path / "out", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "ground_truth_without_prediction" in result.stderr and "2 of 10 ground-truth image(s)" in result.stderr
    page = (tmp_path / "out" / "t" / "index.html").read_text(encoding="utf-8")
    assert 'class="admonition danger"' in page
    assert CATALOGUE["misread_title"]["en"] in page
    assert "2 of 10 ground-truth image(s) have no prediction record" in page
    assert "write a record for every image" in page
    report = json.loads((tmp_path / "out" / "t" / "report.json").read_text(encoding="utf-8"))
    assert report["metrics"]["accuracy"] == pytest.approx(0.8)  # the two without a record count as wrong


def test_first_page_warning_in_chinese_and_escaped(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path, skip=1, pred_image=lambda name: name)
    (tmp_path / "gt.csv").write_text((tmp_path / "gt.csv").read_text(encoding="utf-8")
                                     .replace("im00.png", "<img onerror=x>im00.png"), encoding="utf-8")
    (tmp_path / "images" / "im00.png").rename(tmp_path / "images" / "<img onerror=x>im00.png")
    result = run("build", task, "-o", tmp_path / "out", "--lang", "zh")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "t" / "index.html").read_text(encoding="utf-8")
    assert CATALOGUE["misread_title"]["zh"] in page and CATALOGUE["fix_ground_truth_without_prediction"]["zh"] in page
    assert "<img onerror=x>" not in page and "&lt;img onerror=x&gt;im00" in page


def test_most_images_without_a_record_is_an_error(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path, skip=6)
    assert_one_line_error(run("evaluate", task, "-o", "-"), "6 of 10 ground-truth image(s) have no prediction record")


def test_half_without_a_record_is_still_a_warning(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path, skip=5)
    result = run("evaluate", task, "-o", tmp_path / "r.json")
    assert result.exit_code == 0 and "5 of 10 ground-truth image(s)" in result.stderr


def detection_task(folder: Path, categories: list[tuple[int, str]], boxes: list[list[tuple[int, int]]],
                   file_names: list[str] | None = None, write_images: bool = True) -> Path:
    """COCO ground truth: image i (64x64) holds 12x12 boxes at the (x, y) of boxes[i], category ids cycling."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, objects in enumerate(boxes):
        name = file_names[i] if file_names else f"im{i}.png"
        if write_images:
            Image.new("RGB", (64, 64)).save(folder / "images" / name.rsplit("/", 1)[-1])
        images.append({"id": i + 1, "file_name": name, "width": 64, "height": 64})
        for k, (x, y) in enumerate(objects):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "bbox": [x, y, 12, 12], "area": 144,
                                "iscrowd": 0, "category_id": categories[(i + k) % len(categories)][0]})
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": c, "name": n} for c, n in categories]}
    (folder / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    return folder


def test_detection_jsonl_lines_per_image(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "cat")], boxes=[[(4, 4)]] * 4)
    line = lambda i: json.dumps({"image": f"im{i}.png", "predictions": [  # noqa: E731
        {"label": "cat", "score": 0.9, "bbox": [4, 4, 12, 12]}]})
    task = manifest(folder, "gt.json", "pred.jsonl", "detection")
    (folder / "pred.jsonl").write_text("\n".join(line(i) for i in range(3)) + "\n", encoding="utf-8")
    result = run("evaluate", task, "-o", folder / "r.json")
    assert result.exit_code == 0 and "1 of 4 ground-truth image(s) have no prediction record" in result.stderr
    (folder / "pred.jsonl").write_text(line(0) + "\n", encoding="utf-8")
    assert_one_line_error(run("evaluate", task, "-o", "-"), "3 of 4 ground-truth image(s) have no prediction record")


# ---------------------------------------------------------------- category ids shifted by a constant

def shifted_results(gt: dict, shift: int) -> list[dict]:
    """A detector that finds every object (box jittered by 1 px), with category id + shift."""
    return [{"image_id": a["image_id"], "category_id": a["category_id"] + shift,
             "bbox": [a["bbox"][0] + 1, a["bbox"][1], 12, 12], "score": 0.5 + 0.01 * (k % 40)}
            for k, a in enumerate(gt["annotations"])]


def coco_map50(gt_path: Path, results: list[dict]) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco = COCO(str(gt_path))
    evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return float(evaluation.stats[1])


@pytest.mark.parametrize("ids", [[0, 1, 2], [1, 2, 3]], ids=["from 0 (YOLO class index)", "from 1"])
def test_category_ids_shifted_by_one_are_an_error(tmp_path: Path, ids: list[int]) -> None:
    folder = detection_task(tmp_path, categories=list(zip(ids, ["cat", "dog", "bird"])),
                            boxes=[[(2, 2), (30, 30)], [(5, 40), (40, 5)], [(20, 20)]] * 4)
    gt = json.loads((folder / "gt.json").read_text(encoding="utf-8"))
    shifted, right = shifted_results(gt, +1), shifted_results(gt, 0)
    # The reference shows the misread: pycocotools scores the shifted ids near 0, the same detections right near 1.
    assert coco_map50(folder / "gt.json", shifted) < 0.1 < 0.9 < coco_map50(folder / "gt.json", right)
    task = manifest(folder, "{format: coco, path: gt.json}", "{format: coco, path: pred.json}", "detection")
    (folder / "pred.json").write_text(json.dumps(shifted), encoding="utf-8")
    result = run("evaluate", task, "-o", folder / "r.json")
    assert_one_line_error(result, "the predicted category ids look shifted by +1 against the ground truth's")
    assert "subtract 1 from every category_id" in result.stderr and "format: ultralytics" in result.stderr
    (folder / "pred.json").write_text(json.dumps(right), encoding="utf-8")
    result = run("evaluate", task, "-o", folder / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((folder / "r.json").read_text(encoding="utf-8"))
    assert report["metrics"]["mAP50"] == pytest.approx(coco_map50(folder / "gt.json", right), abs=1e-12)


def test_a_model_that_confuses_some_labels_is_not_taken_for_a_shift(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "cat"), (2, "dog"), (3, "bird")],
                            boxes=[[(2, 2), (30, 30)], [(5, 40), (40, 5)], [(20, 20)]] * 4)
    gt = json.loads((folder / "gt.json").read_text(encoding="utf-8"))
    results = shifted_results(gt, 0)
    for r in results[::3]:  # a third of the detections name the next label
        r["category_id"] = r["category_id"] % 3 + 1
    (folder / "pred.json").write_text(json.dumps(results), encoding="utf-8")
    result = run("evaluate", manifest(folder, "gt.json", "pred.json", "detection"), "-o", folder / "r.json")
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- image files missing on disk

def test_coco_basenames_with_images_in_one_subfolder_say_which_folder(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "cat")], boxes=[[(4, 4)]] * 3)
    (folder / "images" / "val2017").mkdir()
    for p in (folder / "images").glob("*.png"):
        p.rename(folder / "images" / "val2017" / p.name)
    (folder / "pred.json").write_text("[]", encoding="utf-8")
    result = run("evaluate", manifest(folder, "gt.json", "pred.json", "detection"), "-o", "-", "-q")
    assert_one_line_error(result, "3 of 3 images are not found below the images root, but 3 of them are in a "
                                  "subfolder (e.g. 'im0.png' is at 'val2017/im0.png')")
    assert f"set the images root (images: / --images) to '{(folder / 'images' / 'val2017').as_posix()}'" \
        in result.stderr


def test_coco_basenames_with_images_in_class_subfolders(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "cat")], boxes=[[(4, 4)]] * 4)
    for i, p in enumerate(sorted((folder / "images").glob("*.png"))):
        (folder / "images" / f"c{i % 2}").mkdir(exist_ok=True)
        p.rename(folder / "images" / f"c{i % 2}" / p.name)
    (folder / "pred.json").write_text("[]", encoding="utf-8")
    result = run("evaluate", manifest(folder, "gt.json", "pred.json", "detection"), "-o", "-", "-q")
    assert_one_line_error(result, "the image paths must be relative to the images root")
    assert "'im0.png' is at 'c0/im0.png'" in result.stderr


def test_images_mostly_missing_nowhere_to_be_found_is_a_loud_warning(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "cat")], boxes=[[(4, 4)]] * 3, write_images=False)
    Image.new("RGB", (64, 64)).save(folder / "images" / "im0.png")
    (folder / "pred.json").write_text("[]", encoding="utf-8")
    result = run("build", manifest(folder, "gt.json", "pred.json", "detection"), "-o", folder / "out")
    assert result.exit_code == 0, result.output
    assert "images_mostly_missing" in result.stderr and "2 of 3 images are not found" in result.stderr
    page = (folder / "out" / "t" / "index.html").read_text(encoding="utf-8")
    assert 'class="admonition danger"' in page and CATALOGUE["fix_images_mostly_missing"]["en"].split(" (")[0] in page


def test_a_few_missing_images_give_no_warning_box(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "cat")], boxes=[[(4, 4)]] * 3)
    (folder / "images" / "im0.png").unlink()
    (folder / "pred.json").write_text("[]", encoding="utf-8")
    result = run("build", manifest(folder, "gt.json", "pred.json", "detection"), "-o", folder / "out")
    assert result.exit_code == 0 and "images_mostly_missing" not in result.stderr
    assert 'class="admonition danger"' not in (folder / "out" / "t" / "index.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- score columns and labels

def test_score_columns_that_are_no_label_are_an_error(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path, columns=("tiger", "lion"))
    result = run("evaluate", task, "-o", "-")
    assert_one_line_error(result, "no score column is a ground-truth label (found 'tiger', 'lion'; the ground "
                                  "truth has 'cat', 'dog')")


def test_index_named_score_columns_without_a_class_list_are_an_error(tmp_path: Path) -> None:
    # once exit 0 with accuracy 0.0: logit_0.. matched no label name
    task = classification_inputs(tmp_path, columns=("logit_0", "logit_1"))
    result = run("evaluate", task, "-o", "-")
    assert_one_line_error(result, "score columns logit_0..logit_1 name classes by index but there is no class list")


def test_torchvision_style_logit_columns_with_a_target_column(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path, columns=("target", "logit_0", "logit_1"))
    text = (tmp_path / "pred.csv").read_text(encoding="utf-8").splitlines()
    rows = [text[0]] + [f"{line.split(',')[0]},{i % 2},{','.join(line.split(',')[1:])}" for i, line in
                        enumerate(text[1:])]
    (tmp_path / "pred.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run("evaluate", task, "-o", "-")
    assert_one_line_error(result, "name classes by index but there is no class list")


def test_labels_that_differ_by_case_or_whitespace_are_an_error(tmp_path: Path) -> None:
    task = classification_inputs(tmp_path, gt_label=lambda label: label.capitalize())
    assert_one_line_error(run("evaluate", task, "-o", "-"), "labels that differ only by case or whitespace: "
                                                           "'Cat' / 'cat', 'Dog' / 'dog'")


def test_trailing_space_in_a_jsonl_label(tmp_path: Path) -> None:
    classification_inputs(tmp_path)
    lines = [json.dumps({"image": f"im{i:02d}.png", "scores": {"cat ": 0.9, "dog": 0.1}}) for i in range(10)]
    (tmp_path / "pred.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = manifest(tmp_path, "gt.csv", "pred.jsonl")
    assert_one_line_error(run("evaluate", task, "-o", "-"), "'cat' / 'cat '")


def test_detection_label_names_that_differ_by_case(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "Cat")], boxes=[[(4, 4)]] * 2)
    box = {"label": "cat", "score": 0.9, "bbox": [4, 4, 12, 12]}
    lines = [json.dumps({"image": f"im{i}.png", "predictions": [box]}) for i in range(2)]
    (folder / "pred.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("evaluate", manifest(folder, "gt.json", "pred.jsonl", "detection"), "-o", "-")
    assert_one_line_error(result, "'Cat' / 'cat'")


def test_every_loud_notice_has_a_title_and_a_fix_in_both_languages() -> None:
    assert LOUD_NOTICES
    for code in LOUD_NOTICES:
        for key in (f"notice_{code}", f"fix_{code}"):
            assert set(CATALOGUE[key]) == {"en", "zh"} and all(CATALOGUE[key].values()), key


def test_prefix_hint_needs_a_majority() -> None:
    from evalsite.formats.misreads import prefix_hint

    known = [f"a{i}.png" for i in range(10)]
    assert "'val/'" in prefix_hint([f"val/a{i}.png" for i in range(6)] + ["x.png"] * 4, known)
    assert prefix_hint([f"val/a{i}.png" for i in range(4)] + [f"y{i}.png" for i in range(6)], known) == ""
    assert prefix_hint(["b.png"], known) == "" and prefix_hint([], known) == ""
    assert "remove 'val/x/'" in prefix_hint(["val/x/a1.png"], known)


def test_loud_warnings_come_first_on_the_console(tmp_path: Path) -> None:
    folder = detection_task(tmp_path, categories=[(1, "cat")], boxes=[[(4, 4)]] * 30, write_images=False)
    (folder / "pred.json").write_text("[]", encoding="utf-8")
    result = run("evaluate", manifest(folder, "gt.json", "pred.json", "detection"), "-o", folder / "r.json", "-q")
    assert result.exit_code == 0, result.output
    warnings = result.stderr.strip().splitlines()
    assert "images_mostly_missing" in warnings[0] and "30 of 30 images are not found" in warnings[0]
    assert "and 12 more" in warnings[-1]  # the loud one, no_predictions and a missing image each: 32
