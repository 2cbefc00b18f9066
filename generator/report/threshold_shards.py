"""The confusion at t*, the errors and the images' rows of a detection report on a Dask cluster
(docs/cluster.md): by shards of whole images, one task each on the workers; the driver adds up the confusions'
counts (`add_cells`) and joins the shards' errors and image rows in shard order (`BoxMistakes.joined`,
`ImageRows.joined`: the same rows, numbered the same) as each shard's come in (`each_task`).

All of them look at one image at a time, and so does the VOC matching they read: a shard's task matches its
own rows (`match_detections`), which gives that part of the whole matching, as the label groups' tasks gave it
(`evalsite.report.matching_groups`), types its errors (`confusion_and_errors`) and makes its rows
(`evalsite.report.detection_rows.error_and_image_rows`, with the whole's per-label thresholds and recalls). So
the driver needs the matching's flags only, not its per-row indices and IoUs (24 bytes per detection), nor the
error types (17 bytes per detection), nor their IoU pairs (of every detection above t* with every object of its
image), nor, for masks, the mask geometry, nor the confusion's per-row arrays (`Confusion.of_counts`); and the
errors' likely label errors and the images' boxes are found on the workers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evalsite.core.cluster import Cluster, each_task
from evalsite.core.detection_data import DetectionData
from evalsite.core.image_info import ImageInfo
from evalsite.core.on_disk import is_ascending
from evalsite.metrics.arrays import counts_of, rows_by_group
from evalsite.metrics.cells import Cells, add_cells
from evalsite.metrics.detection import confusion_and_errors
from evalsite.metrics.detection_confusion import Confusion
from evalsite.metrics.mask_matching import pairing
from evalsite.metrics.matching import match_detections
from evalsite.metrics.pairs import chunk_bounds
from evalsite.report.detection_model import BoxMistakes, ImageRows, columns_on_disk
from evalsite.report.detection_rows import error_and_image_rows


def rows_on_cluster(cluster: Cluster, data: DetectionData, infos: list[ImageInfo], threshold: float,
                    iou_threshold: float, thresholds: np.ndarray, label_recall: np.ndarray
                    ) -> tuple[Confusion, tuple[BoxMistakes, ImageRows]]:
    """(the confusion at t* = `threshold`, of it its counts: `Confusion.of_counts`; the report's errors and image
    rows: `error_and_image_rows`) of `data` and its VOC matching at `iou_threshold`, with boxes, or masks when it
    has them (the mask IoU, its pruning boxes and the boxes' "mask_quality" type, as `evaluate_detection` takes
    them), computed on the cluster's workers by shards of `cluster.shard_images` images, at the priority of work
    the driver waits for; each shard's task matches its rows. `infos`: the images' checks; `thresholds`,
    `label_recall`: the whole's (`error_and_image_rows`). A shard's part is cut from `data` when it is sent,
    one at a time."""
    n_images = len(data.images)
    # (one shard, empty, without images: its task still gives the empty result)
    shards = chunk_bounds(np.ones(n_images, dtype=np.int64), cluster.shard_images)
    dt_rows, gt_rows = _rows_of_images(data.dt_image, n_images), _rows_of_images(data.gt_image, n_images)

    def part(shard: tuple[int, int]) -> tuple:
        i0, i1 = shard
        return (_shard_data(data, i0, i1, dt_rows(i0, i1), gt_rows(i0, i1)), infos[i0:i1], threshold,
                iou_threshold, thresholds, label_recall)

    counts: list[Cells] = []
    errors: list[tuple[int, BoxMistakes]] = []
    images: list[ImageRows] = []
    for (i0, _), (cells, shard_errors, shard_images) in zip(shards, each_task(cluster, _shard_at_threshold, shards,
                                                                              part, priority=0)):
        counts.append(cells)  # (the rows' arrays wait on disk to be joined: `columns_on_disk`)
        errors.append((i0, columns_on_disk(shard_errors)))
        images.append(columns_on_disk(shard_images))
    return Confusion.of_counts(add_cells(counts), threshold, iou_threshold), (
        BoxMistakes.joined(errors, data.images, data.image_ids, data.labels),
        ImageRows.joined(images, data.images, data.image_ids))


def _rows_of_images(image: np.ndarray, n_images: int) -> Callable[[int, int], np.ndarray]:
    """rows(i0, i1): the rows of images i0..i1-1, ascending. Rows in image order, as the readers give them,
    are a range, found by counting each image's rows; others are grouped by image once (`rows_by_group`: 8 bytes
    a row, 0.13 GB at 200,000 COCO-like images). Both read `image` a block at a time (on a cluster the
    detections' images are on this machine's disk)."""
    if is_ascending(image):
        bounds = np.r_[0, np.cumsum(counts_of(image, n_images))]
        return lambda i0, i1: np.arange(bounds[i0], bounds[i1])
    by_image, bounds = rows_by_group(image, n_images)
    return lambda i0, i1: np.sort(by_image[bounds[i0]:bounds[i1]])


def _shard_data(data: DetectionData, i0: int, i1: int, d: np.ndarray, g: np.ndarray) -> DetectionData:
    """Images i0..i1-1 of `data` (numbered from 0) with their detections d and objects g (ascending rows)."""
    return DetectionData(
        labels=data.labels, label_ids=data.label_ids, images=data.images[i0:i1], image_ids=data.image_ids[i0:i1],
        widths=data.widths[i0:i1], heights=data.heights[i0:i1], gt_image=data.gt_image[g] - i0,
        gt_label=data.gt_label[g], gt_box=data.gt_box[g], gt_area=data.gt_area[g], gt_crowd=data.gt_crowd[g],
        gt_difficult=data.gt_difficult[g], gt_id=data.gt_id[g], dt_image=data.dt_image[d] - i0,
        dt_label=data.dt_label[d], dt_box=data.dt_box[d], dt_score=data.dt_score[d],
        gt_masks=None if data.gt_masks is None else data.gt_masks.piece(g),
        dt_masks=None if data.dt_masks is None else data.dt_masks.piece(d))


def _shard_at_threshold(part: tuple, shard: tuple[int, int], _) -> tuple[Cells, BoxMistakes, ImageRows]:
    """A task of `rows_on_cluster`: one shard's VOC matching, and its confusion counts, errors and image rows."""
    data, infos, threshold, iou_threshold, thresholds, label_recall = part
    gt = (data.gt_image, data.gt_label, data.gt_box, data.gt_difficult, data.gt_crowd)
    dt = (data.dt_image, data.dt_label, data.dt_box, data.dt_score)
    masks = None if data.gt_masks is None else (data.gt_masks, data.dt_masks)
    # As `evaluate_detection` takes them: with masks, the mask IoU, pruning boxes that contain each mask, and
    # the given boxes for the "mask_quality" type
    pair_iou_fn, dt_prune, gt_prune = pairing(dt[2], gt[2], gt[4], masks)
    quality_boxes = None if masks is None else (dt[2], gt[2])
    gt, dt = (*gt[:2], gt_prune, *gt[3:]), (*dt[:2], dt_prune, dt[3])
    n_labels = len(data.labels)
    matching = match_detections(*gt, *dt, iou_threshold=iou_threshold, pair_iou_fn=pair_iou_fn, n_labels=n_labels)
    confusion, types = confusion_and_errors(matching, gt, dt, threshold, iou_threshold, n_labels, pair_iou_fn,
                                            quality_boxes, score_order=matching.order)
    del gt, dt, pair_iou_fn
    errors, images = error_and_image_rows(data, matching, types, threshold, thresholds, label_recall, infos)
    return confusion.counts, errors, images
