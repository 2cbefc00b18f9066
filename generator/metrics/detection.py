"""Detection metrics other than COCO (docs/metrics.md, "Detection") for a `DetectionData`:
the entry points that run them all. Each part is its own module, whose docstrings state the definitions:

* `evalsite.metrics.matching`: the PASCAL VOC matching of each label at IoU >= 0.5 (`match_detections`),
  and the conventions of all of them (rows, counted GT, detection order);
* `evalsite.metrics.pairs`: which (detection, GT) pairs get an IoU, and the IoU callback;
* `evalsite.metrics.voc_ap`: VOC2010+ all-point AP and VOC2007 11-point AP, and their mean over labels with
  ground truth (the headline mAP50);
* `evalsite.metrics.operating_point`: F1 of every score threshold, t* and the report's precision / recall /
  F1 at t*, each label's own best threshold, F1-vs-threshold and precision-recall curves;
* `evalsite.metrics.detection_confusion`: class-agnostic confusion matrix at t* (background row, missed
  column);
* `evalsite.metrics.error_types`: the type of every false positive and every missed object at t*;
* here, `evaluate_detection`: all of the above for a `DetectionData` (`evaluate_matching`: its first half;
  `confusion_and_errors`: what it adds at t*, also of a shard of whole images alone: each image is matched
  and typed on its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from evalsite.metrics.detection_confusion import Confusion, confusion_at_threshold
from evalsite.metrics.error_types import ErrorTypes, type_errors
from evalsite.metrics.matching import IOU_THRESHOLD, Matching, match_detections
from evalsite.metrics.operating_point import (
    MAX_CURVE_POINTS,
    SweepPart,
    ThresholdSweep,
    counted_rows,
    operating_point,
    sweep_part,
)
from evalsite.metrics.pairs import PairIoU
from evalsite.metrics.voc_ap import average_precisions_per_label, label_average_precisions, voc_map

if TYPE_CHECKING:  # pragma: no cover
    from evalsite.core.detection_data import DetectionData


@dataclass
class DetectionEvaluation:
    """Result of `evaluate_detection`. L = len(data.labels)."""

    matching: Matching
    ap50: np.ndarray  # (L,) VOC all-point AP at IoU 0.5, NaN without ground truth
    ap50_11pt: np.ndarray  # (L,) VOC2007 11-point AP
    map50: float  # mean of ap50 over labels with ground truth (NaN: no ground truth at all)
    map50_11pt: float
    sweep: ThresholdSweep  # operating point t*, per-label numbers at t*, curves
    confusion: Confusion  # at t*
    errors: ErrorTypes | None  # at t* (None: a caller's `at_threshold` left them out)


def evaluate_matching(data: DetectionData, iou_threshold: float = IOU_THRESHOLD,
                      pair_iou_fn: PairIoU | None = None, max_points: int = MAX_CURVE_POINTS,
                      prune_boxes: tuple[np.ndarray, np.ndarray] | None = None, matching: Matching | None = None
                      ) -> tuple[Matching, np.ndarray, np.ndarray, ThresholdSweep]:
    """The first half of `evaluate_detection`: the VOC matching, per-label AP (all-point, 11-point) and the
    operating point with its curves.

    Parameters
    ----------
    As for `evaluate_detection`; `matching`: the VOC matching (`match_detections`) of these arguments when the
    caller has it (e.g. joined from label groups matched apart, `join_label_matchings`).

    Returns
    -------
    (matching, ap50, ap50_11pt, sweep): the `Matching`, the (L,) all-point and 11-point AP and the
    `ThresholdSweep`.
    """
    dt_box, gt_box = prune_boxes if prune_boxes is not None else (data.dt_box, data.gt_box)
    if matching is None:
        matching = match_detections(data.gt_image, data.gt_label, gt_box, data.gt_difficult, data.gt_crowd,
                                    data.dt_image, data.dt_label, dt_box, data.dt_score, iou_threshold=iou_threshold,
                                    pair_iou_fn=pair_iou_fn, n_labels=len(data.labels))
    ap, ap11 = average_precisions_per_label(matching, data.dt_label, data.dt_score, ("all", "11point"))
    sweep = operating_point(matching, data.dt_label, data.dt_score, max_points=max_points)
    return matching, ap, ap11, sweep


def label_group_metrics(tp: np.ndarray, ignored: np.ndarray, dt_label: np.ndarray, dt_score: np.ndarray,
                        n_gt: np.ndarray, bits: int, label_points: int) -> tuple[np.ndarray, np.ndarray, SweepPart]:
    """VOC AP (all-point, 11-point) and the operating point's `sweep_part` of a group of consecutive labels
    (a Dask cluster's task), the detections sorted once for both. Each label's AP and its part of the sweep
    depend on its own detections alone, so the groups' values, joined in label order (`join_sweep_parts`),
    are those of all labels at once, bit for bit.

    Parameters
    ----------
    tp, ignored : the group's detections' flags in the matching of all of them (`Matching.tp`, `.ignored`).
    dt_label, dt_score : their labels, renumbered from 0 (0..L_g-1), and scores.
    n_gt : (L_g,) counted ground truth per label of the group.
    bits, label_points : the whole's (`fixed_point_bits` of its labels in the mean, `label_curve_points`).

    Returns
    -------
    (ap50, ap50_11pt, part): the (L_g,) APs and the `SweepPart`.
    """
    rows = counted_rows(tp, ignored, dt_label, dt_score, len(n_gt))
    ap, ap11 = label_average_precisions(rows[0], rows[2], n_gt, ("all", "11point"))
    return ap, ap11, sweep_part(rows, n_gt, bits, label_points)


def evaluate_detection(data: DetectionData, iou_threshold: float = IOU_THRESHOLD,
                       pair_iou_fn: PairIoU | None = None,
                       max_points: int = MAX_CURVE_POINTS, prune_boxes: tuple[np.ndarray, np.ndarray] | None = None,
                       mask_quality_boxes: tuple[np.ndarray, np.ndarray] | None = None,
                       first_half: tuple | None = None,
                       at_threshold: tuple[Confusion, ErrorTypes | None] | None = None) -> DetectionEvaluation:
    """Every detection metric listed above for one `DetectionData` (labels 0..len(data.labels)-1).

    Segmentation passes the mask IoU as `pair_iou_fn`, boxes that contain each mask as `prune_boxes`
    (detections, GT; default: data's boxes) and the boxes to type "mask_quality" errors with.
    `first_half`: the result of `evaluate_matching` with the same arguments, when the caller has it already;
    `at_threshold`: likewise `confusion_and_errors` at its t* (e.g. from shards of images: the sum of their
    confusions' counts, and None for the error types when the caller made the report's errors from each
    shard's).

    Parameters
    ----------
    data : the detection task's columns (`evalsite.core.detection_data.DetectionData`).
    iou_threshold : the matching's IoU threshold T, in (0, 1].
    pair_iou_fn : `evalsite.metrics.pairs.PairIoU`, or None for the box IoU.
    max_points : the most points of each curve.
    prune_boxes : (dt_box, gt_box) for pairing, instead of data's boxes.
    mask_quality_boxes : segmentation only, (dt_box, gt_box) for the "mask_quality" error type.
    first_half, at_threshold : see above.

    Returns
    -------
    `DetectionEvaluation`: AP and mAP at IoU T (ap50, map50 with the default T), the operating point and
    curves, the confusion and the error types at t*.
    """
    dt_box, gt_box = prune_boxes if prune_boxes is not None else (data.dt_box, data.gt_box)
    matching, ap, ap11, sweep = first_half or evaluate_matching(data, iou_threshold, pair_iou_fn, max_points,
                                                                prune_boxes)
    if at_threshold is None:
        at_threshold = confusion_and_errors(
            matching, (data.gt_image, data.gt_label, gt_box, data.gt_difficult, data.gt_crowd),
            (data.dt_image, data.dt_label, dt_box, data.dt_score), sweep.point.threshold, iou_threshold,
            len(data.labels), pair_iou_fn, mask_quality_boxes, score_order=matching.order)
    confusion, errors = at_threshold
    return DetectionEvaluation(matching=matching, ap50=ap, ap50_11pt=ap11, map50=voc_map(ap),
                               map50_11pt=voc_map(ap11), sweep=sweep, confusion=confusion, errors=errors)


def confusion_and_errors(matching: Matching, gt: tuple, dt: tuple, threshold: float, iou_threshold: float,
                         n_labels: int, pair_iou_fn: PairIoU | None = None,
                         mask_quality_boxes: tuple[np.ndarray, np.ndarray] | None = None,
                         score_order: np.ndarray | None = None) -> tuple[Confusion, ErrorTypes]:
    """The confusion (`confusion_at_threshold`) and the error types (`type_errors`) at t* = `threshold`.

    Parameters
    ----------
    matching : the `Matching` of these rows.
    gt : (gt_image, gt_label, gt_box, gt_difficult, gt_crowd), the boxes those of the pairing (`prune_boxes`).
    dt : (dt_image, dt_label, dt_box, dt_score), likewise.
    threshold, iou_threshold, n_labels, pair_iou_fn, mask_quality_boxes : as for `evaluate_detection`.
    score_order : the detection order when known (`Matching.order`).

    Returns
    -------
    (`Confusion`, `ErrorTypes`).
    """
    gt_image, gt_label, gt_box, _, gt_crowd = gt
    confusion = confusion_at_threshold(*gt, *dt, threshold=threshold, iou_threshold=iou_threshold,
                                       pair_iou_fn=pair_iou_fn, n_labels=n_labels, score_order=score_order)
    errors = type_errors(matching, gt_image, gt_label, gt_box, gt_crowd, *dt, threshold=threshold,
                         pair_iou_fn=pair_iou_fn, mask_quality_boxes=mask_quality_boxes)
    return confusion, errors
