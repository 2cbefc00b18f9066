"""Mask IoU as pycocotools' rleIou: intersection / union, or intersection / detection area for a crowd
ground truth, and 0 whenever the intersection is empty (including empty masks). Many pairs at once on
`MaskSet`s (evalsite.core.masks.maskset).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalsite.core.masks.maskset import MaskSet, chunk_ranges

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
    for i, j in chunk_ranges(size, _CHUNK_PAIR_COUNTS):  # temporaries that stay small (and in cache)
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
