"""The errors and the images of a detection report (`evalsite.report.detection`): every false positive and missed
object at t*, the likely label errors among them, and each image's row with the boxes drawn on it.

All three look at one image at a time, given a few per-label numbers of the whole (t*, the suspects' score
thresholds, each label's recall): so they are made of all images at once, or, on a Dask cluster, of each
shard of whole images on a worker (`evalsite.report.threshold_shards`), whose rows the driver joins in shard
order (`BoxMistakes.joined`, `ImageRows.joined`): the same rows, numbered the same.
"""

from __future__ import annotations

import math

import numpy as np

from evalsite.core.detection_data import DetectionData
from evalsite.core.enums import ErrorKind, ErrorType, SuspectReason
from evalsite.core.image_info import ImageInfo
from evalsite.core.on_disk import rows_where
from evalsite.metrics.arrays import rows_by_group, take
from evalsite.metrics.error_types import DT_TYPE_NAMES, GT_TYPE_NAMES, ErrorTypes
from evalsite.metrics.label_errors import box_suspect, max_ious, score_thresholds
from evalsite.metrics.matching import Matching
from evalsite.report.detection_images import MaskStrings, image_rows
from evalsite.report.detection_model import ERROR_KINDS, ERROR_TYPES, SUSPECTS, BoxMistakes, ImageRows

# The `BoxMistakes.type` code of each error code (evalsite.metrics.error_types.ErrorTypes): a false positive's,
# a missed object's
_FP_TYPES = np.array([-1, *(ERROR_TYPES.index(ErrorType(name)) for name in DT_TYPE_NAMES[1:])], np.int8)
_FN_TYPES = np.array([-1, *(ERROR_TYPES.index(ErrorType(name)) for name in GT_TYPE_NAMES[1:])], np.int8)
_FALSE_POSITIVE, _MISSED = ERROR_KINDS.index(ErrorKind.FALSE_POSITIVE), ERROR_KINDS.index(ErrorKind.MISSED)
_NO_DETECTION = ERROR_TYPES.index(ErrorType.NO_DETECTION)


def suspect_thresholds(data: DetectionData, matching: Matching, threshold: float) -> np.ndarray:
    """(L,) the score thresholds s_c of the likely label errors (`score_thresholds`): of the true positives at
    t* = `threshold` (NaN: none)."""
    tp = rows_where(data.dt_score, lambda block: block >= threshold)  # (NaN t*: none; a block at a time)
    tp = tp[matching.tp[tp]]
    return score_thresholds(data.dt_label[tp], data.dt_score[tp], len(data.labels))


def error_and_image_rows(data: DetectionData, matching: Matching, types: ErrorTypes, threshold: float,
                         thresholds: np.ndarray, label_recall: np.ndarray, infos: list[ImageInfo]
                         ) -> tuple[BoxMistakes, ImageRows]:
    """(the errors at t* = `threshold` with the likely label errors marked, each image's row) of `data`, its
    VOC `matching` and error `types` at t*, and its images' checks `infos`; `thresholds`: `suspect_thresholds`
    and `label_recall`: each label's recall at t*, of the whole (`data` may be a shard of its images).
    `types` is let go once the errors are made (a caller that passes its only reference frees the related
    rows, 16 bytes per detection, before the images' rows are made)."""
    strings = MaskStrings(data) if data.gt_masks is not None else None
    errors = _errors(data, types, strings)
    types = types.codes_only()  # (the suspects and the images' boxes read no more: the related rows go)
    _mark_suspects(data, matching, errors, threshold, thresholds, label_recall)
    images = image_rows(data, matching, types, threshold, infos, strings)
    if strings is not None:
        strings.encode()
    return errors, images


