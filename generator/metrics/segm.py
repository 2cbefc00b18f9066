"""COCO instance-segmentation metrics: pycocotools' `COCOeval(gt, dt, "segm")` with default parameters, in
numpy, on run-length encoded masks (`evalsite.core.masks`).

This is `evalsite.metrics.coco.coco_evaluate` (all of its definitions hold: thresholds, area ranges,
matching, crowd rule, accumulation, the 12 stats) with mask IoU in place of box IoU. The segm-specific
definitions, as pycocotools with detectron2-style results (compressed RLE *without* a 'bbox' key):

* IoU of a detection D and a ground truth G (pycocotools' rleIou): inter = |D ∩ G|; 0 if inter == 0
  (so any pair with an empty mask is 0); inter / |D| if G is a crowd region; else inter / |D ∪ G|.
* Ground truth area ranges use the annotation's `area` field (`gt_area`), not the mask area, as
  pycocotools does (for COCO's own annotations the two differ slightly).
* Detection area ranges use the mask area (`rle_area`): pycocotools' `loadRes` sets a segmentation
  result's `area` to `maskUtils.area(segmentation)`.
* Boxes: `rle_bbox` of every mask (pycocotools' `toBbox`, which `loadRes` uses when a result has no 'bbox'
  key). They play no part in the numbers: `coco_evaluate` only uses boxes for its default IoU and default
  detection area, and both are replaced here. It computes the IoU of *every* (detection, ground truth)
  pair of the same image and label (first 100 detections per image and label) and prunes nothing by box.
  They are still valid pruning boxes for callers that do prune (e.g. `evalsite.metrics.pairs`): a
  non-empty mask lies inside its `rle_bbox` (x range tight; the y range is widened to the full height when
  a run of 1s crosses a column), so box-disjoint implies mask-disjoint implies IoU 0. An empty mask has
  IoU 0 with everything whatever its box.
* Masks of different sizes (which pycocotools scores -1, never a match) get IoU 0 here; in
  `coco_evaluate_segm` every mask must have its image's size, so this never happens there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evalsite.core.masks import MaskSet, mask_iou_pairs, rle_from_string
from evalsite.metrics.coco import IOU_THRESHOLDS, CocoEvidence, CocoResult, coco_match, coco_result
from evalsite.metrics.coco_accumulate import CocoMatches

__all__ = ["mask_pair_iou_fn", "coco_evaluate_segm", "coco_match_segm"]


def _as_counts(c) -> np.ndarray:
    """Counts as int64: a compressed string / bytes is decoded (rleFrString), anything else is an array."""
    if isinstance(c, (str, bytes, bytearray)):
        return rle_from_string(c)
    return np.asarray(c, dtype=np.int64).reshape(-1)


def _mask_set(masks, hw) -> MaskSet:
    """A MaskSet as given, or one from a list of counts / compressed strings; sizes from `hw` ((N, 2)
    (h, w)), without them a mask is h = its pixel total x w = 1 (masks then differ by pixel total only)."""
    if isinstance(masks, MaskSet):
        return masks
    counts = [_as_counts(c) for c in masks]
    if hw is None:
        return MaskSet.from_counts(counts, [int(c.sum()) for c in counts], 1)
    hw = np.asarray(hw, dtype=np.int64).reshape(-1, 2)
    if len(hw) != len(counts):
        raise ValueError(f"need one (h, w) per mask ({len(counts)}), got {len(hw)}")
    return MaskSet.from_counts(counts, hw[:, 0], hw[:, 1])


def mask_pair_iou_fn(dt_masks, gt_masks, gt_crowd, dt_hw=None, gt_hw=None, *,
                     min_iou: float = 0.0) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """`f(dt_idx, gt_idx) -> iou` (float64, one per pair) for `coco_evaluate` / `evaluate_detection`.

    dt_masks, gt_masks: MaskSets (`evalsite.core.masks`, as read_detection gives them); also accepted:
        lists of RLE counts (int arrays, or compressed strings as pycocotools' 'counts'), converted once
        here, with dt_hw, gt_hw their (N, 2) sizes (h, w) (without them masks differ by pixel total only).
    gt_crowd: (G,) bool, one flag per ground truth.
    min_iou: pairs whose IoU is provably below it may get 0 instead (`mask_iou_pairs`): pass the lowest
        threshold the caller keeps (coco_evaluate: 0.5) to skip the intersections of hopeless pairs.

    IoU is pycocotools' rleIou (bit-identical, `mask_iou_pairs`): 0 when the intersection is empty,
    intersection / detection area for a crowd ground truth, else intersection / union. Pairs whose masks
    differ in size get 0 (pycocotools: -1; both are below every threshold). Box-disjoint pairs get 0, as
    `evaluate_detection`'s pruning requires, when the boxes are the masks' `rle_bbox`. Areas, extents and
    boxes are computed here, once; a call costs in proportion to its pairs only.
    """
    dt = _mask_set(dt_masks, dt_hw)
    gt = _mask_set(gt_masks, gt_hw)
    crowd = np.asarray(gt_crowd, dtype=bool).reshape(-1)
    if crowd.size != len(gt):
        raise ValueError(f"gt_crowd needs one flag per ground truth ({len(gt)}), got {crowd.size}")
    for masks in (dt, gt):  # computed once here, not in the first call
        masks.areas()
        masks.extents()
        masks.bboxes()

    def fn(dt_idx, gt_idx) -> np.ndarray:
        return mask_iou_pairs(dt, gt, dt_idx, gt_idx, crowd, min_iou=min_iou)

    return fn


def coco_evaluate_segm(gt_image, gt_label, gt_counts, gt_area, gt_crowd, dt_image, dt_label, dt_counts,
                       dt_score, n_labels: int, height_width) -> CocoResult:
    """COCO segmentation evaluation, equal to pycocotools' `COCOeval(gt, dt, "segm")` (see the module
    docstring for the definitions).

    gt_image, gt_label: (G,) int, 0-based image and label index of each ground truth object.
    gt_counts: the G masks, a MaskSet (as read_detection's gt_masks) or a list of RLE counts (int arrays
        or compressed strings), each of its image's size; polygons and uncompressed RLE are converted by
        the caller (`rle_from_polygons`, as pycocotools' annToRLE).
    gt_area: (G,) the annotation's `area` field (decides the area ranges; not the mask area).
    gt_crowd: (G,) bool.
    dt_image, dt_label: (D,) int; dt_counts: the D masks (likewise); dt_score: (D,) finite.
    n_labels: K; label indices are in [0, K).
    height_width: (n_images, 2) int, (h, w) of each image index (must cover every image index used).

    Detection area = mask area (`MaskSet.areas`); boxes = `MaskSet.bboxes` (see the module docstring:
    not used by the numbers). Image index order must be ascending image id order; within an image the
    arrays keep input order (ties), as `coco_evaluate`.
    """
    return coco_result(*coco_match_segm(gt_image, gt_label, gt_counts, gt_area, gt_crowd, dt_image, dt_label,
                                        dt_counts, dt_score, n_labels, height_width))


def coco_match_segm(gt_image, gt_label, gt_counts, gt_area, gt_crowd, dt_image, dt_label, dt_counts,
                    dt_score, n_labels: int, height_width, keep_rows: bool = False
                    ) -> tuple[CocoMatches, CocoEvidence]:
    """The matching of `coco_evaluate_segm` (same arguments), before accumulation (`coco_match`, whose
    `keep_rows` it takes)."""
    hw = np.asarray(height_width, dtype=np.int64).reshape(-1, 2)
    gt_image = np.asarray(gt_image, dtype=np.int64).reshape(-1)
    dt_image = np.asarray(dt_image, dtype=np.int64).reshape(-1)
    if len(gt_counts) != gt_image.size:
        raise ValueError(f"gt_counts has {len(gt_counts)} masks for {gt_image.size} ground truths")
    if len(dt_counts) != dt_image.size:
        raise ValueError(f"dt_counts has {len(dt_counts)} masks for {dt_image.size} detections")
    for name, images in (("gt_image", gt_image), ("dt_image", dt_image)):
        if images.size and (images.min() < 0 or images.max() >= len(hw)):
            raise ValueError(f"{name} must lie in [0, len(height_width)) = [0, {len(hw)})")

    def prepare(masks, images) -> MaskSet:
        masks = _mask_set(masks, hw[images])
        h, w = hw[images, 0], hw[images, 1]
        wrong = np.flatnonzero((masks.h != h) | (masks.w != w))
        bad = (int(wrong[0]), f"mask size {masks.h[wrong[0]]}x{masks.w[wrong[0]]} differs from its image's") \
            if wrong.size else masks.check()
        if bad is not None:
            i, problem = bad
            raise ValueError(f"mask {i} (image index {images[i]}, {h[i]}x{w[i]}): {problem}")
        return masks

    gts = prepare(gt_counts, gt_image)
    dts = prepare(dt_counts, dt_image)
    # coco_evaluate keeps the pairs with IoU >= this (its _candidate_pairs): lower ones need not be exact
    fn = mask_pair_iou_fn(dts, gts, gt_crowd, min_iou=min(float(IOU_THRESHOLDS.min()), 1 - 1e-10))
    return coco_match(gt_image, gt_label, gts.bboxes(), gt_area, gt_crowd, dt_image, dt_label, dts.bboxes(),
                      dt_score, n_labels, dt_area=dts.areas().astype(np.float64), pair_iou_fn=fn,
                      keep_rows=keep_rows)
