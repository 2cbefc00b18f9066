"""Hostile inputs of issue 15 (items 4, 5, 8, 11 and "contained reads"): files read through a user path stay
inside their root (symbolic links resolved), a duplicate COCO file_name, absurd coordinates, a declared
image size that is not the file's, and `verify`'s unreadable images, images-folder message, pixel limit and
annotation_url format specs. Each test's docstring says what evalsite once did."""

from __future__ import annotations

import json
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from pycocotools.coco import COCO

from evalsite.cli import main
from evalsite.core.errors import InputError
from evalsite.core.files import inside
from evalsite.formats.images import MAX_PIXELS, OUTSIDE, inspect_image, inspect_images
from evalsite.render.thumbnails import asset_name

from conftest import edit_json, write_detection_task, write_segmentation_task, write_task

REPO = Path(__file__).resolve().parent.parent


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def secret_png(folder: Path) -> Path:
    """A picture outside every root the inputs name (another user's photo, say)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret.png"
    Image.new("RGB", (40, 30), (250, 10, 10)).save(path)
    return path


# ---------------------------------------------------------------------------------------------- the check

def test_inside_resolves_links_and_refuses_to_leave_the_root(tmp_path: Path) -> None:
    """The check once was lexical (a relative path without '..' was trusted): `inside` resolves first."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "sub" / "a.png")
    (root / "alias.png").symlink_to(root / "sub" / "a.png")  # a link inside the root: fine
    (root / "out.png").symlink_to(secret_png(tmp_path / "elsewhere"))
    (root / "etc").symlink_to("/etc", target_is_directory=True)
    assert inside(root, "alias.png") == (root / "sub" / "a.png").resolve()
    assert inside(root, "sub/a.png") == (root / "sub" / "a.png").resolve()
    for bad in ("out.png", "etc/passwd", "../elsewhere/secret.png", "/etc/passwd"):
        with pytest.raises(InputError) as caught:
            inside(root, bad)
        assert "leads outside its folder" in caught.value.problem
        assert caught.value.file == str(root / bad)  # root / "/etc/passwd" is "/etc/passwd"


def test_a_symlinked_folder_never_lets_etc_passwd_be_opened(tmp_path: Path, monkeypatch) -> None:
    """`images/sub -> /etc` with `sub/passwd` in the ground truth: /etc/passwd was opened by Pillow (and found
    "not an image"); now it is never opened, and the image is unreadable with the reason."""
    root = tmp_path / "images"
    root.mkdir()
    (root / "sub").symlink_to("/etc", target_is_directory=True)
    (root / "link.png").symlink_to(secret_png(tmp_path / "elsewhere"))
    opened: list[str] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(str(fp)) or real_open(fp, *a, **k))
    infos = inspect_images(root, ["sub/passwd", "link.png"])
    assert [(i.status, i.problem) for i in infos] == [("unreadable", OUTSIDE)] * 2
    assert opened == []


# -------------------------------------------------------------------------------- pictures never published

def test_outside_image_is_not_published_in_thumbs_or_full(tmp_path: Path) -> None:
    """An image symlink pointing outside the images root was published: its thumbnail and full view were in
    the site's thumbs/ and full/. Now it is unreadable (a notice naming it) and no picture of it exists."""
    manifest = write_task(tmp_path / "inputs", ["cat", "dog"], n_images=8)
    images = tmp_path / "inputs" / "images"
    (images / "img-003.png").unlink()
    (images / "img-003.png").symlink_to(secret_png(tmp_path / "private"))
    result = run("build", manifest, "-o", tmp_path / "out", "--no-overview")
    assert result.exit_code == 0, result.output
    assert "img-003.png" in result.output and "outside the images folder" in result.output
    site = tmp_path / "out" / "task"
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    notice = [n for n in report["notices"] if n["code"] == "image_unreadable"]
    assert len(notice) == 1 and notice[0]["file"].endswith("img-003.png")
    name = asset_name("img-003.png")
    assert not list(site.rglob(f"{name}*"))
    assert len(list((site / "thumbs").iterdir())) >= 1  # the other images are published
    red = [p for p in [*site.rglob("*.png"), *site.rglob("*.jpg")]
           if Image.open(p).convert("RGB").getpixel((0, 0)) == (250, 10, 10)]
    assert red == []


