"""YOLO: a folder of ``.txt`` label files ``class cx cy w h`` (normalised, plus ``classes.txt``) as ground
truth, ``class cx cy w h confidence`` as predictions (the rules: evalsite.formats.detection).

YOLO-seg rows ``class x1 y1 x2 y2 ... xn yn`` (normalised polygon, n >= 3; predictions end with the
confidence, as Ultralytics' ``save_txt save_conf`` writes them) are read as polygons: masks in a
segmentation task. In a detection task, ground-truth polygons become their bounding box, as Ultralytics
does when it trains or validates a detector on segmentation labels (segments2boxes), with
``Notice("yolo_polygons_as_boxes")``; predicted polygons are an error there (a segmentation model's box is
not its polygon's bounding box). A file mixing box rows and polygon rows is an error (Ultralytics would
read every row of it as a polygon)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from evalsite.core.errors import InputError, Notice, listing
from evalsite.core.files import image_files, inside
from evalsite.formats.columns import Locator, and_more, check_finite_boxes, format_box
from evalsite.formats.images import image_size
from evalsite.formats.mask_decoding import NO_MASKS
from evalsite.formats.matching import StemIndex
from evalsite.formats.parsed import ParsedGroundTruth, ParsedPredictions
from evalsite.formats.records import is_number, lines, read_labels_file, read_text


def _text_files(folder: Path) -> list[Path]:
    """The .txt files under `folder` (recursive), classes.txt excepted, sorted."""
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.lower().endswith(".txt") and name != "classes.txt":
                found.append(Path(current) / name)
    return sorted(found)


def label_rows(file: Path, predictions: bool) -> tuple[np.ndarray, list[np.ndarray] | None, np.ndarray]:
    """(values (k, 5) class cx cy w h, or (k, 6) with the confidence, for `predictions`; polygons: the
    normalised flat xy arrays of YOLO-seg rows (None when the file has box rows only); line numbers).
    A polygon row's cx cy w h are its bounding box."""
    extra = 1 if predictions else 0
    box_width = 5 + extra
    what = "class cx cy w h confidence" if predictions else "class cx cy w h"
    rows, numbers, kinds = [], [], set()
    for number, line in enumerate(lines(read_text(file)), start=1):
        parts = line.split()
        if not parts:
            continue
        n = len(parts)
        if n == box_width:
            kinds.add("box")
        elif n >= 7 + extra and (n - 1 - extra) % 2 == 0:
            kinds.add("polygon")
        else:
            hint = ""
            if not predictions and n == 6:
                hint = " (a prediction row with a confidence? give it as predictions)"
            elif predictions and n == 5:
                hint = " (no confidence: save the predictions with save_conf=True)"
            elif n > box_width:
                hint = (" (nor a YOLO-seg polygon: class x1 y1 ... xn yn"
                        f"{' confidence' if predictions else ''}, at least 3 points, x and y for each)")
            raise InputError(f"expected {box_width} values ({what}), found {n}{hint}", file, f"line {number}")
        if len(kinds) > 1:
            raise InputError("this file mixes box rows and polygon rows: Ultralytics reads every row of such a "
                             "file as a polygon; write all objects as boxes or all as polygons", file,
                             f"line {number}")
        rows.append(parts)
        numbers.append(number)
    line_numbers = np.array(numbers, dtype=np.int64)

    def floats(parts: list[str], number: int) -> np.ndarray:
        try:
            return np.array(parts, dtype=np.float64)
        except ValueError:
            bad = next(p for p in parts if not is_number(p))
            raise InputError(f"{bad!r} is not a number", file, f"line {number}") from None

    if kinds != {"polygon"}:
        if not rows:
            return np.zeros((0, box_width)), None, line_numbers
        values = np.array([floats(p, n) for p, n in zip(rows, numbers)]).reshape(len(rows), box_width)
        return values, None, line_numbers
    values = np.zeros((len(rows), box_width))
    polygons = []
    for k, (parts, number) in enumerate(zip(rows, numbers)):
        row = floats(parts, number)
        xy = row[1:len(row) - extra]
        values[k, 0] = row[0]
        if extra:
            values[k, 5] = row[-1]
        if np.isfinite(xy).all():
            x, y = xy[0::2], xy[1::2]
            values[k, 1:5] = [(x.min() + x.max()) / 2, (y.min() + y.max()) / 2, x.max() - x.min(), y.max() - y.min()]
            outside = ((xy < 0) | (xy > 1)).any()
        else:
            values[k, 1:5] = np.nan
            outside = False
        if outside:
            raise InputError("polygon coordinates must be normalised to [0, 1]", file, f"line {number}")
        polygons.append(xy)
    return values, polygons, line_numbers



def pixel_polygons(polygons: list[np.ndarray], widths: np.ndarray, heights: np.ndarray) -> list:
    """Normalised flat polygons -> COCO 'segmentation' values [[x1, y1, ...]] in pixels of their image."""
    out = []
    for xy, w, h in zip(polygons, widths.tolist(), heights.tolist()):
        scaled = xy.copy()
        scaled[0::2] *= w
        scaled[1::2] *= h
        out.append([scaled.tolist()])
    return out


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
                      labels_source: Path | None, segmentation: bool = False) -> ParsedGroundTruth:
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
    return yolo_objects(path, "yolo", root, [all_images[i] for i in chosen], [matched.get(i) for i in chosen],
                        labels, declared is not None, segmentation, notices)


