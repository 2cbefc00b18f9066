"""Assemble a DetectionReport (detection or segmentation) from the inputs, the image checks and the metrics."""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from evalsite.core.cluster import Cluster, current
from evalsite.core.detection_data import DetectionData
from evalsite.core.enums import ErrorKind, ImageStatus, Rating
from evalsite.core.errors import Notice
from evalsite.core.image_info import ImageChecks, ImageInfo
from evalsite.core.on_disk import DiskArrayWriter, on_disk
from evalsite.core.parallel import Mailbox, SpareCore, forked, shared_array
from evalsite.metrics.arrays import (
    counts_of,
    descending_parts,
    gathered,
    held_indices,
    images_holding,
    index_dtype,
    score_order,
)
from evalsite.metrics.bootstrap import RESAMPLES, WEIGHT_DTYPE
from evalsite.metrics.coco import STAT_NAMES, CocoEvidence, coco_evaluate, unpack_flags
from evalsite.metrics.detection import evaluate_detection, evaluate_matching
from evalsite.metrics.detection_confusion import Confusion
from evalsite.metrics.mask_matching import mask_geometry
from evalsite.metrics.matching import Matching
from evalsite.metrics.segm import coco_evaluate_segm
from evalsite.report.confusion import confused_pairs
from evalsite.report.detection_model import (
    BoxMistakes,
    Curve,
    DetCocoEvidence,
    DetConfusion,
    DetCurves,
    DetDataset,
    DetectionReport,
    DetEvidence,
    DetFindings,
    DetLabelCount,
    DetLabelMetrics,
    DetPair,
    ImageRows,
)
from evalsite.report.detection_rows import error_and_image_rows, suspect_thresholds
from evalsite.report.findings import FEW_EXAMPLES, SHOWN
from evalsite.report.intervals import coco_intervals, detection_intervals, report_weights
from evalsite.report.matching_groups import coco_on_cluster, voc_on_cluster
from evalsite.report.model import SCHEMA, TaskInfo
from evalsite.report.threshold_shards import rows_on_cluster

# Rating of mAP@0.5: at least this value earns the rating.
DET_RATINGS = ((Rating.EXCELLENT, 0.90), (Rating.GOOD, 0.75), (Rating.FAIR, 0.50), (Rating.POOR, 0.0))


def _opt(value: float) -> float | None:
    """NaN (undefined) becomes None (null in report.json)."""
    value = float(value)
    return None if math.isnan(value) else value


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


@dataclass
class DetectionStart:
    """The work of a detection report that needs only the inputs, under way (`start_detection_report`)."""

    coco: Future  # a `_CocoPart`
    coco_intervals: Future | None  # `coco_intervals`
    intervals: Future | None  # `detection_intervals` in the other process (segmentation), once sent its input
    mailbox: Mailbox
    weights: np.ndarray | None = None  # the resamples, in memory both processes share (`_shared_weights`)
    spare: SpareCore | None = None  # offered by the caller once it waits for the other process's values
    cluster: Cluster | None = None  # the Dask cluster that computes the intervals, if any

    def cancel(self) -> None:
        """Stop the work (the report will not be built): its process ends now, not when this one does."""
        self.mailbox.cancel()


def prepare_detection_report(with_intervals: bool = True) -> None:
    """scipy.sparse imported (the bootstrap's sparse products), when the intervals are asked for: called while
    the reading has a forked child parsing (evalsite.report.kinds `prepare_report`), it is imported once
    there instead of once in each of the report's two processes (0.05-0.1 s each on their paths)."""
    if with_intervals:
        import scipy.sparse  # noqa: F401


def start_detection_report(data: DetectionData, with_intervals: bool = True) -> DetectionStart:
    """Start the COCO evaluation and its intervals of `data`'s report beside the caller (in a second
    process, `core.parallel.forked`): they are about half the work, mostly numpy, and need nothing else.
    The caller meanwhile checks the images, computes the VOC metrics and assembles the report (mostly
    Python, which a thread could not overlap: the GIL). The VOC intervals go to the process with less to
    do: the caller's for boxes; for masks, whose IoU and strings make the caller's share the larger, the
    other process's, which `build_detection_report` sends their input when it has it."""
    # With a Dask cluster COCO and the intervals run on its workers, which draw the resamples themselves
    cluster = current()  # (read here: a thread does not see this one's context)
    remote = with_intervals and data.gt_masks is not None and cluster is None  # VOC intervals in the other process
    weights = _shared_weights(len(data.images)) if with_intervals and cluster is None else None
    spare = SpareCore()
    futures, mailbox = forked(lambda receive: _background_steps(data, weights, remote, receive, spare, cluster,
                                                                with_intervals), 1 + with_intervals + remote)
    return DetectionStart(futures[0], futures[1] if with_intervals else None, futures[2] if remote else None,
                          mailbox=mailbox, weights=weights, spare=spare, cluster=cluster if with_intervals else None)


