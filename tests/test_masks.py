"""Masks (generator/metrics/masks.py) checked against pycocotools.mask, the reference.

Seeded random cases: binary masks (noise at any density, blobs with holes, empty, full, touching the
border, single pixels, 1-pixel-wide and non-square images), polygons (several parts, self-intersecting
stars, vertices outside the image, sub-pixel polygons, coordinates on the 1/10 grid where rleFrPoly's
rounding is decided exactly at .5), and IoU tables with crowd flags. Everything must be identical to
pycocotools: masks, compressed strings, areas, boxes, and IoU values bit for bit (asserted with
array_equal; the brief's tolerance is 1e-12).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mu

from generator.metrics.masks import (
    rle_area,
    rle_bbox,
    rle_decode,
    rle_encode,
    rle_from_polygons,
    rle_from_polygons_many,
    rle_from_string,
    rle_iou_matrix,
    rle_iou_pairs,
    rle_to_string,
    rle_union,
    validate_counts,
)


# ------------------------------------------------------------------------------------------------ helpers

def coco_rle(mask: np.ndarray) -> dict:
    return mu.encode(np.asfortranarray(mask.astype(np.uint8)))


def random_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = rng.integers(0, 8)
    if kind == 0:
        return np.zeros((h, w), bool)
    if kind == 1:
        return np.ones((h, w), bool)
    if kind == 2:  # single pixel, often on the border
        m = np.zeros((h, w), bool)
        m[rng.choice([0, h - 1, rng.integers(0, h)]), rng.choice([0, w - 1, rng.integers(0, w)])] = True
        return m
    if kind == 3:  # noise
        return rng.random((h, w)) < rng.random()
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(-0.2 * h, 1.2 * h), rng.uniform(-0.2 * w, 1.2 * w)
    ry, rx = rng.uniform(0.5, h), rng.uniform(0.5, w)
    d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    m = d < 1
    if kind >= 5:  # with a hole
        m &= d > rng.uniform(0.05, 0.5)
    if kind == 7:  # plus a border column / row
        m[:, -1] = True
        m[0, :] = True
    return m


def random_polygon(rng: np.random.Generator, h: int, w: int) -> list[float]:
    kind = rng.integers(0, 5)
    n = int(rng.integers(3, 12))
    if kind == 0:  # arbitrary points, self-intersecting in general, partly outside the image
        pts = np.column_stack([rng.uniform(-3, w + 3, n), rng.uniform(-3, h + 3, n)])
    elif kind == 1:  # star (self-intersecting)
        k = int(rng.choice([5, 7, 9]))
        ang = np.arange(k) * 2 * np.pi * (k // 2) / k
        r = rng.uniform(1, max(h, w) / 2)
        pts = np.column_stack([w / 2 + r * np.cos(ang), h / 2 + r * np.sin(ang)])
    elif kind == 2:  # tiny, sub-pixel to a few pixels
        c = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        pts = c + rng.uniform(-1.5, 1.5, (n, 2))
    elif kind == 3:  # on the 1/10 grid: scaled by 5 these hit exact .5 roundings
        pts = np.column_stack([rng.integers(-10, 10 * w + 10, n) / 10, rng.integers(-10, 10 * h + 10, n) / 10])
    else:  # convex-ish blob with integer vertices
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(1, max(h, w) / 2, n)
        pts = np.round(np.column_stack([w / 2 + r * np.cos(ang), h / 2 + r * np.sin(ang)]))
    return [float(v) for v in pts.ravel()]


def random_size(rng: np.random.Generator) -> tuple[int, int]:
    h, w = int(rng.integers(1, 48)), int(rng.integers(1, 48))
    return h, w


# ---------------------------------------------------------------------------------------- RLE of masks

@pytest.mark.parametrize("seed", range(4))
def test_masks_encode_decode_area_bbox(seed):
    rng = np.random.default_rng(seed)
    for _ in range(250):
        h, w = random_size(rng)
        m = random_mask(rng, h, w)
        ref = coco_rle(m)
        counts = rle_encode(m)
        assert counts.dtype == np.int64
        assert np.array_equal(rle_decode(counts, h, w), m)
        assert np.array_equal(rle_decode(counts, h, w), mu.decode(ref).astype(bool))
        assert rle_to_string(counts) == ref["counts"].decode("ascii")
        assert np.array_equal(rle_from_string(ref["counts"]), counts)
        assert rle_area(counts) == int(mu.area(ref))
        assert np.array_equal(rle_bbox(counts, h, w), mu.toBbox(ref))


def test_special_masks():
    for h, w in [(1, 1), (1, 9), (9, 1), (3, 5), (480, 640)]:
        for m in (np.zeros((h, w), bool), np.ones((h, w), bool)):
            ref = coco_rle(m)
            c = rle_encode(m)
            assert rle_to_string(c) == ref["counts"].decode()
            assert np.array_equal(rle_bbox(c, h, w), mu.toBbox(ref))
            assert rle_area(c) == mu.area(ref)
    # non-canonical counts (zero-length runs) give pycocotools' uint32 boxes, mirrored
    for counts in ([6, 0], [6, 0, 0], [0, 0, 6], [2, 0, 1, 1, 2], [0, 6], [3, 2, 1]):
        ref = mu.frPyObjects({"counts": counts, "size": [2, 3]}, 2, 3)
        assert np.array_equal(rle_bbox(counts, 2, 3), mu.toBbox(ref))
    # a run of 1s crossing a column boundary: box spans the full height (rleToBbox's rule)
    m = np.zeros((4, 3), bool)
    m[3, 0] = m[0, 1] = True
    c = rle_encode(m)
    assert list(c) == [3, 2, 7]
    assert np.array_equal(rle_bbox(c, 4, 3), mu.toBbox(coco_rle(m)))


def test_string_of_arbitrary_counts():
    """Large counts and negative deltas (i > 2 trick), including non-canonical counts with zeros."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        counts = rng.integers(0, rng.choice([3, 40, 5000, 2**20]), n)
        counts[1:][counts[1:] == 0] = rng.choice([0, 1])
        h = int(rng.integers(1, 50))
        pad = (-counts.sum()) % h
        counts[-1] += pad
        w = int(counts.sum() // h)
        if w == 0:
            continue
        ref = mu.frPyObjects({"counts": [int(v) for v in counts], "size": [h, w]}, h, w)
        assert rle_to_string(counts) == ref["counts"].decode()
        assert np.array_equal(rle_from_string(ref["counts"]), counts)
        assert np.array_equal(rle_bbox(counts, h, w), mu.toBbox(ref))
        assert rle_area(counts) == mu.area(ref)
        assert np.array_equal(rle_decode(counts, h, w), mu.decode(ref).astype(bool))


# -------------------------------------------------------------------------------------------- polygons

@pytest.mark.parametrize("seed", range(4))
def test_polygons_like_pycocotools(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(250):
        h, w = random_size(rng)
        polys = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
        ref = mu.merge(mu.frPyObjects(polys, h, w))
        counts = rle_from_polygons(polys, h, w)
        assert rle_to_string(counts) == ref["counts"].decode()
        assert np.array_equal(rle_decode(counts, h, w), mu.decode(ref).astype(bool))
        assert rle_area(counts) == mu.area(ref)
        assert np.array_equal(rle_bbox(counts, h, w), mu.toBbox(ref))


def test_polygons_large_image():
    rng = np.random.default_rng(5)
    h, w = 480, 640
    for _ in range(20):
        polys = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
        ref = mu.merge(mu.frPyObjects(polys, h, w))
        counts = rle_from_polygons(polys, h, w)
        assert rle_to_string(counts) == ref["counts"].decode()
        assert rle_area(counts) == mu.area(ref)


def test_polygons_many_like_pycocotools():
    """The batch entry point: objects of different image sizes (and chunking) in one call."""
    import generator.metrics.masks as masks_mod
    rng = np.random.default_rng(77)
    objs, hs, ws, refs = [], [], [], []
    for _ in range(300):
        h, w = random_size(rng) if rng.random() < 0.7 else (480, 640)
        polys = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
        objs.append(polys)
        hs.append(h)
        ws.append(w)
        refs.append(mu.merge(mu.frPyObjects(polys, h, w))["counts"].decode())
    for chunk in (masks_mod._CHUNK_POINTS, 1, 5000):
        old = masks_mod._CHUNK_POINTS
        masks_mod._CHUNK_POINTS = chunk
        try:
            out = rle_from_polygons_many(objs, hs, ws)
        finally:
            masks_mod._CHUNK_POINTS = old
        assert [rle_to_string(c) for c in out] == refs
    assert rle_from_polygons_many([], [], []) == []
    with pytest.raises(ValueError):
        rle_from_polygons_many([[[0, 0, 4, 0, 4, 4]], [[0, 0, 1, 1]]], [5, 5], [5, 5])
    with pytest.raises(ValueError):
        rle_from_polygons_many([[[0, 0, 4, 0, 4, float("nan")]]], [5], [5])


def test_union_of_masks():
    rng = np.random.default_rng(11)
    for _ in range(200):
        h, w = random_size(rng)
        ms = [random_mask(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
        ref = mu.merge([coco_rle(m) for m in ms], intersect=0)
        ours = rle_union([rle_encode(m) for m in ms], h, w)
        assert rle_to_string(ours) == ref["counts"].decode()


_coord = st.floats(min_value=-20, max_value=70, allow_nan=False, allow_infinity=False)
_poly = st.lists(_coord, min_size=6, max_size=24).filter(lambda p: len(p) % 2 == 0)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(h=st.integers(1, 50), w=st.integers(1, 50), polys=st.lists(_poly, min_size=1, max_size=3))
def test_polygons_property(h, w, polys):
    ref = mu.merge(mu.frPyObjects(polys, h, w))
    counts = rle_from_polygons(polys, h, w)
    assert rle_to_string(counts) == ref["counts"].decode()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(h=st.integers(1, 12), w=st.integers(1, 12), data=st.data())
def test_masks_property(h, w, data):
    bits = data.draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    m = np.array(bits, dtype=bool).reshape(h, w)
    ref = coco_rle(m)
    counts = rle_encode(m)
    assert rle_to_string(counts) == ref["counts"].decode()
    assert np.array_equal(rle_decode(counts, h, w), m)
    assert np.array_equal(rle_bbox(counts, h, w), mu.toBbox(ref))


# ------------------------------------------------------------------------------------------------- IoU

@pytest.mark.parametrize("seed", range(3))
def test_iou_matrix_bit_identical(seed):
    rng = np.random.default_rng(200 + seed)
    for _ in range(120):
        h, w = random_size(rng)
        dts = [random_mask(rng, h, w) for _ in range(int(rng.integers(0, 6)))]
        gts = [random_mask(rng, h, w) for _ in range(int(rng.integers(0, 6)))]
        if rng.random() < 0.3 and gts:  # identical and polygon masks too
            dts.append(gts[0].copy())
        crowd = rng.random(len(gts)) < 0.3
        ours = rle_iou_matrix([rle_encode(m) for m in dts], [rle_encode(m) for m in gts], crowd)
        assert ours.shape == (len(dts), len(gts))
        if not dts or not gts:
            assert mu.iou([coco_rle(m) for m in dts], [coco_rle(m) for m in gts], list(crowd)) == []
            continue
        ref = mu.iou([coco_rle(m) for m in dts], [coco_rle(m) for m in gts], [int(c) for c in crowd])
        assert np.array_equal(ours, np.asarray(ref).reshape(ours.shape))  # bit-identical
        assert np.abs(ours - ref).max() <= 1e-12


def test_iou_pairs_polygons_and_crowd():
    rng = np.random.default_rng(300)
    h, w = 60, 80
    masks = [rle_from_polygons([random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 3)))], h, w)
             for _ in range(30)]
    refs = [{"size": [h, w], "counts": rle_to_string(c).encode()} for c in masks]
    crowd = rng.random(30) < 0.5
    di = rng.integers(0, 30, 500)
    gi = rng.integers(0, 30, 500)
    ours = rle_iou_pairs(masks, masks, di, gi, crowd)
    table = np.asarray(mu.iou(refs, refs, [int(c) for c in crowd]))
    assert np.array_equal(ours, table[di, gi])


def test_iou_empty_masks():
    h, w = 5, 7
    empty = rle_encode(np.zeros((h, w), bool))
    full = rle_encode(np.ones((h, w), bool))
    ours = rle_iou_matrix([empty, full, empty], [empty, full], [False, True])
    e, f = coco_rle(np.zeros((h, w), bool)), coco_rle(np.ones((h, w), bool))
    ref = np.asarray(mu.iou([e, f, e], [e, f], [0, 1]))
    assert np.array_equal(ours, ref)
    assert ours[0, 0] == 0.0 and ours[1, 1] == 1.0  # empty vs empty is 0, as pycocotools
    assert rle_iou_pairs([], [], [], []).shape == (0,)


def test_iou_speed():
    """Printed, not asserted: 1,000 pairs of 640x480 polygon masks."""
    rng = np.random.default_rng(400)
    h, w = 480, 640

    def blob():
        n = int(rng.integers(8, 40))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(20, 200, n)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        return [float(v) for v in np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)]).ravel()]

    masks = [rle_from_polygons([blob()], h, w) for _ in range(100)]
    di = rng.integers(0, 100, 1000)
    gi = rng.integers(0, 100, 1000)
    crowd = rng.random(100) < 0.1
    t0 = time.perf_counter()
    ours = rle_iou_pairs(masks, masks, di, gi, crowd)
    t1 = time.perf_counter()
    refs = [{"size": [h, w], "counts": rle_to_string(c).encode()} for c in masks]
    ref = np.array([mu.iou([refs[d]], [refs[g]], [int(crowd[g])])[0, 0] for d, g in zip(di, gi)])
    t2 = time.perf_counter()
    assert np.array_equal(ours, ref)
    print(f"\nIoU of 1,000 pairs of 640x480 masks: ours {1e3 * (t1 - t0):.1f} ms, "
          f"pycocotools (one call per pair) {1e3 * (t2 - t1):.1f} ms")


