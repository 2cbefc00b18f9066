"""Shared traits of errors: image statistics, the significance rule, and the page end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main
from evalsite.formats.traits import image_traits
from evalsite.metrics.traits import Item, analyse, fisher_greater, time_of_day

from conftest import write_task


def test_flat_grey_image_has_no_contrast_and_no_edges(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (300, 200), 100).save(path)
    tr = image_traits(path)
    assert tr is not None
    assert tr.brightness == 100 and tr.contrast == 0 and tr.sharpness == 0
    assert (tr.width, tr.height, tr.orientation) == (300, 200, "landscape") and abs(tr.aspect - 1.5) < 1e-9
    assert tr.camera is None and tr.hour is None


def test_checkerboard_is_sharp_and_blur_lowers_it(tmp_path: Path) -> None:
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    Image.fromarray(board).save(tmp_path / "board.png")
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (64, 1))
    Image.fromarray(smooth).save(tmp_path / "smooth.png")
    sharp, soft = image_traits(tmp_path / "board.png"), image_traits(tmp_path / "smooth.png")
    assert sharp.sharpness > 1000 * max(soft.sharpness, 1e-3)
    assert abs(sharp.brightness - 127.5) < 1 and abs(sharp.contrast - 127.5) < 1
    assert sharp.orientation == "square"


def test_exif_rotation_camera_and_hour(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: the stored 400x200 image is shown 200x400
    exif[0x010F] = "Acme"
    exif[0x0110] = "Acme Cam 3"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 21:30:00"
    Image.new("RGB", (400, 200), (10, 10, 10)).save(path, exif=exif)
    tr = image_traits(path)
    assert (tr.width, tr.height, tr.orientation) == (200, 400, "portrait")
    assert tr.camera == "Acme Cam 3" and tr.hour == 21 and time_of_day(tr.hour) == "evening"
    assert tr.brightness < 20


def test_unreadable_image_has_no_traits(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert image_traits(tmp_path / "bad.png") is None
    assert image_traits(tmp_path / "absent.png") is None


def _items(label: str, dark_errors: int, dark_ok: int, other_errors: int, other_ok: int) -> list[Item]:
    def make(n: int, error: bool, value: float) -> list[Item]:
        return [Item(label, error, {"brightness": value + i * 1e-3}) for i in range(n)]

    return make(dark_errors, True, 10) + make(dark_ok, False, 10) + make(other_errors, True, 150) \
        + make(other_ok, False, 150)


def test_planted_over_representation_is_found_and_uniform_is_not() -> None:
    # 60 items: the darkest third (20) holds 9 of the 10 errors.
    planted = _items("cat", 9, 11, 1, 39)
    analysis = analyse(planted, ["cat"])
    (row,) = analysis.labels
    assert [(f.trait, f.bucket) for f in row.findings] == [("brightness", "dark")]
    f = row.findings[0]
    assert (f.errors_in, f.errors, f.items_in, f.items) == (9, 10, 20, 60)
    assert f.p_value * analysis.tests < 0.05 and f.ratio > 1.5
    # Errors spread like the items: nothing is named.
    uniform = [Item("cat", i % 5 == 0, {"brightness": float(i)}) for i in range(60)]
    assert analyse(uniform, ["cat"]).labels[0].findings == []
    # Too few errors in the group: not named even when the share differs.
    assert analyse(_items("cat", 4, 16, 0, 40), ["cat"]).labels[0].findings == []


def test_fisher_greater_matches_hand_computation() -> None:
    # All 3 errors in a group of 3 out of 6 items: p = 1 / C(6, 3) = 0.05.
    assert abs(fisher_greater(3, 3, 3, 6) - 0.05) < 1e-12


def test_overall_buckets_have_wilson_intervals() -> None:
    analysis = analyse(_items("cat", 9, 11, 1, 39), ["cat"])
    (brightness,) = [t for t in analysis.overall if t.name == "brightness"]
    assert sum(b.items for b in brightness.buckets) == 60
    dark = brightness.buckets[0]
    assert dark.key == "dark" and dark.errors == 9 and dark.interval[0] < 0.45 < dark.interval[1]


def _task_with_cat_errors(tmp_path: Path, n_images: int, wrong) -> tuple[Path, dict[str, str], set[str]]:
    """A classification task (cat, dog, bird) whose predictions are right except on the images where
    `wrong(i, true label)` holds (i: position in name order); gives (manifest, image -> true label, the
    misclassified images)."""
    manifest = write_task(tmp_path / "inputs", ["cat", "dog", "bird"], n_images=n_images)
    folder = manifest.parent
    with open(folder / "gt.csv", encoding="utf-8") as handle:
        truth = dict(list(csv.reader(handle))[1:])
    labels = ["cat", "dog", "bird"]
    preds, errors = [], set()
    for i, (image, true) in enumerate(sorted(truth.items())):
        scores = [0.1, 0.1, 0.1]
        if wrong(i, true):
            errors.add(image)
            scores[(labels.index(true) + 1) % 3] = 0.9
        else:
            scores[labels.index(true)] = 0.9
        preds.append((image, *scores))
    with open(folder / "pred.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["image", *labels], *preds])
    return manifest, truth, errors


def test_build_page_names_dark_for_the_label_with_dark_errors(tmp_path: Path) -> None:
    # 10 'cat' errors, all in dark images
    manifest, truth, errors = _task_with_cat_errors(tmp_path, 90, lambda i, true: true == "cat" and i < 30)
    folder = manifest.parent
    rng = np.random.default_rng(1)
    for image in sorted(truth):
        level = 5 if image in errors else 120 + int(rng.integers(0, 120))
        pixels = np.clip(rng.normal(level, 10, size=(24, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "images" / image)
    (folder / "images" / "img-089.png").write_bytes(b"broken")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = (out / "task" / "traits.html").read_text(encoding="utf-8")
    assert "Shared traits" in html
    assert "of misclassified" in html and "are dark (brightness)" in html
    assert "Fisher exact test" in html and "Bonferroni" in html
    assert "errors/label-001.html" in html  # the 'cat' gallery
    assert "1 images could not be read" in html
    assert "30 images, 10 misclassified." in html and "resolution" not in html.split("By label")[1]
    report = json.loads((out / "task" / "report.json").read_text(encoding="utf-8"))
    assert report["dataset"]["images"] == 90


def test_detection_page_names_dark_for_missed_objects(tmp_path: Path) -> None:
    from conftest import _coco_manifest

    folder = tmp_path / "inputs"
    (folder / "images").mkdir(parents=True)
    images, annotations, results = [], [], []
    for i in range(30):
        missed = i < 10  # the darkest third of the images holds every missed 'cat'
        level = 8 + i if missed else 120 + 3 * i
        Image.new("RGB", (64, 48), (level, level, level)).save(folder / "images" / f"im{i}.png")
        images.append({"id": i, "file_name": f"im{i}.png", "width": 64, "height": 48})
        annotations.append({"id": i, "image_id": i, "category_id": 0, "bbox": [8, 8, 20, 20], "area": 400,
                            "iscrowd": 0})
        if not missed:
            results.append({"image_id": i, "category_id": 0, "bbox": [8, 8, 20, 20], "score": 0.9})
    gt = {"images": images, "annotations": annotations, "categories": [{"id": 0, "name": "cat"}]}
    (folder / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (folder / "pred.json").write_text(json.dumps(results), encoding="utf-8")
    manifest = _coco_manifest(folder, "det", "detection", "en")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = (out / "det" / "traits.html").read_text(encoding="utf-8")
    assert "100% of missed 'cat' objects (10 of 10) are in dark images (brightness), vs 33% of all" in html
    assert "errors/label-001.html" in html and "False positives (predictions at t*)" in html


def test_camera_values_are_escaped() -> None:
    from evalsite.render.i18n import Messages
    from evalsite.render.traits_pages import bucket_name

    t = Messages("en")
    assert bucket_name("camera", "<b>|x*", t) == "&lt;b&gt;\\|x\\*"
    assert bucket_name("brightness", "dark", t) == "dark"
    assert bucket_name("camera", "other", t) == "other"


def _metadata_task(tmp_path: Path, rows: list[list[str]]) -> Path:
    """30 images, 'cat' errors on the 10 images taken with device "phone <b>" (hostile name, escaped)."""
    # 5 of the 10 'cat' images, all from phone <b>
    manifest, truth, errors = _task_with_cat_errors(tmp_path, 30, lambda i, true: true == "cat" and i % 2 == 0)
    with open(manifest.parent / "meta.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows or [["image", "device"]] + [
            [image, "phone <b>" if image in errors else "camera"] for image in sorted(truth)])
    manifest.write_text(manifest.read_text(encoding="utf-8") + "metadata: meta.csv\n", encoding="utf-8")
    return manifest


def test_metadata_columns_are_traits(tmp_path: Path) -> None:
    manifest = _metadata_task(tmp_path, [])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "task" / "report.json").read_text(encoding="utf-8"))
    assert report["metadata"]["img-000.png"] == {"device": "phone <b>"}
    html = (out / "task" / "traits.html").read_text(encoding="utf-8")
    assert "device" in html and "phone &lt;b&gt;" in html and "phone <b>" not in html


def test_bad_metadata_is_one_line_exit_2(tmp_path: Path) -> None:
    from conftest import assert_one_line_error

    cases = [
        ([["picture", "device"], ["img-000.png", "x"]], "needs an 'image' column"),
        ([["image"], ["img-000.png"]], "no column besides 'image'"),
        ([["image", "device"], ["img-000.png", "x"], ["img-000.png", "y"]], "appears twice (first at line 2)"),
        ([["image", "device"], ["nope.png", "x"]], "'nope.png' is not in the evaluation set"),
    ]
    for k, (rows, expected) in enumerate(cases):
        manifest = _metadata_task(tmp_path / str(k), rows)
        result = CliRunner().invoke(main, ["evaluate", str(manifest), "-o", "-", "--quiet"])
        assert_one_line_error(result, expected)
        assert "meta.csv" in result.stderr