def _shared_weights(n_images: int) -> np.ndarray:
    """Room for the report's resamples (`report_weights`) that the forked process shares (untouched until
    drawn): the caller draws them once (`_build`) and sends word, and both use them."""
    return shared_array((RESAMPLES, n_images), WEIGHT_DTYPE)


def build_detection_report(data: DetectionData, infos: list[ImageInfo], task: TaskInfo,
                           notices: list[Notice], with_intervals: bool = True,
                           started: DetectionStart | None = None) -> DetectionReport:
    """The report; `started`: `start_detection_report(data, with_intervals)`, when the caller started it
    before checking the images."""
    started = started or start_detection_report(data, with_intervals)
    try:
        return _build(data, ImageChecks.of(infos), task, notices, with_intervals, started)
    except BaseException:
        started.cancel()
        raise


def _build(data: DetectionData, infos: ImageChecks, task: TaskInfo, notices: list[Notice], with_intervals: bool,
           started: DetectionStart) -> DetectionReport:
    segmentation = data.gt_masks is not None
    if started.weights is not None:  # drawn here, early: the other process waits for them after COCO's evaluation
        report_weights(len(data.images), out=started.weights)
        started.mailbox.send(_DRAWN)
    options: dict = dict(iou_threshold=task.iou_threshold or 0.5)
    # With a cluster, the VOC matching, then its AP and operating point (by label group), and the confusion and
    # error types at t* (by shard of images, each matched again there) run on its workers: the driver keeps their
    # results (of the matching, which rows count), not their IoU pairs, the mask geometry nor the sweep's arrays
    cluster = current()
    geometry = mask_geometry(data) if segmentation and cluster is None else None
    if geometry is not None:
        options.update(pair_iou_fn=geometry.iou, prune_boxes=geometry.prune_boxes)
    if cluster is not None:
        first_half = voc_on_cluster(cluster, data, options["iou_threshold"])
    else:
        first_half = evaluate_matching(data, **options)
    # (the sweep's exact grid, 16 bytes per distinct score, is not in the report: it goes now)
    matching, sweep = first_half[0], first_half[3].without_grid()
    first_half = (*first_half[:3], sweep)
    # (with a cluster, on this machine's disk, read a part at a time: the intervals' label groups, report.json)
    columns = _evidence_columns(data, matching, matching.order, kept_on_disk=cluster is not None)
    if started.intervals is not None:  # the VOC intervals need only these and t*
        started.mailbox.send((columns, _opt(sweep.point.threshold)))
    if cluster is None:
        at_threshold = made = None
    else:
        t = sweep.point.threshold
        confusion, made = rows_on_cluster(cluster, data, infos, t, options["iou_threshold"],
                                          suspect_thresholds(data, matching, t), sweep.label_recall)
        at_threshold = (confusion, None)  # (the error types stayed on the workers)
    ev = evaluate_detection(data, **options, first_half=first_half, at_threshold=at_threshold,
                            mask_quality_boxes=(data.dt_box, data.gt_box) if segmentation else None)
    # Assembling reads which rows count, the confusion's counts, the sweep's point and curves, and the error
    # types: the matching's indices, IoUs and order (32 bytes per detection), the confusion's rows (16) and the
    # mask geometry go now
    ev.matching = ev.matching.which_count()
    ev.confusion = Confusion.of_counts(ev.confusion.counts, ev.confusion.threshold, ev.confusion.iou_threshold)
    del first_half, matching, sweep, at_threshold, options, geometry
    evidence = DetEvidence(*columns)  # arrays: orjson writes them as the lists report.json holds
    return _assemble(data, infos, task, notices, ev, evidence, columns, made, started.coco,
                     started.weights if started.intervals is None else None, started.intervals,
                     started.coco_intervals, started.spare, started.cluster)


@dataclass
class _CocoPart:
    """What the report takes of the COCO evaluation (`_background_steps`): small to send between processes."""

    stats: np.ndarray
    per_label_ap: np.ndarray
    evidence: tuple[np.ndarray, ...]  # `_packed_evidence`


