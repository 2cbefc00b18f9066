"""Classification inputs (DESIGN.md §2).

Ground truth: CSV (`image,label`), JSONL (`{"image": ..., "label": ...}`) or class folders
(`<root>/<label>/<file>`). Predictions: a score per label, as CSV (`image,<label1>,<label2>,...`) or JSONL
(`{"image": ..., "scores": {"cat": 0.9, ...}}`), or a ranked list, JSONL
(`{"image": ..., "topk": [["cat", 0.91], ["dog", 0.05]]}`, best first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generator.errors import InputError, Notice
from generator.formats.records import (
    csv_rows, jsonl_records, normalise_image_path, parse_score, read_text,
)
from generator.manifest import TaskSpec

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
GROUND_TRUTH_FORMATS = ("csv", "jsonl", "folders")
PREDICTION_FORMATS = ("csv", "jsonl")
_SHOWN = 10  # how many names a notice lists before "and N more"


@dataclass
class ClassificationInputs:
    """Everything a classification evaluation needs, as arrays aligned on `images`.

    Exactly one of `scores` (n_images x n_labels, NaN where the model gave that label no score) and
    `topk_labels`/`topk_scores` (n_images x K, best first, -1 / NaN padding) is set.
    """

    labels: list[str]
    label_source: str  # "declared", "score columns" or "data"
    images: list[str]
    y_true: np.ndarray
    has_prediction: np.ndarray
    scores: np.ndarray | None = None
    topk_labels: np.ndarray | None = None
    topk_scores: np.ndarray | None = None
    labels_only_predicted: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _detect(spec_format: str | None, path: Path, allowed: tuple[str, ...], what: str) -> str:
    if spec_format is None:
        if path.is_dir():
            spec_format = "folders"
        else:
            spec_format = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(path.suffix.lower(), "")
        if not spec_format:
            raise InputError(f"cannot tell the {what} format from the file name; "
                             f"set format to one of {', '.join(allowed)}", path)
    if spec_format not in allowed:
        raise InputError(f"unknown {what} format {spec_format!r} for classification; "
                         f"expected one of {', '.join(allowed)}", path)
    return spec_format


def read_labels_file(path: Path) -> list[str]:
    labels: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            raise InputError(f"label {name!r} repeats line {seen[name]}", path, f"line {number}")
        seen[name] = number
        labels.append(name)
    if not labels:
        raise InputError("the labels file lists no labels", path)
    return labels


def _ground_truth(spec: TaskSpec) -> tuple[list[str], list[str], Path]:
    """(image paths, true labels, file) in file order; duplicates are an error."""
    path = spec.ground_truth.path
    fmt = _detect(spec.ground_truth.format, path, GROUND_TRUTH_FORMATS, "ground truth")
    images: list[str] = []
    labels: list[str] = []
    where: dict[str, str] = {}

    def add(raw_image: object, raw_label: object, record: str) -> None:
        image = normalise_image_path(raw_image, spec.images, path, record)
        if isinstance(raw_label, int) and not isinstance(raw_label, bool):
            raw_label = str(raw_label)
        if not isinstance(raw_label, str) or not raw_label.strip():
            raise InputError("missing label", path, record)
        if image in where:
            raise InputError(f"duplicate image {image!r} (first at {where[image]})", path, record)
        where[image] = record
        images.append(image)
        labels.append(raw_label.strip())

    if fmt == "csv":
        header, rows = csv_rows(path)
        if [h.lower() for h in header] != ["image", "label"]:
            raise InputError(f"expected the header 'image,label', found {','.join(header)!r}", path, "line 1")
        for number, (image, label) in rows:
            add(image, label, f"line {number}")
    elif fmt == "jsonl":
        for number, record in jsonl_records(path):
            add(record.get("image"), record.get("label"), f"line {number}")
    else:  # class folders: <root>/<label>/<file>, images relative to the images root
        if not path.is_dir():
            raise InputError("expected a folder of class folders", path)
        root = spec.images.resolve()
        for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for file in sorted(folder.rglob("*")):
                if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                    try:
                        rel = file.resolve().relative_to(root).as_posix()
                    except ValueError:
                        raise InputError(f"image {file} is outside the images root {root}", path) from None
                    add(rel, folder.name, f"folder {folder.name!r}")
    if not images:
        raise InputError("empty evaluation set: the ground truth lists no images", path)
    return images, labels, path


def _predictions(spec: TaskSpec) -> tuple[str, dict[str, object], list[str], Path]:
    """Predictions keyed by image path: a {label: score} dict per image, or a ranked [(label, score)] list.

    Returns (kind, by_image, score columns in file order, file).
    """
    path = spec.predictions.path
    fmt = _detect(spec.predictions.format, path, PREDICTION_FORMATS, "predictions")
    by_image: dict[str, object] = {}
    where: dict[str, str] = {}
    columns: list[str] = []
    kind = "scores"

    def claim(raw_image: object, record: str) -> str:
        image = normalise_image_path(raw_image, spec.images, path, record)
        if image in where:
            raise InputError(f"duplicate prediction for image {image!r} (first at {where[image]})", path, record)
        where[image] = record
        return image

    if fmt == "csv":
        header, rows = csv_rows(path)
        if header[0].lower() != "image" or len(header) < 2:
            raise InputError("expected the header 'image,<label1>,<label2>,...' (a score per label)",
                             path, "line 1")
        columns = header[1:]
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes or not all(columns):
            problem = f"repeated label column(s) {_listing(dupes)}" if dupes else "empty label column name"
            raise InputError(problem, path, "line 1")
        for number, row in rows:
            record = f"line {number}"
            image = claim(row[0], record)
            by_image[image] = {label: parse_score(cell, path, record, f"column {label!r}")
                               for label, cell in zip(columns, row[1:])}
        return kind, by_image, columns, path

    kinds: set[str] = set()
    for number, record in jsonl_records(path):
        line = f"line {number}"
        if "scores" in record and isinstance(record["scores"], dict):
            kinds.add("scores")
            scores = {str(label): parse_score(value, path, line, f"score of {label!r}")
                      for label, value in record["scores"].items()}
            for label in scores:
                if label not in columns:
                    columns.append(label)
            by_image[claim(record.get("image"), line)] = scores
        elif "topk" in record and isinstance(record["topk"], list):
            kinds.add("topk")
            ranked: list[tuple[str, float]] = []
            for i, entry in enumerate(record["topk"]):
                if (not isinstance(entry, (list, tuple)) or len(entry) != 2
                        or not isinstance(entry[0], (str, int)) or isinstance(entry[0], bool)):
                    raise InputError(f"topk entry {i + 1} must be [label, score]", path, line)
                ranked.append((str(entry[0]), parse_score(entry[1], path, line, f"topk entry {i + 1}")))
            names = [name for name, _ in ranked]
            if len(set(names)) != len(names):
                raise InputError("a label appears twice in the topk list", path, line)
            by_image[claim(record.get("image"), line)] = ranked
        else:
            raise InputError("expected 'scores' (an object label -> score) or 'topk' (a list of "
                             "[label, score], best first)", path, line)
        if len(kinds) > 1:
            raise InputError("mixes 'scores' and 'topk' lines; use one kind per file", path, line)
    kind = kinds.pop() if kinds else "scores"
    return kind, by_image, columns, path


def read_classification(spec: TaskSpec) -> ClassificationInputs:
    images, true_names, gt_path = _ground_truth(spec)
    kind, predictions, columns, pred_path = _predictions(spec)
    notices: list[Notice] = []

    # Predictions for images without ground truth are ignored, and said so.
    known = set(images)
    extra = [image for image in predictions if image not in known]
    if extra:
        notices.append(Notice("prediction_without_ground_truth", str(pred_path),
                              detail=f"{len(extra)} image(s) ignored: {_listing(extra)}"))
    missing = [image for image in images if image not in predictions]
    if missing:
        notices.append(Notice("ground_truth_without_prediction", str(pred_path),
                              detail=f"{len(missing)} image(s) counted as wrong: {_listing(missing)}"))

    predicted_names: list[str] = []
    for image in images:
        pred = predictions.get(image)
        if isinstance(pred, dict):
            predicted_names.extend(pred)
        elif isinstance(pred, list):
            predicted_names.extend(name for name, _ in pred)

    # Label order decides score ties (first in label order wins), so it is fixed here, once.
    declared = spec.labels or (read_labels_file(spec.labels_file) if spec.labels_file else None)
    if declared is not None:
        if len(set(declared)) != len(declared):
            raise InputError("the labels list repeats a name", spec.source or spec.labels_file)
        allowed = set(declared)
        unknown_true = sorted({name for name in true_names if name not in allowed})
        if unknown_true:
            raise InputError(f"label(s) not in the declared labels: {_listing(unknown_true)}", gt_path)
        unknown_pred = sorted({name for name in [*columns, *predicted_names] if name not in allowed})
        if unknown_pred:
            raise InputError(f"predicted label(s) not in the declared labels: {_listing(unknown_pred)}",
                             pred_path)
        labels, source = list(declared), "declared"
    elif kind == "scores" and columns:
        labels = list(columns) + sorted(set(true_names) - set(columns))
        source = "score columns"
    else:
        labels, source = sorted(set(true_names) | set(predicted_names)), "data"

    index = {name: i for i, name in enumerate(labels)}
    n = len(images)
    y_true = np.array([index[name] for name in true_names], dtype=np.int64)
    has_prediction = np.array([image in predictions for image in images], dtype=bool)
    only_predicted = sorted(set(predicted_names) - set(true_names), key=index.__getitem__)
    result = ClassificationInputs(labels=labels, label_source=source, images=images, y_true=y_true,
                                  has_prediction=has_prediction, labels_only_predicted=only_predicted,
                                  notices=notices)
    if kind == "scores":
        scores = np.full((n, len(labels)), np.nan)
        for row, image in enumerate(images):
            for name, value in (predictions.get(image) or {}).items():  # type: ignore[union-attr]
                scores[row, index[name]] = value
        result.scores = scores
    else:
        width = max((len(predictions.get(image) or ()) for image in images), default=0)
        width = max(width, 1)
        topk_labels = np.full((n, width), -1, dtype=np.int64)
        topk_scores = np.full((n, width), np.nan)
        for row, image in enumerate(images):
            for col, (name, value) in enumerate(predictions.get(image) or ()):  # type: ignore[misc]
                topk_labels[row, col] = index[name]
                topk_scores[row, col] = value
        result.topk_labels, result.topk_scores = topk_labels, topk_scores
    return result
