"""The public Python API (evalsite.evaluate, the evaluators, load_report, build_site, compare, check).

* The evaluators give exactly the numbers of the CLI on the same data written as files (report.json's
  metrics, per_label, confusion, curves and intervals compared for equality): both hand the same core type to
  the same report builder.
* The evaluators against independent references: scikit-learn for classification; pycocotools' COCOeval for
  DetectionEvaluator runs (bbox and segm; xyxy and xywh boxes; crowd objects; labels as names or indices;
  several update calls equal one).
* Bad input: one-line InputErrors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

import evalsite
from evalsite.cli import main
from evalsite.metrics.coco import STAT_NAMES

from conftest import write_task

LABELS = ["cat", "dog", "bird"]
COMPARED = ("metrics", "per_label", "confusion", "curves", "intervals")


def run_cli(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


# ----------------------------------------------------------------------------------------- a detection scene


def scenes(seed: int, n_images: int = 10, outside: bool = False, masks: bool = False) -> list[dict]:
    """Images with ground truth and predictions: per image its name, (h, w), gt boxes (xywh), labels, crowd,
    masks (bool (N, h, w)) and detections (xywh, labels, scores, masks)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_images):
        h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        n = int(rng.integers(0, 5))
        gt = []
        for _ in range(n):
            bw, bh = int(rng.integers(6, w // 2)), int(rng.integers(6, h // 2))
            gt.append([int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh)), bw, bh])
        gt_box = np.array(gt, dtype=np.float64).reshape(-1, 4)
        gt_label = rng.integers(0, len(LABELS), n)
        crowd = (rng.random(n) < 0.15).astype(np.int64)
        dt, dt_label = [], []
        for (x, y, bw, bh), lab in zip(gt_box.tolist(), gt_label.tolist()):
            if rng.random() < 0.8:
                dx, dy = rng.uniform(-3, 3, 2)
                nx, ny = min(max(x + dx, 0), w - bw), min(max(y + dy, 0), h - bh)
                dt.append([nx, ny, bw, bh])
                dt_label.append(lab if rng.random() < 0.85 else int(rng.integers(0, len(LABELS))))
        for _ in range(int(rng.integers(0, 3))):  # false positives
            bw, bh = int(rng.integers(5, w // 3)), int(rng.integers(5, h // 3))
            dt.append([float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh)), bw, bh])
            dt_label.append(int(rng.integers(0, len(LABELS))))
        if outside and i % 2:
            dt.append([w - 10.0, h - 10.0, 25.0, 25.0])  # partly outside: clipped by both paths
            dt_label.append(0)
        dt_box = np.array(dt, dtype=np.float64).reshape(-1, 4)
        scene = dict(name=f"img-{i:02d}.png", size=(h, w), gt_box=gt_box, gt_label=gt_label, crowd=crowd,
                     dt_box=dt_box, dt_label=np.array(dt_label, dtype=np.int64),
                     dt_score=np.round(rng.random(len(dt)), 4))
        if masks:
            scene["gt_mask"] = np.stack([ellipse(h, w, b) for b in gt_box]) if n else np.zeros((0, h, w), bool)
            scene["dt_mask"] = np.stack([ellipse(h, w, b) for b in dt_box]) if len(dt) else np.zeros((0, h, w), bool)
        out.append(scene)
    return out


def ellipse(h: int, w: int, box) -> np.ndarray:
    x, y, bw, bh = box
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = x + bw / 2, y + bh / 2
    return ((xx + 0.5 - cx) / (bw / 2)) ** 2 + ((yy + 0.5 - cy) / (bh / 2)) ** 2 <= 1


