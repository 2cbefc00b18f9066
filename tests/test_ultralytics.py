"""Ultralytics inputs in one step: a data.yaml (names, path, val as a folder / a list file / a list), labels/
beside images/, YOLO-seg polygons, `save_txt save_conf` predictions and `save_json` predictions.json, each
written here the way Ultralytics writes them (pred_to_json, Results.save_txt), and every number checked
against pycocotools' COCOeval on the equivalent COCO files."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image
from pycocotools import mask as maskUtils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from evalsite.cli import main
from evalsite.formats.ultralytics_results import COCO91

from conftest import assert_one_line_error

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
NAMES = ["cat", "dog", "bird"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def polygon(rng, cx, cy, rx, ry, points=8):
    """A star-ish polygon around (cx, cy), normalised, inside [0, 1]."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    radius = rng.uniform(0.6, 1.0, points)
    xs = np.clip(cx + rx * radius * np.cos(angles), 0, 1)
    ys = np.clip(cy + ry * radius * np.sin(angles), 0, 1)
    return np.column_stack([xs, ys]).ravel()


def g(values) -> str:
    """Ultralytics writes label and save_txt rows with '%g'."""
    return ("%g " * len(values)).rstrip() % tuple(values)


def as_written(row: str) -> np.ndarray:
    return np.array([float(v) for v in row.split()[1:]])


