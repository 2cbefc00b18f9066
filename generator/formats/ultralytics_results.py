"""Ultralytics' ``predictions.json`` (``yolo val save_json=True``), and the check that catches category ids
shifted against the ground truth.

How Ultralytics writes the file (ultralytics/models/yolo/detect/val.py ``pred_to_json``; segment/val.py adds
``segmentation``): a list of ``{"image_id", "file_name" (newer versions), "category_id", "bbox", "score"}``
with one entry per detection, none for an image without detections;

* ``image_id`` is the image's file stem, an int when the stem is numeric (``000000000139`` -> 139), else the
  stem as a string: predictions are matched to the ground-truth images by that stem (by ``file_name``, the
  image's base name, when given); two ground-truth images sharing a stem are an error;
* ``category_id`` is ``class_map[class index]``: COCO's 91 ids (coco80_to_coco91_class) when the data.yaml's
  ``val`` is COCO's ``val2017.txt`` / ``test-dev2017.txt``, else the class index + 1;
* ``bbox`` is [x, y, w, h] in pixels of the original image, top-left corner, rounded to 3 decimals; ``score``
  rounded to 5; for segmentation ``segmentation`` is a compressed RLE of the image's size.

The mapping (report.json ``task.category_mapping``: ``index+1``, ``coco91`` or ``exact``, the ids taken as
the ground truth's own) is the one Ultralytics used when the ground truth is its data.yaml, else the one the
data support; either way it is checked against the data: for the top-scored detections, how many overlap
(IoU >= 0.5) a ground-truth object of the label each mapping gives. A mapping clearly better supported than
the expected one is taken, with ``Notice("category_mapping_unexpected")``; when no detection overlaps
anything the expected mapping is kept with ``Notice("category_mapping_unconfirmed")``.

Other predictions matched to the labels by id whose ids fit the ground truth shifted by a constant
(Ultralytics' + 1 after a hand conversion, a 0-based / 1-based slip) are an error, never a quiet mAP near 0:
evalsite.formats.misreads.check_category_shift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evalsite.core.collector import gc_paused
from evalsite.core.errors import InputError, Notice, listing
from evalsite.formats.columns import (
    box_column,
    check_records,
    field_values,
    int_column,
    load_json,
    lookup,
    number_column,
    short_repr,
)
from evalsite.formats.mask_decoding import check_segm_present, placeholder_boxes
from evalsite.formats.parsed import ParsedGroundTruth, ParsedPredictions

# COCO's category ids of the 80 classes Ultralytics' COCO models predict, in class-index order
COCO91 = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
                   31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
                   56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
                   85, 86, 87, 88, 89, 90], dtype=np.int64)
MAPPINGS = ("index+1", "coco91", "exact")
_SAMPLE = 5000  # top-scored detections the mapping checks look at
_PEEK = 1 << 16


def looks_like_ultralytics_results(path: Path) -> bool:
    """A .json results list whose image ids are strings (file stems): Ultralytics' predictions.json of a
    dataset with non-numeric file names. (Numeric stems look like any COCO results list.)"""
    if not path.is_file() or path.suffix.lower() != ".json":
        return False
    with open(path, "rb") as handle:
        head = handle.read(_PEEK).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"["):
        return False
    compact = head.replace(b" ", b"")
    return b'"image_id":"' in compact


def _label_index(truth: ParsedGroundTruth, ids: np.ndarray, mapping: str) -> np.ndarray:
    """The ground-truth label index of each category id under `mapping`, -1 where it names none."""
    n = len(truth.labels)
    if mapping == "exact":
        return lookup(truth.label_ids, ids)
    if mapping == "index+1":
        return np.where((ids >= 1) & (ids <= n), ids - 1, -1).astype(np.int64)
    if n != len(COCO91):
        return np.full(len(ids), -1, dtype=np.int64)
    return lookup(COCO91, ids)  # COCO91 is ascending: the position is the class index


def agreement(truth: ParsedGroundTruth, dt_image: np.ndarray, dt_box: np.ndarray, dt_score: np.ndarray,
              options: dict[str, np.ndarray]) -> dict[str, int]:
    """For each option (a label index per detection, -1 for none): how many of the top-scored detections
    overlap (IoU >= 0.5) a ground-truth object of that label in their image."""
    top = np.argsort(-dt_score, kind="stable")[:_SAMPLE]
    order = np.argsort(truth.gt_image, kind="stable")
    gi = truth.gt_image[order]
    starts = np.searchsorted(gi, dt_image[top], side="left")
    counts = np.searchsorted(gi, dt_image[top], side="right") - starts
    total = int(counts.sum())
    det = np.repeat(top, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(starts, counts)
    gt = order[offsets] if total else np.zeros(0, dtype=np.int64)
    a, b = dt_box[det], truth.gt_box[gt]
    iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    good = inter >= 0.5 * np.where(union > 0, union, np.inf)
    gt_label = truth.gt_label[gt]
    return {name: len(np.unique(det[good & (gt_label == labels[det])])) for name, labels in options.items()}


def _match_stems(truth: ParsedGroundTruth, image_id: list, file_names: list, locate) -> np.ndarray:
    """The ground-truth image of each entry: by `file_name` (base name) when given, else by the stem
    (int when numeric, as pred_to_json writes it)."""
    by_key: dict[object, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for i, rel in enumerate(truth.images):
        name = rel.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
        by_key.setdefault(int(stem) if stem.isnumeric() else stem, []).append(i)
        by_name.setdefault(name, []).append(i)
    cache: dict[tuple, int] = {}
    found = np.empty(len(image_id), dtype=np.int64)
    unknown: list[str] = []
    first_unknown = -1
    for k, (iid, name) in enumerate(zip(image_id, file_names)):
        if isinstance(iid, bool) or not isinstance(iid, (int, str)):  # checked first: a list is no cache key
            raise InputError(f"'image_id' must be the image's file stem (a string, or an int for a numeric "
                             f"stem), found {short_repr(iid)}", *locate(k))
        key = (iid, name if isinstance(name, str) else None)
        hit = cache.get(key)
        if hit is None:
            hits = by_name.get(name, []) if isinstance(name, str) else by_key.get(iid, [])
            if len(hits) > 1:
                shown = listing([truth.images[h] for h in hits])
                raise InputError(f"image {iid!r} matches several ground-truth images ({shown}): Ultralytics' "
                                 "predictions.json names an image by its file stem alone", *locate(k))
            hit = cache[key] = hits[0] if hits else -1
            if hit < 0:
                unknown.append(repr(name if isinstance(name, str) else iid))
                first_unknown = k if first_unknown < 0 else first_unknown
        found[k] = hit
    if unknown:
        file, record = locate(first_unknown)
        raise InputError(f"{len(unknown)} image(s) not in the ground truth: {', '.join(unknown[:10])}"
                         f"{f' and {len(unknown) - 10} more' if len(unknown) > 10 else ''} (predictions of "
                         "another split or dataset?)", file, f"first at {record}")
    return found


def ultralytics_predictions(path: Path, truth: ParsedGroundTruth, expected: str | None,
                            segmentation: bool) -> ParsedPredictions:
    """Ultralytics' predictions.json against `truth`; `expected`: the mapping Ultralytics used (from the
    data.yaml), or None when the ground truth does not say."""
    with gc_paused():
        data = load_json(path)
        if not isinstance(data, list):
            raise InputError("Ultralytics' predictions.json is a list of {image_id, category_id, bbox, score}, "
                             f"found {type(data).__name__}", path)
        check_records(data, path, "results")
        file = str(path)
        locate = lambda i: (file, f"results entry {i + 1}")  # noqa: E731
        image_index = _match_stems(truth, field_values(data, "image_id"),
                                   [r.get("file_name") for r in data], locate)
        category_id = int_column(field_values(data, "category_id"), locate, "category_id")
        boxes = field_values(data, "bbox")
        segm = box_missing = None
        if segmentation:
            segm = field_values(data, "segmentation")
            check_segm_present(segm, path, locate)
            boxes, box_missing = placeholder_boxes(boxes)
        box = box_column(boxes, locate)
        score = number_column(field_values(data, "score"), locate, "score")
    mapping, notices = _choose_mapping(truth, path, category_id, image_index, box, score, expected, box_missing)
    label = _label_index(truth, category_id, mapping)
    if not data:
        notices.append(Notice("no_predictions", file, None, "the predictions file lists no detections"))
    return ParsedPredictions(file=path, fmt="ultralytics", box=box, score=score, locate=locate,
                             image_key=image_index, image_names=list(truth.images),
                             image_records=[f"image {name!r}" for name in truth.images],
                             category_id=truth.label_ids[np.maximum(label, 0)] if len(label) else category_id,
                             notices=notices, segm=segm, box_missing=box_missing, category_mapping=mapping)


_SAID = {"index+1": "class index + 1", "coco91": "COCO's 91 category ids", "exact": "the ground truth's own ids"}


def _choose_mapping(truth: ParsedGroundTruth, path: Path, ids: np.ndarray, image: np.ndarray, box: np.ndarray,
                    score: np.ndarray, expected: str | None, box_missing: np.ndarray | None) -> tuple[str, list]:
    default = expected or ("coco91" if len(truth.labels) == len(COCO91) and np.isin(ids, COCO91).all()
                           else "index+1")
    options = {m: _label_index(truth, ids, m) for m in MAPPINGS}
    valid = {m: labels for m, labels in options.items() if (labels >= 0).all()}
    if not valid:
        used = np.unique(ids).tolist()
        raise InputError(f"category ids {listing(used)} fit no mapping onto the {len(truth.labels)} ground-truth "
                         "labels (Ultralytics writes class index + 1, or COCO's 91 ids for COCO): predictions of "
                         "another model or dataset?", path)
    if len(valid) == 1 or not len(ids):
        chosen = default if default in valid else next(iter(valid))
        if expected is not None and chosen != expected:
            return chosen, [Notice("category_mapping_unexpected", str(path), None,
                                   f"category ids read as {_SAID[chosen]}, not {_SAID[expected]} as Ultralytics "
                                   f"would have written them for this data.yaml: only that fits the ids "
                                   f"{listing(np.unique(ids).tolist())}; check that these predictions belong "
                                   "to this dataset")]
        return chosen, []
    usable = np.ones(len(ids), dtype=bool) if box_missing is None else ~box_missing
    counts = agreement(truth, image[usable], box[usable], score[usable], {m: v[usable] for m, v in valid.items()})
    best = max(counts, key=lambda m: counts[m])
    base = default if default in valid else best
    shown = ", ".join(f"{_SAID[m]}: {counts[m]}" for m in counts)
    if counts[best] == 0:
        return base, [Notice("category_mapping_unconfirmed", str(path), None,
                             f"no top-scored detection overlaps a ground-truth object under any category "
                             f"mapping; taken as {_SAID[base]} (Ultralytics' rule)")]
    if best != base and counts[best] > 2 * counts[base] and counts[best] - counts[base] >= 5:
        return best, [Notice("category_mapping_unexpected", str(path), None,
                             f"category ids read as {_SAID[best]}, not {_SAID[base]} as Ultralytics would have "
                             f"written them: detections overlapping an object of their label ({shown}); check "
                             "that these predictions belong to this dataset")]
    return base, []



def shift_hint(error: InputError, truth: ParsedGroundTruth, pred: ParsedPredictions) -> InputError:
    """`error` (unknown category ids), with a hint when every id minus one names a ground-truth category."""
    ids = pred.category_id
    if ids is None or pred.category_id_names is not None or not len(ids) or error.problem.endswith(")"):
        return error
    if not (lookup(truth.label_ids, ids - 1) >= 0).all():
        return error
    return InputError(f"{error.problem} (every id minus 1 is a ground-truth category id: Ultralytics' "
                      "predictions.json writes class index + 1; give it as {format: ultralytics, path: ...})",
                      error.file, error.record)
