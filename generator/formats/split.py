"""A split: the images of a task to evaluate, for every format (the manifest's ``split:``, ``--split``).

The split file lists one image a line; blank lines and lines starting with ``#`` are skipped, white space
around a line is dropped. A line names an image by its path (relative to the images root, or any path
ending in it: ``/data/coco/val2017/a.jpg`` or ``./images/val/a.jpg`` for ``val/a.jpg``), by that path
without its suffix (``val/a``), by its bare file name or stem when exactly one image has it (``a.jpg``,
``a``: the VOC devkit's image ids), or, for COCO ground truth, by its numeric image id. The VOC devkit's
per-class sets (``car_test.txt``: ``000001 -1``) are read too: their first column. Decisions:

* only the listed images are evaluated: the ground truth and the predictions of the other images are left
  out, with ``Notice("split_left_out")`` counting them (images, objects or rows, predictions);
* a line that names no ground-truth image is an error (as in the devkit, which cannot read the annotation
  of an unknown id), listing up to 10; so is a line that fits several images, and a split with no lines;
* a VOC dataset folder (``ground_truth:`` is ``VOC2007/`` or its ``Annotations/``, beside
  ``ImageSets/Main``) has image sets, so evaluating all of its annotations is most likely a mistake (the
  train images would count as missed): without a split it is an error listing the sets, unless the
  predictions are devkit results, whose file names name the set (``comp4_det_test_car.txt``: ``test``).
  ``split: test`` names ``ImageSets/Main/test.txt``; ``split: all`` evaluates every annotation.
* the split filters what the readers returned (`apply_split`), for classification and detection alike.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from evalsite.core.detection_data import DetectionData
from evalsite.core.errors import InputError, Notice, listing
from evalsite.formats.matching import path_stem
from evalsite.formats.records import lines, read_text
from evalsite.formats.voc_devkit import FORMAT, IMAGE_SETS, image_set_names, looks_like_results, results_set, voc_root

ALL = "all"
_PER_CLASS = re.compile(r"^(\S+)\s+-?[01]$")


def read_split(file: Path) -> list[tuple[int, str]]:
    """(line number, entry) of every entry of a split file."""
    entries = []
    for number, line in enumerate(lines(read_text(file)), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            entries.append((number, text))
    if not entries:
        raise InputError("the split lists no images", file)
    per_class = [_PER_CLASS.match(text) for _, text in entries]
    if all(per_class):
        entries = [(number, match.group(1)) for (number, _), match in zip(entries, per_class)]  # type: ignore[union-attr]
    return entries


def resolve_split(split: Path | None, ground_truth: Path, predictions: Path,
                  pred_format: str | None) -> tuple[Path | None, str | None]:
    """(split file or None for every image, VOC image set name or None) of a task (the rules: module doc)."""
    root = voc_root(ground_truth)
    sets = root / IMAGE_SETS if root is not None else None
    if split is not None and split.is_file():
        if sets is None or split.resolve().parent != sets.resolve():
            return split, None
        name = split.stem  # a per-class set car_test.txt lists the images of test.txt
        for at in [i for i, ch in enumerate(name) if ch == "_"]:
            if (sets / f"{name[at + 1:]}.txt").is_file():
                return split, name[at + 1:]
        return split, name
    if split is not None and split.name == ALL:
        return None, None
    if split is not None:
        if sets is not None and not split.suffix and (sets / f"{split.name}.txt").is_file():
            return sets / f"{split.name}.txt", split.name
        hint = f"; the image sets of {root} are {', '.join(image_set_names(root))}" if root is not None else ""
        raise InputError(f"split file not found{hint}", split)
    if root is None:
        return None, None
    names = image_set_names(root)
    devkit = pred_format == FORMAT or (pred_format is None and looks_like_results(predictions))
    if devkit:
        name = results_set(predictions)[0]
        if not (sets / f"{name}.txt").is_file():  # type: ignore[operator]
            raise InputError(f"the results are for the image set {name!r}, but {sets} has no {name}.txt "
                             f"(it has {', '.join(names) or 'none'}): give the image list as split: FILE, or "
                             "split: all to evaluate every annotation", predictions)
        return sets / f"{name}.txt", name  # type: ignore[operator]
    example = next((n for n in ("test", "val") if n in names), names[0] if names else "test")
    raise InputError(f"this VOC dataset has image sets ({', '.join(names[:10]) or 'none'} in {IMAGE_SETS.as_posix()}): "
                     f"say which images to evaluate with split: {example} (--split {example}), or split: all to "
                     "evaluate every annotation", ground_truth)


class _Finder:
    """Finds the image a split entry names (the rules: module doc)."""

    def __init__(self, images: list[str], image_ids: np.ndarray | None):
        self.by_path: dict[str, list[int]] = {}
        self.by_name: dict[str, list[int]] = {}
        for i, rel in enumerate(images):
            for key in dict.fromkeys((rel, path_stem(rel))):
                self.by_path.setdefault(key, []).append(i)
            name = rel.rsplit("/", 1)[-1]
            for key in dict.fromkeys((name, path_stem(name))):
                self.by_name.setdefault(key, []).append(i)
        self.by_id = {int(v): i for i, v in enumerate(image_ids.tolist())} if image_ids is not None else {}

    def find(self, entry: str) -> list[int]:
        parts = [p for p in entry.replace("\\", "/").split("/") if p not in ("", ".")]
        for k in range(len(parts)):
            hits = self.by_path.get("/".join(parts[k:]))
            if hits:
                return hits
        if len(parts) == 1:
            hits = self.by_name.get(parts[0])
            if hits:
                return hits
            if parts[0].isdigit() and int(parts[0]) in self.by_id:
                return [self.by_id[int(parts[0])]]
        return []


def split_keep(file: Path, images: list[str], image_ids: np.ndarray | None = None) -> np.ndarray:
    """(I,) bool: the images the split file lists. `image_ids`: real image ids (COCO) entries may give."""
    finder = _Finder(images, image_ids)
    keep = np.zeros(len(images), dtype=bool)
    unknown: list[tuple[int, str]] = []
    for number, entry in read_split(file):
        hits = finder.find(entry)
        if len(hits) > 1:
            raise InputError(f"{entry!r} fits several images: {listing([images[i] for i in hits])}; give its "
                             "path below the images folder", file, f"line {number}")
        if hits:
            keep[hits[0]] = True
        else:
            unknown.append((number, entry))
    if unknown:
        raise InputError(f"{len(unknown)} split entr{'y names' if len(unknown) == 1 else 'ies name'} no "
                         f"ground-truth image: {listing([e for _, e in unknown])}", file,
                         f"first at line {unknown[0][0]}")
    return keep


def apply_split(inputs, file: Path, real_ids: bool = False):
    """`inputs` (a DetectionData or ClassificationInputs) with only the images the split file lists;
    `real_ids`: the image ids are the ground truth's own (COCO), which entries may give."""
    images = list(inputs.images)
    ids = inputs.image_ids if real_ids and isinstance(inputs, DetectionData) else None
    keep = split_keep(file, images, ids)
    if keep.all():
        return inputs
    kept = [image for image, k in zip(images, keep) if k]
    if isinstance(inputs, DetectionData):
        result, objects, predictions = _detection(inputs, keep, kept)
        what = f"{objects} ground-truth object(s) and {predictions} prediction(s)"
    else:
        n = len(images)
        changes = {f.name: getattr(inputs, f.name)[keep] for f in dataclasses.fields(inputs)
                   if isinstance(getattr(inputs, f.name), np.ndarray) and len(getattr(inputs, f.name)) == n
                   and getattr(inputs, f.name).ndim >= 1}
        result = dataclasses.replace(inputs, images=kept, **changes)
        what = f"{int(np.asarray(inputs.has_prediction)[~keep].sum())} with a prediction"
    result.notices = [*inputs.notices, Notice("split_left_out", str(file), None,
                                               f"{int((~keep).sum())} of {len(images)} images not in the split "
                                               f"left out ({what})")]
    return result


def _detection(data: DetectionData, keep: np.ndarray, kept: list[str]) -> tuple[DetectionData, int, int]:
    new_index = np.cumsum(keep) - 1
    gt = keep[data.gt_image]
    dt = keep[data.dt_image]
    result = dataclasses.replace(
        data, images=kept, image_ids=data.image_ids[keep], widths=data.widths[keep], heights=data.heights[keep],
        gt_image=new_index[data.gt_image[gt]], gt_label=data.gt_label[gt], gt_box=data.gt_box[gt],
        gt_area=data.gt_area[gt], gt_crowd=data.gt_crowd[gt], gt_difficult=data.gt_difficult[gt],
        gt_id=data.gt_id[gt], dt_image=new_index[data.dt_image[dt]], dt_label=data.dt_label[dt],
        dt_box=data.dt_box[dt], dt_score=data.dt_score[dt],
        gt_masks=data.gt_masks.take(np.flatnonzero(gt)) if data.gt_masks is not None else None,
        dt_masks=data.dt_masks.take(np.flatnonzero(dt)) if data.dt_masks is not None else None,
        dt_mask_area=data.dt_mask_area[dt] if data.dt_mask_area is not None else None)
    return result, int((~gt).sum()), int((~dt).sum())
