"""Shared fixtures: small classification tasks written to a temporary folder."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_task(folder: Path, labels: list[str], n_images: int = 30, seed: int = 0, *,
               name: str = "task", language: str = "en", missing: int = 0, extra_yaml: str = "") -> Path:
    """A classification task with `n_images` PNGs, ground truth CSV and a score table; returns the manifest.

    The first `missing` images are listed in the ground truth but not written (missing files).
    """
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows, preds = [], []
    for i in range(n_images):
        image = f"img-{i:03d}.png"
        true = labels[i % len(labels)]
        if i >= missing:
            pixels = rng.integers(0, 255, size=(24, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "images" / image)
        scores = rng.random(len(labels))
        if rng.random() < 0.7:  # mostly right, so both correct and wrong images exist
            scores[labels.index(true)] += 1.0
        rows.append((image, true))
        preds.append((image, *[f"{s:.4f}" for s in scores]))
    with open(folder / "gt.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label"])
        writer.writerows(rows)
    with open(folder / "pred.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *labels])
        writer.writerows(preds)
    manifest = folder / "task.yaml"
    manifest.write_text(
        f"name: {name}\ntype: classification\nimages: images\n"
        "ground_truth: {format: csv, path: gt.csv}\npredictions: {format: csv, path: pred.csv}\n"
        f"language: {language}\n{extra_yaml}", encoding="utf-8")
    return manifest


@pytest.fixture
def task(tmp_path: Path) -> Path:
    return write_task(tmp_path / "inputs", ["cat", "dog", "bird"])


def evalsite_command() -> list[str]:
    """The installed `evalsite` script next to this Python (what users run), else the module."""
    script = Path(sys.executable).parent / "evalsite"
    return [str(script)] if script.exists() else [sys.executable, "-m", "evalsite"]


BROWSER_FIXTURES = {"browser", "chromium"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that opens a page in Chromium carries the `browser` marker (`pytest -m "not browser"` runs
    the rest), whether its file says so or it only asks for the browser fixture."""
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        message = "the browser tests need Debian's chromium: apt-get install chromium (.ci/run does this)"
        if os.environ.get("CI"):  # CI installs it: a missing browser there is a failure, never a quiet skip
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser(chromium: str):
    """One headless Debian chromium for all browser tests."""
    from browser import launch_browser

    with launch_browser() as b:
        yield b


def write_detection_task(folder: Path, *, name: str = "det", language: str = "en") -> Path:
    """Three 64x48 images, COCO ground truth (ids from 0) and COCO results with a hit, a miss, a false alarm."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(3):
        Image.new("RGB", (64, 48), (30 * i, 90, 160)).save(folder / "images" / f"im{i}.png")
        images.append({"id": i, "file_name": f"im{i}.png", "width": 64, "height": 48})
    annotations = [
        {"id": 0, "image_id": 0, "category_id": 0, "bbox": [4, 4, 20, 20], "area": 400, "iscrowd": 0},
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [30, 10, 16, 16], "area": 256, "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 0, "bbox": [10, 10, 12, 12], "area": 144, "iscrowd": 0},
    ]
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}]}
    results = [
        {"image_id": 0, "category_id": 0, "bbox": [5, 4, 20, 19], "score": 0.9},
        {"image_id": 1, "category_id": 0, "bbox": [2, 30, 10, 10], "score": 0.8},
        {"image_id": 2, "category_id": 0, "bbox": [11, 10, 12, 12], "score": 0.4},
    ]
    (folder / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (folder / "pred.json").write_text(json.dumps(results), encoding="utf-8")
    return _coco_manifest(folder, name, "detection", language)


def _coco_manifest(folder: Path, name: str, task_type: str, language: str) -> Path:
    manifest = folder / "task.yaml"
    manifest.write_text(f"name: {name}\ntype: {task_type}\nimages: images\n"
                        "ground_truth: {format: coco, path: gt.json}\npredictions: {format: coco, path: pred.json}\n"
                        f"language: {language}\n", encoding="utf-8")
    return manifest


def listing(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` with its bytes (to show that a failed build changed nothing)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def assert_one_line_error(result, expected: str) -> None:
    """Bad input: exit 2 and one line on stderr, "error: ..." with `expected` in it."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr


