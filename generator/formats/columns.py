"""What the detection readers share: JSON loading, turning JSON values into checked column arrays, the
checks on those arrays, and clipping boxes to their image (the rules: evalsite.formats.detection).

Every check is vectorised over the arrays; the Python loops run only to name the first bad record.
`Locator` maps a record's index to (file, record) for messages.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import orjson

from evalsite.core.boxes import empty_boxes
from evalsite.core.collector import gc_paused
from evalsite.core.encodings import decode_utf8
from evalsite.core.errors import InputError, Notice, listing
from evalsite.core.masks.polygons import MAX_COORDINATE
from evalsite.core.on_disk import DiskArray, DiskArrayWriter, blocks_of, rows_where
from evalsite.formats.records import read_bytes

EXAMPLES = 3  # examples a notice shows
CHECK_ROWS = 1 << 18  # boxes checked at a time (`_each_row`)
SLACK = 1e-3  # pixels a box may reach outside its image (rounding: YOLO's normalised values, float32) unclipped
MISSING = object()  # a key that is not there (JSON null is None)

Locator = Callable[[int], "tuple[str, str | None]"]  # record index -> (file, record)


def load_json(path: Path, data: bytes | bytearray | None = None) -> object:
    """The parsed JSON file (`data`: its bytes, when already read); malformed JSON is an InputError with its
    line and column."""
    data = read_bytes(path) if data is None else data
    if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):  # no byte-order mark
        try:
            with gc_paused():
                # about twice as fast as json.loads, a large share of `evaluate`; from the bytes, as orjson
                # checks the UTF-8 itself (decoding 40 MB to a str first costs 0.05 s)
                return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard parser gives the line and column, and accepts NaN (which is then reported by field)
    text = decode_utf8(path, bytes(data))  # (an encoding other than UTF-8 is an error naming it)
    try:
        with gc_paused():
            return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", path, f"line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply", path) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise InputError(f"malformed JSON: {exc}", path) from None


def field_values(records: list[dict], key: str) -> list:
    """One field of every record (MISSING where absent). map(itemgetter) is the fast path for 400k records;
    a record without the field falls back to the slower, forgiving .get."""
    try:
        return list(map(operator.itemgetter(key), records))
    except KeyError:
        return [r.get(key, MISSING) for r in records]


def short_repr(value: object) -> str:
    text = "missing" if value is MISSING else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_box(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def and_more(count: int) -> str:
    return "" if count <= 1 else f" (and {count - 1} more like this)"


def check_records(values: list, path: Path, what: str) -> None:
    """Every element of a JSON list is an object."""
    if values and set(map(type, values)) != {dict}:
        i = next(i for i, v in enumerate(values) if not isinstance(v, dict))
        raise InputError(f"each entry of '{what}' must be an object, found {short_repr(values[i])}", path,
                         f"{what} entry {i + 1}")


def int_column(values: list, locate: Locator, key: str) -> np.ndarray:
    """int64 array of JSON integers (not booleans, not 1.0)."""
    if set(map(type, values)) <= {int}:
        try:
            return np.array(values, dtype=np.int64).reshape(len(values))
        except OverflowError:
            pass
    for i, value in enumerate(values):
        if type(value) is not int:
            problem = (f"missing '{key}'" if value is MISSING else
                       f"'{key}' must be an integer, found {short_repr(value)}")
            raise InputError(problem, *locate(i))
        if not -(2 ** 63) <= value < 2 ** 63:
            raise InputError(f"'{key}' {value} is out of range", *locate(i))
    raise AssertionError("unreachable")


def number_column(values: list, locate: Locator, key: str) -> np.ndarray:
    """float64 array of JSON numbers (NaN and infinity pass here; callers check finiteness on the array)."""
    if set(map(type, values)) <= {int, float}:
        try:
            return np.array(values, dtype=np.float64).reshape(len(values))
        except OverflowError:
            pass
    for i, value in enumerate(values):
        if type(value) not in (int, float):
            problem = f"missing '{key}'" if value is MISSING else f"'{key}' must be a number, found {short_repr(value)}"
            raise InputError(problem, *locate(i))
    return np.array([as_float(v) for v in values], dtype=np.float64)


def box_column(values: list, locate: Locator, key: str = "bbox") -> np.ndarray:
    """(N, 4) float64 from lists [x, y, w, h]."""
    if not values:
        return empty_boxes()
    try:
        array = np.array(values)
        if array.ndim == 2 and array.shape[1] == 4 and array.dtype.kind in "fi":
            return array.astype(np.float64, copy=False)
    except (ValueError, TypeError, OverflowError):
        pass
    for i, value in enumerate(values):
        if value is MISSING:
            raise InputError(f"missing '{key}'", *locate(i))
        if (not isinstance(value, list) or len(value) != 4
                or any(type(v) not in (int, float) for v in value)):
            raise InputError(f"'{key}' must be [x, y, width, height] (4 numbers), found {short_repr(value)}",
                             *locate(i))
    return np.array([[as_float(v) for v in box] for box in values], dtype=np.float64)


def as_float(value: int | float) -> float:
    """A JSON number as a float; an integer too large for one is infinite (and then reported as such)."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def first_duplicate(values: np.ndarray | DiskArray) -> tuple[int, int] | None:
    """(first index, index of its first repeat) of the earliest repeated value in file order, or None. Values
    on disk (`DiskArray`: a cluster's ground-truth columns) are looked at a range of values at a time
    (`_first_duplicate_on_disk`), not whole.

    Examples
    --------
    >>> first_duplicate(np.array([5, 3, 9, 3, 5])), first_duplicate(np.array([1, 2]))
    ((1, 3), None)
    """
    if isinstance(values, DiskArray) and len(values) > DUPLICATE_ROWS:
        return _first_duplicate_on_disk(values)
    values = np.asarray(values)
    if len(values) < 2:
        return None
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(same):
        return None
    k = same[np.argmin(order[same + 1])]
    second = int(order[k + 1])
    first = int(order[np.searchsorted(ordered, ordered[k], side="left")])
    return first, second


