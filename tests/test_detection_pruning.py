"""The box-overlap pruning of detection/ground-truth pairs never drops a pair that overlaps.

(Its own module: test_detection_metrics runs every test in two pairing modes, which this test does not use.)
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evalsite.core.boxes import iou_matrix
from evalsite.metrics.pairs import overlap_pairs

from test_detection_metrics import _boxes


def _keyed_boxes():
    keys = lambda n: arrays(np.int64, n, elements=st.integers(0, 2))  # noqa: E731
    return st.integers(0, 25).flatmap(lambda n: st.tuples(_boxes(n), keys(n)))


@settings(max_examples=200, deadline=None, database=None)
@given(_keyed_boxes(), _keyed_boxes())
def test_overlap_pruning_keeps_every_overlapping_pair(dets, gts):
    # Float boxes, several keys, widths down to tiny: the pairs kept must include every pair of equal keys
    # whose boxes overlap (positive IoU), whatever the rounding.
    (db, dk), (gb, gk) = dets, gts
    n_dt, n_gt = len(db), len(gb)
    pd, pg = overlap_pairs(np.arange(n_dt), dk, db, np.arange(n_gt), gk, gb)
    kept = set(zip(pd.tolist(), pg.tolist()))
    assert len(kept) == len(pd)
    needed = (iou_matrix(db, gb) > 0) & (dk[:, None] == gk[None, :])
    assert set(zip(*(x.tolist() for x in np.nonzero(needed)))) <= kept


@settings(max_examples=200, deadline=None, database=None)
@given(_keyed_boxes(), _keyed_boxes(), st.booleans())
def test_pair_iou_from_columns_is_pair_iou_to_the_bit(dets, gts, crowd):
    # The pairing's IoU gathers each coordinate from column copies (box_columns / pair_iou_of): the same
    # arithmetic as pair_iou on the gathered rows, so the same bits (COCO's numbers depend on them).
    from evalsite.core.boxes import box_columns, pair_iou, pair_iou_of

    (db, _), (gb, _) = dets, gts
    if not len(db) or not len(gb):
        return
    d = np.repeat(np.arange(len(db)), len(gb))
    g = np.tile(np.arange(len(gb)), len(db))
    flags = np.arange(len(gb)) % 2 == 0 if crowd else None
    want = pair_iou(db[d], gb[g], None if flags is None else flags[g])
    got = pair_iou_of(box_columns(db), box_columns(gb), d, g, flags)
    assert got.dtype == np.float64 and np.array_equal(got.view(np.int64), want.view(np.int64))


@settings(max_examples=300, deadline=None, database=None)
@given(arrays(np.int64, st.integers(0, 40), elements=st.integers(0, 60)),
       arrays(np.int64, st.integers(0, 40), elements=st.integers(-3, 2000)))
def test_key_ranges_are_searchsorted(keys, wanted):
    # Where each wanted key's run starts in the sorted keys and its length: counted (few distinct values)
    # or searched (many, or negative keys), always numpy's searchsorted left and right.
    from evalsite.metrics.pairs import _key_ranges

    keys = np.sort(keys)
    lo, n = _key_ranges(keys, wanted)
    left = np.searchsorted(keys, wanted, "left")
    assert lo.tolist() == left.tolist()
    assert n.tolist() == (np.searchsorted(keys, wanted, "right") - left).tolist()


@settings(max_examples=200, deadline=None, database=None)
@given(_keyed_boxes(), _keyed_boxes(), st.integers(1, 12), st.booleans())
def test_pairs_in_chunks_are_the_pairs_at_once(dets, gts, chunk, prune):
    # PairGeometry.pairs computes the IoU of its candidate pairs a chunk of detections at a time (bounded
    # temporaries on a Dask driver): the same pairs, in the same order, with the same IoU bits as all at once,
    # on both paths (every same-key pair, and the box-overlap pruning when pairs are many).
    import evalsite.metrics.pairs as pairs

    (db, dk), (gb, gk) = dets, gts
    crowd = np.arange(len(gb)) % 3 == 0
    geometry = pairs.PairGeometry(None, db, gb, crowd)
    saved = pairs.PAIR_CHUNK, pairs.PRUNE_FACTOR
    try:
        pairs.PRUNE_FACTOR = 0 if prune else 10 ** 9
        pairs.PAIR_CHUNK = 10 ** 9
        whole = geometry.pairs(np.arange(len(db)), dk, np.arange(len(gb)), gk)
        pairs.PAIR_CHUNK = chunk
        chunked = geometry.pairs(np.arange(len(db)), dk, np.arange(len(gb)), gk)
    finally:
        pairs.PAIR_CHUNK, pairs.PRUNE_FACTOR = saved
    for a, b in zip(whole, chunked):
        assert a.dtype == b.dtype and np.array_equal(a.view(np.int64), b.view(np.int64))


@settings(max_examples=200, deadline=None, database=None)
@given(arrays(np.int64, st.integers(0, 30), elements=st.integers(0, 9)), st.integers(1, 15))
def test_chunk_bounds_cover_in_order_within_the_size(counts, size):
    from evalsite.metrics.pairs import chunk_bounds

    bounds = chunk_bounds(counts, size)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(counts)
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(bounds, bounds[1:]))  # consecutive, no gap
    for a, b in bounds:
        assert b > a or len(counts) == 0
        assert counts[a:b].sum() <= size or b == a + 1  # within the size, or one count alone
        if b < len(counts):
            assert counts[a:b + 1].sum() > size  # as large as allowed: the next count would not fit
