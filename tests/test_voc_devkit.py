"""The Pascal VOC devkit's own layout (docs/inputs.md, "Pascal VOC devkit"): a VOCdevkit/VOC2007 folder with
Annotations/, ImageSets/Main/<set>.txt and JPEGImages/, and results/VOC2007/Main/comp4_det_<set>_<class>.txt
as py-faster-rcnn, darknet and the devkit's example code write them. The reference is the VOC evaluation
written here from its definition (py-faster-rcnn's voc_eval / the devkit's VOCevaldet: read the image set,
the XML of each listed image and one results file per class; rank by score, greedy matching at IoU > 0.5,
difficult objects neither counted nor penalised), with all-point and 11-point AP.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main
from evalsite.commands.evaluate import evaluate
from evalsite.core.errors import InputError
from evalsite.formats.detection import read_detection
from evalsite.formats.voc_devkit import voc_devkit_predictions
from evalsite.manifest import load_manifest

CLASSES = ["car", "dog", "person", "pottedplant"]


# ---------------------------------------------------------------- the dataset, as the devkit lays it out

def voc_annotation(image_id: str, size: tuple[int, int], objects: list[tuple[str, int, tuple]]) -> str:
    """An Annotations/<id>.xml as in VOC2007 (1-based inclusive integer corners)."""
    parts = ["<annotation>", "\t<folder>VOC2007</folder>", f"\t<filename>{image_id}.jpg</filename>",
             "\t<source><database>The VOC2007 Database</database></source>",
             f"\t<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>",
             "\t<segmented>0</segmented>"]
    for name, difficult, (x1, y1, x2, y2) in objects:
        parts.append(f"\t<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
                     f"<difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
                     f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def make_voc(top: Path, n_images: int = 40, seed: int = 0, jitter: float = 6.0) -> dict:
    """VOCdevkit/VOC2007 under `top` with `n_images` images (every other one in test, the rest trainval),
    and detections (per class: [(image id, score, x1, y1, x2, y2)], 0-based continuous corners as a
    detector gives them) for every image. Returns the paths and the detections."""
    rng = np.random.default_rng(seed)
    root = top / "VOCdevkit" / "VOC2007"
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"{i:06d}" for i in range(1, n_images + 1)]
    detections: dict[str, list] = {c: [] for c in CLASSES}
    for image_id in ids:
        w, h = int(rng.integers(90, 160)), int(rng.integers(70, 120))
        Image.new("RGB", (w, h), (int(rng.integers(0, 255)), 80, 120)).save(root / "JPEGImages" / f"{image_id}.jpg")
        objects = []
        for _ in range(int(rng.integers(0, 5))):
            name = CLASSES[int(rng.integers(0, 3))]  # pottedplant never annotated
            x1, y1 = int(rng.integers(1, w - 30)), int(rng.integers(1, h - 25))
            x2, y2 = int(rng.integers(x1 + 8, min(w, x1 + 60) + 1)), int(rng.integers(y1 + 8, min(h, y1 + 50) + 1))
            objects.append((name, int(rng.random() < 0.15), (x1, y1, x2, y2)))
            if rng.random() < 0.8:  # a detection near it, sometimes of the wrong class
                cls = name if rng.random() < 0.85 else CLASSES[int(rng.integers(0, 4))]
                d = rng.normal(0, jitter, 4)
                box = np.clip([x1 - 1 + d[0], y1 - 1 + d[1], x2 - 1 + d[2], y2 - 1 + d[3]], 0, [w - 1, h - 1] * 2)
                if box[2] - box[0] > 1 and box[3] - box[1] > 1:
                    detections[cls].append((image_id, float(rng.random()), *box))
        for _ in range(int(rng.integers(0, 3))):  # false alarms
            x1, y1 = rng.uniform(0, w - 20), rng.uniform(0, h - 20)
            detections[CLASSES[int(rng.integers(0, 4))]].append(
                (image_id, float(rng.random() * 0.7), x1, y1, x1 + rng.uniform(5, 19), y1 + rng.uniform(5, 19)))
        (root / "Annotations" / f"{image_id}.xml").write_text(voc_annotation(image_id, (w, h), objects),
                                                              encoding="utf-8")
    test, trainval = ids[::2], ids[1::2]
    for name, members in (("test", test), ("trainval", trainval), ("train", trainval[::2]), ("val", trainval[1::2])):
        (root / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{i}\n" for i in members), encoding="utf-8")
        for cls in CLASSES:  # the per-class sets: "<id> <1|-1|0>"
            (root / "ImageSets" / "Main" / f"{cls}_{name}.txt").write_text(
                "".join(f"{i} {int(rng.choice([-1, 0, 1])):2d}\n" for i in members), encoding="utf-8")
    return {"root": root, "ids": ids, "test": test, "trainval": trainval, "detections": detections}


def write_results(top: Path, voc: dict, split: str = "test", comp: str = "comp4",
                  style: str = "py-faster-rcnn") -> Path:
    """results/VOC2007/Main/<comp>_det_<split>_<class>.txt for the images of `split`, one file per class
    (also for classes without detections), as the tools write them."""
    folder = top / "VOCdevkit" / "results" / "VOC2007" / "Main"
    folder.mkdir(parents=True, exist_ok=True)
    members = set(voc[split])
    for cls in CLASSES:
        rows = [d for d in voc["detections"][cls] if d[0] in members]
        with open(folder / f"{comp}_det_{split}_{cls}.txt", "w", encoding="utf-8") as handle:
            for image_id, score, x1, y1, x2, y2 in rows:
                if style == "py-faster-rcnn":  # lib/datasets/pascal_voc.py: "the VOCdevkit expects 1-based indices"
                    handle.write(f"{image_id:s} {score:.3f} {x1 + 1:.1f} {y1 + 1:.1f} {x2 + 1:.1f} {y2 + 1:.1f}\n")
                elif style == "devkit":  # example_detector.m: fprintf(fid,'%s %f %d %d %d %d\n',...)
                    handle.write(f"{image_id} {score:f} {round(x1 + 1):d} {round(y1 + 1):d} {round(x2 + 1):d} "
                                 f"{round(y2 + 1):d}\n")
                else:  # darknet detector valid: "%s %f %f %f %f %f\n", corners + 1, clipped to [1, w]
                    handle.write(f"{image_id} {score:f} {max(x1 + 1, 1):f} {max(y1 + 1, 1):f} {x2 + 1:f} "
                                 f"{y2 + 1:f}\n")
    return folder


# ---------------------------------------------------------------- the reference, from the definition

def reference_map(root: Path, image_set: Path, results: Path, comp_set: str, use_07_metric: bool,
                  plus_one: bool = False) -> float:
    """Mean over the classes with counted objects in the set of the VOC AP of results files
    `results/<comp_set>_<class>.txt`. plus_one: the devkit's inclusive-pixel IoU (+1 on every side length);
    evalsite reads corners as continuous coordinates (no +1), as for the XML, so the equal-IoU check uses
    plus_one=False."""
    ids = [line.strip() for line in image_set.read_text().splitlines() if line.strip()]
    records = {}
    for image_id in ids:
        tree = ET.parse(root / "Annotations" / f"{image_id}.xml")
        records[image_id] = [(obj.findtext("name"), int(obj.findtext("difficult")),
                              [float(obj.find("bndbox").findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")])
                             for obj in tree.findall("object")]
    extra = 1.0 if plus_one else 0.0
    aps = []
    for cls in CLASSES:
        gt = {i: [(box, diff) for name, diff, box in records[i] if name == cls] for i in ids}
        npos = sum(1 for i in ids for _, diff in gt[i] if not diff)
        taken = {i: [False] * len(gt[i]) for i in ids}
        file = results / f"{comp_set}_{cls}.txt"
        rows = [line.split() for line in file.read_text().splitlines() if line.strip()]
        scores = np.array([float(r[1]) for r in rows])
        order = np.argsort(-scores, kind="stable")  # MATLAB's sort: ties keep their order
        tp, fp = np.zeros(len(rows)), np.zeros(len(rows))
        for d, k in enumerate(order):
            image_id, bb = rows[k][0], [float(v) for v in rows[k][2:]]
            best, jbest = -np.inf, -1
            for j, (g, _) in enumerate(gt[image_id]):
                iw = min(g[2], bb[2]) - max(g[0], bb[0]) + extra
                ih = min(g[3], bb[3]) - max(g[1], bb[1]) + extra
                inter = max(iw, 0.0) * max(ih, 0.0)
                union = ((bb[2] - bb[0] + extra) * (bb[3] - bb[1] + extra)
                         + (g[2] - g[0] + extra) * (g[3] - g[1] + extra) - inter)
                if inter / union > best:
                    best, jbest = inter / union, j
            if best >= 0.5:  # evalsite's threshold: IoU >= T (the devkit: > 0.5; equal IoUs do not occur here)
                if not gt[image_id][jbest][1]:
                    if not taken[image_id][jbest]:
                        tp[d], taken[image_id][jbest] = 1, True
                    else:
                        fp[d] = 1
            else:
                fp[d] = 1
        if npos == 0:
            continue
        ctp, cfp = np.cumsum(tp), np.cumsum(fp)
        rec = ctp / npos
        prec = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
        if use_07_metric:  # the mean over r = 0, 0.1, ..., 1 of the best precision at recall >= r
            ap = sum((prec[rec >= t].max() if (rec >= t).any() else 0.0) for t in np.arange(11) / 10) / 11
        else:  # the area under the precision envelope
            mrec = np.concatenate(([0.0], rec, [1.0]))
            mpre = np.concatenate(([0.0], prec, [0.0]))
            for i in range(len(mpre) - 2, -1, -1):
                mpre[i] = max(mpre[i], mpre[i + 1])
            changes = np.flatnonzero(mrec[1:] != mrec[:-1])
            ap = float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))
        aps.append(ap)
    return float(np.mean(aps))


def manifest(top: Path, ground_truth: str, predictions: str, extra: str = "") -> Path:
    file = top / "task.yaml"
    file.write_text(f"name: voc\ntype: detection\nimages: VOCdevkit/VOC2007/JPEGImages\nlanguage: en\n"
                    f"labels: [{', '.join(CLASSES)}]\n"  # pottedplant is predicted, never annotated
                    f"ground_truth: {ground_truth}\npredictions: {predictions}\n{extra}", encoding="utf-8")
    return file


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> dict:
    top = tmp_path_factory.mktemp("voc")
    data = make_voc(top)
    data["top"] = top
    data["results"] = write_results(top, data)
    return data


# ---------------------------------------------------------------- numbers

@pytest.mark.parametrize("gt, extra", [
    ("VOCdevkit/VOC2007", ""),  # the split told by the results' file names
    ("VOCdevkit/VOC2007/Annotations", ""),
    ("{format: voc, path: VOCdevkit/VOC2007}", "split: test\n"),
    ("VOCdevkit/VOC2007", "split: test\n"),  # an image set by name
    ("VOCdevkit/VOC2007/Annotations", "split: test\n"),
    ("VOCdevkit/VOC2007/Annotations", "split: VOCdevkit/VOC2007/ImageSets/Main/test.txt\n"),
    ("VOCdevkit/VOC2007/Annotations", "split: VOCdevkit/VOC2007/ImageSets/Main/car_test.txt\n"),  # per-class set
])
def test_devkit_layout_equals_the_reference(voc, gt, extra) -> None:
    top = voc["top"]
    predictions = "{format: voc-devkit, path: VOCdevkit}" if "format" in gt else "VOCdevkit/results/VOC2007/Main"
    report = evaluate(load_manifest(manifest(top, gt, predictions, extra)))
    image_set = voc["root"] / "ImageSets/Main/test.txt"
    for metric, use_07 in (("mAP50", False), ("mAP50_11pt", True)):
        expected = reference_map(voc["root"], image_set, voc["results"], "comp4_det_test", use_07)
        assert report.metrics[metric] == pytest.approx(expected, abs=1e-12), metric
    assert [r.image for r in report.images] == [f"{i}.jpg" for i in voc["test"]]
    formats = {i.role: i.format for i in report.task.inputs}
    assert formats == {"ground_truth": "voc", "predictions": "voc-devkit", "split": "txt"}
    split = next(i for i in report.task.inputs if i.role == "split")
    assert split.path.endswith("ImageSets/Main/" + ("car_test.txt" if "car_test" in extra else "test.txt"))
    left_out = [n for n in report.notices if n.code == "split_left_out"]
    assert len(left_out) == 1 and f"{len(voc['trainval'])} of {len(voc['ids'])} images" in left_out[0].detail


@pytest.mark.parametrize("style", ["devkit", "darknet"])
def test_other_writers_equal_the_reference(tmp_path, style) -> None:
    data = make_voc(tmp_path, n_images=24, seed=3)
    results = write_results(tmp_path, data, style=style)
    report = evaluate(load_manifest(manifest(tmp_path, "VOCdevkit/VOC2007", "VOCdevkit/results")))
    image_set = data["root"] / "ImageSets/Main/test.txt"
    assert report.metrics["mAP50"] == pytest.approx(
        reference_map(data["root"], image_set, results, "comp4_det_test", False), abs=1e-12)
    assert report.metrics["mAP50_11pt"] == pytest.approx(
        reference_map(data["root"], image_set, results, "comp4_det_test", True), abs=1e-12)


def test_pixel_convention_changes_little(voc) -> None:
    """The devkit's +1 IoU differs from the continuous one evalsite uses (documented): on these boxes of
    8 to 60 pixels, by a little; the reference with plus_one=False is the one that must be equal."""
    image_set = voc["root"] / "ImageSets/Main/test.txt"
    ours = reference_map(voc["root"], image_set, voc["results"], "comp4_det_test", False)
    devkit = reference_map(voc["root"], image_set, voc["results"], "comp4_det_test", False, plus_one=True)
    assert abs(ours - devkit) < 0.05


def test_without_the_split_every_train_image_is_missed_so_it_is_an_error(voc, tmp_path) -> None:
    """JSONL predictions for the test images, ground truth the VOC folder: no split is an error; `split:
    all` evaluates every annotation (and the train images count as missed)."""
    top = voc["top"]
    lines = []
    for image_id in voc["test"]:
        preds = [{"label": cls, "score": d[1], "bbox": [d[2] + 1, d[3] + 1, d[4] - d[2], d[5] - d[3]]}
                 for cls in CLASSES for d in voc["detections"][cls] if d[0] == image_id]
        lines.append(json.dumps({"image": f"{image_id}.jpg", "predictions": preds}))
    (top / "pred.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for gt in ("VOCdevkit/VOC2007", "VOCdevkit/VOC2007/Annotations"):
        with pytest.raises(InputError) as caught:
            evaluate(load_manifest(manifest(top, gt, "pred.jsonl")))
        message = caught.value.one_line()
        assert message.startswith(str(top / gt) + ": this VOC dataset has image sets (test, train, trainval, val")
        assert "split: test" in message and "split: all" in message
    with_split = evaluate(load_manifest(manifest(top, "VOCdevkit/VOC2007", "pred.jsonl", "split: test\n")))
    everything = evaluate(load_manifest(manifest(top, "VOCdevkit/VOC2007", "pred.jsonl", "split: all\n")))
    image_set = voc["root"] / "ImageSets/Main/test.txt"
    assert with_split.metrics["mAP50"] == pytest.approx(
        reference_map(voc["root"], image_set, voc["results"], "comp4_det_test", False), abs=1e-12)
    assert len(everything.images) == len(voc["ids"]) and len(with_split.images) == len(voc["test"])
    every_id = tmp_path / "all.txt"
    every_id.write_text("\n".join(voc["ids"]) + "\n")
    assert everything.metrics["mAP50"] == pytest.approx(
        reference_map(voc["root"], every_id, voc["results"], "comp4_det_test", False), abs=1e-12)
    assert everything.metrics["mAP50"] < with_split.metrics["mAP50"] - 0.05


def test_cli_options_and_the_folder_sniffed_as_devkit_results(voc, tmp_path) -> None:
    top = voc["top"]
    (top / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(main, [
        "evaluate", "-o", str(out), "-q", "--name", "voc", "--type", "detection",
        "--images", str(top / "VOCdevkit/VOC2007/JPEGImages"), "--ground-truth", str(top / "VOCdevkit/VOC2007"),
        "--predictions", str(top / "VOCdevkit/results"), "--split", "test", "--labels", str(top / "labels.txt")])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    image_set = voc["root"] / "ImageSets/Main/test.txt"
    assert report["metrics"]["mAP50"] == pytest.approx(
        reference_map(voc["root"], image_set, voc["results"], "comp4_det_test", False), abs=1e-12)
    assert [(i["role"], i["format"]) for i in report["task"]["inputs"]] == [
        ("ground_truth", "voc"), ("predictions", "voc-devkit"), ("labels", "txt"), ("split", "txt")]


# ---------------------------------------------------------------- the coordinate convention

def test_a_box_in_the_xml_and_in_the_results_is_the_same_box(tmp_path) -> None:
    root = tmp_path / "VOC2007"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    Image.new("RGB", (353, 500)).save(root / "JPEGImages" / "000001.jpg")
    (root / "Annotations" / "000001.xml").write_text(
        voc_annotation("000001", (353, 500), [("dog", 0, (48, 240, 195, 371)), ("person", 0, (8, 12, 352, 498))]))
    results = tmp_path / "results"
    results.mkdir()
    (results / "comp4_det_test_dog.txt").write_text("000001 0.900 48.0 240.0 195.0 371.0\n")
    (results / "comp4_det_test_person.txt").write_text("000001 0.800000 8 12 352 498\n")
    data = read_detection(ground_truth=root, predictions=results, images_root=root / "JPEGImages")
    assert data.pred_format == "voc-devkit" and data.gt_format == "voc"
    order = np.argsort(data.dt_label)
    assert data.dt_box[order].tolist() == data.gt_box[np.argsort(data.gt_label)].tolist()
    assert data.gt_box.tolist()[0] == [48.0, 240.0, 147.0, 131.0]
    from evalsite.core.boxes import iou_matrix

    assert np.diag(iou_matrix(data.dt_box[order], data.gt_box[np.argsort(data.gt_label)])).tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- file names and runs

def small_voc(tmp_path: Path) -> Path:
    root = tmp_path / "VOC2007"
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (root / sub).mkdir(parents=True)
    for image_id in ("000001", "000002"):
        Image.new("RGB", (100, 80)).save(root / "JPEGImages" / f"{image_id}.jpg")
        (root / "Annotations" / f"{image_id}.xml").write_text(
            voc_annotation(image_id, (100, 80), [("car", 0, (10, 10, 50, 40)), ("traffic_light", 0, (60, 5, 70, 30))]))
    (root / "ImageSets/Main/test.txt").write_text("000001\n")
    (root / "ImageSets/Main/val.txt").write_text("000002\n")
    return root


def read(root: Path, results: Path, **kwargs):
    return read_detection(ground_truth=root / "Annotations", predictions=results, images_root=root / "JPEGImages",
                          **kwargs)


def test_salted_file_names_and_classes_with_underscores(tmp_path) -> None:
    root = small_voc(tmp_path)
    results = tmp_path / "Main"
    results.mkdir()
    salt = str(uuid.UUID(int=7))  # py-faster-rcnn outside competition mode: comp4_<uuid4>_det_test_<class>.txt
    (results / f"comp4_{salt}_det_test_car.txt").write_text("000001 0.9 10 10 50 40\n")
    (results / f"comp4_{salt}_det_test_traffic_light.txt").write_text("000001 0.8 60 5 70 30\n000002 0.1 1 1 9 9\n")
    data = read(root, results)
    assert sorted(data.labels[i] for i in data.dt_label) == ["car", "traffic_light", "traffic_light"]
    assert data.dt_image.tolist() == [0, 0, 1]


def test_a_set_name_with_underscores(tmp_path) -> None:
    root = small_voc(tmp_path)
    results = tmp_path / "Main"
    results.mkdir()
    (results / "comp3_det_my_test_car.txt").write_text("000001 0.9 10 10 50 40\n")
    (results / "comp3_det_my_test_traffic_light.txt").write_text("")
    data = read(root, results)
    assert [data.labels[i] for i in data.dt_label] == ["car"]


def test_two_runs_in_one_folder(tmp_path) -> None:
    root = small_voc(tmp_path)
    results = tmp_path / "Main"
    results.mkdir()
    for comp, split, image in (("comp4", "test", "000001"), ("comp3", "test", "000001"), ("comp4", "val", "000002")):
        (results / f"{comp}_det_{split}_car.txt").write_text(f"{image} 0.9 10 10 50 40\n")
    with pytest.raises(InputError, match="results of 3 runs in one folder"):
        read(root, results)
    (results / "comp3_det_test_car.txt").unlink()
    with pytest.raises(InputError, match="results of 2 runs in one folder.*name the image set"):
        read(root, results)
    data = read(root, results, image_set="val")
    assert [data.images[i] for i in data.dt_image] == ["000002.jpg"]
    (results / "comp4_det_val_car.txt").unlink()
    with pytest.raises(InputError, match="these results are for the image set 'test'.*but the split is 'val'"):
        read(root, results, image_set="val")


def test_results_set_without_its_image_set_file(tmp_path) -> None:
    small_voc(tmp_path)
    results = tmp_path / "Main"
    results.mkdir()
    (results / "comp4_det_trainval_car.txt").write_text("000001 0.9 10 10 50 40\n")
    task = tmp_path / "task.yaml"
    task.write_text("name: t\ntype: detection\nimages: VOC2007/JPEGImages\nground_truth: VOC2007\npredictions: Main\n")
    with pytest.raises(InputError, match="for the image set 'trainval', but .* has no trainval.txt"):
        evaluate(load_manifest(task))
    assert len(evaluate(load_manifest(task.parent / _with(task, "split: all\n"))).images) == 2


def _with(task: Path, extra: str) -> str:
    other = task.with_name("task2.yaml")
    other.write_text(task.read_text() + extra)
    return other.name


BAD = [
    ("000001 0.9 10 10 50\n", "line 1", "expected 6 values (image score x1 y1 x2 y2), found 5"),
    ("000001 0.9 10 10 50 40\n000001 high 10 10 50 40\n", "line 2", "'high' is not a number"),
    ("000001 0.9 50 10 50 40\n", "line 1", "box x1 y1 x2 y2 = 50 10 50 40 has zero or negative size"),
    ("000001 nan 10 10 50 40\n", "line 1", "score"),
    ("000009 0.9 10 10 50 40\n", "first at comp4_det_test_car.txt line 1",
     "1 image(s) not in the ground truth: '000009'"),
]


@pytest.mark.parametrize("text, record, problem", BAD)
def test_bad_results(tmp_path, text, record, problem) -> None:
    root = small_voc(tmp_path)
    results = tmp_path / "Main"
    results.mkdir()
    (results / "comp4_det_test_car.txt").write_text(text)
    with pytest.raises(InputError) as caught:
        read(root, results)
    where = results if record.startswith("first") else results / "comp4_det_test_car.txt"
    assert caught.value.one_line().startswith(f"{where}, {record}: "), caught.value.one_line()
    assert problem in caught.value.one_line()


def test_unknown_class_file_and_segmentation(tmp_path) -> None:
    root = small_voc(tmp_path)
    results = tmp_path / "Main"
    results.mkdir()
    (results / "comp4_det_test_bus.txt").write_text("000001 0.9 10 10 50 40\n")
    (results / "comp4_det_test_sofa.txt").write_text("")  # an empty file of a class the data lacks: fine
    with pytest.raises(InputError, match="label\\(s\\) the ground truth lacks: 'bus'"):
        read(root, results)
    with pytest.raises(InputError, match="VOC devkit results give boxes only"):
        voc_devkit_predictions(results, ["000001.jpg"], ["bus"], segmentation=True)
    with pytest.raises(InputError, match="give the folder of the VOC devkit results"):
        read(root, results / "comp4_det_test_bus.txt", pred_format="voc-devkit")