def test_detection_pictures_and_traits_skip_an_outside_image(tmp_path: Path) -> None:
    """Detection overlays (full views with boxes, error crops) and image traits opened the link's target."""
    from evalsite.core.enums import FALSE_POSITIVE_TYPES, ErrorKind
    from evalsite.formats.traits import read_traits
    from evalsite.render.overlays import make_detection_assets
    from evalsite.report.detection_model import BoxMistake

    root = tmp_path / "images"
    root.mkdir()
    Image.new("RGB", (64, 48), (0, 90, 0)).save(root / "in.png")
    (root / "out.png").symlink_to(secret_png(tmp_path / "private"))
    traits = read_traits(root, ["in.png", "out.png"])
    assert traits["in.png"] is not None and traits["out.png"] is None
    errors = [BoxMistake(id=k, kind=ErrorKind.FALSE_POSITIVE, type=FALSE_POSITIVE_TYPES[0], image=image,
                         image_id=k, label="cat", box=[1.0, 1.0, 10.0, 10.0], score=0.9, iou=None,
                         related_label=None, related_box=None, annotation_id=None)
              for k, image in enumerate(("in.png", "out.png"))]
    docs = tmp_path / "docs"
    made = make_detection_assets(root, errors, {}, docs)
    assert set(made.full) == {"in.png"} and set(made.thumbs) == {0}
    assert len(list((docs / "full").iterdir())) == 1 and len(list((docs / "thumbs").iterdir())) == 1


# ------------------------------------------------------------------------------- readers: errors, not reads

