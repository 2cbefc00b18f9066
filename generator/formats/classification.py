"""Classification inputs (docs/inputs.md).

Ground truth: CSV (`image,label`; also `path`/`filename`... and `target`, other columns ignored), JSONL
(`{"image": ..., "label": ...}`) or class folders (`<root>/<label>/<file>`). Predictions: a score per label, as
CSV (`image,<label1>,<label2>,...`, or per class index `image,logit_0,...`: evalsite.formats.score_csv) or JSONL
(`{"image": ..., "scores": {"cat": 0.9, ...}}`), or a ranked list, as CSV (`image,top1,...,score1,...`) or JSONL
(`{"image": ..., "topk": [["cat", 0.91], ["dog", 0.05]]}`, best first).

Class indices (index-named score columns, top-k cells, targets or ground-truth labels that are integers) are
mapped to names through the class list (evalsite.formats.class_list).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evalsite.core.classification_data import ClassificationInputs
from evalsite.core.errors import InputError, Notice, listing
from evalsite.core.files import IMAGE_SUFFIXES, inside, sniff_format
from evalsite.formats.class_list import Predictions, resolve_indices
from evalsite.formats.misreads import (
    case_hint,
    check_coverage,
    check_label_case,
    check_score_columns,
    prefix_hint,
)
from evalsite.formats.records import (
    csv_rows,
    jsonl_records,
    normalise_image_path,
    parse_score,
    read_labels_file,
)
from evalsite.formats.score_csv import IMAGE_COLUMNS, TARGET_COLUMNS, csv_layout
from evalsite.formats.split import split_keep

GROUND_TRUTH_FORMATS = ("csv", "jsonl", "folders")
PREDICTION_FORMATS = ("csv", "jsonl", "csv-scores", "csv-index", "csv-topk")  # csv-*: a forced CSV layout
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _format(given: str | None, path: Path, allowed: tuple[str, ...], what: str) -> str:
    return sniff_format(given, path, allowed, what=what, task="classification", by_suffix=_SUFFIXES,
                        folder="folders", told_from="file name", unknown_guess="unknown")


def _ground_truth(path: Path, fmt: str | None, images_root: Path,
                  ) -> tuple[list[str], list[str], dict[str, str], Path, list[Notice]]:
    """(image paths, true labels, record of each image, file, notices) in file order; duplicates are an error."""
    fmt = _format(fmt, path, GROUND_TRUTH_FORMATS, "ground truth")
    images: list[str] = []
    labels: list[str] = []
    where: dict[str, str] = {}
    notices: list[Notice] = []

    def add(raw_image: object, raw_label: object, record: str) -> None:
        image = normalise_image_path(raw_image, images_root, path, record)
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
        lower = [h.lower() for h in header]
        image_col = next((lower.index(n) for n in IMAGE_COLUMNS if n in lower), None)
        label_cols = [lower.index(n) for n in TARGET_COLUMNS if n in lower]
        if len(label_cols) > 1:
            raise InputError(f"more than one label column: {', '.join(header[i] for i in label_cols)}", path,
                             "line 1")
        label_col = label_cols[0] if label_cols else None
        if image_col is None or label_col is None:
            raise InputError(f"expected the header 'image,label', found {','.join(header)!r}", path, "line 1")
        for number, row in rows:
            add(row[image_col], row[label_col], f"line {number}")
    elif fmt == "jsonl":
        for number, record in jsonl_records(path):
            add(record.get("image"), record.get("label"), f"line {number}")
    else:  # class folders: <root>/<label>/<file>, images relative to the images root
        if not path.is_dir():
            raise InputError("expected a folder of class folders", path)
        root = images_root.resolve()
        loose = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if loose:
            notices.append(Notice("images_outside_class_folders", str(path),
                                  detail=f"{len(loose)} image(s) not in a class folder, ignored: {listing(loose)}"))
        for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for file in sorted(folder.rglob("*")):
                if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                    rel = inside(root, file).relative_to(root).as_posix()  # InputError naming the file
                    add(rel, folder.name, f"folder {folder.name!r}")
    if not images:
        raise InputError("empty evaluation set: the ground truth lists no images", path)
    return images, labels, where, path, notices


def _predictions(path: Path, fmt: str | None, images_root: Path) -> Predictions:
    """Predictions keyed by image path: a {label: score} dict per image (label: a name, or a class index for
    index-named columns), or a ranked [(label, score)] list (the CSV's label cells as written)."""
    fmt = _format(fmt, path, PREDICTION_FORMATS, "predictions")
    by_image: dict[str, object] = {}
    where: dict[str, str] = {}
    columns: list[str] = []

    def claim(raw_image: object, record: str) -> str:
        image = normalise_image_path(raw_image, images_root, path, record)
        if image in where:
            raise InputError(f"duplicate prediction for image {image!r} (first at {where[image]})", path, record)
        where[image] = record
        return image

    if fmt.startswith("csv"):
        header, rows = csv_rows(path)
        layout = csv_layout(header, path, fmt)
        targets: dict[str, tuple[str, str]] = {}
        for number, row in rows:
            record = f"line {number}"
            image = claim(row[layout.image], record)
            if layout.target is not None:
                targets[image] = (row[layout.target], record)
            if layout.kind in ("named", "indexed"):  # an array in column order (1000 classes x 50k images)
                by_image[image] = _score_row(row, layout.scores, header, path, record)
            else:
                ranked = []
                for label_col, score_col in zip(layout.rank_labels, layout.rank_scores):
                    if not row[label_col]:
                        if row[score_col]:
                            raise InputError(f"column {header[score_col]!r} has a score but "
                                             f"{header[label_col]!r} no label", path, record)
                        continue
                    ranked.append((row[label_col], parse_score(row[score_col], path, record,
                                                               f"column {header[score_col]!r}")))
                if len({name for name, _ in ranked}) != len(ranked):
                    raise InputError("a label appears twice in the top-k columns", path, record)
                by_image[image] = ranked
        if not by_image:
            raise InputError("no predictions: the file has a header but no rows", path)
        return Predictions("topk" if layout.kind == "topk" else "scores", by_image, layout.names, where, path,
                           fmt, layout=layout.kind, description=layout.description,
                           targets=targets if layout.target is not None else None,
                           indexed_classes=len(layout.scores) if layout.kind == "indexed" else 0)

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
    return Predictions(kinds.pop(), by_image, columns, where, path, fmt)


def _score_row(row: list[str], columns: list[int], header: list[str], path: Path, record: str) -> np.ndarray:
    """The scores of a CSV row's `columns` as float64; the first bad cell is an InputError (parse_score)."""
    try:
        values = np.array(list(map(float, map(row.__getitem__, columns))), dtype=np.float64)
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    for i in columns:
        parse_score(row[i], path, record, f"column {header[i]!r}")
    raise AssertionError("unreachable")


def _names(prediction: object) -> list[str]:
    """The labels one image's prediction names (score dict or ranked list; a score array: its columns)."""
    if isinstance(prediction, dict):
        return list(prediction)
    if isinstance(prediction, list):
        return [name for name, _ in prediction]
    return []


def read_classification(*, ground_truth: Path, predictions: Path, images_root: Path, gt_format: str | None = None,
                        pred_format: str | None = None, labels: list[str] | None = None,
                        labels_file: Path | None = None, manifest: Path | None = None,
                        split: Path | None = None) -> ClassificationInputs:
    """Ground truth and predictions of a classification task, aligned on the ground truth's images.

    ground_truth, predictions: the input files (or class folders); gt_format, pred_format: their formats
    (None: told from the path); images_root: the folder the image paths are relative to; labels (a list) or
    labels_file (one name a line): the declared labels, if any; manifest: the file that declares them
    inline, named in errors about them."""
    images, true_names, gt_where, gt_path, notices = _ground_truth(ground_truth, gt_format, images_root)
    preds = _predictions(predictions, pred_format, images_root)
    declared = labels or (read_labels_file(labels_file) if labels_file else None)
    if declared is not None and len(set(declared)) != len(declared):
        raise InputError("the labels list repeats a name", manifest or labels_file)
    true_names, classes = resolve_indices(preds, ground_truth, images, true_names, gt_where, declared, notices)
    notices.extend(preds.notices)
    kind, by_image, columns, pred_where, pred_path = preds.kind, preds.by_image, preds.columns, preds.where, preds.path

    # Predictions for images without ground truth are ignored, and said so.
    known = set(images)
    extra = [image for image in by_image if image not in known]
    if extra:
        notices.append(Notice("prediction_without_ground_truth", str(pred_path),
                              detail=f"{len(extra)} image(s) ignored: {listing(extra)}"))
        hint = prefix_hint(extra, images)
        if hint:
            notices[-1].detail += f"; {hint}"

    predicted_names = [name for image in images for name in _names(by_image.get(image))]

    # Label order decides score ties (first in label order wins), so it is fixed here, once.
    declared = classes.labels
    if declared is not None:
        allowed = set(declared)
        unknown_true = sorted({name for name in true_names if name not in allowed})
        if unknown_true:
            first = next(image for image, name in zip(images, true_names) if name not in allowed)
            hint = case_hint(declared, unknown_true)
            raise InputError(f"label(s) not in the declared labels: {listing(unknown_true)}"
                             + (f"; {hint}" if hint else ""), gt_path, f"first at {gt_where[first]}")
        unknown_pred = sorted({name for name in [*columns, *predicted_names] if name not in allowed})
        if unknown_pred:
            if preds.fmt.startswith("csv") and preds.layout != "topk":
                first_record = "line 1 (the header)"
            else:
                first_record = next(pred_where[image] for image, pred in by_image.items()
                                    if any(name not in allowed for name in _names(pred)))
            hint = case_hint(declared, unknown_pred)
            raise InputError(f"predicted label(s) not in the declared labels: {listing(unknown_pred)}"
                             + (f"; {hint}" if hint else ""), pred_path, f"first at {first_record}")
        labels, source = list(declared), classes.source or "declared"
    elif kind == "scores" and columns:
        labels = list(columns) + sorted(set(true_names) - set(columns))
        source = "score columns"
    else:
        labels, source = sorted(set(true_names) | set(predicted_names)), "data"

    # Checks against silent misreads (evalsite.formats.misreads), once nothing else is wrong.
    check_label_case(declared or true_names, [*columns, *predicted_names], "declared" if declared else "ground truth",
                     "predictions", pred_path)
    check_score_columns(true_names, columns if kind == "scores" else predicted_names, pred_path, kind)
    # a split (evalsite.formats.split, applied by the caller) keeps some images: only those need a record
    covered = images if split is None else [im for im, k in zip(images, split_keep(split, images)) if k]
    notices += check_coverage(covered, by_image, pred_path, "counted as wrong")

    index = {name: i for i, name in enumerate(labels)}
    n = len(images)
    y_true = np.array([index[name] for name in true_names], dtype=np.int64)
    has_prediction = np.array([image in by_image for image in images], dtype=bool)
    result = ClassificationInputs(labels=labels, label_source=source, images=images, y_true=y_true,
                                  has_prediction=has_prediction, notices=notices, class_list_file=classes.file,
                                  gt_format=_format(gt_format, ground_truth, GROUND_TRUTH_FORMATS, "ground truth"),
                                  pred_format=_format(pred_format, predictions, PREDICTION_FORMATS, "predictions"))
    if kind == "scores":
        scores = np.full((n, len(labels)), np.nan)
        positions = np.array([index[name] for name in columns], dtype=np.int64)
        for row, image in enumerate(images):
            prediction = by_image.get(image)
            if isinstance(prediction, np.ndarray):  # a CSV row, in column order
                scores[row, positions] = prediction
                continue
            for name, value in (prediction or {}).items():  # type: ignore[union-attr]
                scores[row, index[name]] = value
        result.scores = scores
    else:
        width = max((len(by_image.get(image) or ()) for image in images), default=0)
        width = max(width, 1)
        topk_labels = np.full((n, width), -1, dtype=np.int64)
        topk_scores = np.full((n, width), np.nan)
        for row, image in enumerate(images):
            for col, (name, value) in enumerate(by_image.get(image) or ()):  # type: ignore[misc]
                topk_labels[row, col] = index[name]
                topk_scores[row, col] = value
        result.topk_labels, result.topk_scores = topk_labels, topk_scores
    return result
