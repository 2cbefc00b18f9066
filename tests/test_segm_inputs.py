"""Segmentation inputs: masks of COCO ground truth and COCO-results / JSONL predictions, decoded to RLE counts
equal to pycocotools' (the reference, used in tests only), and one-line errors for every bad mask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as maskUtils
from pycocotools.coco import COCO

from evalsite.core.errors import InputError
from evalsite.core.masks import MaskSet, rle_encode, rle_to_string
from evalsite.manifest import InputSpec, TaskSpec

from spec_readers import read_detection

H, W = 20, 30  # image 1
H2, W2 = 16, 12  # image 2
SQUARE = [[2, 3, 12, 3, 12, 10, 2, 10]]
BOWTIE = [[1, 1, 10, 8, 10, 1, 1, 8]]  # self-intersecting


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def spec(root: Path, gt: str = "gt.json", pred: str = "pred.json", pred_format: str | None = None,
         task_type: str = "segmentation") -> TaskSpec:
    (root / "images").mkdir(parents=True, exist_ok=True)
    return TaskSpec(name="task", type=task_type, images=root / "images", ground_truth=InputSpec(None, root / gt),
                    predictions=InputSpec(pred_format, root / pred), source=root / "task.yaml")


def disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)


def compressed(mask: np.ndarray) -> dict:
    rle = maskUtils.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def uncompressed(mask: np.ndarray) -> dict:
    return {"size": list(mask.shape), "counts": rle_encode(mask).tolist()}


def ground_truth(anns: list[dict]) -> dict:
    full = []
    for k, a in enumerate(anns, start=1):
        full.append({"id": k, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0, **a})
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": W, "height": H},
                       {"id": 2, "file_name": "b.jpg", "width": W2, "height": H2}],
            "annotations": full, "categories": [{"id": 1, "name": "cat"}]}


GT_ANNS = [
    {"segmentation": SQUARE},
    {"segmentation": BOWTIE + [[20, 12, 28, 12, 24, 18]]},
    {"segmentation": uncompressed(disc(H, W, 10, 15, 6)), "iscrowd": 1},
    {"segmentation": compressed(disc(H2, W2, 8, 5, 4)), "image_id": 2},
    {"segmentation": [[3.3, 2.7, 10.9, 4.1, 7.2, 11.8, 2.05, 9.5]], "image_id": 2},
]


def dets() -> list[dict]:
    return [
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.9,
         "segmentation": compressed(disc(H, W, 9, 14, 5))},
        {"image_id": 2, "category_id": 1, "score": 0.8, "segmentation": compressed(disc(H2, W2, 3, 3, 2))},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.7, "segmentation": SQUARE},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.6,
         "segmentation": uncompressed(disc(H2, W2, 10, 6, 3))},
    ]


def decoded(counts: np.ndarray, h: int, w: int) -> np.ndarray:
    return maskUtils.decode({"size": [h, w], "counts": rle_to_string(counts).encode("ascii")})


def reference_rle(segm: object, h: int, w: int) -> dict:
    """pycocotools' RLE of a segmentation value, as COCO.annToRLE."""
    if isinstance(segm, list):
        return maskUtils.merge(maskUtils.frPyObjects(segm, h, w))
    if isinstance(segm["counts"], list):
        return maskUtils.frPyObjects(segm, h, w)
    return {"size": segm["size"], "counts": segm["counts"].encode("ascii")}


# --------------------------------------------------------------------------------------------- formats

