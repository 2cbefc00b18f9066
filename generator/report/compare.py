"""Assemble a Comparison of two reports of the same evaluation set (checked by the caller)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from evalsite import __version__
from evalsite.core.enums import Verdict
from evalsite.core.errors import InputError
from evalsite.metrics.bootstrap import (
    RESAMPLES,
    SEED,
    classification_resampled,
    detection_resampled,
    paired_difference,
    resample_weights,
)
from evalsite.metrics.coco_bootstrap import coco_resampled
from evalsite.report.classification_model import ClassificationReport
from evalsite.report.compare_model import (
    COMPARE_SCHEMA,
    Comparison,
    ImageChange,
    LabelChange,
    MetricChange,
    PairChange,
    ReportRef,
)
from evalsite.report.detection import coco_evidence_from_report
from evalsite.report.detection_model import DetectionReport
from evalsite.report.model import Report

CLASSIFICATION_HEADLINE = ("accuracy", "f1", "precision", "recall", "top1", "top2", "top3", "top4", "top5")
DETECTION_HEADLINE = ("mAP50", "precision", "recall", "f1")


def _ref(report: Report, path: Path) -> ReportRef:
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return ReportRef(name=report.task.name, model=report.task.model, path=str(path), sha256=digest,
                     date=report.task.date)


def build_comparison(base: Report, candidate: Report, base_json: Path, candidate_json: Path,
                     resamples: int = RESAMPLES, seed: int = SEED) -> Comparison:
    """`base` and `candidate` must be reports of the same task type and evaluation set."""
    names = [r.image for r in base.images]
    position = {name: i for i, name in enumerate(names)}
    weights = resample_weights(len(names), resamples, seed)
    if base.task.type.is_detection:
        headline, labels, pairs, fixed, broken, same = _detection(base, candidate, position, weights)
        label_metric = "ap50"
        thresholds = (base.metrics.get("threshold"), candidate.metrics.get("threshold"))
    else:
        headline, labels, pairs, fixed, broken, same = _classification(base, candidate, position, weights)
        label_metric = "f1"
        thresholds = (None, None)
    labels.sort(key=lambda c: (-abs(c.difference or 0.0), c.label))
    return Comparison(
        schema=COMPARE_SCHEMA, type=base.task.type, group=base.task.group or base.task.name,
        language=base.task.language, evalsite_version=__version__, base=_ref(base, base_json),
        candidate=_ref(candidate, candidate_json), images=len(names), resamples=resamples, seed=seed,
        headline=headline, labels=labels, label_metric=label_metric, threshold_base=thresholds[0],
        threshold_candidate=thresholds[1], confusion=pairs, fixed=fixed, broken=broken, unchanged_errors=same)


def _changes(base_values: dict, candidate_values: dict, base_metrics: dict, candidate_metrics: dict,
             names: tuple[str, ...]) -> list[MetricChange]:
    out = []
    for name in names:
        if name not in base_values or base_metrics.get(name) is None and candidate_metrics.get(name) is None:
            continue
        d = paired_difference(base_metrics.get(name), candidate_metrics.get(name), base_values[name],
                              candidate_values[name])
        out.append(MetricChange(name, d.base, d.candidate, d.difference, d.low, d.high, Verdict(d.verdict)))
    return out


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _pairs(base_counts: dict, candidate_counts: dict) -> list[PairChange]:
    keys = set(base_counts) | set(candidate_counts)
    changes = [PairChange(t, p, base_counts.get((t, p), 0), candidate_counts.get((t, p), 0)) for t, p in keys]
    changes = [c for c in changes if c.base != c.candidate]
    changes.sort(key=lambda c: (-abs(c.candidate - c.base), str(c.true), str(c.predicted)))
    return changes


def _split(changes: list[ImageChange]) -> tuple[list[ImageChange], list[ImageChange], int]:
    fixed = [c for c in changes if c.candidate_errors < c.base_errors]
    broken = [c for c in changes if c.candidate_errors > c.base_errors]
    same = sum(1 for c in changes if c.candidate_errors == c.base_errors and c.base_errors > 0)
    fixed.sort(key=lambda c: (c.candidate_errors - c.base_errors, c.image))
    broken.sort(key=lambda c: (c.base_errors - c.candidate_errors, c.image))
    return fixed, broken, same


# --------------------------------------------------------------------------------------- classification

def _classification_inputs(report: ClassificationReport, position: dict[str, int]):
    index = {label: k for k, label in enumerate(report.dataset.labels)}
    n = len(position)
    true = np.zeros(n, dtype=np.int64)
    predicted = np.full(n, -1, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    for r in report.images:
        i = position[r.image]
        true[i] = index[r.true]
        predicted[i] = index[r.predicted] if r.predicted is not None else -1
        rank[i] = r.true_rank
    return true, predicted, rank


def _classification(base: ClassificationReport, candidate: ClassificationReport, position: dict[str, int],
                    weights: np.ndarray):
    n_labels = len(base.dataset.labels)
    resampled = [classification_resampled(*_classification_inputs(r, position), n_labels, weights)
                 for r in (base, candidate)]
    headline = _changes(*resampled, base.metrics, candidate.metrics, CLASSIFICATION_HEADLINE)
    cand_by_label = {m.label: m for m in candidate.per_label}
    labels = [LabelChange(m.label, m.f1, cand_by_label[m.label].f1, cand_by_label[m.label].f1 - m.f1, m.recall,
                          cand_by_label[m.label].recall, m.support)
              for m in base.per_label if m.label in cand_by_label]

    def pair_counts(report: ClassificationReport) -> dict:
        counts: dict = {}
        for r in report.images:
            if not r.correct:
                counts[r.true, r.predicted] = counts.get((r.true, r.predicted), 0) + 1
        return counts

    cand_images = {r.image: r for r in candidate.images}
    changes = []
    for b in base.images:
        c = cand_images[b.image]
        changes.append(ImageChange(
            image=b.image, base_errors=int(not b.correct), candidate_errors=int(not c.correct),
            base_summary=b.predicted or "", candidate_summary=c.predicted or "", base_score=b.confidence,
            candidate_score=c.confidence, true=b.true))
    return (headline, labels, _pairs(pair_counts(base), pair_counts(candidate)), *_split(changes))


# --------------------------------------------------------------------------------------------- detection

def _evidence(report: DetectionReport, position: dict[str, int], label_position: dict[str, int], path_hint: str):
    """The VOC evidence (as `detection_resampled`'s keyword arguments) and the COCO evidence (None in reports
    written before it was kept), with indices in the comparison's image and label order."""
    e = report.evidence
    if e is None:
        raise InputError("this report.json has no 'evidence' (it was written by an older evalsite): evaluate "
                         "the task again to compare it", path_hint)
    image = np.array([position[r.image] for r in report.images], dtype=np.int64)
    label = np.array([label_position[name] for name in report.dataset.labels], dtype=np.int64)
    _check_evidence(e, ("dt_score", "dt_tp"), "evidence", len(image), len(label), path_hint)
    voc = dict(dt_image=_mapped(image, e.dt_image), dt_label=_mapped(label, e.dt_label), dt_score=e.dt_score,
               dt_tp=e.dt_tp, gt_image=_mapped(image, e.gt_image), gt_label=_mapped(label, e.gt_label))
    if e.coco is None:
        return voc, None
    _check_evidence(e.coco, ("tp", "ignored"), "evidence.coco", len(image), len(label), path_hint)
    coco = coco_evidence_from_report(e.coco)
    return voc, dataclasses.replace(coco, dt_image=image[coco.dt_image], dt_label=label[coco.dt_label],
                                    gt_image=image[coco.gt_image], gt_label=label[coco.gt_label])