def write_segmentation_task(folder: Path, *, name: str = "seg", language: str = "en") -> Path:
    """Three 80x60 images, COCO ground truth with polygons and COCO results with compressed RLE masks: a
    hit (cat, im0), a box that is right around a wrong mask (dog, im1: "mask quality" both ways), a false
    alarm on the background and a missed cat (im2). Numbers worked out in tests/test_cli_segmentation.py."""
    from evalsite.core.masks import rle_encode, rle_to_string

    (folder / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(3):
        Image.new("RGB", (80, 60), (40 * i, 120, 170)).save(folder / "images" / f"im{i}.png")
        images.append({"id": i + 1, "file_name": f"im{i}.png", "width": 80, "height": 60})
    square = [10, 10, 40, 10, 40, 40, 10, 40]
    ell = [10, 10, 40, 10, 40, 14, 14, 14, 14, 40, 10, 40]  # an L along two sides of the same box
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 0,
         "segmentation": [square]},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 10, 30, 30], "area": 224, "iscrowd": 0,
         "segmentation": [ell]},
        {"id": 3, "image_id": 3, "category_id": 1, "bbox": [50, 30, 20, 20], "area": 400, "iscrowd": 0,
         "segmentation": [[50, 30, 70, 30, 70, 50, 50, 50]]},
    ]

    def rle(x0: int, y0: int, x1: int, y1: int) -> dict:
        mask = np.zeros((60, 80), dtype=np.uint8)
        mask[y0:y1, x0:x1] = 1
        return {"size": [60, 80], "counts": rle_to_string(rle_encode(mask))}

    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    results = [
        {"image_id": 1, "category_id": 1, "segmentation": rle(10, 10, 40, 40), "score": 0.9},
        {"image_id": 2, "category_id": 2, "segmentation": rle(10, 10, 40, 40), "score": 0.95},
        {"image_id": 3, "category_id": 1, "segmentation": rle(5, 5, 20, 20), "score": 0.92},
    ]
    (folder / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (folder / "pred.json").write_text(json.dumps(results), encoding="utf-8")
    return _coco_manifest(folder, name, "segmentation", language)


def write_shapes_pair(root: Path, language: str = "en", n_eval: int = 16) -> list[Path]:
    """Two detection tasks on the same demo scenes: a weak model (few training scenes) and a stronger one,
    as shapes-weak / shapes-strong (models "weak", "strong"); their manifests."""
    from evalsite.demo.detection import write_detection_inputs

    manifests = []
    for model, n_train in (("weak", 20), ("strong", 80)):
        m = write_detection_inputs(root / f"in-{model}", language, n_train=n_train, n_eval=n_eval)
        m.write_text(m.read_text(encoding="utf-8").replace("name: shapes\n", f"name: shapes-{model}\nmodel: {model}\n"),
                     encoding="utf-8")
        manifests.append(m)
    return manifests


def build_shapes_site(root: Path, language: str) -> Path:
    """The detection demo task at test size (80 training scenes, 40 evaluated), built; its site folder."""
    from click.testing import CliRunner

    from evalsite.cli import main
    from evalsite.demo.detection import write_detection_inputs

    manifest = write_detection_inputs(root / "inputs", language, n_train=80, n_eval=40)
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(root / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    return root / "out" / "shapes"


@pytest.fixture(scope="module")
def det_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the detection task of write_detection_task and its site built in out/det/."""
    from click.testing import CliRunner

    from evalsite.cli import main

    folder = tmp_path_factory.mktemp("det")
    manifest = write_detection_task(folder)
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(folder / "out"), "--quiet", "--no-overview"])
    assert result.exit_code == 0, result.output
    return folder
