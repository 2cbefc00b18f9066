"""Detection metrics other than COCO (generator/metrics/: matching, voc_ap, operating_point,
detection_confusion, error_types, detection; docs/metrics.md).

Two kinds of checks:
- small cases worked out on paper, the arithmetic in the comments (boxes are [x, y, w, h]; a box 10x10 at
  x=0 and one at x=d overlap (10-d)*10, so IoU = (10-d) / (10+d));
- property tests (hypothesis) against slow plain-Python references written from the definitions: the VOC
  devkit loop for the matching, the devkit's `voc_ap` loops for AP, and, for the operating point, a
  re-matching at every threshold with exact fractions (which also checks that the matching at score >= t
  is the prefix of the full matching). Boxes have integer coordinates so that plain-Python IoU equals
  pycocotools' arithmetic bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evalsite.metrics import operating_point as op
from evalsite.metrics import pairs
from evalsite.metrics.cells import add_cells
from evalsite.metrics.detection import (
    confusion_and_errors,
    evaluate_detection,
    label_group_metrics,
)
from evalsite.metrics.detection_confusion import confusion_at_threshold
from evalsite.metrics.error_types import FN_TYPES, FP_TYPES, type_errors
from evalsite.metrics.matching import join_group_flags, join_label_matchings, match_detections
from evalsite.metrics.operating_point import (
    fixed_point_bits,
    join_sweep_parts,
    label_curve_points,
    labels_in_mean,
    operating_point,
)
from evalsite.metrics.voc_ap import (
    average_precision,
    average_precision_per_label,
    average_precisions_per_label,
    voc_map,
)

HYPOTHESIS = settings(max_examples=100, deadline=None, database=None)


@pytest.fixture(scope="module", autouse=True, params=["all pairs", "pruned pairs"])
def pair_mode(request):
    """Every test runs twice: with every same-image pair (what small inputs get) and with the pairs pruned
    by box overlap (what large inputs get); the results must not differ."""
    saved = pairs.PRUNE_FACTOR
    pairs.PRUNE_FACTOR = saved if request.param == "all pairs" else -1
    yield request.param
    pairs.PRUNE_FACTOR = saved


# ------------------------------------------------------------------------------------------------ builder

@dataclass
class Case:
    n_labels: int
    gts: list = field(default_factory=list)  # (image, label, box, difficult, crowd)
    dts: list = field(default_factory=list)  # (image, label, box, score)

    def gt(self, image, label, box, difficult=False, crowd=False):
        self.gts.append((image, label, list(box), difficult, crowd))
        return len(self.gts) - 1

    def dt(self, image, label, box, score):
        self.dts.append((image, label, list(box), score))
        return len(self.dts) - 1

    @property
    def gt_arrays(self):
        g = self.gts
        return (np.array([x[0] for x in g], dtype=np.int64), np.array([x[1] for x in g], dtype=np.int64),
                np.array([x[2] for x in g], dtype=float).reshape(-1, 4),
                np.array([x[3] for x in g], dtype=bool), np.array([x[4] for x in g], dtype=bool))

    @property
    def dt_arrays(self):
        d = self.dts
        return (np.array([x[0] for x in d], dtype=np.int64), np.array([x[1] for x in d], dtype=np.int64),
                np.array([x[2] for x in d], dtype=float).reshape(-1, 4),
                np.array([x[3] for x in d], dtype=float))

    def match(self, **kw):
        return match_detections(*self.gt_arrays, *self.dt_arrays, n_labels=self.n_labels, **kw)

    def ap(self, method="all"):
        m = self.match()
        return average_precision_per_label(m, self.dt_arrays[1], self.dt_arrays[3], method)

    def sweep(self, **kw):
        return operating_point(self.match(), self.dt_arrays[1], self.dt_arrays[3], **kw)

    def confusion(self, threshold):
        return confusion_at_threshold(*self.gt_arrays, *self.dt_arrays, threshold=threshold,
                                          n_labels=self.n_labels)

    def errors(self, threshold):
        gi, gl, gb, _, gc = self.gt_arrays
        return type_errors(self.match(), gi, gl, gb, gc, *self.dt_arrays, threshold=threshold)


def box(x, y=0, w=10, h=10):
    return [x, y, w, h]


FAR = box(500, 500)  # overlaps nothing


# ------------------------------------------------------------------------------------------ VOC matching/AP

def test_ap_five_detections_three_gt_all_point_and_11_point_differ():
    c = Case(1)
    for x in (0, 20, 40):   # A, B, C
        c.gt(0, 0, box(x))
    c.dt(0, 0, box(0), 0.9)    # TP (A)
    c.dt(0, 0, FAR, 0.8)       # FP
    c.dt(0, 0, box(20), 0.7)   # TP (B)
    c.dt(0, 0, box(0), 0.6)    # FP: best GT A already taken (duplicate)
    c.dt(0, 0, box(40), 0.5)   # TP (C)
    m = c.match()
    assert m.tp.tolist() == [True, False, True, False, True]
    assert m.gt_matched_by.tolist() == [0, 2, 4]
    # cum TP 1,1,2,2,3 -> precision 1, 1/2, 2/3, 2/4, 3/5; recall 1/3, 1/3, 2/3, 2/3, 1.
    # envelope: 1 on (0, 1/3], max(2/3, 1/2, 3/5) = 2/3 on (1/3, 2/3], 3/5 on (2/3, 1]
    # all-point = 1/3 + 2/9 + 1/5 = (15 + 10 + 9) / 45 = 34/45
    assert c.ap("all")[0] == pytest.approx(34 / 45, abs=1e-15)
    # 11-point: r = 0, .1, .2, .3 -> 1 (4x); .4, .5, .6 -> 2/3 (3x); .7 .. 1 -> 3/5 (4x)
    # = (4 + 2 + 2.4) / 11 = 8.4 / 11 = 42/55
    assert c.ap("11point")[0] == pytest.approx(42 / 55, abs=1e-15)
    assert voc_map(c.ap()) == pytest.approx(34 / 45, abs=1e-15)
    # the single-label function agrees, whatever the order the detections are given in
    tp, sc = m.tp, c.dt_arrays[3]
    perm = [3, 0, 4, 1, 2]
    assert average_precision(tp[perm], m.ignored[perm], sc[perm], 3) == pytest.approx(34 / 45, abs=1e-15)


def test_11_point_recall_levels_are_exact_tenths():
    # 10 GT, 3 exact detections: recall 0.1, 0.2, 0.3 (= 3/10, the double nearest 0.3), precision 1.
    # r = 0, .1, .2, .3 -> 1; r >= .4 -> 0: AP = 4/11. (Accumulating 0.1 three times gives
    # 0.30000000000000004 > 3/10, which would drop r = .3 and give 3/11.)
    c = Case(1)
    for i in range(10):
        c.gt(0, 0, box(20 * i))
    for i in range(3):
        c.dt(0, 0, box(20 * i), 0.9 - 0.1 * i)
    assert c.ap("11point")[0] == pytest.approx(4 / 11, abs=1e-15)
    # all-point: 0.3 * 1
    assert c.ap("all")[0] == pytest.approx(0.3, abs=1e-15)


def test_difficult_ground_truth_is_neither_counted_nor_penalised():
    c = Case(1)
    c.gt(0, 0, box(0))                      # A
    d = c.gt(0, 0, box(50), difficult=True)  # D
    c.dt(0, 0, box(55), 0.95)   # best GT D with IoU 5/15 = 1/3 < .5: FP (difficult only protects matches)
    c.dt(0, 0, box(50), 0.9)    # on D: ignored
    c.dt(0, 0, box(50), 0.8)    # on D again: ignored too (a difficult GT is never taken)
    c.dt(0, 0, box(0), 0.7)     # TP (A)
    c.dt(0, 0, FAR, 0.6)        # FP
    m = c.match()
    assert m.tp.tolist() == [False, False, False, True, False]
    assert m.ignored.tolist() == [False, True, True, False, False]
    assert m.gt_index.tolist() == [-1, d, d, 0, -1]
    assert m.best_iou[0] == pytest.approx(1 / 3)
    assert m.n_gt.tolist() == [1]
    # counted sequence FP, TP, FP: precision 0, 1/2, 1/3; recall 0, 1, 1 -> AP = 1 * 1/2
    assert c.ap()[0] == pytest.approx(0.5, abs=1e-15)
    # F1 over thresholds .95 (TP0 FP1 -> 0), .7 (TP1 FP1 FN0 -> 2/3), .6 (TP1 FP2 -> 1/2): t* = .7
    s = c.sweep()
    assert s.point.threshold == 0.7 and s.point.f1 == pytest.approx(2 / 3)
    assert (s.point.tp, s.point.fp, s.point.fn) == (1, 1, 0)
    assert s.thresholds.tolist() == [0.95, 0.7, 0.6]  # ignored detections' scores are not candidates


def test_best_match_already_taken_is_a_false_positive_even_if_another_gt_is_free():
    c = Case(1)
    c.gt(0, 0, box(0))   # A
    c.gt(0, 0, box(2))   # B; IoU(A, B) = 8/12
    c.dt(0, 0, box(0), 0.9)     # TP on A
    c.dt(0, 0, box(0.5), 0.8)   # IoU A = 9.5/10.5 = .905 (best, taken), IoU B = 8.5/11.5 = .739: FP (VOC)
    c.dt(0, 0, box(2), 0.7)     # TP on B
    m = c.match()
    assert m.tp.tolist() == [True, False, True]
    assert m.best_gt.tolist() == [0, 0, 1]
    assert m.best_iou[1] == pytest.approx(9.5 / 10.5)
    # TP, FP, TP: precision 1, 1/2, 2/3; recall 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert c.ap()[0] == pytest.approx(5 / 6, abs=1e-15)
    # The class-agnostic (COCO-greedy) matching of the confusion matrix differs: the second detection takes
    # the free B, and the third then finds A and B taken: background.
    conf = c.confusion(0.0)
    assert conf.dt_gt.tolist() == [0, 1, -1]
    assert conf.counts.dense().tolist() == [[2, 0], [1, 0]]


def test_equal_scores_keep_file_order():
    # Two detections with equal score on A: the first in file order takes it, whatever its IoU.
    c = Case(1)
    c.gt(0, 0, box(0))
    c.dt(0, 0, box(1), 0.8)   # IoU 9/11
    c.dt(0, 0, box(0), 0.8)   # IoU 1, but second
    assert c.match().tp.tolist() == [True, False]
    c2 = Case(1, gts=c.gts, dts=c.dts[::-1])
    assert c2.match().tp.tolist() == [True, False]
    # VOC AP does not group equal scores: FP then TP (precision 0, 1/2) gives 1/2, TP then FP gives 1.
    c = Case(1)
    c.gt(1, 0, box(0))
    c.dt(0, 0, box(0), 0.5)   # FP (no GT in image 0)
    c.dt(1, 0, box(0), 0.5)   # TP
    assert c.ap()[0] == pytest.approx(0.5)
    assert Case(1, gts=c.gts, dts=c.dts[::-1]).ap()[0] == pytest.approx(1.0)


def test_ap_without_detections_is_zero_and_without_ground_truth_nan():
    c = Case(3)
    c.gt(0, 0, box(0))
    c.gt(0, 1, box(20))
    c.dt(0, 1, box(20), 0.9)   # label 1: TP -> AP 1
    c.dt(0, 2, box(40), 0.9)   # label 2: no GT -> NaN
    ap = c.ap()
    assert ap[0] == 0.0 and ap[1] == 1.0 and math.isnan(ap[2])
    assert voc_map(ap) == pytest.approx(0.5)   # (0 + 1) / 2: labels with GT only
    assert math.isnan(voc_map([np.nan, np.nan]))


def test_crowd_region_absorbs_detections_after_real_objects():
    c = Case(1)
    c.gt(0, 0, box(0, 0, 100, 100), crowd=True)
    c.gt(1, 0, box(0, 0, 100, 100), crowd=True)
    c.gt(1, 0, box(10, 10))                      # a real object inside the crowd region
    c.dt(0, 0, box(10, 10), 0.9)    # no real GT; crowd IoU = 100/100 (intersection / det area): ignored
    c.dt(1, 0, box(10, 10), 0.8)    # the real object wins: TP
    c.dt(1, 0, box(11, 10), 0.7)    # duplicate of the real object, but inside the crowd region: ignored
    c.dt(1, 0, box(0, 95), 0.6)     # half inside: crowd IoU 50/100 >= .5: ignored
    c.dt(1, 0, box(0, 96), 0.5)     # crowd IoU 40/100: FP
    m = c.match()
    assert m.tp.tolist() == [False, True, False, False, False]
    assert m.ignored.tolist() == [True, False, True, True, False]
    assert m.gt_index.tolist() == [0, 2, 1, 1, -1]
    assert m.n_gt.tolist() == [1] and m.gt_counted.tolist() == [False, False, True]


def test_custom_pair_iou_function_is_used():
    # Segmentation passes mask IoU: here a table that contradicts the boxes.
    c = Case(1)
    c.gt(0, 0, box(0))
    c.dt(0, 0, box(0), 0.9)
    c.dt(0, 0, FAR, 0.8)
    table = {(0, 0): 0.2, (1, 0): 0.7}
    fn = lambda d, g: np.array([table[(int(i), int(j))] for i, j in zip(d, g)], dtype=float)  # noqa: E731
    gi, gl, gb, gd, gc = c.gt_arrays
    di, dl, db, ds = c.dt_arrays
    # without boxes every same-image pair goes to the callback
    m = match_detections(gi, gl, None, gd, gc, di, dl, None, ds, pair_iou_fn=fn)
    assert m.tp.tolist() == [False, True]


def _boxes(n):
    coord = st.floats(-50, 50, allow_nan=False, width=64)
    size = st.floats(1e-6, 40, allow_nan=False, width=64)
    return st.tuples(arrays(np.float64, (n, 2), elements=coord),
                     arrays(np.float64, (n, 2), elements=size)).map(np.hstack)




# ------------------------------------------------------------------------------------------ operating point

def two_label_case() -> Case:
    """Labels 0, 1 with 2 GT each (one per image), label 2 predicted but never in the ground truth."""
    c = Case(3)
    g = [c.gt(i, 0 if i < 2 else 1, box(0)) for i in range(4)]
    assert g == [0, 1, 2, 3]
    c.dt(0, 0, box(0), 0.9)   # label 0 TP
    c.dt(0, 0, FAR, 0.8)      # label 0 FP
    c.dt(1, 0, box(0), 0.6)   # label 0 TP
    c.dt(1, 0, FAR, 0.1)      # label 0 FP
    c.dt(2, 1, box(0), 0.7)   # label 1 TP
    c.dt(2, 1, FAR, 0.6)      # label 1 FP
    c.dt(3, 1, FAR, 0.3)      # label 1 FP
    c.dt(3, 1, box(0), 0.2)   # label 1 TP
    c.dt(0, 2, FAR, 0.95)     # label 2 FP (no GT of label 2 anywhere)
    return c


def test_operating_point_two_labels_on_paper():
    # F1_c = 2TP / (TP + FP + n_gt), n_gt = 2; label 2 has no GT, F1_2 = 0 always; F1 = (F1_0 + F1_1) / 3.
    #  t    label 0 (TP,FP) F1_0   label 1 (TP,FP) F1_1    F1(t)
    # .95   (0,0) 0                (0,0) 0                  0
    # .9    (1,0) 2/3              (0,0) 0                  2/9
    # .8    (1,1) 1/2              (0,0) 0                  1/6
    # .7    (1,1) 1/2              (1,0) 2/3                7/18
    # .6    (2,1) 4/5              (1,1) 1/2                13/30
    # .3    (2,1) 4/5              (1,2) 2/5                2/5
    # .2    (2,1) 4/5              (2,2) 2/3                22/45  <- max: t* = .2
    # .1    (2,2) 2/3              (2,2) 2/3                4/9
    s = two_label_case().sweep()
    assert s.in_mean.tolist() == [True, True, True]
    assert s.thresholds.tolist() == [0.95, 0.9, 0.8, 0.7, 0.6, 0.3, 0.2, 0.1]
    expected = [0, 2 / 9, 1 / 6, 7 / 18, 13 / 30, 2 / 5, 22 / 45, 4 / 9]
    np.testing.assert_allclose(s.f1, expected, rtol=0, atol=1e-14)
    p = s.point
    assert p.threshold == 0.2 and p.iou_threshold == 0.5
    # at .2: TP 2 + 2 = 4; FP 1 (label 0) + 2 (label 1) + 1 (label 2) = 4; FN 0
    assert (p.tp, p.fp, p.fn) == (4, 4, 0)
    assert p.precision == pytest.approx(0.5) and p.recall == pytest.approx(1.0)
    assert p.f1 == pytest.approx(22 / 45, abs=1e-15)
    assert s.label_tp.tolist() == [2, 2, 0] and s.label_fp.tolist() == [1, 2, 1]
    assert s.label_fn.tolist() == [0, 0, 0]
    np.testing.assert_allclose(s.label_f1, [4 / 5, 2 / 3, 0])
    np.testing.assert_allclose(s.label_precision, [2 / 3, 1 / 2, 0])
    np.testing.assert_allclose(s.label_recall, [1, 1, 0])
    # Own best thresholds: label 0 max 4/5 at .6; label 1: 2/3 at .7 and at .2, tie -> .7;
    # label 2: F1 0 -> NaN
    assert s.label_best_threshold[:2].tolist() == [0.6, 0.7] and math.isnan(s.label_best_threshold[2])
    np.testing.assert_allclose(s.label_best_f1, [4 / 5, 2 / 3, 0])
    # Curves: label 0 at its own thresholds .9 .8 .6 .1;
    # PR of label 0: precision 1, 1/2, 2/3, 2/4; recall 1/2, 1/2, 1, 1
    assert s.label_f1_curves[0].threshold.tolist() == [0.9, 0.8, 0.6, 0.1]
    np.testing.assert_allclose(s.label_f1_curves[0].f1, [2 / 3, 1 / 2, 4 / 5, 2 / 3])
    np.testing.assert_allclose(s.pr_curves[0].precision, [1, 1 / 2, 2 / 3, 1 / 2])
    np.testing.assert_allclose(s.pr_curves[0].recall, [1 / 2, 1 / 2, 1, 1])
    assert len(s.pr_curves[2].recall) == 0   # no GT: no PR curve
    np.testing.assert_allclose(s.f1_curve.f1, expected, atol=1e-14)


def test_operating_point_tie_goes_to_the_highest_threshold():
    # one label, 2 GT: .9 TP (2/3), .8 FP (2/4), .7 FP (2/5), .6 TP (4/6 = 2/3): tie 2/3 -> t* = .9
    c = Case(1)
    c.gt(0, 0, box(0))
    c.gt(1, 0, box(0))
    for image, b, score in [(0, box(0), 0.9), (0, FAR, 0.8), (1, FAR, 0.7), (1, box(0), 0.6)]:
        c.dt(image, 0, b, score)
    s = c.sweep()
    assert s.point.threshold == 0.9 and s.point.f1 == pytest.approx(2 / 3)
    assert (s.point.tp, s.point.fp, s.point.fn) == (1, 0, 1)
    assert s.label_best_threshold[0] == 0.9


def test_operating_point_tie_between_different_label_mixes():
    # Three labels, rationally equal F1(t) made of different per-label values: still a tie, and the
    # higher threshold wins. F1_c = 2TP / (TP + FP + n_gt).
    # Label 0 (1 GT): TP .9.  Label 1 (3 GT): TP .8, TP .5, FP .5.  Label 2 (2 GT): TP .7, FP .5.
    #  t=.9: F1 = 1, 0, 0                               sum 1      mean 1/3
    #  t=.8: 1, 2/(1+3) = 1/2, 0                        sum 3/2    mean 1/2
    #  t=.7: 1, 1/2, 2/(1+2) = 2/3                      sum 13/6   mean 13/18
    #  t=.5: 1, 4/(2+1+3) = 2/3, 2/(1+1+2) = 1/2        sum 13/6   mean 13/18  (tie with .7)
    c = Case(3)
    c.gt(0, 0, box(0))
    for i in range(3):
        c.gt(1, 1, box(20 * i))
    c.gt(2, 2, box(0))
    c.gt(2, 2, box(20))
    c.dt(0, 0, box(0), 0.9)
    c.dt(1, 1, box(0), 0.8)
    c.dt(1, 1, box(20), 0.5)
    c.dt(1, 1, FAR, 0.5)
    c.dt(2, 2, box(0), 0.7)
    c.dt(2, 2, FAR, 0.5)
    s = c.sweep()
    np.testing.assert_allclose(s.f1, [1 / 3, 1 / 2, 13 / 18, 13 / 18], atol=1e-14)
    assert s.point.threshold == 0.7


def test_operating_point_without_detections():
    c = Case(2)
    c.gt(0, 0, box(0))
    c.gt(0, 1, box(20))
    c.gt(0, 1, box(40), difficult=True)
    c.dt(0, 1, box(40), 0.9)   # only an ignored detection: nothing counted
    s = c.sweep()
    p = s.point
    assert math.isnan(p.threshold)
    assert (p.precision, p.recall, p.f1, p.tp, p.fp, p.fn) == (0.0, 0.0, 0.0, 0, 0, 2)
    assert len(s.thresholds) == 0 and len(s.f1_curve.threshold) == 0
    conf = c.confusion(p.threshold)
    assert conf.counts.dense().tolist() == [[0, 0, 1], [0, 0, 1], [0, 0, 0]]
    err = c.errors(p.threshold)
    assert err.gt_type.tolist() == ["no_detection", "no_detection", ""] and (err.dt_type == "").all()
    # nothing at all
    empty = Case(2)
    s = empty.sweep()
    assert math.isnan(s.point.threshold) and s.point.f1 == 0
    assert math.isnan(voc_map(empty.ap()))


def test_curves_are_downsampled_but_keep_t_star():
    rng = np.random.default_rng(1)
    c = Case(1)
    for i in range(300):
        c.gt(i, 0, box(0))
    for i, s in enumerate(rng.permutation(2000) / 2000 + 0.0001):
        c.dt(i % 300, 0, box(0) if rng.random() < 0.3 else FAR, float(s))
    s = c.sweep(max_points=50)
    assert len(s.thresholds) == 2000
    assert len(s.f1_curve.threshold) <= 50 and s.point.threshold in s.f1_curve.threshold.tolist()
    assert s.f1_curve.threshold[0] == s.thresholds[0] and s.f1_curve.threshold[-1] == s.thresholds[-1]
    assert np.all(np.diff(s.f1_curve.threshold) < 0)
    assert len(s.label_f1_curves[0].threshold) <= 50 and len(s.pr_curves[0].recall) <= 50
    assert s.label_best_threshold[0] in s.label_f1_curves[0].threshold.tolist()


def test_per_label_curves_share_a_point_budget_with_many_labels(monkeypatch):
    """With many labels each label's curves get LABEL_CURVE_POINTS / labels points (at least
    MIN_LABEL_CURVE_POINTS), keeping each label's best threshold; the overall curve keeps max_points."""

    monkeypatch.setattr(op, "LABEL_CURVE_POINTS", 120)
    monkeypatch.setattr(op, "MIN_LABEL_CURVE_POINTS", 20)
    rng = np.random.default_rng(4)
    c = Case(3)
    for i in range(100):
        c.gt(i, i % 3, box(0))
    for i, s in enumerate(rng.permutation(900) / 900 + 0.0001):
        c.dt(i % 100, i % 3, box(0) if rng.random() < 0.4 else FAR, float(s))
    s = c.sweep(max_points=500)
    assert len(s.f1_curve.threshold) > 40 * 3  # the overall curve is not cut by the labels' budget
    for label in range(3):  # 120 / 3 labels = 40 points each
        assert 25 <= len(s.label_f1_curves[label].threshold) <= 40
        assert len(s.pr_curves[label].recall) <= 40
        assert s.label_best_threshold[label] in s.label_f1_curves[label].threshold.tolist()
    monkeypatch.setattr(op, "LABEL_CURVE_POINTS", 30)  # 10 each, raised to the minimum of 20
    assert 10 < len(c.sweep(max_points=500).label_f1_curves[0].threshold) <= 20


