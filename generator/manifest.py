"""The task manifest (task.yaml): what to evaluate, read and checked once.

Relative paths in a manifest are relative to the manifest's own folder (docs/inputs.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evalsite.core.encodings import decode_utf8
from evalsite.core.enums import TaskType
from evalsite.core.errors import InputError

TASK_TYPES = tuple(t.value for t in TaskType)
LANGUAGES = ("zh", "en")
RESERVED_NAMES = ("overview",)
_KNOWN_KEYS = {
    "name", "type", "images", "ground_truth", "predictions", "language", "labels",
    "iou_threshold", "small_set_threshold", "metadata", "annotation_url", "group", "model", "split",
    "label_names",
}
# A task name becomes a folder name: letters (any script), digits, and . _ - space, not starting with a dot.
_NAME = re.compile(r"^[^\W_][\w .\-]{0,99}$")


@dataclass
class InputSpec:
    format: str | None
    path: Path
    split: str | None = None  # an Ultralytics data.yaml's split (val, test, train); ground truth only


@dataclass
class TaskSpec:
    name: str
    type: TaskType
    images: Path | None  # None: taken from an Ultralytics data.yaml (see uses_data_yaml) when the task is read
    ground_truth: InputSpec
    predictions: InputSpec
    language: str = "zh"
    labels: list[str] | None = None
    labels_file: Path | None = None
    small_set_threshold: int = 100
    iou_threshold: float = 0.5
    annotation_url: str | None = None  # e.g. https://label.example/edit?image={file_name}&id={image_id}
    metadata_file: Path | None = None  # CSV image,<column>...: per-image metadata for the shared-traits page
    label_names_file: Path | None = None  # display names of the label ids (evalsite.formats.label_names)
    group: str | None = None  # reports of one training task across model versions share a group (default: name)
    model: str | None = None  # the model version this report evaluates, e.g. "v3" or a run id
    source: Path | None = None  # the manifest file, when there is one
    split: Path | None = None  # the images to evaluate, one a line (evalsite.formats.split; "all", a VOC set name)
    extra: dict = field(default_factory=dict)


def check_name(name: object, file: str | Path | None = None) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.strip() != name:
        raise InputError(
            f"task name {name!r} cannot be a folder name: use letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit, at most 100 characters", file, "key 'name'")
    if name.lower() in RESERVED_NAMES:
        raise InputError(f"task name {name!r} is reserved for the task overview", file, "key 'name'")
    return name


ANNOTATION_FIELDS = ("file_name", "image_id", "annotation_id", "label")


def check_annotation_url(template: object, file: Path | None) -> None:
    """An http(s) URL template whose {fields} are among ANNOTATION_FIELDS."""
    import string

    record = "key 'annotation_url'"
    if not isinstance(template, str) or not template.lower().startswith(("http://", "https://")):
        raise InputError("'annotation_url' must be an http:// or https:// URL template", file, record)
    try:
        parsed = [(f, spec, conversion) for _, f, spec, conversion in string.Formatter().parse(template)
                  if f is not None]
    except ValueError as exc:
        raise InputError(f"'annotation_url' is not a valid template: {exc}", file, record) from None
    fields = [f for f, _, _ in parsed]
    for f, spec, conversion in parsed:  # values are inserted as they are, percent-encoded: no spec applies
        if spec or conversion:
            shown = "{" + f + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise InputError(f"'annotation_url' field {shown} has a format spec or conversion, which is not "
                             f"supported (the value is inserted as it is, percent-encoded): write {{{f}}}",
                             file, record)
    unknown = sorted(set(fields) - set(ANNOTATION_FIELDS))
    if unknown:
        raise InputError(f"'annotation_url' uses unknown field(s) {unknown}; available: "
                         f"{', '.join('{' + f + '}' for f in ANNOTATION_FIELDS)}", file, record)


def _input(value: object, key: str, base: Path, file: Path) -> InputSpec:
    if isinstance(value, str):
        return InputSpec(None, base / value)
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        allowed = {"format", "path", "split"} if key == "ground_truth" else {"format", "path"}
        unknown = set(value) - allowed
        if unknown:
            raise InputError(f"unknown field(s) {sorted(unknown)} (allowed: {', '.join(sorted(allowed))})", file,
                             f"key '{key}'")
        fmt = value.get("format")
        if fmt is not None and not isinstance(fmt, str):
            raise InputError("'format' must be a string", file, f"key '{key}'")
        split = value.get("split")
        if split is not None and split not in ("val", "test", "train"):
            raise InputError(f"'split' names a split of an Ultralytics data.yaml: val, test or train, found "
                             f"{split!r}", file, f"key '{key}'")
        return InputSpec(fmt, base / value["path"], split)
    raise InputError("expected a path or {format: ..., path: ...}", file, f"key '{key}'")


def uses_data_yaml(spec: InputSpec) -> bool:
    """Ground truth given as an Ultralytics data.yaml (format ultralytics, or a .yaml/.yml file)."""
    return spec.format == "ultralytics" or (spec.format is None and spec.path.suffix.lower() in (".yaml", ".yml"))


def load_manifest(path: str | Path, language: str | None = None) -> TaskSpec:
    """Read and check a task manifest. `language` (from --lang) overrides the manifest's."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise InputError("manifest not found", file) from None
    except OSError as exc:
        raise InputError(f"cannot read manifest: {exc}", file) from None
    text = decode_utf8(file, data)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        record = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())  # a ReaderError: several lines
        raise InputError(f"malformed YAML: {problem}", file, record) from None
    except RecursionError:  # PyYAML builds nested values recursively; a manifest is a few flat keys
        raise InputError("malformed YAML: nested too deeply to be a manifest", file) from None
    if not isinstance(data, dict):
        raise InputError("a manifest must be a YAML mapping (name: ..., type: ..., ...)", file)
    return spec_from_dict(data, file.resolve().parent, file, language)


