"""95% intervals of a report's headline and per-label numbers (evalsite.metrics.bootstrap), as report data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evalsite.core.cluster import Cluster, Pieces, row_pieces
from evalsite.core.parallel import SpareCore
from evalsite.metrics.arrays import counts_of, index_array, label_row_blocks, rows_of
from evalsite.metrics.bootstrap import (
    RESAMPLES,
    SEED,
    classification_resampled,
    detection_label_samples,
    detection_means,
    detection_resampled,
    join_label_samples,
    label_range,
    percentile_interval,
    resample_weights,
    wilson_interval,
)
from evalsite.metrics.coco import CocoEvidence
from evalsite.metrics.coco_bootstrap import (
    coco_label_samples,
    coco_means,
    coco_resampled,
)
from evalsite.metrics.pairs import chunk_bounds
from evalsite.report.model import Intervals

METHOD = "percentile bootstrap over images"
LEVEL = 0.95
# Detections and objects x all resamples in one Dask task of the intervals (`_on_cluster`): about 0.2 GB of a
# worker's memory at work, besides the resamples (one byte per image and resample)
TASK_ITEMS = 1_000_000
PER_LABEL = {"label_precision": "precision", "label_recall": "recall", "label_f1": "f1", "label_ap50": "ap50",
             "label_coco_ap": "ap"}


def _pair(values: np.ndarray) -> list[float] | None:
    interval = percentile_interval(values, LEVEL)
    return None if interval is None else [interval[0], interval[1]]


def _split(resampled: dict[str, np.ndarray], n_labels: int) -> tuple[dict, list[dict[str, list[float] | None]]]:
    headline = {k: _pair(v) for k, v in resampled.items() if k not in PER_LABEL}
    per_label = [{PER_LABEL[k]: _pair(v[:, c]) for k, v in resampled.items() if k in PER_LABEL}
                 for c in range(n_labels)]
    return headline, per_label


def classification_intervals(true: np.ndarray, predicted: np.ndarray, true_rank: np.ndarray,
                             n_labels: int) -> tuple[Intervals, list[dict[str, list[float] | None]]]:
    """(Intervals of accuracy, macro P/R/F1 and top-k, per label {precision, recall, f1} by label index)."""
    weights = report_weights(len(true))
    headline, per_label = _split(classification_resampled(true, predicted, true_rank, n_labels, weights), n_labels)
    wilson = wilson_interval(int((np.asarray(true) == np.asarray(predicted)).sum()), len(true))
    return (Intervals(method=METHOD, resamples=RESAMPLES, seed=SEED, level=LEVEL, metrics=headline,
                      accuracy_wilson=None if wilson is None else list(wilson)), per_label)


def detection_intervals(dt_image, dt_label, dt_score, dt_tp, gt_image, gt_label, n_images: int, n_labels: int,
                        threshold: float | None, weights: np.ndarray | None = None, threads: int = 2,
                        cluster: Cluster | None = None) -> tuple[Intervals, list[dict[str, list[float] | None]]]:
    """(Intervals of mAP50 and P/R/F1 at t*, per label {ap50, precision, recall, f1} by label index). COCO
    AP's come from `coco_intervals`, on COCO's own matching. `weights`: `report_weights(n_images)`,
    when already drawn. With a Dask `cluster`, computed on its workers by label groups instead
    (`_on_cluster`): the same values."""
    if cluster is not None:
        samples = _on_cluster(cluster, n_images, n_labels, dt_label, gt_label,
                              lambda start, stop: np.asarray(dt_tp[start:stop]) > 0,
                              lambda group: _group_pieces((dt_image, dt_score, dt_tp), dt_label, gt_image, gt_label,
                                                          group, _voc_evidence_built, n_images, threshold),
                              _voc_group_samples)
        resampled = detection_means(join_label_samples(samples))
    else:
        weights = report_weights(n_images) if weights is None else weights
        resampled = detection_resampled(dt_image, dt_label, dt_score, dt_tp, gt_image, gt_label, n_images,
                                        n_labels, threshold, weights, threads)
    headline, per_label = _split(resampled, n_labels)
    return Intervals(method=METHOD, resamples=RESAMPLES, seed=SEED, level=LEVEL, metrics=headline), per_label


def coco_intervals(evidence: CocoEvidence, n_images: int, n_labels: int, weights: np.ndarray | None = None,
                   threads: int = 2, spare: SpareCore | None = None, cluster: Cluster | None = None,
                   ) -> tuple[dict[str, list[float] | None], list[dict[str, list[float] | None]]]:
    """({"coco.AP", "coco.AP50", "coco.AP75": interval}, per label {ap} by label index), on the same
    resamples as `detection_intervals` (`spare`: see `coco_resampled`). With a Dask `cluster`, computed on
    its workers by label groups instead (`_on_cluster`): the same values."""
    if cluster is None:
        weights = report_weights(n_images) if weights is None else weights
        return _split(coco_resampled(evidence, n_images, n_labels, weights, threads, spare), n_labels)
    # the detections that are not false positives at every threshold (the others are summed once)
    packed = evidence.packed()  # (the flags as the driver keeps them: 2 bytes per detection)

    def flagged(start: int, stop: int) -> np.ndarray:  # (a block at a time: the flags are on the driver's disk)
        return (np.asarray(packed.tp[start:stop]) | np.asarray(packed.ignored[start:stop])) != 0

    samples = _on_cluster(cluster, n_images, n_labels, evidence.dt_label, evidence.gt_label, flagged,
                          lambda group: _group_pieces((packed.dt_image, packed.tp, packed.ignored), packed.dt_label,
                                                      packed.gt_image, packed.gt_label, group, _coco_evidence_built,
                                                      n_images),
                          _coco_group_samples)
    return _split(coco_means(join_label_samples(samples)), n_labels)


def label_groups(dt_label, gt_label, n_labels: int) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """The label groups of a report's Dask tasks: consecutive label ranges [k0, k1) holding about TASK_ITEMS
    detections and objects each (a larger label alone); and each label's detections + objects, and objects."""
    objects = counts_of(gt_label, minlength=n_labels)
    sizes = counts_of(dt_label, minlength=n_labels) + objects
    return chunk_bounds(sizes, TASK_ITEMS), sizes, objects