# --------------------------------------------------------------------------------------- confusion, errors

def test_confusion_matrix_background_row_and_missed_column():
    # labels cat (0), dog (1); threshold .5
    c = Case(2)
    c.gt(0, 0, box(0))      # A cat
    c.gt(0, 1, box(50))     # B dog
    c.gt(0, 0, box(100))    # C cat
    c.gt(1, 1, box(0), difficult=True)   # D dog, difficult
    c.gt(1, 1, box(50))     # E dog
    c.dt(0, 0, box(0), 0.9)       # cat on A            -> (cat, cat)
    c.dt(0, 0, box(50), 0.8)      # cat on B            -> (dog, cat)
    c.dt(0, 1, FAR, 0.7)          # dog on nothing      -> (background, dog)
    c.dt(0, 1, box(100), 0.3)     # below the threshold: not in the matrix; so C -> (cat, missed)
    c.dt(0, 0, box(0), 0.6)       # cat on A, taken     -> (background, cat)
    c.dt(1, 1, box(0), 0.9)       # dog on difficult D  -> left out
    # E: nothing                  -> (dog, missed)
    conf = c.confusion(0.5)
    #                 pred cat, pred dog, missed
    assert conf.counts.dense().tolist() == [[1, 0, 1],    # GT cat
                                    [1, 0, 1],    # GT dog
                                    [1, 1, 0]]    # background
    assert conf.dt_row.tolist() == [0, 1, 2, -1, 2, -1]
    assert conf.gt_column.tolist() == [0, 0, 2, -1, 2]
    assert conf.dt_gt.tolist() == [0, 1, -1, -1, -1, -1]
    assert conf.gt_dt.tolist() == [0, 1, -1, -1, -1]


