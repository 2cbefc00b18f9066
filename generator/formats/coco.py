"""COCO: an instances ``.json`` as ground truth, a results list ``[{image_id, category_id, bbox, score}]`` (or a
COCO dataset object whose ``annotations`` carry a ``score``) as predictions. The rules:
evalsite.formats.detection."""

from __future__ import annotations

import operator
import os
import re
from pathlib import Path

import numpy as np
import orjson

from evalsite.core.collector import gc_paused
from evalsite.core.errors import InputError, Notice
from evalsite.core.parallel import ForkedCall, fork_call
from evalsite.formats.columns import (
    MISSING,
    box_column,
    check_records,
    field_values,
    int_column,
    load_json,
    number_column,
    short_repr,
)
from evalsite.formats.mask_decoding import check_segm_present, placeholder_boxes
from evalsite.formats.parsed import ParsedPredictions
from evalsite.formats.records import normalise_image_path


def coco_predictions(path: Path, images_root: Path, segmentation: bool,
                     parts: ResultsInParts | None = None) -> ParsedPredictions:
    """`parts`: the file's second part already being parsed (`start_results_in_parts`), else it is started
    here when the file is large."""
    # The collector stays off until the parsed JSON is freed (by reference counting, on return): else
    # its first run afterwards walks all the dicts once more.
    with gc_paused():
        return _coco_predictions_columns(path, images_root, segmentation, parts)


def _coco_predictions_columns(path: Path, images_root: Path, segmentation: bool,
                              parts: ResultsInParts | None) -> ParsedPredictions:
    file = str(path)
    if not segmentation and (parts := parts or start_results_in_parts(path)) is not None \
            and (columns := parts.columns()) is not None:
        image_id, category_id, box, score = columns
        return ParsedPredictions(file=path, fmt="coco", box=box, score=score,
                                 locate=lambda i: (file, f"results entry {i + 1}"), image_id=image_id,
                                 id_names=None, category_id=category_id, category_id_names=None, notices=[],
                                 segm=None, box_missing=None)
    data = load_json(path)
    category_id_names = id_names = None
    if isinstance(data, dict):
        if not isinstance(data.get("annotations"), list):
            raise InputError("COCO predictions must be a results list [{image_id, category_id, bbox, score}, "
                             "...] or an object with an 'annotations' list", path)
        entries, what = data["annotations"], "annotations"
        if isinstance(data.get("categories"), list):
            cats = data["categories"]
            check_records(cats, path, "categories")
            loc = lambda i: (file, f"categories entry {i + 1}")  # noqa: E731
            ids = int_column([c.get("id", MISSING) for c in cats], loc, "id")
            category_id_names = {}
            for i, (cid, cat) in enumerate(zip(ids.tolist(), cats)):
                if not isinstance(cat.get("name"), str):
                    raise InputError(f"a category needs a name, found {short_repr(cat.get('name', MISSING))}",
                                     *loc(i))
                category_id_names[cid] = cat["name"]
        if isinstance(data.get("images"), list):
            imgs = data["images"]
            check_records(imgs, path, "images")
            loc = lambda i: (file, f"images entry {i + 1}")  # noqa: E731
            ids = int_column([m.get("id", MISSING) for m in imgs], loc, "id")
            id_names = {iid: normalise_image_path(m.get("file_name"), images_root, path, loc(i)[1])
                        for i, (iid, m) in enumerate(zip(ids.tolist(), imgs))}
    elif isinstance(data, list):
        entries, what = data, "results"
    else:
        raise InputError("COCO predictions must be a results list [{image_id, category_id, bbox, score}, ...], "
                         f"found {type(data).__name__}", path)
    check_records(entries, path, what)
    locate = lambda i: (file, f"{what} entry {i + 1}")  # noqa: E731
    image_id = int_column(field_values(entries, "image_id"), locate, "image_id")
    category_id = int_column(field_values(entries, "category_id"), locate, "category_id")
    segm = box_missing = None
    boxes = field_values(entries, "bbox")
    if segmentation:
        segm = field_values(entries, "segmentation")
        check_segm_present(segm, path, locate)
        boxes, box_missing = placeholder_boxes(boxes)
    box = box_column(boxes, locate)
    score = number_column(field_values(entries, "score"), locate, "score")
    if entries and id_names is None and "file_name" in entries[0]:
        # results that also name their image: matched by file name when the ids are not the ground truth's
        cache: dict[str, str] = {}
        id_names = {}
        for i, (iid, raw) in enumerate(zip(image_id.tolist(), [r.get("file_name") for r in entries])):
            name = cache.get(raw) if isinstance(raw, str) else None
            if name is None:
                name = cache[raw] = normalise_image_path(raw, images_root, path, locate(i)[1])
            if id_names.setdefault(iid, name) != name:
                raise InputError(f"image id {iid} has the file name {name!r} here and {id_names[iid]!r} before",
                                 *locate(i))
    notices = []
    if not entries:
        notices.append(Notice("no_predictions", file, None, "the predictions file lists no detections"))
    return ParsedPredictions(file=path, fmt="coco", box=box, score=score, locate=locate, image_id=image_id,
                        id_names=id_names, category_id=category_id, category_id_names=category_id_names,
                        notices=notices, segm=segm, box_missing=box_missing)


# ------------------------------------------------------------------------------ a large results list in two parts

