"""Class indices to label names (docs/inputs.md, "Class indices and the class list").

Index-named score columns (`logit_0`...), top-k cells, a `target` column or ground-truth labels that are
integers name a class by its index into the class list. The class list is, first found:

1. the manifest's `labels` (a list, or a file with one name a line: line 1 is class 0);
2. a `classes.txt` beside the predictions or the ground truth (said so in a notice);
3. for class-folder ground truth, the class folders in sorted order, as torchvision's ImageFolder numbers
   them (said so in a notice);
4. when the ground-truth labels are themselves the indices 0, 1, ..., the indices (as names "0", "1", ...).

Without one, class indices are an error. A `target` column in the predictions is checked against the
ground truth: a few disagreements (at most 1% of the images) are a notice, more are an error, since they
mean the class list is not the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalsite.core.errors import InputError, Notice
from evalsite.formats.records import read_labels_file

CLASS_LIST_FILE = "classes.txt"
TARGET_TOLERANCE = 0.01  # share of images whose `target` may disagree with the ground truth (a notice)


@dataclass
class Predictions:
    """A classification prediction file as read (evalsite.formats.classification)."""

    kind: str  # "scores" | "topk"
    by_image: dict[str, object]  # image -> {label: score} or [(label, score)], best first
    columns: list[str]  # named score columns, in file order
    where: dict[str, str]  # image -> its record
    path: Path
    fmt: str
    layout: str = "named"  # CSV: named | indexed | topk
    description: str = ""
    targets: dict[str, tuple[str, str]] | None = None  # image -> (target cell, record)
    indexed_classes: int = 0  # index-named columns: how many
    notices: list[Notice] = field(default_factory=list)


@dataclass
class ClassList:
    labels: list[str] | None  # the class list, when one is used
    source: str | None  # label source for the report ("declared" | "data" | "score columns"), None: unchanged
    file: Path | None = None  # a classes.txt found beside the inputs


def _integer(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and text.isascii() else None


def _find_class_list(ground_truth: Path, predictions: Path, true_names: list[str], needed: int,
                     notices: list[Notice]) -> ClassList | None:
    folders = [predictions.parent, ground_truth if ground_truth.is_dir() else ground_truth.parent]
    if ground_truth.is_dir():
        folders.append(ground_truth.parent)
    for folder in dict.fromkeys(folders):
        candidate = folder / CLASS_LIST_FILE
        if candidate.is_file():
            found = read_labels_file(candidate)
            notices.append(Notice("class_list_found", str(candidate),
                                  detail=f"{len(found)} classes, line 1 = class 0"))
            return ClassList(found, "class list", candidate)
    if ground_truth.is_dir():
        folders_found = sorted(p.name for p in ground_truth.iterdir() if p.is_dir())
        names = [name for name in folders_found if not name.startswith(".")]
        hidden = [name for name in folders_found if name.startswith(".")]
        detail = f"class 0 = {names[0]!r}, class {len(names) - 1} = {names[-1]!r}" if names else ""
        if hidden:  # torchvision's ImageFolder numbers hidden folders too (.ipynb_checkpoints)
            detail += (f"; hidden folder(s) {', '.join(map(repr, hidden))} are not classes here, but "
                       "torchvision's ImageFolder counts them: if the model was trained with them, give `labels`")
        notices.append(Notice("class_order_folders", str(ground_truth), detail=detail))
        return ClassList(names, "data")
    indices = [_integer(name) for name in true_names]
    if all(i is not None for i in indices):
        count = max(max(indices) + 1, needed)  # type: ignore[type-var, operator]
        return ClassList([str(i) for i in range(count)], "score columns")
    return None


def _no_class_list(what: str, path: Path) -> InputError:
    return InputError(f"{what} name classes by index but there is no class list: add `labels: classes.txt` to "
                      "the manifest (one name a line, line 1 = class 0, in the model's order), or put a "
                      f"{CLASS_LIST_FILE} beside the predictions", path)


def _topk_cells(preds: Predictions) -> list[str]:
    return [str(name) for ranked in preds.by_image.values() for name, _ in ranked]  # type: ignore[attr-defined]


def resolve_indices(preds: Predictions, ground_truth: Path, images: list[str], true_names: list[str],
                    gt_where: dict[str, str], declared: list[str] | None,
                    notices: list[Notice]) -> tuple[list[str], ClassList]:
    """Class indices of `preds` (changed in place) and of the ground truth as names: (true names, class list).
    `ClassList.labels` None: no class list is needed and none was declared."""
    cells = _topk_cells(preds) if preds.kind == "topk" else []
    targets = preds.targets or {}
    target_cells = [t for t, _ in targets.values()]

    def indices(values: list[str], names: set[str]) -> bool:
        """Values that are class indices: all integers, not all of them names."""
        return bool(values) and not all(v in names for v in values) and all(_integer(v) is not None for v in values)

    before = set(declared) if declared is not None else set(true_names)
    if not (preds.indexed_classes or indices(cells, before) or indices(target_cells, before)
            or (declared is not None and indices(true_names, before))):
        _check_targets(preds, images, true_names, gt_where)
        return true_names, ClassList(declared, "declared" if declared is not None else None)

    classes = ClassList(declared, "declared") if declared is not None else \
        _find_class_list(ground_truth, preds.path, true_names, preds.indexed_classes, notices)
    if classes is None:
        what = preds.description or "the predictions"
        raise _no_class_list(what if preds.indexed_classes or indices(cells, before) else "the target column",
                             preds.path)
    names = classes.labels or []
    if preds.indexed_classes and preds.indexed_classes != len(names):
        raise InputError(f"the {preds.description} are {preds.indexed_classes} classes but the class list has "
                         f"{len(names)} names: it must list the model's classes in its output order", preds.path,
                         "line 1")

    def name_of(text: str, path: Path, record: str, what: str) -> str:
        index = _integer(text)
        if index is None or index >= len(names):
            raise InputError(f"{what} {text!r} is not a class index 0..{len(names) - 1} of the class list", path,
                             record)
        return names[index]

    known = set(names)
    if preds.indexed_classes:  # the score arrays are in column order: class 0, 1, ...
        preds.columns = list(names)
    if indices(cells, known):
        for image, ranked in preds.by_image.items():
            preds.by_image[image] = [(name_of(c, preds.path, preds.where[image], "top-k label"), v)
                                     for c, v in ranked]  # type: ignore[attr-defined]
    if indices(target_cells, known):
        preds.targets = {image: (name_of(t, preds.path, record, "target"), record)
                         for image, (t, record) in targets.items()}
    if indices(true_names, known):
        true_names = [name_of(n, ground_truth, gt_where[image], "label") for image, n in zip(images, true_names)]
    _check_targets(preds, images, true_names, gt_where)
    return true_names, classes


def _check_targets(preds: Predictions, images: list[str], true_names: list[str], gt_where: dict[str, str]) -> None:
    """The `target` column against the ground truth: agreement, a notice for a few differences, else an error."""
    if not preds.targets:
        return
    differ = [(preds.targets[image][1], preds.targets[image][0], true, gt_where[image])
              for image, true in zip(images, true_names)
              if image in preds.targets and preds.targets[image][0] != true]
    differ.sort(key=lambda d: int(d[0].split()[-1]))  # in the predictions' line order
    if not differ:
        return
    checked = sum(1 for image in images if image in preds.targets)
    shown = "; ".join(f"{record}: target {target!r}, ground truth {true!r} ({gt})"
                      for record, target, true, gt in differ[:3])
    if len(differ) > TARGET_TOLERANCE * checked:
        raise InputError(
            f"the target column disagrees with the ground truth on {len(differ)} of {checked} images ({shown}): "
            "the class list is probably not in the model's order, or the files do not belong together",
            preds.path, f"first at {differ[0][0]}")
    preds.notices.append(Notice("target_disagrees", str(preds.path),
                                detail=f"{len(differ)} of {checked} images ({shown}); the ground truth is used"))

