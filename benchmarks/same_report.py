"""Exit 0 when two report.json files are byte-identical; else print the first place where they differ (as
JSON values: key order, lengths, types, values) and exit 1. For checking that a speed change changed no
number: run `evalsite evaluate` before and after with the same SOURCE_DATE_EPOCH and output folder, then
`python benchmarks/same_report.py before.json after.json`."""

from __future__ import annotations

import json
import sys


def first_difference(a: object, b: object, path: str = "$") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)[:10]} vs {list(b)[:10]}"
        return next((d for k in a if (d := first_difference(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))), None)
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], "rb") as f, open(argv[1], "rb") as g:
        old, new = f.read(), g.read()
    if old == new:
        print(f"identical: {len(old):,} bytes")
        return 0
    where = first_difference(json.loads(old), json.loads(new))
    print(f"differ: {where}" if where else "the same JSON values, different bytes (formatting)")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