def error_case() -> Case:
    c = Case(2)   # cat 0, dog 1; errors at threshold .5
    # image 0: TP and a duplicate
    c.gt(0, 0, box(0))                      # g0
    c.dt(0, 0, box(0), 0.9)                 # d0 TP
    c.dt(0, 0, box(1), 0.8)                 # d1 IoU 9/11 with taken g0: duplicate
    # image 1: a cat on a dog
    c.gt(1, 1, box(0))                      # g1: missed, wrong_label (d2)
    c.dt(1, 0, box(0), 0.9)                 # d2 wrong_label (g1, IoU 1)
    # image 2: a poorly placed cat
    c.gt(2, 0, box(0))                      # g2: missed, localisation (d3, 3/17)
    c.dt(2, 0, box(7), 0.9)                 # d3 IoU 3/17 = .176: localisation
    # image 3: a poorly placed cat on a dog
    c.gt(3, 1, box(0))                      # g3: missed; the cat has IoU .25 < .5 -> no_detection
    c.dt(3, 0, box(6), 0.9)                 # d4 IoU 4/16 = .25 with a dog: label_and_localisation
    # image 4: background, and an object found only below the threshold
    c.gt(4, 0, box(100, 100))               # g4: missed, below_threshold (d6)
    c.dt(4, 0, box(0), 0.9)                 # d5 nothing near: background
    c.dt(4, 0, box(100, 100), 0.3)          # d6 TP but below the threshold
    # image 5: nothing predicted
    c.gt(5, 0, box(0))                      # g5: no_detection
    # image 6: a cat and a dog at the same place; two cat detections on them
    c.gt(6, 0, box(0))                      # g6 cat, found by d7
    c.gt(6, 1, box(0))                      # g7 dog: missed, wrong_label (d7: first of the IoU-1 cats)
    c.dt(6, 0, box(0), 0.9)                 # d7 TP on g6
    c.dt(6, 0, box(0), 0.8)                 # d8 duplicate AND wrong label on g7: duplicate wins
    # image 7: a dog prediction on a cat found at a low score
    c.gt(7, 0, box(0))                      # g8: wrong_label (d9) wins over below_threshold (d10)
    c.dt(7, 1, box(0), 0.9)                 # d9 wrong_label (g8)
    c.dt(7, 0, box(0), 0.2)                 # d10 TP below threshold
    return c


