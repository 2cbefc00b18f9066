"""Instance masks as run-length encodings (RLE), with pycocotools' exact behaviour (maskApi.c, _mask.pyx):
the codec of one mask and its batch building blocks.

An RLE of an h x w binary mask is a 1-D array `counts` of run lengths over the mask flattened in
column-major (Fortran) order, alternating runs of 0s and 1s and starting with a run of 0s (so
`counts[0] == 0` when pixel (0, 0) is set). The counts sum to h * w. The RLEs made here are canonical:
only `counts[0]` may be 0 and the last count is positive.

The compressed string form is pycocotools' (rleToString): each count, from the fourth on as the difference
to the count two places before, is written as a signed little-endian number in 5-bit chunks, one ASCII
character (48 + chunk, +32 when more chunks follow) per chunk.

Several parts are merged as pycocotools' rleMerge (union: `rle_union`). Many masks at once live in a
`MaskSet` (evalsite.core.masks.maskset), which shares the batch functions here (`first_bad_counts`,
`rle_strings`, `join_ascii`, `parse_rle_strings`); polygons are in evalsite.core.masks.polygons, mask IoU
in evalsite.core.masks.iou.

Pure numpy; pycocotools is only used by the tests as the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalsite.core.errors import MaskError

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
    bad = first_bad_counts(arr, np.array([0, arr.size]), np.array([h]), np.array([w]))
    if bad is not None:
        raise ValueError(bad[1])
    return arr


def first_bad_counts(c: np.ndarray, ptr: np.ndarray, h: np.ndarray, w: np.ndarray) -> tuple[int, str] | None:
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
        return rle_strings(c, np.array([0, c.size]))[0]
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


def rle_strings(c: np.ndarray, cptr: np.ndarray) -> list[str]:
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
        counts, _ = parse_rle_strings(np.frombuffer(join_ascii([s]), dtype=np.uint8), np.array([len(s)]))
    except MaskError as exc:
        raise ValueError(exc.problem) from None
    return counts


def join_ascii(strings: Sequence) -> bytes:
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


def parse_rle_strings(b: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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

