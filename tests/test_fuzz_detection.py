"""Fuzz (tests/fuzzing.py): every detection and segmentation reader, fed mutants of valid seed files, returns
DetectionData or raises one one-line EvalsiteError naming the file. `make fuzz` runs the long profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from evalsite.core.detection_data import DetectionData
from evalsite.formats.detection import read_detection

from fuzzing import fuzz_file, put, world

SIZES = {"a.png": (50, 40), "sub/b.png": (100, 80)}


def _images(root: Path, folder: str = "images") -> None:
    for name, size in SIZES.items():
        (root / folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (10, 120, 200)).save(root / folder / name)


COCO_GT = {
    "images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40},
               {"id": 2, "file_name": "sub/b.png", "width": 100, "height": 80}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 10], "area": 200, "iscrowd": 0,
         "segmentation": [[5, 5, 25, 5, 25, 15, 5, 15]]},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 1,
         "segmentation": {"size": [80, 100], "counts": [810, 30, 50, 30, 50, 30, 7000]}},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [50, 40, 10, 10], "iscrowd": 0,
         "segmentation": [[50, 40, 60, 40, 60, 50, 50, 50]]}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
COCO_RESULTS = [
    {"image_id": 1, "category_id": 1, "bbox": [6, 5, 19, 10], "score": 0.9,
     "segmentation": [[6, 5, 25, 5, 25, 15, 6, 15]]},
    {"image_id": 2, "category_id": 2, "bbox": [10, 12, 28, 30], "score": 0.5,
     "segmentation": {"size": [80, 100], "counts": "\\i0n0b100000000000000000000000000000000000000000000000000000dj4"}},
    {"image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.1,
     "segmentation": [[0, 0, 5, 0, 5, 5, 0, 5]]}]
JSONL = [
    {"image": "a.png", "predictions": [{"label": "cat", "score": 0.9, "bbox": [6, 5, 19, 10],
                                        "segmentation": [[6, 5, 25, 5, 25, 15, 6, 15]]}]},
    {"image": "sub/b.png", "predictions": [{"label": "dog", "score": 0.5, "bbox": [10, 12, 28, 30],
                                            "segmentation": {"size": [80, 100], "counts": [812, 28, 52, 28, 7080]}}]}]
VOC_XML = """<annotation>
  <filename>{name}</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
  <object><name>cat</name><difficult>0</difficult>
    <bndbox><xmin>5</xmin><ymin>5</ymin><xmax>25</xmax><ymax>15</ymax></bndbox></object>
  <object><name>dog</name><difficult>1</difficult>
    <bndbox><xmin>10.5</xmin><ymin>10</ymin><xmax>30</xmax><ymax>35</ymax></bndbox></object>
