"""Many-label tasks for the memory tests (tests/test_build_memory.py), and their runner.

    python tests/many_labels.py KIND LABELS IMAGES FOLDER LIMIT_MB

writes a task of KIND (classification: a top-5 JSONL; detection: COCO files, about 31 objects per image)
with LABELS labels and IMAGES tiny images into FOLDER, then runs `evalsite build` on it in this process
under an address-space limit of LIMIT_MB (resource.setrlimit), and prints the peak resident memory. Exit
status: that of the build (a MemoryError is a traceback and exit 1).
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def write_classification(folder: Path, n_labels: int, n_images: int, seed: int = 0) -> Path:
    """Top-5 predictions (JSONL) over `n_labels` labels: the true label first for 60% of the images."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    labels = [f"class {c:05d}" for c in range(n_labels)]
    (folder / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    truth, lines = [], []
    for i in range(n_images):
        name = f"{i:05d}.jpg"
        Image.new("RGB", (32, 24), tuple(int(v) for v in rng.integers(0, 255, 3))).save(folder / "images" / name)
        true = int(rng.integers(n_labels))
        top = [int(v) for v in rng.choice(n_labels, 5, replace=False)]
        if rng.random() < 0.6:
            top = [true] + [t for t in top if t != true][:4]
        scores = sorted(rng.random(5).tolist(), reverse=True)
        truth.append(f"{name},{labels[true]}")
        lines.append(json.dumps({"image": name, "topk": [[labels[t], s] for t, s in zip(top, scores)]}))
    (folder / "gt.csv").write_text("image,label\n" + "\n".join(truth) + "\n", encoding="utf-8")
    (folder / "pred.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = folder / "task.yaml"
    manifest.write_text("name: many\ntype: classification\nimages: images\nlanguage: en\nlabels: labels.txt\n"
                        "ground_truth: {format: csv, path: gt.csv}\npredictions: {format: jsonl, path: pred.jsonl}\n",
                        encoding="utf-8")
    return manifest


def write_detection(folder: Path, n_labels: int, n_images: int, seed: int = 0) -> Path:
    """COCO ground truth (31 objects per 320x240 image, labels spread over all `n_labels`) and results:
    most objects found (some with another label), some missed, a few background predictions."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations, results = [], [], []
    for i in range(n_images):
        name = f"{i:05d}.jpg"
        Image.new("RGB", (320, 240), tuple(int(v) for v in rng.integers(0, 255, 3))).save(folder / "images" / name)
        images.append({"id": i + 1, "file_name": name, "width": 320, "height": 240})
        for k in range(31):
            x, y = float(10 * (k % 8) * 4), float(40 * (k // 8))
            box = [x, y, 30.0, 35.0]
            label = int(rng.integers(n_labels))
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": label + 1,
                                "bbox": box, "area": 30.0 * 35.0, "iscrowd": 0})
            fate = rng.random()
            if fate < 0.1:
                continue
            predicted = label if fate < 0.8 else int(rng.integers(n_labels))
            results.append({"image_id": i + 1, "category_id": predicted + 1, "bbox": [x + 1, y, 30.0, 35.0],
                            "score": round(float(rng.uniform(0.2, 1.0)), 4)})
        for _ in range(3):
            results.append({"image_id": i + 1, "category_id": int(rng.integers(n_labels)) + 1,
                            "bbox": [280.0, 200.0, 20.0, 20.0], "score": round(float(rng.uniform(0.05, 0.6)), 4)})
    categories = [{"id": c + 1, "name": f"thing {c:05d}"} for c in range(n_labels)]
    return write_coco_task(folder, "many", images, annotations, results, categories)


def write_coco_task(folder: Path, name: str, images: list, annotations: list, results: list,
                    categories: list) -> Path:
    """gt.json, pred.json and the manifest `task.yaml` (detection, images in `images/`) of a COCO task."""
    (folder / "gt.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                "categories": categories}), encoding="utf-8")
    (folder / "pred.json").write_text(json.dumps(results), encoding="utf-8")
    manifest = folder / "task.yaml"
    manifest.write_text(f"name: {name}\ntype: detection\nimages: images\nlanguage: en\n"
                        "ground_truth: {format: coco, path: gt.json}\npredictions: {format: coco, path: pred.json}\n",
                        encoding="utf-8")
    return manifest


def main() -> int:
    kind, n_labels, n_images, folder, limit_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        Path(sys.argv[4]), int(sys.argv[5])
    write = write_classification if kind == "classification" else write_detection
    manifest = write(folder / "inputs", n_labels, n_images)
    limit = limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from click.testing import CliRunner

    from evalsite.cli import main as evalsite

    result = CliRunner().invoke(evalsite, ["build", str(manifest), "-o", str(folder / "out"), "--quiet"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB; exit {result.exit_code}")
    if result.exit_code:
        print(result.output[-3000:])
        if result.exc_info and result.exc_info[0] is not SystemExit:
            import traceback

            traceback.print_exception(*result.exc_info)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
