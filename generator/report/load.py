"""Reading a built report back for `evalsite compare` and `evalsite check`.

`load_report` takes a report folder (OUT/<task name>/) or a report.json file and gives the report
dataclasses (`read_report`: from parsed JSON, checked and built in one walk by evalsite.report.codec);
everything wrong with the file is an :class:`InputError` naming the file, the key and the problem.
`check_same_evaluation` refuses two reports that do not describe the same evaluation (task type, images,
labels, IoU threshold), saying what differs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson

from evalsite import __version__
from evalsite.core.errors import InputError
from evalsite.report.codec import Invalid, decode, json_kind
from evalsite.report.confusion import confused_pairs, to_cells
from evalsite.report.kinds import KINDS
from evalsite.report.model import READABLE_SCHEMAS, SCHEMA, Report

REPORT_FILE = "report.json"
_SHOWN = 3  # images named in a "not the same evaluation set" message, on each side
_SHOWN_LABELS = 10


def load_report(path: Path) -> tuple[Report, Path]:
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
    return read_report(data, file), file.parent


def read_report(data: object, file: Path | None) -> Report:
    """The report in parsed report.json `data`, of the class of its task type (evalsite.report.kinds); an
    InputError on `file` names the key and the problem when it is not one."""
    if not isinstance(data, dict):
        raise InputError(f"not an evalsite report: expected a JSON object, found {json_kind(data)}", file)
    if "schema" not in data:
        raise InputError(f"not an evalsite report: no `schema` key (this evalsite reads {SCHEMA!r})", file)
    schema = data["schema"]
    if schema not in READABLE_SCHEMAS:
        task = data.get("task")
        writer = task.get("evalsite_version") if isinstance(task, dict) else None
        by = f", written by evalsite {writer}" if isinstance(writer, str) else ""
        raise InputError(f"unknown report schema {schema!r}{by}; evalsite {__version__} reads {SCHEMA!r} "
                         f"(build the report again with this version)", file, "key schema")
    task = data.get("task")
    if not isinstance(task, dict):
        raise InputError("missing" if task is None else f"expected an object, found {json_kind(task)}", file,
                         "key task")
    task_type = task.get("type")
    kind = KINDS.get(task_type) if isinstance(task_type, str) else None
    if kind is None:
        problem = "missing" if task_type is None else \
            f"unknown task type {task_type!r} (classification, detection or segmentation)"
        raise InputError(problem, file, "key task.type")
    if schema != SCHEMA:
        data = _upgrade_v1(data)
    try:
        return decode(kind.report, data)
    except Invalid as error:
        raise InputError(error.problem, file, f"key {error.key}" if error.path else None) from None


def _upgrade_v1(data: dict) -> dict:
    """An "evalsite.report/1" report as "/2" reads it: the confusion matrix's dense `counts` (and
    classification's `normalised`) become its non-zero `cells` and `row_totals`; a detection report gets
    its `top_pairs`. A value of the wrong shape is left for the decoder to name."""
    data = {**data, "schema": SCHEMA}
    confusion = data.get("confusion")
    if not isinstance(confusion, dict) or not isinstance(confusion.get("counts"), list):
        return data
    counts = confusion["counts"]
    confusion = {k: v for k, v in confusion.items() if k not in ("counts", "normalised")}
    try:
        confusion["cells"] = [[r, c, n] for r, line in enumerate(counts) for c, n in enumerate(line) if n]
        confusion["row_totals"] = [sum(line) for line in counts]
    except TypeError:
        confusion["cells"] = counts  # the decoder names the problem
    if "top_pairs" not in confusion and "row_totals" in confusion and isinstance(confusion.get("rows"), list):
        rows, columns = confusion["rows"], confusion.get("columns") or []
        try:  # as a /2 report gets them: background and missed left out
            pairs = confused_pairs(to_cells(confusion["cells"], (len(rows), len(columns))), rows, columns,
                                   skip_row=_none_at(rows), skip_col=_none_at(columns))
        except (TypeError, ValueError, IndexError):
            pairs = []  # the decoder names what is wrong with the cells
        confusion["top_pairs"] = [dataclasses.asdict(p) for p in pairs]
    return {**data, "confusion": confusion}


def _none_at(names: list) -> int | None:
    """The index of the None entry (background, missed) of a confusion matrix's rows or columns."""
    return names.index(None) if None in names else None


def iou_threshold(report: Report) -> float | None:
    """The IoU threshold of a detection or segmentation report's headline numbers (None: classification)."""
    if not report.task.type.is_detection:
        return None
    value = report.metrics.get("iou_threshold")
    return float(value) if isinstance(value, (int, float)) else (report.task.iou_threshold or 0.5)


def _names(items: list[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def check_same_evaluation(base: Report, candidate: Report,
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
