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

Pure numpy; pycocotools is only used by the tests as the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
    if np.any(arr < 0):
        raise ValueError(f"RLE counts must be non-negative, got {int(arr.min())} at index {int(np.argmin(arr))}")
    total = int(arr.sum())
    if total != h * w:
        raise ValueError(f"RLE counts sum to {total}, expected h*w = {h}*{w} = {h * w}")
    return arr


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
    fourth count on, the difference to the count two places before is written (it may be negative)."""
    c = [int(v) for v in np.asarray(counts, dtype=np.int64)]
    out = []
    for i, x in enumerate(c):
        if i > 2:
            x -= c[i - 2]
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5  # arithmetic shift, as on C's long
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def rle_from_string(s) -> np.ndarray:
    """Counts of a compressed RLE string or bytes (rleFrString), the inverse of `rle_to_string`."""
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("ascii")
    counts: list[int] = []
    p, n = 0, len(s)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                raise ValueError("RLE string ends inside a count (last character has its continuation bit set)")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"invalid character {s[p]!r} at position {p} of an RLE string")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return np.asarray(counts, dtype=np.int64)


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
    m = (c.size // 2) * 2
    if m == 0:
        return np.zeros(4, dtype=np.float64)
    ends = np.cumsum(c[:m])
    starts = ends - c[:m]
    fg = (np.arange(m) % 2 == 1) & (c[:m] > 0)
    s, e = starts[fg], ends[fg] - 1
    xs = min(w, int((s // h).min())) if s.size else w
    xe = max(0, int((e // h).max())) if e.size else 0
    if s.size and np.any(s // h < e // h):
        ys, ye = 0, h - 1
    elif s.size:
        ys, ye = min(h, int((s % h).min())), max(0, int((e % h).max()))
    else:
        ys, ye = h, 0
    mod = 2**32
    return np.array([xs, ys, (xe - xs + 1) % mod, (ye - ys + 1) % mod], dtype=np.float64)


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
    k = xy.shape[0]
    x = np.trunc(_SCALE * xy[:, 0] + 0.5).astype(np.int64)
    y = np.trunc(_SCALE * xy[:, 1] + 0.5).astype(np.int64)
    x = np.append(x, x[0])
    y = np.append(y, y[0])
    xs, xe, ys, ye = x[:-1], x[1:], y[:-1], y[1:]
    dx = np.abs(xe - xs)
    dy = np.abs(ys - ye)
    horiz = dx >= dy
    flip = (horiz & (xs > xe)) | (~horiz & (ys > ye))
    xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
    ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
    den = np.where(horiz, dx, dy)
    num = np.where(horiz, ye - ys, xe - xs)
    # a zero-length edge divides 0 by 0 in C; its single point never reaches the output (its column
    # equals its neighbours'), so any slope will do here
    slope = num.astype(np.float64) / np.where(den == 0, 1, den)
    npts = den + 1
    edge = np.repeat(np.arange(k), npts)
    first = np.cumsum(npts) - npts
    d = np.arange(edge.size, dtype=np.int64) - first[edge]
    t = np.where(flip[edge], den[edge] - d, d)
    hz = horiz[edge]
    tf = t.astype(np.float64)
    minor_x = np.trunc(xs[edge].astype(np.float64) + slope[edge] * tf + 0.5).astype(np.int64)
    minor_y = np.trunc(ys[edge].astype(np.float64) + slope[edge] * tf + 0.5).astype(np.int64)
    u = np.where(hz, t + xs[edge], minor_x)
    v = np.where(hz, minor_y, t + ys[edge])

    # points where the upsampled column changes -> boundary pixels
    u1, u0, v1, v0 = u[1:], u[:-1], v[1:], v[:-1]
    sel = u1 != u0
    xd = np.where(u1 < u0, u1, u1 - 1)[sel].astype(np.float64)
    xd = (xd + 0.5) / _SCALE - 0.5
    yd = np.minimum(v1, v0)[sel].astype(np.float64)
    yd = (yd + 0.5) / _SCALE - 0.5
    ok = (np.floor(xd) == xd) & (xd >= 0) & (xd <= w - 1)
    xd, yd = xd[ok], yd[ok]
    yd = np.ceil(np.clip(yd, 0, h))
    a = xd.astype(np.int64) * h + yd.astype(np.int64)
    a = np.sort(np.append(a, h * w))
    a = np.diff(a, prepend=0)

    # rleFrPoly's pass: a zero difference (read fresh) swallows the next difference into the last count
    vals = a.tolist()
    b = [vals[0]]
    j, n = 1, len(vals)
    while j < n:
        if vals[j] > 0:
            b.append(vals[j])
            j += 1
        else:
            j += 1
            if j < n:
                b[-1] += vals[j]
                j += 1
    return np.asarray(b, dtype=np.int64)


def rle_from_polygons(polygons: Sequence[Sequence[float]], h: int, w: int) -> np.ndarray:
    """Counts of the union of polygon parts [[x0, y0, x1, y1, ...], ...] in an h x w image, as pycocotools'
    `merge(frPyObjects(polygons, h, w))`. Pixel (r, c) has its centre at x = c, y = r as in COCO."""
    if int(h) != h or int(w) != w or h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive integers, got h={h!r}, w={w!r}")
    if len(polygons) == 0:
        raise ValueError("at least one polygon is needed")
    parts = [_poly_counts(validate_polygon(p), int(h), int(w)) for p in polygons]
    return rle_union(parts, int(h), int(w))


# -------------------------------------------------------------------------------------------------- IoU

class _RunTable:
    """All runs of 1s of a list of RLEs, concatenated with each RLE shifted by index * stride so that one
    sorted array answers "how many set pixels of RLE r lie before position x" for every r at once."""

    def __init__(self, counts_list: Sequence, stride: int):
        starts, lengths = [], []
        self.area = np.zeros(len(counts_list), dtype=np.int64)
        self.nruns = np.zeros(len(counts_list), dtype=np.int64)
        for r, c in enumerate(counts_list):
            s, e = _runs(c)
            keep = e > s
            s, e = s[keep], e[keep]
            starts.append(s + r * stride)
            lengths.append(e - s)
            self.nruns[r] = s.size
            self.area[r] = int((e - s).sum())
        self.starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        self.ptr = np.concatenate(([0], np.cumsum(self.nruns)))
        self.before = np.cumsum(self.lengths) - self.lengths  # set pixels of earlier runs (global)
        self.stride = stride

    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        """(first set position, last set position + 1) per RLE; (0, 0) for an empty one."""
        lo = np.zeros(self.nruns.size, dtype=np.int64)
        hi = np.zeros(self.nruns.size, dtype=np.int64)
        has = self.nruns > 0
        owners = np.flatnonzero(has)
        first = self.ptr[owners]
        last = self.ptr[owners + 1] - 1
        lo[owners] = self.starts[first] - owners * self.stride
        hi[owners] = self.starts[last] + self.lengths[last] - owners * self.stride
        return lo, hi

    def ones_before(self, owner: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Set pixels of RLE `owner[i]` in positions [0, x[i]) for each i."""
        if self.starts.size == 0:
            return np.zeros(x.shape, dtype=np.int64)
        q = x + owner * self.stride
        j = np.searchsorted(self.starts, q, side="right") - 1
        valid = j >= self.ptr[owner]
        jj = np.maximum(j, 0)
        before_pad = np.append(self.before, self.before[-1] + self.lengths[-1])
        local = self.before[jj] - before_pad[self.ptr[owner]]
        within = np.minimum(q - self.starts[jj], self.lengths[jj])
        return np.where(valid, local + within, 0)


