"""95% intervals of a report's headline and per-label numbers (evalsite.metrics.bootstrap), as report data."""

from __future__ import annotations

import numpy as np

from evalsite.core.parallel import SpareCore
from evalsite.metrics.bootstrap import (
    RESAMPLES,
    SEED,
    classification_resampled,
    detection_resampled,
    percentile_interval,
    resample_weights,
    wilson_interval,
)
from evalsite.metrics.coco import CocoEvidence
from evalsite.metrics.coco_bootstrap import coco_resampled
from evalsite.report.model import Intervals

METHOD = "percentile bootstrap over images"
LEVEL = 0.95
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
                        threshold: float | None, weights: np.ndarray | None = None, threads: int = 2
                        ) -> tuple[Intervals, list[dict[str, list[float] | None]]]:
    """(Intervals of mAP50 and P/R/F1 at t*, per label {ap50, precision, recall, f1} by label index). COCO
    AP's come from `coco_intervals`, on COCO's own matching. `weights`: `report_weights(n_images)`,
    when already drawn."""
    weights = report_weights(n_images) if weights is None else weights
    resampled = detection_resampled(dt_image, dt_label, dt_score, dt_tp, gt_image, gt_label, n_images, n_labels,
                                    threshold, weights, threads)
    headline, per_label = _split(resampled, n_labels)
    return Intervals(method=METHOD, resamples=RESAMPLES, seed=SEED, level=LEVEL, metrics=headline), per_label


def coco_intervals(evidence: CocoEvidence, n_images: int, n_labels: int, weights: np.ndarray | None = None,
                   threads: int = 2, spare: SpareCore | None = None,
                   ) -> tuple[dict[str, list[float] | None], list[dict[str, list[float] | None]]]:
    """({"coco.AP", "coco.AP50", "coco.AP75": interval}, per label {ap} by label index), on the same
    resamples as `detection_intervals` (`spare`: see `coco_resampled`)."""
    weights = report_weights(n_images) if weights is None else weights
    return _split(coco_resampled(evidence, n_images, n_labels, weights, threads, spare), n_labels)


def report_weights(n_images: int, out: np.ndarray | None = None) -> np.ndarray:
    """The resamples of every interval of a report (`resample_weights` with the report's count and seed),
    in `out` when given."""
    return resample_weights(n_images, RESAMPLES, SEED, out)
