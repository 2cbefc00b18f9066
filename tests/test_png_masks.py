"""Segmentation ground truth as PNG instance masks (format: png): objects, boxes, areas, labels, crowd flags
and masks equal to the PNG pixels and to the same masks given as COCO; one-line errors for every bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main
from evalsite.core.errors import InputError
from evalsite.core.masks import rle_bbox, rle_decode, rle_encode, rle_from_polygons, rle_to_string
from evalsite.formats.png_masks import instance_rles
from evalsite.manifest import InputSpec, TaskSpec

from spec_readers import read_detection

W, H = 30, 20  # a/x.jpg, a/y.jpg, a/z.jpg
W2, H2 = 12, 16  # b/w.png
SQUARE = [2, 3, 12, 3, 12, 10, 2, 10]  # polygon in a/x
TRIANGLE = [20, 2, 28, 2, 24, 9]  # polygon in a/x


def polygon_mask(polygon: list[float], h: int, w: int) -> np.ndarray:
    return rle_decode(rle_from_polygons([polygon], h, w), h, w)


def disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def save_mask(path: Path, pixels: np.ndarray, mode: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "L":
        Image.fromarray(pixels.astype(np.uint8)).save(path)
    elif mode == "I;16":
        image = Image.fromarray(pixels.astype(np.uint16))
        assert image.mode == "I;16"
        image.save(path)
    elif mode == "P":  # colourful palette: the index, not the colour, is the instance number
        image = Image.fromarray(pixels.astype(np.uint8))
        image.putpalette([(37 * k) % 256 for k in range(768)])
        assert image.mode == "P"
        image.save(path)
    elif mode == "RGB":
        Image.fromarray(np.stack([pixels.astype(np.uint8)] * 3, axis=-1)).save(path)
    else:
        raise AssertionError(mode)
    return path


def write_csv(path: Path, rows: list[list[object]], header: tuple[str, ...] = ("image", "instance", "label",
                                                                               "iscrowd")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def instances() -> dict[str, np.ndarray]:
    """The instance images: a/x (8-bit, polygons), a/y (16-bit, values 7 and 300), b/w (palette)."""
    x = np.zeros((H, W), dtype=np.int64)
    x[polygon_mask(SQUARE, H, W)] = 1
    x[polygon_mask(TRIANGLE, H, W)] = 2
    y = np.zeros((H, W), dtype=np.int64)
    y[disc(H, W, 10, 8, 5)] = 300
    y[12:20, 18:30] = 7  # reaches the bottom-right corner
    y[0:3, 25:30] = 7  # a second part of the same object
    w = np.zeros((H2, W2), dtype=np.int64)
    w[0:16, 0:2] = 1  # a whole column strip: runs cross column boundaries
    w[disc(H2, W2, 8, 7, 3)] = 2
    return {"a/x": x, "a/y": y, "b/w": w}


MODES = {"a/x": "L", "a/y": "I;16", "b/w": "P"}
# (image column, instance, label, iscrowd): shuffled, both the mask path and the image path, blank crowd
ROWS = [
    ["a/y.png", 300, "dog", ""],
    ["a/x.jpg", 2, "dog", "0"],
    ["b/w.png", 2, "cat", "1"],
    ["a/x.png", 1, "cat", ""],
    ["a/y.jpg", 7, "cat", "0"],
    ["b/w.png", 1, "dog", "0"],
]


def predictions() -> list[dict]:
    x = instances()["a/x"]
    seg = {"size": [H, W], "counts": rle_to_string(rle_encode(x == 1))}
    return [
        {"image": "a/x.jpg", "predictions": [{"label": "cat", "score": 0.9, "segmentation": seg},
                                             {"label": "dog", "score": 0.4, "segmentation": [TRIANGLE]}]},
        {"image": "a/z.jpg", "predictions": [{"label": "dog", "score": 0.3, "segmentation": [SQUARE]}]},
        {"image": "b/w.png", "predictions": [{"label": "cat", "score": 0.8,
                                              "segmentation": {"size": [H2, W2],
                                                               "counts": rle_encode(disc(H2, W2, 8, 7, 3)).tolist()}}]},
    ]


def make_task(root: Path, *, rows: list[list[object]] | None = None, modes: dict[str, str] | None = None) -> Path:
    """images/{a/x.jpg, a/y.jpg, a/z.jpg (no mask), b/w.png, c/q.jpg (folder without masks)}, masks/, pred.jsonl."""
    images = root / "images"
    for rel, size in [("a/x.jpg", (W, H)), ("a/y.jpg", (W, H)), ("a/z.jpg", (W, H)), ("b/w.png", (W2, H2)),
                      ("c/q.jpg", (8, 8))]:
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 120, 150)).save(images / rel)
    for stem, pixels in instances().items():
        save_mask(root / "masks" / f"{stem}.png", pixels, (modes or MODES)[stem])
    write_csv(root / "masks" / "instances.csv", ROWS if rows is None else rows)
    (root / "pred.jsonl").write_text("".join(json.dumps(r) + "\n" for r in predictions()), encoding="utf-8")
    return root


def spec(root: Path, *, gt: str = "masks", fmt: str | None = "png", task_type: str = "segmentation",
         labels: list[str] | None = None, images: str = "images") -> TaskSpec:
    return TaskSpec(name="task", type=task_type, images=root / images, ground_truth=InputSpec(fmt, root / gt),
                    predictions=InputSpec("jsonl", root / "pred.jsonl"), labels=labels, source=root / "task.yaml")


@pytest.fixture
def task(tmp_path: Path) -> Path:
    return make_task(tmp_path)


# ------------------------------------------------------------------------------------------------ reading

def test_png_masks_end_to_end(task: Path) -> None:
    data = read_detection(spec(task))
    assert data.images == ["a/x.jpg", "a/y.jpg", "a/z.jpg", "b/w.png"]  # c/q.jpg: folder without masks
    assert data.widths.tolist() == [W, W, W, W2] and data.heights.tolist() == [H, H, H, H2]
    assert data.labels == ["cat", "dog"] and data.label_ids.tolist() == [0, 1]
    # one object per (image, value), ids 1..N in image order, then value
    assert data.gt_id.tolist() == [1, 2, 3, 4, 5, 6]
    assert data.gt_image.tolist() == [0, 0, 1, 1, 3, 3]
    values = [1, 2, 7, 300, 1, 2]
    assert [data.labels[k] for k in data.gt_label] == ["cat", "dog", "cat", "dog", "dog", "cat"]
    assert data.gt_crowd.tolist() == [False, False, False, False, False, True]
    assert not data.gt_difficult.any()
    pixels = instances()
    stems = ["a/x", "a/x", "a/y", "a/y", "b/w", "b/w"]
    assert data.gt_masks is not None
    for k, (stem, value) in enumerate(zip(stems, values)):
        truth = pixels[stem] == value
        h, w = truth.shape
        assert np.array_equal(rle_decode(data.gt_masks[k], h, w), truth), (stem, value)
        assert data.gt_area[k] == truth.sum()
        ys, xs = np.nonzero(truth)
        assert data.gt_box[k].tolist() == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    assert data.gt_box[2].tolist() == [18, 0, 12, 20]  # value 7: two parts, the box spans both
    # predictions matched by file name and label name
    assert data.image_matching == "file name" and data.label_matching == "name"
    assert data.dt_image.tolist() == [0, 0, 2, 3]
    codes = {n.code: n for n in data.notices}
    assert "'a/z.jpg'" in codes["png_images_without_masks"].detail
    assert "'c'" in codes["png_folders_without_masks"].detail
    assert not {"mask_empty", "box_clipped"} & set(codes)


def test_same_masks_as_coco_polygons_and_rle_give_identical_data(task: Path) -> None:
    pixels = instances()
    sizes = {"a/x.jpg": (W, H), "a/y.jpg": (W, H), "a/z.jpg": (W, H), "b/w.png": (W2, H2)}
    images = [{"id": i, "file_name": name, "width": w, "height": h} for i, (name, (w, h)) in enumerate(sizes.items())]

    def ann(k: int, image: int, stem: str, value: int, label: int, crowd: int, segmentation: object) -> dict:
        mask = pixels[stem] == value
        counts = rle_encode(mask)
        return {"id": k, "image_id": image, "category_id": label, "iscrowd": crowd, "segmentation": segmentation,
                "bbox": rle_bbox(counts, *mask.shape).tolist(), "area": int(mask.sum())}

    def rle(stem: str, value: int, compressed: bool) -> dict:
        counts = rle_encode(pixels[stem] == value)
        return {"size": list(pixels[stem].shape), "counts": rle_to_string(counts) if compressed else counts.tolist()}

    anns = [ann(1, 0, "a/x", 1, 0, 0, [SQUARE]), ann(2, 0, "a/x", 2, 1, 0, [TRIANGLE]),
            ann(3, 1, "a/y", 7, 0, 0, rle("a/y", 7, True)), ann(4, 1, "a/y", 300, 1, 0, rle("a/y", 300, False)),
            ann(5, 3, "b/w", 1, 1, 0, rle("b/w", 1, False)), ann(6, 3, "b/w", 2, 0, 1, rle("b/w", 2, True))]
    gt = {"images": images, "annotations": anns, "categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}]}
    (task / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    from_png = read_detection(spec(task))
    from_coco = read_detection(spec(task, gt="gt.json", fmt="coco"))
    for name in ("labels", "images"):
        assert getattr(from_png, name) == getattr(from_coco, name)
    for name in ("label_ids", "widths", "heights", "gt_image", "gt_label", "gt_box", "gt_area", "gt_crowd", "gt_id",
                 "dt_image", "dt_label", "dt_box", "dt_score"):
        assert np.array_equal(getattr(from_png, name), getattr(from_coco, name)), name
    assert len(from_png.gt_masks) == len(from_coco.gt_masks) == 6
    for a, b in zip(from_png.gt_masks, from_coco.gt_masks):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(from_png.dt_masks, from_coco.dt_masks):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_instance_rles_equal_rle_encode_and_rle_bbox() -> None:
    rng = np.random.default_rng(3)
    for _trial in range(200):
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        pixels = rng.integers(0, 4, (h, w)) * (rng.random((h, w)) < rng.random())
        values, counts, boxes, areas = instance_rles(pixels.astype(np.uint16))
        assert values.tolist() == [v for v in np.unique(pixels).tolist() if v]
        for v, c, box, area in zip(values.tolist(), counts, boxes, areas):
            reference = rle_encode(pixels == v)
            assert c.tolist() == reference.tolist()
            assert box.tolist() == rle_bbox(reference, h, w).tolist()
            assert area == (pixels == v).sum()


def test_format_detected_from_instances_csv_and_declared_labels_order(task: Path) -> None:
    data = read_detection(spec(task, fmt=None, labels=["dog", "cat", "bird"]))
    assert data.labels == ["dog", "cat", "bird"]
    assert [data.labels[k] for k in data.gt_label] == ["cat", "dog", "cat", "dog", "dog", "cat"]
    # the path may also name instances.csv itself
    assert read_detection(spec(task, gt="masks/instances.csv", fmt=None)).gt_id.tolist() == [1, 2, 3, 4, 5, 6]


def test_mask_folder_inside_the_images_root_is_not_taken_for_images(tmp_path: Path) -> None:
    root = make_task(tmp_path)
    (root / "images" / "masks").mkdir()
    (root / "masks").rename(root / "images" / "masks" / "gt")
    data = read_detection(spec(root, gt="images/masks/gt"))
    assert data.images == ["a/x.jpg", "a/y.jpg", "a/z.jpg", "b/w.png"]


def test_all_background_mask_without_rows_is_an_image_without_objects(task: Path) -> None:
    save_mask(task / "masks" / "a" / "z.png", np.zeros((H, W)), "L")
    data = read_detection(spec(task))
    assert data.images == ["a/x.jpg", "a/y.jpg", "a/z.jpg", "b/w.png"]
    assert 2 not in data.gt_image.tolist()
    assert "png_images_without_masks" not in {n.code for n in data.notices}


def test_one_bit_mask(task: Path) -> None:
    Image.fromarray(instances()["a/x"] == 1).save(task / "masks" / "a" / "x.png")
    assert Image.open(task / "masks" / "a" / "x.png").mode == "1"
    write_csv(task / "masks" / "instances.csv", [r for r in ROWS if r[:2] != ["a/x.jpg", 2]])
    data = read_detection(spec(task))
    assert data.gt_id.tolist() == [1, 2, 3, 4, 5] and data.gt_area[0] == (instances()["a/x"] == 1).sum()


# ------------------------------------------------------------------------------------------------ errors

def expect(call, file: Path, record: str | None, *fragments: str) -> None:
    with pytest.raises(InputError) as caught:
        call()
    err = caught.value
    assert err.file == str(file), (err.file, str(file))
    assert err.record == record, err.record
    assert "\n" not in str(err)
    for fragment in fragments:
        assert fragment in err.problem, (fragment, err.problem)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("L", (W, H)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("change, record, fragments", [
    (lambda p: save_mask(p, np.zeros((H, W + 1)), "L"), None,
     ["mask size 31x20 (width x height) differs from the size of its image 'a/x.jpg', 30x20"]),
    (_jpeg, None, ["not a PNG (the file holds JPEG data)"]),
    (lambda p: p.write_bytes(b"not an image at all"), None, ["not a PNG (not an image file at all)"]),
    (_truncated, None, ["corrupt PNG"]),
    (lambda p: save_mask(p, instances()["a/x"], "RGB"), None, ["mode RGB", "single-channel", "convert"]),
    (lambda p: Image.new("RGBA", (W, H)).save(p), None, ["mode RGBA", "with alpha"]),
    (lambda p: save_mask(p, np.where(instances()["a/x"] == 2, 5, instances()["a/x"]), "L"), "pixel value 5",
     ["value 5 (", "no row in instances.csv", "'a/x.png,5,<label>'"]),
])
def test_bad_mask_png(task: Path, change, record, fragments) -> None:
    mask = task / "masks" / "a" / "x.png"
    change(mask)
    expect(lambda: read_detection(spec(task)), mask, record, *fragments)


@pytest.mark.parametrize("rows, header, record, fragments", [
    (ROWS + [["a/x.png", 5, "cat", ""]], None, "line 8", ["instance 5 does not occur in the mask a/x.png",
                                                          "its values: 1, 2"]),
    (ROWS + [["a/x.jpg", 1, "dog", ""]], None, "line 8", ["instance 1 of a/x.png appears twice (lines 5 and 8)"]),
    (ROWS[:2] + [["b/w.png", "2.0", "cat", "1"]] + ROWS[3:], None, "line 4",
     ["'instance' must be a whole number", "'2.0'"]),
    (ROWS[:2] + [["b/w.png", "two", "cat", "1"]] + ROWS[3:], None, "line 4", ["must be a whole number"]),
    (ROWS + [["a/x.png", 0, "cat", ""]], None, "line 8", ["'instance' 0 is the background"]),
    (ROWS[:1] + [["a/x.jpg", 2, "", "0"]] + ROWS[2:], None, "line 3", ["missing 'label'"]),
    (ROWS[:1] + [["a/x.jpg", 2, "dog", "yes"]] + ROWS[2:], None, "line 3", ["'iscrowd' must be 0 or 1, found 'yes'"]),
    (ROWS + [["a/z.jpg", 1, "cat", ""]], None, "line 8", ["image 'a/z.jpg' has no mask PNG", "z.png"]),
    (ROWS + [["nope.png", 1, "cat", ""]], None, "line 8", ["'nope.png' is neither a mask PNG"]),
    (ROWS + [["../x.png", 1, "cat", ""]], None, "line 8", ["escapes"]),
    ([r[:3] for r in ROWS], ("image", "instance", "class"), "line 1", ["missing column(s) 'label'"]),
    ([r[:2] for r in ROWS], ("image", "instance"), "line 1", ["missing column(s) 'label'"]),
    ([r[:3] for r in ROWS], ("image", "instance", "label", "Image"), "line 1", ["'image' appear more than once"]),
    ([r + ["x"] for r in ROWS], ("image", "instance", "label", "iscrowd", "note"), "line 1",
     ["unknown column(s) 'note'", "image,instance,label"]),
])
def test_bad_instances_csv(task: Path, rows, header, record, fragments) -> None:
    table = task / "masks" / "instances.csv"
    write_csv(table, rows, *([header] if header else []))
    expect(lambda: read_detection(spec(task)), table, record, *fragments)


def test_unknown_label_with_declared_labels(task: Path) -> None:
    rows = [list(r) for r in ROWS]
    rows[3][2] = "cow"
    table = write_csv(task / "masks" / "instances.csv", rows)
    expect(lambda: read_detection(spec(task, labels=["cat", "dog"])), table, "first at line 5",
           "label(s) not in the declared labels: 'cow'")


def test_mask_without_an_image(task: Path) -> None:
    mask = save_mask(task / "masks" / "a" / "ghost.png", np.zeros((H, W)), "L")
    expect(lambda: read_detection(spec(task)), mask, None, "no image for this mask", "a/ghost.*")


def test_mask_matching_two_images(task: Path) -> None:
    Image.new("RGB", (W, H)).save(task / "images" / "a" / "x.png")
    expect(lambda: read_detection(spec(task)), task / "masks" / "a" / "x.png", None,
           "several images match this mask: 'a/x.jpg', 'a/x.png'")


def test_non_png_mask_file(task: Path) -> None:
    other = task / "masks" / "a" / "x.tif"
    Image.new("L", (W, H)).save(other)
    expect(lambda: read_detection(spec(task)), other, None, "instance masks must be PNG files")


def test_missing_mask_folder(tmp_path: Path) -> None:
    make_task(tmp_path)
    expect(lambda: read_detection(spec(tmp_path, gt="nothing")), tmp_path / "nothing", None, "folder not found")


def test_missing_instances_csv(task: Path) -> None:
    (task / "masks" / "instances.csv").unlink()
    expect(lambda: read_detection(spec(task)), task / "masks", None, "no instances.csv in this folder")


def test_png_ground_truth_for_a_detection_task(task: Path) -> None:
    expect(lambda: read_detection(spec(task, task_type="detection")), task / "masks", None,
           "PNG instance masks are segmentation ground truth, but this is a detection task")


# ------------------------------------------------------------------------------------------------ CLI

def _manifest(root: Path) -> Path:
    manifest = root / "task.yaml"
    manifest.write_text("name: pngseg\ntype: segmentation\nimages: images\nlanguage: en\n"
                        "ground_truth: {format: png, path: masks}\npredictions: {format: jsonl, path: pred.jsonl}\n",
                        encoding="utf-8")
    return manifest


def test_cli_evaluate_png_task(task: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["evaluate", str(_manifest(task)), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["task"]["type"] == "segmentation"
    assert set(report["metrics"]) >= {"mAP50", "precision", "recall", "f1", "coco"}


def test_cli_bad_mask_is_one_line_exit_2(task: Path, tmp_path: Path) -> None:
    save_mask(task / "masks" / "a" / "x.png", instances()["a/x"], "RGB")
    result = CliRunner().invoke(main, ["evaluate", str(_manifest(task)), "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "x.png" in lines[0] and "mode RGB" in lines[0]
    assert not (tmp_path / "r.json").exists()
