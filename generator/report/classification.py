"""Assemble a ClassificationReport from the inputs, the image checks and the metrics."""

from __future__ import annotations

import numpy as np

from evalsite.core.classification_data import ClassificationInputs
from evalsite.core.enums import ImageStatus, SuspectReason
from evalsite.core.errors import Notice, listing
from evalsite.core.image_info import ImageChecks, ImageInfo
from evalsite.metrics.classification import (
    MAX_K,
    evaluate_classification,
    rank_from_scores,
    rank_of_true,
)
from evalsite.metrics.label_errors import classification_suspects
from evalsite.report.classification_model import (
    ClassificationReport,
    Confusion,
    Curves,
    Dataset,
    ImageResult,
    LabelCount,
    LabelMetrics,
    Misclassification,
    TopK,
)
from evalsite.report.confusion import confused_pairs
from evalsite.report.findings import classification_findings
from evalsite.report.intervals import classification_intervals
from evalsite.report.model import SCHEMA, TaskInfo


def rankings(inputs: ClassificationInputs) -> tuple[np.ndarray, np.ndarray]:
    """(n, K) ranked label indices and their scores, best first, -1 / NaN padding."""
    if inputs.scores is not None:
        return rank_from_scores(inputs.scores, MAX_K)
    return inputs.topk_labels, inputs.topk_scores  # type: ignore[return-value]


def build_classification_report(inputs: ClassificationInputs, infos: list[ImageInfo], task: TaskInfo,
                                notices: list[Notice], with_intervals: bool = True) -> ClassificationReport:
    ranked, ranked_scores = rankings(inputs)
    checks = ImageChecks.of(infos)
    labels = inputs.labels
    m = evaluate_classification(inputs.y_true, ranked, len(labels))
    name = labels.__getitem__

    correct = m.confusion.diagonal()
    per_label = [
        LabelMetrics(label=name(int(i)), precision=float(p), recall=float(r), f1=float(f), support=int(s),
                     predicted=int(c), errors=int(s - correct[row]))
        for row, (i, p, r, f, s, c) in enumerate(zip(m.present, m.per_label_precision, m.per_label_recall,
                                                     m.per_label_f1, m.per_label_support, m.per_label_predicted))
    ]
    rows = [name(int(i)) for i in m.present]
    columns: list[str | None] = [*rows, None]
    pairs = confused_pairs(m.confusion, rows, columns)
    cells = m.confusion
    if not (cells.col == len(rows)).any():  # no image without a prediction: no such column
        columns = columns[:-1]
    confusion = Confusion(rows=rows, columns=columns, cells=cells.triples(),
                          row_totals=cells.row_totals().tolist(), top_pairs=pairs)

    y_pred = ranked[:, 0]
    confidence = ranked_scores[:, 0]
    true_rank = rank_of_true(inputs.y_true, ranked)
    images = []
    for i, (image, info) in enumerate(zip(inputs.images, infos)):
        predicted = name(int(y_pred[i])) if y_pred[i] >= 0 else None
        images.append(ImageResult(
            image=image, true=name(int(inputs.y_true[i])), predicted=predicted,
            confidence=float(confidence[i]) if predicted is not None else None,
            true_rank=int(true_rank[i]), correct=bool(y_pred[i] == inputs.y_true[i]),
            status=ImageStatus(info.status), width=info.width, height=info.height, problem=info.problem))

    # Errors by true label (label order), most confident mistakes first: likely labelling errors.
    wrong = [r for r in images if not r.correct]
    order = {label: i for i, label in enumerate(labels)}
    wrong.sort(key=lambda r: (order[r.true], -(r.confidence if r.confidence is not None else -np.inf), r.image))
    errors = [Misclassification(image=r.image, true=r.true, predicted=r.predicted, confidence=r.confidence)
              for r in wrong]
    _mark_suspects(errors, inputs, ranked, ranked_scores)

    counts = np.bincount(inputs.y_true, minlength=len(labels))
    # Labels that take part in the metrics (top-1 predicted) without being in the ground truth.
    only_predicted = [name(int(i)) for i in m.present if counts[i] == 0]
    if only_predicted:
        notices = [*notices, Notice("labels_only_predicted", None, None, listing(only_predicted))]
    metrics: dict[str, float | None] = {"accuracy": m.accuracy, "precision": m.precision,
                                        "recall": m.recall, "f1": m.f1}
    metrics.update({f"top{k}": v for k, v in m.topk.items()})
    dataset = Dataset(
        images=len(images), labels=list(labels),
        counts=[LabelCount(label, int(c)) for label, c in zip(labels, counts)],
        images_without_prediction=int((ranked[:, 0] < 0).sum()),  # no line, or a line without scores
        images_missing=checks.with_status(ImageStatus.MISSING),
        images_unreadable=checks.with_status(ImageStatus.UNREADABLE),
        labels_only_predicted=only_predicted,
        small_set=len(images) < task.small_set_threshold,
    )
    intervals, label_intervals = (classification_intervals(inputs.y_true, y_pred, true_rank, len(labels))
                                  if with_intervals else (None, []))
    for metrics_of, i in zip(per_label if with_intervals else [], m.present):
        bounds = label_intervals[int(i)]
        metrics_of.precision_interval = bounds["precision"]
        metrics_of.recall_interval = bounds["recall"]
        metrics_of.f1_interval = bounds["f1"]
    findings = classification_findings(metrics, per_label, pairs, dataset)
    return ClassificationReport(
        schema=SCHEMA, task=task, dataset=dataset, metrics=metrics, per_label=per_label, confusion=confusion,
        curves=Curves([TopK(k, v) for k, v in m.topk.items() if v is not None]), errors=errors, images=images,
        findings=findings, notices=notices, intervals=intervals)


def _mark_suspects(errors: list[Misclassification], inputs: ClassificationInputs, ranked: np.ndarray,
                   ranked_scores: np.ndarray) -> None:
    """Likely label errors (generator/metrics/label_errors.py) on the errors concerned."""
    found = classification_suspects(inputs.y_true, ranked, ranked_scores, len(inputs.labels), inputs.scores)
    position = {image: i for i, image in enumerate(inputs.images)}
    top = ranked[:, 0]
    for error in errors:
        i = position[error.image]
        if found.flagged[i]:
            error.suspect = SuspectReason.CONFIDENT_OTHER_LABEL
            error.suspicion = float(found.suspicion[i])
            error.suspect_threshold = float(found.thresholds[top[i]])
