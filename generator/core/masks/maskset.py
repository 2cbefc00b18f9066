"""Many RLE masks in a few flat arrays: `MaskSet` (see evalsite.core.masks.rle for the RLE conventions).

Compressed strings are decoded, validated, encoded, and areas / boxes computed for all masks in a few
vectorised passes (in chunks, so the temporaries stay small). The one-mask `rle_bbox` shares that code.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Sequence

import numpy as np

from evalsite.core.errors import MaskError
from evalsite.core.masks.rle import first_bad_counts, join_ascii, parse_rle_strings, rle_strings, validate_counts
from evalsite.core.on_disk import DiskArray, DiskArrayWriter, blocks_of

# ------------------------------------------------------------------------------------------- properties

def rle_bbox(counts, h: int, w: int) -> np.ndarray:
    """[x, y, width, height] (float64) of the set pixels as rleToBbox (maskUtils.toBbox, pycocotools 2.0.x).

    Definition (rleToBbox): counts are taken in pairs (an odd last count is ignored); no pairs -> zeros.
    Over every non-empty run of 1s, x = column and y = row of its first and last pixel; xmin/xmax over
    all runs; ymin/ymax likewise, except that a run crossing a column boundary makes them 0 and h-1;
    width = xmax - xmin + 1, height = ymax - ymin + 1. The C code starts from xmin = w, ymin = h,
    xmax = ymax = 0 in uint32, so counts with pairs but no set pixel (e.g. [h*w, 0]) give
    [w, h, 2**32 + 1 - w, 2**32 + 1 - h]; we return the same.
    """
    c = validate_counts(counts, h, w)
    return MaskSet.from_counts([c], h, w).bboxes()[0]



def _bboxes_of(c: np.ndarray, ptr: np.ndarray, nc: np.ndarray, h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """rle_bbox of several masks stored as in MaskSet: mask k's counts are c[ptr[k]:ptr[k] + nc[k]], each
    mask starting at an even offset, zero padded to an even length (ptr[0] == 0, ptr[-1] == c.size).

    Count 2j+1 is then always run j of 1s, so the runs of every mask come from one cumulative sum. When
    all masks have the same height h, every mask starts at a multiple of h: rows and columns come from
    the positions on the common axis, and only each mask's reduced column needs its start subtracted."""
    k = nc.size
    pos = np.cumsum(c, dtype=np.int64).reshape(-1, 2)  # where each count ends, per (0s, 1s) pair
    s = pos[:, 0]  # a run of 1s starts where the count of 0s before it ends
    e = pos[:, 1] - 1  # its last pixel
    nr = (ptr[1:] - ptr[:-1]) // 2  # runs per mask (padding included: a zero-length run)
    start = np.concatenate(([0], pos[:, 1]))[ptr[:-1] // 2]  # where each mask's pixels start
    if k and (h == h[0]).all():
        hh = max(int(h[0]), 1)  # a scalar divisor (fast) and no per-run start
        col0 = start // hh
    else:
        owner = np.repeat(np.arange(k), nr)
        hh = np.maximum(h[owner], 1)
        s = s - start[owner]
        e = e - start[owner]
        col0 = np.zeros(k, dtype=np.int64)
    xs = s // hh
    xe = e // hh
    ys = s - xs * hh
    ye = e - xe * hh
    cross = xs < xe
    empty = np.flatnonzero(c[1::2] == 0)  # zero-length runs (padding): neutral in every reduction below
    big = np.iinfo(np.int64).max
    xs[empty] = big
    ys[empty] = big
    xe[empty] = -1
    ye[empty] = -1
    cross[empty] = False
    out = np.zeros((k, 4), dtype=np.float64)
    has = np.flatnonzero(nc >= 2)  # rleToBbox takes counts in pairs; no pair: zeros
    if has.size == 0:
        return out
    # the reductions run from each mask's first run to the next such mask's: the runs in between (the
    # padding run of a one-count mask) are empty
    at = (ptr[:-1] // 2)[has]
    hs, ws, c0 = h[has], w[has], col0[has]
    # rleToBbox starts from xmin = w, ymin = h, xmax = ymax = 0
    x0 = np.minimum(ws, np.minimum.reduceat(xs, at) - c0)
    x1 = np.maximum(0, np.maximum.reduceat(xe, at) - c0)
    crossed = np.logical_or.reduceat(cross, at)
    y0 = np.where(crossed, 0, np.minimum(hs, np.minimum.reduceat(ys, at)))
    y1 = np.where(crossed, hs - 1, np.maximum(0, np.maximum.reduceat(ye, at)))
    mod = 2**32  # the C code's uint32 arithmetic (see rle_bbox)
    out[has, 0] = x0
    out[has, 1] = y0
    out[has, 2] = np.mod(x1 - x0 + 1, mod)
    out[has, 3] = np.mod(y1 - y0 + 1, mod)
    return out



# ------------------------------------------------------------------------------------------- mask sets

_CHUNK_COUNTS = 1 << 17  # counts handled per vectorised pass over a MaskSet (bounds the temporaries)
_TAKE_MASKS = 1 << 14  # masks of a set kept on disk taken at a time (`MaskSet.take`)
_CHUNK_CHARS = 1 << 18  # characters of compressed RLE decoded at once


def _padded_ptr(nc: np.ndarray) -> np.ndarray:
    """Offsets of masks with nc counts each, every mask padded to an even number of counts."""
    ptr = np.zeros(nc.size + 1, dtype=np.int64)
    np.cumsum(nc + (nc & 1), out=ptr[1:])
    return ptr


def chunk_ranges(ptr: np.ndarray, size: int):
    """(i, j) ranges of consecutive masks holding about `size` counts each (at least one mask)."""
    n = ptr.size - 1
    i = 0
    while i < n:
        j = max(int(np.searchsorted(ptr, ptr[i] + size, side="right")) - 1, i + 1)
        yield i, min(j, n)
        i = j


def _storage_dtype(lo: int, hi: int) -> type:
    """int32 when every count fits (always for valid masks of fewer than 2**31 pixels), else int64."""
    return np.int32 if lo >= -(2**31) and hi < 2**31 else np.int64


class MaskSet:
    """Many RLE masks in a few flat arrays (no Python object per mask).

    counts: every mask's counts back to back (int32 when they fit, else int64), mask i's being
        counts[ptr[i]:ptr[i] + nc[i]]; each mask starts at an even offset (a mask with an odd number of
        counts is followed by one 0), so count 2j+1 of the array is always a run of 1s.
    ptr: (n+1,) int64 offsets; nc: (n,) int64 number of counts; h, w: (n,) int64 mask size.

    `masks[i]` is mask i's counts (a view), `masks.take(index)` a new set in that order; areas(), bboxes()
    (rleArea, rleToBbox) and extents() are computed for all masks at once and cached; `runs(masks)` lays
    out the runs of some masks for `mask_iou_pairs`. Construct with `from_counts`, `from_strings`
    (compressed, vectorised rleFrString), `concat`. Every method is a few vectorised passes over the
    flat arrays (in chunks, to keep the temporaries small), never a Python step per mask.
    """

    def __init__(self, counts: np.ndarray, ptr: np.ndarray, nc: np.ndarray, h: np.ndarray, w: np.ndarray,
                 *, checked: bool = False):
        self.counts, self.ptr, self.nc, self.h, self.w = counts, ptr, nc, h, w
        self._checked = checked  # counts known to be valid (non-negative, summing to h*w)
        self._areas: np.ndarray | None = None
        self._bboxes: np.ndarray | None = None
        self._extents: tuple | None = None

    # construction ------------------------------------------------------------------------------------

    @staticmethod
    def _sizes(h, w, n: int) -> tuple[np.ndarray, np.ndarray]:
        h = np.broadcast_to(np.asarray(h, dtype=np.int64), (n,)).copy()
        w = np.broadcast_to(np.asarray(w, dtype=np.int64), (n,)).copy()
        return h, w

    @classmethod
    def from_counts(cls, counts_list: Sequence, h, w) -> MaskSet:
        """From one counts array (or list of ints) per mask; h, w: one size per mask or one for all.
        Not validated (see `check`)."""
        n = len(counts_list)
        h, w = cls._sizes(h, w, n)
        arrays = [np.asarray(c, dtype=np.int64).reshape(-1) for c in counts_list]
        nc = np.fromiter((a.size for a in arrays), dtype=np.int64, count=n)
        ptr = _padded_ptr(nc)
        flat = np.zeros(int(ptr[-1]), dtype=np.int64)
        if n and nc.sum():
            flat[np.arange(int(nc.sum())) + np.repeat(ptr[:-1] - (np.cumsum(nc) - nc), nc)] = np.concatenate(arrays)
        dtype = _storage_dtype(int(flat.min()), int(flat.max())) if flat.size else np.int32
        return cls(flat.astype(dtype), ptr, nc, h, w)

    @classmethod
    def from_strings(cls, strings: Sequence, h, w, out: np.ndarray | None = None) -> MaskSet:
        """From pycocotools' compressed strings (str or bytes, rleFrString), decoded in vectorised batches
        and validated: MaskError(index, problem) for the first bad one (a character outside '0'..'o', a
        string ending inside a count, a count that is negative or too long, counts not summing to h*w).
        `out`: where the counts go (the set's counts are then its start), when it has room for
        `strings_room(strings)` of the dtype `counts_dtype(h, w)`; else a new array."""
        n = len(strings)
        h, w = cls._sizes(h, w, n)
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=n)
        dtype = cls.counts_dtype(h, w)
        room = int(lengths.sum()) + n  # a count takes >= 1 character, plus padding;
        if out is None or out.dtype != dtype or out.size < room:
            out = np.empty(room, dtype=dtype)
        ptr = np.zeros(n + 1, dtype=np.int64)                # pages never written are never resident
        nc = np.zeros(n, dtype=np.int64)
        for i, j in chunk_ranges(np.concatenate(([0], np.cumsum(lengths))), _CHUNK_CHARS):
            try:
                b = np.frombuffer(join_ascii(strings[i:j]), dtype=np.uint8)
                counts, cptr = parse_rle_strings(b, lengths[i:j])
            except MaskError as exc:
                raise MaskError(i + exc.index, exc.problem) from None
            bad = first_bad_counts(counts, cptr, h[i:j], w[i:j])
            if bad is not None:
                raise MaskError(i + bad[0], bad[1])
            k_nc = cptr[1:] - cptr[:-1]
            optr = ptr[i] + _padded_ptr(k_nc)
            ptr[i + 1:j + 1] = optr[1:]
            nc[i:j] = k_nc
            seg = out[optr[0]:optr[-1]]
            odd = np.flatnonzero(k_nc & 1)
            if odd.size:  # a 0 after each mask with an odd number of counts
                slot = np.ones(seg.size, dtype=bool)
                slot[optr[odd + 1] - 1 - optr[0]] = False
                seg[slot] = counts
                seg[~slot] = 0
            else:
                seg[:] = counts
        return cls(out[:ptr[-1]], ptr, nc, h, w, checked=True)

    @staticmethod
    def counts_dtype(h, w) -> type:
        """The dtype of the counts of masks of these sizes, decoded from strings (`from_strings`)."""
        hw = np.asarray(h, dtype=np.int64) * np.asarray(w, dtype=np.int64)
        return _storage_dtype(0, int(hw.max()) if hw.size else 0)

    @staticmethod
    def strings_room(strings: Sequence) -> int:
        """The counts that `from_strings` needs room for: one per character, plus one per string."""
        return sum(map(len, strings)) + len(strings)

    @classmethod
    def concat(cls, sets: Sequence[MaskSet]) -> MaskSet:
        """The masks of several sets, one after the other."""
        if not sets:
            z = np.zeros(0, dtype=np.int64)
            return cls(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64), z, z.copy(), z.copy(),
                       checked=True)
        if len(sets) == 1:
            return sets[0]
        offsets = np.cumsum([0] + [s.counts.size for s in sets])
        ptr = np.concatenate([[0]] + [s.ptr[1:] + o for s, o in zip(sets, offsets.tolist())])
        out = cls(np.concatenate([s.counts for s in sets]), ptr, np.concatenate([s.nc for s in sets]),
                  np.concatenate([s.h for s in sets]), np.concatenate([s.w for s in sets]),
                  checked=all(s._checked for s in sets))
        if all(s._areas is not None for s in sets):
            out._areas = np.concatenate([s._areas for s in sets])
        if all(s._bboxes is not None for s in sets):
            out._bboxes = np.concatenate([s._bboxes for s in sets])
        return out

    # access -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.nc.size

    def __getitem__(self, i) -> np.ndarray:
        """Mask i's counts (a view of `counts`)."""
        i = operator.index(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"mask index {i} out of range for {len(self)} masks")
        p = int(self.ptr[i])
        return self.counts[p:p + int(self.nc[i])]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def strings(self, index=None) -> list[str]:
        """pycocotools' compressed strings (rleToString, as `rle_to_string`) of the masks index[0], ...
        (default all), encoded in vectorised batches."""
        index = np.arange(len(self)) if index is None else np.asarray(index, dtype=np.int64).reshape(-1)
        out: list[str] = []
        nc = self.nc[index]
        cptr = np.zeros(index.size + 1, dtype=np.int64)
        np.cumsum(nc, out=cptr[1:])
        for i, j in chunk_ranges(cptr, _CHUNK_COUNTS):
            sel = np.arange(int(cptr[i]), int(cptr[j])) + np.repeat(self.ptr[index[i:j]] - cptr[i:j], nc[i:j])
            out += rle_strings(self.counts[sel].astype(np.int64), cptr[i:j + 1] - cptr[i])
        return out

    def __repr__(self) -> str:
        return f"MaskSet({len(self)} masks, {self.counts.size} counts, {self.counts.dtype})"

    def take(self, index) -> MaskSet:
        """The masks index[0], index[1], ... (an int array, or a bool array over the masks) as a new set;
        this one when that is every mask in order. Of a set kept on disk, a set kept on disk."""
        index = self._index(index)
        n = len(self)
        if index.size == n and np.array_equal(index, np.arange(n)):
            return self
        if isinstance(self.counts, DiskArray):
            return self._taken_on_disk(index)
        return self._taken(index)

    def piece(self, index) -> MaskSet:
        """`take` into memory, also of a set kept on disk: a few masks, sent to a worker (its areas and boxes
        left to be computed there)."""
        index = self._index(index)
        if not isinstance(self.counts, DiskArray):
            return self._taken(index)
        piece = copy.copy(self)
        piece._areas = piece._bboxes = piece._extents = None
        return piece._taken(index)

    def _index(self, index) -> np.ndarray:
        index = np.asarray(index)
        index = np.flatnonzero(index) if index.dtype == bool else index.astype(np.int64).reshape(-1)
        n = len(self)
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"mask index out of range for {n} masks")
        return np.where(index < 0, index + n, index)

    def _taken(self, index: np.ndarray) -> MaskSet:
        plen = self.ptr[index + 1] - self.ptr[index]
        ptr = np.zeros(index.size + 1, dtype=np.int64)
        np.cumsum(plen, out=ptr[1:])
        out = np.empty(int(ptr[-1]), dtype=self.counts.dtype)
        for i, j in chunk_ranges(ptr, _CHUNK_COUNTS):
            p0, p1 = int(ptr[i]), int(ptr[j])
            out[p0:p1] = self.counts[np.arange(p0, p1) + np.repeat(self.ptr[index[i:j]] - ptr[i:j], plen[i:j])]
        res = MaskSet(out, ptr, self.nc[index], self.h[index], self.w[index], checked=self._checked)
        res._areas = self._areas[index] if self._areas is not None else None
        res._bboxes = self._bboxes[index] if self._bboxes is not None else None
        return res

    def _taken_on_disk(self, index: np.ndarray) -> MaskSet:
        """`take` of a set kept on disk (`DiskArray`s: a cluster's driver, evalsite.core.detection_data) into a
        set kept on disk, _TAKE_MASKS masks at a time: neither set is ever whole in memory."""
        out = MaskSetWriter(self.counts.dtype, areas=self._areas is not None, bboxes=self._bboxes is not None)
        for start in range(0, index.size, _TAKE_MASKS):
            out.append(self._taken(index[start:start + _TAKE_MASKS]))
        return out.finish(self._checked)

    # properties ---------------------------------------------------------------------------------------

    def check(self) -> tuple[int, str] | None:
        """(index, problem) of the first mask with a negative count or counts not summing to h*w, else None."""
        if self._checked:
            return None
        for i, j in chunk_ranges(self.ptr, _CHUNK_COUNTS):
            p0 = int(self.ptr[i])
            bad = first_bad_counts(self.counts[p0:int(self.ptr[j])], self.ptr[i:j + 1] - p0, self.h[i:j], self.w[i:j])
            if bad is not None:
                return i + bad[0], bad[1]
        self._checked = True
        return None

    def validate(self) -> MaskSet:
        """This set; MaskError(index, problem) for the first bad mask (see `check`)."""
        bad = self.check()
        if bad is not None:
            raise MaskError(*bad)
        return self

    def areas(self) -> np.ndarray:
        """(n,) int64 set pixels per mask (rleArea: the sum of the odd-indexed counts)."""
        if self._areas is None:
            area = np.zeros(len(self), dtype=np.int64)
            for i, j in chunk_ranges(self.ptr, _CHUNK_COUNTS):  # in chunks: reduceat would cast all at once
                p0 = int(self.ptr[i])
                has = np.flatnonzero(self.ptr[i + 1:j + 1] > self.ptr[i:j])
                if has.size:
                    area[i + has] = np.add.reduceat(self.counts[p0 + 1:int(self.ptr[j]):2],
                                                    (self.ptr[i + has] - p0) // 2, dtype=np.int64)
            self._areas = area
        return self._areas

    def bboxes(self) -> np.ndarray:
        """(n, 4) float64 [x, y, width, height] per mask, exactly `rle_bbox` (rleToBbox) of each, for
        valid masks (counts summing to h*w, see `check`)."""
        if self._bboxes is None:
            out = np.zeros((len(self), 4), dtype=np.float64)
            for i, j in chunk_ranges(self.ptr, _CHUNK_COUNTS):
                p0 = int(self.ptr[i])
                out[i:j] = _bboxes_of(self.counts[p0:int(self.ptr[j])], self.ptr[i:j + 1] - p0, self.nc[i:j],
                                      self.h[i:j], self.w[i:j])
            self._bboxes = out
        return self._bboxes

    def extents(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) per mask: lo <= its first set pixel and hi >= its last set pixel + 1 (column-major
        positions; exact for canonical counts): lo = the first count, hi = h*w minus the last count when
        that is a count of 0s. Empty masks may have lo >= hi."""
        if self._extents is None:
            has = np.flatnonzero(self.nc > 0)
            lo = np.zeros(len(self), dtype=np.int64)
            lo[has] = self.counts[self.ptr[has]]
            hi = self.h * self.w
            odd = has[self.nc[has] % 2 == 1]
            hi[odd] -= self.counts[self.ptr[odd] + self.nc[odd] - 1]
            self._extents = (lo, hi)
        return self._extents

    def runs(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(s, length, first, off): the runs of 1s of the (distinct) masks `masks`, laid on one axis in that
        order, mask k occupying positions [off[k], off[k] + h*w): run j starts at s[j] (ascending; a last
        entry int64 max closes the array) and has length[j] pixels; mask k's runs are first[k] to
        first[k+1] - 1. One gather and one cumulative sum, as the counts are stored in (0s, 1s) pairs."""
        plen = self.ptr[masks + 1] - self.ptr[masks]
        ptr = np.zeros(masks.size + 1, dtype=np.int64)
        np.cumsum(plen, out=ptr[1:])
        pairs = self.counts[np.arange(int(ptr[-1])) + np.repeat(self.ptr[masks] - ptr[:-1], plen)].reshape(-1, 2)
        length = pairs[:, 1].astype(np.int64)
        r = length.size
        s = np.empty(r + 1, dtype=np.int64)
        np.add(pairs[:, 0], length, out=s[:r])
        np.cumsum(s[:r], out=s[:r])  # where run j ends
        first = ptr // 2
        off = np.concatenate(([0], s[:r]))[first[:-1]]
        s[:r] -= length
        s[r] = np.iinfo(np.int64).max
        return s, length, first, off


class MaskSetWriter:
    """A `MaskSet` kept on disk (`DiskArray`s), written a set at a time (`append`, then `finish`): masks taken a
    piece at a time (`MaskSet.take` of a set on disk) or decoded a part at a time
    (evalsite.formats.mask_decoding) are never all in memory. `dtype`: the counts'; `areas`, `bboxes`: the
    sets' cached areas and boxes written too (every set appended has them then)."""

    def __init__(self, dtype, areas: bool = False, bboxes: bool = False):
        self.counts, self.ptr = DiskArrayWriter(dtype), DiskArrayWriter(np.int64)
        self.ptr.append(np.zeros(1, np.int64))
        self.columns = {name: DiskArrayWriter(np.int64) for name in ("nc", "h", "w")}
        if areas:
            self.columns["_areas"] = DiskArrayWriter(np.int64)
        if bboxes:
            self.columns["_bboxes"] = DiskArrayWriter(np.float64, (4,))

    def append(self, masks: MaskSet) -> None:
        """The masks of `masks` after those written (its counts, in memory or on disk, read a block at a time;
        exactly `ptr[-1]` of them)."""
        offset = self.counts.rows
        for _, block in blocks_of(masks.counts):
            self.counts.append(block)
        self.ptr.append(np.asarray(masks.ptr[1:]) + offset)
        for name, writer in self.columns.items():
            writer.append(getattr(masks, name))

    def finish(self, checked: bool) -> MaskSet:
        """The set written (`checked`: its counts known to be valid)."""
        nc, h, w = (self.columns[name].finish() for name in ("nc", "h", "w"))
        out = MaskSet(self.counts.finish(), self.ptr.finish(), nc, h, w, checked=checked)
        out._areas = self.columns["_areas"].finish() if "_areas" in self.columns else None
        out._bboxes = self.columns["_bboxes"].finish() if "_bboxes" in self.columns else None
        return out
