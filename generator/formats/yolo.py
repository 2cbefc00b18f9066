"""YOLO: a folder of ``.txt`` label files ``class cx cy w h`` (normalised, plus ``classes.txt``) as ground
truth, ``class cx cy w h confidence`` as predictions (the rules: evalsite.formats.detection)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from evalsite.core.errors import InputError, Notice, listing
from evalsite.core.files import image_files
from evalsite.formats.columns import Locator, and_more, check_finite_boxes, format_box
from evalsite.formats.images import image_size
from evalsite.formats.mask_decoding import NO_MASKS
from evalsite.formats.matching import StemIndex
from evalsite.formats.parsed import ParsedGroundTruth, ParsedPredictions
from evalsite.formats.records import lines, read_labels_file, read_text


def _text_files(folder: Path) -> list[Path]:
    """The .txt files under `folder` (recursive), classes.txt excepted, sorted."""
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.lower().endswith(".txt") and name != "classes.txt":
                found.append(Path(current) / name)
    return sorted(found)


def _yolo_rows(file: Path, fields: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(values (k, fields) float64, line numbers (k,)) of the non-blank lines; every line `fields` wide."""
    rows, numbers = [], []
    for number, line in enumerate(lines(read_text(file)), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != fields:
            raise InputError(f"expected {fields} values ({what}), found {len(parts)}", file, f"line {number}")
        rows.append(parts)
        numbers.append(number)
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), fields)
    except ValueError:
        for parts, number in zip(rows, numbers):
            for part in parts:
                try:
                    float(part)
                except ValueError:
                    raise InputError(f"{part!r} is not a number", file, f"line {number}") from None
        raise
    return values, np.array(numbers, dtype=np.int64)


def _yolo_check(values: np.ndarray, locate: Locator, n_classes: int | None) -> None:
    """Class index a whole number (in range), coordinates finite and in [0, 1], confidence finite."""
    if not len(values):
        return
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(f"values must be finite numbers{and_more(len(bad))}", *locate(int(bad[0])))
    cls = values[:, 0]
    bad = np.flatnonzero((cls != np.floor(cls)) | (cls < 0) | (cls > 2 ** 53))
    if len(bad):
        raise InputError(f"class {cls[bad[0]]:g} is not a class index (a whole number from 0){and_more(len(bad))}",
                         *locate(int(bad[0])))
    if n_classes is not None:
        bad = np.flatnonzero(cls >= n_classes)
        if len(bad):
            raise InputError(f"class {int(cls[bad[0]])} is out of range: classes.txt names {n_classes} "
                             f"(0..{n_classes - 1}){and_more(len(bad))}", *locate(int(bad[0])))
    coords = values[:, 1:5]
    outside = ((coords < 0) | (coords > 1)).any(axis=1)
    if outside.any():
        bad = np.flatnonzero(outside)
        i = int(bad[0])
        raise InputError(f"coordinates {format_box(coords[i])} must be normalised to [0, 1]{and_more(len(bad))}",
                         *locate(i))


