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

from evalsite.core.errors import InputError, Notice
from evalsite.formats.records import (
    csv_rows, jsonl_records, lines, normalise_image_path, parse_score, read_text,
)
from evalsite.manifest import TaskSpec

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
    notices: list[Notice] = field(default_factory=list)


def listing(names: list[str]) -> str:
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
    for number, line in enumerate(lines(read_text(path)), start=1):
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


def _ground_truth(spec: TaskSpec) -> tuple[list[str], list[str], dict[str, str], Path, list[Notice]]:
    """(image paths, true labels, record of each image, file, notices) in file order; duplicates are an error."""
    path = spec.ground_truth.path
    fmt = _detect(spec.ground_truth.format, path, GROUND_TRUTH_FORMATS, "ground truth")
    images: list[str] = []
    labels: list[str] = []
    where: dict[str, str] = {}
    notices: list[Notice] = []

    def add(raw_image: object, raw_label: object, record: str) -> None:
        image = normalise_image_path(raw_image, spec.images, path, record)
        if isinstance(raw_label, int) and not isinstance(raw_label, bool):
            raw_label = str(raw_label)
        if raw_label is None or (isinstance(raw_label, str) and not raw_label.strip()):
            raise InputError("missing label", path, record)
        if not isinstance(raw_label, str):
            raise InputError(f"a label must be a name (a string), found {raw_label!r}", path, record)
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
        loose = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if loose:
            notices.append(Notice("images_outside_class_folders", str(path),
                                  detail=f"{len(loose)} image(s) not in a class folder, ignored: {listing(loose)}"))
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
    return images, labels, where, path, notices


def _predictions(spec: TaskSpec) -> tuple[str, dict[str, object], list[str], dict[str, str], Path]:
    """Predictions keyed by image path: a {label: score} dict per image, or a ranked [(label, score)] list.

    Returns (kind, by_image, score columns in file order, record of each image, file).
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
            problem = f"repeated label column(s) {listing(dupes)}" if dupes else "empty label column name"
            raise InputError(problem, path, "line 1")
        for number, row in rows:
            record = f"line {number}"
            image = claim(row[0], record)
            by_image[image] = {label: parse_score(cell, path, record, f"column {label!r}")
                               for label, cell in zip(columns, row[1:])}
        if not by_image:
            raise InputError("no predictions: the file has a header but no rows", path)
        return kind, by_image, columns, where, path

    kinds: set[str] = set()
    for number, record in jsonl_records(path):
        line = f"line {number}"
        if "scores" in record and "topk" in record:
            raise InputError("has both 'scores' and 'topk'; give one of them", path, line)
        if "scores" in record and isinstance(record["scores"], dict):
            kinds.add("scores")
            scores = {str(label): parse_score(value, path, line, f"score of {label!r}", text_allowed=False)
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
                ranked.append((str(entry[0]), parse_score(entry[1], path, line, f"topk entry {i + 1}",
                                                          text_allowed=False)))
            names = [name for name, _ in ranked]
            if len(set(names)) != len(names):
                raise InputError("a label appears twice in the topk list", path, line)
            by_image[claim(record.get("image"), line)] = ranked
        else:
            raise InputError("expected 'scores' (an object label -> score) or 'topk' (a list of "
                             "[label, score], best first)", path, line)
        if len(kinds) > 1:
            raise InputError("mixes 'scores' and 'topk' lines; use one kind per file", path, line)
    if not by_image:
        raise InputError("no predictions: the file has no records", path)
    kind = kinds.pop()
    return kind, by_image, columns, where, path


def _names(prediction: object) -> list[str]:
    """The labels one image's prediction names (score dict or ranked list)."""
    if isinstance(prediction, dict):
        return list(prediction)
    if isinstance(prediction, list):
        return [name for name, _ in prediction]
    return []


def read_classification(spec: TaskSpec) -> ClassificationInputs:
    images, true_names, gt_where, gt_path, notices = _ground_truth(spec)
    kind, predictions, columns, pred_where, pred_path = _predictions(spec)

    # Predictions for images without ground truth are ignored, and said so.
    known = set(images)
    extra = [image for image in predictions if image not in known]
    if extra:
        notices.append(Notice("prediction_without_ground_truth", str(pred_path),
                              detail=f"{len(extra)} image(s) ignored: {listing(extra)}"))
    missing = [image for image in images if image not in predictions]
    if missing:
        notices.append(Notice("ground_truth_without_prediction", str(pred_path),
                              detail=f"{len(missing)} image(s) counted as wrong: {listing(missing)}"))

    predicted_names = [name for image in images for name in _names(predictions.get(image))]

    # Label order decides score ties (first in label order wins), so it is fixed here, once.
    declared = spec.labels or (read_labels_file(spec.labels_file) if spec.labels_file else None)
    if declared is not None:
        if len(set(declared)) != len(declared):
            raise InputError("the labels list repeats a name", spec.source or spec.labels_file)
        allowed = set(declared)
        unknown_true = sorted({name for name in true_names if name not in allowed})
        if unknown_true:
            first = next(image for image, name in zip(images, true_names) if name not in allowed)
            raise InputError(f"label(s) not in the declared labels: {listing(unknown_true)}", gt_path,
                             f"first at {gt_where[first]}")
        unknown_pred = sorted({name for name in [*columns, *predicted_names] if name not in allowed})
        if unknown_pred:
            if _detect(spec.predictions.format, pred_path, PREDICTION_FORMATS, "predictions") == "csv":
                first_record = "line 1 (the header)"
            else:
                first_record = next(pred_where[image] for image, pred in predictions.items()
                                    if any(name not in allowed for name in _names(pred)))
            raise InputError(f"predicted label(s) not in the declared labels: {listing(unknown_pred)}",
                             pred_path, f"first at {first_record}")
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
    result = ClassificationInputs(labels=labels, label_source=source, images=images, y_true=y_true,
                                  has_prediction=has_prediction, notices=notices)
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