</annotation>
"""
YOLO_BOX = "0 0.3 0.25 0.4 0.25\n1 0.5 0.5 0.2 0.3\n"
YOLO_POLY = "0 0.1 0.1 0.5 0.1 0.5 0.4 0.1 0.4\n1 0.4 0.4 0.6 0.4 0.5 0.7\n"


def _coco(root: Path) -> None:
    _images(root)
    put(root / "gt.json", json.dumps(COCO_GT))
    put(root / "results.json", json.dumps(COCO_RESULTS))
    put(root / "preds.jsonl", "".join(json.dumps(r) + "\n" for r in JSONL))
    put(root / "split.txt", "# the test images\na.png\nsub/b\n2\n")


def _voc(root: Path) -> None:
    _coco(root)
    put(root / "xml" / "a.xml", VOC_XML.format(name="a.png", w=50, h=40))
    put(root / "xml" / "b.xml", VOC_XML.format(name="sub/b.png", w=100, h=80))


def _yolo(root: Path, rows: str) -> None:
    _images(root)
    put(root / "labels" / "classes.txt", "cat\ndog\n")
    put(root / "labels" / "a.txt", rows)
    put(root / "labels" / "sub" / "b.txt", rows)
    put(root / "preds" / "a.txt", "".join(line + " 0.8\n" for line in rows.splitlines()))
    put(root / "preds" / "sub" / "b.txt", "".join(line + " 0.3\n" for line in rows.splitlines()))


def _devkit(root: Path) -> None:
    voc = root / "VOCdevkit" / "VOC2007"
    for stem, (w, h) in (("000001", (50, 40)), ("000002", (100, 80))):
        (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h)).save(voc / "JPEGImages" / f"{stem}.jpg")
        put(voc / "Annotations" / f"{stem}.xml", VOC_XML.format(name=f"{stem}.jpg", w=w, h=h))
    put(voc / "ImageSets" / "Main" / "test.txt", "000001\n000002\n")
    main = root / "VOCdevkit" / "results" / "VOC2007" / "Main"
    put(main / "comp4_det_test_cat.txt", "000001 0.9 5.0 5.0 25.0 15.0\n000002 0.2 1 1 9 9\n")
    put(main / "comp4_det_test_dog.txt", "000002 0.7 10 10 30 35\n")


def _ultralytics(root: Path) -> None:
    ds = root / "ds"
    for name, size in SIZES.items():
        stem = Path(name).stem
        (ds / "images" / "val").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size).save(ds / "images" / "val" / f"{stem}.png")
        put(ds / "labels" / "val" / f"{stem}.txt", YOLO_BOX)
    put(ds / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n")
    put(root / "predictions.json", json.dumps([
        {"image_id": "a", "file_name": "a.png", "category_id": 0, "bbox": [5.0, 5.0, 20.0, 10.0], "score": 0.9},
        {"image_id": "b", "file_name": "b.png", "category_id": 1, "bbox": [40.0, 28.0, 20.0, 24.0],
         "score": 0.4}]))


def _png(root: Path) -> None:
    import numpy as np

    _coco(root)
    for name, (w, h) in SIZES.items():
        pixels = np.zeros((h, w), np.uint8)
        pixels[5:15, 5:25] = 1
        pixels[20:30, 30:45] = 2
        (root / "masks" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "L").save(root / "masks" / name)
    put(root / "masks" / "instances.csv", "image,instance,label,iscrowd\na.png,1,cat,0\na.png,2,dog,1\n"
                                          "sub/b.png,1,cat,0\nsub/b.png,2,cat,\n")


# (world, the mutated file, its structure, reader arguments relative to the world's root)
CASES = {
    "coco-gt": (_coco, "gt.json", "json", dict(ground_truth="gt.json", predictions="results.json")),
    "coco-results": (_coco, "results.json", "json", dict(ground_truth="gt.json", predictions="results.json")),
    "coco-gt-segm": (_coco, "gt.json", "json", dict(ground_truth="gt.json", predictions="results.json",
                                                     task_type="segmentation")),
    "coco-results-segm": (_coco, "results.json", "json", dict(ground_truth="gt.json", predictions="results.json",
                                                               task_type="segmentation")),
    "jsonl": (_coco, "preds.jsonl", "json", dict(ground_truth="gt.json", predictions="preds.jsonl")),
    "jsonl-segm": (_coco, "preds.jsonl", "json", dict(ground_truth="gt.json", predictions="preds.jsonl",
                                                       task_type="segmentation")),
    "split": (_coco, "split.txt", "text", dict(ground_truth="gt.json", predictions="preds.jsonl",
                                               split="split.txt")),
    "voc-xml": (_voc, "xml/a.xml", "text", dict(ground_truth="xml", predictions="preds.jsonl")),
    "yolo-gt": (lambda r: _yolo(r, YOLO_BOX), "labels/a.txt", "text", dict(ground_truth="labels", predictions="preds",
                                                                            gt_format="yolo", pred_format="yolo")),
    "yolo-classes": (lambda r: _yolo(r, YOLO_BOX), "labels/classes.txt", "text",
                     dict(ground_truth="labels", predictions="preds", gt_format="yolo", pred_format="yolo")),
    "yolo-preds": (lambda r: _yolo(r, YOLO_BOX), "preds/sub/b.txt", "text",
                   dict(ground_truth="labels", predictions="preds", gt_format="yolo", pred_format="yolo")),
    "yolo-polygons": (lambda r: _yolo(r, YOLO_POLY), "labels/a.txt", "text",
                      dict(ground_truth="labels", predictions="preds", gt_format="yolo", pred_format="yolo",
                           task_type="segmentation")),
    "yolo-polygon-preds": (lambda r: _yolo(r, YOLO_POLY), "preds/a.txt", "text",
                           dict(ground_truth="labels", predictions="preds", gt_format="yolo", pred_format="yolo",
                                task_type="segmentation")),
    "devkit-xml": (_devkit, "VOCdevkit/VOC2007/Annotations/000002.xml", "text",
                   dict(ground_truth="VOCdevkit/VOC2007", predictions="VOCdevkit/results/VOC2007/Main",
                        images="VOCdevkit/VOC2007/JPEGImages", labels=["cat", "dog"])),
    "devkit-results": (_devkit, "VOCdevkit/results/VOC2007/Main/comp4_det_test_cat.txt", "text",
                       dict(ground_truth="VOCdevkit/VOC2007", predictions="VOCdevkit/results/VOC2007/Main",
                            images="VOCdevkit/VOC2007/JPEGImages", labels=["cat", "dog"])),
    "devkit-image-set": (_devkit, "VOCdevkit/VOC2007/ImageSets/Main/test.txt", "text",
                         dict(ground_truth="VOCdevkit/VOC2007", predictions="VOCdevkit/results/VOC2007/Main",
                              images="VOCdevkit/VOC2007/JPEGImages", labels=["cat", "dog"])),
    "data-yaml": (_ultralytics, "ds/data.yaml", "text",
                  dict(ground_truth="ds/data.yaml", predictions="predictions.json", images="ds")),
    "ultralytics-labels": (_ultralytics, "ds/labels/val/a.txt", "text",
                           dict(ground_truth="ds/data.yaml", predictions="predictions.json", images="ds")),
    "ultralytics-predictions": (_ultralytics, "predictions.json", "json",
                                dict(ground_truth="ds/data.yaml", predictions="predictions.json", images="ds")),
    "png-instances": (_png, "masks/instances.csv", "text",
                      dict(ground_truth="masks", predictions="preds.jsonl", gt_format="png",
                           task_type="segmentation")),
    "png-mask": (_png, "masks/a.png", "bytes",
                 dict(ground_truth="masks", predictions="preds.jsonl", gt_format="png", task_type="segmentation")),
}


def _seed(case: str) -> bytes:
    write, target, _, _ = CASES[case]
    with world(write) as root:
        return (root / target).read_bytes()


def _call(root: Path, arguments: dict):
    arguments = dict(arguments)
    images = root / arguments.pop("images", "images")
    for key in ("ground_truth", "predictions", "split"):
        if key in arguments:
            arguments[key] = root / arguments[key]
    return lambda: read_detection(images_root=images, **arguments)


@pytest.mark.parametrize("case", list(CASES))
def test_the_seed_is_valid(case: str) -> None:
    write, _, _, arguments = CASES[case]
    with world(write) as root:
        assert isinstance(_call(root, arguments)(), DetectionData)


@pytest.mark.parametrize("case", list(CASES))
def test_fuzz_detection_reader(case: str) -> None:
    write, target, structure, arguments = CASES[case]
    fuzz_file(write, target, _seed(case), structure, lambda root: _call(root, arguments)(), DetectionData)()