def _check_evidence(e, dt_columns: tuple[str, ...], where: str, n_images: int, n_labels: int,
                    path_hint: str) -> None:
    """An InputError unless the detection columns (dt_image, dt_label and `dt_columns`) are of one length,
    gt_image and gt_label too, and every image and label index is in range."""
    bad = None
    if len({len(getattr(e, name)) for name in ("dt_image", "dt_label", *dt_columns)}) > 1 or \
            len(e.gt_image) != len(e.gt_label):
        bad = "its lists differ in length"
    elif any(len(v) and not 0 <= min(v) <= max(v) < n for v, n in ((e.dt_image, n_images), (e.gt_image, n_images),
                                                                    (e.dt_label, n_labels), (e.gt_label, n_labels))):
        bad = "an image or label index is out of range"
    if bad:
        raise InputError(f"'{where}' is damaged: {bad}", path_hint)


def _mapped(table: np.ndarray, values: list[int]) -> np.ndarray:
    """table[values]: report.json indices in the comparison's order."""
    return table[np.asarray(values, dtype=np.int64)]


def _flat(metrics: dict) -> dict:
    """The report's metrics with COCO AP as "coco.AP" (None where COCO gives -1: no ground truth)."""
    ap = metrics["coco"]["AP"]
    return {**metrics, "coco.AP": ap if ap >= 0 else None}


def _detection(base: DetectionReport, candidate: DetectionReport, position: dict[str, int], weights: np.ndarray):
    n_labels = len(base.dataset.labels)
    label_position = {name: k for k, name in enumerate(base.dataset.labels)}
    resampled = []
    for r in (base, candidate):
        evidence, coco = _evidence(r, position, label_position, r.task.name)
        values = detection_resampled(**evidence, n_images=len(position), n_labels=n_labels,
                                     threshold=r.metrics.get("threshold"), weights=weights)
        if coco is not None:
            values.update(coco_resampled(coco, len(position), n_labels, weights))
        resampled.append(values)
    both_coco = all("coco.AP" in values for values in resampled)
    headline = _changes(*resampled, _flat(base.metrics), _flat(candidate.metrics),
                        DETECTION_HEADLINE + (("coco.AP",) if both_coco else ()))
    if not both_coco:  # a report from before COCO AP was resampled
        ap_base, ap_cand = base.metrics["coco"]["AP"], candidate.metrics["coco"]["AP"]
        headline.append(MetricChange("coco.AP", ap_base, ap_cand, ap_cand - ap_base, None, None,
                                     Verdict.NOT_RESAMPLED))
    cand_by_label = {m.label: m for m in candidate.per_label}
    labels = [LabelChange(m.label, m.ap50, cand_by_label[m.label].ap50, _diff(m.ap50, cand_by_label[m.label].ap50),
                          m.recall, cand_by_label[m.label].recall, m.objects)
              for m in base.per_label if m.label in cand_by_label]

    def pair_counts(report: DetectionReport) -> dict:
        c = report.confusion
        return {(c.rows[r], c.columns[k]): n for r, k, n in c.cells
                if not (c.rows[r] is not None and c.rows[r] == c.columns[k])}

    cand_images = {r.image: r for r in candidate.images}
    changes = []
    for b in base.images:
        c = cand_images[b.image]
        changes.append(ImageChange(
            image=b.image, base_errors=b.false_positives + b.missed, candidate_errors=c.false_positives + c.missed,
            base_summary=f"{b.false_positives}/{b.missed}", candidate_summary=f"{c.false_positives}/{c.missed}"))
    return (headline, labels, _pairs(pair_counts(base), pair_counts(candidate)), *_split(changes))