def test_png_mask_linking_outside_is_an_error(tmp_path: Path) -> None:
    """A mask PNG symlinked to a file outside the mask folder was read as a mask."""
    from evalsite.formats.png_masks import png_ground_truth

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    Image.new("RGB", (8, 6)).save(images / "a.jpg")
    outside = tmp_path / "elsewhere" / "m.png"
    outside.parent.mkdir()
    pixels = np.zeros((6, 8), dtype=np.uint8)
    pixels[1:4, 1:4] = 1
    Image.fromarray(pixels, "L").save(outside)
    (masks / "a.png").symlink_to(outside)
    (masks / "instances.csv").write_text("image,instance,label\na.png,1,cat\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        png_ground_truth(masks, images, None)
    assert caught.value.file == str(masks / "a.png") and "leads outside" in caught.value.problem


def test_yolo_image_size_through_an_outside_link_is_an_error(tmp_path: Path) -> None:
    """YOLO labels are sized from their image: the size was read from the link's target outside the root."""
    from evalsite.formats.yolo import yolo_objects

    root = tmp_path / "images"
    root.mkdir()
    (root / "a.png").symlink_to(secret_png(tmp_path / "private"))
    with pytest.raises(InputError) as caught:
        yolo_objects(root, "yolo", root, ["a.png"], [None], ["cat"], True, False, [])
    assert caught.value.file == str(root / "a.png") and "leads outside" in caught.value.problem


def test_class_folder_linking_outside_is_an_error(tmp_path: Path) -> None:
    """A class folder that is a link to a folder outside the images root: an error naming the file (it was
    one before, by its own check; now by the one shared check)."""
    from evalsite.formats.classification import read_classification

    root = tmp_path / "images"
    (root / "cat").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "cat" / "a.png")
    secret_png(tmp_path / "private")
    (root / "dog").symlink_to(tmp_path / "private", target_is_directory=True)
    preds = tmp_path / "pred.csv"
    preds.write_text("image,cat,dog\ncat/a.png,0.9,0.1\ndog/secret.png,0.2,0.8\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_classification(ground_truth=root, predictions=preds, images_root=root, gt_format="folders")
    assert "secret.png" in caught.value.one_line() and "leads outside" in caught.value.problem


# --------------------------------------------------------------------------------------------------- COCO

def test_duplicate_file_name_in_coco_ground_truth_is_an_error(tmp_path: Path) -> None:
    """Two COCO images with one file_name were accepted: both showed one full-view picture, so one image's
    error showed the other's boxes. pycocotools accepts the file (it never reads file_name): evalsite refuses
    it, naming both image ids."""
    manifest = write_detection_task(tmp_path)
    edit_json(tmp_path / "gt.json", lambda d: d["images"][2].update(file_name="./im0.png"))
    COCO(str(tmp_path / "gt.json"))  # the reference loads it without complaint
    result = run("evaluate", manifest, "-o", tmp_path / "report.json")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "image id 2" in line and "image id 0" in line and "'im0.png'" in line, line


def _polygon_task(tmp_path: Path, coordinate: float) -> Path:
    manifest = write_segmentation_task(tmp_path)
    square = [10, 10, 40, 10, 40, 40, 10, 40]
    edit_json(tmp_path / "gt.json", lambda d: d["annotations"][0].update(
        segmentation=[square, [50, 5, coordinate, 5, 70, 20]]))
    return manifest


def test_absurd_polygon_coordinate_is_an_error_naming_the_annotation(tmp_path: Path) -> None:
    """A polygon coordinate of 1e300 overflowed with only a RuntimeWarning and gave a quietly wrong area
    (pycocotools' rleFrPoly casts it to int: undefined). Now: an error naming file and annotation id, for
    anything beyond 1e7 pixels."""
    manifest = _polygon_task(tmp_path, 1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning either
        result = run("evaluate", manifest, "-o", tmp_path / "report.json")
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "gt.json" in line and "annotation id 1" in line and "1e+300" in line and "1e+07" in line, line
    manifest = _polygon_task(tmp_path / "ok", 9_999_999.0)  # within the bound: still read (and clipped)
    assert run("evaluate", manifest, "-o", tmp_path / "ok" / "report.json").exit_code == 0


def test_absurd_box_coordinate_is_an_error(tmp_path: Path) -> None:
    """A box width of 1e300 made w*h overflow to inf (a RuntimeWarning, NaN IoUs): now an error naming it."""
    manifest = write_detection_task(tmp_path)
    edit_json(tmp_path / "pred.json", lambda d: d[1].update(bbox=[2, 30, 1e300, 10]))
    result = run("evaluate", manifest, "-o", tmp_path / "report.json")
    assert result.exit_code == 2
    assert "pred.json" in result.stderr and "beyond 1e+07 pixels" in result.stderr


def test_declared_size_that_differs_from_the_image_is_a_notice(tmp_path: Path) -> None:
    """A COCO width/height that differs from the real image gave no notice. Now one names the image and both
    sizes; the metrics keep the declared size (pycocotools decodes masks at it). A size that matches the
    upright image (EXIF orientation) is not a difference."""
    manifest = write_detection_task(tmp_path)
    Image.new("RGB", (48, 64)).save(tmp_path / "images" / "im2.png")  # stored turned: not upright
    edit_json(tmp_path / "gt.json", lambda d: d["images"][1].update(width=640, height=480))
    result = run("evaluate", manifest, "-o", tmp_path / "report.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    found = [n for n in report["notices"] if n["code"] == "image_size_differs"]
    assert len(found) == 1, report["notices"]
    assert "2 image(s)" in found[0]["detail"]
    assert "im1.png (declared 640x480, file 64x48)" in found[0]["detail"]
    assert "im2.png (declared 64x48, file 48x64)" in found[0]["detail"]
    assert "image_size_differs" in result.output
    # an upright JPEG whose EXIF says "turn 90": declared as displayed, no notice
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (48, 64)).save(tmp_path / "images" / "im2.jpg", exif=exif)
    edit_json(tmp_path / "gt.json", lambda d: (d["images"][1].update(width=64, height=48),
                                               d["images"][2].update(file_name="im2.jpg")))
    assert run("evaluate", manifest, "-o", tmp_path / "report.json").exit_code == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert not [n for n in report["notices"] if n["code"] == "image_size_differs"]


# ------------------------------------------------------------------------------------- the pixel limit

def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A structurally valid 1-bit PNG of any size (Pillow's verify() checks chunks and CRCs, not pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_pixel_limit_is_pillows_and_the_docs_say_so(tmp_path: Path) -> None:
    """The docs said "> 200 Mpx" while the code's 200,000,000 never applied: Pillow's warning (89.5 Mpx),
    turned into an error by a thread-unsafe filter, refused some images and let others through, and leaked
    DecompressionBombWarning to stderr. Now one limit, Pillow's hard one (178,956,970 pixels), and no warning."""
    assert MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS == 178_956_970
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        infos = inspect_images(tmp_path, [_png_header_only(tmp_path / "big.png", 12_000, 12_000).name] * 8)
    assert {i.status for i in infos} == {"ok"}  # 144 Mpx: over Pillow's warning, under its limit
    huge = inspect_image(_png_header_only(tmp_path / "huge.png", 14_000, 14_000))
    assert huge.status == "unreadable" and "the limit is 178,956,970 pixels" in (huge.problem or "")
    for page in ("docs/reliability.md", "docs/report/errors.md"):
        text = (REPO / page).read_text(encoding="utf-8")
        assert "200 Mpx" not in text and "178,956,970" in text, page


# ------------------------------------------------------------------------------------------------- verify

def test_verify_counts_an_unreadable_image_as_an_error(det_site: Path, tmp_path: Path, monkeypatch) -> None:
    """An unreadable new image (corrupt, or a link leading outside) with a prediction line was counted ok."""
    monkeypatch.chdir(det_site)
    site = tmp_path / "out" / "det"
    shutil.copytree(det_site / "out" / "det", site)
    new = tmp_path / "new"
    new.mkdir()
    Image.new("RGB", (64, 48)).save(new / "good.png")
    (new / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (new / "link.png").symlink_to(secret_png(tmp_path / "private"))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"image": name, "predictions": []}) + "\n"
                             for name in ("good.png", "broken.png", "link.png")), encoding="utf-8")
    result = run("verify", site, "--images", new, "--predictions", preds, "-q")
    assert result.exit_code == 0, result.output
    data = json.loads((site / "verification.json").read_text(encoding="utf-8"))
    status = {r["image"]: (r["status"], r["problem"]) for r in data["results"]}
    assert status["good.png"] == ("ok", None)
    assert status["broken.png"][0] == "error" and status["broken.png"][1].startswith("unreadable image: corrupt")
    assert status["link.png"] == ("error", f"unreadable image: {OUTSIDE}")
    assert data["summary"]["ok"] == 1 and data["summary"]["error"] == 2
    red = [p for p in site.rglob("*.png") if Image.open(p).convert("RGB").getpixel((0, 0)) == (250, 10, 10)]
    assert red == []


