"""Checks against silent misreads: inputs that read without an error but would give numbers other than the
tool the user took them from (docs/inputs.md, "Checks against silent misreads"). Each is an InputError
(exit 2) or, where the input can be legitimate, a loud notice (its code is in
evalsite.core.errors.LOUD_NOTICES: printed on the console and shown on the report's first page), each
naming the likely fix.

Thresholds (binding; the docs repeat them):

* Images without a prediction record, in formats that write one record per image (classification CSV and
  JSONL, detection JSONL): some -> loud notice ``ground_truth_without_prediction`` with the count; more
  than half (MOST) of the ground-truth images -> error. Either names the path prefix that explains the
  mismatch when one does (`prefix_hint`).
* Predictions for images the ground truth lacks: detection, an error (as before), now with the prefix hint;
  classification, a notice (ignored), with the hint.
* Category ids shifted by a constant c != 0 (Ultralytics' class index + 1): among the detections (the first
  SHIFT_DETECTIONS of the file, in at most SHIFT_IMAGES images with ground truth) whose best-overlapping
  ground-truth box has IoU >= 0.5, more than half have id = ground-truth id + c and fewer than a tenth the
  same id, at least SHIFT_PAIRS such detections, and every predicted id minus c is a ground-truth id -> error.
* Image files: more than half of the ground-truth images missing below the images root -> an error when a
  file of the same name exists exactly once below the images root for at least half of the missing ones
  (it says where, and which `images:` folder fits when one does), else a loud notice ``images_mostly_missing``.
* Classification: no score column (or predicted label) that is a ground-truth label -> error.
* Labels that differ only by case or whitespace (``Cat`` / ``cat ``) between the ground truth, the
  declared labels and the predictions -> error.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from evalsite.core.boxes import iou_matrix
from evalsite.core.errors import InputError, Notice, listing

MOST = 0.5  # more than this fraction of the ground-truth images without a record / missing: an error
SHIFT_DETECTIONS = 5000  # the category-shift check looks at the file's first detections (a few ms on COCO val)
SHIFT_IMAGES = 200  # in at most this many images
SHIFT_PAIRS = 5  # overlapping detections it needs before it speaks
WALK_LIMIT = 200_000  # files looked at below the images root when looking for missing images
_SAMPLE = 2000  # unknown names looked at by the prefix hint


def prefix_hint(unknown: list[str], known: Iterable[str]) -> str:
    """A sentence naming the path prefix that explains why `unknown` names (predictions') are not among
    `known` (the ground truth's), or "" when no single prefix explains at least half of them."""
    sample = unknown[:_SAMPLE]
    if not sample:
        return ""
    known_set = set(known)
    counts: Counter[tuple[str, str]] = Counter()
    tails: dict[str, set[str]] = {}
    for name in known_set:
        parts = name.split("/")
        for k in range(1, len(parts)):
            tails.setdefault("/".join(parts[k:]), set()).add("/".join(parts[:k]) + "/")
    for name in sample:
        parts = name.split("/")
        stripped = next((k for k in range(1, len(parts)) if "/".join(parts[k:]) in known_set), None)
        if stripped is not None:
            counts["strip", "/".join(parts[:stripped]) + "/"] += 1
        elif len(tails.get(name, ())) == 1:
            counts["add", next(iter(tails[name]))] += 1
    if not counts:
        return ""
    (how, prefix), count = counts.most_common(1)[0]
    if count * 2 < len(sample):
        return ""
    share = "all" if count == len(sample) else str(count)
    paths = f"{share} of the {len(sample)} prediction path(s) not in the ground truth"
    if how == "strip":
        return (f"{paths} start with {prefix!r}, which the ground truth's paths lack: remove {prefix!r} from the "
                "predictions' image paths (they are relative to the images root)")
    return (f"the ground truth's paths start with {prefix!r}, which {paths} lack: write the predictions' image "
            f"paths relative to the images root, starting with {prefix!r}")


def check_coverage(images: list[str], recorded: Iterable[str], file: Path, what: str) -> list[Notice]:
    """Ground-truth images without a record in a one-record-per-image predictions file: a loud notice, or
    an error when more than half of them lack one. `what`: how such an image is counted."""
    recorded_set = set(recorded)
    missing = [image for image in images if image not in recorded_set]
    if not missing:
        return []
    known = set(images)
    stray = [name for name in recorded_set if name not in known]
    hint = prefix_hint(sorted(stray), images)
    said = f"{len(missing)} of {len(images)} ground-truth image(s) have no prediction record"
    if len(missing) > MOST * len(images):
        fix = hint or ("check that the predictions name the images as the ground truth does (paths relative "
                       "to the images root) and that the model ran on every image; write a record for every "
                       "image, with no predictions where there are none")
        raise InputError(f"{said} ({listing(missing)}): {fix}", file)
    detail = f"{said}, {what}: {listing(missing)}" + (f"; {hint}" if hint else "")
    return [Notice("ground_truth_without_prediction", str(file), detail=detail)]


def normalised_label(name: str) -> str:
    """A label without case and with its whitespace collapsed: labels equal under it are "the same"."""
    return " ".join(name.split()).casefold()


def case_hint(reference: Iterable[str], others: Iterable[str]) -> str:
    """The labels of `others` that are not in `reference` but equal one of it up to case or whitespace
    (``Cat`` / ``cat ``), as a sentence with the fix; "" when there are none."""
    ref = list(dict.fromkeys(reference))
    ref_set = set(ref)
    by_norm: dict[str, str] = {}
    for name in ref:
        by_norm.setdefault(normalised_label(name), name)
    clashes = [(by_norm[normalised_label(o)], o) for o in dict.fromkeys(others)
               if o not in ref_set and normalised_label(o) in by_norm]
    if not clashes:
        return ""
    pairs = ", ".join(f"{a!r} / {b!r}" for a, b in clashes[:10]) + (
        f" and {len(clashes) - 10} more" if len(clashes) > 10 else "")
    return (f"labels that differ only by case or whitespace: {pairs}; labels are compared exactly: write them "
            "the same way in both")


def check_label_case(reference: Iterable[str], others: Iterable[str], reference_what: str, others_what: str,
                     file: Path | str | None) -> None:
    """An error when a label of `others` is not in `reference` but equals one of it up to case or whitespace:
    evalsite compares labels exactly, so it would silently be another label."""
    hint = case_hint(reference, others)
    if hint:
        raise InputError(f"{hint} ({reference_what} / {others_what})", file)


def check_score_columns(true_names: list[str], predicted: list[str], file: Path, kind: str) -> None:
    """Classification: an error when no predicted label (score column, for `kind` "scores") is a ground-truth
    label: every image would count as wrong. Some ground-truth labels without a column are legitimate (they
    come last in the label order and are never predicted)."""
    truth = list(dict.fromkeys(sorted(true_names)))
    if not predicted or set(predicted) & set(truth):
        return
    columns = "score column" if kind == "scores" else "predicted label"
    indexed = sum(name.rsplit("_", 1)[-1].isdigit() for name in predicted) * 2 > len(predicted)
    fix = ("the columns look like class indices: give the class names in index order (labels: FILE, or "
           "--labels FILE)" if indexed else "name the score columns after the ground truth's labels")
    raise InputError(f"no {columns} is a ground-truth label (found {listing(list(dict.fromkeys(predicted)))}; "
                     f"the ground truth has {listing(truth)}): {fix}", file, "line 1" if kind == "scores" else None)


def check_category_shift(gt_image: np.ndarray, gt_id: np.ndarray, gt_box: np.ndarray, dt_image: np.ndarray,
                         dt_id: np.ndarray, dt_box: np.ndarray, label_ids: np.ndarray, file: Path) -> None:
    """An error when the predicted category ids fit the ground truth's shifted by a constant (see above).
    Boxes xywh in pixels; `gt_id`/`dt_id` are category ids (not indices)."""
    if not len(dt_id) or not len(gt_id):
        return
    differences: list[np.ndarray] = []
    sample = np.arange(min(len(dt_id), SHIFT_DETECTIONS))  # the first detections of the file
    images = np.intersect1d(dt_image[sample], gt_image)[:SHIFT_IMAGES]
    d_all = sample[np.isin(dt_image[sample], images)]
    g_all = np.flatnonzero(np.isin(gt_image, images))
    d_all = d_all[np.argsort(dt_image[d_all], kind="stable")]
    g_all = g_all[np.argsort(gt_image[g_all], kind="stable")]
    d_bounds = np.searchsorted(dt_image[d_all], images), np.searchsorted(dt_image[d_all], images, side="right")
    g_bounds = np.searchsorted(gt_image[g_all], images), np.searchsorted(gt_image[g_all], images, side="right")
    for gs, ge, ds, de in zip(*g_bounds, *d_bounds):
        g, d = g_all[gs:ge], d_all[ds:de]
        iou = iou_matrix(dt_box[d], gt_box[g])
        best = iou.argmax(axis=1)
        hit = iou[np.arange(len(d)), best] >= 0.5
        differences.append(dt_id[d][hit] - gt_id[g][best[hit]])
    diff = np.concatenate(differences) if differences else np.zeros(0, dtype=np.int64)
    if len(diff) < SHIFT_PAIRS:
        return
    values, counts = np.unique(diff, return_counts=True)
    same = int(counts[values == 0].sum())
    nonzero = values != 0
    if not nonzero.any():
        return
    shift, count = int(values[nonzero][counts[nonzero].argmax()]), int(counts[nonzero].max())
    if count * 2 > len(diff) and same * 10 < len(diff) and np.isin(np.unique(dt_id) - shift, label_ids).all():
        raise InputError(
            f"the predicted category ids look shifted by {shift:+d} against the ground truth's: of {len(diff)} "
            f"detections overlapping a ground-truth box (IoU >= 0.5), {count} have its id {shift:+d} and {same} "
            f"the same id. Ultralytics' predictions.json writes the class index + 1 (read it with format: "
            f"ultralytics); otherwise subtract {shift} from every category_id", file)


def check_missing_images(root: Path, images: list[str], missing: list[str]) -> list[Notice]:
    """More than half of the images missing below `root`: an error saying where they are when files of the
    same names exist below it (once each), else a loud notice. Fewer: nothing (each is its own notice)."""
    if not images or len(missing) <= MOST * len(images):
        return []
    wanted = {name.rsplit("/", 1)[-1] for name in missing}
    found: dict[str, list[str]] = {}
    seen = 0
    for folder, _, files in os.walk(root):
        for file in files:
            if file in wanted:
                found.setdefault(file, []).append(Path(folder, file).relative_to(root).as_posix())
        seen += len(files)
        if seen > WALK_LIMIT:
            break
    located = {m: found[m.rsplit("/", 1)[-1]][0] for m in missing if len(found.get(m.rsplit("/", 1)[-1], ())) == 1}
    said = f"{len(missing)} of {len(images)} images are not found below the images root"
    if len(located) * 2 >= len(missing):
        example = next(iter(located.items()))
        folders = {at[:-len(name)] if at.endswith("/" + name) else None for name, at in located.items()}
        folder = folders.pop() if len(folders) == 1 else None
        if folder:
            fix = f"set the images root (images: / --images) to {(root / folder).as_posix()!r}"
        else:
            fix = ("the image paths must be relative to the images root: write them with their subfolders "
                   "(or put the images where the paths say)")
        raise InputError(f"{said}, but {len(located)} of them are in a subfolder (e.g. {example[0]!r} is at "
                         f"{example[1]!r}): {fix}", root)
    return [Notice("images_mostly_missing", str(root),
                   detail=f"{said} ({listing(missing)})")]
