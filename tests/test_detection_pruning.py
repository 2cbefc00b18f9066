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
