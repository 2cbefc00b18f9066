"""A segmentation's label groups cut into windows of images for the cluster's matching tasks (docs/cluster.md).

A label group's masks, objects' and detections', go to the worker that matches the group. COCO's "person"
alone holds about 74 M counts at 20,000 COCO-like images (0.3 GB) and ten times that at 200,000: no worker
of a few GB takes them, whatever the grouping of labels. COCO and VOC match each image on its own, so a
group whose masks hold more than MASK_WINDOW_COUNTS counts is matched by windows of consecutive images, one
task each, whose masks hold at most that many (an image at least); the matching of the group is then joined
from its windows' (`evalsite.report.matching_groups`). A window's rows are consecutive: `read_detection`
keeps the objects and the detections in image order. Where they are not (a `DetectionData` built otherwise),
groups are matched whole, as before.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from evalsite.core.detection_data import DetectionData
from evalsite.core.on_disk import is_ascending
from evalsite.metrics.arrays import counts_of, label_row_blocks
from evalsite.metrics.pairs import chunk_bounds

MASK_WINDOW_COUNTS = 1 << 25  # masks' counts (objects' and detections') of a window's task: 128 MB


class Window(NamedTuple):
    """The rows of a window of consecutive images: detections d0..d1-1, objects g0..g1-1; `of`: its group's
    number of windows."""

    d0: int
    d1: int
    g0: int
    g1: int
    of: int


def image_windows(data: DetectionData, groups: list[tuple[int, int]], limit: int | None = None
                  ) -> dict[tuple[int, int], list[Window | None]]:
    """Each label group's windows (`Window`), in image order, whose masks hold at most `limit`
    (MASK_WINDOW_COUNTS) counts each (an image at least); [None] for a group matched whole: one whose masks fit,
    every group without masks or when the rows are not in image order."""
    whole: dict[tuple[int, int], list[Window | None]] = {group: [None] for group in groups}
    if data.dt_masks is None or data.gt_masks is None or not (is_ascending(data.dt_image)
                                                              and is_ascending(data.gt_image)):
        return whole
    limit = limit or MASK_WINDOW_COUNTS
    n_images = len(data.images)
    dt_start = np.r_[0, np.cumsum(counts_of(data.dt_image, minlength=n_images))]
    gt_start = np.r_[0, np.cumsum(counts_of(data.gt_image, minlength=n_images))]
    out = {}
    for group in groups:
        per_image = (_counts_per_image(data.dt_masks, data.dt_image, data.dt_label, group, n_images)
                     + _counts_per_image(data.gt_masks, data.gt_image, data.gt_label, group, n_images))
        bounds = chunk_bounds(per_image, limit)  # (one range when they fit)
        out[group] = whole[group] if len(bounds) == 1 else [
            Window(int(dt_start[i0]), int(dt_start[i1]), int(gt_start[i0]), int(gt_start[i1]), len(bounds))
            for i0, i1 in bounds]
    return out


def _counts_per_image(masks, image, labels, group: tuple[int, int], n_images: int) -> np.ndarray:
    """(n_images,) the counts of the masks of labels k0..k1-1 in each image, found a block of rows at a time."""
    out = np.zeros(n_images, np.int64)
    for rows in label_row_blocks(labels, *group):
        if rows.size:
            out += np.bincount(np.asarray(image[rows]), minlength=n_images,
                               weights=np.asarray(masks.ptr[rows + 1]) - np.asarray(masks.ptr[rows])).astype(np.int64)
    return out


def window_rows(labels, group: tuple[int, int], rows: tuple[int, int] | None) -> np.ndarray:
    """The rows of labels k0..k1-1 (ascending), among rows r0..r1-1 when given (a window's)."""
    return np.concatenate([np.zeros(0, np.int64), *window_row_blocks(labels, group, rows)])


def window_row_blocks(labels, group: tuple[int, int], rows: tuple[int, int] | None):
    """`window_rows` a block at a time (`label_row_blocks`)."""
    if rows is None:
        return label_row_blocks(labels, *group)
    r0, r1 = rows
    return (found + r0 for found in label_row_blocks(np.asarray(labels[r0:r1]), *group))
