"""Masks of a segmentation task's ground truth and predictions: their 'segmentation' values (polygons,
uncompressed or compressed RLE) checked and decoded into a `MaskSet` (the rules: evalsite.formats.detection,
"Segmentation tasks")."""

from __future__ import annotations

import functools
import mmap
import pickle
from itertools import chain
from pathlib import Path

import numpy as np

from evalsite.core.cluster import current, each_task
from evalsite.core.errors import InputError, MaskError, Notice
from evalsite.core.masks.maskset import MaskSet, MaskSetWriter
from evalsite.core.masks.polygons import rle_from_polygons, rle_from_polygons_many
from evalsite.core.on_disk import DiskArray, DiskArrayWriter, rows_where
from evalsite.core.parallel import fork_call
from evalsite.core.values_on_disk import ValuesOnDisk
from evalsite.formats.columns import EXAMPLES, MISSING, Locator, and_more, short_repr

NO_MASKS = "segmentation task, but the predictions have no masks"
_NUMBER_TYPES = frozenset((int, float))  # polygon coordinates (not bool)


def check_segm_present(segm: list, path: Path, locate: Locator) -> None:
    """Every prediction has a 'segmentation'; none at all is the clear "no masks" error."""
    missing = [i for i, v in enumerate(segm) if v is MISSING or v is None]
    if not missing:
        return
    if len(missing) == len(segm):
        raise InputError(f"{NO_MASKS} (no 'segmentation' in any prediction): give polygons or RLE masks "
                         "(e.g. pycocotools' compressed {\"size\": [h, w], \"counts\": \"...\"})", path,
                         locate(0)[1])
    raise InputError(f"missing 'segmentation'{and_more(len(missing))}: a segmentation task needs a mask for "
                     "every prediction", *locate(missing[0]))


def placeholder_boxes(boxes: list) -> tuple[list, np.ndarray]:
    """Missing boxes replaced by a placeholder (filled from the mask later), and where they were."""
    missing = np.array([b is MISSING for b in boxes], dtype=bool)
    if missing.any():
        boxes = [[0, 0, 1, 1] if b is MISSING else b for b in boxes]
    return boxes, missing


SPLIT_MASKS = 20_000  # from this many masks, the second half is decoded in a forked child (`decode_masks`)


def decode_masks(values: list, image: np.ndarray, widths: np.ndarray, heights: np.ndarray, names: list[str],
                 locate: Locator, file: Path, kind: str, boxes: bool = False,
                 halves: bool = True) -> tuple[MaskSet, np.ndarray, list[Notice]]:
    """RLE counts of every 'segmentation' value in the image of its row; (masks, areas, notices); `boxes`:
    also compute the masks' boxes (`MaskSet.bboxes`, cached in the set); `halves=False`: all here (the
    caller's other core is busy).

    One pass in Python sorts the values by kind and checks their structure; then each kind is converted
    in one vectorised batch: polygons (rle_from_polygons_many; only when that fails, row by row to name
    the bad one), uncompressed counts, compressed strings (MaskSet.from_strings). Many polygon masks are
    decoded in two halves, the second in a forked child beside this process (`core.parallel.fork_call`):
    every mask is decoded on its own, so the two sets one after the other are the set of the whole. (Not
    when the first is RLE: compressed strings decode fast, and moving their counts, about 300 MB for 400,000
    predicted masks, between the processes and into one array took longer than decoding.) When either
    half fails, the whole is decoded here again, which raises the error the whole raises (the first bad
    value in the order of the checks).

    Values kept on disk (`ValuesOnDisk`: with a Dask cluster) are decoded a part at a time by the cluster's
    workers instead (`_decoded_in_parts`), into masks kept on this machine's disk: the same masks, areas,
    notices and errors."""
    if isinstance(values, ValuesOnDisk):
        return _decoded_in_parts(values, image, widths, heights, names, locate, file, kind, boxes)
    hs, ws = heights[image], widths[image]
    _check_sized(np.flatnonzero((hs <= 0) | (ws <= 0)), names, image, locate)
    masks = None
    half = len(values) // 2
    if halves and len(values) >= SPLIT_MASKS and isinstance(values[0], dict):
        masks = _strings_in_halves(values, hs, ws, names, image, locate, boxes)
    elif halves and len(values) >= SPLIT_MASKS:
        second = fork_call(lambda: _decoded(values[half:], hs[half:], ws[half:], names, image[half:], locate, boxes))
        if second is not None:
            try:
                first = _decoded(values[:half], hs[:half], ws[:half], names, image[:half], locate, boxes)
            except Exception:  # noqa: BLE001 - a bad value: decoded whole below, for the whole's error
                first = None
            try:
                rest = second()
            except Exception:  # noqa: BLE001 - a bad value there, or the child died: decoded whole below
                rest = None
            if first is not None and rest is not None:
                masks = MaskSet.concat([first, rest])
    if masks is None:
        masks = _decoded(values, hs, ws, names, image, locate, boxes)
    area = masks.areas().astype(np.float64)
    empty = np.flatnonzero(area == 0)
    _check_inside(values, empty, hs.tolist(), ws.tolist(), names, image, locate)
    return masks, area, _empty_notices(empty, names, image, locate, file, kind)