class Dataset:
    """An Ultralytics dataset with predictions: `objects[stem]` (class, normalised polygon or box) and
    `dets[stem]` (class, xyxy pixels float32, confidence, normalised polygon or None)."""

    def __init__(self, root: Path, stems: list[str], names: list[str], seed: int, seg: bool,
                 split_dir: str = "val"):
        rng = np.random.default_rng(seed)
        self.root, self.names, self.seg = root, names, seg
        self.images, self.sizes, self.objects, self.dets = {}, {}, {}, {}
        (root / "images" / split_dir).mkdir(parents=True)
        (root / "labels" / split_dir).mkdir(parents=True)
        for k, stem in enumerate(stems):
            w, h = int(rng.integers(90, 160)), int(rng.integers(60, 120))
            image = root / "images" / split_dir / f"{stem}.png"
            Image.new("RGB", (w, h), (k * 20 % 255, 90, 140)).save(image)
            self.images[stem], self.sizes[stem] = image, (w, h)
            rows, objects, dets = [], [], []
            for _ in range(int(rng.integers(0 if k == 1 else 1, 5))):
                c = int(rng.integers(len(names)))
                cx, cy, rx, ry = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), *rng.uniform(0.08, 0.24, 2)
                if seg:
                    poly = polygon(rng, cx, cy, rx, ry)
                    rows.append(g([c, *poly]))
                    objects.append((c, as_written(rows[-1])))
                    x, y = poly[0::2], poly[1::2]
                    box = np.array([x.min() * w, y.min() * h, x.max() * w, y.max() * h])
                else:
                    values = [c, cx, cy, 2 * rx, 2 * ry]
                    rows.append(g(values))
                    objects.append((c, as_written(rows[-1])))
                    box = np.array([(cx - rx) * w, (cy - ry) * h, (cx + rx) * w, (cy + ry) * h])
                if rng.random() < 0.85:  # found, with some jitter and sometimes the wrong class
                    jitter = rng.normal(0, 2.0, 4)
                    b = np.clip(box + jitter, 0, [w, h, w, h]).astype(np.float32)
                    pc = c if rng.random() < 0.8 else (c + 1) % len(names)
                    ppoly = None
                    if seg:
                        ppoly = np.clip(poly + rng.normal(0, 0.01, len(poly)), 0, 1).astype(np.float32)
                    dets.append((pc, b, float(np.float32(rng.uniform(0.3, 0.99))), ppoly))
            for _ in range(int(rng.integers(0, 3))):  # false alarms
                x0, y0 = rng.uniform(0, 0.6) * w, rng.uniform(0, 0.6) * h
                b = np.array([x0, y0, x0 + 0.3 * w, y0 + 0.3 * h], dtype=np.float32)
                ppoly = None
                if seg:
                    ppoly = np.array([x0 / w, y0 / h, x0 / w + 0.3, y0 / h, x0 / w + 0.15, y0 / h + 0.3],
                                     dtype=np.float32)
                dets.append((int(rng.integers(len(names))), b, float(np.float32(rng.uniform(0.01, 0.6))), ppoly))
            (root / "labels" / split_dir / f"{stem}.txt").write_text("".join(r + "\n" for r in rows))
            self.objects[stem], self.dets[stem] = objects, dets

    # --- what Ultralytics writes -------------------------------------------------------------------------
    def predictions_json(self, path: Path, class_map: list[int], file_name: bool = True) -> Path:
        """As DetectionValidator.pred_to_json (+ SegmentationValidator's RLE 'segmentation')."""
        jdict = []
        for stem, dets in self.dets.items():
            image_id = int(stem) if stem.isnumeric() else stem
            w, h = self.sizes[stem]
            for c, b, s, ppoly in dets:
                xywh = [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
                entry = {"image_id": image_id}
                if file_name:
                    entry["file_name"] = self.images[stem].name
                entry.update({"category_id": class_map[c], "bbox": [round(x, 3) for x in xywh],
                              "score": round(s, 5)})
                if self.seg:
                    rle = self._rle(ppoly, w, h)
                    rle["counts"] = rle["counts"].decode("utf-8")
                    entry["segmentation"] = rle
                jdict.append(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(jdict))
        return path

    def save_txt(self, folder: Path) -> Path:
        """As Results.save_txt(save_conf=True): 'class cx cy w h conf' (normalised, float32), or for
        segmentation 'class x1 y1 ... conf'; no file for an image without detections."""
        folder.mkdir(parents=True, exist_ok=True)
        for stem, dets in self.dets.items():
            if not dets:
                continue
            w, h = self.sizes[stem]
            texts = []
            for c, b, s, ppoly in dets:
                if self.seg:
                    line = (c, *ppoly.tolist(), s)
                else:
                    xywhn = np.array([(b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h, (b[2] - b[0]) / w,
                                      (b[3] - b[1]) / h], dtype=np.float32)
                    line = (c, *xywhn.tolist(), s)
                texts.append(g(line))
            (folder / f"{stem}.txt").write_text("".join(t + "\n" for t in texts))
        return folder

    @staticmethod
    def _rle(poly, w, h):
        pixels = (np.asarray(poly, dtype=np.float64).reshape(-1, 2) * [w, h]).ravel().tolist()
        return maskUtils.merge(maskUtils.frPyObjects([pixels], h, w))

    # --- the equivalent COCO files, for pycocotools ----------------------------------------------------------
    def coco_gt(self, seg_as_boxes: bool = False) -> dict:
        images, anns = [], []
        for i, (stem, objects) in enumerate(sorted(self.objects.items(), key=lambda kv: str(self.images[kv[0]]))):
            w, h = self.sizes[stem]
            images.append({"id": i + 1, "file_name": self.images[stem].name, "width": w, "height": h})
            for c, shape in objects:
                ann = {"id": len(anns) + 1, "image_id": i + 1, "category_id": c + 1, "iscrowd": 0}
                if self.seg:
                    x, y = shape[0::2] * w, shape[1::2] * h
                    ann["bbox"] = [x.min(), y.min(), x.max() - x.min(), y.max() - y.min()]
                    if seg_as_boxes:
                        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
                    else:
                        ann["segmentation"] = [(shape.reshape(-1, 2) * [w, h]).ravel().tolist()]
                        ann["area"] = float(maskUtils.area(self._rle(shape, w, h)))
                else:
                    cx, cy, bw, bh = shape
                    ann["bbox"] = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
                    ann["area"] = bw * w * bh * h
                anns.append(ann)
        return {"images": images, "annotations": anns,
                "categories": [{"id": k + 1, "name": n} for k, n in enumerate(self.names)]}

    def coco_results(self, gt: dict, source: str) -> list:
        """The detections as pycocotools results: from predictions.json (rounded as written) or from the
        save_txt text (the '%g' values, denormalised)."""
        ids = {m["file_name"]: m["id"] for m in gt["images"]}
        results = []
        for stem, dets in self.dets.items():
            w, h = self.sizes[stem]
            for c, b, s, ppoly in dets:
                entry = {"image_id": ids[self.images[stem].name], "category_id": c + 1}
                if source == "json":
                    entry["score"] = round(s, 5)
                    entry["bbox"] = [round(float(x), 3) for x in (b[0], b[1], b[2] - b[0], b[3] - b[1])]
                    if self.seg:
                        entry["segmentation"] = self._rle(ppoly, w, h)
                else:
                    entry["score"] = float(g([s]))
                    if self.seg:
                        poly = np.array([float(v) for v in g(ppoly.tolist()).split()])
                        entry["segmentation"] = self._rle(poly, w, h)
                    else:
                        xywhn = np.array([(b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h, (b[2] - b[0]) / w,
                                          (b[3] - b[1]) / h], dtype=np.float32)
                        cx, cy, bw, bh = (float(v) for v in g(xywhn.tolist()).split())
                        entry["bbox"] = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
                results.append(entry)
        return results


def cocoeval(gt: dict, results: list, iou_type: str) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(gt))
        coco.createIndex()
        dt = coco.loadRes(results)
        E = COCOeval(coco, dt, iou_type)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E.stats


def masks_only(results: list) -> list:
    """evalsite takes a predicted mask's area for COCO's area ranges whether or not a 'bbox' comes with it
    (as detectron2; tests/test_cli_segmentation.py): pycocotools does so for results without 'bbox'."""
    return [{k: v for k, v in r.items() if k != "bbox"} for r in results]


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def task(folder: Path, ground_truth, predictions, type_: str = "detection", **extra) -> Path:
    data = {"name": "ultra", "type": type_, "language": "en", "ground_truth": ground_truth,
            "predictions": predictions, **extra}
    return write_yaml(folder / "task.yaml", data)


def evaluate(manifest: Path) -> tuple[dict, str]:
    result = run("evaluate", manifest, "-o", "-")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout), result.stderr


def assert_same(report: dict, stats: np.ndarray) -> None:
    coco = report["metrics"]["coco"]
    for k, key in enumerate(KEYS):
        assert coco[key] == pytest.approx(stats[k], abs=1e-12), key
    assert stats[1] > 0.3  # a real evaluation, not an empty one


STEMS = ["000000000139", "000000000285", "street_01", "42", "a-b.c"]


@pytest.fixture
def detect(tmp_path: Path) -> Dataset:
    ds = Dataset(tmp_path / "datasets" / "pets", STEMS, NAMES, seed=3, seg=False)
    write_yaml(ds.root / "data.yaml", {"path": ".", "train": "images/train", "val": "images/val",
                                       "names": dict(enumerate(NAMES))})
    return ds


def test_data_yaml_and_predictions_json_in_one_step(detect: Dataset, tmp_path: Path) -> None:
    pred = detect.predictions_json(tmp_path / "runs" / "detect" / "val" / "predictions.json",
                                   list(range(1, len(NAMES) + 1)))
    manifest = task(tmp_path, "datasets/pets/data.yaml", "runs/detect/val/predictions.json")
    report, stderr = evaluate(manifest)
    gt = detect.coco_gt()
    assert_same(report, cocoeval(gt, detect.coco_results(gt, "json"), "bbox"))
    assert report["notices"] == [] and "warning" not in stderr.lower(), stderr
    assert report["task"]["category_mapping"] == "index+1"
    assert [i["format"] for i in report["task"]["inputs"]] == ["ultralytics", "ultralytics"]
    assert report["dataset"]["labels"] == NAMES
    assert report["task"]["images_root"] == "datasets/pets"
    assert len(report["images"]) == len(STEMS)
    assert pred.is_file()


def test_old_predictions_json_without_file_name(detect: Dataset, tmp_path: Path) -> None:
    detect.predictions_json(tmp_path / "p.json", list(range(1, len(NAMES) + 1)), file_name=False)
    report, _ = evaluate(task(tmp_path, {"format": "ultralytics", "path": "datasets/pets/data.yaml"},
                              {"format": "ultralytics", "path": "p.json"}))
    gt = detect.coco_gt()
    assert_same(report, cocoeval(gt, detect.coco_results(gt, "json"), "bbox"))


def test_save_txt_save_conf_predictions(detect: Dataset, tmp_path: Path) -> None:
    detect.save_txt(tmp_path / "runs" / "detect" / "val" / "labels")
    report, stderr = evaluate(task(tmp_path, "datasets/pets/data.yaml", "runs/detect/val/labels"))
    gt = detect.coco_gt()
    assert_same(report, cocoeval(gt, detect.coco_results(gt, "txt"), "bbox"))
    assert report["notices"] == [], stderr
    assert report["task"]["category_mapping"] is None


def test_names_list_list_file_and_absolute_path(tmp_path: Path) -> None:
    ds = Dataset(tmp_path / "d", STEMS, NAMES, seed=5, seg=False)
    (ds.root / "val.txt").write_text("".join(f"./images/val/{s}.png\n" for s in STEMS[:4]))
    write_yaml(tmp_path / "cfg.yaml", {"path": str(ds.root), "val": "val.txt", "names": NAMES})
    del ds.dets[STEMS[4]], ds.objects[STEMS[4]]
    ds.predictions_json(tmp_path / "p.json", [1, 2, 3])
    report, _ = evaluate(task(tmp_path, "cfg.yaml", "p.json"))
    gt = ds.coco_gt()
    assert_same(report, cocoeval(gt, ds.coco_results(gt, "json"), "bbox"))
    assert len(report["images"]) == 4


def test_val_as_a_list_of_folders(tmp_path: Path) -> None:
    a = Dataset(tmp_path / "d", ["1", "2", "x"], NAMES, seed=8, seg=False, split_dir="val_a")
    b = Dataset(tmp_path / "e", ["y", "z"], NAMES, seed=9, seg=False, split_dir="val_b")
    write_yaml(tmp_path / "data.yaml", {"val": ["d/images/val_a", "e/images/val_b"], "names": NAMES})
    a.dets.update(b.dets), a.objects.update(b.objects), a.sizes.update(b.sizes), a.images.update(b.images)
    a.predictions_json(tmp_path / "p.json", [1, 2, 3])
    report, _ = evaluate(task(tmp_path, "data.yaml", "p.json"))
    gt = a.coco_gt()
    assert_same(report, cocoeval(gt, a.coco_results(gt, "json"), "bbox"))
    assert report["task"]["images_root"] == "."


def test_coco91_ids_for_coco_data(tmp_path: Path) -> None:
    names = [f"class{k}" for k in range(80)]
    ds = Dataset(tmp_path / "datasets" / "coco", ["000000000139", "000000000285", "000000000632"], names,
                 seed=11, seg=False, split_dir="val2017")
    (ds.root / "val2017.txt").write_text("".join(f"./images/val2017/{s}.png\n" for s in ds.images))
    write_yaml(ds.root / "coco.yaml", {"path": ".", "val": "val2017.txt", "names": dict(enumerate(names))})
    ds.predictions_json(tmp_path / "p.json", COCO91.tolist())
    report, stderr = evaluate(task(tmp_path, "datasets/coco/coco.yaml", "p.json"))
    assert report["task"]["category_mapping"] == "coco91"
    gt = ds.coco_gt()
    assert_same(report, cocoeval(gt, ds.coco_results(gt, "json"), "bbox"))
    assert report["notices"] == [], stderr


def test_hand_shifted_ids_are_caught(detect: Dataset, tmp_path: Path) -> None:
    # predictions.json against a COCO ground truth whose category ids are the 0-based class indices
    gt = detect.coco_gt()
    for ann in gt["annotations"]:
        ann["category_id"] -= 1
    for cat in gt["categories"]:
        cat["id"] -= 1
    gt["categories"].append({"id": 3, "name": "other"})  # every shifted id names a category: no unknown id
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "images").mkdir()
    for image in detect.images.values():
        (tmp_path / "images" / image.name).write_bytes(image.read_bytes())
    results = detect.coco_results(gt, "json")  # the hand fix: image ids made ints, category ids kept (+1)
    (tmp_path / "hand.json").write_text(json.dumps(results))
    result = run("evaluate", task(tmp_path, "gt.json", "hand.json", images="images"), "-o", "-")
    assert_one_line_error(result, "category ids look shifted by +1")
    assert "format: ultralytics" in result.stderr
    # the file as Ultralytics wrote it (stem ids: found by name), against the same COCO ground truth: read right
    detect.predictions_json(tmp_path / "predictions.json", [1, 2, 3])
    report, _ = evaluate(task(tmp_path, "gt.json", "predictions.json", images="images"))
    assert report["task"]["category_mapping"] == "index+1"
    ref = detect.coco_gt()
    ref["categories"].append({"id": 4, "name": "other"})
    assert_same(report, cocoeval(ref, detect.coco_results(ref, "json"), "bbox"))


