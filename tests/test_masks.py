"""Masks (generator/core/masks/) checked against pycocotools.mask, the reference.

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

import evalsite.core.masks.maskset as masks_mod
import evalsite.core.masks.polygons as polygons_mod
from evalsite.core.errors import MaskError
from evalsite.core.masks import (
    MaskSet,
    mask_iou_pairs,
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
    rng = np.random.default_rng(77)
    objs, hs, ws, refs = [], [], [], []
    for _ in range(300):
        h, w = random_size(rng) if rng.random() < 0.7 else (480, 640)
        polys = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
        objs.append(polys)
        hs.append(h)
        ws.append(w)
        refs.append(mu.merge(mu.frPyObjects(polys, h, w))["counts"].decode())
    for chunk in (polygons_mod._CHUNK_POINTS, 1, 5000):
        old = polygons_mod._CHUNK_POINTS
        polygons_mod._CHUNK_POINTS = chunk
        try:
            out = rle_from_polygons_many(objs, hs, ws)
        finally:
            polygons_mod._CHUNK_POINTS = old
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


# ------------------------------------------------------------------------------------------- mask sets

def reference_from_string(s: str) -> list[int]:
    """rleFrString transcribed from maskApi.c, one character at a time (independent of the code under test)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x = k = 0
        more = True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def edge_counts(rng: np.random.Generator) -> tuple[list[int], int, int]:
    """Counts of a random mask, often non-canonical: zero-length runs (leading, inside, trailing), a
    single count, no pair at all; sizes include 1 x N and N x 1."""
    kind = int(rng.integers(0, 6))
    h, w = [(1, int(rng.integers(1, 30))), (int(rng.integers(1, 30)), 1), random_size(rng)][int(rng.integers(0, 3))]
    counts = [int(c) for c in rle_encode(random_mask(rng, h, w))]
    if kind == 1 and len(counts) > 1:  # a zero-length pair inside a run
        j = int(rng.integers(0, len(counts)))
        if counts[j] >= 2:
            a = int(rng.integers(1, counts[j]))
            counts[j:j + 1] = [a, 0, counts[j] - a]
    elif kind == 2:  # zero-length trailing counts
        counts += [0] * int(rng.integers(1, 3))
    elif kind == 3:  # everything in one count (no pair), or [h*w, 0]
        counts = [h * w] if rng.random() < 0.5 else [h * w, 0]
    elif kind == 4:  # leading zero-length run of 1s
        counts = [0, 0] + counts
    return counts, h, w


