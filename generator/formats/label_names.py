"""A display-name map (manifest key `label_names`, docs/inputs.md "Display names"): label id -> name.

Two layouts:

* text, one label a line: the id, white space, the name (ImageNet's `LOC_synset_mapping.txt`:
  `n01440764 tench, Tinca tinca`);
* a `.csv` file with two columns, id and name (a header row `id,name` is skipped).

Ids stay the labels' keys (report.json `dataset.labels`); names are only shown.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from evalsite.core.errors import InputError, Notice, listing
from evalsite.formats.records import lines, read_text


def read_label_names(path: Path) -> dict[str, str]:
    """{id: name} in file order; a repeated id or a line without a name is an error."""
    text = read_text(path)
    names: dict[str, str] = {}
    seen: dict[str, int] = {}
    if path.suffix.lower() == ".csv":
        rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)]
        if rows and [c.strip().lower() for c in rows[0][1]] in (["id", "name"], ["label", "name"]):
            rows = rows[1:]
        entries = []
        for number, row in rows:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise InputError(f"expected 2 columns (id,name), found {len(row)}", path, f"line {number}")
            entries.append((number, row[0].strip(), row[1].strip()))
    else:
        entries = []
        for number, line in enumerate(lines(text), start=1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            entries.append((number, parts[0], parts[1].strip() if len(parts) > 1 else ""))
    for number, label, name in entries:
        if not name:
            raise InputError(f"no name after the id {label!r} (expected 'id name')", path, f"line {number}")
        if label in seen:
            raise InputError(f"id {label!r} repeats line {seen[label]}", path, f"line {number}")
        seen[label] = number
        names[label] = name
    if not names:
        raise InputError("the label names file lists no names", path)
    return names


def names_for(labels: list[str], path: Path) -> tuple[dict[str, str], list[Notice]]:
    """The names of `labels` from the map at `path`: ({id: name} in label order, notices). A map that names
    none of the labels is an error (the wrong file, or names where ids were expected)."""
    names = read_label_names(path)
    shown = {label: names[label] for label in labels if label in names}
    if not shown:
        raise InputError(f"names none of the task's labels (labels {listing(labels)}; ids in the file "
                         f"{listing(list(names))})", path)
    unnamed = [label for label in labels if label not in names]
    notices = [Notice("label_names_missing", str(path), detail=f"{len(unnamed)} label(s) shown by id: "
                      f"{listing(unnamed)}")] if unnamed else []
    return shown, notices
