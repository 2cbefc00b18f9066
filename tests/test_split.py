"""A split (manifest `split:`, `--split`): only the images it lists are evaluated, for every format
(evalsite.formats.split; docs/inputs.md, "Split"). Numbers are checked against scikit-learn and pycocotools
on the listed images; the VOC devkit's image sets are in tests/test_voc_devkit.py."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from evalsite.cli import main
from evalsite.commands.evaluate import evaluate
from evalsite.core.errors import InputError
from evalsite.formats.split import read_split
from evalsite.manifest import load_manifest

from conftest import write_task

LABELS = ["cat", "dog", "bird"]


def with_split(manifest: Path, split: str) -> Path:
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text + f"split: {split}\n", encoding="utf-8")
    return manifest


def test_split_file_rules(tmp_path) -> None:
    file = tmp_path / "s.txt"
    file.write_bytes("\ufeff# images of the test set\r\n\r\n  a.jpg  \r\nsub/b c.png\n#c.jpg\n".encode())
    assert read_split(file) == [(3, "a.jpg"), (4, "sub/b c.png")]
    file.write_text("000001 -1\n000002  1\n000003  0\n")  # a VOC per-class image set
    assert read_split(file) == [(1, "000001"), (2, "000002"), (3, "000003")]
    file.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="the split lists no images"):
        read_split(file)


# ---------------------------------------------------------------- classification

def sklearn_numbers(folder: Path, kept: list[str]) -> dict:
    truth = {row["image"]: row["label"] for row in csv.DictReader(open(folder / "gt.csv", encoding="utf-8"))}
    scores = {row["image"]: [float(row[c]) for c in LABELS] for row in csv.DictReader(
        open(folder / "pred.csv", encoding="utf-8"))}
    y_true = [truth[i] for i in kept]
    y_pred = [LABELS[int(np.argmax(scores[i]))] for i in kept]
    labels = sorted(set(y_true) | set(y_pred), key=LABELS.index)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return {"accuracy": accuracy_score(y_true, y_pred), "precision": p, "recall": r, "f1": f}


def test_classification_split_equals_scikit_learn_on_the_listed_images(tmp_path) -> None:
    folder = tmp_path / "task"
    manifest = write_task(folder, LABELS, n_images=30)
    kept = ["img-001.png", "img-003.png", "img-004.png", "img-010.png", "img-017.png", "img-022.png", "img-029.png"]
    (folder / "test.txt").write_text(
        "# the test images, named every way a list may name them\n"
        "img-001.png\n"  # the path below the images folder
        "img-003\n"  # its stem
        "./images/img-004.png\n"  # a path ending in it
        f"{(folder / 'images' / 'img-010.png').resolve()}\n"  # an absolute path
        "images\\img-017.png\n"  # Windows separators
        "img-022.png\nimg-022.png\n"  # twice: once counts
        "\n   img-029.png   \n", encoding="utf-8")
    report = evaluate(load_manifest(with_split(manifest, "test.txt")))
    assert [r.image for r in report.images] == kept
    expected = sklearn_numbers(folder, kept)
    for name, value in expected.items():
        assert report.metrics[name] == pytest.approx(value, abs=1e-12), name
    (notice,) = [n for n in report.notices if n.code == "split_left_out"]
    assert notice.detail == "23 of 30 images not in the split left out (23 with a prediction)"
    assert [(i.role, i.format, i.path) for i in report.task.inputs][-1] == ("split", "txt", "test.txt")


def test_split_errors(tmp_path) -> None:
    folder = tmp_path / "task"
    manifest = write_task(folder, LABELS, n_images=6)
    split = folder / "s.txt"
    cases = [
        ("img-001.png\nimg-077.png\nother/img-002.pngx\nimg-088\n", "line 2",
         "3 split entries name no ground-truth image: 'img-077.png', 'other/img-002.pngx', 'img-088'"),
        ("img-001.png\nimg-099.png\n", "line 2", "1 split entry names no ground-truth image: 'img-099.png'"),
        ("# only a comment\n", None, "the split lists no images"),
    ]
    with_split(manifest, "s.txt")
    for text, line, problem in cases:
        split.write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as caught:
            evaluate(load_manifest(manifest))
        where = f"{split}, {'first at ' if 'entries' in problem or 'entry' in problem else ''}{line}: " if line \
            else f"{split}: "
        assert caught.value.one_line() == where + problem
    split.unlink()
    with pytest.raises(InputError, match="split file not found"):
        evaluate(load_manifest(manifest))
    manifest.write_text(manifest.read_text().replace("split: s.txt", "split: [a, b]"))
    with pytest.raises(InputError, match="'split' must be the path of a file"):
        load_manifest(manifest)


def test_an_entry_that_fits_several_images(tmp_path) -> None:
    folder = tmp_path / "task"
    manifest = write_task(folder, LABELS, n_images=4)
    for sub in ("a", "b"):
        (folder / "images" / sub).mkdir()
        Image.new("RGB", (8, 8)).save(folder / "images" / sub / "x.png")
    with open(folder / "gt.csv", "a", encoding="utf-8") as gt, open(folder / "pred.csv", "a", encoding="utf-8") as pred:
        for sub in ("a", "b"):
            gt.write(f"{sub}/x.png,cat\n")
            pred.write(f"{sub}/x.png,0.9,0.05,0.05\n")
    (folder / "s.txt").write_text("img-000.png\nx.png\n")
    with pytest.raises(InputError, match="line 2: 'x.png' fits several images: 'a/x.png', 'b/x.png'"):
        evaluate(load_manifest(with_split(manifest, "s.txt")))
    (folder / "s.txt").write_text("img-000.png\nb/x.png\nb/x\n")
    assert [r.image for r in evaluate(load_manifest(manifest)).images] == ["img-000.png", "b/x.png"]


def test_cli_split_replaces_the_manifests(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "task"
    manifest = with_split(write_task(folder, LABELS, n_images=12), "nothing-here.txt")
    (tmp_path / "val.txt").write_text("img-002.png\nimg-005.png\nimg-006.png\n")
    out = tmp_path / "report.json"
    monkeypatch.chdir(tmp_path)  # --split is relative to the current folder, not to the manifest's
    result = CliRunner().invoke(main, ["evaluate", str(manifest), "-o", str(out), "-q", "--split", "val.txt"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [r["image"] for r in report["images"]] == ["img-002.png", "img-005.png", "img-006.png"]
    assert report["metrics"]["accuracy"] == pytest.approx(
        sklearn_numbers(folder, ["img-002.png", "img-005.png", "img-006.png"])["accuracy"], abs=1e-12)
    result = CliRunner().invoke(main, ["evaluate", str(manifest), "-o", str(out), "-q"])
    assert result.exit_code == 2 and "nothing-here.txt: split file not found" in result.output


# ---------------------------------------------------------------- detection (COCO), against pycocotools

def coco_case(folder: Path, seed: int = 5) -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    (folder / "images" / "val").mkdir(parents=True)
    images, annotations, results = [], [], []
    for i in range(12):
        image_id = 100 + 7 * i
        name = f"val/{image_id:012d}.jpg"
        Image.new("RGB", (120, 90)).save(folder / "images" / name)
        images.append({"id": image_id, "file_name": name, "width": 120, "height": 90})
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, 70), rng.uniform(0, 50)
            w, h = rng.uniform(10, 45), rng.uniform(10, 35)
            category = int(rng.integers(1, 3))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            if rng.random() < 0.75:
                d = rng.normal(0, 4, 4)
                results.append({"image_id": image_id, "category_id": category if rng.random() < 0.85 else 3 - category,
                                "bbox": [x + d[0], y + d[1], max(w + d[2], 2), max(h + d[3], 2)],
                                "score": float(rng.random())})
        results.append({"image_id": image_id, "category_id": int(rng.integers(1, 3)),
                        "bbox": [rng.uniform(0, 90), rng.uniform(0, 60), 12, 14], "score": float(rng.random() * 0.5)})
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "pred.json").write_text(json.dumps(results))
    (folder / "task.yaml").write_text("name: det\ntype: detection\nimages: images\nground_truth: gt.json\n"
                                      "predictions: pred.json\nlanguage: en\n")
    return gt, results


def test_detection_split_equals_pycocotools_on_the_listed_image_ids(tmp_path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, results = coco_case(tmp_path)
    kept_ids = [107, 128, 135, 156, 177]
    (tmp_path / "split.txt").write_text(
        "107\n"  # an image id (COCO)
        "val/000000000128.jpg\n"  # a path below the images folder
        "000000000135\n"  # a stem
        "/data/coco/images/val/000000000156.jpg\n"  # a path ending in one
        "000000000177.jpg\n")
    report = evaluate(load_manifest(with_split(tmp_path / "task.yaml", "split.txt")))
    assert [r.image for r in report.images] == [f"val/{i:012d}.jpg" for i in kept_ids]
    coco = COCO()
    coco.dataset = copy.deepcopy(gt)
    coco.createIndex()
    E = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "bbox")
    E.params.imgIds = kept_ids
    E.evaluate()
    E.accumulate()
    E.summarize()
    for k, name in enumerate(["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]):
        assert report.metrics["coco"][name] == pytest.approx(E.stats[k], abs=1e-12), name
    (notice,) = [n for n in report.notices if n.code == "split_left_out"]
    left_gt = sum(1 for a in gt["annotations"] if a["image_id"] not in kept_ids)
    left_dt = sum(1 for d in results if d["image_id"] not in kept_ids)
    assert notice.detail == (f"7 of 12 images not in the split left out ({left_gt} ground-truth object(s) and "
                             f"{left_dt} prediction(s))")


def test_numeric_entries_are_ids_only_for_coco(tmp_path) -> None:
    """A number is a COCO image id; for VOC (ids 0..n-1 made up by evalsite) it is only a name."""
    (tmp_path / "images").mkdir()
    (tmp_path / "xml").mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (50, 40)).save(tmp_path / "images" / f"{name}.jpg")
        (tmp_path / "xml" / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.jpg</filename><size><width>50</width><height>40</height></size>"
            "<object><name>cat</name><difficult>0</difficult><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>30</xmax>"
            "<ymax>30</ymax></bndbox></object></annotation>")
    (tmp_path / "pred.jsonl").write_text('{"image": "b.jpg", "predictions": []}\n')
    (tmp_path / "task.yaml").write_text("name: t\ntype: detection\nimages: images\nground_truth: xml\n"
                                        "predictions: pred.jsonl\nsplit: split.txt\n")
    (tmp_path / "split.txt").write_text("1\n")
    with pytest.raises(InputError, match="1 split entry names no ground-truth image: '1'"):
        evaluate(load_manifest(tmp_path / "task.yaml"))
    (tmp_path / "split.txt").write_text("b\n")
    report = evaluate(load_manifest(tmp_path / "task.yaml"))
    assert [r.image for r in report.images] == ["b.jpg"] and report.metrics["mAP50"] == 0.0


def test_split_option_on_build_and_evaluate() -> None:
    for command in ("build", "evaluate"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "--split PATH" in result.output