def first_repeated_name(names: Sequence[str]) -> tuple[int, int] | None:
    """`first_duplicate` of strings: (first index, index of its first repeat) of the earliest repeated name, or
    None, as a dict of the names seen finds it, with 16 bytes a name beside them (their hashes and their order)
    where a dict takes about 100 (1 GB at 10 M images' file names). Names of one hash are then compared as
    strings: two names of one hash are not taken for one.

    Examples
    --------
    >>> first_repeated_name(["a.jpg", "b.jpg", "c.jpg", "b.jpg", "a.jpg"]), first_repeated_name(["a", "b"])
    ((1, 3), None)
    """
    hashes = np.fromiter(map(hash, names), np.int64, len(names))
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    bounds = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1, [len(ordered)]])
    del hashes, ordered
    found = None
    for g in np.flatnonzero(np.diff(bounds) > 1).tolist():  # (hashes shared: candidates only)
        seen: dict[str, int] = {}
        for row in order[bounds[g]:bounds[g + 1]].tolist():  # (ascending: a stable sort)
            first = seen.setdefault(names[row], row)
            if first != row:
                if found is None or row < found[1]:
                    found = (first, row)
                break
    return found


DUPLICATE_ROWS = 1 << 21  # values of a column on disk sorted at a time (`_first_duplicate_on_disk`)


