"""Label display names (report.json `dataset.label_names`, from the manifest's `label_names`) on the pages.

The pages and charts are rendered from a copy of the report in which every label (in the fields listed in
LABEL_FIELDS, wherever they occur) reads "name (id)"; report.json and the downloads are written from the
report itself, so ids stay the keys. The text stays untrusted: the templates escape it as they escape ids.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from evalsite.report.model import Rows

T = TypeVar("T")

# Fields of the report's dataclasses that hold a label id, or a list of them (None: no label).
LABEL_FIELDS = frozenset({"label", "labels", "true", "predicted", "related_label", "rows", "columns",
                          "labels_only_predicted", "weakest", "few_examples", "collect_more"})
_KEEP = frozenset({"task", "notices", "intervals", "metadata", "evidence", "metrics", "label_names"})


def display_name(label: str, names: dict[str, str] | None) -> str:
    """The text shown for a label: "name (id)" when it has a display name, else the id."""
    name = (names or {}).get(label)
    return label if name is None or name == label else f"{name} ({label})"


def _labels(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return display_name(value, names)
    if isinstance(value, list):
        return [_labels(v, names) for v in value]
    return _walk(value, names)  # a record under a label-named field (a comparison's `labels`: LabelChange rows)


def _walk(value: Any, names: dict[str, str]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if f.name in _KEEP or not f.init:
                continue
            old = getattr(value, f.name)
            changes[f.name] = _labels(old, names) if f.name in LABEL_FIELDS else _walk(old, names)
        return dataclasses.replace(value, **changes)
    if isinstance(value, (list, Rows)):  # (Rows: a list held as columns, e.g. a detection report's errors)
        return [_walk(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, names) for k, v in value.items()}
    return value


def displayed(value: T, names: dict[str, str] | None) -> T:
    """A copy of a report (or of its tables) with every label shown by its display name; `value` itself when
    there are no names."""
    return _walk(value, names) if names else value
