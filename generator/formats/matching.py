"""Matching predictions to the ground truth: images (by id, by file name, or by file stem for YOLO) and
labels (by id or by name). The rules: evalsite.formats.detection ("Image matching", "Category matching")."""

from __future__ import annotations

import numpy as np

from evalsite.core.errors import InputError, Notice, listing
from evalsite.core.on_disk import rows_where
from evalsite.formats.columns import lookup, unknown_error
from evalsite.formats.misreads import check_category_shift, check_coverage, check_label_case, prefix_hint
from evalsite.formats.parsed import ParsedGroundTruth, ParsedPredictions


def path_stem(rel: str) -> str:
    """A relative POSIX path without its suffix."""
    slash, dot = rel.rfind("/"), rel.rfind(".")
    return rel[:dot] if dot > slash + 1 else rel


class StemIndex:
    """Find an image by the stem of a label file: the same relative path without suffix, else the bare
    stem when exactly one image has it."""

    def __init__(self, images: list[str]):
        self.by_path: dict[str, list[int]] = {}
        self.by_name: dict[str, list[int]] = {}
        for i, rel in enumerate(images):
            stem = path_stem(rel)
            self.by_path.setdefault(stem, []).append(i)
            self.by_name.setdefault(stem.rsplit("/", 1)[-1], []).append(i)

    def find(self, stem: str) -> tuple[int | None, list[int]]:
        """(index, []) when found; (None, candidates) when ambiguous; (None, []) when absent."""
        hits = self.by_path.get(stem) or self.by_name.get(stem.rsplit("/", 1)[-1]) or []
        if len(hits) == 1:
            return hits[0], []
        return None, hits


def match_images(truth: ParsedGroundTruth, pred: ParsedPredictions) -> tuple[np.ndarray, str]:
    """The ground-truth image index of every detection, and how it was found ("id" or "file name")."""
    n = len(pred.score)
    if pred.image_id is not None:
        index = lookup(truth.image_ids, pred.image_id)  # (on disk when the ids are: a block at a time)
        if truth.has_ids and not len(rows_where(index, lambda block: block < 0)):
            if pred.id_names is None or all(truth.images[int(index[i])] == pred.id_names.get(int(pred.image_id[i]))
                                            for i in np.unique(index, return_index=True)[1]):
                return index, "id"
        if pred.id_names is None:
            if not truth.has_ids:
                raise InputError(f"COCO results name images by id only, but {truth.fmt.upper()} ground truth "
                                 "has no image ids: add 'file_name' to each result, or give the predictions as "
                                 "JSONL keyed by file name", pred.file)
            unknown_error(index, pred.image_id, pred.locate, "image id(s) not in the ground truth")
        unique_ids, inverse = np.unique(pred.image_id, return_inverse=True)
        names = [pred.id_names.get(i) for i in unique_ids.tolist()]
        per_id = _match_names(truth, [name or "" for name in names])
        shown = [repr(name) if name else f"image id {i} (no file name)" for i, name in zip(unique_ids.tolist(), names)]
        index = per_id[inverse] if n else np.zeros(0, dtype=np.int64)
        bad = np.flatnonzero(index < 0)
        if len(bad):
            unknown = list(dict.fromkeys(shown[inverse[i]] for i in bad))
            listed = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            hint = prefix_hint(list(dict.fromkeys(names[inverse[i]] or "" for i in bad)), truth.images)
            raise InputError(f"{len(unknown)} image(s) not in the ground truth: {listed}"
                             + (f"; {hint}" if hint else ""), str(pred.file), f"first at {pred.locate(int(bad[0]))[1]}")
        return index, "file name"
    assert pred.image_key is not None and pred.image_names is not None and pred.image_records is not None
    if pred.by_stem:
        stems = StemIndex(truth.images)
        found = []
        for k, stem in enumerate(pred.image_names):
            hit, candidates = stems.find(stem)
            if hit is None and candidates:
                raise InputError(f"several ground-truth images match this file: "
                                 f"{listing([truth.images[c] for c in candidates])}", pred.image_records[k])
            found.append(-1 if hit is None else hit)
        per_image = np.array(found, dtype=np.int64)
    else:
        per_image = _match_names(truth, pred.image_names)
    bad = np.flatnonzero(per_image < 0)
    if len(bad):
        unknown = [pred.image_names[k] + (".txt" if pred.by_stem else "") for k in bad]
        first = pred.image_records[int(bad[0])]
        hint = "" if pred.by_stem else prefix_hint(unknown, truth.images)
        raise InputError(f"{len(unknown)} {'file(s) for ' if pred.by_stem else ''}image(s) not in the ground "
                         f"truth: {listing(unknown)}" + (f"; {hint}" if hint else ""), pred.file, f"first at {first}")
    index = per_image[pred.image_key] if n else np.zeros(0, dtype=np.int64)
    return index, "file name"


