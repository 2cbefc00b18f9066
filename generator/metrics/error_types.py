"""The type of every detection error at the report's threshold t* (docs/metrics.md,
"Detection"): each false positive (误识别) and each missed object (漏识别), with the object it relates to,
from the VOC matching (`evalsite.metrics.matching`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsite.core.boxes import pair_iou
from evalsite.core.enums import FALSE_POSITIVE_TYPES, MISSED_TYPES
from evalsite.metrics.arrays import bool_array, group_best, int_array, take
from evalsite.metrics.matching import Matching
from evalsite.metrics.pairs import PairGeometry, PairIoU

BACKGROUND_IOU = 0.1  # below this IoU with every ground truth a false positive is "background"

# False-positive and missed-object (false-negative) types as plain strings, in order of precedence (the first
# that applies is the type; see `type_errors`); the sets themselves are defined once, in evalsite.core.enums.
FP_TYPES = tuple(t.value for t in FALSE_POSITIVE_TYPES)
FN_TYPES = tuple(t.value for t in MISSED_TYPES)
# "mask_quality" only occurs in segmentation (type_errors given the boxes to compare the masks with).


@dataclass
class ErrorTypes:
    """Errors at a threshold (see `type_errors`). Each type is held as a one-byte code: 0 where there is no
    error, else 1 + its position in FP_TYPES (detections) or FN_TYPES (objects); `dt_type` and `gt_type` give
    them as strings ("" where there is no error). A string array takes 88 bytes per detection, which is 0.35
    GB at 4 M detections on a process that holds the whole set (a Dask driver)."""

    dt_code: np.ndarray  # (D,) int8: FP type code of each false positive with score >= threshold, 0 otherwise
    dt_related_gt: np.ndarray  # (D,) int64: the GT it is confused with (-1: none, e.g. background)
    dt_related_iou: np.ndarray  # (D,) float64: IoU with that GT (NaN: none)
    gt_code: np.ndarray  # (G,) int8: missed type code (FN_TYPES) of each counted GT missed at the threshold
    gt_related_dt: np.ndarray  # (G,) int64: the detection that explains it (-1: none)
    gt_related_iou: np.ndarray  # (G,) float64: IoU with that detection (NaN: none)
    threshold: float
    dt_related_box_iou: np.ndarray | None = None  # segmentation: box IoU with the related GT (NaN: none)
    gt_related_box_iou: np.ndarray | None = None

    def codes_only(self) -> ErrorTypes:
        """These types with only the codes: the related rows and IoUs emptied (length 0), for a caller that keeps
        them long and needs no more (a report drawing its images' boxes: 16 bytes per detection)."""
        empty, nan = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return ErrorTypes(dt_code=self.dt_code, dt_related_gt=empty, dt_related_iou=nan, gt_code=self.gt_code,
                          gt_related_dt=empty, gt_related_iou=nan, threshold=self.threshold)

    @property
    def dt_type(self) -> np.ndarray:
        """(D,) str: the FP type of each detection ("" where it is none)."""
        return np.array(DT_TYPE_NAMES)[self.dt_code]

    @property
    def gt_type(self) -> np.ndarray:
        """(G,) str: the missed type of each GT ("" where it is none)."""
        return np.array(GT_TYPE_NAMES)[self.gt_code]


# The type of each code of `ErrorTypes.dt_code` / `gt_code`: "" for 0, then the types in order.
DT_TYPE_NAMES = ("", *FP_TYPES)
GT_TYPE_NAMES = ("", *FN_TYPES)


def type_errors(matching: Matching, gt_image, gt_label, gt_box, gt_crowd, dt_image, dt_label, dt_box,
                dt_score, threshold: float, background_iou: float = BACKGROUND_IOU,
                pair_iou_fn: PairIoU | None = None,
                mask_quality_boxes: tuple[np.ndarray, np.ndarray] | None = None) -> ErrorTypes:
    """Type every error at score threshold t* (false positive = 误识别, missed object = 漏识别).

    IoU thresholds: T = matching.iou_threshold (0.5), B = background_iou (0.1). "GT" below means the
    non-crowd GT of the detection's image (difficult included: a prediction of another label on a difficult
    object is still a wrong label); crowd regions play no part in typing.

    A false positive is a detection with score >= t* that is neither TP nor ignored in `matching`. Its type
    is the first that applies, in this order (most specific first):

    1. "duplicate": its best same-label GT has IoU >= T (under the VOC rule that GT was then taken by a
       higher-ranked detection). Related GT: that one.
    2. "wrong_label": a GT of another label has IoU >= T with it (the box is right, the label is not).
       Related GT: the one of highest IoU among those.
    3. "localisation": its best same-label GT has B <= IoU < T. Related GT: that one.
    4. "label_and_localisation": a GT of another label has B <= IoU < T (wrong label and poor box: TIDE's
       "both"; no other type covers it, and it is not background since a GT overlaps it). Related: the GT
       of highest IoU.
    5. "background": no GT has IoU >= B. Related: none.

    A missed object is a counted GT that no detection with score >= t* matched. Its type, first that applies:

    1. "wrong_label": a detection of another label with score >= t* has IoU >= T with it. Related: the one
       of highest IoU (ties: file order).
    2. "below_threshold": a detection of its label matches it when the threshold is lowered (the VOC
       matching of all detections gives it one, whose score is < t*). Related: that detection.
    3. "localisation": a detection of its label with score >= t* has IoU >= B with it (IoU < T, or >= T but
       that detection went to another GT it overlaps more). Related: the one of highest IoU.
    4. "no_detection": none of the above. Related: none.

    wrong_label comes first for missed objects because a confident prediction of the wrong label is the
    error that a user can see and fix; below_threshold then says that the right prediction exists.
    With threshold NaN (no counted detection), there is no false positive and every counted GT is missed.

    Segmentation (IoU = mask IoU) passes `mask_quality_boxes` = (detection boxes, GT boxes), and one more
    type comes in, for both kinds, right after wrong_label / below_threshold:

    * "mask_quality": the box is right but the mask is not: a non-crowd GT of the same label has box IoU
      >= T with the detection (for a missed object: a detection of its label with score >= t* has box IoU
      >= T with it), while their mask IoU is < T. Related: the one of highest box IoU (ties: file order);
      the related IoU is then their mask IoU, and `*_related_box_iou` their box IoU.

    (For false positives the mask IoU of that pair is < T by then: otherwise the detection is a
    duplicate.) `*_related_box_iou` is the box IoU of the related pair for every type in segmentation.

    Parameters
    ----------
    matching : the `Matching` of all detections (`evalsite.metrics.matching.match_detections`).
    gt_image, gt_label, gt_box, gt_crowd, dt_image, dt_label, dt_box, dt_score, pair_iou_fn : as there.
    threshold : t*; NaN for none.
    background_iou : B.
    mask_quality_boxes : segmentation only, the (D, 4) detection and (G, 4) GT xywh boxes.

    Returns
    -------
    `ErrorTypes`.

    Examples
    --------
    The second detection overlaps (IoU 9/11) the GT that the first one took:

    >>> from evalsite.metrics.matching import match_detections
    >>> gt = ([0, 0], [0, 0], [[0, 0, 10, 10], [20, 0, 10, 10]], None)
    >>> dt = ([0, 0, 0], [0, 0, 0], [[0, 0, 10, 10], [1, 0, 10, 10], [20, 0, 10, 10]], [0.9, 0.8, 0.7])
    >>> m = match_detections(*gt[:3], None, gt[3], *dt)
    >>> e = type_errors(m, *gt, *dt, threshold=0.7)
    >>> e.dt_type.tolist(), e.dt_related_gt.tolist(), e.gt_type.tolist()
    (['', 'duplicate', ''], [-1, 0, -1], ['', ''])
    """
    gt_image, gt_label = int_array(gt_image), int_array(gt_label)
    dt_image, dt_label = int_array(dt_image), int_array(dt_label)
    dt_score = np.asarray(dt_score, dtype=np.float64).reshape(-1)
    n_gt_objects, n_dt = len(gt_image), len(dt_image)
    crowd = bool_array(gt_crowd, n_gt_objects)
    geometry = PairGeometry(pair_iou_fn, dt_box, gt_box, crowd)
    t_thr = matching.iou_threshold
    has_t = not np.isnan(threshold)
    above = dt_score >= threshold if has_t else np.zeros(n_dt, dtype=bool)

    # False positives against every non-crowd GT of their image.
    fp = np.flatnonzero(above & matching.fp)
    real = np.flatnonzero(~crowd)
    pd, pg, iou = geometry.pairs(fp, dt_image[fp], real, gt_image[real])
    other = gt_label[pg] != dt_label[pd]
    o_best, o_gt = group_best(pd[other], iou[other], pg[other], n_dt)
    same_best, same_gt = matching.best_iou, matching.best_gt
    boxes = None if mask_quality_boxes is None else _BoxIoU(*mask_quality_boxes, crowd)
    if boxes is not None:
        bd, bg, biou = boxes.same_label_pairs(fp, dt_image, dt_label, real, gt_image, gt_label)
        mq_best, mq_gt = group_best(bd, biou, bg, n_dt)
        mq_iou = boxes.lookup(np.arange(n_dt), mq_gt, pd, pg, iou)

    dt_code, dt_rel, dt_rel_iou = _first_rule(fp, n_dt, FP_TYPES, [
        ("duplicate", (same_gt >= 0) & (same_best >= t_thr), same_gt, same_best),
        ("wrong_label", o_best >= t_thr, o_gt, o_best),
        *([("mask_quality", mq_best >= t_thr, mq_gt, mq_iou)] if boxes is not None else []),
        ("localisation", (same_gt >= 0) & (same_best >= background_iou), same_gt, same_best),
        ("label_and_localisation", o_best >= background_iou, o_gt, o_best),
        ("background", *_always(n_dt)),
    ])

    # Missed objects against every detection of their image with score >= t*.
    matched_by = matching.gt_matched_by
    found = take(above, matched_by, False).astype(bool)
    missed = np.flatnonzero(matching.gt_counted & ~found)
    shown = np.flatnonzero(above)
    pd, pg, iou = geometry.pairs(shown, dt_image[shown], missed, gt_image[missed])
    same = gt_label[pg] == dt_label[pd]
    ob, o_dt = group_best(pg[~same], iou[~same], pd[~same], n_gt_objects)
    sb, s_dt = group_best(pg[same], iou[same], pd[same], n_gt_objects)
    below = matched_by >= 0
    below_iou = take(matching.best_iou, matched_by, np.nan)
    if boxes is not None:
        bd, bg, biou = boxes.same_label_pairs(shown, dt_image, dt_label, missed, gt_image, gt_label)
        mqg_best, mqg_dt = group_best(bg, biou, bd, n_gt_objects)
        mqg_iou = boxes.lookup(mqg_dt, np.arange(n_gt_objects), pd, pg, iou)

    gt_code, gt_rel, gt_rel_iou = _first_rule(missed, n_gt_objects, FN_TYPES, [
        ("wrong_label", ob >= t_thr, o_dt, ob),
        ("below_threshold", below, matched_by, below_iou),
        *([("mask_quality", mqg_best >= t_thr, mqg_dt, mqg_iou)] if boxes is not None else []),
        ("localisation", sb >= background_iou, s_dt, sb),
        ("no_detection", *_always(n_gt_objects)),
    ])
    dt_box_iou = gt_box_iou = None
    if boxes is not None:
        dt_box_iou = boxes.related(np.arange(n_dt), dt_rel)
        gt_box_iou = boxes.related(gt_rel, np.arange(n_gt_objects))
    return ErrorTypes(dt_code=dt_code, dt_related_gt=dt_rel, dt_related_iou=dt_rel_iou, gt_code=gt_code,
                      gt_related_dt=gt_rel, gt_related_iou=gt_rel_iou, threshold=float(threshold),
                      dt_related_box_iou=dt_box_iou, gt_related_box_iou=gt_box_iou)


def _first_rule(errors: np.ndarray, n: int, types: tuple[str, ...], rules: list) -> tuple[np.ndarray, ...]:
    """(type code, related object, related IoU) of each of `errors` (indices among n objects): the first of
    `rules` (name, condition, related, related IoU; arrays over the n objects) whose condition holds; the
    code of a type is 1 + its position in `types` (`ErrorTypes`)."""
    kind = np.zeros(n, dtype=np.int8)
    rel = np.full(n, -1, dtype=np.int64)
    rel_iou = np.full(n, np.nan)
    todo = np.zeros(n, dtype=bool)
    todo[errors] = True
    for name, cond, related, related_iou in rules:
        pick = todo & cond
        kind[pick], rel[pick], rel_iou[pick] = 1 + types.index(name), related[pick], related_iou[pick]
        todo &= ~pick
    return kind, rel, rel_iou


def _always(n: int) -> tuple[np.ndarray, ...]:
    """The rule that always applies, with no related object: (condition, related, related IoU) over n
    objects, as read-only views of one value each (no memory per object)."""
    return np.broadcast_to(True, n), np.broadcast_to(np.int64(-1), n), np.broadcast_to(np.nan, n)


class _BoxIoU:
    """Box IoU beside a mask IoU, for the "mask_quality" type of segmentation errors."""

    def __init__(self, dt_box, gt_box, gt_crowd: np.ndarray):
        self.dt_box = np.asarray(dt_box, dtype=np.float64).reshape(-1, 4)
        self.gt_box = np.asarray(gt_box, dtype=np.float64).reshape(-1, 4)
        self.geometry = PairGeometry(None, self.dt_box, self.gt_box, gt_crowd)

    def same_label_pairs(self, dt_idx, dt_image, dt_label, gt_idx, gt_image, gt_label):
        """Pairs of the same image and label with box IoU > 0, and that IoU."""
        n_labels = int(max(dt_label.max(initial=0), gt_label.max(initial=0))) + 1
        return self.geometry.pairs(dt_idx, dt_image[dt_idx] * n_labels + dt_label[dt_idx],
                                   gt_idx, gt_image[gt_idx] * n_labels + gt_label[gt_idx])

    @staticmethod
    def lookup(d: np.ndarray, g: np.ndarray, pd: np.ndarray, pg: np.ndarray, iou: np.ndarray) -> np.ndarray:
        """The mask IoU of pairs (d[i], g[i]) from the listed pairs (pd, pg, iou); 0 when not listed (the
        listed pairs are all those of mask IoU > 0), NaN where d or g is -1."""
        out = np.full(len(d), np.nan)
        has = (d >= 0) & (g >= 0)
        out[has] = 0.0
        if len(pd):
            scale = int(max(pg.max(), g.max(initial=0))) + 1
            listed = pd * scale + pg
            order = np.argsort(listed)
            wanted = d[has] * scale + g[has]
            pos = np.minimum(np.searchsorted(listed[order], wanted), len(listed) - 1)
            hit = listed[order][pos] == wanted
            vals = out[has]
            vals[hit] = iou[order][pos][hit]
            out[has] = vals
        return out

    def related(self, d: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Box IoU of the pairs (d[i], g[i]); NaN where either is -1 (no related object)."""
        has = (d >= 0) & (g >= 0)
        out = np.full(len(d), np.nan)
        out[has] = pair_iou(self.dt_box[d[has]], self.gt_box[g[has]])
        return out
