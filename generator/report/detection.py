"""Assemble a detection Report from the inputs, the image checks and the metrics."""

from __future__ import annotations

import math

import numpy as np

from generator.errors import Notice
from generator.formats.boxes import DetectionData
from generator.formats.images import ImageInfo
from generator.metrics.coco import STAT_NAMES, coco_evaluate
from generator.metrics.detection import evaluate_detection
from generator.report.detection_model import (
    BoxError, Curve, DetConfusion, DetCurves, DetDataset, DetectionReport, DetFindings, DetImage, DetLabelCount,
    DetLabelMetrics, DetPair, DrawnBox,
)
from generator.report.findings import FEW_EXAMPLES, SHOWN
from generator.report.model import SCHEMA, TaskInfo

# Rating of mAP@0.5: at least this value earns the rating.
DET_RATINGS = (("excellent", 0.90), ("good", 0.75), ("fair", 0.50), ("poor", 0.0))


def _opt(value: float) -> float | None:
    """NaN (undefined) becomes None (null in report.json)."""
    value = float(value)
    return None if math.isnan(value) else value


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def _box(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def build_detection_report(data: DetectionData, infos: list[ImageInfo], task: TaskInfo,
                           notices: list[Notice]) -> DetectionReport:
    labels = data.labels
    n_labels = len(labels)
    ev = evaluate_detection(data, iou_threshold=task.iou_threshold or 0.5)
    coco = coco_evaluate(data.gt_image, data.gt_label, data.gt_box, data.gt_area, data.gt_crowd, data.dt_image,
                         data.dt_label, data.dt_box, data.dt_score, n_labels)
    sweep, point = ev.sweep, ev.sweep.point
    threshold = _opt(point.threshold)
    metrics: dict[str, object] = {
        "mAP50": _opt(ev.map50), "mAP50_11pt": _opt(ev.map50_11pt), "precision": point.precision,
        "recall": point.recall, "f1": point.f1, "threshold": threshold, "iou_threshold": point.iou_threshold,
        "coco": {name: float(v) for name, v in zip(STAT_NAMES, coco.stats)},
    }
    n_gt = ev.matching.n_gt
    predictions = np.bincount(data.dt_label, minlength=n_labels)
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
    confusion = DetConfusion(rows=[*labels, None], columns=[*labels, None], counts=ev.confusion.counts.tolist())
    curves = DetCurves(
        f1_vs_threshold=[Curve(None, _floats(sweep.f1_curve.threshold), _floats(sweep.f1_curve.f1))] + [
            Curve(labels[c], _floats(curve.threshold), _floats(curve.f1))
            for c, curve in enumerate(sweep.label_f1_curves) if len(curve.threshold)],
        pr=[Curve(labels[c], _floats(curve.recall), _floats(curve.precision))
            for c, curve in enumerate(sweep.pr_curves) if len(curve.recall)],
    )
    errors = _errors(data, ev)
    images = _images(data, ev, infos, errors)
    counted = ev.matching.gt_counted
    images_with = [len(set(data.gt_image[counted & (data.gt_label == c)].tolist())) for c in range(n_labels)]
    dataset = DetDataset(
        images=len(data.images), labels=list(labels), label_ids=[int(i) for i in data.label_ids],
        counts=[DetLabelCount(labels[c], images_with[c], int(n_gt[c]), int(predictions[c])) for c in range(n_labels)],
        objects=int(counted.sum()), ignored_objects=int((~counted).sum()), predictions=len(data.dt_score),
        images_missing=sum(i.status == "missing" for i in infos),
        images_unreadable=sum(i.status == "unreadable" for i in infos),
        images_without_objects=int(len(data.images) - len(set(data.gt_image[counted].tolist()))),
        small_set=len(data.images) < task.small_set_threshold,
    )
    return DetectionReport(schema=SCHEMA, task=task, dataset=dataset, metrics=metrics, per_label=per_label,
                           confusion=confusion, curves=curves, errors=errors, images=images,
                           findings=_findings(metrics, per_label, confusion, errors), notices=notices)


def _errors(data: DetectionData, ev) -> list[BoxError]:
    """Every false positive and missed object at t*, numbered by image, then kind, then file order."""
    e = ev.errors
    labels = data.labels
    rows = []
    for d in np.flatnonzero(e.dt_type != ""):
        g = int(e.dt_related_gt[d])
        rows.append((int(data.dt_image[d]), 0, int(d), BoxError(
            id=0, kind="false_positive", type=str(e.dt_type[d]), image=data.images[data.dt_image[d]],
            image_id=int(data.image_ids[data.dt_image[d]]), label=labels[data.dt_label[d]],
            box=_box(data.dt_box[d]), score=float(data.dt_score[d]), iou=_opt(e.dt_related_iou[d]),
            related_label=labels[data.gt_label[g]] if g >= 0 else None,
            related_box=_box(data.gt_box[g]) if g >= 0 else None,
            annotation_id=int(data.gt_id[g]) if g >= 0 else None)))
    for g in np.flatnonzero(e.gt_type != ""):
        d = int(e.gt_related_dt[g])
        rows.append((int(data.gt_image[g]), 1, int(g), BoxError(
            id=0, kind="missed", type=str(e.gt_type[g]), image=data.images[data.gt_image[g]],
            image_id=int(data.image_ids[data.gt_image[g]]), label=labels[data.gt_label[g]],
            box=_box(data.gt_box[g]), score=float(data.dt_score[d]) if d >= 0 else None,
            iou=_opt(e.gt_related_iou[g]), related_label=labels[data.dt_label[d]] if d >= 0 else None,
            related_box=_box(data.dt_box[d]) if d >= 0 else None, annotation_id=int(data.gt_id[g]))))
    rows.sort(key=lambda row: row[:3])
    for number, row in enumerate(rows, start=1):
        row[3].id = number
    return [row[3] for row in rows]


def _images(data: DetectionData, ev, infos: list[ImageInfo], errors: list[BoxError]) -> list[DetImage]:
    n = len(data.images)
    m, e = ev.matching, ev.errors
    t = ev.sweep.point.threshold
    shown = (~m.ignored) & (data.dt_score >= t) if not math.isnan(t) else np.zeros(len(data.dt_score), bool)
    is_fp = e.dt_type != ""
    is_fn = e.gt_type != ""
    objects = np.bincount(data.gt_image[m.gt_counted], minlength=n)
    preds = np.bincount(data.dt_image[shown], minlength=n)
    fps = np.bincount(data.dt_image[is_fp], minlength=n)
    fns = np.bincount(data.gt_image[is_fn], minlength=n)
    with_errors = {err.image for err in errors}
    boxes: dict[int, list[DrawnBox]] = {}
    labels = data.labels
    for g in np.flatnonzero(m.gt_counted):
        i = int(data.gt_image[g])
        if data.images[i] in with_errors:
            kind = "missed" if is_fn[g] else "ground_truth"
            boxes.setdefault(i, []).append(DrawnBox(kind, labels[data.gt_label[g]], _box(data.gt_box[g])))
    for d in np.flatnonzero(shown):
        i = int(data.dt_image[d])
        if data.images[i] in with_errors:
            kind = "false_positive" if is_fp[d] else "correct"
            boxes.setdefault(i, []).append(DrawnBox(kind, labels[data.dt_label[d]], _box(data.dt_box[d]),
                                                    float(data.dt_score[d])))
    return [DetImage(image=data.images[i], image_id=int(data.image_ids[i]),
                     width=int(data.widths[i]) or infos[i].width, height=int(data.heights[i]) or infos[i].height,
                     status=infos[i].status, problem=infos[i].problem, objects=int(objects[i]),
                     predictions=int(preds[i]), false_positives=int(fps[i]), missed=int(fns[i]),
                     boxes=boxes.get(i, []))
            for i in range(n)]


def _findings(metrics: dict, per_label: list[DetLabelMetrics], confusion: DetConfusion,
              errors: list[BoxError]) -> DetFindings:
    value = metrics["mAP50"] or 0.0
    rating = next(name for name, floor in DET_RATINGS if value >= floor)
    scored = [m for m in per_label if m.ap50 is not None]
    weakest = [m.label for m in sorted(scored, key=lambda m: (m.ap50, m.label)) if m.ap50 < value][:SHOWN]
    cells = [DetPair(confusion.rows[r], confusion.columns[c], n)
             for r, row in enumerate(confusion.counts) for c, n in enumerate(row)
             if n and r != c and confusion.rows[r] is not None and confusion.columns[c] is not None]
    cells.sort(key=lambda p: -p.count)
    types: dict[str, int] = {}
    for error in errors:
        key = error.type if error.kind == "false_positive" else f"missed_{error.type}"
        types[key] = types.get(key, 0) + 1
    few = [m.label for m in per_label if 0 < m.objects < FEW_EXAMPLES]
    low_recall = [m.label for m in sorted(scored, key=lambda m: (m.recall, m.objects)) if m.recall < 1][:SHOWN]
    return DetFindings(rating=rating, rated_metric="mAP50", weakest=weakest, confused=cells[:SHOWN],
                       error_types=dict(sorted(types.items(), key=lambda kv: -kv[1])), few_examples=few,
                       collect_more=list(dict.fromkeys(few[:SHOWN] + low_recall))[:SHOWN])