SPLIT_BYTES = 8 << 20  # results files from this size are parsed in two parts, one in a forked child
_BETWEEN_RECORDS = re.compile(rb"\}\s*,\s*\{")
_CUT_WINDOW = 1 << 20  # bytes searched for a place between two records, from the cut's target on
_RESULT_KEYS = ("image_id", "category_id", "bbox", "score")
# What a byte of COCO ground truth costs to read, in bytes of a results list (0.09 s for 4.7 MB against
# 0.62 s for 59 MB at 5,000 COCO images): `start_results_in_parts` shortens this process's part by that.
_LEAD_COST = 1.4


def start_results_in_parts(path: Path, lead_bytes: int = 0, more_bytes: int = 0) -> ResultsInParts | None:
    """The second part of a large results list [{image_id, category_id, bbox, score}, ...] parsed into
    columns by a forked child from now on (parsing and turning 400,000 records into columns is most of the
    reading), while this process goes on (`lead_bytes`: the size of a COCO ground-truth file it reads
    first; `more_bytes`: other work it does first, as the bytes of results list that take as long) and then
    reads the first part (`ResultsInParts.columns`); None for a small file, one with a byte-order mark, or
    when this process may not fork.

    The file is cut after a '}' that is followed by ',' and '{' (blanks between) at or after the target
    (the middle, less half of what this process does first). The first part, closed by ']', parses only if
    that '}' closed an element of the top-level list outside any string (a cut inside a string leaves it
    open; one deeper in leaves a bracket open), so then the two parts, the second opened by '[', hold
    exactly the elements of the whole list, in order. Each part's columns are made as
    `_coco_predictions_columns` makes them, and taken only when every value has the plain type (so no part
    needs the checks that name a bad record): the same arrays as from the whole."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < SPLIT_BYTES or handle.read(3).startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
                return None
            target = int(size * max(0.25, 0.5 - (_LEAD_COST * lead_bytes + more_bytes) / (2 * size)))
            handle.seek(target)
            cut = _BETWEEN_RECORDS.search(handle.read(_CUT_WINDOW))
    except OSError:
        return None  # (the whole file's reading says what is wrong)
    if cut is None:
        return None
    end = target + cut.start() + 1  # the first part: bytes 0..end - 1, up to that '}'
    second = fork_call(lambda: _plain_results(_read_part(path, target + cut.end() - 1, b"[", None), first=False))
    return None if second is None else ResultsInParts(path, end, second)


class ResultsInParts:
    """A results list read in two parts, the second by a forked child (`start_results_in_parts`)."""

    def __init__(self, path: Path, end: int, second: ForkedCall):
        self.path, self.end, self.second = path, end, second

    def columns(self) -> tuple[np.ndarray, ...] | None:
        """(image_id, category_id, box, score) of the whole list: the first part read and parsed here, the
        second's from the child; None when a part is not a list of plain records (then the caller reads the
        file whole, the one way with every check and message)."""
        try:
            first = _plain_results(_read_part(self.path, 0, None, self.end), first=True)
        except OSError:
            first = None
        try:
            rest = self.second()
        except Exception:  # noqa: BLE001 - the child died or could not read: the whole file is read
            return None
        if first is None or rest is None:
            return None
        return tuple(np.concatenate(pair) for pair in zip(first, rest))

    def cancel(self) -> None:
        """The child stopped, when its part is no longer wanted (the file turned out to be another format)."""
        self.second.cancel()


def _read_part(path: Path, start: int, opening: bytes | None, stop: int | None) -> bytearray:
    """Bytes start..stop - 1 of the file (to its end when stop is None), with `opening` ('[') before them, or
    else ']' after them: a part as a JSON list."""
    with open(path, "rb") as handle:
        length = (os.fstat(handle.fileno()).st_size if stop is None else stop) - start
        data = bytearray(max(0, length) + 1)
        handle.seek(start)
        view = memoryview(data)
        got = handle.readinto(view[1:] if opening else view[:-1])
        del view
        if opening:
            data[0] = opening[0]
            del data[1 + got:]
            data += handle.read()  # (a file that grew)
        else:
            del data[got:]
            data += b"]"
    return data


def _plain_results(text: bytes | memoryview, first: bool) -> tuple[np.ndarray, ...] | None:
    """The columns of a results list whose records all have integer ids, a box of 4 numbers and a number
    as score (`start_results_in_parts`); None for anything else. `first`: the file's first part, whose first
    record decides whether the results also name their images (then: None, read whole)."""
    try:
        with gc_paused():
            entries = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(entries) is not list or not entries or set(map(type, entries)) != {dict}:
        return None
    if first and "file_name" in entries[0]:
        return None
    try:
        image_id, category_id, boxes, score = (list(map(operator.itemgetter(key), entries)) for key in _RESULT_KEYS)
    except KeyError:
        return None
    del entries
    try:
        if not set(map(type, image_id)) <= {int} or not set(map(type, category_id)) <= {int} \
                or not set(map(type, score)) <= {int, float}:
            return None
        columns = [np.array(image_id, dtype=np.int64), np.array(category_id, dtype=np.int64)]
        box = np.array(boxes)
        if box.ndim != 2 or box.shape[1] != 4 or box.dtype.kind not in "fi":
            return None
        columns += [box.astype(np.float64, copy=False), np.array(score, dtype=np.float64)]
    except (ValueError, TypeError, OverflowError):
        return None
    return tuple(columns)
