"""The in-memory model of a classification evaluation (what the classification reader returns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalsite.core.errors import Notice


@dataclass
class ClassificationInputs:
    """Everything a classification evaluation needs, as arrays aligned on `images`.

    Exactly one of `scores` (n_images x n_labels, NaN where the model gave that label no score) and
    `topk_labels`/`topk_scores` (n_images x K, best first, -1 / NaN padding) is set.
    """

    labels: list[str]
    label_source: str  # "declared", "score columns", "data" or "class list"
    images: list[str]
    y_true: np.ndarray
    has_prediction: np.ndarray
    scores: np.ndarray | None = None
    topk_labels: np.ndarray | None = None
    topk_scores: np.ndarray | None = None
    notices: list[Notice] = field(default_factory=list)
    class_list_file: Path | None = None  # a classes.txt found beside the inputs (evalsite.formats.class_list)
    gt_format: str = ""  # the formats actually read (recorded in report.json task.inputs[].format)
    pred_format: str = ""
