"""Reading a built report back for `evalsite compare` and `evalsite check`.

`load_report` takes a report folder (OUT/<task name>/) or a report.json file and gives the report
dataclasses; everything wrong with the file is an :class:`InputError` naming the file, the key and the
problem. `check_same_evaluation` refuses two reports that do not describe the same evaluation (task type,
images, labels, IoU threshold), saying what differs.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path

import orjson

from evalsite import __version__
from evalsite.core.errors import InputError
from evalsite.report.detection_model import DetectionReport
from evalsite.report.model import SCHEMA, Report

REPORT_FILE = "report.json"
REPORT_TYPES = {"classification": Report, "detection": DetectionReport, "segmentation": DetectionReport}
_SHOWN = 3  # images named in a "not the same evaluation set" message, on each side
_SHOWN_LABELS = 10


def load_report(path: Path) -> tuple[Report | DetectionReport, Path]:
    """The report in `path` (a built report folder holding report.json, or a report.json file of any name)
    and the folder that holds its report.json (the site's images sit beside it)."""
    path = Path(path)
    if not path.exists():
        raise InputError("not found (give a built report folder or its report.json)", path)
    file = path / REPORT_FILE if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise InputError(f"no {REPORT_FILE} in this folder (give a built report folder, OUT/<task name>/, "
                         f"or a report.json file)", path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file, f"line {exc.lineno}, column {exc.colno}") from None
    return _from_data(data, file), file.parent


def _from_data(data: object, file: Path) -> Report | DetectionReport:
    if not isinstance(data, dict):
        raise InputError(f"not an evalsite report: expected a JSON object, found {_kind(data)}", file)
    if "schema" not in data:
        raise InputError(f"not an evalsite report: no `schema` key (this evalsite reads {SCHEMA!r})", file)
    schema = data["schema"]
    if schema != SCHEMA:
        task = data.get("task")
        writer = task.get("evalsite_version") if isinstance(task, dict) else None
        by = f", written by evalsite {writer}" if isinstance(writer, str) else ""
        raise InputError(f"unknown report schema {schema!r}{by}; evalsite {__version__} reads {SCHEMA!r} "
                         f"(build the report again with this version)", file, "key schema")
    task = data.get("task")
    if not isinstance(task, dict):
        raise InputError("missing" if task is None else f"expected an object, found {_kind(task)}", file, "key task")
    task_type = task.get("type")
    if task_type not in REPORT_TYPES:
        problem = "missing" if task_type is None else \
            f"unknown task type {task_type!r} (classification, detection or segmentation)"
        raise InputError(problem, file, "key task.type")
    cls = REPORT_TYPES[task_type]
    _check_shape(cls, data, "", file)
    if cls is DetectionReport:
        _check_detection_metrics(data["metrics"], file)
    try:
        return cls.from_dict(data)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # the shape check should catch all of it
        raise InputError(f"not a valid report.json: {exc}", file) from None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, object, bool], ...]:
    """(name, type, required) of each field of a report dataclass."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                 for f in dataclasses.fields(cls))


_EXPECTED = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
_LEAVES = {str: (str,), bool: (bool,), int: (int, float), float: (int, float)}


def _leaf(tp: object) -> tuple[type, ...] | None:
    """The exact JSON types that a str/bool/number type (or one of them | None) accepts; None otherwise."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = options[0] if len(options) == 1 else None
    return _LEAVES.get(tp)  # type: ignore[arg-type]


