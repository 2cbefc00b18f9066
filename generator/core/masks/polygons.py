"""Polygons rasterised as pycocotools' rleFrPoly (frPyObjects), several parts merged as its rleMerge
(union), in a few vectorised passes over many objects (RLE conventions: evalsite.core.masks.rle).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_SCALE = 5.0  # rleFrPoly's upsampling factor
# The largest coordinate (pixels, either sign) a polygon may have. No image is that large (Pillow opens at most
# 178.9 Mpx), so a larger one is a unit or parsing mistake; beyond it the arithmetic here would overflow
# (1e300 * 5 squared is inf: a quietly wrong area) and pycocotools' rleFrPoly casts to int (undefined).
MAX_COORDINATE = 1e7


def validate_polygon(polygon) -> np.ndarray:
    """A polygon [x0, y0, x1, y1, ...] as an (n, 2) float64 array; ValueError if it has an odd number of
    coordinates, fewer than 3 points, a non-finite coordinate or one beyond +-MAX_COORDINATE pixels.
    Self-intersection is allowed."""
    xy = np.asarray(polygon, dtype=np.float64)
    if xy.ndim != 1:
        raise ValueError(f"a polygon must be a flat list [x0, y0, x1, y1, ...], got shape {xy.shape}")
    if xy.size % 2:
        raise ValueError(f"a polygon needs an even number of coordinates, got {xy.size}")
    if xy.size < 6:
        raise ValueError(f"a polygon needs at least 3 points, got {xy.size // 2}")
    if not np.all(np.isfinite(xy)):
        raise ValueError("polygon coordinates must be finite")
    if not np.all(np.abs(xy) <= MAX_COORDINATE):
        raise ValueError(f"polygon coordinate {xy[np.argmax(np.abs(xy))]:g} is beyond {MAX_COORDINATE:g} pixels "
                         "(no image is that large: a unit or parsing mistake?)")
    return xy.reshape(-1, 2)



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
    if not np.all(np.abs(flat) <= MAX_COORDINATE):  # also false for NaN
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