def test_unknown_shifted_ids_get_the_hint(detect: Dataset, tmp_path: Path) -> None:
    gt = detect.coco_gt()
    for item in gt["annotations"] + gt["categories"]:
        item["category_id" if "image_id" in item else "id"] -= 1
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "hand.json").write_text(json.dumps(detect.coco_results(gt, "json")))
    result = run("evaluate", task(tmp_path, "gt.json", "hand.json", images="datasets/pets/images/val"), "-o", "-")
    # the general shift check (evalsite.formats.misreads) names the shift and Ultralytics' + 1 before the
    # unknown id 3 is met
    assert_one_line_error(result, "the predicted category ids look shifted by +1 against the ground truth's")
    assert "read it with format: ultralytics" in result.stderr


def test_zero_based_ids_against_a_data_yaml_are_taken_with_a_warning(detect: Dataset, tmp_path: Path) -> None:
    detect.predictions_json(tmp_path / "p.json", [0, 1, 2])
    report, stderr = evaluate(task(tmp_path, "datasets/pets/data.yaml", "p.json"))
    assert report["task"]["category_mapping"] == "exact"
    assert [n["code"] for n in report["notices"]] == ["category_mapping_unexpected"]
    assert "category_mapping_unexpected" in stderr
    gt = detect.coco_gt()
    assert_same(report, cocoeval(gt, detect.coco_results(gt, "json"), "bbox"))


