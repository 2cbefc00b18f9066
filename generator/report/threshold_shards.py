"""The confusion and the error types at t* of a detection report on a Dask cluster (docs/cluster.md): by shards
of whole images, one task each on the workers; the driver joins the types (`evalsite.metrics.detection.
join_error_types`: the same values bit for bit) each shard's as it comes in (`each_task`: one shard's values
held at a time, not all of them, 0.2 GB at 50,000 COCO-like images) and adds up the confusions' counts
(`add_cells`).

Both look at one image at a time, and so does the VOC matching they read: a shard's task matches its own rows
(`match_detections`), which gives that part of the whole matching, as the label groups' tasks gave it
(`evalsite.report.matching_groups`). So the driver needs the matching's flags only, not its per-row indices
and IoUs (24 bytes per detection); nor does it keep the types' IoU pairs (of every detection above t* with
every object of its image), for masks the mask geometry, nor the confusion's per-row arrays, which the report
does not read (`Confusion.of_counts`).
"""

from __future__ import annotations

import numpy as np

from evalsite.core.cluster import Cluster, each_task
from evalsite.core.detection_data import DetectionData
from evalsite.metrics.arrays import rows_by_group
from evalsite.metrics.cells import Cells, add_cells
from evalsite.metrics.detection import confusion_and_errors, join_error_types
from evalsite.metrics.detection_confusion import Confusion
from evalsite.metrics.error_types import ErrorTypes
from evalsite.metrics.mask_matching import pairing
from evalsite.metrics.matching import match_detections
from evalsite.metrics.pairs import chunk_bounds


def confusion_and_errors_on_cluster(cluster: Cluster, data: DetectionData, threshold: float,
                                    iou_threshold: float) -> tuple[Confusion, ErrorTypes]:
    """`confusion_and_errors` of `data` and its VOC matching at `iou_threshold`, at t* = `threshold` (of the
    confusion, its counts: `Confusion.of_counts`), with boxes, or masks when it has them (the mask IoU, its
    pruning boxes and the boxes' "mask_quality" type, as `evaluate_detection` takes them), computed on the
    cluster's workers by shards of `cluster.shard_images` images, at the priority of work the driver waits for;
    each shard's task matches its rows. A shard's part is cut from `data` when it is sent, one at a time."""
    n_images = len(data.images)
    # (one shard, empty, without images: its task still gives the empty result)
    shards = chunk_bounds(np.ones(n_images, dtype=np.int64), cluster.shard_images)
    dt_by_image, dt_bounds = rows_by_group(data.dt_image, n_images)
    gt_by_image, gt_bounds = rows_by_group(data.gt_image, n_images)
    rows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # each shard's, found once: sent, then joined

    def part(shard: tuple[int, int]) -> tuple:
        i0, i1 = shard
        d = np.sort(dt_by_image[dt_bounds[i0]:dt_bounds[i1]])
        g = np.sort(gt_by_image[gt_bounds[i0]:gt_bounds[i1]])
        rows[shard] = d, g
        gt = (data.gt_image[g], data.gt_label[g], data.gt_box[g], data.gt_difficult[g], data.gt_crowd[g])
        dt = (data.dt_image[d], data.dt_label[d], data.dt_box[d], data.dt_score[d])
        masks = None if data.gt_masks is None else (data.gt_masks.take(g), data.dt_masks.take(d))
        return gt, dt, masks, threshold, iou_threshold, len(data.labels)

    counts: list[Cells] = []

    def typed():  # each shard's types as its task's value is in, placed and let go (`join_error_types`)
        for shard, (cells, types) in zip(shards, each_task(cluster, _shard_at_threshold, shards, part, priority=0)):
            counts.append(cells)
            yield (*rows.pop(shard), types)

    errors = join_error_types(typed(), len(data.dt_score), len(data.gt_label))
    return Confusion.of_counts(add_cells(counts), threshold, iou_threshold), errors


def _shard_at_threshold(part: tuple, shard: tuple[int, int], _) -> tuple[Cells, ErrorTypes]:
    """A task of `confusion_and_errors_on_cluster`: one shard's VOC matching, and its confusion counts and error
    types (its own indices)."""
    gt, dt, masks, threshold, iou_threshold, n_labels = part
    # As `evaluate_detection` takes them: with masks, the mask IoU, pruning boxes that contain each mask, and
    # the given boxes for the "mask_quality" type
    pair_iou_fn, dt_prune, gt_prune = pairing(dt[2], gt[2], gt[4], masks)
    quality_boxes = None if masks is None else (dt[2], gt[2])
    gt, dt = (*gt[:2], gt_prune, *gt[3:]), (*dt[:2], dt_prune, dt[3])
    matching = match_detections(*gt, *dt, iou_threshold=iou_threshold, pair_iou_fn=pair_iou_fn, n_labels=n_labels)
    confusion, errors = confusion_and_errors(matching, gt, dt, threshold, iou_threshold, n_labels, pair_iou_fn,
                                             quality_boxes, score_order=matching.order)
    return confusion.counts, errors