_DRAWN = "evalsite.report.detection.drawn"  # the caller's word: the resamples are in `DetectionStart.weights`


def _background_steps(data: DetectionData, weights: np.ndarray | None, voc_intervals: bool, receive,
                      spare: SpareCore | None = None, cluster: Cluster | None = None,
                      with_intervals: bool = True) -> Iterator:
    """The COCO evaluation (a `_CocoPart`); then, with `weights` (once `receive()` says they are drawn), its
    intervals (`coco_intervals`), and with `voc_intervals` the VOC intervals (`detection_intervals`) of the
    evidence columns and t* that `receive()` gives next. scipy.sparse is imported here unless it was before
    the fork (`prepare_detection_report`): not before it otherwise, so that the work starts at once. One
    thread: the caller's process has the other core, until it offers it (`spare`, when it waits for these
    values): the COCO intervals' units left then go half to a forked helper (`core.parallel.run_units`).
    With a Dask `cluster` (no fork then: its client runs threads here) the COCO evaluation and, `with_intervals`,
    its intervals go to its workers."""
    n_labels, n_images = len(data.labels), len(data.images)
    if cluster is not None:  # by label groups on the workers
        stats, per_label_ap, evidence = coco_on_cluster(cluster, data)
    else:
        if data.gt_masks is not None:
            hw = np.stack([data.heights, data.widths], axis=1)
            coco = coco_evaluate_segm(data.gt_image, data.gt_label, data.gt_masks, data.gt_area, data.gt_crowd,
                                      data.dt_image, data.dt_label, data.dt_masks, data.dt_score, n_labels, hw)
        else:
            coco = coco_evaluate(data.gt_image, data.gt_label, data.gt_box, data.gt_area, data.gt_crowd,
                                 data.dt_image, data.dt_label, data.dt_box, data.dt_score, n_labels)
        stats, per_label_ap, evidence = coco.stats, coco.per_label_ap, coco.evidence
        del coco  # (its match table: the intervals need only the evidence)
    yield _CocoPart(stats, per_label_ap, _packed_evidence(evidence))
    if weights is not None or (cluster is not None and with_intervals):
        if cluster is None and receive() != _DRAWN:
            raise RuntimeError("the resamples were not drawn")
        yield coco_intervals(evidence, n_images, n_labels, weights, threads=1, spare=spare, cluster=cluster)
        if voc_intervals:
            columns, threshold = receive()
            yield detection_intervals(*columns, n_images, n_labels, threshold, weights, threads=1)


