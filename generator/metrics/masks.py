"""Instance masks as run-length encodings (RLE), with pycocotools' exact behaviour (maskApi.c, _mask.pyx).

An RLE of an h x w binary mask is a 1-D array `counts` of run lengths over the mask flattened in
column-major (Fortran) order, alternating runs of 0s and 1s and starting with a run of 0s (so
`counts[0] == 0` when pixel (0, 0) is set). The counts sum to h * w. The RLEs made here are canonical:
only `counts[0]` may be 0 and the last count is positive.

The compressed string form is pycocotools' (rleToString): each count, from the fourth on as the difference
to the count two places before, is written as a signed little-endian number in 5-bit chunks, one ASCII
character (48 + chunk, +32 when more chunks follow) per chunk.

Polygons are rasterised as pycocotools' rleFrPoly (frPyObjects) and several parts are merged as its
rleMerge (union). IoU of two masks follows rleIou: intersection / union, or intersection / detection area
for a crowd ground truth, and 0 whenever the intersection is empty (including empty masks).

Many masks live in a `MaskSet` (all counts in one flat array, no Python object per mask): compressed
strings are decoded, validated, encoded, and areas / boxes computed for all masks in a few vectorised
passes (in chunks, so the temporaries stay small), and `mask_iou_pairs` intersects many pairs at once.
The one-mask functions (`rle_bbox`, `rle_from_string`, `rle_to_string`, `validate_counts`) share that code.

Pure numpy; pycocotools is only used by the tests as the reference.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from evalsite.core.errors import MaskError

_SCALE = 5.0  # rleFrPoly's upsampling factor


# ------------------------------------------------------------------------------------------- validation

def validate_counts(counts, h: int, w: int) -> np.ndarray:
    """`counts` as an int64 array; ValueError unless the counts are non-negative integers summing to h*w."""
    if int(h) != h or int(w) != w or h < 0 or w < 0:
        raise ValueError(f"mask size must be non-negative integers, got h={h!r}, w={w!r}")
    arr = np.asarray(counts)
    if arr.ndim != 1:
        raise ValueError(f"RLE counts must be a 1-D sequence, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.mod(arr, 1) == 0):
            raise ValueError("RLE counts must be integers")
    arr = arr.astype(np.int64)
    bad = _first_bad(arr, np.array([0, arr.size]), np.array([h]), np.array([w]))
    if bad is not None:
        raise ValueError(bad[1])
    return arr


def _first_bad(c: np.ndarray, ptr: np.ndarray, h: np.ndarray, w: np.ndarray) -> tuple[int, str] | None:
    """The first k whose counts c[ptr[k]:ptr[k+1]] have a negative count or do not sum to h[k]*w[k], with
    the problem; None when all are good. `c` is exactly c[ptr[0]:ptr[-1]] (ptr[0] == 0); zero padding
    between masks changes nothing. Two passes over `c` (a minimum and a sum per mask)."""
    n = ptr.size - 1
    starts = ptr[:-1]
    nonempty = np.flatnonzero(ptr[1:] > starts)
    sums = np.zeros(n, dtype=np.int64)
    mins = np.zeros(n, dtype=np.int64)
    if nonempty.size:
        sums[nonempty] = np.add.reduceat(c, starts[nonempty], dtype=np.int64)
        mins[nonempty] = np.minimum.reduceat(c, starts[nonempty])
    bad = (mins < 0) | (sums != h * w)
    if not bad.any():
        return None
    k = int(np.argmax(bad))
    if mins[k] < 0:
        seg = c[ptr[k]:ptr[k + 1]]
        j = int(np.argmax(seg < 0))
        return k, f"negative count {int(seg[j])} at index {j}: RLE counts must be non-negative"
    hk, wk = int(h[k]), int(w[k])
    return k, f"RLE counts sum to {int(sums[k])}, expected h*w = {hk}*{wk} = {hk * wk}"


def validate_polygon(polygon) -> np.ndarray:
    """A polygon [x0, y0, x1, y1, ...] as an (n, 2) float64 array; ValueError if it has an odd number of
    coordinates, fewer than 3 points or a non-finite coordinate. Self-intersection is allowed."""
    xy = np.asarray(polygon, dtype=np.float64)
    if xy.ndim != 1:
        raise ValueError(f"a polygon must be a flat list [x0, y0, x1, y1, ...], got shape {xy.shape}")
    if xy.size % 2:
        raise ValueError(f"a polygon needs an even number of coordinates, got {xy.size}")
    if xy.size < 6:
        raise ValueError(f"a polygon needs at least 3 points, got {xy.size // 2}")
    if not np.all(np.isfinite(xy)):
        raise ValueError("polygon coordinates must be finite")
    return xy.reshape(-1, 2)


# ------------------------------------------------------------------------------------------ encode/decode

def rle_encode(mask) -> np.ndarray:
    """Counts of a 2-D binary mask (nonzero = set), column-major runs starting with a run of 0s (rleEncode)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {m.shape}")
    flat = m.ravel(order="F") != 0
    n = flat.size
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [n]))
    counts = np.diff(bounds).astype(np.int64)
    if flat[0]:
        counts = np.concatenate(([0], counts))
    return counts


def rle_decode(counts, h: int, w: int) -> np.ndarray:
    """The (h, w) bool mask of an RLE (rleDecode): runs alternate 0, 1, 0, ... in column-major order."""
    c = validate_counts(counts, h, w)
    values = (np.arange(c.size) % 2).astype(bool)
    return np.repeat(values, c).reshape((h, w), order="F")


