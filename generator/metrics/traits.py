"""Shared traits of errors (pure): bucket the per-image traits, error rate per bucket with a Wilson interval,
and the traits over-represented among one label's errors.

The rule (stated on the page): for a label with n items of which E are errors, a bucket holding k of the
items and e of the errors is over-represented when a one-sided Fisher exact test (errors vs the label's other
items, in vs out of the bucket) gives p × m < ALPHA, m being the number of tests made over all labels, traits
and buckets (Bonferroni), and e ≥ MIN_ERRORS and (e / E) / (k / n) ≥ MIN_RATIO.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalsite.metrics.bootstrap import wilson_interval

ALPHA = 0.05
MIN_ERRORS = 5
MIN_RATIO = 1.5
TOP_CATEGORIES = 8  # categorical traits: the most frequent values, the rest as "other"
OTHER = "other"

# Numeric traits cut at quantiles of the evaluation images: (trait, quantiles, bucket codes low → high).
NUMERIC = (
    ("brightness", (1 / 3, 2 / 3), ("dark", "medium", "bright")),
    ("contrast", (1 / 3, 2 / 3), ("low", "medium", "high")),
    ("sharpness", (1 / 4,), ("blurry", "sharp")),
    ("resolution", (1 / 3, 2 / 3), ("small", "medium", "large")),
)
CATEGORICAL = ("orientation", "camera", "time_of_day")
META = "meta:"  # the user's metadata columns are categorical traits named meta:<column>


@dataclass
class Item:
    label: str
    error: bool
    traits: dict[str, object | None]  # trait name -> value (number or category); None when unknown


@dataclass
class Bucket:
    key: str  # a bucket code (dark, blurry, …) or, for categorical traits, the value itself
    items: int
    errors: int
    rate: float | None
    interval: list[float] | None


@dataclass
class Trait:
    name: str
    categorical: bool
    cutoffs: list[float]  # numeric traits: the quantile cut points (bucket i holds values ≤ cutoffs[i])
    buckets: list[Bucket]


@dataclass
class Finding:
    label: str
    trait: str
    bucket: str
    categorical: bool
    errors_in: int
    errors: int
    items_in: int
    items: int
    p_value: float
    ratio: float


@dataclass
class LabelTraits:
    label: str
    items: int
    errors: int
    traits: list[Trait]
    findings: list[Finding] = field(default_factory=list)


@dataclass
class TraitsAnalysis:
    overall: list[Trait]
    labels: list[LabelTraits]
    tests: int  # m of the Bonferroni correction
    alpha: float = ALPHA
    min_errors: int = MIN_ERRORS
    min_ratio: float = MIN_RATIO
    items_without_traits: int = 0


def time_of_day(hour: int | None) -> str | None:
    if hour is None:
        return None
    return "morning" if 6 <= hour < 12 else "afternoon" if 12 <= hour < 18 else "evening" if 18 <= hour < 22 \
        else "night"


def _bucketers(images: list[dict[str, object | None]]) -> list[tuple[str, bool, list[float], list[str], object]]:
    """(trait, categorical, cutoffs, bucket keys, value → key) for every trait known for at least one image,
    cut on the evaluation images' values."""
    out = []
    for name, quantiles, codes in NUMERIC:
        values = np.array([i[name] for i in images if i.get(name) is not None], dtype=np.float64)
        if len(values) == 0 or values.min() == values.max():  # one value for all: nothing to compare
            continue
        cutoffs = [float(c) for c in np.quantile(values, quantiles)]

        def key(value, cutoffs=cutoffs, codes=codes):
            for cut, code in zip(cutoffs, codes):
                if value <= cut:
                    return code
            return codes[-1]

        out.append((name, False, cutoffs, list(codes), key))
    meta = sorted({name for i in images for name in i if name.startswith(META)})
    for name in (*CATEGORICAL, *meta):
        counts: dict[str, int] = {}
        for i in images:
            value = i.get(name)
            if value is not None:
                counts[str(value)] = counts.get(str(value), 0) + 1
        if not counts:
            continue
        top = sorted(counts, key=lambda v: (-counts[v], v))[:TOP_CATEGORIES]
        keys = top + ([OTHER] if len(counts) > len(top) else [])
        out.append((name, True, [], keys, lambda value, top=set(top): str(value) if str(value) in top else OTHER))
    return out