def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def coco_files(data: list[dict], segm: bool = False) -> tuple[dict, list[dict]]:
    """The scenes as a COCO instances dict (image ids 1.., category ids 1..) and a results list."""
    images, anns, results = [], [], []
    for k, s in enumerate(data, start=1):
        h, w = s["size"]
        images.append({"id": k, "file_name": s["name"], "height": h, "width": w})
        for j, (box, lab, crowd) in enumerate(zip(s["gt_box"].tolist(), s["gt_label"].tolist(), s["crowd"].tolist())):
            ann = {"id": len(anns) + 1, "image_id": k, "category_id": lab + 1, "bbox": box, "iscrowd": crowd,
                   "area": box[2] * box[3]}
            if segm:
                m = s["gt_mask"][j]
                ann["segmentation"] = rle(m)
                ann["area"] = float(m.sum())
                ann["bbox"] = [float(v) for v in mask_utils.toBbox(mask_utils.encode(np.asfortranarray(
                    m.astype(np.uint8))))]
            anns.append(ann)
        for j, (box, lab, score) in enumerate(zip(s["dt_box"].tolist(), s["dt_label"].tolist(),
                                                  s["dt_score"].tolist())):
            result = {"image_id": k, "category_id": lab + 1, "score": score}
            if segm:
                result["segmentation"] = rle(s["dt_mask"][j])
            else:
                result["bbox"] = box
            results.append(result)
    cats = [{"id": i + 1, "name": name} for i, name in enumerate(LABELS)]
    return {"images": images, "annotations": anns, "categories": cats}, results