def _on_cluster(cluster: Cluster, n_images: int, n_labels: int, dt_label, gt_label,
                costly: Callable[[int, int], np.ndarray], make, work) -> list:
    """`work(make(group), (group, rows), weights)` for groups of consecutive labels holding about TASK_ITEMS
    detections and objects each and, for a group holding more (a single large label), for blocks of
    resample rows, so that a task's working set stays about that of TASK_ITEMS items on all the resamples
    (a group's part is sent once for all its blocks); one Dask task each, the costliest first (a label's
    time grows with its objects and its `costly` detections, a function of (start, stop) giving those rows'
    flags; the order changes no value); the values of
    each group (rows joined) in label order.

    Labels are independent, and so are resamples: a group's values are those labels' columns of one run
    over all labels, and a block's those rows. The resamples (`report_weights`, a seeded draw, the same on
    every machine) are drawn once on a worker: the driver never holds them, nor the resampling's working
    set (about 200 bytes per detection: 0.8 GB at 50,000 COCO-like images for COCO AP's alone)."""
    from evalsite.core.cluster import run_tasks

    groups, sizes, objects = label_groups(dt_label, gt_label, n_labels)
    cost = np.cumsum(np.r_[0, counts_of(dt_label, n_labels, where=costly) + objects])
    total = np.cumsum(np.r_[0, sizes])
    specs = []
    for k0, k1 in groups:
        blocks = min(RESAMPLES, max(1, -(-int(total[k1] - total[k0]) // TASK_ITEMS)))
        edges = np.linspace(0, RESAMPLES, blocks + 1).round().astype(int)
        specs += [((k0, k1), (int(r0), int(r1))) for r0, r1 in zip(edges[:-1], edges[1:])]
    specs.sort(key=lambda spec: -(cost[spec[0][1]] - cost[spec[0][0]]) * (spec[1][1] - spec[1][0]))

    values = run_tasks(cluster, work, specs, make, (report_weights, (n_images,)), key=lambda spec: spec[0])
    blocks_of: dict = {group: [] for group in groups}
    for (group, _), value in sorted(zip(specs, values), key=lambda pair: pair[0]):  # rows in order
        blocks_of[group].append(value)
    return [{name: np.concatenate([block[name] for block in blocks], axis=0) for name in blocks[0]}
            for blocks in blocks_of.values()]


def _group_pieces(dt_columns: tuple, dt_label, gt_image, gt_label, group: tuple[int, int], build, *extra) -> Pieces:
    """Labels k0..k1-1's part of the evidence, renumbered from 0, sent to a worker as `Pieces`: fixed, the
    objects' (image, label) and (k1 - k0, *extra); a block of detections at a time (`row_pieces`), their
    `dt_columns` with their label second (as `label_columns` and `label_evidence` cut them: the same
    arrays once joined). A large label's part (about 25 bytes per detection) is not whole on the driver."""
    k0, k1 = group
    gt, gt_labels = label_range(gt_label, k0, k1)

    def cut(rows: np.ndarray) -> tuple:
        first, *rest = (rows_of(column, rows) for column in dt_columns)
        return first, index_array(rows_of(dt_label, rows)) - k0, *rest

    return Pieces(build, ((rows_of(gt_image, gt), gt_labels), k1 - k0, *extra),
                  row_pieces(label_row_blocks(dt_label, k0, k1), cut))


def _voc_evidence_built(fixed: tuple, dt: tuple) -> tuple:
    """`_group_pieces` of `detection_intervals` made whole (on the worker): `_voc_group_samples`' part."""
    gt, n_labels, n_images, threshold = fixed
    return (*dt, *gt), n_images, n_labels, threshold


def _coco_evidence_built(fixed: tuple, dt: tuple) -> tuple:
    """`_group_pieces` of `coco_intervals` made whole (on the worker): `_coco_group_samples`' part, its flags
    still packed (2 bytes per detection where unpacked they take 20: unpacked there)."""
    gt, n_labels, n_images = fixed
    return CocoEvidence(*dt, *gt), n_images, n_labels


def _coco_group_samples(part: tuple, spec: tuple, weights: np.ndarray) -> dict:
    """A task of `coco_intervals` on a cluster: one label group's `coco_label_samples`, on the resamples
    r0..r1-1 (spec: (group, (r0, r1)))."""
    evidence, n_images, n_labels = part
    r0, r1 = spec[1]
    return coco_label_samples(evidence.unpacked(), n_images, n_labels, weights[r0:r1], threads=1)


def _voc_group_samples(part: tuple, spec: tuple, weights: np.ndarray) -> dict:
    """A task of `detection_intervals` on a cluster: one label group's `detection_label_samples`, on the
    resamples r0..r1-1 (spec: (group, (r0, r1)))."""
    columns, n_images, n_labels, threshold = part
    r0, r1 = spec[1]
    return detection_label_samples(*columns, n_images, n_labels, threshold, weights[r0:r1], threads=1)


def report_weights(n_images: int, out: np.ndarray | None = None) -> np.ndarray:
    """The resamples of every interval of a report (`resample_weights` with the report's count and seed),
    in `out` when given."""
    return resample_weights(n_images, RESAMPLES, SEED, out)
