"""COCO instance-segmentation metrics: pycocotools' `COCOeval(gt, dt, "segm")` with default parameters, in
numpy, on run-length encoded masks (`generator.metrics.masks`).

This is `generator.metrics.coco.coco_evaluate` (all of its definitions hold: thresholds, area ranges,
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
  They are still valid pruning boxes for callers that do prune (e.g. `generator.metrics.detection`): a
  non-empty mask lies inside its `rle_bbox` (x range tight; the y range is widened to the full height when
  a run of 1s crosses a column), so box-disjoint implies mask-disjoint implies IoU 0. An empty mask has
  IoU 0 with everything whatever its box.
* Masks of different sizes (which pycocotools scores -1, never a match) get IoU 0 here; in
  `coco_evaluate_segm` every mask must have its image's size, so this never happens there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from generator.metrics.coco import CocoResult, coco_evaluate
from generator.metrics.masks import rle_area, rle_bbox, rle_from_string, rle_iou_pairs, validate_counts

__all__ = ["mask_pair_iou_fn", "coco_evaluate_segm"]


def _as_counts(c) -> np.ndarray:
    """Counts as int64: a compressed string / bytes is decoded (rleFrString), anything else is an array."""
    if isinstance(c, (str, bytes, bytearray)):
        return rle_from_string(c)
    return np.asarray(c, dtype=np.int64).reshape(-1)


def _size_keys(counts: list[np.ndarray], hw) -> np.ndarray:
    """One int key per mask: its (h, w) when sizes are given, else its pixel total."""
    if hw is None:
        return np.array([int(c.sum()) for c in counts], dtype=np.int64)
    hw = np.asarray(hw, dtype=np.int64).reshape(-1, 2)
    if len(hw) != len(counts):
        raise ValueError(f"need one (h, w) per mask ({len(counts)}), got {len(hw)}")
    return hw[:, 0] * (1 << 31) + hw[:, 1]


def mask_pair_iou_fn(dt_counts: Sequence, gt_counts: Sequence, gt_crowd, dt_hw=None,
                     gt_hw=None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """`f(dt_idx, gt_idx) -> iou` (float64, one per pair) for `coco_evaluate` / `evaluate_detection`.

    dt_counts, gt_counts: RLE counts per mask (int arrays, or compressed strings as pycocotools'
        'counts', decoded once here). gt_crowd: (G,) bool, one flag per ground truth.
    dt_hw, gt_hw: optional (N, 2) mask sizes (h, w). Without them masks are told apart by pixel total only.

    IoU is pycocotools' rleIou (bit-identical, via `rle_iou_pairs`): 0 when the intersection is empty,
    intersection / detection area for a crowd ground truth, else intersection / union. Pairs whose masks
    differ in size get 0 (pycocotools: -1; both are below every threshold). Box-disjoint pairs get 0, as
    `evaluate_detection`'s pruning requires, when the boxes are the masks' `rle_bbox`.
    """
    dts = [_as_counts(c) for c in dt_counts]
    gts = [_as_counts(c) for c in gt_counts]
    crowd = np.asarray(gt_crowd, dtype=bool).reshape(-1)
    if crowd.size != len(gts):
        raise ValueError(f"gt_crowd needs one flag per ground truth ({len(gts)}), got {crowd.size}")
    dt_key = _size_keys(dts, dt_hw)
    gt_key = _size_keys(gts, gt_hw)
    # Masks grouped by size; local index of each mask inside its group.
    groups: dict[int, tuple[list, list, np.ndarray]] = {}
    dt_local = np.zeros(len(dts), dtype=np.int64)
    gt_local = np.zeros(len(gts), dtype=np.int64)
    for key in np.union1d(dt_key, gt_key).tolist():
        d_sel = np.flatnonzero(dt_key == key)
        g_sel = np.flatnonzero(gt_key == key)
        dt_local[d_sel] = np.arange(d_sel.size)
        gt_local[g_sel] = np.arange(g_sel.size)
        groups[key] = ([dts[i] for i in d_sel], [gts[i] for i in g_sel], crowd[g_sel])

    def fn(dt_idx, gt_idx) -> np.ndarray:
        d = np.asarray(dt_idx, dtype=np.int64).reshape(-1)
        g = np.asarray(gt_idx, dtype=np.int64).reshape(-1)
        if d.shape != g.shape:
            raise ValueError("dt_idx and gt_idx must have the same length")
        out = np.zeros(d.size, dtype=np.float64)
        if d.size == 0:
            return out
        kd, kg = dt_key[d], gt_key[g]
        same = kd == kg
        for key in np.unique(kd[same]).tolist():
            sel = np.flatnonzero(same & (kd == key))
            g_dts, g_gts, g_crowd = groups[key]
            out[sel] = rle_iou_pairs(g_dts, g_gts, dt_local[d[sel]], gt_local[g[sel]], g_crowd)
        return out

    return fn


def coco_evaluate_segm(gt_image, gt_label, gt_counts, gt_area, gt_crowd, dt_image, dt_label, dt_counts,
                       dt_score, n_labels: int, height_width) -> CocoResult:
    """COCO segmentation evaluation, equal to pycocotools' `COCOeval(gt, dt, "segm")` (see the module
    docstring for the definitions).

    gt_image, gt_label: (G,) int, 0-based image and label index of each ground truth object.
    gt_counts: G RLE counts (int arrays or compressed strings), each of its image's size; polygons and
        uncompressed RLE are converted by the caller (`rle_from_polygons`, as pycocotools' annToRLE).
    gt_area: (G,) the annotation's `area` field (decides the area ranges; not the mask area).
    gt_crowd: (G,) bool.
    dt_image, dt_label: (D,) int; dt_counts: D RLE counts, each of its image's size; dt_score: (D,) finite.
    n_labels: K; label indices are in [0, K).
    height_width: (n_images, 2) int, (h, w) of each image index (must cover every image index used).

    Detection area = mask area (`rle_area`); boxes = `rle_bbox` of the masks (see the module docstring:
    not used by the numbers). Image index order must be ascending image id order; within an image the
    arrays keep input order (ties), as `coco_evaluate`.
    """
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

    def prepare(counts_list, images):
        counts, boxes = [], np.zeros((len(counts_list), 4), dtype=np.float64)
        for i, (c, im) in enumerate(zip(counts_list, images.tolist())):
            h, w = int(hw[im, 0]), int(hw[im, 1])
            try:
                arr = validate_counts(_as_counts(c), h, w)
            except ValueError as e:
                raise ValueError(f"mask {i} (image index {im}, {h}x{w}): {e}") from None
            counts.append(arr)
            boxes[i] = rle_bbox(arr, h, w)
        return counts, boxes

    gts, gt_box = prepare(gt_counts, gt_image)
    dts, dt_box = prepare(dt_counts, dt_image)
    dt_area = np.array([rle_area(c) for c in dts], dtype=np.float64)
    fn = mask_pair_iou_fn(dts, gts, gt_crowd, dt_hw=hw[dt_image], gt_hw=hw[gt_image])
    return coco_evaluate(gt_image, gt_label, gt_box, gt_area, gt_crowd, dt_image, dt_label, dt_box, dt_score,
                         n_labels, dt_area=dt_area, pair_iou_fn=fn)