def test_coco_masks_equal_pycocotools(tmp_path):
    gt_path = write(tmp_path / "gt.json", ground_truth(GT_ANNS))
    write(tmp_path / "pred.json", dets())
    data = read_detection(spec(tmp_path))
    assert isinstance(data.gt_masks, MaskSet) and isinstance(data.dt_masks, MaskSet)
    for masks, image in ((data.gt_masks, data.gt_image), (data.dt_masks, data.dt_image)):
        assert masks.h.tolist() == data.heights[image].tolist() and masks.w.tolist() == data.widths[image].tolist()
    coco = COCO(str(gt_path))
    # ground truth: image 1 first (annotations 1-3), then image 2 (4, 5); equal to annToRLE
    assert data.gt_id.tolist() == [1, 2, 3, 4, 5]
    for counts, ann_id, image in zip(data.gt_masks, data.gt_id.tolist(), data.gt_image.tolist()):
        h, w = int(data.heights[image]), int(data.widths[image])
        assert np.issubdtype(counts.dtype, np.integer) and counts.sum() == h * w
        assert np.array_equal(decoded(counts, h, w), coco.annToMask(coco.anns[ann_id]))
        reference = coco.annToRLE(coco.anns[ann_id])
        if isinstance(reference["counts"], list):
            assert counts.tolist() == reference["counts"]
        else:
            expected = reference["counts"]
            assert rle_to_string(counts) == (expected if isinstance(expected, str) else expected.decode("ascii"))
    # predictions (by image, file order kept): 1, 3 in image 1; 2, 4 in image 2; as frPyObjects (+ merge)
    order = [1, 3, 2, 4]
    rles = [reference_rle(d["segmentation"], H if d["image_id"] == 1 else H2, W if d["image_id"] == 1 else W2)
            for d in dets()]
    for counts, det_id, image in zip(data.dt_masks, order, data.dt_image.tolist()):
        h, w = int(data.heights[image]), int(data.widths[image])
        assert rle_to_string(counts) == rles[det_id - 1]["counts"].decode("ascii")
        assert np.array_equal(decoded(counts, h, w), maskUtils.decode(rles[det_id - 1]))
    # a missing bbox is the mask's box (toBbox); given ones are kept
    assert data.dt_box[2].tolist() == maskUtils.toBbox(rles[1]).tolist()
    assert data.dt_box[0].tolist() == [1, 1, 5, 5]


@pytest.mark.parametrize("first_has_box", [False, True])
def test_prediction_areas_as_load_res(tmp_path, first_has_box):
    gt_path = write(tmp_path / "gt.json", ground_truth(GT_ANNS))
    d = [x for x in dets() if isinstance(x["segmentation"], dict) and isinstance(x["segmentation"]["counts"], str)]
    if first_has_box:
        d[1]["bbox"] = [0, 0, 3, 3]
    else:
        d.reverse()
    pred_path = write(tmp_path / "pred.json", d)
    data = read_detection(spec(tmp_path))
    res = COCO(str(gt_path)).loadRes(str(pred_path))
    by_image = sorted(res.anns.values(), key=lambda a: a["image_id"])  # stable: file order inside an image
    assert data.dt_area.tolist() == [float(a["area"]) for a in by_image]
    assert (data.dt_mask_area is None) == first_has_box
    for counts, ann in zip(data.dt_masks, by_image):
        assert rle_to_string(counts) == ann["segmentation"]["counts"]


def test_ground_truth_area_missing_is_mask_area(tmp_path):
    anns = [{"segmentation": SQUARE}]
    gt = ground_truth(anns)
    del gt["annotations"][0]["area"]
    write(tmp_path / "gt.json", gt)
    write(tmp_path / "pred.json", dets()[:1])
    data = read_detection(spec(tmp_path))
    assert data.gt_area.tolist() == [float(maskUtils.area(maskUtils.merge(maskUtils.frPyObjects(SQUARE, H, W))))]


def test_jsonl_predictions(tmp_path):
    write(tmp_path / "gt.json", ground_truth(GT_ANNS))
    d = dets()
    jsonl(tmp_path / "pred.jsonl",
          {"image": "a.jpg", "predictions": [{"label": "cat", "score": 0.9, "bbox": [1, 1, 2, 2],
                                              "segmentation": d[0]["segmentation"]},
                                             {"label": "cat", "score": 0.5, "segmentation": BOWTIE}]},
          {"image": "b.jpg", "predictions": [{"label": "cat", "score": 0.8, "segmentation": d[3]["segmentation"]}]})
    data = read_detection(spec(tmp_path, pred="pred.jsonl"))
    assert len(data.dt_masks) == 3
    bowtie = maskUtils.merge(maskUtils.frPyObjects(BOWTIE, H, W))
    assert rle_to_string(data.dt_masks[1]) == bowtie["counts"].decode("ascii")
    assert data.dt_box[1].tolist() == maskUtils.toBbox(bowtie).tolist()
    assert np.array_equal(decoded(data.dt_masks[2], H2, W2), disc(H2, W2, 10, 6, 3))


def test_detection_task_ignores_masks(tmp_path):
    write(tmp_path / "gt.json", ground_truth([{"segmentation": SQUARE}, {}]))
    write(tmp_path / "pred.json", [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.9}])
    data = read_detection(spec(tmp_path, task_type="detection"))
    assert data.gt_masks is None and data.dt_masks is None and data.dt_mask_area is None
    assert data.dt_area.tolist() == [25.0]