def test_verify_missing_report_images_names_its_option(det_site: Path, tmp_path: Path, monkeypatch) -> None:
    """The error said "give --images DIR"; verify's option for the report's images is --report-images."""
    site = tmp_path / "out" / "det"
    shutil.copytree(det_site / "out" / "det", site)
    edit_json(site / "report.json", lambda d: d["task"].update(images_root="nowhere", images_path=None))
    monkeypatch.chdir(tmp_path)
    new = tmp_path / "new"
    new.mkdir()
    Image.new("RGB", (64, 48)).save(new / "good.png")
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"image": "good.png", "predictions": []}) + "\n", encoding="utf-8")
    result = run("verify", site, "--images", new, "--predictions", preds)
    assert result.exit_code == 2
    assert "give --report-images DIR" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------- annotation_url

@pytest.mark.parametrize("template", ["https://x.test/{image_id:05d}", "https://x.test/{file_name!r}"])
def test_annotation_url_format_spec_is_refused(tmp_path: Path, template: str) -> None:
    """A format spec in annotation_url ({image_id:05d}) was silently ignored (the link had the plain id)."""
    manifest = write_detection_task(tmp_path)
    manifest.write_text(manifest.read_text(encoding="utf-8") + f"annotation_url: '{template}'\n", encoding="utf-8")
    result = run("evaluate", manifest, "-o", tmp_path / "report.json")
    assert result.exit_code == 2
    assert "key 'annotation_url'" in result.stderr and "format spec" in result.stderr


# ------------------------------------------------------------------------------------- warnings under -q