def yolo_objects(source: Path, fmt: str, root: Path, images: list[str], label_files: list[Path | None],
                 labels: list[str], declared: bool, segmentation: bool, notices: list[Notice],
                 drop_duplicates: bool = False) -> ParsedGroundTruth:
    """The ground truth of `images` (relative to `root`, sized from their files) from their YOLO label files
    (None: an image without objects). `drop_duplicates` drops rows repeating an earlier row of the same file,
    as Ultralytics does (with a notice)."""
    widths = np.zeros(len(images), dtype=np.int64)
    heights = np.zeros(len(images), dtype=np.int64)
    parts, line_numbers, owners, polygons = [], [], [], []
    polygon_files, dropped = [], []
    for k, owner in enumerate(label_files):
        try:
            widths[k], heights[k] = image_size(inside(root, images[k]))
        except OSError as exc:
            raise InputError(f"cannot read the size of image {images[k]!r} ({exc}); YOLO coordinates need it",
                             owner or root / images[k]) from None
        if owner is None:
            continue
        values, file_polygons, numbers = label_rows(owner, predictions=False)
        if segmentation and file_polygons is None and len(values):
            raise InputError("segmentation task, but this label file has boxes (class cx cy w h), not YOLO-seg "
                             "polygons (class x1 y1 x2 y2 ...): give polygon labels, or set type: detection",
                             owner, f"line {numbers[0]}")
        if drop_duplicates and len(values):
            keys = [" ".join(map(repr, v)) + ("" if file_polygons is None else repr(file_polygons[j].tolist()))
                    for j, v in enumerate(values.tolist())]
            first = sorted({key: j for j, key in reversed(list(enumerate(keys)))}.values())
            if len(first) < len(values):
                dropped.append(f"{owner.name}: {len(values) - len(first)}")
                values, numbers = values[first], numbers[first]
                file_polygons = None if file_polygons is None else [file_polygons[j] for j in first]
        _yolo_check(values, lambda j, f=owner, n=numbers: (str(f), f"line {n[j]}"), len(labels))
        parts.append(values)
        line_numbers.append(numbers)
        owners.append(np.full(len(values), k, dtype=np.int64))
        if file_polygons is not None:
            polygons.extend(file_polygons)
            polygon_files.append(owner.name)
        else:
            polygons.extend([None] * len(values))
    if dropped:
        notices.append(Notice("yolo_duplicate_labels", str(source), None,
                              f"duplicate label rows dropped, as Ultralytics drops them: {listing(dropped)}"))
    values = np.concatenate(parts) if parts else np.zeros((0, 5))
    gt_image = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    numbers = np.concatenate(line_numbers) if line_numbers else np.zeros(0, dtype=np.int64)
    owner_files = [str(f) for f in label_files]
    locate = lambda j: (owner_files[gt_image[j]], f"line {numbers[j]}")  # noqa: E731
    box = yolo_boxes(values, widths[gt_image], heights[gt_image])
    check_finite_boxes(box, locate)
    segm = area_missing = None
    if segmentation:
        segm = pixel_polygons(polygons, widths[gt_image], heights[gt_image])
        area_missing = np.ones(len(values), dtype=bool)
    elif polygon_files:
        notices.append(Notice("yolo_polygons_as_boxes", str(source), None,
                              "YOLO-seg polygon labels read as their bounding boxes (a detection task), as "
                              f"Ultralytics does for a detector: {listing(polygon_files)}; set type: "
                              "segmentation to evaluate the masks"))
    return ParsedGroundTruth(file=source, fmt=fmt, has_ids=False, image_ids=np.arange(len(images), dtype=np.int64),
                  images=images, widths=widths, heights=heights, labels=labels,
                  label_ids=np.arange(len(labels), dtype=np.int64), gt_image=gt_image,
                  gt_label=values[:, 0].astype(np.int64), gt_box=box,
                  gt_area=np.zeros(len(values)) if segmentation else None,
                  gt_crowd=np.zeros(len(values), dtype=bool), gt_difficult=np.zeros(len(values), dtype=bool),
                  gt_id=np.arange(1, len(values) + 1, dtype=np.int64), locate=locate,
                  declared=declared, notices=notices, gt_segm=segm, gt_area_missing=area_missing)


def yolo_predictions(path: Path, segmentation: bool) -> ParsedPredictions:
    if not path.is_dir():
        raise InputError("expected a folder of YOLO .txt prediction files (class cx cy w h confidence)", path)
    classes = _classes_file(path, parent_too=False)
    names = read_labels_file(classes) if classes else None
    files = _text_files(path)
    parts, numbers, owners, stems, owner_files, polygons = [], [], [], [], [], []
    for k, file in enumerate(files):
        values, file_polygons, line_numbers = label_rows(file, predictions=True)
        if len(values) and (file_polygons is not None) != segmentation:
            if segmentation:
                raise InputError(f"{NO_MASKS}: these YOLO prediction rows are boxes (class cx cy w h confidence); "
                                 "save a segmentation model's predictions (polygons: save_txt=True "
                                 "save_conf=True), or give COCO results or JSONL with 'segmentation'", file,
                                 f"line {line_numbers[0]}")
            raise InputError("these are YOLO-seg polygon predictions (class x1 y1 ... xn yn confidence), but this "
                             "is a detection task: set type: segmentation, or give the model's boxes (e.g. "
                             "Ultralytics' predictions.json)", file, f"line {line_numbers[0]}")
        _yolo_check(values, lambda j, f=file, n=line_numbers: (str(f), f"line {n[j]}"),
                    len(names) if names else None)
        parts.append(values)
        numbers.append(line_numbers)
        owners.append(np.full(len(values), k, dtype=np.int64))
        stems.append(file.relative_to(path).as_posix()[:-4])
        owner_files.append(str(file))
        polygons.extend(file_polygons or [])
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
                        notices=notices, segm=polygons if segmentation else None,
                        box_missing=np.ones(len(values), dtype=bool) if segmentation else None)