# ---------------------------------------------------------------------------------------------- errors

def test_validation_errors():
    with pytest.raises(ValueError, match="sum to"):
        rle_decode([3, 4], 2, 3)
    with pytest.raises(ValueError, match="non-negative"):
        rle_decode([7, -1], 2, 3)
    with pytest.raises(ValueError, match="sum to"):
        rle_bbox([1, 2], 2, 3)
    with pytest.raises(ValueError, match="non-negative"):
        validate_counts([-1, 7], 2, 3)
    with pytest.raises(ValueError, match="at least 3 points"):
        rle_from_polygons([[0, 0, 1, 1]], 5, 5)
    with pytest.raises(ValueError, match="even number"):
        rle_from_polygons([[0, 0, 1, 1, 2, 2, 3]], 5, 5)
    with pytest.raises(ValueError, match="at least 3 points"):
        rle_from_polygons([[0, 0, 4, 0, 4, 4], [1, 1]], 5, 5)
    with pytest.raises(ValueError, match="same size"):
        rle_iou_pairs([[6]], [[4]], [0], [0])
    with pytest.raises(ValueError, match="invalid character"):
        rle_from_string("0 1")
    with pytest.raises(ValueError, match="ends inside"):
        rle_from_string("P")  # 'P' = 48 + 32: continuation bit set, nothing follows
    # self-intersecting polygons are rasterised, not rejected
    bowtie = [0, 0, 6, 6, 6, 0, 0, 6]
    ref = mu.merge(mu.frPyObjects([bowtie], 7, 7))
    assert rle_to_string(rle_from_polygons([bowtie], 7, 7)) == ref["counts"].decode()
