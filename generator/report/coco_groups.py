"""The COCO evaluation of a detection report on a Dask cluster (docs/cluster.md): matching and accumulation
by groups of consecutive labels, one task each on the workers; the driver joins the per-label summaries.

COCO evaluates each (image, label) on its own and accumulates each label on its own: the matching of a range
of labels, renumbered from 0 with the images and the input order kept, is that part of the whole matching,
and its accumulation those labels' entries (`evalsite.metrics.coco.coco_match`). The 12 numbers are means
over all labels' entries, taken on the driver from the joined entries in pycocotools' order
(`join_label_summaries`), so they are bit for bit those of one process. The driver keeps neither the pairs,
the match table nor the accumulation's working arrays: about 190 bytes per detection at their peak on one
process (0.75 GB at 50,000 COCO-like images), now a task's, for its group of about `TASK_ITEMS` items.
"""

from __future__ import annotations

import numpy as np

from evalsite.core.cluster import Cluster, run_tasks
from evalsite.core.detection_data import DetectionData
from evalsite.metrics.coco import CocoEvidence, area_ignored, coco_match
from evalsite.metrics.coco_accumulate import CocoLabelSummary, join_label_summaries
from evalsite.metrics.segm import coco_match_segm
from evalsite.report.intervals import label_groups


def coco_on_cluster(cluster: Cluster, data: DetectionData) -> tuple[np.ndarray, np.ndarray, CocoEvidence]:
    """(stats (12,), per-label AP@[.50:.95] (K,), the `CocoEvidence` with its flags packed) of `data` (boxes,
    or masks when it has them), as `coco_evaluate` / `coco_evaluate_segm` give them, computed on the cluster's
    workers by label group (the largest first). A group's part is cut from `data` when it is sent, one at a
    time."""
    n_labels = len(data.labels)
    groups, sizes, _ = label_groups(data.dt_label, data.gt_label, n_labels)
    total = np.cumsum(np.r_[0, sizes])
    specs = sorted(groups, key=lambda group: -(total[group[1]] - total[group[0]]))
    values = dict(zip(specs, run_tasks(cluster, _coco_group, specs, lambda group: _group_part(data, group))))
    parts = [values[group] for group in groups]
    stats, per_label_ap, _ = join_label_summaries([summary for summary, *_ in parts])
    counted = ~area_ignored(np.asarray(data.gt_area, dtype=np.float64), np.asarray(data.gt_crowd, dtype=bool))[0]
    evidence = CocoEvidence(dt_image=np.concatenate([part[1] for part in parts]),
                            dt_label=np.concatenate([part[2] + k0 for part, (k0, _) in zip(parts, groups)]),
                            tp=np.concatenate([part[3] for part in parts]),
                            ignored=np.concatenate([part[4] for part in parts]),
                            gt_image=data.gt_image[counted], gt_label=data.gt_label[counted])
    return stats, per_label_ap, evidence


def _group_part(data: DetectionData, group: tuple[int, int]) -> tuple[bool, tuple]:
    """The arguments of `coco_match` (or `coco_match_segm`) for labels k0..k1-1, renumbered from 0."""
    k0, k1 = group
    d = np.flatnonzero((data.dt_label >= k0) & (data.dt_label < k1))
    g = np.flatnonzero((data.gt_label >= k0) & (data.gt_label < k1))
    gt = (data.gt_image[g], data.gt_label[g] - k0)
    dt = (data.dt_image[d], data.dt_label[d] - k0)
    if data.gt_masks is not None:
        hw = np.stack([data.heights, data.widths], axis=1)
        return True, (*gt, data.gt_masks.take(g), data.gt_area[g], data.gt_crowd[g], *dt, data.dt_masks.take(d),
                      data.dt_score[d], k1 - k0, hw)
    return False, (*gt, data.gt_box[g], data.gt_area[g], data.gt_crowd[g], *dt, data.dt_box[d], data.dt_score[d],
                   k1 - k0)


def _coco_group(part: tuple[bool, tuple], group: tuple[int, int], _) -> tuple[CocoLabelSummary, ...]:
    """A task of `coco_on_cluster`: one label group's matching, its `label_summary` and the detections'
    columns of its evidence (labels from 0), the flags packed (`CocoEvidence.packed`)."""
    masks, args = part
    matches, evidence = (coco_match_segm if masks else coco_match)(*args)
    evidence = evidence.packed()
    return (matches.label_summary(), evidence.dt_image, evidence.dt_label, evidence.tp, evidence.ignored)