def _assemble(data: DetectionData, infos: ImageChecks, task: TaskInfo, notices: list[Notice], ev,
              evidence: DetEvidence, columns: tuple[np.ndarray, ...], made: tuple[BoxMistakes, ImageRows] | None,
              coco_future, weights: np.ndarray | None, intervals_future, coco_intervals_future,
              spare: SpareCore | None = None, cluster: Cluster | None = None) -> DetectionReport:
    """`made`: the errors and the images' rows when made already (on a cluster's workers), else made here from
    `ev.errors`; `weights`: the resamples, when the VOC intervals are computed here; `spare`: offered once only
    waiting is left (`_background_steps`); `cluster`: the Dask cluster that computes the VOC intervals
    instead."""
    labels = data.labels
    n_labels = len(labels)
    coco = coco_future.result()
    evidence.coco = _held_coco_evidence(coco.evidence, len(data.images), n_labels)
    coco.evidence = ()  # (the int64 columns, from the other process: let go)
    sweep, point = ev.sweep, ev.sweep.point
    threshold = _opt(point.threshold)
    metrics: dict[str, object] = {
        "mAP50": _opt(ev.map50), "mAP50_11pt": _opt(ev.map50_11pt), "precision": point.precision,
        "recall": point.recall, "f1": point.f1, "threshold": threshold, "iou_threshold": point.iou_threshold,
        "coco": {name: float(v) for name, v in zip(STAT_NAMES, coco.stats)},
    }
    n_gt = ev.matching.n_gt
    predictions = counts_of(data.dt_label, minlength=n_labels)
    per_label = [
        DetLabelMetrics(
            label=labels[c], ap50=_opt(ev.ap50[c]), ap50_11pt=_opt(ev.ap50_11pt[c]),
            ap=float(coco.per_label_ap[c]) if coco.per_label_ap[c] >= 0 else None,
            precision=float(sweep.label_precision[c]), recall=float(sweep.label_recall[c]),
            f1=float(sweep.label_f1[c]), tp=int(sweep.label_tp[c]), fp=int(sweep.label_fp[c]),
            fn=int(sweep.label_fn[c]), best_threshold=_opt(sweep.label_best_threshold[c]),
            best_f1=float(sweep.label_best_f1[c]), objects=int(n_gt[c]), predictions=int(predictions[c]))
        for c in range(n_labels)
    ]
    cells = ev.confusion.counts
    rows: list[str | None] = [*labels, None]
    confusion = DetConfusion(rows=rows, columns=rows, cells=cells.triples(), row_totals=cells.row_totals().tolist(),
                             top_pairs=confused_pairs(cells, rows, rows, skip_row=n_labels, skip_col=n_labels))
    curves = DetCurves(
        f1_vs_threshold=[Curve(None, _floats(sweep.f1_curve.threshold), _floats(sweep.f1_curve.f1))] + [
            Curve(labels[c], _floats(curve.threshold), _floats(curve.f1))
            for c, curve in enumerate(sweep.label_f1_curves) if len(curve.threshold)],
        pr=[Curve(labels[c], _floats(curve.recall), _floats(curve.precision))
            for c, curve in enumerate(sweep.pr_curves) if len(curve.recall)],
    )
    if made is None:
        # The error types taken out of `ev` and passed as their only reference: the callee lets their related rows
        # (16 bytes per detection) go once the errors are made (a local name here would keep them to the end)
        types = [ev.errors]
        ev.errors = None
        made = error_and_image_rows(data, ev.matching, types.pop(), point.threshold,
                                    suspect_thresholds(data, ev.matching, point.threshold), sweep.label_recall, infos)
    errors, images = made
    del made
    counted = ev.matching.gt_counted
    images_with, images_with_objects = images_holding(data.gt_image, data.gt_label, counted, n_labels)
    dataset = DetDataset(
        images=len(data.images), labels=list(labels), label_ids=[int(i) for i in data.label_ids],
        counts=[DetLabelCount(labels[c], int(images_with[c]), int(n_gt[c]), int(predictions[c]))
                for c in range(n_labels)],
        objects=int(counted.sum()), ignored_objects=int((~counted).sum()), predictions=len(data.dt_score),
        images_missing=infos.with_status(ImageStatus.MISSING),
        images_unreadable=infos.with_status(ImageStatus.UNREADABLE),
        images_without_objects=len(data.images) - images_with_objects,
        small_set=len(data.images) < task.small_set_threshold,
    )
    voc_here = weights is not None or cluster is not None  # (else in the other process, or not asked for)
    if voc_here:  # while the other process (or the cluster) resamples COCO AP
        intervals, label_intervals = detection_intervals(*columns, len(data.images), n_labels, threshold, weights,
                                                         threads=1, cluster=cluster)
    if spare is not None:  # nothing more to do here than wait: this core can help the other process
        spare.offer()
    if not voc_here:
        intervals, label_intervals = intervals_future.result() if intervals_future else (None, [])
    if coco_intervals_future:
        coco_headline, coco_per_label = coco_intervals_future.result()
        intervals.metrics.update(coco_headline)
        for bounds, more in zip(label_intervals, coco_per_label):
            bounds.update(more)
    for label_metrics, bounds in zip(per_label, label_intervals):
        label_metrics.ap50_interval = bounds["ap50"]
        label_metrics.precision_interval = bounds["precision"]
        label_metrics.recall_interval = bounds["recall"]
        label_metrics.f1_interval = bounds["f1"]
        label_metrics.ap_interval = bounds["ap"]
    return DetectionReport(schema=SCHEMA, task=task, dataset=dataset, metrics=metrics, per_label=per_label,
                           confusion=confusion, curves=curves, errors=errors, images=images,
                           findings=_findings(metrics, per_label, confusion, errors), notices=notices,
                           evidence=evidence, intervals=intervals)