def pycocotools_stats(data: list[dict], segm: bool) -> np.ndarray:
    gt_dict, results = coco_files(data, segm)
    gt = COCO()
    gt.dataset = gt_dict
    gt.createIndex()
    dt = gt.loadRes(results) if results else COCO()
    evaluation = COCOeval(gt, dt, "segm" if segm else "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return np.array(evaluation.stats)


def xyxy(box: np.ndarray) -> np.ndarray:
    return np.column_stack([box[:, 0], box[:, 1], box[:, 0] + box[:, 2], box[:, 1] + box[:, 3]])


def feed(ev: evalsite.DetectionEvaluator, data: list[dict], *, batch: int, names: bool = False, fmt: str = "xyxy",
         segm: bool = False, sizes: bool = True) -> None:
    """The scenes as torchvision-style dicts of numpy arrays, `batch` images per update call."""
    for start in range(0, len(data), batch):
        part = data[start:start + batch]
        targets, preds = [], []
        for s in part:
            convert = xyxy if fmt == "xyxy" else (lambda b: b)
            labels_gt = [LABELS[i] for i in s["gt_label"]] if names else s["gt_label"]
            labels_dt = [LABELS[i] for i in s["dt_label"]] if names else s["dt_label"]
            target = {"boxes": convert(s["gt_box"]), "labels": labels_gt, "iscrowd": s["crowd"]}
            pred = {"boxes": convert(s["dt_box"]), "labels": labels_dt, "scores": s["dt_score"]}
            if segm:
                target = {"labels": labels_gt, "iscrowd": s["crowd"], "masks": s["gt_mask"]}
                pred = {"labels": labels_dt, "scores": s["dt_score"],
                        "masks": [mask_utils.encode(np.asfortranarray(m.astype(np.uint8))) for m in s["dt_mask"]]}
            targets.append(target)
            preds.append(pred)
        ev.update([s["name"] for s in part], targets, preds, sizes=[s["size"] for s in part] if sizes else None)


def write_images(root: Path, data: list[dict]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for s in data:
        h, w = s["size"]
        Image.fromarray(np.full((h, w, 3), 128, dtype=np.uint8)).save(root / s["name"])


def write_coco_task(folder: Path, data: list[dict], segm: bool) -> Path:
    gt, results = coco_files(data, segm)
    write_images(folder / "images", data)
    (folder / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (folder / "pred.json").write_text(json.dumps(results), encoding="utf-8")
    manifest = folder / "task.yaml"
    manifest.write_text(f"name: t\ntype: {'segmentation' if segm else 'detection'}\nimages: images\n"
                        "ground_truth: gt.json\npredictions: pred.json\nlanguage: en\n", encoding="utf-8")
    return manifest


# ------------------------------------------------------------------------------------ identical to the CLI


@pytest.mark.parametrize("segm", [False, True], ids=["bbox", "segm"])
def test_detection_evaluator_equals_the_cli(tmp_path: Path, segm: bool) -> None:
    data = scenes(3, n_images=8, outside=not segm, masks=segm)
    manifest = write_coco_task(tmp_path, data, segm)
    cli = json.loads(run_cli("evaluate", manifest, "-o", "-", "--quiet"))
    ev = evalsite.DetectionEvaluator(LABELS, iou_type="segm" if segm else "bbox", name="t", language="en",
                                     images_root=tmp_path / "images")
    feed(ev, data, batch=3, segm=segm, sizes=False)  # sizes read from the image files
    api = json.loads(ev.compute().to_json())
    for key in COMPARED:
        assert api[key] == cli[key], key
    assert api["dataset"]["labels"] == cli["dataset"]["labels"]
    assert [i["image"] for i in api["images"]] == [i["image"] for i in cli["images"]]
    assert api["metrics"]["mAP50"] > 0.3  # a real evaluation, not an empty one


def test_evaluate_and_classification_evaluator_equal_the_cli(tmp_path: Path) -> None:
    manifest = write_task(tmp_path / "in", LABELS, n_images=40, seed=5)
    cli = json.loads(run_cli("evaluate", manifest, "-o", "-", "--quiet"))
    by_path = json.loads(evalsite.evaluate(manifest).to_json())
    by_dict = evalsite.evaluate({"name": "task", "type": "classification", "images": "images", "language": "en",
                                 "ground_truth": {"format": "csv", "path": "gt.csv"},
                                 "predictions": {"format": "csv", "path": "pred.csv"}}, base=tmp_path / "in")
    by_dict = json.loads(by_dict.to_json())
    rows = [line.split(",") for line in (tmp_path / "in" / "pred.csv").read_text().splitlines()[1:]]
    truth = dict(line.split(",") for line in (tmp_path / "in" / "gt.csv").read_text().splitlines()[1:])
    ev = evalsite.ClassificationEvaluator(LABELS, name="task", language="en", images_root=tmp_path / "in" / "images")
    for start in range(0, len(rows), 16):
        part = rows[start:start + 16]
        scores = np.array([[float(v) for v in r[1:]] for r in part])
        ev.update([r[0] for r in part], [truth[r[0]] for r in part], scores)
    api = json.loads(ev.compute().to_json())
    for key in COMPARED:
        assert by_path[key] == cli[key], key
        assert by_dict[key] == cli[key], key
        assert api[key] == cli[key], key
    assert api["images"] == cli["images"]


def test_evaluate_relative_paths_of_a_dict_are_from_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    write_task(tmp_path / "in", LABELS, n_images=6)
    monkeypatch.chdir(tmp_path / "in")
    report = evalsite.evaluate({"name": "task", "type": "classification", "images": Path("images"),
                                "ground_truth": {"path": Path("gt.csv")}, "predictions": "pred.csv"},
                               intervals=False)
    assert report.dataset.images == 6 and report.intervals is None


# ----------------------------------------------------------------------------- against pycocotools / sklearn


@pytest.mark.parametrize("segm", [False, True], ids=["bbox", "segm"])
@pytest.mark.parametrize("fmt, names, batch", [("xyxy", False, 1), ("xywh", True, 4)])
def test_detection_evaluator_equals_pycocotools(segm: bool, fmt: str, names: bool, batch: int) -> None:
    data = scenes(11, n_images=12, masks=segm)
    assert any(s["crowd"].any() for s in data)  # crowd objects are in play
    ev = evalsite.DetectionEvaluator(LABELS, iou_type="segm" if segm else "bbox", box_format=fmt)
    feed(ev, data, batch=batch, names=names, fmt=fmt, segm=segm)
    report = ev.compute(intervals=False)
    expected = pycocotools_stats(data, segm)
    got = np.array([report.metrics["coco"][name] for name in STAT_NAMES])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[1] > 0.1  # a real evaluation, not an empty one


def test_several_updates_equal_one() -> None:
    data = scenes(7, n_images=9)
    one, many = evalsite.DetectionEvaluator(LABELS), evalsite.DetectionEvaluator(LABELS)
    feed(one, data, batch=len(data))
    feed(many, data, batch=2)
    a, b = json.loads(one.compute().to_json()), json.loads(many.compute().to_json())
    for key in COMPARED:
        assert a[key] == b[key], key


def test_tensor_like_inputs_are_accepted() -> None:
    class Tensor:  # what a torch tensor offers: detach(), cpu(), numpy()
        def __init__(self, array):
            self.array = np.asarray(array)

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.array

    data = scenes(2, n_images=4)
    plain, tensors = evalsite.DetectionEvaluator(LABELS), evalsite.DetectionEvaluator(LABELS)
    feed(plain, data, batch=4)
    tensors.update([s["name"] for s in data],
                   [{"boxes": Tensor(xyxy(s["gt_box"])), "labels": Tensor(s["gt_label"]),
                     "iscrowd": Tensor(s["crowd"])} for s in data],
                   [{"boxes": Tensor(xyxy(s["dt_box"])), "labels": Tensor(s["dt_label"]),
                     "scores": Tensor(s["dt_score"])} for s in data],
                   sizes=[Tensor(s["size"]) for s in data])
    assert plain.compute(intervals=False).metrics == tensors.compute(intervals=False).metrics


@pytest.mark.parametrize("form", ["scores", "topk"])
def test_classification_evaluator_against_sklearn(form: str) -> None:
    rng = np.random.default_rng(4)
    n, k = 60, len(LABELS)
    y_true = rng.integers(0, k, n)
    scores = rng.random((n, k))
    scores[np.arange(n), y_true] += rng.random(n) * 0.8
    y_pred = scores.argmax(axis=1)
    ev = evalsite.ClassificationEvaluator(LABELS)
    for start in range(0, n, 25):
        part = slice(start, start + 25)
        images = [f"{i}.png" for i in range(n)][part]
        if form == "scores":
            ev.update(images, y_true[part], scores[part])
        else:  # top-2 lists, best first, labels as names; truth as names
            top = [[(LABELS[j], float(row[j])) for j in np.argsort(-row)[:2]] for row in scores[part]]
            ev.update(images, [LABELS[i] for i in y_true[part]], top)
    m = ev.compute(intervals=False).metrics
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f), abs=1e-12)
    top2 = np.mean([y in np.argsort(-row)[:2] for y, row in zip(y_true, scores)])
    assert m["top2"] == pytest.approx(top2, abs=1e-12)


# ------------------------------------------------------------------------- report, site, compare, check


def test_to_json_load_report_build_site_compare_check(tmp_path: Path) -> None:
    data = scenes(5, n_images=6)
    write_images(tmp_path / "images", data)
    reports = []
    for model, drop in (("v1", 0), ("v2", 3)):
        ev = evalsite.DetectionEvaluator(LABELS, name=f"shapes-{model}", language="en",
                                         images_root=tmp_path / "images")
        worse = [dict(s, dt_score=s["dt_score"][::-1].copy()) if i < drop else s for i, s in enumerate(data)]
        feed(ev, worse, batch=3, sizes=False)
        reports.append(ev.compute())
    first = reports[0]
    written = tmp_path / "r" / "v1.json"
    assert first.to_json(written) == written.read_text(encoding="utf-8")
    from evalsite.report.model import to_json

    assert to_json(first) == written.read_text(encoding="utf-8")  # the module-level function is unchanged
    loaded = evalsite.load_report(written)
    assert loaded.metrics == first.metrics
    site = evalsite.build_site(first, tmp_path / "out")
    assert site == tmp_path / "out" / "shapes-v1" and (site / "index.html").is_file()
    assert (tmp_path / "out" / "index.html").is_file()  # the overview
    assert evalsite.load_report(site).metrics == first.metrics
    reports[1].to_json(tmp_path / "r" / "v2.json")
    cmp = evalsite.compare(written, tmp_path / "r" / "v2.json", tmp_path / "out", name="v2 vs v1")
    assert (cmp / "index.html").is_file() and cmp.name == "v2 vs v1"

    result = evalsite.check(first, require=["mAP50>=0.1", "coco.AP>0.99"])
    assert not result.passed and not result
    assert [rule["passed"] for rule in result.rules] == [True, False]
    assert result.lines[-1] == "FAILED: 1 of 2 rules failed"
    cli = CliRunner().invoke(main, ["check", str(written), "--require", "mAP50>=0.1", "--require", "coco.AP>0.99"])
    assert cli.exit_code == 1 and cli.stdout.splitlines() == result.lines
    gate = evalsite.check(tmp_path / "r" / "v2.json", max_drop=["mAP50=1"], baseline=first)
    assert gate.passed and gate.rules[0]["baseline"] == first.metrics["mAP50"]


def test_build_site_needs_images_when_the_report_records_none(tmp_path: Path) -> None:
    ev = evalsite.ClassificationEvaluator(LABELS)
    ev.update(["a.png"], ["cat"], [[0.9, 0.05, 0.05]])
    with pytest.raises(evalsite.InputError, match="give images=DIR"):
        evalsite.build_site(ev.compute(intervals=False), tmp_path / "out")


# ------------------------------------------------------------------------------------------------ errors


def one_detection(**change) -> tuple[list, list]:
    target = {"boxes": np.array([[1.0, 1, 10, 10]]), "labels": np.array([0])}
    pred = {"boxes": np.array([[1.0, 1, 10, 10]]), "labels": np.array([0]), "scores": np.array([0.5])}
    for key, value in change.items():
        side, field = key.split("__")
        (target if side == "t" else pred)[field] = value
    return [target], [pred]


@pytest.mark.parametrize("change, message", [
    (dict(t__boxes=np.zeros((1, 3))), r"update call 1, image 'a.png': 'targets\['boxes'\]' must be an array of "
                                      r"shape \(1 x 4\), found shape \(1, 3\)"),
    (dict(p__scores=np.array([np.nan])), r"'predictions\['scores'\]' has a NaN or infinite value"),
    (dict(p__labels=np.array([3])), r"label index 3 in 'predictions\['labels'\]' is outside 0..2"),
    (dict(t__labels=["cow"]), r"unknown label 'cow' in 'targets\['labels'\]'"),
    (dict(p__boxes=np.array([[5.0, 5, 5, 9]])), r"box \[5.0, 5.0, 5.0, 9.0\] \(xyxy\) has zero or negative"),
    (dict(p__scores=None), r"predictions has no 'scores'"),
    (dict(t__iscrowd=np.array([2])), r"iscrowd'\] must be 0 or 1"),
])
def test_detection_errors_are_one_line(change: dict, message: str) -> None:
    ev = evalsite.DetectionEvaluator(LABELS)
    targets, preds = one_detection(**change)
    with pytest.raises(evalsite.InputError, match=message) as info:
        ev.update(["a.png"], targets, preds, sizes=[(20, 20)])
    assert "\n" not in str(info.value)
    assert isinstance(info.value, evalsite.EvalsiteError)


def test_detection_errors_across_calls_and_masks() -> None:
    ev = evalsite.DetectionEvaluator(LABELS)
    targets, preds = one_detection()
    with pytest.raises(evalsite.InputError, match="'targets' has 1 entries, but 'images' has 2"):
        ev.update(["a.png", "b.png"], targets, preds)
    ev.update(["a.png"], targets, preds, sizes=[(20, 20)])
    with pytest.raises(evalsite.InputError, match=r"update call 3: image 'a.png' was already given \(update call 2"):
        ev.update(["a.png"], targets, preds)
    with pytest.raises(evalsite.InputError, match="unknown iou_type 'mask'"):
        evalsite.DetectionEvaluator(LABELS, iou_type="mask")
    with pytest.raises(evalsite.InputError, match="nothing to evaluate"):
        evalsite.DetectionEvaluator(LABELS).compute()
    seg = evalsite.DetectionEvaluator(LABELS, iou_type="segm")
    soft = {"labels": [0], "masks": np.full((1, 20, 20), 0.7)}
    with pytest.raises(evalsite.InputError, match="must be boolean or 0/1, found dtype float64"):
        seg.update(["a.png"], [soft], [dict(soft, scores=[0.5])])
    wrong_size = {"labels": [0], "masks": np.ones((1, 10, 10), dtype=bool)}
    seg.update(["b.png"], [wrong_size], [dict(wrong_size, scores=[0.5])], sizes=[(20, 20)])
    with pytest.raises(evalsite.InputError, match=r"RLE size \[10, 10\] \(height, width\) differs from the image's"):
        seg.compute()


def test_classification_errors_are_one_line() -> None:
    ev = evalsite.ClassificationEvaluator(LABELS)
    with pytest.raises(evalsite.InputError, match=r"'scores' must be an array of shape \(2, 3\)"):
        ev.update(["a", "b"], [0, 1], np.zeros((2, 4)))
    with pytest.raises(evalsite.InputError, match=r"NaN or infinite score nan \(row 1, label 'dog'\)"):
        ev.update(["a", "b"], [0, 1], [[0.1, 0.2, 0.3], [0.1, np.nan, 0.3]])
    with pytest.raises(evalsite.InputError, match="unknown label 'cow' in 'y_true'"):
        ev.update(["a"], ["cow"], [[0.1, 0.2, 0.3]])
    with pytest.raises(evalsite.InputError, match="'y_true' has 1 entries, but 'images' has 2"):
        ev.update(["a", "b"], [0], [[0.1, 0.2, 0.3]] * 2)
    with pytest.raises(evalsite.InputError, match="a label appears twice in the top-k list of image 0"):
        ev.update(["a"], [0], [[("cat", 0.5), (0, 0.4)]])
    ev.update(["a"], [0], [[0.1, 0.2, 0.3]])
    with pytest.raises(evalsite.InputError, match="earlier batches gave a score array"):
        ev.update(["b"], [0], [[("cat", 0.5)]])
    with pytest.raises(evalsite.InputError, match="'labels' repeats 'cat'"):
        evalsite.ClassificationEvaluator(["cat", "cat"])
    with pytest.raises(evalsite.InputError, match="task name 'a/b' cannot be a folder name"):
        evalsite.ClassificationEvaluator(LABELS, name="a/b")
    with pytest.raises(evalsite.InputError, match="unknown language 'fr'"):
        evalsite.DetectionEvaluator(LABELS, language="fr")
    by_index = evalsite.ClassificationEvaluator({1: "dog", 0: "cat"})  # Ultralytics' model.names
    assert by_index.labels == ["cat", "dog"]


def test_evaluate_and_check_errors_are_the_cli_messages(tmp_path: Path) -> None:
    with pytest.raises(evalsite.InputError) as info:
        evalsite.evaluate(tmp_path / "nope.yaml")
    cli = CliRunner().invoke(main, ["evaluate", str(tmp_path / "nope.yaml"), "-o", "-"])
    assert cli.exit_code == 2 and cli.stderr.strip() == f"error: {info.value.one_line()}"
    with pytest.raises(evalsite.InputError, match="missing required key 'predictions'"):
        evalsite.evaluate({"name": "x", "type": "classification", "images": ".", "ground_truth": "gt.csv"})
    ev = evalsite.ClassificationEvaluator(LABELS)
    ev.update(["a"], [0], [[0.5, 0.2, 0.3]])
    report = ev.compute(intervals=False)
    with pytest.raises(evalsite.InputError, match=r'--require "mAP50>=60": unknown metric|mAP50'):
        evalsite.check(report, require=["mAP50>=60"])
    with pytest.raises(evalsite.InputError, match="needs --baseline"):
        evalsite.check(report, max_drop=["accuracy=0.01"])
    with pytest.raises(evalsite.InputError, match="no rules"):
        evalsite.check(report)


def test_import_evalsite_stays_light() -> None:
    code = ("import sys, evalsite, evalsite.core.errors; "
            "print(sorted(m for m in ('numpy', 'sklearn', 'matplotlib', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(evalsite.__file__).parent.parent)})
    assert out.stdout.strip() == "[]"
    assert set(evalsite.__all__) >= {"evaluate", "ClassificationEvaluator", "DetectionEvaluator", "Report",
                                     "load_report", "build_site", "compare", "check", "CheckResult"}
    assert all(getattr(evalsite, name) is not None for name in evalsite.__all__)