@pytest.mark.parametrize("chunk", [None, 7, 64])
def test_mask_set_matches_per_mask_functions_and_pycocotools(monkeypatch, chunk):
    if chunk is not None:  # chunked passes: boundaries inside the set
        monkeypatch.setattr(masks_mod, "_CHUNK_COUNTS", chunk)
    rng = np.random.default_rng(500 + (chunk or 0))
    cases = [edge_counts(rng) for _ in range(600)]
    if chunk == 64:  # one image size for all: the scalar-division path of bboxes()
        cases = [edge_counts(rng) for _ in range(2000)]
        cases = [(c, h, w) for c, h, w in cases if (h, w) == (1, 7)] + [([7], 1, 7), ([0, 7], 1, 7), ([7, 0], 1, 7)]
    hs = np.array([h for _, h, _ in cases])
    ws = np.array([w for _, _, w in cases])
    masks = MaskSet.from_counts([c for c, _, _ in cases], hs, ws)
    assert len(masks) == len(cases) and masks.check() is None
    boxes, areas = masks.bboxes(), masks.areas()
    lo, hi = masks.extents()
    for k, (c, h, w) in enumerate(cases):
        assert masks[k].tolist() == c
        ref = mu.frPyObjects({"counts": c, "size": [h, w]}, h, w)
        assert np.array_equal(boxes[k], rle_bbox(c, h, w))
        assert np.array_equal(boxes[k], mu.toBbox(ref))
        assert areas[k] == rle_area(c) == mu.area(ref)
        flat = rle_decode(c, h, w).ravel(order="F")
        if flat.any():  # extents bound the set pixels
            assert lo[k] <= np.argmax(flat) and hi[k] >= flat.size - np.argmax(flat[::-1])
    # take (reordered, repeated, by bool mask), concat and the caches that follow them
    order = rng.permutation(len(cases))[:len(cases) // 2].tolist() + [0, 0]
    sub = masks.take(order)
    assert [m.tolist() for m in sub] == [cases[i][0] for i in order]
    assert np.array_equal(sub.bboxes(), boxes[order]) and np.array_equal(sub.areas(), areas[order])
    assert np.array_equal(sub.h, hs[order]) and np.array_equal(sub.w, ws[order])
    fresh = MaskSet.from_counts([cases[i][0] for i in order], hs[order], ws[order])
    assert np.array_equal(fresh.bboxes(), boxes[order]) and np.array_equal(fresh.areas(), areas[order])
    assert masks.take(np.arange(len(cases))) is masks
    picked = masks.take(areas > 0)
    assert len(picked) == int((areas > 0).sum())
    both = MaskSet.concat([sub, masks])
    assert [m.tolist() for m in both] == [m.tolist() for m in sub] + [c for c, _, _ in cases]
    assert np.array_equal(both.bboxes(), np.concatenate([boxes[order], boxes]))
    assert masks[-1].tolist() == cases[-1][0]
    with pytest.raises(IndexError):
        masks[len(cases)]


def test_mask_set_validation_reports_the_first_bad_mask(monkeypatch):
    monkeypatch.setattr(masks_mod, "_CHUNK_COUNTS", 16)
    good = [[3, 2, 1], [6], [0, 6], [], [2, 0, 1, 1, 2]]
    sizes = [(2, 3)] * 3 + [(0, 4)] + [(2, 3)]
    hs, ws = zip(*sizes)
    assert MaskSet.from_counts(good * 10, hs * 10, ws * 10).check() is None
    for bad, fragment in [([3, 2], "sum to 5, expected h*w = 2*3 = 6"), ([7, -1], "negative count -1 at index 1"),
                          ([-1, 7], "negative count -1 at index 0"), ([1 << 40, 6 - (1 << 40)], "negative count")]:
        for where in (0, 17, 49):
            counts = good * 10
            counts[where] = bad
            problem = MaskSet.from_counts(counts, hs * 10, ws * 10).check()
            assert problem is not None and problem[0] == where and fragment in problem[1], (where, problem)
            with pytest.raises(MaskError) as caught:
                MaskSet.from_counts(counts, hs * 10, ws * 10).validate()
            assert caught.value.index == where
    # a one-off mask: validate_counts says the same
    with pytest.raises(ValueError, match="negative count -1 at index 1"):
        validate_counts([7, -1], 2, 3)


@pytest.mark.parametrize("chunk", [None, 5, 100])
def test_strings_decode_like_pycocotools(monkeypatch, chunk):
    if chunk is not None:  # strings split over many decoding batches
        monkeypatch.setattr(masks_mod, "_CHUNK_CHARS", chunk)
    rng = np.random.default_rng(900 + (chunk or 0))
    strings, sizes, expected = [], [], []
    for k in range(400):
        if k % 4 == 0:  # arbitrary counts: large values (several characters each), negative deltas; below
            # 2**24, as pycocotools' rleToString overflows its buffer (6 characters per count) beyond
            n = int(rng.integers(1, 20))
            counts = rng.integers(0, int(rng.choice([3, 40, 5000, 2**20, 2**23])), n)  # see below
            counts[1:][counts[1:] == 0] = 1
            h = int(rng.integers(1, 50))
            counts[-1] += (-counts.sum()) % h
            w = int(counts.sum() // h)
            if w == 0:
                continue
            counts = [int(c) for c in counts]
        else:
            counts, h, w = edge_counts(rng)
        ref = mu.frPyObjects({"counts": counts, "size": [h, w]}, h, w)
        text = ref["counts"].decode("ascii")
        assert text == rle_to_string(counts)
        assert reference_from_string(text) == counts
        strings.append(text if k % 3 else ref["counts"])  # bytes too
        sizes.append((h, w))
        expected.append((counts, ref))
    strings.append("")  # no counts: a 0 x 0 mask
    sizes.append((0, 0))
    expected.append(([], None))
    hw = np.array(sizes)
    masks = MaskSet.from_strings(strings, hw[:, 0], hw[:, 1])
    assert len(masks) == len(strings)
    for k, (counts, ref) in enumerate(expected):
        assert masks[k].tolist() == counts
        assert rle_from_string(strings[k]).tolist() == counts
        if ref is not None:
            assert masks.areas()[k] == mu.area(ref)
            assert np.array_equal(masks.bboxes()[k], mu.toBbox(ref))
            if sizes[k][0] * sizes[k][1] <= 10**5:
                assert np.array_equal(rle_decode(masks[k], *sizes[k]), mu.decode(ref).astype(bool))
    # and back (rleToString): the batch encoder, the one-mask encoder (a loop below 256 counts) and
    # pycocotools agree, short and long masks alike
    texts = [t if isinstance(t, str) else t.decode("ascii") for t in strings]
    assert max(len(c) for c, _ in expected) > 256
    assert masks.strings() == texts == [rle_to_string(c) for c, _ in expected]
    pick = rng.integers(0, len(strings), 50)
    assert masks.strings(pick) == [texts[i] for i in pick]
    # a count of 2**40 pixels in a 2**20 x 2**20 image: int64 storage
    big = MaskSet.from_strings([rle_to_string([2**40 - 3, 3])], 2**20, 2**20)
    assert big.counts.dtype == np.int64 and big[0].tolist() == [2**40 - 3, 3]


@pytest.mark.parametrize("chunk", [None, 9])
def test_bad_strings_name_their_index(monkeypatch, chunk):
    if chunk is not None:
        monkeypatch.setattr(masks_mod, "_CHUNK_CHARS", chunk)
    h, w = 4, 5
    good = [rle_to_string(rle_encode(random_mask(np.random.default_rng(k), h, w))) for k in range(30)]
    for bad, fragment in [("0 1", "invalid character ' ' at position 1"), ("1~", "invalid character '~'"),
                          ("4P", "ends inside a count"), ("3", "sum to 3, expected h*w = 4*5 = 20"),
                          (rle_to_string([5, -3, 18]), "negative count -3 at index 1"),
                          ("a\u00e9", "non-ASCII"), ("o" * 13 + "0", "too long")]:
        for where in (0, 13, 29):
            strings = list(good)
            strings[where] = bad
            with pytest.raises(MaskError) as caught:
                MaskSet.from_strings(strings, h, w)
            assert caught.value.index == where and fragment in caught.value.problem, (bad, where, caught.value)
    with pytest.raises(ValueError, match="invalid character"):
        rle_from_string(b"0 1")


def test_mask_iou_pairs_on_mask_sets():
    """Sets of mixed sizes against pycocotools' iou; min_iou leaves every IoU >= min_iou exact."""
    rng = np.random.default_rng(321)
    sizes = [(17, 23), (23, 17), (1, 40), (40, 1), (30, 30)]

    def masks_of(n):
        out, hw = [], []
        for _ in range(n):
            h, w = sizes[int(rng.integers(0, len(sizes)))]
            out.append(random_mask(rng, h, w))
            hw.append((h, w))
        return out, np.array(hw)

    dms, dhw = masks_of(60)
    gms, ghw = masks_of(25)
    crowd = rng.random(25) < 0.3
    dt = MaskSet.from_counts([rle_encode(m) for m in dms], dhw[:, 0], dhw[:, 1])
    gt = MaskSet.from_counts([rle_encode(m) for m in gms], ghw[:, 0], ghw[:, 1])
    ref = np.asarray(mu.iou([coco_rle(m) for m in dms], [coco_rle(m) for m in gms], crowd.astype(int).tolist()))
    ref = np.where(ref < 0, 0.0, ref)  # pairs of different sizes: -1 there, 0 here
    di, gi = np.repeat(np.arange(60), 25), np.tile(np.arange(25), 60)
    got = mask_iou_pairs(dt, gt, di, gi, crowd).reshape(60, 25)
    assert np.array_equal(got, ref)
    assert (ref > 0).any()
    for floor in (0.1, 0.5, 0.9):
        pruned = mask_iou_pairs(dt, gt, di, gi, crowd, min_iou=floor).reshape(60, 25)
        assert np.array_equal(pruned[ref >= floor], ref[ref >= floor])
        assert np.all((pruned == ref) | (pruned == 0))
    assert mask_iou_pairs(dt, gt, [], []).shape == (0,)


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
