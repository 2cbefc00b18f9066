"""JSONL predictions: one line per image, ``{"image": "a/b.jpg", "predictions": [{"label": "cat", "score": 0.93,
"bbox": [x, y, w, h]}]}`` (the rules: evalsite.formats.detection)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evalsite.core.collector import gc_paused
from evalsite.core.errors import InputError, Notice
from evalsite.formats.columns import MISSING, box_column, number_column, short_repr
from evalsite.formats.mask_decoding import check_segm_present, placeholder_boxes
from evalsite.formats.parsed import ParsedPredictions
from evalsite.formats.records import jsonl_records, normalise_image_path


def jsonl_predictions(path: Path, images_root: Path, segmentation: bool) -> ParsedPredictions:
    with gc_paused():  # see evalsite.formats.coco.coco_predictions
        return _jsonl_prediction_columns(path, images_root, segmentation)


def _jsonl_prediction_columns(path: Path, images_root: Path, segmentation: bool) -> ParsedPredictions:
    file = str(path)
    image_names: list[str] = []
    where: dict[str, int] = {}
    det_line: list[int] = []
    det_number: list[int] = []
    det_image: list[int] = []
    labels: list[object] = []
    scores: list[object] = []
    boxes: list[object] = []
    segms: list[object] = []
    for number, record in jsonl_records(path):
        line = f"line {number}"
        image = normalise_image_path(record.get("image"), images_root, path, line)
        if image in where:
            raise InputError(f"duplicate line for image {image!r} (first at line {where[image]})", path, line)
        where[image] = number
        predictions = record.get("predictions", MISSING)
        if not isinstance(predictions, list):
            problem = ("missing 'predictions'" if predictions is MISSING else
                       f"'predictions' must be a list, found {short_repr(predictions)}")
            raise InputError(problem, path, line)
        for k, p in enumerate(predictions, start=1):
            if not isinstance(p, dict):
                raise InputError(f"each prediction must be an object, found {short_repr(p)}", path,
                                 f"{line}, prediction {k}")
        n = len(predictions)
        det_line += [number] * n
        det_number += range(1, n + 1)
        det_image += [len(image_names)] * n
        image_names.append(image)
        labels += [p.get("label", MISSING) for p in predictions]
        scores += [p.get("score", MISSING) for p in predictions]
        boxes += [p.get("bbox", MISSING) for p in predictions]
        segms += [p.get("segmentation", MISSING) for p in predictions]
    locate = lambda i: (file, f"line {det_line[i]}, prediction {det_number[i]}")  # noqa: E731
    codes: dict[str, int] = {}
    keys = []
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            problem = ("missing 'label'" if label is MISSING else
                       f"'label' must be a name (a string), found {short_repr(label)}")
            raise InputError(problem, *locate(i))
        keys.append(codes.setdefault(label.strip(), len(codes)))
    notices = []
    if not image_names:
        notices.append(Notice("no_predictions", file, None, "the predictions file has no lines"))
    segm = box_missing = None
    if segmentation:
        segm = segms
        check_segm_present(segm, path, locate)
        boxes, box_missing = placeholder_boxes(boxes)
    return ParsedPredictions(file=path, fmt="jsonl", box=box_column(boxes, locate), segm=segm, box_missing=box_missing,
                        score=number_column(scores, locate, "score"), locate=locate,
                        image_key=np.array(det_image, dtype=np.int64), image_names=image_names,
                        image_records=[f"line {where[name]}" for name in image_names],
                        category_key=np.array(keys, dtype=np.int64), category_names=list(codes),
                        notices=notices)
