"""The basic conclusion as data: a rating, the weakest labels, the most confused pairs, what to collect.

The thresholds are stated here once and quoted on the Data & method page.
"""

from __future__ import annotations

from evalsite.core.enums import Rating
from evalsite.report.classification_model import ConfusedPair, Dataset, Findings, LabelMetrics

# Rating of the headline metric: at least this value earns the rating.
RATINGS = ((Rating.EXCELLENT, 0.95), (Rating.GOOD, 0.85), (Rating.FAIR, 0.70), (Rating.POOR, 0.0))
FEW_EXAMPLES = 10  # a label with fewer ground-truth images is "too few to judge"
SHOWN = 3  # how many labels or pairs a sentence names


def rate(value: float) -> Rating:
    return next(name for name, floor in RATINGS if value >= floor)


def classification_findings(metrics: dict, per_label: list[LabelMetrics], pairs: list[ConfusedPair],
                            dataset: Dataset) -> Findings:
    scored = [m for m in per_label if m.support > 0]
    mean_f1 = metrics["f1"]
    weakest = [m.label for m in sorted(scored, key=lambda m: (m.f1, m.label)) if m.f1 < mean_f1][:SHOWN]
    few = [c.label for c in dataset.counts if 0 < c.images < FEW_EXAMPLES]
    # Collect more of what the model misses most, and of what is too rare to judge.
    low_recall = [m.label for m in sorted(scored, key=lambda m: (m.recall, m.support)) if m.recall < 1][:SHOWN]
    collect = list(dict.fromkeys(few[:SHOWN] + low_recall))[:SHOWN]
    return Findings(rating=rate(metrics["accuracy"]), rated_metric="accuracy", weakest=weakest,
                    confused=[p for p in pairs if p.predicted is not None][:SHOWN], few_examples=few,
                    collect_more=collect)