@pytest.fixture
def segset(tmp_path: Path) -> Dataset:
    ds = Dataset(tmp_path / "seg", STEMS, NAMES, seed=21, seg=True)
    write_yaml(ds.root / "data.yaml", {"path": ".", "val": "images/val", "names": NAMES})
    return ds


def test_segmentation_polygons_and_rle_predictions(segset: Dataset, tmp_path: Path) -> None:
    segset.predictions_json(tmp_path / "predictions.json", [1, 2, 3])
    report, stderr = evaluate(task(tmp_path, "seg/data.yaml", "predictions.json", type_="segmentation"))
    gt = segset.coco_gt()
    assert_same(report, cocoeval(gt, masks_only(segset.coco_results(gt, "json")), "segm"))
    assert report["notices"] == [], stderr


def test_segmentation_save_txt_polygons(segset: Dataset, tmp_path: Path) -> None:
    segset.save_txt(tmp_path / "labels")
    report, stderr = evaluate(task(tmp_path, "seg/data.yaml", "labels", type_="segmentation"))
    gt = segset.coco_gt()
    assert_same(report, cocoeval(gt, segset.coco_results(gt, "txt"), "segm"))
    assert report["notices"] == [], stderr


def test_polygon_labels_in_a_detection_task_are_their_boxes(segset: Dataset, tmp_path: Path) -> None:
    segset.predictions_json(tmp_path / "predictions.json", [1, 2, 3])
    for entries in [json.loads((tmp_path / "predictions.json").read_text())]:
        for e in entries:
            del e["segmentation"]
        (tmp_path / "predictions.json").write_text(json.dumps(entries))
    report, stderr = evaluate(task(tmp_path, "seg/data.yaml", "predictions.json"))
    segset.seg = True
    gt = segset.coco_gt(seg_as_boxes=True)
    results = segset.coco_results(gt, "json")
    for r in results:
        del r["segmentation"]
    assert_same(report, cocoeval(gt, results, "bbox"))
    assert [n["code"] for n in report["notices"]] == ["yolo_polygons_as_boxes"]
    assert "yolo_polygons_as_boxes" in stderr


