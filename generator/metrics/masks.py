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