def _check_sized(unsized: np.ndarray, names: list[str], image, locate: Locator) -> None:
    """The rows of masks whose image has no width/height (`unsized`) are an error naming the first."""
    if len(unsized):
        i = int(unsized[0])
        raise InputError(f"image {names[int(image[i])]!r} has no width/height: a segmentation task needs them to "
                         f"decode masks{and_more(len(unsized))}", *locate(i))


def _empty_notices(empty: np.ndarray, names: list[str], image, locate: Locator, file: Path, kind: str
                   ) -> list[Notice]:
    """The notice of the masks without a pixel (rows `empty`), naming a few."""
    if not len(empty):
        return []
    shown = []
    for i in empty[:EXAMPLES].tolist():
        where, record = locate(i)
        place = record if where == str(file) else f"{Path(where).name}, {record}"
        shown.append(f"{place} in {names[int(image[i])]!r}")
    more = f"; and {len(empty) - EXAMPLES} more" if len(empty) > EXAMPLES else ""
    return [Notice("mask_empty", str(file), None,
                   f"{len(empty)} {kind} mask(s) without a pixel in their image (e.g. a polygon "
                   f"too thin to cover a pixel, or an empty RLE), kept as empty masks (they match nothing), "
                   f"e.g. {'; '.join(shown)}{more}")]


def _decoded_in_parts(values: ValuesOnDisk, image, widths: np.ndarray, heights: np.ndarray, names: list[str],
                      locate: Locator, file: Path, kind: str, boxes: bool) -> tuple[MaskSet, DiskArray, list[Notice]]:
    """`decode_masks` of values kept on disk: each part decoded and checked by a task on the cluster's workers
    (here, without one), its counts taken back a piece at a time onto this machine's disk and appended there
    with its masks' offsets, sizes, areas (and boxes): neither the values nor the masks are ever all in this
    process's memory. When any part fails (a bad value), every value is decoded here as `decode_masks` of a
    list decodes them, for the error it raises: the first bad value in the order of its checks, as without a
    cluster (that once, the values are all in memory)."""
    _check_sized(rows_where(image, lambda block: (heights[block] <= 0) | (widths[block] <= 0)), names, image,
                 locate)
    starts = values.starts()

    def make(k: int) -> tuple:
        rows = np.asarray(image[int(starts[k]):int(starts[k + 1])])
        return values.pickled(k), heights[rows], widths[rows]

    work = functools.partial(_decoded_part, boxes=boxes)
    cluster = current()
    parts = range(values.n_parts)
    decoded = each_task(cluster, work, parts, make, priority=0, back_in_pieces=True) if cluster is not None \
        else (work(make(k), k, None) for k in parts)
    dtype = MaskSet.counts_dtype(heights, widths)  # (as decoding them all: the counts fit the largest image's)
    out, area = MaskSetWriter(dtype, areas=True, bboxes=boxes), DiskArrayWriter(np.float64)
    empty: list[np.ndarray] = []
    failed = False
    try:
        for k, part in zip(parts, decoded):
            if part is None or not np.can_cast(part[0].dtype, dtype):
                failed = True
                break
            masks = MaskSet(*part[:5], checked=True)
            masks._areas, masks._bboxes = part[5:7]
            out.append(masks)
            area.append(np.asarray(masks._areas).astype(np.float64))
            empty.append(np.asarray(part[7]) + starts[k])
            del part, masks
    finally:
        decoded.close()  # (the tasks left cancelled when one failed)
    if failed:
        return decode_masks(list(values), np.asarray(image), widths, heights, names, locate, file, kind, boxes,
                            halves=False)
    masks = out.finish(checked=True)
    rows = np.concatenate(empty) if empty else np.zeros(0, np.int64)
    return masks, area.finish(), _empty_notices(rows, names, image, locate, file, kind)


