"""The "Shared traits" page of a report (classification, detection, segmentation), from the analyses of
generator/report/traits.py."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from evalsite.render.display import display_name
from evalsite.render.i18n import Messages
from evalsite.render.text import md
from evalsite.report.confusion import MANY_LABELS
from evalsite.report.model import Report
from evalsite.report.traits import META, Finding, SharedTraits, Trait

PAGE = "traits.md"
CATEGORY_VALUES = ("camera",)  # traits whose buckets are raw values (escaped), not bucket codes


def trait_name(name: str, t: Messages) -> str:
    """Markdown-safe name of a trait (a metadata column's name is the user's text)."""
    return md(name[len(META):]) if name.startswith(META) else t("trait_" + name)


def bucket_name(trait: str, key: str, t: Messages) -> str:
    """Markdown-safe name of a bucket."""
    if (trait in CATEGORY_VALUES or trait.startswith(META)) and key != "other":
        return md(key)
    return t("trait_bucket_" + key)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def finding_sentence(kind: str, f: Finding, link: str | None, t: Messages, names: dict[str, str] | None = None,
                     ) -> str:
    text = t("traits_finding_" + kind, share=_pct(f.errors_in / f.errors), errors_in=f.errors_in,
             errors=f.errors, label=md(display_name(f.label, names)), bucket=bucket_name(f.trait, f.bucket, t),
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


def _traits_csv(report: Report, analyses: dict) -> str:
    """downloads/traits.csv: every bucket of every trait, overall (label empty) and per label, with the
    error rate's interval; labels by their ids as in report.json."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "label", "trait", "bucket", "items", "errors", "rate", "low", "high"])

    def write(kind: str, label: str, traits: list[Trait]) -> None:
        for trait in traits:
            for b in trait.buckets:
                if b.items:
                    low, high = (repr(v) for v in b.interval) if b.interval else ("", "")
                    writer.writerow([kind, label, trait.name, b.key, b.items, b.errors,
                                     "" if b.rate is None else repr(b.rate), low, high])

    for kind, a in analyses.items():
        write(kind, "", a.overall)
        for row in a.labels:
            write(kind, row.label, row.traits)
    return out.getvalue()


def render_traits(report: Report, shared: SharedTraits, docs: Path, env,
                  first_page: dict[str, str]) -> None:
    """Write docs/traits.md from the analyses of `shared` (evalsite.report.traits)."""
    from evalsite.render.pages import write_text

    t = Messages(report.task.language)
    analyses = shared.analyses
    kinds = [dict(kind=kind, overall=table_rows(a.overall, t)) for kind, a in analyses.items()]
    labels = []
    names = getattr(report.dataset, "label_names", None)
    rows_of = {}
    for kind, a in analyses.items():
        for row in a.labels:
            rows_of.setdefault(row.label, []).append((kind, row))
    many = len(report.dataset.labels) > MANY_LABELS
    for label in report.dataset.labels:
        link = first_page.get(label)
        if many and not any(row.findings for _, row in rows_of.get(label, [])):
            continue  # with many labels the page names only the labels with a finding; traits.csv has all
        parts = [dict(kind=kind, n=row.items, errors=row.errors, rows=[] if many else table_rows(row.traits, t),
                      sentences=[finding_sentence(kind, f, link, t, names) for f in row.findings])
                 for kind, row in rows_of.get(label, [])]
        if parts:
            labels.append(dict(label=display_name(label, names), link=link, parts=parts,
                               named=any(part["sentences"] for part in parts)))
    write_text(docs / "downloads/traits.csv", _traits_csv(report, analyses))
    first = next(iter(analyses.values()))
    cutoffs = {}  # the same for every kind: cut on the images
    for a in analyses.values():
        for tr in a.overall:
            if tr.cutoffs:
                cutoffs[tr.name] = ", ".join(f"{c:.4g}" for c in tr.cutoffs)
    write_text(docs / PAGE, env.get_template("pages/traits.md.j2").render(
        t=t, a=first, kinds=kinds, labels=labels, many=many, n_labels=len(report.dataset.labels),
        cutoffs=[dict(trait=trait_name(name, t), cuts=cuts) for name, cuts in cutoffs.items()],
        unread=shared.unread))