def test_plain_yolo_folder_with_polygons_for_segmentation(segset: Dataset, tmp_path: Path) -> None:
    (segset.root / "labels" / "classes.txt").write_text("".join(n + "\n" for n in NAMES))
    segset.save_txt(tmp_path / "labels")
    report, _ = evaluate(task(tmp_path, {"format": "yolo", "path": "seg/labels/val"}, "labels",
                              type_="segmentation", images="seg/images/val"))
    gt = segset.coco_gt()
    assert_same(report, cocoeval(gt, segset.coco_results(gt, "txt"), "segm"))
    assert report["task"]["inputs"][0]["format"] == "yolo"


@pytest.mark.parametrize("change, expected", [
    (lambda root: (root / "labels/val/42.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.2 0.1 0.3 0.3\n"),
     "mixes box rows and polygon rows"),
    (lambda root: (root / "labels/val/42.txt").write_text("0 0.5 0.5 0.2 0.2 0.3 0.3 0.4\n"),
     "nor a YOLO-seg polygon"),
    (lambda root: write_yaml(root / "data.yaml", {"val": "images/val", "names": {1: "cat", 2: "dog"}}),
     "'names' keys must be the class indices 0..1"),
    (lambda root: write_yaml(root / "data.yaml", {"path": "nowhere", "val": "images/val", "names": NAMES}),
     "datasets_dir"),
    (lambda root: write_yaml(root / "data.yaml", {"val": "images/val", "test": "images/test", "names": NAMES}),
     None),
])
def test_bad_dataset_is_one_line_exit_2(detect: Dataset, tmp_path: Path, change, expected) -> None:
    detect.predictions_json(tmp_path / "p.json", [1, 2, 3])
    change(detect.root)
    if expected is None:  # a split that is not there
        result = run("evaluate", task(tmp_path, {"path": "datasets/pets/data.yaml", "split": "test"}, "p.json"),
                     "-o", "-")
        assert_one_line_error(result, "'test' entry 'images/test' not found")
        return
    assert_one_line_error(run("evaluate", task(tmp_path, "datasets/pets/data.yaml", "p.json"), "-o", "-"), expected)


