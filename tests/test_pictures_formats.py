"""Pictures for people (issue 14, item 2): JPEG for photographs, PNG for tiny or flat pictures, sized to how the
pages show them; the site's picture budget, stated on every gallery; errors.csv with every error."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFilter

from evalsite.cli import main
from evalsite.render import pictured
from evalsite.render.overlays import draw_full, make_detection_assets
from evalsite.render.thumbnails import FULL_SIZE, THUMB_SIZE, encode_picture, make_assets

from conftest import write_task

JPEG, PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
GRACE = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"  # a real photograph, 512x600
FULL_VIEW_BOUND = 90_000  # bytes: a 640x480 photograph's full view with its boxes (PNG: about 420 KB)


def photo(seed: int = 0, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A photograph-like picture: shaded background, blurred objects, sensor noise (its PNG is ~420 KB)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([rng.uniform(60, 190) + rng.uniform(-60, 60) * xx / w + rng.uniform(-60, 60) * yy / h
                     for _ in range(3)], -1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        x, y = rng.uniform(0, w - 60), rng.uniform(0, h - 60)
        draw.ellipse([x, y, x + rng.uniform(20, 250), y + rng.uniform(20, 200)],
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    noisy = np.asarray(image.filter(ImageFilter.GaussianBlur(1.2))).astype(float) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def longest(path: Path) -> int:
    with Image.open(path) as image:
        return max(image.size)


def magic(path: Path) -> bytes:
    return path.read_bytes()[:8]


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# ------------------------------------------------------------------------------------------ formats and sizes

def test_a_photograph_is_jpeg_sized_as_shown(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    shutil.copy(GRACE, root / "grace.jpg")
    photo(1, (2000, 1500)).save(root / "big.jpg", quality=92)
    photo(2).save(root / "lossless.png")  # a photograph stored as PNG is still shown as JPEG
    assets = make_assets(root, ["grace.jpg", "big.jpg", "lossless.png"], tmp_path / "docs")
    for name, full_side in (("grace.jpg", 600), ("big.jpg", FULL_SIZE), ("lossless.png", 640)):
        asset = assets[name]
        assert asset is not None and asset.thumb.endswith(".jpg") and asset.full.endswith(".jpg"), name
        thumb, full = tmp_path / "docs" / asset.thumb, tmp_path / "docs" / asset.full
        assert magic(thumb).startswith(JPEG) and magic(full).startswith(JPEG), name
        assert longest(thumb) == THUMB_SIZE and longest(full) == full_side, name  # never enlarged
        with Image.open(full) as image:
            assert image.info.get("progressive", 0) == 0 and image.mode == "RGB"
    assert (tmp_path / "docs" / assets["grace.jpg"].full).stat().st_size < 100_000  # PNG: ~450 KB


def test_the_digits_stay_png_enlarged_pixel_exact(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    pixels = (np.random.default_rng(0).integers(0, 17, (8, 8)) * 15).astype(np.uint8)
    Image.fromarray(pixels, "L").save(root / "digit.png")
    Image.fromarray(pixels, "L").resize((32, 32), Image.Resampling.NEAREST).save(root / "demo.png")  # the demo's
    assets = make_assets(root, ["digit.png", "demo.png"], tmp_path / "docs")
    for name, size in (("digit.png", 8), ("demo.png", 32)):
        asset = assets[name]
        assert asset is not None and asset.thumb.endswith(".png") and asset.full.endswith(".png")
        full = tmp_path / "docs" / asset.full
        assert magic(full) == PNG and magic(tmp_path / "docs" / asset.thumb) == PNG
        factor = -(-384 // size)  # the smallest whole factor reaching 384 px: 48 and 12
        with Image.open(full) as image:
            assert image.size == (size * factor, size * factor)
            shown = np.asarray(image.convert("L"))
        original = np.asarray(Image.open(root / name))
        assert np.array_equal(shown[::factor, ::factor], original)  # every pixel a block of one value
        assert np.array_equal(shown, np.kron(original, np.ones((factor, factor), np.uint8)))


def test_small_or_flat_pictures_keep_the_smaller_encoding() -> None:
    flat = Image.new("RGB", (200, 150), (30, 90, 160))
    ImageDraw.Draw(flat).rectangle([20, 20, 120, 90], outline=(220, 38, 38), width=3)
    data, extension = encode_picture(flat)
    assert extension == "png" and data.startswith(PNG)  # a flat drawing: PNG is smaller
    small_photo = photo(3, (200, 150))
    data, extension = encode_picture(small_photo)
    png = io.BytesIO()
    small_photo.save(png, format="PNG")
    assert extension == "jpg" and data.startswith(JPEG) and len(data) < len(png.getvalue())
    big_flat = Image.new("L", (800, 600), 200)
    assert encode_picture(big_flat, flat=True)[1] == "png"  # a greyscale source: both tried
    assert encode_picture(big_flat.convert("RGB"))[1] == "jpg"  # large and not flat: JPEG without trying PNG
    assert encode_picture(Image.new("RGB", (800, 600)), exact=True)[1] == "png"


def test_a_transparent_photograph_is_flattened_on_white(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    rgba = photo(4).convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    ImageDraw.Draw(alpha).rectangle([0, 0, 200, 150], fill=0)  # the top left corner is transparent
    rgba.putalpha(alpha)
    rgba.save(root / "cut.png")
    asset = make_assets(root, ["cut.png"], tmp_path / "docs")["cut.png"]
    assert asset is not None and asset.full.endswith(".jpg")
    with Image.open(tmp_path / "docs" / asset.full) as image:
        corner = np.asarray(image.convert("RGB"))[10:100, 10:150].reshape(-1, 3)
    assert corner.min() >= 245  # white, not black


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    photo(5).save(root / "turned.jpg", exif=exif.tobytes())
    asset = make_assets(root, ["turned.jpg"], tmp_path / "docs")["turned.jpg"]
    assert asset is not None
    with Image.open(tmp_path / "docs" / asset.full) as image:
        assert image.size == (480, 640)


def test_unreadable_images_get_no_picture(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    assert make_assets(root, ["broken.jpg", "absent.jpg"], tmp_path / "docs") == {"broken.jpg": None,
                                                                                   "absent.jpg": None}


def test_detection_pictures_of_a_photograph(tmp_path: Path) -> None:
    from evalsite.core.enums import BoxKind, ErrorKind, ErrorType
    from evalsite.report.detection_model import BoxMistake, DrawnBoxes

    root = tmp_path / "images"
    root.mkdir()
    photo(6).save(root / "street.jpg", quality=90)
    error = BoxMistake(id=7, kind=ErrorKind.FALSE_POSITIVE, type=ErrorType.BACKGROUND, image="street.jpg",
                       image_id=1, label="car", box=[200.0, 150.0, 120.0, 90.0], score=0.9, iou=None,
                       related_label=None, related_box=None, annotation_id=None)
    boxes = DrawnBoxes(kinds=[BoxKind.FALSE_POSITIVE], labels=["car"], xywh=[200.0, 150.0, 120.0, 90.0],
                       scores=[0.9])
    made = make_detection_assets(root, [error], {"street.jpg": boxes}, tmp_path / "docs")
    thumb, full = tmp_path / "docs" / made.thumbs[7], tmp_path / "docs" / made.full["street.jpg"]
    assert thumb.suffix == full.suffix == ".jpg" and magic(thumb).startswith(JPEG) and magic(full).startswith(JPEG)
    assert longest(thumb) == THUMB_SIZE and longest(full) == 640
    assert full.stat().st_size < FULL_VIEW_BOUND and thumb.stat().st_size < 15_000
    with Image.open(full) as image:  # the red box survives the compression
        edge = np.asarray(image.convert("RGB"))[150, 230:290].astype(int)
    assert (np.abs(edge - (220, 38, 38)).max(axis=1) < 60).mean() > 0.8


def test_a_tiny_image_full_view_is_enlarged_pixel_exact() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    full = draw_full(image, None)
    assert full.size == (384, 288)  # 64 * 6
    assert np.array_equal(np.asarray(full)[::6, ::6], np.asarray(image))
    assert draw_full(image.resize((160, 120)), None).size == (480, 360)  # 3 * 160 >= 384
    assert draw_full(photo(0, (300, 200)), None).size == (300, 200)  # larger than a thumbnail: as it is
    assert draw_full(photo(0, (2048, 1536)), None).size == (1024, 768)


# --------------------------------------------------------------------------------- the budget, on the pages

def test_the_cap_holds_and_the_gallery_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pictured, "PICTURE_IMAGES", 5)
    manifest = write_task(tmp_path / "inputs", ["cat", "dog"], n_images=60)
    result = run("build", manifest, "-o", tmp_path / "out", "--no-overview")
    assert result.exit_code == 0, result.output
    site = tmp_path / "out" / "task"
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    errors = report["errors"]
    by_label = {label: [e for e in errors if e["true"] == label] for label in ("cat", "dog")}
    assert all(len(v) >= 4 for v in by_label.values())  # enough errors that a budget of 5 binds
    assert len(list((site / "full").iterdir())) <= 5 and len(list((site / "thumbs").iterdir())) <= 5
    suspects = [e for e in errors if e["suspect"]]
    assert suspects == []  # so that the cap is 2 per label: 2 + 2 images, 3 + 3 would be 6
    assert not list(site.glob("errors/label-*-2.html"))  # one page per label
    for index, label in enumerate(("cat", "dog"), start=1):
        page = (site / "errors" / f"label-{index:03d}.html").read_text(encoding="utf-8")
        n = len(by_label[label])
        assert f"Shown: the first 2 of {n} errors of this label" in page
        assert "at most 2 per label" in page and 'href="../downloads/errors.csv"' in page
        shown = re.findall(r'<img src="../(thumbs/[0-9a-f]+\.(?:png|jpg))"', page)
        expected = [e["image"] for e in by_label[label][:2]]  # the first two in gallery order
        assert len(shown) == 2 and all(e in page for e in expected)
    index_page = (site / "errors" / "index.html").read_text(encoding="utf-8")
    assert "shows the first 2 errors of its label at most" in index_page
    with open(site / "downloads" / "errors.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == [e["image"] for e in errors]  # every error, gallery order
    assert list(rows[0]) == ["image", "true", "predicted", "score", "true_rank", "suspect"]
    ranks = {r["image"]: r["true_rank"] for r in report["images"]}
    for row, e in zip(rows, errors):
        assert (row["true"], row["predicted"], float(row["score"]), int(row["true_rank"])) == (
            e["true"], e["predicted"], e["confidence"], ranks[e["image"]])
        assert row["true"] != row["predicted"]
    assert "downloads/errors.csv" in (site / "data.html").read_text(encoding="utf-8")


def test_when_one_per_label_is_over_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pictured, "PICTURE_IMAGES", 1)
    manifest = write_task(tmp_path / "inputs", ["cat", "dog", "bird"], n_images=60)
    result = run("build", manifest, "-o", tmp_path / "out", "--no-overview")
    assert result.exit_code == 0, result.output
    site = tmp_path / "out" / "task"
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    counts = {label: sum(e["true"] == label for e in report["errors"]) for label in ("cat", "dog", "bird")}
    biggest = max(counts, key=lambda label: (counts[label], -list(counts).index(label)))
    assert len(list((site / "full").iterdir())) == 1
    for index, label in enumerate(("cat", "dog", "bird"), start=1):
        page = (site / "errors" / f"label-{index:03d}.html").read_text(encoding="utf-8")
        shown = 1 if label == biggest else 0
        assert f"Shown: the first {shown} of {counts[label]} errors of this label. This report has pictures for " \
               "at most 1 images" in page
        assert page.count('class="es-thumb"') == shown


def test_detection_gallery_cap_on_photographs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six 640x480 photographs with one found and four missed cars each (24 errors of one label); a budget of
    2 images: the gallery shows the first 8 (gallery order: by error id, the first two images), as JPEG."""
    monkeypatch.setattr(pictured, "PICTURE_IMAGES", 2)
    folder = tmp_path / "inputs"
    (folder / "images").mkdir(parents=True)
    images, results, annotations = [], [], []
    for i in range(6):
        photo(10 + i).save(folder / "images" / f"p{i}.jpg", quality=90)
        images.append({"id": i + 1, "file_name": f"p{i}.jpg", "width": 640, "height": 480})
        for k in range(5):
            annotations.append({"id": 5 * i + k + 1, "image_id": i + 1, "category_id": 1,
                                "bbox": [10 + 120 * k, 100, 100, 80], "area": 8000, "iscrowd": 0})
        results.append({"image_id": i + 1, "category_id": 1, "bbox": [10, 100, 100, 80], "score": 0.99})
    gt = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}
    (folder / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (folder / "pred.json").write_text(json.dumps(results), encoding="utf-8")
    (folder / "task.yaml").write_text("name: det\ntype: detection\nimages: images\n"
                                      "ground_truth: {format: coco, path: gt.json}\n"
                                      "predictions: {format: coco, path: pred.json}\nlanguage: en\n", encoding="utf-8")
    result = run("build", folder / "task.yaml", "-o", tmp_path / "out", "--no-overview")
    assert result.exit_code == 0, result.output
    site = tmp_path / "out" / "det"
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    errors = sorted(report["errors"], key=lambda e: e["id"])
    assert len(errors) == 24 and {e["kind"] for e in errors} == {"missed"}
    fulls, thumbs = sorted((site / "full").iterdir()), sorted((site / "thumbs").iterdir())
    assert len(fulls) == 2 and len(thumbs) == 8
    assert all(p.suffix == ".jpg" and magic(p).startswith(JPEG) for p in fulls + thumbs)
    assert all(longest(p) == 640 and p.stat().st_size < FULL_VIEW_BOUND for p in fulls)
    assert all(longest(p) <= THUMB_SIZE for p in thumbs)
    page = (site / "errors" / "label-001.html").read_text(encoding="utf-8")
    assert "Shown: the first 8 of 24 errors of this label" in page and "at most 8 per label" in page
    shown = [int(n) for n in re.findall(r'<img src="../thumbs/e(\d{6})\.jpg"', page)]
    assert shown == [e["id"] for e in errors[:8]] and {e["image"] for e in errors[:8]} == {"p0.jpg", "p1.jpg"}
    assert 'data-filter="kind" value="missed"' in page  # the filters stay
    with open(site / "downloads" / "errors.csv", encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 24
    total = sum(p.stat().st_size for p in fulls + thumbs)
    assert total < 2 * FULL_VIEW_BOUND + 8 * 15_000
    assert os.path.exists(site / "errors" / "suspects.html")