def test_empty_mask_inside_the_image_is_kept_with_notice(tmp_path):
    sliver = [[5, 5, 10, 5, 7.5, 5]]  # inside the image, but covers no pixel (pycocotools: area 0)
    write(tmp_path / "gt.json", ground_truth([{"segmentation": sliver}, {"segmentation": SQUARE}]))
    write(tmp_path / "pred.json", [{**dets()[1], "image_id": 1, "segmentation": sliver}])
    data = read_detection(spec(tmp_path))
    reference = maskUtils.merge(maskUtils.frPyObjects(sliver, H, W))
    assert maskUtils.area(reference) == 0
    assert rle_to_string(data.gt_masks[0]) == reference["counts"].decode("ascii")
    assert data.dt_mask_area.tolist() == [0.0]
    notices = [n for n in data.notices if n.code == "mask_empty"]
    assert len(notices) == 2
    assert "1 ground-truth mask(s)" in notices[0].detail and "annotation id 1" in notices[0].detail
    assert "1 predicted mask(s)" in notices[1].detail and "results entry 1" in notices[1].detail


@pytest.mark.parametrize("outside", [[[40, 30, 50, 30, 50, 40]], [[-9, 2, -1, 2, -5, 8]], [[2, 25, 9, 25, 5, 29]],
                                     [[1, 1, 2, 1, 2, 2], [35, 1, 36, 1, 36, 2]]])
def test_polygon_entirely_outside_the_image_is_an_error(tmp_path, outside):
    """Image 1 is 30 wide and 20 high: the first three polygons lie wholly to the right, left or below it
    (an error, for ground truth and predictions); the last has a part inside, so it is not an error."""
    write(tmp_path / "gt.json", ground_truth([{"segmentation": SQUARE}, {"segmentation": outside}]))
    write(tmp_path / "pred.json", [{**dets()[1], "image_id": 1, "segmentation": SQUARE}])
    if outside[0][0] == 1:  # partly inside: not "entirely outside"
        assert read_detection(spec(tmp_path)).gt_masks is not None
        return
    with pytest.raises(InputError) as err:
        read_detection(spec(tmp_path))
    assert "annotation id 2" in err.value.record and "lies entirely outside its image" in str(err.value)
    write(tmp_path / "gt.json", ground_truth([{"segmentation": SQUARE}]))
    write(tmp_path / "pred.json", [{**dets()[1], "image_id": 1, "segmentation": outside}])
    with pytest.raises(InputError) as err:
        read_detection(spec(tmp_path))
    assert "results entry 1" in err.value.record and "(width 30, height 20)" in str(err.value)


def test_rle_strings_batch_equals_pycocotools():
    rng = np.random.default_rng(3)
    strings, sizes, expected = [], [], []
    for k in range(60):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        mask = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        if k % 3 == 0:
            mask = disc(h, w, h / 2, w / 2, min(h, w) / 3)
        rle = maskUtils.encode(np.asfortranarray(mask))
        strings.append(rle["counts"].decode("ascii"))
        sizes.append((h, w))
        expected.append(rle_encode(mask))
    strings.append(rle_to_string([0, 100000, 5, 3, 700000 - 100008]))  # multi-chunk and negative deltas
    sizes.append((700, 1000))
    expected.append(np.array([0, 100000, 5, 3, 700000 - 100008]))
    strings.append("")  # no counts: an empty 0x0 mask
    sizes.append((0, 0))
    expected.append(np.zeros(0, dtype=np.int64))
    hw = np.array(sizes)
    masks = MaskSet.from_strings(strings, hw[:, 0], hw[:, 1])
    assert len(masks) == len(expected)
    for a, b, area in zip(masks, expected, masks.areas().tolist()):
        assert a.tolist() == b.tolist()
        assert area == b[1::2].sum()


# ---------------------------------------------------------------------------------------------- errors

def expect(call, file: Path, record: str | None, *fragments: str) -> None:
    with pytest.raises(InputError) as caught:
        call()
    err = caught.value
    assert err.file == str(file)
    assert err.record == record
    assert "\n" not in str(err)
    for fragment in fragments:
        assert fragment in err.problem, (fragment, err.problem)


