"""The "Shared traits" page of a report (classification, detection, segmentation): traits read from the images at build time
(generator/formats/traits.py), analysed by generator/metrics/traits.py."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from generator.formats.traits import ImageTraits, read_traits
from generator.metrics.traits import META, Finding, Item, Trait, TraitsAnalysis, analyse_all, time_of_day
from generator.render.i18n import Messages
from generator.render.text import md
from generator.report.detection_model import DetectionReport
from generator.report.model import Report

PAGE = "traits.md"
CATEGORY_VALUES = ("camera",)  # traits whose buckets are raw values (escaped), not bucket codes


def trait_values(traits: ImageTraits | None, metadata: dict[str, str] | None = None) -> dict[str, object | None]:
    """An image's traits by name, with the user's metadata columns as meta:<column>."""
    values: dict[str, object | None] = {META + column: value for column, value in (metadata or {}).items()}
    if traits is not None:
        values.update({"brightness": traits.brightness, "contrast": traits.contrast, "sharpness": traits.sharpness,
                       "resolution": traits.width * traits.height, "orientation": traits.orientation,
                       "camera": traits.camera, "time_of_day": time_of_day(traits.hour)})
    return values


def trait_name(name: str, t: Messages) -> str:
    """Markdown-safe name of a trait (a metadata column's name is the user's text)."""
    return md(name[len(META):]) if name.startswith(META) else t("trait_" + name)


def classification_items(report: Report, traits: dict[str, ImageTraits | None]) -> dict[str, list[Item]]:
    """One item per evaluation image that could be read: error = misclassified, label = the true label."""
    meta = report.metadata or {}
    return {"misclassified": [Item(r.true, not r.correct, trait_values(traits.get(r.image), meta.get(r.image)))
                              for r in report.images if r.status == "ok"]}


def detection_items(report: DetectionReport, traits: dict[str, ImageTraits | None]) -> dict[str, list[Item]]:
    """Ground-truth objects (error = missed) and predictions at t* (error = false positive), each with its
    image's traits."""
    missed: list[Item] = []
    false_positive: list[Item] = []
    for r in report.images:
        if r.status != "ok" or r.boxes is None:
            continue
        values = trait_values(traits.get(r.image), (report.metadata or {}).get(r.image))
        for kind, label in zip(r.boxes.kinds, r.boxes.labels):
            if kind in ("ground_truth", "missed"):
                missed.append(Item(label, kind == "missed", values))
            else:
                false_positive.append(Item(label, kind == "false_positive", values))
    return {"missed": missed, "false_positive": false_positive}


def bucket_name(trait: str, key: str, t: Messages) -> str:
    """Markdown-safe name of a bucket."""
    if (trait in CATEGORY_VALUES or trait.startswith(META)) and key != "other":
        return md(key)
    return t("trait_bucket_" + key)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def finding_sentence(kind: str, f: Finding, link: str | None, t: Messages) -> str:
    text = t("traits_finding_" + kind, share=_pct(f.errors_in / f.errors), errors_in=f.errors_in,
             errors=f.errors, label=md(f.label), bucket=bucket_name(f.trait, f.bucket, t),
             trait=trait_name(f.trait, t), base=_pct(f.items_in / f.items), p=f"{f.p_value:.2g}")
    if link:
        text += " " + t("traits_gallery_link", link=f"[{t('traits_gallery')}]({link})")
    return text


def table_rows(traits: list[Trait], t: Messages) -> list[dict]:
    rows = []
    for trait in traits:
        for b in trait.buckets:
            if not b.items:
                continue
            rows.append(dict(trait=trait_name(trait.name, t), bucket=bucket_name(trait.name, b.key, t),
                             n=b.items, errors=b.errors, rate=b.rate, interval=b.interval))
    return rows


def render_traits(report: Report | DetectionReport, images_root: Path, docs: Path, env,
                  first_page: dict[str, str], progress: Callable[[int], None] | None = None) -> dict[str, TraitsAnalysis]:
    """Write docs/traits.md; returns the analyses by kind of error (for tests)."""
    from generator.render.pages import write_text

    t = Messages(report.task.language)
    ok = [r.image for r in report.images if r.status == "ok"]
    traits = read_traits(images_root, ok, progress)
    detection = isinstance(report, DetectionReport)
    groups = detection_items(report, traits) if detection else classification_items(report, traits)
    meta = report.metadata or {}
    analyses = analyse_all(groups, report.dataset.labels,
                           [trait_values(traits.get(image), meta.get(image)) for image in ok])
    kinds = [dict(kind=kind, overall=table_rows(a.overall, t)) for kind, a in analyses.items()]
    labels = []
    for label in report.dataset.labels:
        link = first_page.get(label)
        parts = []
        for kind, a in analyses.items():
            for row in a.labels:
                if row.label == label:
                    parts.append(dict(kind=kind, n=row.items, errors=row.errors, rows=table_rows(row.traits, t),
                                      sentences=[finding_sentence(kind, f, link, t) for f in row.findings]))
        if parts:
            labels.append(dict(label=label, link=link, parts=parts,
                               named=any(part["sentences"] for part in parts)))
    first = next(iter(analyses.values()))
    cutoffs = {}  # the same for every kind: cut on the images
    for a in analyses.values():
        for tr in a.overall:
            if tr.cutoffs:
                cutoffs[tr.name] = ", ".join(f"{c:.4g}" for c in tr.cutoffs)
    write_text(docs / PAGE, env.get_template("pages/traits.md.j2").render(
        t=t, a=first, kinds=kinds, labels=labels,
        cutoffs=[dict(trait=trait_name(name, t), cuts=cuts) for name, cuts in cutoffs.items()],
        unread=len(report.images) - len(ok) + sum(1 for image in ok if traits.get(image) is None)))
    return analyses