def rle_to_string(counts) -> str:
    """pycocotools' compressed string (rleToString): LEB128-like, 5 bits per char, chars 48..111; from the
    fourth count on, the difference to the count two places before is written (it may be negative).

    Many masks at once: `MaskSet.strings` (vectorised). One mask: below _SHORT counts a plain loop, as
    numpy's per-call overhead (~35 us) exceeds its work there (measured; both are checked against each
    other and pycocotools by the tests)."""
    c = np.asarray(counts, dtype=np.int64).reshape(-1)
    if c.size >= _SHORT:
        return _rle_text(c, np.array([0, c.size]))[0]
    values = c.tolist()
    out = bytearray()
    for i, x in enumerate(values):
        if i > 2:
            x -= values[i - 2]
        while True:
            ch = x & 0x1F
            x >>= 5  # arithmetic shift, as on C's long
            if (x == -1) if ch & 0x10 else (x == 0):
                out.append(ch + 48)
                break
            out.append(ch + 80)  # + 32: more chunks follow
    return out.decode("ascii")


_SHORT = 256  # counts from which one mask is encoded with numpy


def _rle_text(c: np.ndarray, cptr: np.ndarray) -> list[str]:
    """rleToString of several masks at once, mask k's counts being c[cptr[k]:cptr[k+1]] (int64).

    Each value (a count, or from the fourth count on its difference to the count two places before) is
    written low 5-bit chunk first, in as few chunks as hold it in two's complement, chunk + 48, plus 32
    on every chunk but the last. All first chunks are written in one pass; the further chunks of the few
    values that need them in a short loop."""
    n = cptr.size - 1
    x = c.copy()
    x[2:] -= c[:-2]
    head = (cptr[:-1, None] + np.arange(3)).ravel()  # counts 0, 1, 2 of each mask: written as they are
    head = head[head < np.repeat(cptr[1:], 3)]
    x[head] = c[head]
    u = np.where(x < 0, ~x, x)  # the bits beside the sign
    k = np.ones(x.size, dtype=np.int64)  # chunks: the value and its sign in 5k bits
    more = np.flatnonzero(u >= 16)
    while more.size:
        k[more] += 1
        more = more[(u[more] >> (5 * k[more] - 1)) != 0]
    first = np.cumsum(k) - k
    chars = np.empty(int(k.sum()), dtype=np.uint8)
    chars[first] = (x & 0x1F) + 48 + 32 * (k > 1)
    more = np.flatnonzero(k > 1)
    j = 1
    while more.size:
        chars[first[more] + j] = ((x[more] >> (5 * j)) & 0x1F) + 48 + 32 * (k[more] > j + 1)
        j += 1
        more = more[k[more] > j]
    text = chars.tobytes().decode("ascii")
    bounds = np.concatenate(([0], np.cumsum(k)))[cptr].tolist()
    return [text[bounds[i]:bounds[i + 1]] for i in range(n)]


def rle_from_string(s) -> np.ndarray:
    """Counts of a compressed RLE string or bytes (rleFrString), the inverse of `rle_to_string`."""
    try:
        counts, _ = _parse_rle_text(np.frombuffer(_join_ascii([s]), dtype=np.uint8), np.array([len(s)]))
    except MaskError as exc:
        raise ValueError(exc.problem) from None
    return counts


def _join_ascii(strings: Sequence) -> bytes:
    """The strings (str or bytes) joined into one ASCII buffer; MaskError(k) for the first str with a
    non-ASCII character (bytes above 127 are left to the character check)."""
    try:
        return "".join(strings).encode("ascii")
    except UnicodeEncodeError:
        k = next(k for k, s in enumerate(strings) if not s.isascii())
        raise MaskError(k, "a non-ASCII character") from None
    except TypeError:  # bytes among them
        parts = []
        for k, s in enumerate(strings):
            if isinstance(s, str):
                if not s.isascii():
                    raise MaskError(k, "a non-ASCII character") from None
                s = s.encode("ascii")
            parts.append(bytes(s))
        return b"".join(parts)