def test_save_txt_without_save_conf(detect: Dataset, tmp_path: Path) -> None:
    folder = detect.save_txt(tmp_path / "labels")
    for file in folder.glob("*.txt"):
        file.write_text("".join(" ".join(line.split()[:5]) + "\n" for line in file.read_text().splitlines()))
    result = run("evaluate", task(tmp_path, "datasets/pets/data.yaml", "labels"), "-o", "-")
    assert_one_line_error(result, "save_conf=True")


def test_seg_predictions_in_a_detection_task(segset: Dataset, tmp_path: Path) -> None:
    segset.save_txt(tmp_path / "labels")
    result = run("evaluate", task(tmp_path, "seg/data.yaml", "labels"), "-o", "-")
    assert_one_line_error(result, "YOLO-seg polygon predictions")


def test_two_images_with_one_stem(detect: Dataset, tmp_path: Path) -> None:
    detect.predictions_json(tmp_path / "p.json", [1, 2, 3], file_name=False)
    (detect.root / "images" / "val" / "sub").mkdir()
    Image.new("RGB", (20, 20)).save(detect.root / "images" / "val" / "sub" / "street_01.jpg")
    result = run("evaluate", task(tmp_path, "datasets/pets/data.yaml", "p.json"), "-o", "-")
    assert_one_line_error(result, "matches several ground-truth images")