@pytest.mark.parametrize("segmentation, record, fragments", [
    ({"size": [H, W], "counts": [5, 10]}, "annotation id 1", ["sum to 15", f"{H}*{W}"]),
    ({"size": [H, W], "counts": "0"}, "annotation id 1", ["compressed RLE", "sum to 0"]),
    ({"size": [H, W], "counts": "a\u00e9"}, "annotation id 1", ["non-ASCII"]),
    ({"size": [H, W], "counts": "0 1"}, "annotation id 1", ["invalid character ' '"]),
    ({"size": [H, W], "counts": "P"}, "annotation id 1", ["ends inside a count"]),
    ({"size": [W, H], "counts": [H * W]}, "annotation id 1", [f"RLE size [{W}, {H}]", f"image's size [{H}, {W}]"]),
    ({"counts": [H * W]}, "annotation id 1", ["'size': [height, width]"]),
    ({"size": [H, W], "counts": [1.5]}, "annotation id 1", ["'counts' must be"]),
    ([[1, 2, 3, 4]], "annotation id 1", ["at least 3 points"]),
    ([[1, 2, 3, 4, 5, 6, 7]], "annotation id 1", ["even number of coordinates"]),
    ([[1, 2, 3, 4, "x", 6]], "annotation id 1", ["polygon 1 must be numbers"]),
    ([1, 2, 3, 4, 5, 6], "annotation id 1", ["list of lists"]),
    ([], "annotation id 1", ["list of lists"]),
    ("abc", "annotation id 1", ["must be polygons"]),
    (None, "annotation id 1", ["missing 'segmentation'"]),
])
def test_ground_truth_mask_errors(tmp_path, segmentation, record, fragments):
    gt = write(tmp_path / "gt.json", ground_truth([{"segmentation": segmentation}]))
    write(tmp_path / "pred.json", dets()[:1])
    expect(lambda: read_detection(spec(tmp_path)), gt, record, *fragments)


@pytest.mark.parametrize("segmentation, fragments", [
    ([[1, 2, 3, 4]], ["at least 3 points"]),
    ([[1, 2, 3, 4, 5, 6], [1, 2, 3, float("nan"), 5, 6]], ["finite"]),
    ({"size": [H, W], "counts": [H * W - 1]}, ["sum to"]),
    ({"size": [H, W], "counts": "0"}, ["compressed RLE", "sum to 0"]),
])
def test_bad_mask_among_good_ones_is_named(tmp_path, segmentation, fragments):
    # polygons, counts and strings are converted in batches: the bad record is still the one named
    anns = [{"segmentation": SQUARE}, {"segmentation": compressed(disc(H, W, 5, 5, 3))},
            {"segmentation": uncompressed(disc(H, W, 8, 8, 4))}] * 3
    anns[5] = {"segmentation": segmentation}
    gt = write(tmp_path / "gt.json", ground_truth(anns))
    write(tmp_path / "pred.json", dets()[:1])
    expect(lambda: read_detection(spec(tmp_path)), gt, "annotation id 6", *fragments)


def test_ground_truth_without_segmentation(tmp_path):
    gt = write(tmp_path / "gt.json", ground_truth([{"segmentation": SQUARE}, {}]))
    write(tmp_path / "pred.json", dets()[:1])
    expect(lambda: read_detection(spec(tmp_path)), gt, "annotation id 2", "missing 'segmentation'")


def test_image_without_size(tmp_path):
    data = ground_truth([{"segmentation": SQUARE}])
    del data["images"][0]["width"]
    gt = write(tmp_path / "gt.json", data)
    write(tmp_path / "pred.json", dets()[:1])
    expect(lambda: read_detection(spec(tmp_path)), gt, "annotation id 1", "no width/height")


def test_box_only_predictions(tmp_path):
    write(tmp_path / "gt.json", ground_truth([{"segmentation": SQUARE}]))
    pred = write(tmp_path / "pred.json", [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.9}])
    expect(lambda: read_detection(spec(tmp_path)), pred, "results entry 1",
           "segmentation task, but the predictions have no masks")
    pred = jsonl(tmp_path / "pred.jsonl", {"image": "a.jpg", "predictions": [
        {"label": "cat", "score": 0.9, "bbox": [1, 1, 2, 2]}]})
    expect(lambda: read_detection(spec(tmp_path, pred="pred.jsonl")), pred, "line 1, prediction 1",
           "segmentation task, but the predictions have no masks")
    (tmp_path / "yolo").mkdir()
    (tmp_path / "yolo" / "a.txt").write_text("0 0.5 0.5 0.2 0.2 0.9\n")
    expect(lambda: read_detection(spec(tmp_path, pred="yolo", pred_format="yolo")), tmp_path / "yolo" / "a.txt",
           "line 1", "segmentation task, but the predictions have no masks", "save_txt=True save_conf=True")