def _match_names(truth: ParsedGroundTruth, names: list[str]) -> np.ndarray:
    """Ground-truth image index of each file name, -1 where absent; a name two images share is an error."""
    by_name: dict[str, int] = {}
    shared: set[str] = set()
    for i, name in enumerate(truth.images):
        if by_name.setdefault(name, i) != i:
            shared.add(name)
    clash = [name for name in names if name in shared]
    if clash:
        ids = [int(truth.image_ids[i]) for i, name in enumerate(truth.images) if name == clash[0]]
        raise InputError(f"predictions are matched by file name, but {clash[0]!r} is the file name of several "
                         f"images (ids {', '.join(map(str, ids))})", truth.file)
    return np.array([by_name.get(name, -1) for name in names], dtype=np.int64)


def match_labels(truth: ParsedGroundTruth, pred: ParsedPredictions) -> tuple[np.ndarray, str]:
    """The label index of every detection, and how it was found ("id" or "name")."""
    n = len(pred.score)
    index_of = {name: i for i, name in enumerate(truth.labels)}
    lacks = "not in the declared labels" if truth.declared else "the ground truth lacks"
    if pred.category_id is not None:
        index = lookup(truth.label_ids, pred.category_id)
        if pred.category_id_names is None:
            unknown_error(index, pred.category_id, pred.locate, f"category id(s) {lacks}")
            return index, "id"
        used = np.unique(pred.category_id).tolist()
        missing = [i for i in used if i not in pred.category_id_names]
        if missing:
            first = int(np.flatnonzero(pred.category_id == missing[0])[0])
            raise InputError(f"category id(s) without a name in the predictions' categories: {listing(missing)}",
                             *pred.locate(first))
        same = (index >= 0).all() and all(
            truth.labels[int(index[i])] == pred.category_id_names[int(pred.category_id[i])]
            for i in np.unique(index, return_index=True)[1])
        if same:
            return index, "id"
        names = [pred.category_id_names[i] for i in used]
        per_id = np.array([index_of.get(name, -1) for name in names], dtype=np.int64)
        index = per_id[np.searchsorted(np.array(used, dtype=np.int64), pred.category_id)] if n else per_id[:0]
        unknown_error(index, [pred.category_id_names[int(c)] for c in pred.category_id], pred.locate,
                       f"label(s) {lacks}")
        return index, "name"
    assert pred.category_key is not None and pred.category_names is not None
    per_name = np.array([index_of.get(name, -1) for name in pred.category_names], dtype=np.int64)
    index = per_name[pred.category_key] if n else np.zeros(0, dtype=np.int64)
    unknown_error(index, [pred.category_names[k] for k in pred.category_key], pred.locate, f"label(s) {lacks}")
    return index, "name"


def misread_checks(truth: ParsedGroundTruth, pred: ParsedPredictions, dt_image: np.ndarray) -> None:
    """The checks against silent misreads (evalsite.formats.misreads) that need the images matched and the
    labels not yet: labels differing only by case or whitespace, category ids shifted by a constant."""
    names = pred.category_names or list((pred.category_id_names or {}).values())
    check_label_case(truth.labels, names, "ground truth", "predictions", pred.file)
    if pred.category_id is not None and pred.category_id_names is None and not pred.normalised:
        check_category_shift(truth.gt_image, truth.label_ids[truth.gt_label], truth.gt_box, dt_image,
                             pred.category_id, pred.box, truth.label_ids, pred.file)


def coverage_notices(truth_images: list[str], pred: ParsedPredictions) -> list[Notice]:
    """Ground-truth images without a line in JSONL predictions (one line per image): evalsite.formats.misreads."""
    if pred.fmt == "jsonl" and pred.image_names is not None:
        return check_coverage(truth_images, pred.image_names, pred.file, "taken as images without detections")
    return []