def rle_iou_pairs(dt_counts_list: Sequence, gt_counts_list: Sequence, dt_idx, gt_idx,
                  gt_crowd=None) -> np.ndarray:
    """IoU of the pairs (dt_counts_list[dt_idx[i]], gt_counts_list[gt_idx[i]]), as pycocotools' rleIou.

    Definition: inter = |D ∩ G|; IoU = 0 if inter == 0 (so any pair with an empty mask is 0), else
    inter / |D| when the ground truth is a crowd region (`gt_crowd[g]`, one flag per ground truth), else
    inter / (|D| + |G| - inter); computed as float64(inter) / float64(denominator) like the C code.
    Intersections come from the run lists (no image-sized array per pair). All masks must have the same
    number of pixels (pycocotools gives -1 for pairs of different sizes; we raise ValueError).
    """
    dt_idx = np.asarray(dt_idx, dtype=np.int64).ravel()
    gt_idx = np.asarray(gt_idx, dtype=np.int64).ravel()
    if dt_idx.shape != gt_idx.shape:
        raise ValueError("dt_idx and gt_idx must have the same length")
    if dt_idx.size == 0:
        return np.zeros(0, dtype=np.float64)
    dts = [np.asarray(c, dtype=np.int64) for c in dt_counts_list]
    gts = [np.asarray(c, dtype=np.int64) for c in gt_counts_list]
    totals = {int(c.sum()) for c in dts} | {int(c.sum()) for c in gts}
    if len(totals) > 1:
        raise ValueError(f"all masks must have the same size, got pixel totals {sorted(totals)}")
    for c in dts + gts:
        if c.size and c.min() < 0:
            raise ValueError("RLE counts must be non-negative")
    stride = totals.pop() + 1
    dtab = _RunTable(dts, stride)
    gtab = _RunTable(gts, stride)

    # every ground-truth run of every pair whose extents overlap, as a query interval against the
    # pair's detection (runs outside the detection's extent contribute nothing and are dropped)
    d_lo, d_hi = dtab.extent()
    g_lo, g_hi = gtab.extent()
    cand = np.flatnonzero((d_lo[dt_idx] < g_hi[gt_idx]) & (g_lo[gt_idx] < d_hi[dt_idx]))
    lens = gtab.nruns[gt_idx[cand]]
    pair = np.repeat(cand, lens)
    offs = np.cumsum(lens) - lens
    gi = np.repeat(gtab.ptr[gt_idx[cand]], lens) + (np.arange(pair.size) - np.repeat(offs, lens))
    g_start = gtab.starts[gi] - gt_idx[pair] * stride
    g_end = g_start + gtab.lengths[gi]
    owner = dt_idx[pair]
    near = (g_end > d_lo[owner]) & (g_start < d_hi[owner])
    pair, owner, g_start, g_end = pair[near], owner[near], g_start[near], g_end[near]
    part = dtab.ones_before(owner, g_end) - dtab.ones_before(owner, g_start)
    inter = np.bincount(pair, weights=part, minlength=dt_idx.size).astype(np.int64)  # exact below 2**53

    area_d = dtab.area[dt_idx]
    area_g = gtab.area[gt_idx]
    union = area_d + area_g - inter
    if gt_crowd is not None:
        crowd = np.asarray(gt_crowd, dtype=bool).ravel()
        if crowd.size != len(gts):
            raise ValueError(f"gt_crowd needs one flag per ground truth ({len(gts)}), got {crowd.size}")
        union = np.where(crowd[gt_idx], area_d, union)
    denom = np.where(inter == 0, 1, union).astype(np.float64)
    return inter.astype(np.float64) / denom


def rle_iou_matrix(dts: Sequence, gts: Sequence, crowd=None) -> np.ndarray:
    """(len(dts), len(gts)) IoU table as maskUtils.iou(dts, gts, crowd) (which returns [] when either list
    is empty; here an empty array of that shape)."""
    nd, ng = len(dts), len(gts)
    if nd == 0 or ng == 0:
        return np.zeros((nd, ng), dtype=np.float64)
    di = np.repeat(np.arange(nd), ng)
    gi = np.tile(np.arange(ng), nd)
    return rle_iou_pairs(dts, gts, di, gi, crowd).reshape(nd, ng)