def yolo_boxes(values: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """cx cy w h in [0, 1] -> absolute xywh."""
    cx, cy, w, h = values[:, 1], values[:, 2], values[:, 3], values[:, 4]
    return np.column_stack([(cx - w / 2) * widths, (cy - h / 2) * heights, w * widths, h * heights])


def _classes_file(folder: Path, parent_too: bool) -> Path | None:
    for candidate in (folder / "classes.txt", folder.parent / "classes.txt")[: 2 if parent_too else 1]:
        if candidate.is_file():
            return candidate
    return None


def yolo_ground_truth(path: Path, images_root: Path, declared: list[str] | None,
                      labels_source: Path | None) -> ParsedGroundTruth:
    if not path.is_dir():
        raise InputError("expected a folder of YOLO .txt label files", path)
    classes = _classes_file(path, parent_too=True)
    if classes is not None:
        labels = read_labels_file(classes)
        if declared is not None and declared != labels:
            raise InputError(f"the declared labels differ from {classes} (YOLO class k is line k+1 of "
                             "classes.txt): give the same names in the same order, or leave labels out",
                             labels_source or classes)
    elif declared is not None:
        labels = list(declared)
    else:
        raise InputError("YOLO ground truth needs the class names: a classes.txt (line k+1 names class k) "
                         "in this folder or its parent, or labels in the manifest", path)
    root = images_root
    if not root.is_dir():
        raise InputError("images folder not found (YOLO labels need the images for their sizes)", root)
    all_images = image_files(root)
    index = StemIndex(all_images)
    label_files = _text_files(path)
    matched: dict[int, Path] = {}
    for file in label_files:
        stem = file.relative_to(path).as_posix()[:-4]
        hit, candidates = index.find(stem)
        if hit is None:
            if candidates:
                shown = listing([all_images[c] for c in candidates])
                raise InputError(f"several images match this label file: {shown}", file)
            raise InputError(f"no image for this label file under the images root {root} (looked for "
                             f"{stem}.* and {stem.rsplit('/', 1)[-1]}.*)", file)
        if hit in matched:
            raise InputError(f"image {all_images[hit]!r} also has the label file {matched[hit]}", file)
        matched[hit] = file
    if not matched:
        raise InputError("no YOLO .txt label files in this folder", path)
    folders = {all_images[i].rpartition("/")[0] for i in matched}
    background = [i for i, rel in enumerate(all_images) if i not in matched and rel.rpartition("/")[0] in folders]
    notices = []
    if background:
        notices.append(Notice("yolo_images_without_labels", str(path), None,
                              f"{len(background)} image(s) without a label file, counted as images without "
                              f"objects: {listing([all_images[i] for i in background])}"))
    chosen = sorted([*matched, *background], key=lambda i: all_images[i])
    images = [all_images[i] for i in chosen]
    widths = np.zeros(len(chosen), dtype=np.int64)
    heights = np.zeros(len(chosen), dtype=np.int64)
    parts, line_numbers, owners = [], [], []
    for k, i in enumerate(chosen):
        owner = matched.get(i)
        try:
            widths[k], heights[k] = image_size(root / images[k])
        except OSError as exc:
            raise InputError(f"cannot read the size of image {images[k]!r} ({exc}); YOLO coordinates need it",
                             owner or root / images[k]) from None
        if owner is not None:
            values, numbers = _yolo_rows(owner, 5, "class cx cy w h")
            _yolo_check(values, lambda j, f=owner, n=numbers: (str(f), f"line {n[j]}"), len(labels))
            parts.append(values)
            line_numbers.append(numbers)
            owners.append(np.full(len(values), k, dtype=np.int64))
    values = np.concatenate(parts) if parts else np.zeros((0, 5))
    gt_image = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    numbers = np.concatenate(line_numbers) if line_numbers else np.zeros(0, dtype=np.int64)
    owner_files = [str(matched.get(i)) for i in chosen]
    locate = lambda j: (owner_files[gt_image[j]], f"line {numbers[j]}")  # noqa: E731
    box = yolo_boxes(values, widths[gt_image], heights[gt_image])
    check_finite_boxes(box, locate)
    return ParsedGroundTruth(file=path, fmt="yolo", has_ids=False, image_ids=np.arange(len(chosen), dtype=np.int64),
                  images=images, widths=widths, heights=heights, labels=labels,
                  label_ids=np.arange(len(labels), dtype=np.int64), gt_image=gt_image,
                  gt_label=values[:, 0].astype(np.int64), gt_box=box, gt_area=None,
                  gt_crowd=np.zeros(len(values), dtype=bool), gt_difficult=np.zeros(len(values), dtype=bool),
                  gt_id=np.arange(1, len(values) + 1, dtype=np.int64), locate=locate,
                  declared=declared is not None, notices=notices)


def yolo_predictions(path: Path, segmentation: bool) -> ParsedPredictions:
    if segmentation:
        raise InputError(f"{NO_MASKS}: YOLO prediction files give boxes only; give COCO results or JSONL "
                         "with 'segmentation'", path)
    if not path.is_dir():
        raise InputError("expected a folder of YOLO .txt prediction files (class cx cy w h confidence)", path)
    classes = _classes_file(path, parent_too=False)
    names = read_labels_file(classes) if classes else None
    files = _text_files(path)
    parts, numbers, owners, stems, owner_files = [], [], [], [], []
    for k, file in enumerate(files):
        values, line_numbers = _yolo_rows(file, 6, "class cx cy w h confidence")
        _yolo_check(values, lambda j, f=file, n=line_numbers: (str(f), f"line {n[j]}"),
                    len(names) if names else None)
        parts.append(values)
        numbers.append(line_numbers)
        owners.append(np.full(len(values), k, dtype=np.int64))
        stems.append(file.relative_to(path).as_posix()[:-4])
        owner_files.append(str(file))
    values = np.concatenate(parts) if parts else np.zeros((0, 6))
    image_key = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    line_numbers = np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64)
    locate = lambda j: (owner_files[image_key[j]], f"line {line_numbers[j]}")  # noqa: E731
    notices = []
    if not files:
        notices.append(Notice("no_predictions", str(path), None, "the predictions folder has no .txt files"))
    return ParsedPredictions(file=path, fmt="yolo", box=values[:, :5], score=values[:, 5], locate=locate,
                        image_key=image_key, image_names=stems, by_stem=True,
                        image_records=[f"{stem}.txt" for stem in stems],
                        category_id=values[:, 0].astype(np.int64),
                        category_id_names=dict(enumerate(names)) if names else None, normalised=True,
                        notices=notices)