def _first_duplicate_on_disk(values: DiskArray) -> tuple[int, int] | None:
    # The values split by range into parts of about DUPLICATE_ROWS each (the bounds from a sample of them),
    # each part's rows found a block at a time (`rows_where`) and its values sorted alone, as
    # `evalsite.metrics.arrays.descending_parts` orders scores: every repeat of a value is in its part, so the
    # earliest repeat is the earliest of the parts' (a value repeated more than a part's rows makes its part
    # that much larger).
    n_parts = -(-len(values) // DUPLICATE_ROWS)
    sample = np.sort(values[::max(1, len(values) // (64 * n_parts))])
    bounds = np.unique(sample[(np.arange(1, n_parts) * len(sample)) // n_parts])
    found = None
    for lo, hi in zip([None, *bounds], [*bounds, None]):
        def inside(block: np.ndarray, lo=lo, hi=hi) -> np.ndarray:
            within = np.ones(len(block), bool) if lo is None else block >= lo
            return within if hi is None else within & (block < hi)

        rows = rows_where(values, inside)
        dup = first_duplicate(values[rows])
        if dup is not None and (found is None or rows[dup[1]] < found[1]):
            found = int(rows[dup[0]]), int(rows[dup[1]])
    return found


def lookup(sorted_keys: np.ndarray, values: np.ndarray | DiskArray) -> np.ndarray | DiskArray:
    """Index of each value in the ascending `sorted_keys` (int64), -1 where absent; on disk when `values` are
    (`DiskArray`: a cluster's joined prediction shards), neither read nor written whole."""
    # (a block of values at a time: one array of the values' length, where the predictions' image ids took five,
    # 0.13 GB each at 50,000 COCO-like images)
    kept = DiskArrayWriter(np.int64) if isinstance(values, DiskArray) else None
    pos = None if kept is not None else np.empty(len(values), dtype=np.int64)
    for start, block in blocks_of(values, CHECK_ROWS):
        if len(sorted_keys):
            found = np.minimum(np.searchsorted(sorted_keys, block), len(sorted_keys) - 1)
            found[sorted_keys[found] != block] = -1
        else:
            found = np.full(len(block), -1, dtype=np.int64)
        if kept is not None:
            kept.append(found)
        else:
            pos[start:start + len(block)] = found
    return kept.finish() if kept is not None else pos


def unknown_error(index: np.ndarray, keys: np.ndarray | list, locate: Locator, problem: str) -> None:
    """Raise for the keys whose index is -1: up to 10 listed in order of first appearance."""
    bad = rows_where(index, lambda block: block < 0)  # (a block at a time: an index on disk is not read whole)
    if not len(bad):
        return
    keys_bad = [keys[i] for i in bad] if isinstance(keys, list) else keys[bad].tolist()
    unique = list(dict.fromkeys(keys_bad))
    file, record = locate(int(bad[0]))
    raise InputError(f"{len(unique)} {problem}: {listing(unique)}", file, f"first at {record}" if record else None)


def _each_row(n: int, test: Callable[[slice], np.ndarray]) -> np.ndarray:
    """`test(rows)` (a bool per row of the slice `rows`) of rows 0..n-1, CHECK_ROWS rows at a time: its
    temporaries are a block's (np.abs(box) alone is 32 bytes per box: 0.5 GB at 200,000 COCO-like images)."""
    out = np.empty(n, dtype=bool)
    for start in range(0, n, CHECK_ROWS):
        rows = slice(start, min(start + CHECK_ROWS, n))
        out[rows] = test(rows)
    return out


def check_finite_boxes(box: np.ndarray, locate: Locator) -> None:
    finite = _each_row(len(box), lambda rows: np.isfinite(box[rows]).all(axis=1))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        i = int(bad[0])
        raise InputError(f"box {format_box(box[i])} has a NaN or infinite coordinate{and_more(len(bad))}", *locate(i))
    # as polygons: a unit or parsing mistake, and w*h overflows
    huge = _each_row(len(box), lambda rows: (np.abs(box[rows]) > MAX_COORDINATE).any(axis=1))
    if huge.any():
        bad = np.flatnonzero(huge)
        i = int(bad[0])
        raise InputError(f"box {format_box(box[i])} has a coordinate beyond {MAX_COORDINATE:g} pixels (no image "
                         f"is that large: a unit or parsing mistake?){and_more(len(bad))}", *locate(i))
    small = _each_row(len(box), lambda rows: (box[rows][:, 2:] <= 0).any(axis=1))
    if small.any():
        bad = np.flatnonzero(small)
        i = int(bad[0])
        raise InputError(f"box {format_box(box[i])} has zero or negative size (width {box[i, 2]:g}, height "
                         f"{box[i, 3]:g}){and_more(len(bad))}", *locate(i))


def check_finite(values: np.ndarray, locate: Locator, what: str, limit: float = np.inf) -> None:
    """An error at the first value that is not a finite number or, when `limit` is given, lies beyond it (either
    sign); a block of rows at a time (`rows_where`: a column kept on disk is not read whole)."""
    bad = rows_where(values, lambda block: ~np.isfinite(block))
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{what} must be a finite number, found {values[i]!r}{and_more(len(bad))}", *locate(i))
    if limit < np.inf:
        huge = rows_where(values, lambda block: np.abs(block) > limit)
        if len(huge):
            raise InputError(f"{what} {values[huge[0]]:g} is beyond {limit:g} (no model scores that: a parsing "
                             "mistake?)", *locate(int(huge[0])))


def _outside(box: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Which boxes reach outside their image (of a known size) by more than SLACK."""
    w_img, h_img = widths.astype(np.float64), heights.astype(np.float64)
    x1, y1 = box[:, 0], box[:, 1]
    return (w_img > 0) & (h_img > 0) & ((x1 < -SLACK) | (y1 < -SLACK) | (x1 + box[:, 2] > w_img + SLACK)
                                        | (y1 + box[:, 3] > h_img + SLACK))


def clip_boxes(box: np.ndarray, image: np.ndarray, widths: np.ndarray, heights: np.ndarray, locate: Locator,
          names: list[str], file: Path, enabled: bool, kind: str) -> tuple[np.ndarray, np.ndarray | None,
                                                                             list[Notice]]:
    """Boxes clipped to their image; (boxes, rows to keep or None for all, notices)."""
    if not len(box):
        return box, None, []
    rows = np.flatnonzero(_each_row(len(box), lambda r: _outside(box[r], widths[image[r]], heights[image[r]])))
    if not len(rows):
        return box, None, []
    w_img = widths[image[rows]].astype(np.float64)
    h_img = heights[image[rows]].astype(np.float64)
    x1, y1 = box[rows, 0], box[rows, 1]
    cx1 = np.clip(x1, 0, w_img)
    cy1 = np.clip(y1, 0, h_img)
    cw = np.clip(x1 + box[rows, 2], 0, w_img) - cx1
    ch = np.clip(y1 + box[rows, 3], 0, h_img) - cy1
    gone = (cw <= 0) | (ch <= 0)

    def examples(which: np.ndarray) -> str:
        shown = []
        for i in which[:EXAMPLES]:
            where, record = locate(int(i))
            place = record if where == str(file) else f"{Path(where).name}, {record}"
            shown.append(f"{place}: {format_box(box[i])} in {names[image[i]]!r} "
                         f"({int(widths[image[i]])}x{int(heights[image[i]])})")
        more = f"; and {len(which) - EXAMPLES} more" if len(which) > EXAMPLES else ""
        return "; ".join(shown) + more

    if not enabled:
        return box, None, [Notice("box_not_clipped", str(file), None,
                                  f"{len(rows)} {kind} box(es) reach outside their image, kept as given "
                                  f"(clipping is off), e.g. {examples(rows)}")]
    notices = []
    clipped, dropped = rows[~gone], rows[gone]
    if len(clipped):
        notices.append(Notice("box_clipped", str(file), None,
                              f"{len(clipped)} {kind} box(es) partly outside their image, clipped to it, "
                              f"e.g. {examples(clipped)}"))
    if len(dropped):
        notices.append(Notice("box_outside_image", str(file), None,
                              f"{len(dropped)} {kind} box(es) wholly outside their image, ignored, "
                              f"e.g. {examples(dropped)}"))
    clipped_boxes = np.column_stack([cx1, cy1, cw, ch])
    if isinstance(box, DiskArray):  # (with a cluster: copied a block at a time, on disk)
        box = box.with_rows(rows, clipped_boxes)
    else:
        box = box.copy()
        box[rows] = clipped_boxes
    keep = np.ones(len(box), dtype=bool)
    keep[dropped] = False
    return box, (None if keep.all() else keep), notices
