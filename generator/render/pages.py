"""Markdown pages of a classification report through the Jinja2 templates in templates/pages/, and what every
kind's pages share (the Jinja2 environment, writing a page)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from evalsite.core.enums import ImageStatus
from evalsite.core.errors import LOUD_NOTICES
from evalsite.core.resources import templates_dir
from evalsite.render import charts
from evalsite.render.display import displayed
from evalsite.render.i18n import Messages
from evalsite.render.pictured import MAX_PER_LABEL, Pictured, choose_pictured, picture_budget
from evalsite.render.text import h, md, title
from evalsite.render.thumbnails import ImageAsset, make_assets
from evalsite.report.classification_model import ClassificationReport, Misclassification
from evalsite.report.confusion import MANY_LABELS, confusion_map, csv_rows, dense, to_cells
from evalsite.report.derived import ClassificationTables
from evalsite.report.findings import FEW_EXAMPLES
from evalsite.report.model import write_json

SUSPECTS_SHOWN = MAX_PER_LABEL  # pictured likely label errors (per reason in detection), before the galleries


def _pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _signed_pct(value: float | None) -> str:
    """A change in percentage points: +3.2 pp, −1.0 pp, ±0.0 pp."""
    if value is None or not math.isfinite(value):
        return "–"
    points = value * 100
    return "±0.0 pp" if round(points, 1) == 0 else f"{points:+.1f} pp".replace("-", "−")


def _signed_num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:+.{digits}f}".replace("-", "−")


def _range_pct(interval: list[float] | None) -> str:
    """A 95% interval of a share: 83.0–90.0%."""
    if not interval:
        return ""
    return f"{interval[0] * 100:.1f}–{interval[1] * 100:.1f}%"


def _range_num(interval: list[float] | None, digits: int = 2) -> str:
    """A 95% interval after a table value: (0.83–0.90), empty when there is none."""
    if not interval:
        return ""
    return f" <small class=\"es-ci\">({interval[0]:.{digits}f}–{interval[1]:.{digits}f})</small>"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=False,  # Markdown, not HTML: untrusted text goes through |md, |h or |title explicitly
        undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"], keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(md=md, h=h, title=title, pct=_pct, num=_num, signed_pct=_signed_pct, signed_num=_signed_num,
                       metric_name=lambda metric, t: t("cmp_metric_" + metric.replace(".", "_")),
                       range_pct=_range_pct, range_num=_range_num)
    env.globals["loud_notices"] = LOUD_NOTICES  # listed in a warning box on the first page, with their fix
    return env


@dataclass
class GalleryItem:
    error: Misclassification
    asset: ImageAsset | None


@dataclass
class GalleryPage:
    """One label's gallery: its first `len(items)` errors (gallery order) of `errors`; `cap` is the
    per-label cap K of the site (0: the picture budget did not reach one error per label)."""

    label: str
    file: str  # docs-relative path, e.g. errors/label-003.md (index-based: label names never reach URLs)
    items: list[GalleryItem]
    errors: int  # errors of this label
    support: int
    cap: int = MAX_PER_LABEL


def errors_by_label(report: ClassificationReport) -> dict[str, list[Misclassification]]:
    """Each true label's errors in gallery order (the report's order: the most confident mistakes first)."""
    by_label: dict[str, list[Misclassification]] = {}
    for error in report.errors:
        by_label.setdefault(error.true, []).append(error)
    return by_label


def pictured_errors(report: ClassificationReport, suspects: list[Misclassification],
                    limits: tuple[int, int] | None = None) -> Pictured:
    """The errors that get pictures (evalsite.render.pictured): the first SUSPECTS_SHOWN likely label errors,
    then the first K of every label; images that cannot be shown (missing, unreadable) cost no picture.
    `limits`: (images, errors), from picture_budget; the fixed limits when None."""
    ok = {r.image for r in report.images if r.status == ImageStatus.OK}

    def item(e: Misclassification) -> tuple[str, str | None]:
        return e.image, e.image if e.image in ok else None

    by_label = {label: [item(e) for e in errors] for label, errors in errors_by_label(report).items()}
    images, errors = limits or (None, None)
    return choose_pictured(by_label, [item(e) for e in suspects[:SUSPECTS_SHOWN]], max_images=images,
                           max_errors=errors)


def text_bytes(*texts: str) -> int:
    """The bytes of texts written as UTF-8 (what they weigh in the site)."""
    return sum(len(text.encode("utf-8")) for text in texts)


def gallery_pages(report: ClassificationReport, assets: dict[str, ImageAsset | None],
                  pictured: Pictured | None = None) -> list[GalleryPage]:
    """One page per label with errors, showing the errors `pictured` chose (all of them when None: the
    pages' addresses only)."""
    by_label = errors_by_label(report)
    support = {c.label: c.images for c in report.dataset.counts}
    pages: list[GalleryPage] = []
    for index, label in enumerate(report.dataset.labels, start=1):
        errors = by_label.get(label, [])
        if not errors:
            continue
        shown = errors if pictured is None else errors[:pictured.shown.get(label, 0)]
        pages.append(GalleryPage(
            label=label, file=f"errors/label-{index:03d}.md",
            items=[GalleryItem(e, assets.get(e.image)) for e in shown], errors=len(errors),
            support=support.get(label, 0), cap=MAX_PER_LABEL if pictured is None else pictured.cap))
    return pages


def _results_csv(report: ClassificationReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["image", "true", "predicted", "score", "correct", "true_rank", "status"])
    for r in report.images:
        writer.writerow([r.image, r.true, "" if r.predicted is None else r.predicted,
                         "" if r.confidence is None else repr(r.confidence), int(r.correct), r.true_rank, r.status])
    return out.getvalue()


def _errors_csv(report: ClassificationReport) -> str:
    """Every misclassified image (gallery order), with its top-1 score, the rank of its true label and its
    likely-label-error flag: what the galleries show and what their cap leaves out."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["image", "true", "predicted", "score", "true_rank", "suspect"])
    rank = {r.image: r.true_rank for r in report.images}
    for e in report.errors:
        writer.writerow([e.image, e.true, "" if e.predicted is None else e.predicted, _blank(e.confidence),
                         rank[e.image], e.suspect or ""])
    return out.getvalue()


def _suspects_csv(suspects: list[Misclassification]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "image", "true", "predicted", "score", "true_label_score", "margin", "threshold",
                     "suspect"])
    for rank, e in enumerate(suspects, start=1):
        own = None if e.confidence is None or e.suspicion is None else round(e.confidence - e.suspicion, 12)
        writer.writerow([rank, e.image, e.true, e.predicted or "", _blank(e.confidence), _blank(own),
                         _blank(e.suspicion), _blank(e.suspect_threshold), e.suspect])
    return out.getvalue()


def _blank(value: float | None) -> str:
    return "" if value is None else repr(value)


def confusion_csv(confusion, t: Messages, missed: str) -> str:
    """downloads/confusion.csv: the whole matrix (evalsite.report.confusion.csv_rows), None rows and
    columns named by the page's words (`missed`: the extra column's, `t("background")` for a None row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows = [t("background") if x is None else x for x in confusion.rows]
    columns = [missed if x is None else x for x in confusion.columns]
    writer.writerows(csv_rows(confusion.cells, rows, columns))
    return out.getvalue()


def charted(labels: list[str], values: list[float | None], limit: int = charts.CHART_LABELS
            ) -> tuple[list[str], list[float]]:
    """The labels a per-label chart draws: all of them (label order) up to `limit`, else the limit/2 lowest
    and the limit/2 highest values (lowest first; undefined values are left out)."""
    if len(labels) <= limit:
        return labels, [v if v is not None else 0.0 for v in values]
    known = sorted((v, i) for i, v in enumerate(values) if v is not None)
    chosen = known if len(known) <= limit else known[:limit // 2] + known[-(limit // 2):]
    return [labels[i] for _, i in chosen], [v for v, _ in chosen]


def draw_confusion(confusion, rows: list[str], columns: list[str], path: Path, large: bool) -> None:
    """charts/confusion.png: the matrix with its counts, or when `large` (the page's decision: more than
    MANY_LABELS labels) the ordered, binned map of evalsite.report.confusion (`rows`, `columns`: the names as
    the page writes them)."""
    n = len(confusion.rows)
    if not large:
        counts, shares = dense(confusion.cells, n, len(columns))
        charts.confusion_chart(rows, columns, np.array(counts, dtype=np.int64).reshape(n, len(columns)),
                               np.array(shares).reshape(n, len(columns)), path)
        return
    square = len([x for x in confusion.rows if x is not None])
    cells = to_cells(confusion.cells, (n, len(confusion.columns)))
    charts.heatmap_picture(confusion_map(cells, square).share, path)


def render_classification(report: ClassificationReport, tables: ClassificationTables, images_root: Path, docs: Path,
                          progress: Callable[[int], None] | None = None) -> None:
    """Write every page, chart, picture and download of a classification report into `docs` (pictures only
    of the misclassified images that can be read); `tables` from evalsite.report.derived. Pages show labels by
    their display names (evalsite.render.display); report.json and the downloads keep the ids."""
    original, original_tables = report, tables
    report = displayed(report, report.dataset.label_names)
    tables = displayed(tables, report.dataset.label_names)
    t = Messages(report.task.language)
    write_json(original, docs / "report.json")  # at the site root: the overview reads it there; streamed
    files = {"downloads/results.csv": _results_csv(original), "downloads/errors.csv": _errors_csv(original),
             "downloads/confusion.csv": confusion_csv(original.confusion, t, t("no_prediction")),
             "downloads/suspects.csv": _suspects_csv(original_tables.suspects)}
    text = (docs / "report.json").stat().st_size + text_bytes(*files.values())
    pictured = pictured_errors(report, tables.suspects, picture_budget(text, len(report.dataset.labels)))
    shown = [e.image for e in report.errors if e.image in pictured.images]
    if progress:
        progress(len(report.errors) - len(shown))  # placeholders and errors beyond the cap need no picture
    assets = make_assets(images_root, shown, docs, progress)
    env = environment()
    c = report.confusion
    large = len(c.rows) > MANY_LABELS
    draw_confusion(c, c.rows, [t("no_prediction") if x is None else x for x in c.columns],
                   docs / "charts/confusion.png", large)
    if report.curves.topk:
        charts.topk_chart([p.k for p in report.curves.topk], [p.accuracy for p in report.curves.topk],
                          docs / "charts/topk.png")
    f1_labels, f1_values = charted([m.label for m in report.per_label], [m.f1 for m in report.per_label])
    charts.per_label_chart(f1_labels, f1_values, docs / "charts/f1.png")

    galleries = gallery_pages(report, assets, pictured)
    first_page = {g.label: g.file for g in galleries}
    context = dict(r=report, t=t, galleries=galleries, first_page=first_page, few=FEW_EXAMPLES,
                   large=large, no_prediction=t("no_prediction"),
                   f1_charted=len(f1_labels), chart_labels=charts.CHART_LABELS)
    context["pictured"] = pictured  # the galleries' cap and budget (evalsite.render.pictured)
    pages = {
        "index.md": "pages/classification/index.md.j2",
        "details.md": "pages/classification/details.md.j2",
        "errors/index.md": "pages/classification/errors_index.md.j2",
        "data.md": "pages/classification/data.md.j2",
    }
    for target, template in pages.items():
        write_text(docs / target, env.get_template(template).render(**context))
    gallery = env.get_template("pages/classification/errors_label.md.j2")
    for page in galleries:
        write_text(docs / page.file, gallery.render(page=page, **context))
    suspects = [GalleryItem(e, assets.get(e.image)) for e in tables.suspects[:pictured.reserved]]
    write_text(docs / "errors/suspects.md", env.get_template("pages/classification/suspects.md.j2").render(
        suspects=suspects, suspects_total=len(tables.suspects), **context))

    for name, text in files.items():
        write_text(docs / name, text)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