def _parse_rle_text(b: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rleFrString of several strings at once: `b` (uint8) holds them back to back, string k having
    lengths[k] characters. Returns (counts, cptr): int64 counts of all strings, string k's being
    counts[cptr[k]:cptr[k+1]]. Raises MaskError(k, problem) for the first bad string.

    Each character is a 5-bit chunk (value - 48), low chunk first, with 0x20 = "more chunks" (so a count
    ends at a character below 80); the last chunk is signed (0x10 = negative). From the fourth count on, a
    count is the delta to the one two places before. Vectorised: one count per end character, the last
    chunk sign-extended in int8, the other chunks of the few multi-character counts added in a short loop;
    the deltas summed by one running sum over every other count (z[p] = x[p] + z[p - 2]), from which
    each string subtracts, per parity, the running sum before its own chain starts."""
    n = lengths.size
    str_end = np.cumsum(lengths)
    v = b - np.uint8(48)  # wraps below 48
    bad = v >= 64
    if bad.any():
        pos = int(np.argmax(bad))
        k = int(np.searchsorted(str_end, pos, side="right"))
        raise MaskError(k, f"invalid character {chr(b[pos])!r} at position {pos - int(str_end[k] - lengths[k])}")
    ends = v < 32
    nonempty = np.flatnonzero(lengths > 0)
    cut = ~ends[str_end[nonempty] - 1]
    if cut.any():
        raise MaskError(int(nonempty[np.argmax(cut)]), "the string ends inside a count")
    end_pos = np.flatnonzero(ends)
    m = end_pos.size
    cptr = np.zeros(n + 1, dtype=np.int64)
    cptr[1:] = np.searchsorted(end_pos, str_end)  # counts before each string's end
    if m == 0:
        return np.zeros(0, dtype=np.int64), cptr
    chunks = np.diff(end_pos, prepend=-1)  # characters per count
    more = np.flatnonzero(chunks > 1)
    # the last chunk, sign-extended from 5 bits (an end character is below 32)
    x = ((v[end_pos] << 3).view(np.int8) >> 3).astype(np.int64)
    if more.size:
        nch = chunks[more]
        if nch.max() > 12:
            j = int(more[np.argmax(nch > 12)])
            raise MaskError(int(np.searchsorted(cptr, j, side="right")) - 1, "a count too long to be a pixel count")
        xm = x[more] << (5 * (nch - 1))
        start = end_pos[more] - (nch - 1)
        low = np.arange(more.size)
        for j in range(int(nch.max()) - 1):
            low = low[nch[low] - 1 > j]
            xm[low] |= (v[start[low] + j] & 0x1F).astype(np.int64) << (5 * j)
        x[more] = xm
    z = np.empty_like(x)
    np.cumsum(x[0::2], out=z[0::2])
    np.cumsum(x[1::2], out=z[1::2])
    # count i of a string starting at f: i = 0 raw; odd i: z - (z - x)[f + 1]; even i >= 2: z - (z - x)[f + 2]
    f = cptr[:-1]
    ns = cptr[1:] - f
    at = np.minimum(f[:, None] + np.arange(3), m - 1)
    b0, b1, b2 = (z[at] - x[at]).T
    f_even = (f & 1) == 0
    n_even = (f + ns + 1) // 2 - (f + 1) // 2  # counts at even positions of the array
    base = np.empty_like(x)
    base[0::2] = np.repeat(np.where(f_even, b2, b1), n_even)
    base[1::2] = np.repeat(np.where(f_even, b1, b2), ns - n_even)
    base[f[nonempty]] = b0[nonempty]
    z -= base
    return z, cptr


# ------------------------------------------------------------------------------------------- properties

def rle_area(counts) -> int:
    """Number of set pixels: the sum of the odd-indexed counts (rleArea)."""
    return int(np.asarray(counts, dtype=np.int64)[1::2].sum())


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
_CHUNK_CHARS = 1 << 18  # characters of compressed RLE decoded at once


def _padded_ptr(nc: np.ndarray) -> np.ndarray:
    """Offsets of masks with nc counts each, every mask padded to an even number of counts."""
    ptr = np.zeros(nc.size + 1, dtype=np.int64)
    np.cumsum(nc + (nc & 1), out=ptr[1:])
    return ptr


def _chunks(ptr: np.ndarray, size: int):
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
    def from_strings(cls, strings: Sequence, h, w) -> MaskSet:
        """From pycocotools' compressed strings (str or bytes, rleFrString), decoded in vectorised batches
        and validated: MaskError(index, problem) for the first bad one (a character outside '0'..'o', a
        string ending inside a count, a count that is negative or too long, counts not summing to h*w)."""
        n = len(strings)
        h, w = cls._sizes(h, w, n)
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=n)
        dtype = _storage_dtype(0, int((h * w).max()) if n else 0)
        out = np.empty(int(lengths.sum()) + n, dtype=dtype)  # a count takes >= 1 character, plus padding;
        ptr = np.zeros(n + 1, dtype=np.int64)                # pages never written are never resident
        nc = np.zeros(n, dtype=np.int64)
        for i, j in _chunks(np.concatenate(([0], np.cumsum(lengths))), _CHUNK_CHARS):
            try:
                b = np.frombuffer(_join_ascii(strings[i:j]), dtype=np.uint8)
                counts, cptr = _parse_rle_text(b, lengths[i:j])
            except MaskError as exc:
                raise MaskError(i + exc.index, exc.problem) from None
            bad = _first_bad(counts, cptr, h[i:j], w[i:j])
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
        for i, j in _chunks(cptr, _CHUNK_COUNTS):
            sel = np.arange(int(cptr[i]), int(cptr[j])) + np.repeat(self.ptr[index[i:j]] - cptr[i:j], nc[i:j])
            out += _rle_text(self.counts[sel].astype(np.int64), cptr[i:j + 1] - cptr[i])
        return out

    def __repr__(self) -> str:
        return f"MaskSet({len(self)} masks, {self.counts.size} counts, {self.counts.dtype})"

    def take(self, index) -> MaskSet:
        """The masks index[0], index[1], ... (an int array, or a bool array over the masks) as a new set;
        this one when that is every mask in order."""
        index = np.asarray(index)
        index = np.flatnonzero(index) if index.dtype == bool else index.astype(np.int64).reshape(-1)
        n = len(self)
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"mask index out of range for {n} masks")
        index = np.where(index < 0, index + n, index)
        if index.size == n and np.array_equal(index, np.arange(n)):
            return self
        plen = self.ptr[index + 1] - self.ptr[index]
        ptr = np.zeros(index.size + 1, dtype=np.int64)
        np.cumsum(plen, out=ptr[1:])
        out = np.empty(int(ptr[-1]), dtype=self.counts.dtype)
        for i, j in _chunks(ptr, _CHUNK_COUNTS):
            p0, p1 = int(ptr[i]), int(ptr[j])
            out[p0:p1] = self.counts[np.arange(p0, p1) + np.repeat(self.ptr[index[i:j]] - ptr[i:j], plen[i:j])]
        res = MaskSet(out, ptr, self.nc[index], self.h[index], self.w[index], checked=self._checked)
        res._areas = self._areas[index] if self._areas is not None else None
        res._bboxes = self._bboxes[index] if self._bboxes is not None else None
        return res

    # properties ---------------------------------------------------------------------------------------

    def check(self) -> tuple[int, str] | None:
        """(index, problem) of the first mask with a negative count or counts not summing to h*w, else None."""
        if self._checked:
            return None
        for i, j in _chunks(self.ptr, _CHUNK_COUNTS):
            p0 = int(self.ptr[i])
            bad = _first_bad(self.counts[p0:int(self.ptr[j])], self.ptr[i:j + 1] - p0, self.h[i:j], self.w[i:j])
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
            for i, j in _chunks(self.ptr, _CHUNK_COUNTS):  # in chunks: reduceat would cast all at once
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
            for i, j in _chunks(self.ptr, _CHUNK_COUNTS):
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


# ------------------------------------------------------------------------------------------------ union

def _runs(counts) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of 1s (half-open pixel intervals in column-major order)."""
    c = np.asarray(counts, dtype=np.int64)
    ends = np.cumsum(c)
    starts = ends - c
    return starts[1::2], ends[1::2]


def _counts_from_runs(starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """Canonical counts from sorted, disjoint, non-touching, non-empty runs of 1s in [0, n)."""
    bounds = np.empty(2 * starts.size + 2, dtype=np.int64)
    bounds[0] = 0
    bounds[1:-1:2] = starts
    bounds[2:-1:2] = ends
    bounds[-1] = n
    counts = np.diff(bounds)
    if counts.size > 1 and counts[-1] == 0:
        counts = counts[:-1]
    return counts


def rle_union(counts_list: Sequence, h: int, w: int) -> np.ndarray:
    """Canonical counts of the union of several RLEs of the same size (rleMerge with intersect=0).

    A single RLE is returned unchanged, as rleMerge copies it.
    """
    arrays = [validate_counts(c, h, w) for c in counts_list]
    if not arrays:
        raise ValueError("rle_union needs at least one RLE")
    if len(arrays) == 1:
        return arrays[0].copy()
    starts, ends = zip(*(_runs(c) for c in arrays))
    s = np.concatenate(starts)
    e = np.concatenate(ends)
    keep = e > s
    s, e = s[keep], e[keep]
    # sweep: at equal positions a start comes before an end, so touching runs merge
    pos = np.concatenate((s, e))
    delta = np.concatenate((np.ones(s.size, np.int64), -np.ones(e.size, np.int64)))
    order = np.lexsort((-delta, pos))
    pos, delta = pos[order], delta[order]
    cover = np.cumsum(delta)
    before = cover - delta
    us = pos[(before == 0) & (cover > 0)]
    ue = pos[(before > 0) & (cover == 0)]
    return _counts_from_runs(us, ue, h * w)


# --------------------------------------------------------------------------------------------- polygons

def _poly_counts(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Counts of one polygon ((n, 2) float64 array) rasterised exactly as rleFrPoly.

    Definition (rleFrPoly): vertices are scaled by 5 and rounded as (int)(5*v + .5) (truncation toward 0);
    each edge is walked one step per unit along its major axis, the minor coordinate rounded as
    (int)(start + slope*t + .5). Wherever the walk moves from upsampled column u0 to u1, the pixel column
    xd = (c + .5)/5 - .5 with c = u1 if u1 < u0 else u1 - 1 is kept if it is a whole number in [0, w-1],
    with row ceil(clip((min(v0, v1) + .5)/5 - .5, 0, h)). These boundary positions (column-major,
    plus h*w) are sorted and differenced; a zero difference swallows the next one, as in the C code.
    """
    return _parts_counts(xy, np.array([0, xy.shape[0]], dtype=np.int64),
                         np.array([h], dtype=np.int64), np.array([w], dtype=np.int64))[0]


def _rounded(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rleFrPoly's (int)(5*v + .5) of the vertices."""
    r = np.trunc(_SCALE * xy + 0.5).astype(np.int64)
    return r[:, 0], r[:, 1]


def _minor(start: np.ndarray, slope: np.ndarray, t: np.ndarray) -> np.ndarray:
    """rleFrPoly's minor coordinate (int)(start + s*t + .5) of the walk."""
    return np.trunc(start + slope * t + 0.5).astype(np.int64)


def _boundary(xy: np.ndarray, bounds: np.ndarray, ph: np.ndarray, pw: np.ndarray):
    """(polygon index, column-major position) of every boundary point rleFrPoly keeps, for several polygons.

    Only the kept points are generated: a step of the walk from column u0 to u1 yields a point iff
    c = min(u0, u1) (|u1 - u0| = 1 inside an edge) is 5*col + 2 with 0 <= col < w. Along an edge walked
    in x these columns are enumerated directly; along an edge walked in y the step crossing each such
    column is located from the line equation and confirmed with the exact rounding of the walk. Steps
    between the end of one edge and the start of the next are checked as in the C code.
    """
    nparts = bounds.size - 1
    plen = bounds[1:] - bounds[:-1]
    nv = int(bounds[-1])
    pid_v = np.repeat(np.arange(nparts), plen)                  # polygon of each vertex / edge
    x, y = _rounded(xy)
    nxt = np.arange(1, nv + 1)
    nxt[bounds[1:] - 1] = bounds[:-1]                           # closing edge back to the first vertex
    xs, xe, ys, ye = x, x[nxt], y, y[nxt]
    dx = np.abs(xe - xs)
    dy = np.abs(ys - ye)
    horiz = dx >= dy
    flip = np.where(horiz, xs > xe, ys > ye)
    xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
    ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
    den = np.where(horiz, dx, dy)
    num = np.where(horiz, ye - ys, xe - xs)
    # a zero-length edge divides 0 by 0 in C; its single point never reaches the output (its column
    # equals its neighbours'), so any slope will do here
    slope = num.astype(np.float64) / np.where(den == 0, 1, den)
    major0 = np.where(horiz, xs, ys)                            # major coordinate at t = 0
    mstart = np.where(horiz, ys, xs).astype(np.float64)         # minor walk start

    # first and last point of each edge in walk order (t = den if flipped else 0, and the other end)
    tf = np.where(flip, den, 0)
    tl = den - tf
    mf = _minor(mstart, slope, tf)
    ml = _minor(mstart, slope, tl)
    uf = np.where(horiz, major0 + tf, mf)
    vf = np.where(horiz, mf, major0 + tf)
    ul = np.where(horiz, major0 + tl, ml)
    vl = np.where(horiz, ml, major0 + tl)

    # range of columns stepped over inside each edge: [lo, hi)
    lo = np.minimum(uf, ul)
    hi = np.maximum(uf, ul)
    wmax = 5 * (pw[pid_v] - 1) + 2
    lo2 = np.maximum(lo, 2)
    c0 = lo2 + (2 - lo2) % 5
    cnt = np.where(c0 <= np.minimum(hi - 1, wmax), (np.minimum(hi - 1, wmax) - c0) // 5 + 1, 0)
    cnt = np.maximum(cnt, 0)
    e = np.repeat(np.arange(nv), cnt)
    c = c0[e] + 5 * (np.arange(e.size) - (np.cumsum(cnt) - cnt)[e])
    hz = horiz[e]
    # walked in x: the step from t to t+1 with t = c - xs; its rows are the minor coordinates there
    eh = e[hz]
    th = (c[hz] - xs[eh]).astype(np.float64)
    vh = np.minimum(_minor(mstart[eh], slope[eh], th), _minor(mstart[eh], slope[eh], th + 1))
    # walked in y: the step t -> t+1 whose columns are {c, c+1}; min row = ys + t
    ev = e[~hz]
    cv = c[~hz]
    sv = slope[ev]
    msv = mstart[ev]
    # the walk's column changes inside the edge, so the slope is not 0; t* is where start + s*t + .5 = c + 1
    tstar = np.floor((cv + 0.5 - msv) / sv)
    cand = tstar[:, None] + np.arange(-2, 2, dtype=np.float64)[None, :]
    ua = _minor(msv[:, None], sv[:, None], cand)
    ub = _minor(msv[:, None], sv[:, None], cand + 1)
    ok = (cand >= 0) & (cand <= (den[ev] - 1)[:, None]) & (ua != ub) & (np.minimum(ua, ub) == cv[:, None])
    if np.count_nonzero(ok) != cv.size:  # exactly one step per column, as the walk is monotone
        raise AssertionError("rleFrPoly step not located")
    tv = cand[np.arange(cv.size), ok.argmax(axis=1)].astype(np.int64)
    vv = ys[ev] + tv

    cols = np.concatenate((c[hz], cv))
    rows = np.concatenate((vh, vv))
    pids = np.concatenate((pid_v[eh], pid_v[ev]))

    # steps from the last point of an edge to the first point of the next edge of the same polygon
    last_edge = np.zeros(nv, dtype=bool)
    last_edge[bounds[1:] - 1] = True
    j = np.flatnonzero(~last_edge)
    u0, u1 = ul[j], uf[j + 1]
    sel = u1 != u0
    j, u0, u1 = j[sel], u0[sel], u1[sel]
    cj = np.where(u1 < u0, u1, u1 - 1)
    vj = np.minimum(vl[j], vf[j + 1])
    cols = np.concatenate((cols, cj))
    rows = np.concatenate((rows, vj))
    pids = np.concatenate((pids, pid_v[j]))

    xd = (cols.astype(np.float64) + 0.5) / _SCALE - 0.5
    hb = ph[pids]
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= pw[pids] - 1)
    xd, pids, hb = xd[keep], pids[keep], hb[keep]
    yd = (rows[keep].astype(np.float64) + 0.5) / _SCALE - 0.5
    yd = np.ceil(np.minimum(np.maximum(yd, 0), hb))
    return pids, xd.astype(np.int64) * hb + yd.astype(np.int64)


def _parts_counts(xy: np.ndarray, bounds: np.ndarray, ph: np.ndarray, pw: np.ndarray) -> list[np.ndarray]:
    """rleFrPoly counts of several polygons at once (see `_poly_counts`).

    `xy` is the (N, 2) concatenation of the vertices of P polygons, polygon p being rows
    bounds[p]:bounds[p+1] of an ph[p] x pw[p] image. Every step is one vectorised pass over all polygons;
    positions of different polygons are kept apart by offsetting them by p * (max h*w + 1).
    """
    nparts = bounds.size - 1
    pid_b, a = _boundary(xy, bounds, ph, pw)
    # one sorted pass over all polygons, each closed by its h*w
    area = ph * pw
    stride = int(area.max()) + 1
    key = np.concatenate((pid_b * stride + a, np.arange(nparts, dtype=np.int64) * stride + area))
    key.sort(kind="stable")  # runs already sorted along each edge (columns enumerated upwards)
    pid_k = key // stride
    a = key - pid_k * stride
    npk = np.bincount(pid_k, minlength=nparts)
    kstart = np.cumsum(npk) - npk
    j = np.arange(key.size) - kstart[pid_k]                     # index within the polygon
    da = np.empty_like(a)
    np.subtract(a[1:], a[:-1], out=da[1:])
    da[kstart] = a[kstart]

    # rleFrPoly's pass: b[0] = a[0]; then a zero difference read fresh swallows the next difference into
    # the last count. In a run of zeros (after index 0) the 1st, 3rd, ... zeros are read fresh.
    zero = (da == 0) & (j > 0)
    n = da.size
    idx = np.arange(n)
    zstart = zero.copy()
    zstart[1:] &= ~zero[:-1]
    rs = np.maximum.accumulate(np.where(zstart, idx, 0))
    fresh_zero = zero & ((idx - rs) % 2 == 0)
    consumed = np.zeros(n, dtype=bool)
    consumed[1:] = fresh_zero[:-1]
    consumed &= j > 0
    seg = np.flatnonzero((j == 0) | ((da > 0) & ~consumed))
    b = np.add.reduceat(da, seg) if n else da
    if nparts == 1:
        return [b]
    ends = np.cumsum(np.bincount(pid_k[seg], minlength=nparts)).tolist()
    return [b[i:j] for i, j in zip([0] + ends[:-1], ends)]


def _union_many(parts: list, part_obj: np.ndarray, n_obj: np.ndarray) -> list[np.ndarray]:
    """Canonical counts of the union (rle_union) of the part RLEs of each object, all objects at once.

    parts[i] (canonical counts) belongs to object part_obj[i] (non-decreasing) whose image has n_obj[o]
    pixels; every object has at least one part."""
    nobj = n_obj.size
    plen = np.fromiter((p.size for p in parts), dtype=np.int64, count=len(parts))
    cat = np.concatenate(parts)
    pid = np.repeat(np.arange(plen.size), plen)
    pstart = np.cumsum(plen) - plen
    cs = np.cumsum(cat)
    idx = np.arange(cat.size) - pstart[pid]                     # index of the count within its part
    pos = cs - (cs[pstart] - cat[pstart])[pid]                  # where each count ends
    # events: the end of a count of 1s ends a run, the end of a count of 0s starts one (not the last count)
    is_end = (idx & 1).astype(bool)
    keep = np.ones(cat.size, dtype=bool)
    lastc = pstart + plen - 1
    keep[lastc[(plen - 1) % 2 == 0]] = False
    stride = int(n_obj.max()) + 1
    # sort key: position (offset per object), a start before an end at the same place so touching runs merge
    key = ((part_obj[pid] * stride + pos) * 2 + is_end)[keep]
    key.sort(kind="stable")  # already sorted per part: a merge of a few sorted runs
    is_end = (key & 1).astype(bool)
    pos = key >> 1
    delta = np.where(is_end, -1, 1)
    cover = np.cumsum(delta)
    before = cover - delta
    us = pos[(before == 0) & (cover > 0)]
    ue = pos[(before > 0) & (cover == 0)]
    obj = us // stride
    us = us - obj * stride
    ue = ue - obj * stride
    # per object: bounds [0, s0, e0, s1, e1, ..., n] differenced, a trailing 0 dropped
    ro = np.bincount(obj, minlength=nobj)
    blen = 2 * ro + 2
    bstart = np.cumsum(blen) - blen
    bnd = np.empty(int(blen.sum()), dtype=np.int64)
    bnd[bstart] = 0
    bnd[bstart + blen - 1] = n_obj
    ri = np.arange(us.size) - (np.cumsum(ro) - ro)[obj]
    bnd[bstart[obj] + 1 + 2 * ri] = us
    bnd[bstart[obj] + 2 + 2 * ri] = ue
    diffs = bnd[1:] - bnd[:-1]
    keepd = np.ones(diffs.size, dtype=bool)
    keepd[bstart[1:] - 1] = False                               # across two objects
    last = bstart + blen - 2
    trim = (ro > 0) & (diffs[last] == 0)
    keepd[last[trim]] = False
    out = diffs[keepd]
    if nobj == 1:
        return [out]
    ends = np.cumsum(2 * ro + 1 - trim).tolist()
    return [out[i:j] for i, j in zip([0] + ends[:-1], ends)]


_CHUNK_POINTS = 1 << 20  # upsampled boundary points rasterised per vectorised pass


def _check_size(h, w) -> tuple[int, int]:
    if int(h) != h or int(w) != w or h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive integers, got h={h!r}, w={w!r}")
    return int(h), int(w)


def rle_from_polygons_many(polygons_list: Sequence[Sequence[Sequence[float]]], heights, widths) -> list[np.ndarray]:
    """`rle_from_polygons(polygons_list[i], heights[i], widths[i])` for every i, computed in a few
    vectorised passes over all objects (same results, same errors)."""
    nobj = len(polygons_list)
    if len(heights) != nobj or len(widths) != nobj:
        raise ValueError("polygons_list, heights and widths must have the same length")
    if nobj == 0:
        return []
    hs = np.empty(nobj, dtype=np.int64)
    ws = np.empty(nobj, dtype=np.int64)
    arrays = []
    nparts = np.empty(nobj, dtype=np.int64)
    for i, (polys, h, w) in enumerate(zip(polygons_list, heights, widths)):
        hs[i], ws[i] = _check_size(h, w)
        if len(polys) == 0:
            raise ValueError("at least one polygon is needed")
        nparts[i] = len(polys)
        for p in polys:
            xy = np.asarray(p, dtype=np.float64)
            if xy.ndim != 1 or xy.size % 2 or xy.size < 6:
                for prev in arrays:  # the first bad polygon in order reports, as one at a time would
                    validate_polygon(prev)
                validate_polygon(p)  # raises
            arrays.append(xy)
    flat = np.concatenate(arrays)
    if not np.all(np.isfinite(flat)):
        for xy in arrays:
            validate_polygon(xy)  # raises for the first bad polygon
    xy = flat.reshape(-1, 2)
    vlen = np.fromiter((a.size // 2 for a in arrays), dtype=np.int64, count=len(arrays))
    bounds = np.zeros(vlen.size + 1, dtype=np.int64)
    np.cumsum(vlen, out=bounds[1:])
    part_obj = np.repeat(np.arange(nobj), nparts)
    obj_bounds = np.zeros(nobj + 1, dtype=np.int64)
    np.cumsum(nparts, out=obj_bounds[1:])

    part_h = hs[part_obj]
    part_w = ws[part_obj]
    if nobj == 1:
        part_counts = _parts_counts(xy, bounds, part_h, part_w)
        return [part_counts[0] if nparts[0] == 1 else _union_many(part_counts, part_obj, hs * ws)[0]]

    # upsampled points per object, to split the work into chunks of bounded memory
    x, y = _rounded(xy)
    nxt = np.arange(1, x.size + 1)
    nxt[bounds[1:] - 1] = bounds[:-1]
    npts = np.maximum(np.abs(x[nxt] - x), np.abs(y[nxt] - y)) + 1
    cum = np.concatenate(([0], np.cumsum(npts)))[bounds[obj_bounds]]  # points before each object

    part_h = hs[part_obj]
    part_w = ws[part_obj]
    out: list = [None] * nobj
    multi_obj = nparts > 1
    renum = np.cumsum(multi_obj) - 1                            # index among the multi-part objects
    o0 = 0
    while o0 < nobj:
        o1 = int(np.searchsorted(cum, cum[o0] + _CHUNK_POINTS, side="right")) - 1
        o1 = min(max(o1, o0 + 1), nobj)
        p0, p1 = int(obj_bounds[o0]), int(obj_bounds[o1])
        v0, v1 = int(bounds[p0]), int(bounds[p1])
        part_counts = _parts_counts(xy[v0:v1], bounds[p0:p1 + 1] - v0, part_h[p0:p1], part_w[p0:p1])
        chunk_multi = multi_obj[o0:o1]
        for i in (np.flatnonzero(~chunk_multi) + o0).tolist():
            out[i] = part_counts[obj_bounds[i] - p0]
        multi = np.flatnonzero(chunk_multi) + o0
        if multi.size:
            sel_parts = np.flatnonzero(multi_obj[part_obj[p0:p1]])
            objs = renum[part_obj[sel_parts + p0]]
            merged = _union_many([part_counts[k] for k in sel_parts.tolist()], objs - objs[0],
                                 hs[multi] * ws[multi])
            for i, c in zip(multi.tolist(), merged):
                out[i] = c
        o0 = o1
    return out


def rle_from_polygons(polygons: Sequence[Sequence[float]], h: int, w: int) -> np.ndarray:
    """Counts of the union of polygon parts [[x0, y0, x1, y1, ...], ...] in an h x w image, as pycocotools'
    `merge(frPyObjects(polygons, h, w))`. Pixel (r, c) has its centre at x = c, y = r as in COCO."""
    h, w = _check_size(h, w)
    if len(polygons) == 0:
        raise ValueError("at least one polygon is needed")
    return rle_from_polygons_many([polygons], [h], [w])[0]


# -------------------------------------------------------------------------------------------------- IoU

def _window_runs(runs: tuple, m: np.ndarray, wl: np.ndarray, wh: np.ndarray):
    """(first, number) of the runs of local mask m[p] (of `MaskSet.runs`) that may meet its positions
    [wl[p], wh[p])."""
    s, length, _, off = runs
    lo = off[m] + wl
    j = np.maximum(np.searchsorted(s, lo, side="right") - 1, 0)  # last run starting at or before lo
    j = np.where(s[j] + length[j] <= lo, j + 1, j)  # it ends before: the next one
    return j, np.maximum(np.searchsorted(s, off[m] + wh, side="left") - j, 0)


def _intersections(q: tuple, qm: np.ndarray, first: np.ndarray, nrun: np.ndarray, t: tuple,
                   tm: np.ndarray) -> np.ndarray:
    """|Q ∩ T| of the pairs (local mask qm[p] of runs q, local mask tm[p] of runs t; `MaskSet.runs`),
    given the runs of Q to look at (`nrun[p]` runs from `first[p]`; those outside T's extent may be left
    out): each such run of Q is placed on T's axis and overlapped with the run of T that starts at or
    before it and with the runs starting inside it."""
    qs, qlen, _, qoff = q
    ts, tlen, _, toff = t
    pair = np.repeat(np.arange(qm.size), nrun)
    run = np.arange(pair.size) + np.repeat(first - (np.cumsum(nrun) - nrun), nrun)
    a = qs[run] + np.repeat(toff[tm] - qoff[qm], nrun)
    b = a + qlen[run]
    j = np.maximum(np.searchsorted(ts, a, side="right") - 1, 0)
    start = ts[j]
    part = np.maximum(np.minimum(b, start + tlen[j]) - np.maximum(a, start), 0)
    act = np.flatnonzero(ts[j + 1] < b)
    k = j[act] + 1
    while act.size:  # rarely more than one: runs of T starting inside a run of Q
        start = ts[k]
        part[act] += np.minimum(b[act], start + tlen[k]) - start
        k += 1
        more = ts[k] < b[act]
        act, k = act[more], k[more]
    return np.bincount(pair, weights=part, minlength=qm.size).astype(np.int64)  # exact below 2**53


def mask_iou_pairs(dt: MaskSet, gt: MaskSet, dt_idx, gt_idx, gt_crowd=None, min_iou: float = 0.0) -> np.ndarray:
    """IoU of the mask pairs (dt[dt_idx[i]], gt[gt_idx[i]]), as pycocotools' rleIou (bit-identical).

    Definition: inter = |D ∩ G|; IoU = 0 if inter == 0 (so any pair with an empty mask is 0), else
    inter / |D| when the ground truth is a crowd region (`gt_crowd[g]`, one flag per ground truth), else
    inter / (|D| + |G| - inter); computed as float64(inter) / float64(denominator) like the C code.
    Pairs of masks of different (h, w) get 0 (pycocotools: -1). Masks are assumed valid (`MaskSet.check`).

    min_iou > 0: a pair whose IoU is provably below it (from the areas and the overlap of the `bboxes`,
    bounded in the same floating-point formula, so never wrongly) gets 0 without its intersection.

    Cost: in proportion to the pairs (the areas, extents and boxes of the sets are computed once and
    cached). Pairs whose extents or boxes do not overlap are 0; for the others, the runs of the masks
    involved are laid out once per call (`MaskSet.runs`), and the runs of the mask with fewer runs in the
    common extent are located among the other's by one binary search each.
    """
    d = np.asarray(dt_idx, dtype=np.int64).reshape(-1)
    g = np.asarray(gt_idx, dtype=np.int64).reshape(-1)
    if d.shape != g.shape:
        raise ValueError("dt_idx and gt_idx must have the same length")
    crowd = np.zeros(len(gt), dtype=bool) if gt_crowd is None else np.asarray(gt_crowd, dtype=bool).reshape(-1)
    if crowd.size != len(gt):
        raise ValueError(f"gt_crowd needs one flag per ground truth ({len(gt)}), got {crowd.size}")
    out = np.zeros(d.size, dtype=np.float64)
    if d.size == 0:
        return out
    ad, ag = dt.areas()[d], gt.areas()[g]
    dlo, dhi = dt.extents()
    glo, ghi = gt.extents()
    wl = np.maximum(dlo[d], glo[g])
    wh = np.minimum(dhi[d], ghi[g])
    p = np.flatnonzero((dt.h[d] == gt.h[g]) & (dt.w[d] == gt.w[g]) & (ad > 0) & (ag > 0) & (wl < wh))
    if p.size:  # a non-empty mask lies in its box: box-disjoint pairs are 0
        bd, bg = dt.bboxes()[d[p]], gt.bboxes()[g[p]]
        ov = np.ones(p.size)
        for k in (0, 1):
            ov *= np.maximum(np.minimum(bd[:, k] + bd[:, k + 2], bg[:, k] + bg[:, k + 2])
                             - np.maximum(bd[:, k], bg[:, k]), 0)
        keep = ov > 0
        if min_iou > 0:
            a1, a2 = ad[p], ag[p]
            ub = np.minimum(np.minimum(a1, a2), ov.astype(np.int64))  # >= inter
            den = np.where(crowd[g[p]], a1, a1 + a2 - ub)  # <= the true denominator
            keep &= ub.astype(np.float64) / den.astype(np.float64) >= min_iou
        p = p[keep]
    size = np.zeros(p.size + 1, dtype=np.int64)
    np.cumsum(dt.nc[d[p]] + gt.nc[g[p]], out=size[1:])
    for i, j in _chunks(size, _CHUNK_PAIR_COUNTS):  # temporaries that stay small (and in cache)
        c = p[i:j]
        inter = _pair_intersections(dt, gt, d[c], g[c], wl[c], wh[c])
        a1, a2 = ad[c], ag[c]
        union = np.where(crowd[g[c]], a1, a1 + a2 - inter)
        out[c] = inter.astype(np.float64) / np.where(inter == 0, 1, union).astype(np.float64)
    return out


_CHUNK_PAIR_COUNTS = 1 << 19  # mask pairs intersected at once: as many as have this many counts (measured)


def _pair_intersections(dt: MaskSet, gt: MaskSet, d: np.ndarray, g: np.ndarray, wl: np.ndarray,
                        wh: np.ndarray) -> np.ndarray:
    """|dt[d[p]] ∩ gt[g[p]]| for pairs whose common extent is [wl[p], wh[p])."""
    ud, dl = np.unique(d, return_inverse=True)
    ug, gl = np.unique(g, return_inverse=True)
    druns, gruns = dt.runs(ud), gt.runs(ug)
    d_first, d_n = _window_runs(druns, dl, wl, wh)
    g_first, g_n = _window_runs(gruns, gl, wl, wh)
    inter = np.zeros(d.size, dtype=np.int64)
    by_g = g_n <= d_n  # query with the mask that has fewer runs there
    k = np.flatnonzero(by_g)
    inter[k] = _intersections(gruns, gl[k], g_first[k], g_n[k], druns, dl[k])
    k = np.flatnonzero(~by_g)
    inter[k] = _intersections(druns, dl[k], d_first[k], d_n[k], gruns, gl[k])
    return inter


def rle_iou_pairs(dt_counts_list: Sequence, gt_counts_list: Sequence, dt_idx, gt_idx,
                  gt_crowd=None) -> np.ndarray:
    """IoU of the pairs (dt_counts_list[dt_idx[i]], gt_counts_list[gt_idx[i]]), as pycocotools' rleIou
    (see `mask_iou_pairs`). All masks must have the same number of pixels (pycocotools gives -1 for pairs
    of different sizes; we raise ValueError)."""
    dt_idx = np.asarray(dt_idx, dtype=np.int64).ravel()
    gt_idx = np.asarray(gt_idx, dtype=np.int64).ravel()
    if dt_idx.shape != gt_idx.shape:
        raise ValueError("dt_idx and gt_idx must have the same length")
    if dt_idx.size == 0:
        return np.zeros(0, dtype=np.float64)
    dts = [np.asarray(c, dtype=np.int64).reshape(-1) for c in dt_counts_list]
    gts = [np.asarray(c, dtype=np.int64).reshape(-1) for c in gt_counts_list]
    totals = {int(c.sum()) for c in dts} | {int(c.sum()) for c in gts}
    if len(totals) > 1:
        raise ValueError(f"all masks must have the same size, got pixel totals {sorted(totals)}")
    for c in dts + gts:
        if c.size and c.min() < 0:
            raise ValueError("RLE counts must be non-negative")
    total = totals.pop()
    return mask_iou_pairs(MaskSet.from_counts(dts, total, 1), MaskSet.from_counts(gts, total, 1), dt_idx, gt_idx,
                          gt_crowd)


def rle_iou_matrix(dts: Sequence, gts: Sequence, crowd=None) -> np.ndarray:
    """(len(dts), len(gts)) IoU table as maskUtils.iou(dts, gts, crowd) (which returns [] when either list
    is empty; here an empty array of that shape)."""
    nd, ng = len(dts), len(gts)
    if nd == 0 or ng == 0:
        return np.zeros((nd, ng), dtype=np.float64)
    di = np.repeat(np.arange(nd), ng)
    gi = np.tile(np.arange(ng), nd)
    return rle_iou_pairs(dts, gts, di, gi, crowd).reshape(nd, ng)