def test_predictions_of_another_dataset(detect: Dataset, tmp_path: Path) -> None:
    detect.predictions_json(tmp_path / "p.json", [1, 2, 3], file_name=False)
    entries = json.loads((tmp_path / "p.json").read_text())
    entries[0]["image_id"] = "not_here"
    (tmp_path / "p.json").write_text(json.dumps(entries))
    result = run("evaluate", task(tmp_path, "datasets/pets/data.yaml", "p.json"), "-o", "-")
    assert_one_line_error(result, "1 image(s) not in the ground truth: 'not_here'")


def test_images_key_must_hold_the_split(detect: Dataset, tmp_path: Path) -> None:
    detect.predictions_json(tmp_path / "p.json", [1, 2, 3])
    (tmp_path / "other").mkdir()
    result = run("evaluate", task(tmp_path, "datasets/pets/data.yaml", "p.json", images="other"), "-o", "-")
    assert_one_line_error(result, "lie outside the images root")
    report, _ = evaluate(task(tmp_path, "datasets/pets/data.yaml", "p.json", images="datasets"))
    assert report["images"][0]["image"].startswith("pets/images/val/")


def test_the_mapping_is_stated_on_the_data_page(detect: Dataset, tmp_path: Path) -> None:
    detect.predictions_json(tmp_path / "p.json", [1, 2, 3])
    manifest = task(tmp_path, "datasets/pets/data.yaml", "p.json")
    result = run("build", manifest, "-o", tmp_path / "site", "--quiet")
    assert result.exit_code == 0, result.output + result.stderr
    pages = [tmp_path / "site" / "ultra" / "data.html"]
    text = pages[0].read_text()
    assert "were read as the class index + 1" in text
    assert "<td>ultralytics</td>" in text


def test_nc_only_validation_key_and_yml(detect: Dataset, tmp_path: Path) -> None:
    write_yaml(detect.root / "d.yml", {"path": ".", "validation": "images/val", "nc": 3})
    detect.predictions_json(tmp_path / "p.json", [1, 2, 3])
    report, _ = evaluate(task(tmp_path, "datasets/pets/d.yml", "p.json"))
    assert report["dataset"]["labels"] == ["class_0", "class_1", "class_2"]
    gt = detect.coco_gt()
    assert_same(report, cocoeval(gt, detect.coco_results(gt, "json"), "bbox"))


def test_duplicate_label_rows_are_dropped_as_ultralytics_drops_them(detect: Dataset, tmp_path: Path) -> None:
    file = detect.root / "labels" / "val" / "42.txt"
    first = file.read_text().splitlines()[0]
    file.write_text(file.read_text() + first + "\n")
    detect.predictions_json(tmp_path / "p.json", [1, 2, 3])
    report, stderr = evaluate(task(tmp_path, "datasets/pets/data.yaml", "p.json"))
    gt = detect.coco_gt()  # the objects without the repeated row
    assert_same(report, cocoeval(gt, detect.coco_results(gt, "json"), "bbox"))
    assert [n["code"] for n in report["notices"]] == ["yolo_duplicate_labels"] and "42.txt: 1" in stderr


def test_options_only_with_a_data_yaml(detect: Dataset, tmp_path: Path) -> None:
    pred = detect.predictions_json(tmp_path / "p.json", [1, 2, 3])
    result = run("evaluate", "--name", "u", "--type", "detection", "--ground-truth",
                 detect.root / "data.yaml", "--predictions", pred, "-o", "-")
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    gt = detect.coco_gt()
    assert_same(report, cocoeval(gt, detect.coco_results(gt, "json"), "bbox"))
