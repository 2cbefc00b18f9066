"""What both evaluators share: turning what a training loop holds (lists, numpy arrays, torch tensors) into
checked numpy arrays, and the TaskInfo of a report built from arrays. Every problem is a one-line InputError
naming the update call, the image and the field."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalsite import __version__
from evalsite.commands.evaluate import evaluation_date
from evalsite.core.enums import TaskType
from evalsite.core.errors import InputError
from evalsite.formats.records import normalise_image_path
from evalsite.manifest import LANGUAGES, check_name
from evalsite.report.model import TaskInfo


def as_array(value: Any, where: str, field: str) -> np.ndarray:
    """A numpy array of `value`: a numpy array, a list, or anything with ``.numpy()`` (a torch tensor on the
    CPU; ``.detach().cpu()`` is tried first) or ``__array__``. No torch import."""
    if isinstance(value, np.ndarray):
        return value
    for step in ("detach", "cpu"):
        method = getattr(value, step, None)
        if callable(method) and hasattr(value, "numpy"):
            value = method()
    if hasattr(value, "numpy") and callable(value.numpy):
        return np.asarray(value.numpy())
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"'{field}' is not an array: {exc}", where) from None


def number_array(value: Any, where: str, field: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A float64 array of the given shape (None: any length), all finite and within +-1e15 (a score of 1e308
    is finite, but its medians and the charts' ranges overflow: as the detection readers' MAX_SCORE)."""
    array = as_array(value, where, field)
    if array.size == 0 and len(shape) == 2 and array.ndim < 2:
        array = array.reshape(0, shape[1] or 0)
    if array.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, array.shape)):
        want = " x ".join("n" if s is None else str(s) for s in shape)
        raise InputError(f"'{field}' must be an array of shape ({want}), found shape {tuple(array.shape)}", where)
    if array.dtype.kind not in "biuf":
        raise InputError(f"'{field}' must hold numbers, found dtype {array.dtype}", where)
    array = array.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(array).reshape(len(array), -1).all(axis=1)) if array.size else []
    if len(bad):
        raise InputError(f"'{field}' has a NaN or infinite value (row {int(bad[0])})", where)
    bad = np.flatnonzero((np.abs(array) > 1e15).reshape(len(array), -1).any(axis=1)) if array.size else []
    if len(bad):
        raise InputError(f"'{field}' has a value beyond 1e15 (row {int(bad[0])}): a unit or parsing mistake?", where)
    return array


def label_indices(values: Any, labels: list[str], index: dict[str, int], where: str, field: str) -> np.ndarray:
    """int64 indices into `labels` of label names (str) or indices (integers 0..L-1), mixed or not."""
    if isinstance(values, (list, tuple)):
        if any(isinstance(v, str) for v in values):
            out = []
            for v in values:
                if isinstance(v, str):
                    if v not in index:
                        raise InputError(f"unknown label {v!r} in '{field}' (the labels are: {', '.join(labels[:20])}"
                                         f"{' ...' if len(labels) > 20 else ''})", where)
                    out.append(index[v])
                else:
                    out.append(int(label_indices([v], labels, index, where, field)[0]))
            return np.array(out, dtype=np.int64)
        values = [as_array(v, where, field).reshape(()) if not isinstance(v, (int, float)) else v for v in values]
    array = as_array(values, where, field)
    if array.ndim != 1:
        raise InputError(f"'{field}' must be one-dimensional, found shape {tuple(array.shape)}", where)
    if array.dtype.kind in "UO":
        return label_indices(list(array.tolist()), labels, index, where, field)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise InputError(f"'{field}' must be label names or label indices (integers), found {array.dtype} values",
                         where)
    bad = np.flatnonzero((array < 0) | (array >= len(labels)))
    if len(bad):
        raise InputError(f"label index {int(array[bad[0]])} in '{field}' is outside 0..{len(labels) - 1} "
                         f"(indices into the {len(labels)} labels)", where)
    return array.astype(np.int64)


def check_labels(labels: Any) -> list[str]:
    """The evaluator's labels: distinct non-empty strings."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence) and not hasattr(labels, "__iter__"):
        raise InputError("'labels' must be a list of label names")
    if isinstance(labels, Mapping):  # {index: name}, as Ultralytics' model.names
        if set(labels) != set(range(len(labels))):
            raise InputError(f"'labels' as a dict must map the indices 0..{len(labels) - 1} to names, found keys "
                             f"{list(labels)[:5]!r}")
        labels = [labels[i] for i in range(len(labels))]
    names = list(labels)
    if not names:
        raise InputError("'labels' is empty: give the label names, in index order")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"'labels' must be non-empty strings, found {name!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"'labels' repeats {repeated[0]!r}")
    return names


def image_names(images: Any, root: Path | None, where: str, seen: dict[str, str]) -> list[str]:
    """The images of one update call as normalised relative paths (str, os.PathLike or int: its decimal
    text), none given twice in the whole evaluation (`seen`: name -> where it was first given)."""
    if isinstance(images, (str, bytes, os.PathLike)):
        raise InputError("'images' must be a list of image paths (one per item of the batch), found one path",
                         where)
    names = []
    for k, raw in enumerate(images):
        if isinstance(raw, (int, np.integer)) and not isinstance(raw, bool):
            raw = str(int(raw))
        elif isinstance(raw, os.PathLike):
            raw = os.fspath(raw)
        name = normalise_image_path(raw, root or Path.cwd(), None, f"{where}, image {k}")  # type: ignore[arg-type]
        if name in seen:
            raise InputError(f"image {name!r} was already given ({seen[name]})", where)
        seen[name] = f"{where}, image {k}"
        names.append(name)
    return names


def check_length(items: Any, n: int, where: str, field: str) -> list:
    """`items` as a list of n entries (one per image of the batch)."""
    try:
        items = list(items)
    except TypeError:
        raise InputError(f"'{field}' must be a list with one entry per image", where) from None
    if len(items) != n:
        raise InputError(f"'{field}' has {len(items)} entries, but 'images' has {n}", where)
    return items


def check_task(name: str, language: str) -> None:
    """An evaluator's task name (a folder name) and language (zh or en)."""
    check_name(name)
    if language not in LANGUAGES:
        raise InputError(f"unknown language {language!r}; expected zh or en")


def task_info(name: str, task_type: TaskType, language: str, images_root: Path | None, label_source: str,
              prediction_kind: str, **extra: Any) -> TaskInfo:
    """The TaskInfo of a report built from arrays: no input files; the images root as given ("" if none)."""
    check_task(name, language)
    return TaskInfo(name=name, type=task_type, language=language, evalsite_version=__version__,
                    date=evaluation_date(), images_root="" if images_root is None else str(images_root),
                    inputs=[], label_source=label_source, prediction_kind=prediction_kind,  # type: ignore[arg-type]
                    small_set_threshold=100, group=name, **extra)