def spec_from_dict(data: dict, base: Path, file: Path | None = None, language: str | None = None) -> TaskSpec:
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise InputError(f"unknown key(s) {sorted(map(str, unknown))}; known keys: {sorted(_KNOWN_KEYS)}", file)
    for key in ("name", "type", "ground_truth", "predictions"):
        if key not in data:
            raise InputError(f"missing required key '{key}'", file)
    ground_truth = _input(data["ground_truth"], "ground_truth", base, file)
    if "images" not in data and not uses_data_yaml(ground_truth):
        raise InputError("missing required key 'images' (only an Ultralytics data.yaml as ground truth "
                         "names its images itself)", file)
    name = check_name(data["name"], file)
    task_type = data["type"]
    if task_type not in TASK_TYPES:
        raise InputError(f"unknown task type {task_type!r}; expected one of {', '.join(TASK_TYPES)}",
                         file, "key 'type'")
    lang = language or data.get("language", "zh")
    if lang not in LANGUAGES:
        raise InputError(f"unknown language {lang!r}; expected zh or en", file, "key 'language'")
    if "images" in data and not isinstance(data["images"], str):
        raise InputError("'images' must be a folder path", file, "key 'images'")
    labels, labels_file = None, None
    raw_labels = data.get("labels")
    if isinstance(raw_labels, list):
        if not raw_labels:
            raise InputError("'labels' is an empty list; leave it out to take the labels from the data",
                             file, "key 'labels'")
        # YAML reads yes/no/on/off/true as booleans and 1.0 as a number: such names must be quoted.
        odd = [x for x in raw_labels if isinstance(x, bool) or not isinstance(x, (str, int))]
        if odd:
            raise InputError(f"'labels' must be a list of names; quote {odd[0]!r} (YAML reads it as "
                             f"{type(odd[0]).__name__}, not as a name)", file, "key 'labels'")
        labels = [str(x) for x in raw_labels]
    elif isinstance(raw_labels, str):
        labels_file = base / raw_labels
    elif raw_labels is not None:
        raise InputError("'labels' must be a list of names or a file path", file, "key 'labels'")
    small = data.get("small_set_threshold", 100)
    if not isinstance(small, int) or isinstance(small, bool) or small < 0:
        raise InputError("'small_set_threshold' must be a non-negative integer", file,
                         "key 'small_set_threshold'")
    iou = data.get("iou_threshold", 0.5)
    if not isinstance(iou, (int, float)) or isinstance(iou, bool) or not 0 < iou <= 1:
        raise InputError("'iou_threshold' must be a number in (0, 1]", file, "key 'iou_threshold'")
    annotation_url = data.get("annotation_url")
    if annotation_url is not None:
        check_annotation_url(annotation_url, file)
    metadata = data.get("metadata")
    if metadata is not None and (not isinstance(metadata, str) or not metadata.strip()):
        raise InputError("'metadata' must be the path of a CSV file (image,<column>,...)", file, "key 'metadata'")
    split = data.get("split")
    if split is not None and (not isinstance(split, str) or not split.strip()):
        raise InputError("'split' must be the path of a file listing the images to evaluate, one a line (or, "
                         "for a VOC dataset, an image set name such as test)", file, "key 'split'")
    label_names = data.get("label_names")
    if label_names is not None and (not isinstance(label_names, str) or not label_names.strip()):
        raise InputError("'label_names' must be the path of a file (id name, one a line; or an id,name CSV)",
                         file, "key 'label_names'")
    group, model = data.get("group"), data.get("model")
    for key, value in (("group", group), ("model", model)):
        if value is not None and (not isinstance(value, (str, int)) or isinstance(value, bool)
                                  or not str(value).strip() or len(str(value)) > 100):
            raise InputError(f"'{key}' must be a short name (at most 100 characters), found {value!r}",
                             file, f"key '{key}'")
    return TaskSpec(
        name=name, annotation_url=annotation_url, type=TaskType(task_type),
        images=base / data["images"] if "images" in data else None, ground_truth=ground_truth,
        predictions=_input(data["predictions"], "predictions", base, file),
        language=lang, labels=labels, labels_file=labels_file,
        small_set_threshold=small, iou_threshold=float(iou), source=file,
        group=None if group is None else str(group), model=None if model is None else str(model),
        metadata_file=None if metadata is None else base / metadata,
        split=None if split is None else base / split.strip(),
        label_names_file=None if label_names is None else base / label_names,
    )