def test_error_types_each_once_with_precedence():
    e = error_case().errors(0.5)
    assert e.dt_type.tolist() == ["", "duplicate", "wrong_label", "localisation", "label_and_localisation",
                                  "background", "", "", "duplicate", "wrong_label", ""]
    assert e.dt_related_gt.tolist() == [-1, 0, 1, 2, 3, -1, -1, -1, 6, 8, -1]
    np.testing.assert_allclose(e.dt_related_iou[[1, 2, 3, 4, 8, 9]], [9 / 11, 1, 3 / 17, 1 / 4, 1, 1])
    assert np.isnan(e.dt_related_iou[5])
    assert e.gt_type.tolist() == ["", "wrong_label", "localisation", "no_detection", "below_threshold",
                                  "no_detection", "", "wrong_label", "wrong_label"]
    assert e.gt_related_dt.tolist() == [-1, 2, 3, -1, 6, -1, -1, 7, 9]
    np.testing.assert_allclose(e.gt_related_iou[[1, 2, 4, 7, 8]], [1, 3 / 17, 1, 1, 1])
    assert set(e.dt_type.tolist()) - {""} == set(FP_TYPES) - {"mask_quality"}  # box task: no mask type
    assert set(e.gt_type.tolist()) - {""} == set(FN_TYPES) - {"mask_quality"}


def test_errors_agree_with_operating_point_counts():
    c = two_label_case()
    s = c.sweep()
    e = c.errors(s.point.threshold)
    assert int((e.dt_type != "").sum()) == s.point.fp
    assert int((e.gt_type != "").sum()) == s.point.fn


# --------------------------------------------------------------------------------------------- references