def _evidence_columns(data: DetectionData, m: Matching, order: np.ndarray | None, kept_on_disk: bool = False
                      ) -> tuple[np.ndarray, ...]:
    """report.json's `evidence` as arrays, in DetEvidence's field order: the counted detections by descending
    score (ties in file order) with image, label, score and TP flag (0/1); the counted objects' image, label.
    `order`: the detections' score order when known (`Matching.order`). `kept_on_disk`: the columns written to
    this machine's disk (`DiskArray`) a range of scores at a time (`descending_parts`), neither the order nor
    the columns whole in memory (a cluster's driver, whose detections' columns are on its disk too)."""
    n_images, n_labels = len(data.images), len(data.labels)
    # (indices in 4 bytes, the flags in one each: report.json's numbers all the same; gathered a block at a time)
    dtypes = (index_dtype(n_images), index_dtype(n_labels), np.float64, np.int8)
    sources = (data.dt_image, data.dt_label, data.dt_score, m.tp)

    def counted(part: np.ndarray) -> list[np.ndarray]:
        part = part[~m.ignored[part]]
        return [gathered(source, part, dtype) for source, dtype in zip(sources, dtypes)]

    if kept_on_disk:
        writers = [DiskArrayWriter(dtype) for dtype in dtypes]
        for part in descending_parts(data.dt_score):
            for writer, column in zip(writers, counted(part)):
                writer.append(column)
        columns = [writer.finish() for writer in writers]
    else:
        columns = counted(score_order(data.dt_score, order))
    gt = np.flatnonzero(m.gt_counted)
    gt_columns = (gathered(data.gt_image, gt, index_dtype(n_images)),
                  gathered(data.gt_label, gt, index_dtype(n_labels)))
    return (*columns, *(on_disk(column) if kept_on_disk else column for column in gt_columns))


def _packed_evidence(e: CocoEvidence) -> tuple[np.ndarray, ...]:
    """The columns of report.json's `evidence.coco` as arrays (`coco_evidence_to_report`)."""
    p = e.packed()
    return p.dt_image, p.dt_label, p.tp, p.ignored, p.gt_image, p.gt_label


def _held_coco_evidence(columns: tuple[np.ndarray, ...], n_images: int, n_labels: int) -> DetCocoEvidence:
    """`_packed_evidence`'s columns as the report holds them, the indices in 4 bytes (`held_indices`). Made by
    the process that assembles the report: in one process, the COCO evaluation's (the other process's) int64
    evidence stays as it is for its intervals, and a narrowed copy made there would add to its peak."""
    dt_image, dt_label, tp, ignored, gt_image, gt_label = columns
    return DetCocoEvidence(held_indices(dt_image, n_images), held_indices(dt_label, n_labels), tp, ignored,
                           held_indices(gt_image, n_images), held_indices(gt_label, n_labels))


def coco_evidence_to_report(e: CocoEvidence) -> DetCocoEvidence:
    """report.json's form: the flags of the ten IoU thresholds packed into one integer each (bit t)."""
    return DetCocoEvidence(*(a.tolist() for a in _packed_evidence(e)))


def coco_evidence_from_report(e: DetCocoEvidence) -> CocoEvidence:
    """The arrays back from report.json's form (`coco_evidence_to_report`)."""
    def indices(values: list[int]) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    return CocoEvidence(dt_image=indices(e.dt_image), dt_label=indices(e.dt_label), tp=unpack_flags(e.tp),
                        ignored=unpack_flags(e.ignored), gt_image=indices(e.gt_image), gt_label=indices(e.gt_label))


def _findings(metrics: dict, per_label: list[DetLabelMetrics], confusion: DetConfusion,
              errors: BoxMistakes) -> DetFindings:
    value = metrics["mAP50"] or 0.0
    rating = next(name for name, floor in DET_RATINGS if value >= floor)
    scored = [m for m in per_label if m.ap50 is not None]
    weakest = [m.label for m in sorted(scored, key=lambda m: (m.ap50, m.label)) if m.ap50 < value][:SHOWN]
    cells = [DetPair(p.true, p.predicted, p.count) for p in confusion.top_pairs]
    types: dict[str, int] = {}
    for (kind, type_), count in errors.type_counts().items():
        types[type_.value if kind is ErrorKind.FALSE_POSITIVE else f"missed_{type_}"] = count
    few = [m.label for m in per_label if 0 < m.objects < FEW_EXAMPLES]
    low_recall = [m.label for m in sorted(scored, key=lambda m: (m.recall, m.objects)) if m.recall < 1][:SHOWN]
    return DetFindings(rating=rating, rated_metric="mAP50", weakest=weakest, confused=cells[:SHOWN],
                       error_types=dict(sorted(types.items(), key=lambda kv: -kv[1])), few_examples=few,
                       collect_more=list(dict.fromkeys(few[:SHOWN] + low_recall))[:SHOWN])