def test_some_predictions_without_masks(tmp_path):
    write(tmp_path / "gt.json", ground_truth([{"segmentation": SQUARE}]))
    d = dets()
    del d[2]["segmentation"]
    pred = write(tmp_path / "pred.json", d)
    expect(lambda: read_detection(spec(tmp_path)), pred, "results entry 3", "missing 'segmentation'")


@pytest.mark.parametrize("segmentation, fragments", [
    ({"size": [H, W], "counts": rle_to_string([5, 10])}, ["sum to 15"]),
    ({"size": [H, W], "counts": rle_to_string([5, -3, H * W - 2])}, ["negative count"]),
    ({"size": [H2, W2], "counts": rle_to_string([H2 * W2])}, ["RLE size [16, 12]", "image's size [20, 30]"]),
    ([[1, 2, 3]], ["even number of coordinates"]),
])
def test_prediction_mask_errors(tmp_path, segmentation, fragments):
    write(tmp_path / "gt.json", ground_truth([{"segmentation": SQUARE}]))
    d = dets()
    d[2]["segmentation"] = segmentation
    pred = write(tmp_path / "pred.json", d)
    expect(lambda: read_detection(spec(tmp_path)), pred, "results entry 3", *fragments)


def test_voc_ground_truth_rejected(tmp_path):
    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "a.xml").write_text("<annotation><filename>a.jpg</filename></annotation>")
    write(tmp_path / "pred.json", dets()[:1])
    expect(lambda: read_detection(spec(tmp_path, gt="voc")), voc, None, "VOC ground truth has boxes only")


def test_columns_kept_on_disk_read_as_the_arrays(tmp_path):
    """With a cluster the driver keeps the boxes, masks and every other column of the ground truth and the
    detections on its disk (`heavy_columns_on_disk`): read by index, slice or whole, taken as masks, and pickled
    (sent to a worker), they are the arrays in memory."""
    import pickle

    from evalsite.core.detection_data import heavy_columns_on_disk
    from evalsite.core.on_disk import DiskArray

    write(tmp_path / "gt.json", ground_truth(GT_ANNS))
    write(tmp_path / "pred.json", dets())
    data = read_detection(spec(tmp_path))
    held = heavy_columns_on_disk(data)
    assert isinstance(held.dt_box, DiskArray) and isinstance(held.gt_masks.counts, DiskArray)
    rows = np.array([3, 0, 2, 2])
    for name in ("gt_box", "dt_box"):
        mine, theirs = getattr(held, name), getattr(data, name)
        assert np.asarray(mine).tolist() == theirs.tolist()
        assert mine[rows[rows < len(theirs)]].tolist() == theirs[rows[rows < len(theirs)]].tolist()
        assert mine[1:3].tolist() == theirs[1:3].tolist() and mine[:, 2].tolist() == theirs[:, 2].tolist()
        sent = pickle.loads(pickle.dumps(mine))
        assert type(sent) is np.ndarray and sent.tolist() == theirs.tolist()
    for name in ("gt_masks", "dt_masks"):
        mine, theirs = getattr(held, name), getattr(data, name)
        index = rows[rows < len(theirs)]
        assert len(mine) == len(theirs)
        assert [c.tolist() for c in mine.take(index)] == [c.tolist() for c in theirs.take(index)]
        assert mine.take(index).areas().tolist() == theirs.take(index).areas().tolist()
        assert [c.tolist() for c in pickle.loads(pickle.dumps(mine))] == [c.tolist() for c in theirs]
    # the detections' other columns go to disk too, and every column of the ground truth
    for name in ("dt_image", "dt_label", "dt_score", "gt_image", "gt_label", "gt_area", "gt_crowd", "gt_difficult",
                 "gt_id"):
        mine, theirs = getattr(held, name), getattr(data, name)
        assert isinstance(mine, DiskArray) and mine.dtype == theirs.dtype
        assert np.asarray(mine).tolist() == theirs.tolist() and mine[rows[rows < len(theirs)]].tolist() == \
            theirs[rows[rows < len(theirs)]].tolist()
    assert held.images is data.images and held.image_ids is data.image_ids  # (the images' columns stay as they are)