def ref_iou(d, g, crowd):
    """Plain-Python IoU of [x, y, w, h] boxes; for a crowd GT, intersection over the detection's area."""
    w = min(d[0] + d[2], g[0] + g[2]) - max(d[0], g[0])
    h = min(d[1] + d[3], g[1] + g[3]) - max(d[1], g[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = d[2] * d[3] if crowd else d[2] * d[3] + g[2] * g[3] - inter
    return inter / union


def ref_match(c: Case, allowed=None, thr=0.5):
    """The VOC devkit loop (plus the crowd fallback): 'tp' / 'fp' / 'ign' per allowed detection."""
    allowed = range(len(c.dts)) if allowed is None else allowed
    order = sorted(allowed, key=lambda d: -c.dts[d][3])   # Python's sort is stable: file order on ties
    taken, out = set(), {}
    for d in order:
        im, lab, b, _ = c.dts[d]
        best, best_iou = -1, -math.inf
        for g, (gim, glab, gb, _diff, crowd) in enumerate(c.gts):
            if gim == im and glab == lab and not crowd:
                i = ref_iou(b, gb, False)
                if i > best_iou:
                    best, best_iou = g, i
        if best >= 0 and best_iou >= thr:
            if c.gts[best][3]:
                out[d] = "ign"
            elif best in taken:
                out[d] = "fp"
            else:
                taken.add(best)
                out[d] = "tp"
        else:
            out[d] = "fp"
        if out[d] == "fp" and any(gim == im and glab == lab and crowd and ref_iou(b, gb, True) >= thr
                                  for gim, glab, gb, _, crowd in c.gts):
            out[d] = "ign"
    return out, taken


def ref_voc_ap(flags, n_gt, method):
    """The devkit's voc_ap, with loops (11-point levels k/10)."""
    tp = fp = 0
    rec, prec = [], []
    for f in flags:
        tp += f
        fp += not f
        rec.append(tp / n_gt)
        prec.append(tp / (tp + fp))
    if method == "11point":
        return sum(max([p for r, p in zip(rec, prec) if r >= k / 10], default=0.0) for k in range(11)) / 11
    mrec, mpre = [0.0, *rec, 1.0], [0.0, *prec, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def ref_sweep(c: Case):
    """F1(t) by re-matching the detections with score >= t, exact fractions; t* by the tie rule."""
    full, _ = ref_match(c)
    n_gt = [sum(1 for g in c.gts if g[1] == lab and not g[3] and not g[4]) for lab in range(c.n_labels)]
    in_mean = [n_gt[lab] > 0 or any(c.dts[d][1] == lab and r != "ign" for d, r in full.items())
               for lab in range(c.n_labels)]
    scores = sorted({c.dts[d][3] for d, r in full.items() if r != "ign"}, reverse=True)
    rows = []
    for t in scores:
        out, _ = ref_match(c, [d for d in range(len(c.dts)) if c.dts[d][3] >= t])
        tp = [sum(1 for d, r in out.items() if r == "tp" and c.dts[d][1] == lab) for lab in range(c.n_labels)]
        fp = [sum(1 for d, r in out.items() if r == "fp" and c.dts[d][1] == lab) for lab in range(c.n_labels)]
        f1 = [Fraction(2 * t_, t_ + f_ + n_) if t_ + f_ + n_ else Fraction(0) for t_, f_, n_ in zip(tp, fp, n_gt)]
        mean = sum(f for f, m in zip(f1, in_mean) if m) / max(sum(in_mean), 1)
        rows.append((t, mean, sum(tp), sum(fp), sum(n_gt) - sum(tp), out))
    if not rows:
        return None, rows, full
    best = max(r[1] for r in rows)
    star = next(r for r in rows if r[1] >= best - Fraction(1, 10 ** 12))
    return star, rows, full


def ref_confusion(c: Case, t, thr=0.5):
    """COCO-style greedy, class-agnostic, one detection at a time."""
    L = c.n_labels
    counts = [[0] * (L + 1) for _ in range(L + 1)]
    taken = set()
    order = sorted((d for d in range(len(c.dts)) if c.dts[d][3] >= t), key=lambda d: -c.dts[d][3])
    for d in order:
        im, lab, b, _ = c.dts[d]
        best, best_iou = -1, thr
        for g, (gim, _glab, gb, diff, crowd) in enumerate(c.gts):
            if gim == im and not diff and not crowd and g not in taken:
                i = ref_iou(b, gb, False)
                if i >= best_iou and (best < 0 or i > best_iou):
                    best, best_iou = g, i
        if best >= 0:
            taken.add(best)
            counts[c.gts[best][1]][lab] += 1
        elif not any(gim == im and (diff or crowd) and ref_iou(b, gb, crowd) >= thr
                     for gim, glab, gb, diff, crowd in c.gts):
            counts[L][lab] += 1
    for g, (_gim, glab, _gb, diff, crowd) in enumerate(c.gts):
        if not diff and not crowd and g not in taken:
            counts[glab][L] += 1
    return counts


# ------------------------------------------------------------------------------------------------ property

@st.composite
def cases(draw, max_images=3, max_gt=6, max_dt=10):
    n_labels = draw(st.integers(1, 3))
    n_images = draw(st.integers(1, max_images))
    c = Case(n_labels)
    coord, size = st.integers(0, 20), st.integers(1, 12)
    for _ in range(draw(st.integers(0, max_gt))):
        kind = draw(st.sampled_from(["plain"] * 6 + ["difficult", "crowd"]))
        c.gt(draw(st.integers(0, n_images - 1)), draw(st.integers(0, n_labels - 1)),
             [draw(coord), draw(coord), draw(size), draw(size)] if kind != "crowd" else
             [draw(coord), draw(coord), draw(st.integers(10, 30)), draw(st.integers(10, 30))],
             difficult=kind == "difficult", crowd=kind == "crowd")
    scores = st.sampled_from([0.1, 0.2, 0.3, 0.5, 0.7, 0.9])   # few values: many ties
    for _ in range(draw(st.integers(0, max_dt))):
        if c.gts and draw(st.booleans()):
            im, lab, b, _, _ = c.gts[draw(st.integers(0, len(c.gts) - 1))]
            amp = draw(st.sampled_from([0, 1, 2]))
            jit = [draw(st.integers(-amp, amp)) for _ in range(4)]
            b = [b[0] + jit[0], b[1] + jit[1], max(1, b[2] + jit[2]), max(1, b[3] + jit[3])]
            if draw(st.booleans()):
                lab = draw(st.integers(0, n_labels - 1))
        else:
            im, lab = draw(st.integers(0, n_images - 1)), draw(st.integers(0, n_labels - 1))
            b = [draw(coord), draw(coord), draw(size), draw(size)]
        c.dt(im, lab, b, draw(scores))
    return c


@HYPOTHESIS
@given(cases())
def test_matching_equals_devkit_loop(c):
    m = c.match()
    out, taken = ref_match(c)
    assert [out[d] for d in range(len(c.dts))] == ["tp" if t else "ign" if i else "fp"
                                                   for t, i in zip(m.tp, m.ignored)]
    assert set(np.flatnonzero(m.gt_matched).tolist()) == taken


@HYPOTHESIS
@given(cases(max_images=4, max_gt=10, max_dt=16), st.integers(0, 3), st.integers(0, 3))
def test_label_ranges_matched_apart_join_to_the_whole(c, cut_a, cut_b):
    """The VOC matching by label groups (a Dask cluster's tasks, evalsite.report.matching_groups): each range's
    rows matched apart, labels renumbered from 0, joined, are the whole matching: every field, bit for bit."""
    whole = c.match()
    gi, gl, gb, gd, gc = c.gt_arrays
    di, dl, db, ds = c.dt_arrays
    bounds = sorted({0, c.n_labels, min(cut_a, c.n_labels), min(cut_b, c.n_labels)})
    parts = []
    for k0, k1 in zip(bounds[:-1], bounds[1:]):
        d = np.flatnonzero((dl >= k0) & (dl < k1))
        g = np.flatnonzero((gl >= k0) & (gl < k1))
        parts.append((d, g, match_detections(gi[g], gl[g] - k0, gb[g], gd[g], gc[g], di[d], dl[d] - k0, db[d], ds[d],
                                             n_labels=k1 - k0)))
    joined = join_label_matchings(parts, len(ds), gl, c.n_labels, 0.5, whole.order)
    for name in ("tp", "ignored", "gt_index", "best_gt", "best_iou", "gt_matched_by", "gt_counted", "n_gt", "order"):
        a, b = getattr(joined, name), getattr(whole, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    assert joined.iou_threshold == whole.iou_threshold
    # Which rows count and how alone (a cluster's label groups send no more), from parts in that form
    flags = join_label_matchings([(d, g, m.which_count()) for d, g, m in parts], len(ds), gl, c.n_labels, 0.5,
                                 which_count=True)
    for name in ("tp", "ignored", "gt_counted", "n_gt"):
        a, b = getattr(flags, name), getattr(whole, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    # and so joined by label group on this machine's disk, the parts in any order, each group's flags placed at
    # its rows a block of labels at a time (a cluster's driver; here blocks of 3 labels)
    from evalsite.core import on_disk
    from evalsite.core.on_disk import DiskArray

    groups = list(zip(bounds[:-1], bounds[1:]))
    saved, on_disk.READ_BYTES = on_disk.READ_BYTES, 24
    try:
        arriving = [(group, m.which_count()) for group, (_, _, m) in reversed(list(zip(groups, parts)))]
        kept = join_group_flags(arriving, groups, on_disk.on_disk(dl), gl, c.n_labels, 0.5)
    finally:
        on_disk.READ_BYTES = saved
    for name in ("tp", "ignored", "gt_counted", "n_gt"):
        a, b = getattr(kept, name), getattr(whole, name)
        assert (isinstance(a, DiskArray) or not len(b) or name in ("gt_counted", "n_gt")), name
        assert np.asarray(a).dtype == b.dtype and np.asarray(a).tobytes() == b.tobytes(), name
    assert flags.order is None and not any(len(getattr(flags, name)) for name in
                                           ("gt_index", "best_gt", "best_iou", "gt_matched_by"))


@pytest.mark.parametrize("read_bytes", [8, 24, 1 << 24])
def test_curve_points_picked_from_disk_as_from_memory(monkeypatch, read_bytes: int) -> None:
    """`_downsample` picks a curve's points (half evenly spaced in position, half nearest evenly spaced values,
    both ends and the kept ones) from sorted values, decreasing or increasing, with ties, read a block at a time
    from disk (a cluster's merged grid) as from memory: the indices of the formula written out here."""
    from evalsite.core import on_disk

    monkeypatch.setattr(on_disk, "READ_BYTES", read_bytes)
    rng = np.random.default_rng(4)

    def expected(values: np.ndarray, max_points: int, keep: list[int]) -> list[int]:
        n, listed = len(values), values.tolist()
        if n <= max_points:
            return list(range(n))
        ends = [k for k in keep if 0 <= k < n] + [0, n - 1]
        budget = max(max_points - len(ends), 2)
        spaced = {round(x) for x in np.linspace(0, n - 1, budget - budget // 2).tolist()}  # (half to even)
        nearest = set()
        for target in np.linspace(min(listed), max(listed), budget // 2).tolist():
            below = min(sum(v < target for v in listed), n - 1)  # values below the target, counted one by one
            nearest.add(n - 1 - below if listed[0] > listed[-1] else below)
        return sorted(spaced | nearest | set(ends))[:max_points]

    for n in (1, 2, 5, 40, 300):
        for values in (np.sort(rng.random(n))[::-1].copy(), np.sort(np.round(rng.random(n), 1)),
                       np.sort(rng.exponential(size=n))[::-1].copy()):
            for max_points in (3, 7, 50):
                keep = [int(rng.integers(0, n))]
                want = expected(values, max_points, keep)
                for column in (values, on_disk.on_disk(values)):
                    assert op._downsample(column, max_points, keep).tolist() == want


@HYPOTHESIS
@given(cases(max_images=4, max_gt=10, max_dt=16), st.lists(st.integers(0, 3), max_size=3), st.integers(3, 40),
       st.sampled_from([1, 2, 3, 8, op.MERGE_BLOCK]))
def test_label_ranges_swept_apart_join_to_the_whole(c, cuts, label_points, block):
    """VOC AP and the operating point by label groups (a Dask cluster's tasks, evalsite.report.matching_groups):
    each range's detections with their flags of the whole matching, labels renumbered from 0, give their APs
    and a part of the sweep; the parts joined (join_sweep_parts) are the whole's sweep, every field bit for bit,
    also with equal scores in different ranges, with fewer curve points than events, and with the grids
    merged a few entries at a time (`block`)."""
    m = c.match()
    dl, ds = c.dt_arrays[1], c.dt_arrays[3]
    whole_ap = average_precisions_per_label(m, dl, ds, ("all", "11point"))
    whole = operating_point(m, dl, ds, max_points=label_points)
    in_mean = labels_in_mean(dl[~m.ignored], m.n_gt)
    bits, points = fixed_point_bits(int(in_mean.sum())), label_curve_points(c.n_labels, label_points)
    bounds = sorted({0, c.n_labels, *(min(cut, c.n_labels) for cut in cuts)})
    values = []
    for k0, k1 in zip(bounds[:-1], bounds[1:]):
        d = np.flatnonzero((dl >= k0) & (dl < k1))
        values.append(label_group_metrics(m.tp[d], m.ignored[d], dl[d] - k0, ds[d], m.n_gt[k0:k1], bits, points))
    for k, ap in enumerate(whole_ap):
        joined = np.concatenate([value[k] for value in values])
        assert joined.tobytes() == ap.tobytes()
    saved, op.MERGE_BLOCK = op.MERGE_BLOCK, block
    try:
        joined = join_sweep_parts([value[2] for value in values], m, dl, ds, label_points)
    finally:
        op.MERGE_BLOCK = saved
    assert joined.point == whole.point or (math.isnan(whole.point.threshold) and math.isnan(joined.point.threshold))
    for name in ("in_mean", "thresholds", "f1", "label_tp", "label_fp", "label_fn", "label_precision", "label_recall",
                 "label_f1", "label_best_threshold", "label_best_f1"):
        a, b = getattr(joined, name), getattr(whole, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    curves = [joined.f1_curve, *joined.label_f1_curves], [whole.f1_curve, *whole.label_f1_curves]
    for a, b in zip(*curves, strict=True):
        assert a.threshold.tobytes() == b.threshold.tobytes() and a.f1.tobytes() == b.f1.tobytes()
    for a, b in zip(joined.pr_curves, whole.pr_curves, strict=True):
        assert all(getattr(a, f).tobytes() == getattr(b, f).tobytes() for f in ("threshold", "precision", "recall"))
    # A cluster's driver keeps the parts' grids, and the merged one, on its disk (evalsite.report.matching_groups),
    # read a block at a time (here of one entry): the same sweep
    from evalsite.core import on_disk

    held = [replace(value[2], grid_score=on_disk.on_disk(value[2].grid_score),
                    grid_q=on_disk.on_disk(value[2].grid_q)) for value in values]
    saved = op.MERGE_BLOCK, on_disk.READ_BYTES
    op.MERGE_BLOCK, on_disk.READ_BYTES = block, 8
    try:
        light = join_sweep_parts(held, m, dl, ds, label_points, keep_grid=False)
    finally:
        op.MERGE_BLOCK, on_disk.READ_BYTES = saved
    assert len(light.thresholds) == len(light.f1) == 0 and repr(light.point) == repr(whole.point)  # (NaN t*: same)
    assert light.f1_curve.f1.tobytes() == whole.f1_curve.f1.tobytes()
    assert light.f1_curve.threshold.tobytes() == whole.f1_curve.threshold.tobytes()
    assert light.label_f1.tobytes() == whole.label_f1.tobytes()
    with pytest.raises(ValueError, match="other bits"):  # a part summed in other fixed-point bits is refused
        join_sweep_parts([replace(values[0][2], bits=bits - 1), *(value[2] for value in values[1:])], m, dl, ds)


@HYPOTHESIS
@given(cases(max_images=5, max_gt=10, max_dt=16), st.lists(st.integers(0, 5), max_size=3),
       st.sampled_from([0.1, 0.3, 0.5, 0.9, math.nan]), st.booleans())
def test_image_shards_typed_apart_join_to_the_whole(c, cuts, threshold, quality):
    """The confusion and the error types at t* by shards of images (a Dask cluster's tasks,
    evalsite.report.threshold_shards): each shard's rows matched apart are the whole matching's part (every
    field, the indices mapped to the shard's rows), and typed apart are the whole's types of its rows, every
    field bit for bit; the confusions' counts sum to the whole's. `quality`: with boxes for the "mask_quality" type
    that differ from the pairing's (as masks have), and their box IoUs."""
    whole_matching = c.match()
    gi, gl, gb, gd, gc = c.gt_arrays
    di, dl, db, ds = c.dt_arrays
    boxes = (db + np.array([1.0, 0, 0, 1]), gb) if quality else None
    whole = confusion_and_errors(whole_matching, (gi, gl, gb, gd, gc), (di, dl, db, ds), threshold, 0.5, c.n_labels,
                                 mask_quality_boxes=boxes, score_order=whole_matching.order)
    bounds = sorted({0, 5, *cuts})
    parts = []
    for i0, i1 in zip(bounds[:-1], bounds[1:]):
        d = np.flatnonzero((di >= i0) & (di < i1))
        g = np.flatnonzero((gi >= i0) & (gi < i1))
        shard = match_detections(gi[g], gl[g], gb[g], gd[g], gc[g], di[d], dl[d], db[d], ds[d], n_labels=c.n_labels)
        _assert_restricted(shard, whole_matching, d, g, gl)
        parts.append((d, g, *confusion_and_errors(
            shard, (gi[g], gl[g], gb[g], gd[g], gc[g]), (di[d], dl[d], db[d], ds[d]), threshold, 0.5, c.n_labels,
            mask_quality_boxes=None if boxes is None else (boxes[0][d], boxes[1][g]), score_order=shard.order)))
    for d, g, _, errors in parts:  # each shard's types: the whole's of its rows (indices into its own rows)
        for name in ("dt_code", "dt_related_iou", "gt_code", "gt_related_iou",
                     *(("dt_related_box_iou", "gt_related_box_iou") if quality else ())):
            a, b = getattr(errors, name), getattr(whole[1], name)[d if name.startswith("dt_") else g]
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
        assert [g[k] if k >= 0 else -1 for k in errors.dt_related_gt.tolist()] == whole[1].dt_related_gt[d].tolist()
        assert [d[k] if k >= 0 else -1 for k in errors.gt_related_dt.tolist()] == whole[1].gt_related_dt[g].tolist()
        assert (errors.dt_related_box_iou is None) is (not quality)
        assert errors.threshold == whole[1].threshold or math.isnan(threshold)
    counts = add_cells([c.counts for _, _, c, _ in parts])
    assert counts.triples() == whole[0].counts.triples() and counts.shape == whole[0].counts.shape


def _assert_restricted(part, whole, d: np.ndarray, g: np.ndarray, gt_label: np.ndarray) -> None:
    """`part`, the matching of the detections d and the objects g (ascending rows of whole images) alone, is the
    whole's matching of those rows, its indices into d and g (-1 stays), its order the whole's among d."""
    def local(rows: np.ndarray, index: np.ndarray) -> list[int]:
        return [int(np.searchsorted(rows, i)) if i >= 0 else -1 for i in index.tolist()]

    assert part.tp.tolist() == whole.tp[d].tolist() and part.ignored.tolist() == whole.ignored[d].tolist()
    assert part.gt_index.tolist() == local(g, whole.gt_index[d]) and part.best_gt.tolist() == local(g, whole.best_gt[d])
    assert part.best_iou.tobytes() == whole.best_iou[d].tobytes()
    assert part.gt_matched_by.tolist() == local(d, whole.gt_matched_by[g])
    assert part.gt_counted.tolist() == whole.gt_counted[g].tolist()
    assert part.n_gt.tolist() == np.bincount(gt_label[g][whole.gt_counted[g]], minlength=len(whole.n_gt)).tolist()
    rank = np.empty(len(whole.order), dtype=np.int64)
    rank[whole.order] = np.arange(len(whole.order))
    assert part.order.tolist() == np.argsort(rank[d], kind="stable").tolist()


@HYPOTHESIS
@given(cases())
def test_ap_equals_devkit_and_lies_in_unit_interval(c):
    out, _ = ref_match(c)
    for method in ("all", "11point"):
        ap = c.ap(method)
        for lab in range(c.n_labels):
            n_gt = sum(1 for g in c.gts if g[1] == lab and not g[3] and not g[4])
            if n_gt == 0:
                assert math.isnan(ap[lab])
                continue
            ds = sorted((d for d in range(len(c.dts)) if c.dts[d][1] == lab and out[d] != "ign"),
                        key=lambda d: -c.dts[d][3])
            ref = ref_voc_ap([out[d] == "tp" for d in ds], n_gt, method)
            assert ap[lab] == pytest.approx(ref, abs=1e-12)
            assert 0.0 <= ap[lab] <= 1.0


@HYPOTHESIS
@given(cases())
def test_operating_point_is_the_brute_force_maximum(c):
    s = c.sweep()
    star, rows, _ = ref_sweep(c)
    assert s.thresholds.tolist() == [r[0] for r in rows]
    np.testing.assert_allclose(s.f1, [float(r[1]) for r in rows], rtol=0, atol=1e-13)
    if star is None:
        assert math.isnan(s.point.threshold) and s.point.f1 == 0
        return
    t, f1, tp, fp, fn, _ = star
    assert s.point.threshold == t
    assert s.point.f1 == pytest.approx(float(f1), abs=1e-13)
    assert (s.point.tp, s.point.fp, s.point.fn) == (tp, fp, fn)
    assert all(s.point.f1 >= float(r[1]) - 1e-12 for r in rows)


@HYPOTHESIS
@given(cases())
def test_confusion_equals_greedy_loop(c):
    for t in (0.0, 0.5, 0.9):
        conf = c.confusion(t)
        assert conf.counts.dense().tolist() == ref_confusion(c, t)
        counted = sum(1 for g in c.gts if not g[3] and not g[4])
        assert conf.counts.dense()[:-1].sum() == counted   # every counted GT is in exactly one row cell
        assert conf.counts.dense()[-1, -1] == 0


@HYPOTHESIS
@given(cases())
def test_every_error_is_typed_once_and_counts_agree(c):
    m = c.match()
    s = c.sweep()
    t = s.point.threshold
    e = c.errors(t)
    scores = c.dt_arrays[3]
    fp = (scores >= t) & m.fp if not math.isnan(t) else np.zeros(len(scores), bool)
    assert ((e.dt_type != "") == fp).all()
    assert int(fp.sum()) == s.point.fp
    assert int((e.gt_type != "").sum()) == s.point.fn
    assert set(e.dt_type.tolist()) <= {"", *FP_TYPES} and set(e.gt_type.tolist()) <= {"", *FN_TYPES}
    related = e.dt_related_gt[e.dt_type != ""]
    assert ((related >= 0) == (e.dt_type[e.dt_type != ""] != "background")).all()


@HYPOTHESIS
@given(cases(), st.randoms(use_true_random=False))
def test_invariant_to_image_numbering(c, rnd):
    n_images = 1 + max([g[0] for g in c.gts] + [d[0] for d in c.dts] + [0])
    perm = list(range(n_images))
    rnd.shuffle(perm)
    c2 = Case(c.n_labels, gts=[(perm[g[0]], *g[1:]) for g in c.gts],
              dts=[(perm[d[0]], *d[1:]) for d in c.dts])
    m, m2 = c.match(), c2.match()
    assert (m.tp == m2.tp).all() and (m.ignored == m2.ignored).all()
    np.testing.assert_array_equal(c.ap(), c2.ap())
    s, s2 = c.sweep(), c2.sweep()
    assert s.point == s2.point or (math.isnan(s.point.threshold) and math.isnan(s2.point.threshold))
    t = s.point.threshold
    assert (c.confusion(t).counts.dense() == c2.confusion(t).counts.dense()).all()
    assert (c.errors(t).dt_type == c2.errors(t).dt_type).all()


@HYPOTHESIS
@given(cases(), st.randoms(use_true_random=False))
def test_invariant_to_detection_file_order_when_scores_differ(c, rnd):
    c.dts = [(d[0], d[1], d[2], d[3] + 1e-3 * i) for i, d in enumerate(c.dts)]   # distinct scores
    perm = list(range(len(c.dts)))
    rnd.shuffle(perm)
    c2 = Case(c.n_labels, gts=c.gts, dts=[c.dts[i] for i in perm])
    m, m2 = c.match(), c2.match()
    assert (m.tp[perm] == m2.tp).all() and (m.ignored[perm] == m2.ignored).all()
    np.testing.assert_allclose(c.ap(), c2.ap(), atol=1e-15)
    assert c.sweep().point.threshold == c2.sweep().point.threshold or math.isnan(c.sweep().point.threshold)


def test_evaluate_detection_on_detection_data():
    from evalsite.core.detection_data import DetectionData
    c = two_label_case()
    gi, gl, gb, gd, gc = c.gt_arrays
    di, dl, db, ds = c.dt_arrays
    n_img = 4
    data = DetectionData(
        labels=["cat", "dog", "bird"], label_ids=np.arange(3), images=[f"{i}.jpg" for i in range(n_img)],
        image_ids=np.arange(n_img), widths=np.zeros(n_img, np.int64), heights=np.zeros(n_img, np.int64),
        gt_image=gi, gt_label=gl, gt_box=gb, gt_area=gb[:, 2] * gb[:, 3], gt_crowd=gc, gt_difficult=gd,
        gt_id=np.arange(len(gi)), dt_image=di, dt_label=dl, dt_box=db, dt_score=ds)
    ev = evaluate_detection(data)
    # label 0: TP .9, FP .8, TP .6, FP .1 -> precision 1, 1/2, 2/3, 1/2 at recall 1/2, 1/2, 1, 1 -> AP 1/2 + 1/2*2/3
    # label 1: TP .7, FP .6, FP .3, TP .2 -> precision 1, 1/2, 1/3, 1/2 at recall 1/2, .., 1 -> AP 1/2 + 1/2*1/2
    np.testing.assert_allclose(ev.ap50[:2], [5 / 6, 3 / 4])
    assert math.isnan(ev.ap50[2]) and ev.map50 == pytest.approx((5 / 6 + 3 / 4) / 2)
    # 11-point, label 0: r 0..0.5 -> 1 (6x), 0.6..1 -> 2/3 (5x): (6 + 10/3) / 11 = 28/33
    assert ev.ap50_11pt[0] == pytest.approx(28 / 33)
    assert ev.sweep.point.threshold == 0.2
    # at .2: every GT found (diagonal), the 4 FP boxes match nothing (background row)
    assert ev.confusion.counts.dense().tolist() == [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [1, 2, 1, 0]]
    assert sorted(t for t in ev.errors.dt_type.tolist() if t) == ["background"] * 4


def dense_case(seed: int) -> Case:
    """Crowded images: many overlapping GT, many jittered detections of mixed labels (long greedy chains)."""
    rng = np.random.default_rng(seed)
    c = Case(2)
    for image in range(2):
        for _ in range(12):
            c.gt(image, int(rng.integers(0, 2)), [int(v) for v in rng.integers(0, 30, 2)] + [10, 10],
                 difficult=bool(rng.random() < 0.1))
    for _ in range(80):
        image, label, b, _, _ = c.gts[int(rng.integers(0, len(c.gts)))]
        b = [b[0] + int(rng.integers(-3, 4)), b[1] + int(rng.integers(-3, 4)), 10, 10]
        c.dt(image, label if rng.random() < 0.7 else int(rng.integers(0, 2)), b, float(rng.integers(1, 30)) / 30)
    return c


@pytest.mark.parametrize("seed", range(4))
def test_dense_images_equal_the_references(seed):
    c = dense_case(seed)
    out, _ = ref_match(c)
    m = c.match()
    assert [out[d] for d in range(len(c.dts))] == ["tp" if t else "ign" if i else "fp"
                                                   for t, i in zip(m.tp, m.ignored)]
    star, rows, _ = ref_sweep(c)
    s = c.sweep()
    assert s.point.threshold == star[0] and (s.point.tp, s.point.fp, s.point.fn) == star[2:5]
    for t in (0.0, s.point.threshold, 0.5):
        assert c.confusion(t).counts.dense().tolist() == ref_confusion(c, t)


def test_larger_random_set_runs_and_is_consistent():
    rng = np.random.default_rng(0)
    n_img, L = 200, 5
    ng = rng.poisson(5, n_img)
    gi = np.repeat(np.arange(n_img), ng)
    G = len(gi)
    gl = rng.integers(0, L, G)
    gb = np.hstack([rng.uniform(0, 300, (G, 2)), rng.uniform(10, 80, (G, 2))])
    nd = rng.poisson(20, n_img)
    di = np.repeat(np.arange(n_img), nd)
    D = len(di)
    src = np.cumsum(ng)[di] - 1 - (rng.random(D) * np.maximum(ng[di], 1)).astype(int)
    near = (rng.random(D) < 0.5) & (ng[di] > 0)
    db = np.hstack([rng.uniform(0, 300, (D, 2)), rng.uniform(10, 80, (D, 2))])
    db[near] = gb[src[near]] + rng.normal(0, 4, (near.sum(), 4))
    db[:, 2:] = np.abs(db[:, 2:]) + 1
    dl = np.where(near & (rng.random(D) < 0.8), gl[np.maximum(src, 0)], rng.integers(0, L, D))
    ds = rng.random(D) + 0.5 * near
    gd, gc = rng.random(G) < 0.05, rng.random(G) < 0.02
    m = match_detections(gi, gl, gb, gd, gc, di, dl, db, ds, n_labels=L)
    s = operating_point(m, dl, ds)
    assert 0 < s.point.f1 < 1 and s.point.f1 == pytest.approx(s.f1.max(), abs=1e-12)
    assert s.point.tp == int(m.tp[ds >= s.point.threshold].sum())
    ap = average_precision_per_label(m, dl, ds)
    assert np.all((ap >= 0) & (ap <= 1))


# ------------------------------------------------------------------------- segmentation: "mask_quality"

def test_mask_quality_type_with_hand_given_mask_ious():
    """Segmentation: IoU is mask IoU (given here by hand, per pair), boxes decide "mask_quality"."""
    A, B = 0, 1
    gt_box = np.array([[0, 0, 10, 10], [20, 0, 10, 10], [60, 0, 10, 10], [80, 0, 10, 10], [100, 0, 10, 10]], float)
    gt_label = np.array([A, A, A, A, A])
    dt_box = np.array([[0, 0, 10, 10],    # d0 on g0: box IoU 1, mask IoU .3 -> mask_quality (g0 too)
                       [20, 0, 10, 10],   # d1 on g1: mask IoU .9 -> TP
                       [21, 0, 10, 10],   # d2 on g1: mask IoU .6, g1 taken -> duplicate, not mask_quality
                       [20, 0, 10, 10],   # d3 label B on g1: mask IoU .7 -> wrong_label
                       [40, 0, 10, 10],   # d4 nothing near -> background
                       [60, 0, 10, 10],   # d5 on g2: box IoU 1, masks disjoint (IoU 0) -> mask_quality
                       [82, 0, 10, 10],   # d6 on g3: box IoU 8/12, mask IoU .2 -> mask_quality
                       [105, 0, 10, 10]],  # d7 on g4: box IoU 5/15, mask IoU .3 -> localisation
                      float)
    dt_label = np.array([A, A, A, B, A, A, A, A])
    dt_score = np.array([.9, .8, .7, .85, .75, .95, .65, .6])
    mask_iou = {(0, 0): .3, (1, 1): .9, (2, 1): .6, (3, 1): .7, (6, 3): .2, (7, 4): .3}

    def fn(d, g):
        return np.array([mask_iou.get((int(i), int(j)), 0.0) for i, j in zip(d, g)])

    n_gt, n_dt = len(gt_box), len(dt_box)
    gt = (np.zeros(n_gt, int), gt_label, gt_box, np.zeros(n_gt, bool), np.zeros(n_gt, bool))
    dt = (np.zeros(n_dt, int), dt_label, dt_box, dt_score)
    m = match_detections(*gt, *dt, pair_iou_fn=fn, n_labels=2)
    assert m.tp.tolist() == [False, True, False, False, False, False, False, False]
    e = type_errors(m, gt[0], gt_label, gt_box, gt[4], *dt, threshold=0.5, pair_iou_fn=fn,
                        mask_quality_boxes=(dt_box, gt_box))
    assert e.dt_type.tolist() == ["mask_quality", "", "duplicate", "wrong_label", "background", "mask_quality",
                                  "mask_quality", "localisation"]
    assert e.dt_related_gt.tolist() == [0, -1, 1, 1, -1, 2, 3, 4]
    np.testing.assert_allclose(e.dt_related_iou[[0, 2, 3, 5, 6, 7]], [.3, .6, .7, 0, .2, .3])
    np.testing.assert_allclose(e.dt_related_box_iou[[0, 2, 3, 5, 6, 7]], [1, 9 / 11, 1, 1, 8 / 12, 5 / 15])
    assert np.isnan(e.dt_related_box_iou[[1, 4]]).all()
    assert e.gt_type.tolist() == ["mask_quality", "", "mask_quality", "mask_quality", "localisation"]
    assert e.gt_related_dt.tolist() == [0, -1, 5, 6, 7]
    np.testing.assert_allclose(e.gt_related_iou[[0, 2, 3, 4]], [.3, 0, .2, .3])
    np.testing.assert_allclose(e.gt_related_box_iou[[0, 2, 3, 4]], [1, 1, 8 / 12, 5 / 15])
    # Without the boxes (a box task's call), the same errors fall back to the detection types.
    plain = type_errors(m, gt[0], gt_label, gt_box, gt[4], *dt, threshold=0.5, pair_iou_fn=fn)
    assert plain.dt_type.tolist() == ["localisation", "", "duplicate", "wrong_label", "background",
                                      "background", "localisation", "localisation"]
    assert plain.gt_type.tolist() == ["localisation", "", "no_detection", "localisation", "localisation"]
    assert plain.dt_related_box_iou is None


@pytest.mark.parametrize("image", [[], [2], [0, 0, 1, 3, 3, 3], [3, 0, 1, 0, 3, 2], [1, 1, 0]])
def test_rows_of_image_ranges_are_those_images_rows_in_order(image) -> None:
    """The tasks at t* take the rows of a range of images: found by a binary search when the rows are in image
    order (as read), else grouped once; both are the rows of those images, ascending."""
    from evalsite.report.threshold_shards import _rows_of_images

    image = np.array(image, dtype=np.int64)
    rows = _rows_of_images(image, 4)
    for i0 in range(5):
        for i1 in range(i0, 5):
            expected = np.flatnonzero((image >= i0) & (image < i1))
            assert rows(i0, i1).tolist() == expected.tolist(), (i0, i1)