def _decoded_part(part: tuple, spec: int, value: None, *, boxes: bool) -> tuple | None:
    """A task of `_decoded_in_parts`: part `spec`'s masks decoded and checked as `decode_masks` does (their
    counts, offsets, sizes, areas, boxes when `boxes`, and which are empty); None when a value is bad (the
    caller then finds the error as `decode_masks` of all of them raises it)."""
    pickled, hs, ws = part
    values = pickle.loads(pickled)
    image, names = np.zeros(len(values), np.int64), [""]  # (errors are not named here: see the caller)
    try:
        masks = _decoded(values, hs, ws, names, image, _nowhere, boxes)
        empty = np.flatnonzero(masks.areas() == 0)
        _check_inside(values, empty, hs.tolist(), ws.tolist(), names, image, _nowhere)
    except Exception:  # noqa: BLE001 - a bad value (or a failing worker): the caller decodes them all itself
        return None
    return masks.counts[:int(masks.ptr[-1])], masks.ptr, masks.nc, masks.h, masks.w, masks.areas(), masks._bboxes, empty


def _nowhere(i: int) -> tuple[str, None]:
    return "", None


def _strings_in_halves(values: list, hs: np.ndarray, ws: np.ndarray, names: list[str], image: np.ndarray,
                       locate: Locator, boxes: bool) -> MaskSet | None:
    """`decode_masks`'s two halves for compressed RLE masks (as pycocotools writes predictions): their
    counts (some hundred MB) are decoded by both processes into one buffer that they share (an anonymous
    shared mapping), each half at its own place, and the second half is then moved down to follow the
    first: nothing is copied between the processes but the small arrays. None when any value is not a
    compressed string or a half fails (the caller then decodes the whole)."""
    half = len(values) // 2
    try:
        rooms = [MaskSet.strings_room([v["counts"] for v in part]) for part in (values[:half], values[half:])]
    except (KeyError, TypeError):  # not all compressed strings (the checks name the bad one)
        return None
    dtype = MaskSet.counts_dtype(hs, ws)
    shared = mmap.mmap(-1, max(1, (rooms[0] + rooms[1]) * np.dtype(dtype).itemsize))
    buffer = np.frombuffer(shared, dtype=dtype)
    first_out, second_out = buffer[:rooms[0]], buffer[rooms[0]:rooms[0] + rooms[1]]

    def in_buffer(masks: MaskSet, out: np.ndarray) -> bool:
        return masks.counts.size == 0 or (np.shares_memory(masks.counts, out)
                                          and masks.counts.ctypes.data == out.ctypes.data)

    def second_half() -> tuple | None:
        masks = _decoded(values[half:], hs[half:], ws[half:], names, image[half:], locate, boxes, second_out)
        if not in_buffer(masks, second_out):
            return None
        return masks.counts.size, masks.ptr, masks.nc, masks.h, masks.w, masks.areas(), masks._bboxes

    wait = fork_call(second_half)
    if wait is None:
        return None
    try:
        first = _decoded(values[:half], hs[:half], ws[:half], names, image[:half], locate, boxes, first_out)
    except Exception:  # noqa: BLE001 - a bad value: decoded whole by the caller, for the whole's error
        first = None
    try:
        rest = wait()
    except Exception:  # noqa: BLE001 - a bad value there, or the child died
        rest = None
    if first is None or rest is None or not in_buffer(first, first_out):
        return None
    size, ptr, nc, h, w, areas, bboxes = rest
    start, end = first.counts.size, first.counts.size + size
    step = 1 << 22
    for k in range(0, size, step):  # down to follow the first half (in steps: the ranges may overlap)
        buffer[start + k:start + min(size, k + step)] = second_out[k:min(size, k + step)]
    masks = MaskSet(buffer[:end], np.concatenate([first.ptr, ptr[1:] + start]), np.concatenate([first.nc, nc]),
                    np.concatenate([first.h, h]), np.concatenate([first.w, w]), checked=True)  # (as `concat`)
    masks._areas = np.concatenate([first.areas(), areas])
    if boxes:
        masks._bboxes = np.concatenate([first.bboxes(), bboxes])
    page = mmap.PAGESIZE
    unused = -(-end * buffer.itemsize // page) * page
    if unused < len(shared) and hasattr(mmap, "MADV_DONTNEED"):
        shared.madvise(mmap.MADV_DONTNEED, unused, len(shared) - unused)  # the rest is given back
    return masks


def _decoded(values: list, hs: np.ndarray, ws: np.ndarray, names: list[str], image: np.ndarray, locate: Locator,
             boxes: bool, out: np.ndarray | None = None) -> MaskSet:
    """The masks of `values` (rows of size hs x ws), checked, with their areas (and boxes) computed
    (`decode_masks`); `out`: where compressed strings' counts may go (`MaskSet.from_strings`)."""
    hl, wl = hs.tolist(), ws.tolist()
    strings, string_rows, lists, list_rows, polygons, polygon_rows = [], [], [], [], [], []
    for i, value in enumerate(values):
        if isinstance(value, dict):
            size, raw = value.get("size", MISSING), value.get("counts", MISSING)
            if not (type(size) is list and len(size) == 2 and type(size[0]) is int and type(size[1]) is int):
                raise InputError(f"an RLE mask needs 'size': [height, width], found {short_repr(size)}", *locate(i))
            if size[0] != hl[i] or size[1] != wl[i]:
                raise InputError(f"RLE size [{size[0]}, {size[1]}] (height, width) differs from the image's "
                                 f"size [{hl[i]}, {wl[i]}] ({names[image[i]]!r})", *locate(i))
            if isinstance(raw, str):
                strings.append(raw)
                string_rows.append(i)
                continue
            if not isinstance(raw, list) or any(type(v) is not int for v in raw):
                raise InputError("RLE 'counts' must be a compressed string or a list of integers, found "
                                 f"{short_repr(raw)}", *locate(i))
            try:
                lists.append(np.array(raw, dtype=np.int64).reshape(len(raw)))
            except (ValueError, OverflowError) as exc:
                raise InputError(f"bad RLE mask: {exc}", *locate(i)) from None
            list_rows.append(i)
        elif isinstance(value, list):
            if not value or any(not isinstance(p, list) for p in value):
                raise InputError("'segmentation' polygons must be a non-empty list of lists [[x0, y0, x1, y1, "
                                 f"...], ...], found {short_repr(value)}", *locate(i))
            if not _NUMBER_TYPES.issuperset(map(type, chain.from_iterable(value))):  # one C-level pass
                k, polygon = next((k, p) for k, p in enumerate(value, start=1)
                                  if any(type(v) not in _NUMBER_TYPES for v in p))
                raise InputError(f"polygon {k} must be numbers [x0, y0, x1, y1, ...], found "
                                 f"{short_repr(polygon)}", *locate(i))
            polygons.append(value)
            polygon_rows.append(i)
        else:
            raise InputError("'segmentation' must be polygons [[x0, y0, x1, y1, ...], ...] or an RLE "
                             f"{{\"size\": [h, w], \"counts\": ...}}, found {short_repr(value)}", *locate(i))
    parts, part_rows = [], []
    if polygons:
        rows = np.array(polygon_rows, dtype=np.int64)
        try:
            counts = rle_from_polygons_many(polygons, hs[rows], ws[rows])
        except (ValueError, OverflowError):
            for i, value in zip(polygon_rows, polygons):  # the first bad one, named
                try:
                    rle_from_polygons(value, hl[i], wl[i])
                except (ValueError, OverflowError) as exc:
                    raise InputError(f"bad polygon: {exc}", *locate(i)) from None
            raise
        parts.append(MaskSet.from_counts(counts, hs[rows], ws[rows]))
        part_rows.append(rows)
    if lists:
        rows = np.array(list_rows, dtype=np.int64)
        masks = MaskSet.from_counts(lists, hs[rows], ws[rows])
        bad = masks.check()
        if bad is not None:
            raise InputError(f"bad RLE mask: {bad[1]}", *locate(list_rows[bad[0]]))
        parts.append(masks)
        part_rows.append(rows)
    if strings:
        rows = np.array(string_rows, dtype=np.int64)
        try:
            whole = out if len(strings) == len(values) else None  # (a part of a shared buffer)
            parts.append(MaskSet.from_strings(strings, hs[rows], ws[rows], whole))
        except MaskError as exc:
            raise InputError(f"bad compressed RLE: {exc.problem}", *locate(string_rows[exc.index])) from None
        part_rows.append(rows)
    masks = MaskSet.concat(parts)
    if len(parts) > 1:
        masks = masks.take(np.argsort(np.concatenate(part_rows), kind="stable"))
    masks.areas()
    if boxes:
        masks.bboxes()
    return masks


def _check_inside(values: list, empty: np.ndarray, hl: list, wl: list, names: list[str], image: np.ndarray,
                  locate: Locator) -> None:
    """A polygon mask lying entirely outside its image (all its points left of, right of, above or below
    the image) is surely a coordinate mistake: an error. Only empty masks can be such, so only they are
    looked at."""
    for i in empty.tolist():
        value = values[i]
        if not isinstance(value, list):
            continue
        xs = [v for polygon in value for v in polygon[0::2]]
        ys = [v for polygon in value for v in polygon[1::2]]
        if max(xs) < 0 or min(xs) > wl[i] or max(ys) < 0 or min(ys) > hl[i]:
            raise InputError(f"the polygon lies entirely outside its image {names[image[i]]!r} (width "
                             f"{wl[i]}, height {hl[i]}): x from {min(xs):g} to {max(xs):g}, y from {min(ys):g} "
                             f"to {max(ys):g}", *locate(i))
