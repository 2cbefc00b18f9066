"""Detection input readers (docs/inputs.md, docs/reliability.md): COCO, Pascal VOC and YOLO ground truth; COCO results,
YOLO and JSONL predictions. Good files give exact column arrays; every bad record is one InputError "file, record:
problem" on one line; problems that do not stop the report are Notices."""

from __future__ import annotations

import copy
import gc
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalsite.core.errors import InputError
from evalsite.manifest import InputSpec, TaskSpec

from spec_readers import read_detection

# ---------------------------------------------------------------------------------------------- helpers

def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_json(path: Path, data: object) -> Path:
    return write(path, json.dumps(data))


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def write_image(path: Path, size: tuple[int, int], orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (10, 120, 200))
    if orientation is None:
        image.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(path, exif=exif)
    return path


def make_spec(root: Path, gt: str, pred: str, gt_format: str | None = None, pred_format: str | None = None,
              labels: list[str] | None = None) -> TaskSpec:
    (root / "images").mkdir(parents=True, exist_ok=True)
    return TaskSpec(name="task", type="detection", images=root / "images",
                    ground_truth=InputSpec(gt_format, root / gt), predictions=InputSpec(pred_format, root / pred),
                    labels=labels, source=root / "task.yaml")


def expect_error(call, file: Path, record: str | None, *fragments: str) -> InputError:
    """The call raises an InputError whose one-line message is "file, record: problem" with the fragments."""
    with pytest.raises(InputError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.file == str(file), message
    where = f"{file}, {record}: " if record else f"{file}: "
    assert message.startswith(where), message
    for fragment in fragments:
        assert fragment in message, message
    return caught.value


def codes(data) -> list[str]:
    return [n.code for n in data.notices]


# COCO: ids start at 0, images and categories out of order, a segmentation present (ignored here),
# one annotation without "area" (then w*h).
GT = {
    "info": {"description": "test"},
    "images": [{"id": 2, "file_name": "b.jpg", "width": 100, "height": 80},
               {"id": 0, "file_name": "sub/a.jpg", "width": 50, "height": 40}],
    "categories": [{"id": 3, "name": "dog", "supercategory": "animal"}, {"id": 0, "name": "cat"}],
    "annotations": [
        {"id": 0, "image_id": 2, "category_id": 3, "bbox": [10, 10, 20, 30], "area": 500.5, "iscrowd": 0,
         "segmentation": [[10, 10, 30, 10, 30, 40]]},
        {"id": 5, "image_id": 0, "category_id": 0, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 1,
         "segmentation": {"counts": [0, 5, 10], "size": [40, 50]}},
        {"id": 7, "image_id": 2, "category_id": 0, "bbox": [0.5, 0.25, 10, 10]},
    ],
}
RESULTS = [
    {"image_id": 2, "category_id": 0, "bbox": [1, 1, 5, 5], "score": 0.5},
    {"image_id": 0, "category_id": 3, "bbox": [2, 2, 4, 4], "score": 0.9},
    {"image_id": 2, "category_id": 3, "bbox": [10, 10, 20, 30.5], "score": 0.75},
]


def coco_task(root: Path, gt: object = None, results: object = None, **extra) -> TaskSpec:
    write_json(root / "gt.json", GT if gt is None else gt)
    write_json(root / "results.json", RESULTS if results is None else results)
    return make_spec(root, "gt.json", "results.json", "coco", "coco", **extra)


# ---------------------------------------------------------------------------------------------- COCO

def test_coco_ground_truth_and_results(tmp_path):
    data = read_detection(coco_task(tmp_path))
    assert data.images == ["sub/a.jpg", "b.jpg"]
    assert data.image_ids.tolist() == [0, 2]
    assert data.widths.tolist() == [50, 100] and data.heights.tolist() == [40, 80]
    assert data.labels == ["cat", "dog"] and data.label_ids.tolist() == [0, 3]
    # ground truth grouped by image (ascending id), file order kept inside an image; annotation id 0 is real
    assert data.gt_id.tolist() == [5, 0, 7]
    assert data.gt_image.tolist() == [0, 1, 1]
    assert data.gt_label.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(data.gt_box, [[1, 2, 3, 4], [10, 10, 20, 30], [0.5, 0.25, 10, 10]])
    np.testing.assert_array_equal(data.gt_area, [12, 500.5, 100])
    assert data.gt_crowd.tolist() == [True, False, False]
    assert data.gt_difficult.tolist() == [False, False, False]
    assert data.dt_image.tolist() == [0, 1, 1]
    assert data.dt_label.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(data.dt_box, [[2, 2, 4, 4], [1, 1, 5, 5], [10, 10, 20, 30.5]])
    np.testing.assert_array_equal(data.dt_score, [0.9, 0.5, 0.75])
    assert data.image_matching == "id" and data.label_matching == "id"
    assert data.notices == []
    for column in (data.gt_box, data.dt_box, data.gt_area, data.dt_score):
        assert column.dtype == np.float64
    for column in (data.image_ids, data.label_ids, data.gt_image, data.gt_label, data.gt_id, data.dt_image,
                   data.dt_label, data.widths, data.heights):
        assert column.dtype == np.int64
    assert gc.isenabled()


def test_coco_formats_told_from_the_file_names(tmp_path):
    coco_task(tmp_path)
    spec = make_spec(tmp_path, "gt.json", "results.json")
    assert read_detection(spec).dt_score.tolist() == [0.9, 0.5, 0.75]


def test_coco_empty_results_and_images_without_objects(tmp_path):
    gt = copy.deepcopy(GT)
    gt["images"].append({"id": 9, "file_name": "empty.jpg", "width": 10, "height": 10})
    data = read_detection(coco_task(tmp_path, gt, []))
    assert data.images[-1] == "empty.jpg" and len(data.dt_score) == 0 and data.dt_box.shape == (0, 4)
    assert "no_predictions" in codes(data)


def test_coco_results_matched_by_file_name_when_ids_are_not_shared(tmp_path):
    results = [{"image_id": 100, "file_name": "b.jpg", "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.3},
               {"image_id": 101, "file_name": "sub/a.jpg", "category_id": 0, "bbox": [1, 1, 2, 2], "score": 0.4}]
    data = read_detection(coco_task(tmp_path, results=results))
    assert data.image_matching == "file name"
    assert data.dt_image.tolist() == [0, 1] and data.dt_score.tolist() == [0.4, 0.3]


def test_coco_dataset_predictions_matched_by_file_name_and_category_name(tmp_path):
    """Predictions as a COCO dataset with their own ids (e.g. exported by another tool): ids differ, names agree."""
    pred = {"images": [{"id": 1, "file_name": "sub/a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
            "annotations": [{"image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.8},
                            {"image_id": 1, "category_id": 2, "bbox": [0, 0, 6, 6], "score": 0.7}]}
    data = read_detection(coco_task(tmp_path, results=pred))
    assert data.image_matching == "file name" and data.label_matching == "name"
    assert data.dt_image.tolist() == [0, 1]
    assert [data.labels[i] for i in data.dt_label] == ["dog", "cat"]


def test_coco_dataset_predictions_with_the_same_ids_match_by_id(tmp_path):
    pred = {"images": GT["images"], "categories": GT["categories"],
            "annotations": [{"image_id": 0, "category_id": 3, "bbox": [0, 0, 5, 5], "score": 0.8}]}
    data = read_detection(coco_task(tmp_path, results=pred))
    assert data.image_matching == "id" and data.label_matching == "id"


def test_coco_declared_labels_must_be_the_categories(tmp_path):
    assert read_detection(coco_task(tmp_path, labels=["dog", "cat"])).labels == ["cat", "dog"]
    expect_error(lambda: read_detection(coco_task(tmp_path, labels=["cat"])), tmp_path / "gt.json",
                 "key 'categories'", "not in the declared labels", "'dog'")
    expect_error(lambda: read_detection(coco_task(tmp_path, labels=["cat", "dog", "bird"])), tmp_path / "gt.json",
                 "key 'categories'", "declared label(s) not among the categories", "'bird'")


def test_unknown_images_are_listed_up_to_ten(tmp_path):
    results = [{"image_id": 100 + i, "category_id": 0, "bbox": [1, 1, 2, 2], "score": 0.5} for i in range(12)]
    results.insert(0, dict(RESULTS[0]))
    error = expect_error(lambda: read_detection(coco_task(tmp_path, results=results)), tmp_path / "results.json",
                         "first at results entry 2", "12 image id(s) not in the ground truth",
                         "100, 101, 102", "and 2 more")
    # the message after the file name (the tmp path itself may contain "111")
    listed = str(error).split("not in the ground truth:", 1)[1]
    assert "111" not in listed and "110" not in listed


def test_boxes_outside_the_image_are_clipped_or_dropped(tmp_path):
    results = [{"image_id": 0, "category_id": 0, "bbox": [-5, 30, 20, 20], "score": 0.5},  # partly outside
               {"image_id": 0, "category_id": 0, "bbox": [60, 0, 10, 10], "score": 0.6},  # wholly outside
               {"image_id": 0, "category_id": 0, "bbox": [1, 1, 2, 2], "score": 0.7}]
    gt = copy.deepcopy(GT)
    gt["annotations"][0]["bbox"] = [90, 70, 20, 20]  # image 100x80
    spec = coco_task(tmp_path, gt, results)
    data = read_detection(spec)
    np.testing.assert_array_equal(data.dt_box, [[0, 30, 15, 10], [1, 1, 2, 2]])
    assert data.dt_score.tolist() == [0.5, 0.7]
    np.testing.assert_array_equal(data.gt_box[1], [90, 70, 10, 10])
    assert data.gt_area[1] == 500.5  # COCO's area is kept as given
    clipped = [n for n in data.notices if n.code == "box_clipped"]
    assert [n.file for n in clipped] == [str(tmp_path / "gt.json"), str(tmp_path / "results.json")]
    assert "1 predicted box(es)" in clipped[1].detail and "results entry 1" in clipped[1].detail
    assert "annotation id 0" in clipped[0].detail
    dropped = [n for n in data.notices if n.code == "box_outside_image"]
    assert len(dropped) == 1 and "results entry 2" in dropped[0].detail
    kept = read_detection(spec, clip=False)
    np.testing.assert_array_equal(kept.dt_box, [[-5, 30, 20, 20], [60, 0, 10, 10], [1, 1, 2, 2]])
    assert codes(kept) == ["box_not_clipped", "box_not_clipped"]


def test_rounding_at_the_border_is_left_alone(tmp_path):
    """float32 detector output clipped to 640 can reach 640.00003 in float64: not clipped, not reported."""
    results = [{"image_id": 0, "category_id": 0, "bbox": [10.5, 0, 39.50003, 40.0002], "score": 0.5},
               {"image_id": 0, "category_id": 0, "bbox": [-0.0005, 0, 5, 5], "score": 0.5}]
    data = read_detection(coco_task(tmp_path, results=results))
    np.testing.assert_array_equal(data.dt_box, [r["bbox"] for r in results])
    assert data.notices == []


def test_images_without_a_size_are_not_clipped(tmp_path):
    gt = copy.deepcopy(GT)
    del gt["images"][1]["width"]
    results = [{"image_id": 0, "category_id": 0, "bbox": [-5, 30, 200, 200], "score": 0.5}]
    data = read_detection(coco_task(tmp_path, gt, results))
    np.testing.assert_array_equal(data.dt_box, [[-5, 30, 200, 200]])
    assert codes(data) == ["image_size_unknown"]


def _gt(**changes) -> dict:
    gt = copy.deepcopy(GT)
    for path, value in changes.items():
        *keys, last = path.split("__")
        target = gt
        for key in keys:
            target = target[int(key) if key.isdigit() else key]
        if value is KeyError:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return gt


BAD_COCO_GT = [
    ("[]", None, "must be a JSON object", "this one is a list"),
    ('{"images": [}', "line 1, column 13", "malformed JSON"),
    ('{\n  "images": [],\n  "categories": [1, 2,]\n}', "line 3, column 23", "malformed JSON"),
    (_gt(images=KeyError), None, "missing 'images'"),
    (_gt(categories=KeyError), None, "missing 'categories'"),
    (_gt(annotations=KeyError), None, "missing 'annotations'"),
    (_gt(images={}), "key 'images'", "'images' must be a list"),
    (_gt(categories=[]), "key 'categories'", "'categories' is empty"),
    (_gt(annotations__2__id=5), "annotation id 5", "annotation id 5 appears twice",
     "annotations entries 2 and 3"),
    (_gt(annotations__2__id="7"), "annotations entry 3", "'id' must be an integer", "'7'"),
    (_gt(annotations__1__id=KeyError), "annotations entry 2", "missing 'id'"),
    (_gt(annotations__1__bbox=[1, 2, 0, 4]), "annotation id 5", "zero or negative size", "[1, 2, 0, 4]"),
    (_gt(annotations__1__bbox=[1, 2, 3, -4]), "annotation id 5", "zero or negative size", "height -4"),
    (_gt(annotations__1__bbox=[1, 2, 3]), "annotation id 5", "'bbox' must be [x, y, width, height]"),
    (_gt(annotations__1__bbox=[1, 2, "3", 4]), "annotation id 5", "'bbox' must be [x, y, width, height]"),
    (_gt(annotations__1__bbox=KeyError), "annotation id 5", "missing 'bbox'"),
    (_gt(annotations__0__bbox=[1, float("nan"), 3, 4]), "annotation id 0", "NaN or infinite coordinate"),
    (_gt(annotations__2__bbox=[1, 2, float("inf"), 4]), "annotation id 7", "NaN or infinite coordinate"),
    (_gt(annotations__0__area=float("nan")), "annotation id 0", "'area' must be a finite number"),
    (_gt(annotations__0__iscrowd=2), "annotation id 0", "'iscrowd' must be 0 or 1"),
    (_gt(annotations__2__image_id=9), "annotation id 7", "image id 9 is not in 'images'"),
    (_gt(annotations__2__category_id=1), "annotation id 7", "category id 1 is not in 'categories'"),
    (_gt(images__1__id=2), "images entry 2", "image id 2 appears twice"),
    (_gt(images__1__file_name=KeyError), "image id 0", "missing image path"),
    (_gt(images__1__file_name="../a.jpg"), "image id 0", "escapes the images root"),
    (_gt(images__1__width=-1), "image id 0", "'width' must not be negative"),
    (_gt(categories__1__id=3), "categories entry 2", "category id 3 appears twice"),
    (_gt(categories__1__name="dog"), "category id 0", "category name 'dog' is also category id 3"),
    (_gt(categories__1__name=""), "category id 0", "a category needs a name"),
    (_gt(annotations=[1]), "annotations entry 1", "each entry of 'annotations' must be an object"),
]


@pytest.mark.parametrize("case", BAD_COCO_GT)
def test_bad_coco_ground_truth(tmp_path, case):
    gt, record, *fragments = case
    if isinstance(gt, str):
        write(tmp_path / "gt.json", gt)
        write_json(tmp_path / "results.json", RESULTS)
        spec = make_spec(tmp_path, "gt.json", "results.json", "coco", "coco")
    else:
        spec = coco_task(tmp_path, gt)
    expect_error(lambda: read_detection(spec), tmp_path / "gt.json", record, *fragments)


def _results(index: int, **changes) -> list:
    results = copy.deepcopy(RESULTS)
    for key, value in changes.items():
        if value is KeyError:
            del results[index][key]
        else:
            results[index][key] = value
    return results


BAD_RESULTS = [
    ({"image_id": 1}, None, "must be a results list"),
    ('[{"image_id": 2,}]', "line 1, column 17", "malformed JSON"),
    ([1], "results entry 1", "each entry of 'results' must be an object"),
    (_results(1, score=float("nan")), "results entry 2", "score must be a finite number", "nan"),
    (_results(2, score=float("-inf")), "results entry 3", "score must be a finite number"),
    (_results(1, score="0.9"), "results entry 2", "'score' must be a number", "'0.9'"),
    (_results(1, score=KeyError), "results entry 2", "missing 'score'"),
    (_results(0, bbox=[1, 1, 0, 5]), "results entry 1", "zero or negative size"),
    (_results(0, bbox=[1, 1, -3, 5]), "results entry 1", "zero or negative size", "width -3"),
    (_results(2, bbox=[float("nan"), 1, 3, 5]), "results entry 3", "NaN or infinite coordinate"),
    (_results(2, bbox=[1, 1, 3]), "results entry 3", "'bbox' must be [x, y, width, height]"),
    (_results(1, image_id=1.0), "results entry 2", "'image_id' must be an integer", "1.0"),
    (_results(1, image_id=True), "results entry 2", "'image_id' must be an integer", "True"),
    (_results(1, image_id=7), "first at results entry 2", "1 image id(s) not in the ground truth: 7"),
    (_results(2, category_id=4), "first at results entry 3", "category id(s) the ground truth lacks: 4"),
    (_results(2, category_id=KeyError), "results entry 3", "missing 'category_id'"),
]


@pytest.mark.parametrize("case", BAD_RESULTS)
def test_bad_coco_results(tmp_path, case):
    results, record, *fragments = case
    if isinstance(results, str):
        write_json(tmp_path / "gt.json", GT)
        write(tmp_path / "results.json", results)
        spec = make_spec(tmp_path, "gt.json", "results.json", "coco", "coco")
    else:
        spec = coco_task(tmp_path, results=results)
    expect_error(lambda: read_detection(spec), tmp_path / "results.json", record, *fragments)


def test_coco_dataset_predictions_with_a_category_the_ground_truth_lacks(tmp_path):
    pred = {"categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "zebra"}],
            "annotations": [{"image_id": 0, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.8},
                            {"image_id": 0, "category_id": 2, "bbox": [0, 0, 6, 6], "score": 0.7}]}
    expect_error(lambda: read_detection(coco_task(tmp_path, results=pred)), tmp_path / "results.json",
                 "first at annotations entry 2", "1 label(s) the ground truth lacks: 'zebra'")


# ---------------------------------------------------------------------------------------------- JSONL

PRED_JSONL = jsonl(
    {"image": "b.jpg", "predictions": [{"label": "dog", "score": 0.93, "bbox": [1, 2, 3, 4]},
                                       {"label": "cat", "score": 0.5, "bbox": [5, 6, 7, 8]}]},
    {"image": "sub\\a.jpg", "predictions": []},  # a Windows path: the same image as sub/a.jpg
    {"image": "c.jpg", "predictions": []},
)


def jsonl_task(root: Path, text: str, labels: list[str] | None = None) -> TaskSpec:
    gt = copy.deepcopy(GT)
    gt["images"].append({"id": 4, "file_name": "c.jpg", "width": 10, "height": 10})
    write_json(root / "gt.json", gt)
    write(root / "pred.jsonl", text)
    return make_spec(root, "gt.json", "pred.jsonl", labels=labels)


def test_jsonl_predictions_match_by_file_name_and_label_name(tmp_path):
    data = read_detection(jsonl_task(tmp_path, PRED_JSONL))
    assert data.image_matching == "file name" and data.label_matching == "name"
    assert data.dt_image.tolist() == [1, 1]
    assert [data.labels[i] for i in data.dt_label] == ["dog", "cat"]
    np.testing.assert_array_equal(data.dt_box, [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(data.dt_score, [0.93, 0.5])


BAD_JSONL = [
    (jsonl({"image": "b.jpg", "predictions": [{"label": "cow", "score": 0.1, "bbox": [1, 1, 1, 1]},
                                              {"label": "emu", "score": 0.1, "bbox": [1, 1, 1, 1]}]}),
     "first at line 1, prediction 1", "2 label(s) the ground truth lacks: 'cow', 'emu'"),
    (jsonl({"image": "b.jpg", "predictions": []}, {"image": "nope.jpg", "predictions": []}),
     "first at line 2", "1 image(s) not in the ground truth: 'nope.jpg'"),
    (jsonl({"image": "b.jpg", "predictions": []}, {"image": "b.jpg", "predictions": []}),
     "line 2", "duplicate line for image 'b.jpg' (first at line 1)"),
    (jsonl({"image": "b.jpg"}), "line 1", "missing 'predictions'"),
    (jsonl({"image": "b.jpg", "predictions": [{"label": "cat", "score": 0.1, "bbox": [1, 1, 0, 1]}]}),
     "line 1, prediction 1", "zero or negative size"),
    (jsonl({"image": "b.jpg", "predictions": [{"label": "cat", "bbox": [1, 1, 1, 1]}]}),
     "line 1, prediction 1", "missing 'score'"),
    (jsonl({"image": "b.jpg", "predictions": [{"label": 3, "score": 0.1, "bbox": [1, 1, 1, 1]}]}),
     "line 1, prediction 1", "'label' must be a name"),
    ('{"image": "b.jpg", "predictions": [{"label": "cat", "score": NaN, "bbox": [1, 1, 1, 1]}]}\n',
     "line 1, prediction 1", "score must be a finite number"),
    ('{"image": "b.jpg", "predictions": [}\n', "line 1", "malformed JSON"),
]


@pytest.mark.parametrize("case", BAD_JSONL)
def test_bad_jsonl_predictions(tmp_path, case):
    text, record, *fragments = case
    spec = jsonl_task(tmp_path, text)
    expect_error(lambda: read_detection(spec), tmp_path / "pred.jsonl", record, *fragments)


def test_jsonl_labels_outside_the_declared_labels(tmp_path):
    text = jsonl({"image": "b.jpg", "predictions": [{"label": "cow", "score": 0.1, "bbox": [1, 1, 1, 1]}]})
    spec = jsonl_task(tmp_path, text, labels=["cat", "dog"])
    expect_error(lambda: read_detection(spec), tmp_path / "pred.jsonl", "first at line 1, prediction 1",
                 "label(s) not in the declared labels: 'cow'")


# ---------------------------------------------------------------------------------------------- VOC

def voc_xml(filename: str | None, objects: list[tuple], size: tuple[int, int] | None = (200, 100)) -> str:
    parts = ["<annotation>", "  <folder>VOC2007</folder>"]
    if filename is not None:
        parts.append(f"  <filename>{filename}</filename>")
    if size:
        parts.append(f"  <size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    for name, difficult, box in objects:
        diff = "" if difficult is None else f"<difficult>{difficult}</difficult>"
        coords = "".join(f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
        parts.append(f"  <object><name>{name}</name><pose>Left</pose>{diff}<bndbox>{coords}</bndbox></object>")
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def voc_task(root: Path, files: dict[str, str], pred: str | None = None, labels: list[str] | None = None) -> TaskSpec:
    for name, text in files.items():
        write(root / "Annotations" / name, text)
    write(root / "pred.jsonl", pred if pred is not None else jsonl(
        {"image": "x.jpg", "predictions": [{"label": "dog", "score": 0.8, "bbox": [1, 1, 10, 10]}]}))
    return make_spec(root, "Annotations", "pred.jsonl", "voc", "jsonl", labels=labels)


VOC_FILES = {
    "x.xml": voc_xml("x.jpg", [("dog", 0, (10, 20, 50, 60)), ("cat", 1, (0.5, 1, 100.5, 99))]),
    "a.xml": voc_xml("a.jpg", [("cat", None, (1, 2, 3, 4))], size=(30, 40)),
}


def test_voc_folder(tmp_path):
    data = read_detection(voc_task(tmp_path, VOC_FILES))
    assert data.images == ["a.jpg", "x.jpg"] and data.image_ids.tolist() == [0, 1]
    assert data.widths.tolist() == [30, 200] and data.heights.tolist() == [40, 100]
    assert data.labels == ["cat", "dog"] and data.label_ids.tolist() == [0, 1]
    assert data.gt_image.tolist() == [0, 1, 1] and data.gt_label.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(data.gt_box, [[1, 2, 2, 2], [10, 20, 40, 40], [0.5, 1, 100, 98]])  # no +1
    np.testing.assert_array_equal(data.gt_area, [4, 1600, 9800])
    assert data.gt_difficult.tolist() == [False, False, True]
    assert data.gt_crowd.tolist() == [False] * 3 and data.gt_id.tolist() == [1, 2, 3]
    assert data.dt_image.tolist() == [1] and data.dt_label.tolist() == [1]
    assert data.image_matching == "file name" and data.label_matching == "name"


def test_voc_single_file_and_declared_label_order(tmp_path):
    write(tmp_path / "one.xml", VOC_FILES["x.xml"])
    write(tmp_path / "pred.jsonl", jsonl({"image": "x.jpg", "predictions": []}))
    spec = make_spec(tmp_path, "one.xml", "pred.jsonl", labels=["person", "dog", "cat"])
    data = read_detection(spec)
    assert data.labels == ["person", "dog", "cat"] and data.gt_label.tolist() == [1, 2]
    assert data.images == ["x.jpg"]


def test_voc_image_in_the_annotation_subfolder(tmp_path):
    write_image(tmp_path / "images" / "val" / "x.jpg", (200, 100))
    data = read_detection(voc_task(tmp_path, {"val/x.xml": VOC_FILES["x.xml"]},
                                   pred=jsonl({"image": "val/x.jpg", "predictions": []})))
    assert data.images == ["val/x.jpg"]


BAD_VOC = [
    ("<annotation>\n  <filename>x.jpg</filename>\n  <object><name>cat</object>\n</annotation>\n",
     "line 3, column 22", "not well-formed XML: mismatched tag"),
    ('<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY e "x">]>\n<annotation/>\n', "line 2", "DOCTYPE"),
    ("<root/>", None, "expected an <annotation> root element"),
    (voc_xml(None, []), None, "missing <filename>"),
    (voc_xml("x.jpg", [("cat", 0, (1, 1, 5, 5)), ("dog", 0, (10, 20, 5, 60))]), "object 2",
     "zero or negative size", "width -5"),
    (voc_xml("x.jpg", [("cat", 0, (1, 1, 5, 5)), ("dog", 0, (10, 20, 10, 60))]), "object 2",
     "zero or negative size"),
    (voc_xml("x.jpg", [("cat", 0, (1, 1, 5, 5)), ("dog", 0, (10, "nan", 20, 60))]), "object 2",
     "NaN or infinite coordinate"),
    (voc_xml("x.jpg", [("cat", 2, (1, 1, 5, 5))]), "object 1", "<difficult> must be 0 or 1"),
    (voc_xml("x.jpg", [("cat", 0, (1, "one", 5, 5))]), "object 1", "<ymin> 'one' is not a number"),
    (voc_xml("x.jpg", [("", 0, (1, 1, 5, 5))]), "object 1", "missing <name>"),
    (voc_xml("x.jpg", [("cat", 0, (1, 1, 5, 5))]).replace("<bndbox>", "<box>").replace("</bndbox>", "</box>"),
     "object 1", "missing <bndbox>"),
]


@pytest.mark.parametrize("case", BAD_VOC)
def test_bad_voc(tmp_path, case):
    text, record, *fragments = case
    spec = voc_task(tmp_path, {"a.xml": VOC_FILES["a.xml"], "x.xml": text})
    expect_error(lambda: read_detection(spec), tmp_path / "Annotations" / "x.xml", record, *fragments)


def test_voc_errors_across_files(tmp_path):
    files = {"a.xml": VOC_FILES["a.xml"], "b.xml": voc_xml("a.jpg", [])}
    expect_error(lambda: read_detection(voc_task(tmp_path, files)), tmp_path / "Annotations" / "b.xml",
                 "<filename>", "image 'a.jpg' is also annotated by")
    files = {"a.xml": VOC_FILES["a.xml"], "x.xml": VOC_FILES["x.xml"]}
    expect_error(lambda: read_detection(voc_task(tmp_path / "declared", files, labels=["cat"])),
                 tmp_path / "declared" / "Annotations" / "x.xml", "first at object 1",
                 "label(s) not in the declared labels: 'dog'")
    expect_error(lambda: read_detection(voc_task(tmp_path / "lacks", files, pred=jsonl(
        {"image": "x.jpg", "predictions": [{"label": "horse", "score": 0.8, "bbox": [1, 1, 10, 10]}]}))),
        tmp_path / "lacks" / "pred.jsonl", "first at line 1, prediction 1", "label(s) the ground truth lacks: 'horse'")


def test_coco_results_cannot_match_voc_images(tmp_path):
    spec = voc_task(tmp_path, VOC_FILES)
    write_json(tmp_path / "results.json", [{"image_id": 0, "category_id": 0, "bbox": [1, 1, 2, 2], "score": 1}])
    spec.predictions = InputSpec("coco", tmp_path / "results.json")
    expect_error(lambda: read_detection(spec), tmp_path / "results.json", None,
                 "name images by id only", "VOC ground truth has no image ids")
    # with file names they can, and the category id is the VOC label index
    write_json(tmp_path / "results.json",
               [{"image_id": 0, "file_name": "x.jpg", "category_id": 0, "bbox": [1, 1, 2, 2], "score": 1}])
    data = read_detection(spec)
    assert data.image_matching == "file name" and data.label_matching == "id"
    assert data.dt_image.tolist() == [1] and data.dt_label.tolist() == [0]


# ---------------------------------------------------------------------------------------------- YOLO

def yolo_task(root: Path, labels: dict[str, str], classes: str | None = "cat\ndog\n",
              preds: dict[str, str] | None = None, images: dict[str, tuple] | None = None,
              pred_format: str | None = "yolo") -> TaskSpec:
    for name, size in (images if images is not None else
                       {"a.png": (200, 100), "b.png": (64, 32), "c.png": (8, 8)}).items():
        if isinstance(size, tuple) and len(size) == 3:
            write_image(root / "images" / name, size[:2], orientation=size[2])
        else:
            write_image(root / "images" / name, size)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for name, text in labels.items():
        write(root / "labels" / name, text)
    if classes is not None:
        write(root / "labels" / "classes.txt", classes)
    (root / "preds").mkdir(parents=True, exist_ok=True)
    for name, text in (preds or {}).items():
        write(root / "preds" / name, text)
    return make_spec(root, "labels", "preds", "yolo", pred_format)


YOLO_LABELS = {"a.txt": "0 0.5 0.5 0.25 0.5\n1 0.25 0.75 0.5 0.5\n", "b.txt": "\n1 0.5 0.5 1 1\n"}


def test_yolo_ground_truth_and_predictions(tmp_path):
    preds = {"a.txt": "1 0.5 0.5 0.25 0.25 0.9\n0 0.5 0.5 0.5 0.5 0.25\n", "b.txt": ""}
    data = read_detection(yolo_task(tmp_path, YOLO_LABELS, preds=preds))
    assert data.images == ["a.png", "b.png", "c.png"] and data.image_ids.tolist() == [0, 1, 2]
    assert data.widths.tolist() == [200, 64, 8] and data.heights.tolist() == [100, 32, 8]
    assert data.labels == ["cat", "dog"] and data.label_ids.tolist() == [0, 1]
    assert data.gt_image.tolist() == [0, 0, 1] and data.gt_label.tolist() == [0, 1, 1]
    np.testing.assert_array_equal(data.gt_box, [[75, 25, 50, 50], [0, 50, 100, 50], [0, 0, 64, 32]])
    np.testing.assert_array_equal(data.gt_area, [2500, 5000, 2048])
    assert data.gt_id.tolist() == [1, 2, 3]
    assert data.dt_image.tolist() == [0, 0] and data.dt_label.tolist() == [1, 0]
    np.testing.assert_array_equal(data.dt_box, [[75, 37.5, 50, 25], [50, 25, 100, 50]])
    np.testing.assert_array_equal(data.dt_score, [0.9, 0.25])
    assert data.image_matching == "file name" and data.label_matching == "id"
    # c.png has no label file: an image without objects, said so
    assert codes(data) == ["yolo_images_without_labels"] and "c.png" in data.notices[0].detail


def test_yolo_sizes_follow_the_exif_orientation(tmp_path):
    spec = yolo_task(tmp_path, {"r.txt": "0 0.5 0.5 0.5 0.5\n"}, images={"r.jpg": (40, 20, 6)})
    data = read_detection(spec)
    assert data.widths.tolist() == [20] and data.heights.tolist() == [40]
    np.testing.assert_array_equal(data.gt_box, [[5, 10, 10, 20]])


def test_yolo_predictions_with_their_own_class_names(tmp_path):
    preds = {"a.txt": "0 0.5 0.5 0.25 0.25 0.9\n", "classes.txt": "dog\ncat\n"}
    data = read_detection(yolo_task(tmp_path, YOLO_LABELS, preds=preds))
    assert data.label_matching == "name" and [data.labels[i] for i in data.dt_label] == ["dog"]


def test_yolo_predictions_against_coco_ground_truth_by_stem(tmp_path):
    coco_task(tmp_path)
    write(tmp_path / "preds" / "b.txt", "0 0.5 0.5 0.5 0.5 0.75\n")  # b.jpg is 100x80; class 0 is COCO id 0
    write(tmp_path / "preds" / "sub" / "a.txt", "3 0.5 0.5 0.5 0.5 0.5\n")
    spec = make_spec(tmp_path, "gt.json", "preds", "coco", "yolo")
    data = read_detection(spec)
    assert data.image_matching == "file name" and data.label_matching == "id"
    assert data.dt_image.tolist() == [0, 1] and data.dt_label.tolist() == [1, 0]
    np.testing.assert_array_equal(data.dt_box, [[12.5, 10, 25, 20], [25, 20, 50, 40]])


def test_yolo_label_folder_beside_a_nested_images_root(tmp_path):
    """labels/val/x.txt with images/val/x.png: the label file is found by its bare stem."""
    write_image(tmp_path / "images" / "val" / "x.png", (10, 10))
    write_image(tmp_path / "images" / "train" / "y.png", (10, 10))
    write(tmp_path / "labels" / "val" / "x.txt", "0 0.5 0.5 0.5 0.5\n")
    write(tmp_path / "labels" / "classes.txt", "cat\n")  # in the parent of the label folder
    (tmp_path / "preds").mkdir()
    spec = make_spec(tmp_path, "labels/val", "preds", "yolo", "yolo")
    data = read_detection(spec)
    assert data.images == ["val/x.png"] and codes(data) == ["no_predictions"]


BAD_YOLO_GT = [
    ("a.txt", "0 0.5 0.5 0.25\n", "line 1", "expected 5 values (class cx cy w h), found 4"),
    ("a.txt", "0 0.5 0.5 0.25 0.5\n1 0.5 0.5 0.25 0.5 0.9\n", "line 2", "expected 5 values", "found 6"),
    ("a.txt", "0 0.5 1.5 0.25 0.5\n", "line 1", "must be normalised to [0, 1]", "[0.5, 1.5, 0.25, 0.5]"),
    ("a.txt", "0 0.5 0.5 -0.25 0.5\n", "line 1", "must be normalised to [0, 1]"),
    ("a.txt", "0 0.5 0.5 0 0.5\n", "line 1", "zero or negative size"),
    ("a.txt", "0 0.5 nan 0.25 0.5\n", "line 1", "must be finite numbers"),
    ("a.txt", "2 0.5 0.5 0.25 0.5\n", "line 1", "class 2 is out of range", "0..1"),
    ("a.txt", "0.5 0.5 0.5 0.25 0.5\n", "line 1", "not a class index"),
    ("a.txt", "0 0.5 x 0.25 0.5\n", "line 1", "'x' is not a number"),
]


@pytest.mark.parametrize("case", BAD_YOLO_GT)
def test_bad_yolo_ground_truth(tmp_path, case):
    name, text, record, *fragments = case
    spec = yolo_task(tmp_path, {**YOLO_LABELS, name: text})
    expect_error(lambda: read_detection(spec), tmp_path / "labels" / name, record, *fragments)


def test_yolo_ground_truth_needs_images_and_classes(tmp_path):
    spec = yolo_task(tmp_path / "noimage", {**YOLO_LABELS, "zz.txt": "0 0.5 0.5 0.5 0.5\n"})
    expect_error(lambda: read_detection(spec), tmp_path / "noimage" / "labels" / "zz.txt", None,
                 "no image for this label file")
    spec = yolo_task(tmp_path / "broken", YOLO_LABELS)
    write(tmp_path / "broken" / "images" / "a.png", "not an image")
    expect_error(lambda: read_detection(spec), tmp_path / "broken" / "labels" / "a.txt", None,
                 "cannot read the size of image 'a.png'")
    spec = yolo_task(tmp_path / "noclasses", YOLO_LABELS, classes=None)
    expect_error(lambda: read_detection(spec), tmp_path / "noclasses" / "labels", None, "classes.txt")
    spec.labels = ["cat", "dog"]  # declared labels stand in for classes.txt
    assert read_detection(spec).labels == ["cat", "dog"]
    spec = yolo_task(tmp_path / "differ", YOLO_LABELS)
    spec.labels = ["dog", "cat"]
    expect_error(lambda: read_detection(spec), tmp_path / "differ" / "task.yaml", None,
                 "the declared labels differ from")


BAD_YOLO_PRED = [
    ("a.txt", "0 0.5 0.5 0.25 0.5\n", "line 1", "expected 6 values (class cx cy w h confidence), found 5"),
    ("a.txt", "0 0.5 0.5 0.25 0.5 inf\n", "line 1", "must be finite numbers"),
    ("a.txt", "0 0.5 0.5 0.25 1.01 0.3\n", "line 1", "must be normalised to [0, 1]"),
    ("a.txt", "7 0.5 0.5 0.25 0.5 0.3\n", "first at line 1", "1 category id(s) the ground truth lacks: 7"),
]


@pytest.mark.parametrize("case", BAD_YOLO_PRED)
def test_bad_yolo_predictions(tmp_path, case):
    name, text, record, *fragments = case
    spec = yolo_task(tmp_path, YOLO_LABELS, preds={name: text})
    expect_error(lambda: read_detection(spec), tmp_path / "preds" / name, record, *fragments)


def test_yolo_predictions_for_unknown_images(tmp_path):
    spec = yolo_task(tmp_path, YOLO_LABELS, preds={"a.txt": "", "q.txt": "", "r.txt": ""})
    expect_error(lambda: read_detection(spec), tmp_path / "preds", "first at q.txt",
                 "2 file(s) for image(s) not in the ground truth: 'q.txt', 'r.txt'")


def test_unknown_formats(tmp_path):
    spec = coco_task(tmp_path)
    spec.ground_truth.format = "pascal"
    expect_error(lambda: read_detection(spec), tmp_path / "gt.json", None, "unknown ground truth format 'pascal'",
                 "coco, voc, yolo")
    spec = coco_task(tmp_path)
    spec.predictions = InputSpec(None, write(tmp_path / "pred.csv", "x"))
    expect_error(lambda: read_detection(spec), tmp_path / "pred.csv", None, "cannot tell the predictions format")


# ---------------------------------------------------------------------------------------------- bulk

def test_bulk_coco_equals_a_plain_reading(tmp_path):
    """Thousands of records with float32-derived values: the column arrays equal a record-by-record reading."""
    rng = np.random.default_rng(7)
    ids = rng.permutation(np.arange(0, 900, 3))  # not sorted in the file, the first id is 0
    cat_ids = [90, 0, 1, 5]
    gt = {"images": [{"id": int(i), "file_name": f"{i:06d}.jpg", "width": 640, "height": 480} for i in ids],
          "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids], "annotations": []}

    def boxes(n):
        xy = rng.uniform(0, 300, (n, 2)).astype(np.float32)
        wh = rng.uniform(1, 300, (n, 2)).astype(np.float32)
        return np.hstack([xy, wh]).astype(np.float64).tolist()

    def choose(values, n):
        return rng.choice(values, n).tolist()

    gt["annotations"] = [{"id": k, "image_id": i, "category_id": c, "bbox": box, "area": box[2] * box[3] * 0.7,
                          "iscrowd": crowd}
                         for k, (i, c, box, crowd) in enumerate(zip(choose(ids, 2000), choose(cat_ids, 2000),
                                                                    boxes(2000), choose([0] * 19 + [1], 2000)))]
    scores = rng.random(20000).astype(np.float32).astype(np.float64).tolist()
    results = [{"image_id": i, "category_id": c, "bbox": box, "score": s}
               for i, c, box, s in zip(choose(ids, 20000), choose(cat_ids, 20000), boxes(20000), scores)]
    data = read_detection(coco_task(tmp_path, gt, results), clip=False)
    sorted_ids = sorted(ids.tolist())
    assert data.image_ids.tolist() == sorted_ids and data.label_ids.tolist() == [0, 1, 5, 90]
    position = {image_id: k for k, image_id in enumerate(sorted_ids)}
    anns = sorted(gt["annotations"], key=lambda a: position[a["image_id"]])  # stable: file order per image
    assert data.gt_id.tolist() == [a["id"] for a in anns]
    assert data.gt_image.tolist() == [position[a["image_id"]] for a in anns]
    assert data.gt_label.tolist() == [[0, 1, 5, 90].index(a["category_id"]) for a in anns]
    np.testing.assert_array_equal(data.gt_box, [a["bbox"] for a in anns])
    np.testing.assert_array_equal(data.gt_area, [a["area"] for a in anns])
    assert data.gt_crowd.tolist() == [bool(a["iscrowd"]) for a in anns]
    dets = sorted(results, key=lambda r: position[r["image_id"]])
    assert data.dt_image.tolist() == [position[r["image_id"]] for r in dets]
    assert data.dt_label.tolist() == [[0, 1, 5, 90].index(r["category_id"]) for r in dets]
    np.testing.assert_array_equal(data.dt_box, [r["bbox"] for r in dets])
    np.testing.assert_array_equal(data.dt_score, [r["score"] for r in dets])


def test_the_garbage_collector_is_back_on_after_an_error(tmp_path):
    assert gc.isenabled()
    spec = coco_task(tmp_path, results=_results(1, score=float("nan")))
    with pytest.raises(InputError):
        read_detection(spec)
    write(tmp_path / "results.json", "[{")
    with pytest.raises(InputError):
        read_detection(spec)
    assert gc.isenabled()


def test_results_giving_one_image_id_two_file_names(tmp_path):
    results = [{"image_id": 100, "file_name": "b.jpg", "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.3},
               {"image_id": 100, "file_name": "sub/a.jpg", "category_id": 0, "bbox": [1, 1, 2, 2], "score": 0.4}]
    expect_error(lambda: read_detection(coco_task(tmp_path, results=results)), tmp_path / "results.json",
                 "results entry 2", "image id 100 has the file name 'sub/a.jpg' here and 'b.jpg' before")


@pytest.mark.parametrize("image", [[], [3], [0, 0, 1, 2, 2], [0, 2, 1, 2, 0], [5, 4, 3], [1, 1, 0, 1]])
def test_rows_by_image_are_a_stable_sort_copied_only_when_out_of_order(image) -> None:
    """The readers group rows by image, file order kept inside an image: rows already in that order (as
    inference writes them) are taken as they are, without a copy; others by a stable sort."""
    from evalsite.formats.detection import _by_image

    image = np.array(image, dtype=np.int64)
    order = _by_image(image)
    assert np.arange(len(image))[order].tolist() == np.argsort(image, kind="stable").tolist()
    in_order = bool(np.all(np.diff(image) >= 0))
    assert isinstance(order, slice) is in_order
    if in_order:
        assert np.shares_memory(image[order], image) or not len(image)


def test_shards_joined_are_their_concatenation_each_let_go_once_copied() -> None:
    """Prediction shards are joined column by column into what np.concatenate gives (dtype and values), each
    shard's column let go once copied, so that the shards and their join are never both whole."""
    from evalsite.formats.parsed import ParsedPredictions
    from evalsite.formats.shards import join

    rng = np.random.default_rng(3)
    sizes = [3, 0, 5, 1]
    boxes = [rng.random((n, 4)) * 100 for n in sizes]
    scores = [rng.random(n).astype(np.float32 if k == 2 else np.float64) for k, n in enumerate(sizes)]
    ids = [rng.integers(0, 9, n).astype(np.int32 if k == 0 else np.int64) for k, n in enumerate(sizes)]
    parts = [ParsedPredictions(file=Path(f"part-{k}.json"), fmt="coco", box=box.copy(), score=score.copy(),
                               locate=lambda i: ("x", None), image_id=image_id.copy(), category_id=image_id.copy())
             for k, (box, score, image_id) in enumerate(zip(boxes, scores, ids))]
    joined = join(Path("preds"), parts)
    for name, given in (("box", boxes), ("score", scores), ("image_id", ids), ("category_id", ids)):
        expected = np.concatenate(given)
        assert getattr(joined, name).dtype == expected.dtype, name
        assert np.array_equal(getattr(joined, name), expected), name
        assert all(getattr(part, name) is None for part in parts), name


@pytest.mark.parametrize("on_disk", [False, True])
@pytest.mark.parametrize("block", [1, 2, 7, 1 << 18])
def test_box_checks_and_clipping_by_blocks_are_those_of_all_rows(block, on_disk, monkeypatch) -> None:
    """The boxes are checked and clipped a block of rows at a time (bounded temporaries): the same rows
    clipped, dropped and named as when every row is taken at once (the formulas written out here); boxes
    kept on disk (with a cluster) too, clipped into a copy on disk."""
    import evalsite.core.on_disk as disk
    import evalsite.formats.columns as columns

    monkeypatch.setattr(disk, "READ_BYTES", 7 * 32)
    put = disk.DiskArray if on_disk else np.asarray

    monkeypatch.setattr(columns, "CHECK_ROWS", block)
    rng = np.random.default_rng(block)
    n = 23
    image = rng.integers(0, 3, n)
    widths, heights = np.array([40, 0, 30]), np.array([20, 10, 50])
    box = np.column_stack([rng.uniform(-20, 45, n), rng.uniform(-20, 45, n), rng.uniform(1, 30, (n, 2))])
    locate = lambda i: ("f.json", f"entry {i + 1}")  # noqa: E731
    clipped, keep, notices = columns.clip_boxes(put(box), image, widths, heights, locate, ["a", "b", "c"],
                                                Path("f.json"), True, "predicted")
    w, h = widths[image].astype(float), heights[image].astype(float)
    outside = (w > 0) & (h > 0) & ((box[:, 0] < -1e-3) | (box[:, 1] < -1e-3) | (box[:, 0] + box[:, 2] > w + 1e-3)
                                   | (box[:, 1] + box[:, 3] > h + 1e-3))
    x1, y1 = np.clip(box[:, 0], 0, w), np.clip(box[:, 1], 0, h)
    cw, ch = np.clip(box[:, 0] + box[:, 2], 0, w) - x1, np.clip(box[:, 1] + box[:, 3], 0, h) - y1
    expected = np.where(outside[:, None], np.column_stack([x1, y1, cw, ch]), box)
    assert outside.any() and np.array_equal(np.asarray(clipped), expected)
    assert isinstance(clipped, disk.DiskArray) == on_disk
    gone = outside & ((cw <= 0) | (ch <= 0))
    assert (keep is None and not gone.any()) or np.array_equal(keep, ~gone)
    assert f"{int((outside & ~gone).sum())} predicted box(es) partly outside" in notices[0].detail
    bad = box.copy()
    bad[[5, 9, 17], 2] = [np.nan, np.inf, 3]
    bad[17, 3] = -1
    with pytest.raises(InputError, match=r"NaN or infinite coordinate \(and 1 more like this\)") as caught:
        columns.check_finite_boxes(put(bad), lambda i: ("f.json", f"entry {i + 1}"))
    assert "entry 6" in str(caught.value)
    bad[[5, 9], 2] = [1e9, 4]
    with pytest.raises(InputError, match="beyond") as caught:
        columns.check_finite_boxes(put(bad), lambda i: ("f.json", f"entry {i + 1}"))
    assert "entry 6" in str(caught.value)
    bad[5, 2] = 4
    with pytest.raises(InputError, match="zero or negative size") as caught:
        columns.check_finite_boxes(put(bad), lambda i: ("f.json", f"entry {i + 1}"))
    assert "entry 18" in str(caught.value)


@pytest.mark.parametrize("check_rows", [1, 3, 1 << 18])
def test_lookup_finds_each_value_as_a_dict_does(monkeypatch, check_rows: int) -> None:
    """`lookup` (a block of values at a time) gives each value's index in the sorted keys, -1 where absent,
    as a dict from key to index does; for values kept on disk (a cluster's joined shards) too."""
    from evalsite.core import on_disk
    from evalsite.formats import columns
    from evalsite.formats.columns import lookup

    monkeypatch.setattr(columns, "CHECK_ROWS", check_rows)
    monkeypatch.setattr(on_disk, "READ_BYTES", 40)
    rng = np.random.default_rng(2)
    for n_keys, n_values in ((0, 5), (1, 4), (30, 0), (30, 200), (500, 1_000)):
        keys = np.unique(rng.integers(-10**12, 10**12, n_keys))
        values = np.concatenate([rng.choice(keys, n_values // 2) if len(keys) else np.zeros(0, np.int64),
                                 rng.integers(-10**12, 10**12, n_values - n_values // 2)])
        rng.shuffle(values)
        index = {int(k): i for i, k in enumerate(keys)}
        expected = [index.get(int(v), -1) for v in values]
        for given in (values, on_disk.on_disk(values)):
            found = lookup(keys, given)
            assert found.dtype == np.int64 and found.tolist() == expected


@pytest.mark.parametrize("part_rows", [1, 3, 50, 1 << 21])
def test_first_duplicate_of_ids_on_disk_is_that_of_all_ids(monkeypatch, part_rows: int) -> None:
    """A cluster's ground-truth ids kept on disk are checked for repeats a range of values at a time: the same
    earliest repeat (first index, index of its first repeat in file order) as the ids sorted whole, written
    out here as a scan with a dict."""
    from evalsite.core import on_disk
    from evalsite.formats import columns
    from evalsite.formats.columns import first_duplicate

    monkeypatch.setattr(columns, "DUPLICATE_ROWS", part_rows)
    monkeypatch.setattr(on_disk, "READ_BYTES", 56)

    def scanned(values: np.ndarray) -> tuple[int, int] | None:
        seen: dict[int, int] = {}
        for j, v in enumerate(values.tolist()):
            if v in seen:
                return seen[v], j
            seen[v] = j
        return None

    rng = np.random.default_rng(7)
    cases = [np.arange(40), np.full(30, 9), rng.permutation(200), rng.integers(-10**15, 10**15, 300),
             np.concatenate([rng.permutation(100), [3]]), rng.integers(0, 60, 120), np.array([5, 1, 5])]
    for values in cases:
        expected = scanned(values)
        assert first_duplicate(values) == expected
        assert first_duplicate(on_disk.DiskArray(values)) == expected


@pytest.mark.parametrize("hashed", ["hash", "length"])
def test_first_repeated_name_is_that_of_a_dict_scan(monkeypatch, hashed: str) -> None:
    """The ground truth's file names are checked for repeats by their hashes, the names of one hash compared as
    strings: the earliest repeat of a scan with a dict, also when many names share a hash (here their length)."""
    from evalsite.formats import columns
    from evalsite.formats.columns import first_repeated_name

    if hashed == "length":
        monkeypatch.setattr(columns, "hash", len, raising=False)

    def scanned(names: list[str]) -> tuple[int, int] | None:
        seen: dict[str, int] = {}
        for j, name in enumerate(names):
            if name in seen:
                return seen[name], j
            seen[name] = j
        return None

    rng = np.random.default_rng(8)
    cases = [[], ["a"], ["a", "a"], [f"{k}.jpg" for k in range(50)], ["x.jpg"] * 5,
             [f"{int(k)}.jpg" for k in rng.integers(0, 40, 60)], [f"{k:03d}" for k in rng.permutation(300)] + ["150"],
             ["ab", "ba", "ab", "ba"], ["ba", "ab", "cd", "ab", "ba"]]
    for names in cases:
        assert first_repeated_name(names) == scanned(names), names


def test_columns_kept_on_disk_are_taken_in_image_order_as_in_memory() -> None:
    """With a cluster the joined prediction shards' boxes and scores stay on disk: grouped by image, they are
    the columns in memory grouped so (kept as they are when in order already)."""
    from evalsite.core.on_disk import DiskArray
    from evalsite.formats.detection import _by_image, _taken_rows

    box = np.arange(24.0).reshape(6, 4)
    for column in (box, box[:, 1].copy()):
        for image in ([0, 0, 1, 2, 2, 3], [2, 0, 1, 0, 2, 1]):
            order = _by_image(np.array(image))
            held = _taken_rows(DiskArray(column), order)
            assert isinstance(held, DiskArray) and np.array_equal(np.asarray(held), _taken_rows(column, order))
            assert np.array_equal(np.asarray(held), column[np.argsort(image, kind="stable")])


def test_shards_columns_written_to_disk_whatever_order_they_come_in() -> None:
    """With a cluster the shards' boxes go to disk as the shards come in, in shard order whatever order their
    tasks end in: the boxes of their concatenation, each shard's let go once written; their scores and ids go
    to disk too, and join (`join`) into the columns of their concatenation, with its dtypes, on disk."""
    from evalsite.core.on_disk import ColumnsInOrder, DiskArray
    from evalsite.core.values_on_disk import ValuesOnDisk, ValuesOnDiskWriter
    from evalsite.formats.parsed import ParsedPredictions
    from evalsite.formats.shards import _BOXES, _kept_on_disk, join

    rng = np.random.default_rng(5)
    sizes = (2, 0, 3, 1, 4)
    boxes = [rng.random((n, 4)) for n in sizes]
    scores = [rng.random(n) for n in sizes]
    ids = [rng.integers(0, 10**12, n) for n in sizes]

    def parts() -> list[ParsedPredictions]:
        return [ParsedPredictions(file=Path(f"p{k}.json"), fmt="coco", box=box.copy(), score=score.copy(),
                                  image_id=image_id.copy(), category_id=image_id % 7, locate=lambda i: ("x", None),
                                  segm=[[[float(k), float(j), 3.0, 4.0, 5.0, 6.0]] for j in range(len(box))])
                for k, (box, score, image_id) in enumerate(zip(boxes, scores, ids))]

    shards, written, masks = parts(), ColumnsInOrder(_BOXES), ValuesOnDiskWriter()
    for k in (3, 1, 4, 0, 2):
        assert _kept_on_disk(written, masks, k, shards[k]) is shards[k]
        assert all(part.box is None for part in shards[:written.next]) and written.next <= 5
        assert isinstance(shards[k].score, DiskArray) or not len(shards[k].score)
        assert shards[k].segm is None  # (its masks as read pickled on disk)
    joined = written.finish(len(shards))["box"]
    assert np.array_equal(np.asarray(joined), np.concatenate(boxes)) and all(p.box is None for p in shards)
    on_disk, in_memory = join(Path("p"), shards, joined, masks.finish(len(shards))), join(Path("p"), parts())
    assert isinstance(on_disk.segm, ValuesOnDisk) and list(on_disk.segm) == in_memory.segm
    assert on_disk.segm.starts().tolist() == np.cumsum([0, *sizes]).tolist()
    for name in ("box", "score", "image_id", "category_id"):
        column = getattr(on_disk, name)
        assert isinstance(column, DiskArray) and column.dtype == getattr(in_memory, name).dtype
        assert np.array_equal(np.asarray(column), getattr(in_memory, name))
    assert all(part.score is None and part.image_id is None for part in shards)
    with pytest.raises(RuntimeError, match="not written"):
        ColumnsInOrder(_BOXES).finish(1)


def test_parallel_keeps_what_is_taken_of_each_value() -> None:
    """`parallel(..., taken=)` keeps taken(k, value) of item k's value, in item order."""
    from evalsite.core.parallel import parallel

    seen = []
    values = parallel(lambda x: x * 10, range(50), taken=lambda k, v: seen.append(k) or (k, v))
    assert values == [(k, 10 * k) for k in range(50)] and sorted(seen) == list(range(50))