def _trait(name: str, categorical: bool, cutoffs: list[float], keys: list[str], pairs: list[tuple[str, bool]]):
    buckets = []
    for k in keys:
        inside = [error for bucket, error in pairs if bucket == k]
        n, e = len(inside), sum(inside)
        interval = wilson_interval(e, n)
        buckets.append(Bucket(k, n, e, e / n if n else None, list(interval) if interval else None))
    return Trait(name, categorical, cutoffs, buckets)


def fisher_greater(e: int, errors: int, k: int, n: int) -> float:
    """One-sided Fisher exact p-value that errors are over-represented in a bucket (e of `errors` errors in
    the bucket, k of all n items in it)."""
    from scipy.stats import fisher_exact

    table = [[e, errors - e], [k - e, (n - k) - (errors - e)]]
    return float(fisher_exact(table, alternative="greater")[1])


def analyse(items: list[Item], labels: list[str]) -> TraitsAnalysis:
    """Items are images: the buckets are cut on their values."""
    return analyse_all({"": items}, labels, [i.traits for i in items])[""]


def analyse_all(groups: dict[str, list[Item]], labels: list[str],
                images: list[dict[str, object | None]]) -> dict[str, TraitsAnalysis]:
    """One analysis per kind of item (classification: images; detection: missed objects and false
    positives), the buckets cut on the evaluation `images`' trait values, the Bonferroni correction
    counting the tests of all the analyses."""
    bucketers = _bucketers([i for i in images if i])
    prepared = {kind: _prepare(items, labels, bucketers) for kind, items in groups.items()}
    tests = sum(len(candidates) for _, candidates in prepared.values())
    out = {}
    for kind, (analysis, candidates) in prepared.items():
        analysis.tests = tests
        for row, trait, bucket, n, errors in candidates:
            e, k = bucket.errors, bucket.items
            ratio = (e / errors) / (k / n)
            if e < MIN_ERRORS or ratio < MIN_RATIO:
                continue
            p = fisher_greater(e, errors, k, n)
            if p * tests < ALPHA:
                row.findings.append(Finding(row.label, trait.name, bucket.key, trait.categorical, e, errors, k, n,
                                            p, ratio))
        for row in analysis.labels:
            row.findings.sort(key=lambda f: f.p_value)
        out[kind] = analysis
    return out


def _prepare(items: list[Item], labels: list[str], bucketers):
    known = [i for i in items if i.traits]
    keyed = []  # per item: {trait: bucket key}
    for i in known:
        keyed.append({name: key(i.traits[name]) for name, _, _, _, key in bucketers
                      if i.traits.get(name) is not None})
    overall = [_trait(name, cat, cuts, keys, [(k[name], i.error) for i, k in zip(known, keyed) if name in k])
               for name, cat, cuts, keys, _ in bucketers]
    per_label: list[LabelTraits] = []
    candidates: list[tuple[LabelTraits, Trait, Bucket, int, int]] = []
    by_label: dict[str, list] = {}  # one pass, not one scan of every item per label (labels x items)
    for i, k in zip(known, keyed):
        by_label.setdefault(i.label, []).append((i, k))
    for label in labels:
        mine = by_label.get(label)
        if not mine:
            continue
        traits = [_trait(name, cat, cuts, keys, [(k[name], i.error) for i, k in mine if name in k])
                  for name, cat, cuts, keys, _ in bucketers]
        row = LabelTraits(label, len(mine), sum(i.error for i, _ in mine), traits)
        per_label.append(row)
        for trait in traits:
            n = sum(b.items for b in trait.buckets)
            errors = sum(b.errors for b in trait.buckets)
            if errors == 0 or len([b for b in trait.buckets if b.items]) < 2:
                continue
            for bucket in trait.buckets:
                if bucket.items:
                    candidates.append((row, trait, bucket, n, errors))
    return TraitsAnalysis(overall, per_label, 0, items_without_traits=len(items) - len(known)), candidates