def _check_shape(tp: object, value: object, where: str, file: Path) -> None:
    """Raise an InputError naming the key when `value` (parsed JSON) cannot be read as a `tp` (what
    `Loadable.from_dict` builds). Numbers and strings may be null (the builders write undefined numbers as
    null); objects and lists may be null only where the model allows it."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or len(options) != 1:
            return
        tp, origin = options[0], typing.get_origin(options[0])
    if tp is object:
        return

    def wrong(expected: str) -> InputError:
        return InputError(f"expected {expected}, found {_kind(value)}", file, f"key {where}" if where else None)

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise wrong("an object")
        for name, field_type, required in _fields(tp):  # type: ignore[arg-type]
            key = f"{where}.{name}" if where else name
            if name not in value:
                if required:
                    raise InputError("missing", file, f"key {key}")
                continue
            _check_shape(field_type, value[name], key, file)
    elif origin is list:
        if not isinstance(value, list):
            raise wrong("a list")
        (item,) = typing.get_args(tp)
        leaf = _leaf(item)
        if leaf is not None and all(v is None or type(v) in leaf for v in value):
            return  # the common case of long lists of numbers or strings, without a call per item
        for i, v in enumerate(value):
            _check_shape(item, v, f"{where}[{i}]", file)
    elif origin is dict:
        if not isinstance(value, dict):
            raise wrong("an object")
        _, item = typing.get_args(tp)
        for k, v in value.items():
            _check_shape(item, v, f"{where}.{k}", file)
    elif value is not None and tp in _EXPECTED:
        ok = isinstance(value, tp) if tp in (str, bool) else \
            isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise wrong(_EXPECTED[tp])  # type: ignore[index]


def _check_detection_metrics(metrics: dict, file: Path) -> None:
    """Detection `metrics`: numbers (or null), and `coco`, an object of numbers."""
    for key, value in metrics.items():
        values = value.items() if key == "coco" and isinstance(value, dict) else [(None, value)]
        for sub, v in values:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                name = f"metrics.{key}.{sub}" if sub else f"metrics.{key}"
                raise InputError(f"expected a number, found {_kind(v)}", file, f"key {name}")


def iou_threshold(report: Report | DetectionReport) -> float | None:
    """The IoU threshold of a detection or segmentation report's headline numbers (None: classification)."""
    if report.task.type == "classification":
        return None
    value = report.metrics.get("iou_threshold")
    return float(value) if isinstance(value, (int, float)) else (report.task.iou_threshold or 0.5)


def _names(items: list[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def check_same_evaluation(base: Report | DetectionReport, candidate: Report | DetectionReport,
                          base_path: Path, candidate_path: Path) -> None:
    """Raise an InputError (on `candidate_path`) unless both reports are of the same task type and the same
    evaluation set: the same images, the same labels and, for detection and segmentation, the same IoU
    threshold. The message says what differs."""
    if base.task.type != candidate.task.type:
        raise InputError(f"a {candidate.task.type} report, but {base_path} is a {base.task.type} report; "
                         "both must be of the same task type", candidate_path)
    differences = []
    base_images, candidate_images = {i.image for i in base.images}, {i.image for i in candidate.images}
    only_candidate, only_base = sorted(candidate_images - base_images), sorted(base_images - candidate_images)
    if only_candidate or only_base:
        sides = [f"{len(names)} only in {where}: {_names(names, _SHOWN)}"
                 for names, where in ((only_candidate, candidate_path), (only_base, base_path)) if names]
        differences.append(f"{len(only_candidate) + len(only_base)} images differ ({'; '.join(sides)})")
    base_labels, candidate_labels = set(base.dataset.labels), set(candidate.dataset.labels)
    if base_labels != candidate_labels:
        sides = [f"{len(names)} only in {where}: {_names(names, _SHOWN_LABELS)}"
                 for names, where in ((sorted(candidate_labels - base_labels), candidate_path),
                                      (sorted(base_labels - candidate_labels), base_path)) if names]
        differences.append(f"the labels differ ({'; '.join(sides)})")
    base_iou, candidate_iou = iou_threshold(base), iou_threshold(candidate)
    if base_iou != candidate_iou:
        differences.append(f"the IoU threshold differs ({candidate_iou:g} here, {base_iou:g} in {base_path})")
    if differences:
        raise InputError(f"not the same evaluation set as {base_path}: {'; '.join(differences)}", candidate_path)