def test_no_python_warning_leaks_under_quiet(tmp_path: Path) -> None:
    """A Chinese label in an English site on a machine without a CJK font: matplotlib's "UserWarning: Glyph
    29483 (...) missing from font(s) DejaVu Sans", with the source line, leaked to stderr under -q, twice.
    Now stderr has at most evalsite's own one-line warning saying which characters and the fix."""
    import os
    import subprocess

    from conftest import evalsite_command

    manifest = write_task(tmp_path / "inputs", ["猫", "dog"], n_images=6)
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run([*evalsite_command(), "build", str(manifest), "-o", str(tmp_path / "out"), "-q",
                           "--no-overview"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert all(line.startswith("warning: ") for line in lines), done.stderr
    assert "Warning:" not in done.stderr and "Glyph" not in done.stderr
    assert all("charts: no installed font has the character(s) 猫" in line for line in lines), lines


def test_absurd_detection_score_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """A detection score of 1e308 (finite, so accepted) crashed the build with exit 1: the median of the
    true-positive scores overflowed to inf and the F1 chart's axis could not be laid out ("arange: cannot
    compute length"). Now any score beyond 1e15 is an error naming the record, in the readers and the API."""
    import evalsite

    manifest = write_detection_task(tmp_path)
    edit_json(tmp_path / "pred.json", lambda d: [p.update(score=1e308) for p in d])
    result = run("build", manifest, "-o", tmp_path / "out", "--no-overview")
    assert result.exit_code == 2
    assert "pred.json, results entry 1: score 1e+308 is beyond 1e+15" in result.stderr
    evaluator = evalsite.DetectionEvaluator(["cat"])
    with pytest.raises(InputError, match="beyond 1e15"):
        evaluator.update(["a.png"], [{"boxes": [[1, 1, 10, 10]], "labels": [0]}],
                         [{"boxes": [[1, 1, 10, 10]], "scores": [1e308], "labels": [0]}], sizes=[(20, 20)])


def test_huge_classification_scores_give_no_numpy_warning(tmp_path: Path) -> None:
    """Scores of +-1e308 (finite, accepted for classification: logits may be large) leaked "RuntimeWarning:
    overflow encountered in subtract" from the label-error ranking; now silenced (the order is unchanged)."""
    import csv

    manifest = write_task(tmp_path / "inputs", ["a", "b"], n_images=6)
    pred = tmp_path / "inputs" / "pred.csv"
    rows = list(csv.reader(pred.open(encoding="utf-8")))
    with pred.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(rows[0])
        writer.writerows([row[0], "1e308", "-1e308"] for row in rows[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run("evaluate", manifest, "-o", tmp_path / "report.json")
    assert result.exit_code == 0, result.output


def test_compare_never_draws_an_outside_image(tmp_path: Path) -> None:
    """`compare` drew each changed detection image from `--images` without a check: a link there leading
    outside was opened and published in pics/."""
    manifests = []
    for name in ("det-a", "det-b"):  # det-b finds the dog of im1 that det-a misses
        manifest = write_detection_task(tmp_path / name, name=name)
        if name == "det-b":
            edit_json(tmp_path / name / "pred.json", lambda d: d.append(
                {"image_id": 1, "category_id": 1, "bbox": [30, 10, 16, 16], "score": 0.95}))
        manifest.write_text(manifest.read_text(encoding="utf-8") + "group: g\n", encoding="utf-8")
        manifests.append(manifest)
    assert run("build", *manifests, "-o", tmp_path / "out", "-q", "--no-overview").exit_code == 0
    images = tmp_path / "images"
    shutil.copytree(tmp_path / "det-a" / "images", images)
    for png in images.glob("*.png"):
        png.unlink()
        png.symlink_to(secret_png(tmp_path / "private"))
    result = run("compare", tmp_path / "out" / "det-a", tmp_path / "out" / "det-b", "-o", tmp_path / "out",
                 "--name", "cmp", "-q", "--no-overview", "--images", images)
    assert result.exit_code == 0, result.output
    c = json.loads((tmp_path / "out" / "cmp" / "compare.json").read_text(encoding="utf-8"))
    assert c["fixed"] or c["broken"]
    red = [p for p in (tmp_path / "out" / "cmp").rglob("*.png")
           if Image.open(p).convert("RGB").getpixel((0, 0)) == (250, 10, 10)]
    assert red == []


def test_api_sizes_that_differ_from_the_files_are_a_notice(tmp_path: Path) -> None:
    """The Python API took `sizes=` that differ from the image files under images_root without a word."""
    import evalsite

    Image.new("RGB", (64, 48)).save(tmp_path / "a.png")
    evaluator = evalsite.DetectionEvaluator(["cat"], images_root=tmp_path)
    evaluator.update(["a.png"], [{"boxes": [[1, 1, 10, 10]], "labels": [0]}],
                     [{"boxes": [[1, 1, 10, 10]], "scores": [0.9], "labels": [0]}], sizes=[(480, 640)])
    report = evaluator.compute(intervals=False)
    found = [n for n in report.notices if n.code == "image_size_differs"]
    assert len(found) == 1 and "a.png (declared 640x480, file 64x48)" in found[0].detail