def _errors(data: DetectionData, e: ErrorTypes, strings: MaskStrings | None = None) -> BoxMistakes:
    """Every false positive and missed object at t* (of the types `e`), numbered by image, then kind, then file
    order."""
    fp, fn = np.flatnonzero(e.dt_code), np.flatnonzero(e.gt_code)
    # the object a false positive is confused with, the detection that explains a miss (-1: none)
    rel_gt, rel_dt = e.dt_related_gt[fp], e.gt_related_dt[fn]
    kind = np.r_[np.full(len(fp), _FALSE_POSITIVE, np.int8), np.full(len(fn), _MISSED, np.int8)]
    order = np.lexsort((np.concatenate([fp, fn]), kind, np.concatenate([data.dt_image[fp], data.gt_image[fn]])))

    def both(of_fp: np.ndarray, of_fn: np.ndarray) -> np.ndarray:  # the column of every error, in order
        return np.concatenate([of_fp, of_fn])[order]

    errors = BoxMistakes(
        images=data.images, image_ids=data.image_ids, labels=data.labels, kind=kind[order],
        type=both(_FP_TYPES[e.dt_code[fp]], _FN_TYPES[e.gt_code[fn]]),
        image=both(data.dt_image[fp], data.gt_image[fn]), label=both(data.dt_label[fp], data.gt_label[fn]),
        box=both(data.dt_box[fp], data.gt_box[fn]), score=both(data.dt_score[fp], take(data.dt_score, rel_dt, np.nan)),
        iou=both(e.dt_related_iou[fp], e.gt_related_iou[fn]),
        related_label=both(take(data.gt_label, rel_gt, -1), take(data.dt_label, rel_dt, -1)),
        related_box=both(_box_rows(data.gt_box, rel_gt), _box_rows(data.dt_box, rel_dt)),
        annotation_id=both(take(data.gt_id, rel_gt, 0), data.gt_id[fn]),
        has_annotation=both(rel_gt >= 0, np.ones(len(fn), dtype=bool)),
        box_iou=None if e.dt_related_box_iou is None else both(e.dt_related_box_iou[fp], e.gt_related_box_iou[fn]))
    if strings is not None:  # the masks, filled in once they are all encoded
        errors.masks, errors.related_masks = [None] * len(errors), [None] * len(errors)
        rows, related = both(fp, fn).tolist(), both(rel_gt, rel_dt).tolist()
        for k, error_kind in enumerate(errors.kind.tolist()):
            own, other = ("dt", "gt") if error_kind == _FALSE_POSITIVE else ("gt", "dt")
            strings.fill(errors.masks, k, own, rows[k])
            strings.fill(errors.related_masks, k, other, related[k])
    return errors


def _box_rows(boxes: np.ndarray, index: np.ndarray) -> np.ndarray:
    """boxes[index] (rows of 4), any row where index < 0 (also without boxes at all: zeros)."""
    return boxes[np.maximum(index, 0)] if len(boxes) else np.zeros((len(index), 4))


def _mark_suspects(data: DetectionData, matching: Matching, errors: BoxMistakes, threshold: float,
                   thresholds: np.ndarray, label_recall: np.ndarray) -> None:
    """Likely label errors (generator/metrics/label_errors.py) on the errors concerned."""
    if math.isnan(threshold):
        return
    # missed objects without a detection: the largest IoU with any prediction that counts (at any score) of their
    # image, all at once; only their images' predictions are gathered
    lonely = np.flatnonzero((errors.kind == _MISSED) & (errors.type == _NO_DETECTION))
    lonely_image = errors.image[lonely]
    wanted = np.zeros(len(data.images), dtype=bool)
    wanted[lonely_image] = True
    shown = np.flatnonzero(wanted[data.dt_image] & ~matching.ignored)
    del wanted
    by_image, bounds = rows_by_group(data.dt_image[shown], len(data.images))
    nearest = dict(zip(lonely.tolist(), max_ious(errors.box[lonely], data.dt_box, bounds, lonely_image,
                                                 rows=shown[by_image]).tolist()))
    del shown, by_image
    labels = errors.label.tolist()
    scores = [None if s != s else s for s in errors.score.tolist()]  # (NaN: none)
    for k, (kind, type_) in enumerate(zip(errors.kind.tolist(), errors.type.tolist())):
        near = recall = None
        if k in nearest:
            near = nearest[k]
            recall = float(label_recall[labels[k]])
        found = box_suspect(ERROR_KINDS[kind], ERROR_TYPES[type_], labels[k], scores[k], thresholds, recall, near)
        if found is not None:
            errors.suspect[k] = SUSPECTS.index(SuspectReason(found.reason))
            errors.suspicion[k], errors.suspect_threshold[k] = found.suspicion, found.threshold


