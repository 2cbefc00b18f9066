"""Markdown pages, charts, pictures and downloads of a detection (or segmentation) report."""

from __future__ import annotations

import csv
import io
import json
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evalsite.core.enums import ErrorKind, ErrorType, ImageStatus, SuspectReason, TaskType
from evalsite.core.masks.rle import rle_area, rle_from_string
from evalsite.render import charts
from evalsite.render.display import display_name, displayed
from evalsite.render.i18n import Messages
from evalsite.render.overlays import DetectionAssets, make_detection_assets
from evalsite.render.pages import (
    SUSPECTS_SHOWN,
    confusion_csv,
    draw_confusion,
    environment,
    text_bytes,
    write_text,
)
from evalsite.render.pictured import MAX_PER_LABEL, Pictured, choose_pictured, picture_budget
from evalsite.report.confusion import MANY_LABELS, dense
from evalsite.report.derived import DetectionTables, suspects_by_reason
from evalsite.report.detection_model import BoxMistake, DetectionReport
from evalsite.report.findings import FEW_EXAMPLES
from evalsite.report.model import write_json

PR_CURVES = 10  # precision-recall curves drawn above MANY_LABELS labels (the labels with the most objects)


@dataclass
class DetGalleryItem:
    error: BoxMistake
    thumb: str | None
    full: str | None
    link: str | None


@dataclass
class DetGalleryPage:
    """One label's gallery: its first `len(items)` errors (gallery order: _error_order) of `errors`; `cap` is
    the per-label cap K of the site (0: the picture budget did not reach one error per label). The counts
    (fp, fn, kinds, types) are of all its errors."""

    label: str
    file: str
    items: list[DetGalleryItem]
    fp: int
    fn: int
    kinds: dict[ErrorKind, int] = field(default_factory=dict)
    types: dict[ErrorType, int] = field(default_factory=dict)
    errors: int = 0
    cap: int = MAX_PER_LABEL


class _Quoted(string.Formatter):
    """Fills an annotation_url template; every value is percent-encoded (file names are untrusted)."""

    def format_field(self, value: object, format_spec: str) -> str:
        return urllib.parse.quote(str(value), safe="")


def annotation_link(template: str | None, error: BoxMistake, label_ids: dict[str, str] | None = None) -> str | None:
    """The error's link into the annotation tool; `label_ids` maps a shown label back to its id."""
    if not template:
        return None
    return _Quoted().format(template, file_name=error.image, image_id=error.image_id,
                            annotation_id="" if error.annotation_id is None else error.annotation_id,
                            label=(label_ids or {}).get(error.label, error.label))


def _error_order(error: BoxMistake) -> tuple:
    # False positives first, most confident first (likely annotation mistakes); then missed objects.
    return (error.kind is not ErrorKind.FALSE_POSITIVE, -(error.score if error.score is not None else -1.0), error.id)


def _label_ids(report: DetectionReport) -> dict[str, str]:
    """Shown label -> id, for a report whose labels show their display names (evalsite.render.display)."""
    names = report.dataset.label_names
    return {display_name(label, names): label for label in names or ()}


def errors_by_label(report: DetectionReport) -> dict[str, list[BoxMistake]]:
    """Each label's errors in gallery order (_error_order), labels in label order, labels without errors
    left out."""
    by_label: dict[str, list[BoxMistake]] = {}
    for error in report.errors:
        by_label.setdefault(error.label, []).append(error)
    return {label: sorted(by_label[label], key=_error_order) for label in report.dataset.labels if label in by_label}


def pictured_errors(report: DetectionReport, suspects: dict[SuspectReason, list[BoxMistake]],
                    limits: tuple[int, int] | None = None) -> Pictured:
    """The errors that get pictures (evalsite.render.pictured): the first SUSPECTS_SHOWN likely label errors of
    each reason, then the first K of every label; images that cannot be shown cost no picture. `limits`:
    (images, errors), from picture_budget; the fixed limits when None."""
    ok = {r.image for r in report.images if r.status == ImageStatus.OK}

    def item(e: BoxMistake) -> tuple[int, str | None]:
        return e.id, e.image if e.image in ok else None

    reserved = [item(e) for errors in suspects.values() for e in errors[:SUSPECTS_SHOWN]]
    images, errors = limits or (None, None)
    return choose_pictured({label: [item(e) for e in errors] for label, errors in errors_by_label(report).items()},
                           reserved, max_images=images, max_errors=errors)


def _item(report: DetectionReport, error: BoxMistake, assets: DetectionAssets, label_ids: dict[str, str]
          ) -> DetGalleryItem:
    thumb = assets.thumbs.get(error.id)
    return DetGalleryItem(error, thumb, assets.full.get(error.image) if thumb else None,
                          annotation_link(report.task.annotation_url, error, label_ids))


def detection_galleries(report: DetectionReport, assets: DetectionAssets | None = None,
                        pictured: Pictured | None = None) -> list[DetGalleryPage]:
    """One page per label with errors, showing the errors `pictured` chose (all of them when None: the
    pages' addresses only) with the pictures of `assets` (placeholders for the others)."""
    assets = assets or DetectionAssets()
    label_ids, by_label = _label_ids(report), errors_by_label(report)
    pages: list[DetGalleryPage] = []
    for index, label in enumerate(report.dataset.labels, start=1):
        errors = by_label.get(label)
        if not errors:
            continue
        kinds = {k: sum(e.kind == k for e in errors) for k in ErrorKind}
        kinds = {k: n for k, n in kinds.items() if n}
        types = {ty: sum(e.type == ty for e in errors) for ty in ErrorType}
        types = {ty: n for ty, n in types.items() if n}
        shown = errors if pictured is None else errors[:pictured.shown.get(label, 0)]
        pages.append(DetGalleryPage(label=label, file=f"errors/label-{index:03d}.md",
                                    items=[_item(report, e, assets, label_ids) for e in shown],
                                    fp=kinds.get(ErrorKind.FALSE_POSITIVE, 0), fn=kinds.get(ErrorKind.MISSED, 0),
                                    kinds=kinds, types=types, errors=len(errors),
                                    cap=MAX_PER_LABEL if pictured is None else pictured.cap))
    return pages


def detection_suspects(report: DetectionReport, assets: DetectionAssets | None = None,
                       suspects: dict[SuspectReason, list[BoxMistake]] | None = None
                       ) -> dict[SuspectReason, list[DetGalleryItem]]:
    """The gallery items of the likely label errors by reason, in the order of `suspects` (the report's
    DetectionTables.suspects; evalsite.report.derived.suspects_by_reason(report) when not given), with the
    pictures of `assets`."""
    if suspects is None:
        suspects = suspects_by_reason(report)
    assets = assets or DetectionAssets()
    label_ids = _label_ids(report)
    return {reason: [_item(report, e, assets, label_ids) for e in errors] for reason, errors in suspects.items()}


def _cell_links(report: DetectionReport, first_page: dict[str, str]) -> list[list[str | None]]:
    """Where each confusion cell's errors are: the gallery of the label concerned, filtered."""
    c = report.confusion
    links: list[list[str | None]] = []
    for row in c.rows:
        line: list[str | None] = []
        for col in c.columns:
            if row is not None and col is None and row in first_page:
                line.append(first_page[row].replace(".md", ".html") + "#show=missed")
            elif row is None and col is not None and col in first_page:
                line.append(first_page[col].replace(".md", ".html") + "#show=false_positive")
            elif row is not None and col is not None and row != col and col in first_page:
                line.append(first_page[col].replace(".md", ".html") + "#show=false_positive:wrong_label")
            else:
                line.append(None)
        links.append(line)
    return links


def _results_csv(report: DetectionReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["image", "image_id", "objects", "predictions_at_threshold", "false_positives", "missed",
                     "status"])
    for r in report.images:
        writer.writerow([r.image, r.image_id, r.objects, r.predictions, r.false_positives, r.missed, r.status])
    return out.getvalue()


def _errors_csv(report: DetectionReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    segmentation = report.task.type is TaskType.SEGMENTATION
    # Segmentation: iou is mask IoU, and box_iou follows (with the object's mask as compressed RLE).
    writer.writerow(["error", "kind", "type", "image", "image_id", "label", "x", "y", "w", "h", "score", "iou",
                     "related_label", "annotation_id", "annotation_url",
                     *(["box_iou", "mask_rle"] if segmentation else []), "suspect", "suspicion"])
    for e in sorted(report.errors, key=lambda e: e.id):
        writer.writerow([e.id, e.kind, e.type, e.image, e.image_id, e.label, *(repr(v) for v in e.box),
                         "" if e.score is None else repr(e.score), "" if e.iou is None else repr(e.iou),
                         e.related_label or "", "" if e.annotation_id is None else e.annotation_id,
                         annotation_link(report.task.annotation_url, e) or "",
                         *([_blank(e.box_iou), e.mask or ""] if segmentation else []),
                         e.suspect or "", _blank(e.suspicion)])
    return out.getvalue()


def _blank(value: float | None) -> str:
    return "" if value is None else repr(value)


def _annotation_shape(error: BoxMistake, size: tuple[int | None, int | None]) -> dict:
    """COCO bbox and area of an error's object; with its mask (segmentation) the RLE and the mask's area."""
    if error.mask is None:
        return {"bbox": error.box, "area": error.box[2] * error.box[3]}
    width, height = size
    return {"bbox": error.box, "area": float(rle_area(rle_from_string(error.mask))),
            "segmentation": {"size": [height, width], "counts": error.mask}}


def _relabel_coco(report: DetectionReport) -> str:
    """A COCO file of what a reviewer should look at: every missed object, and every false positive of
    type background or wrong label (a confident one may be a missing or wrong annotation)."""
    label_id = dict(zip(report.dataset.labels, report.dataset.label_ids))
    chosen = [e for e in sorted(report.errors, key=lambda e: e.id)
              if e.kind is ErrorKind.MISSED or e.type in (ErrorType.BACKGROUND, ErrorType.WRONG_LABEL)]
    sizes = {r.image: (r.width, r.height) for r in report.images}
    images = {e.image: e.image_id for e in chosen}
    data = {
        "info": {"description": f"evalsite: objects to review in {report.task.name}",
                 "version": report.task.evalsite_version},
        "images": [{"id": image_id, "file_name": image, "width": sizes[image][0], "height": sizes[image][1]}
                   for image, image_id in sorted(images.items(), key=lambda kv: kv[1])],
        "annotations": [{"id": e.id, "image_id": e.image_id, "category_id": label_id[e.label],
                         **_annotation_shape(e, sizes[e.image]), "iscrowd": 0,
                         "attributes": {"evalsite_kind": e.kind, "evalsite_type": e.type, "score": e.score,
                                        "original_annotation_id": e.annotation_id}}
                        for e in chosen],
        "categories": [{"id": i, "name": n} for n, i in label_id.items()],
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"  # tools read it: no indentation


def _thresholds_js(table: dict | None) -> str | None:
    """The threshold explorer's table (evalsite.report.derived.explorer_table) as a script setting
    window.ES_THRESHOLDS: pages opened from file:// cannot fetch JSON. None without a table."""
    if table is None:
        return None
    return ("/* evalsite: the threshold explorer's precomputed counts (generated). */\n"
            f"window.ES_THRESHOLDS = {json.dumps(table, ensure_ascii=True, separators=(',', ':'))};\n")


def render_detection(report: DetectionReport, tables: DetectionTables, images_root: Path, docs: Path,
                     progress: Callable[[int], None] | None = None) -> None:
    """Write every page, chart, picture and download of a detection report into `docs`; `tables` from
    evalsite.report.derived."""
    t = Messages(report.task.language)
    env = environment()
    m = report.metrics
    boxes = {r.image: r.boxes for r in report.images}
    # Pages show labels by their display names (evalsite.render.display); report.json and downloads keep ids.
    original, names = report, report.dataset.label_names
    report, tables = displayed(report, names), displayed(tables, names)
    write_json(original, docs / "report.json")  # streamed: never the whole text in memory (1.3 GB at 200k images)
    files = {"downloads/results.csv": _results_csv(original),
             "downloads/errors.csv": _errors_csv(original), "downloads/relabel.json": _relabel_coco(original),
             "downloads/confusion.csv": confusion_csv(original.confusion, t, t("missed_column"))}
    text = (docs / "report.json").stat().st_size + text_bytes(*files.values())
    pictured = pictured_errors(report, tables.suspects, picture_budget(text, len(report.dataset.labels)))
    shown = [e for e in original.errors if e.id in pictured.keys and e.image in pictured.images]
    if progress:
        progress(len(report.errors) - len(shown))  # placeholders and errors beyond the cap need no picture
    assets = make_detection_assets(images_root, shown, boxes, docs, progress)
    if names and tables.thresholds and "names" in tables.thresholds:
        tables.thresholds["names"] = [display_name(label, names) for label in tables.thresholds["names"]]

    large = len(report.per_label) > MANY_LABELS
    overall, *per_label = report.curves.f1_vs_threshold
    charts.f1_threshold_chart((overall.x, overall.y), [] if large else [(c.label, c.x, c.y) for c in per_label],
                              m.get("threshold"), docs / "charts/f1_threshold.png")
    pr = report.curves.pr
    if large:  # the labels with the most objects (label order among equals)
        objects = {row.label: row.objects for row in report.per_label}
        pr = sorted(sorted(pr, key=lambda c: -objects.get(c.label, 0))[:PR_CURVES], key=pr.index)
    charts.pr_chart([(c.label, c.x, c.y) for c in pr], docs / "charts/pr.png")
    c = report.confusion
    if large:  # up to MANY_LABELS labels the page shows the matrix as a table, not as a picture
        draw_confusion(c, [t("background") if x is None else x for x in c.rows],
                       [t("missed_column") if x is None else x for x in c.columns], docs / "charts/confusion.png",
                       large)

    galleries = detection_galleries(report, assets, pictured)
    first_page = {g.label: g.file for g in galleries}
    counts, shares = dense(c.cells, len(c.rows), len(c.columns)) if not large else ([], [])
    context = dict(r=report, t=t, galleries=galleries, first_page=first_page, few=FEW_EXAMPLES, large=large,
                   counts=counts, shares=shares, cell_links=[] if large else _cell_links(report, first_page),
                   pr_charted=len(pr))
    context["pictured"] = pictured  # the galleries' cap and budget (evalsite.render.pictured)
    thresholds_js = _thresholds_js(tables.thresholds)
    if thresholds_js:
        write_text(docs / "thresholds.js", thresholds_js)
    context["explorer"] = thresholds_js is not None
    for target, template in {"index.md": "index", "details.md": "details", "errors/index.md": "errors_index",
                             "data.md": "data"}.items():
        write_text(docs / target, env.get_template(f"pages/detection/{template}.md.j2").render(**context))
    gallery = env.get_template("pages/detection/errors_label.md.j2")
    for page in galleries:
        write_text(docs / page.file, gallery.render(page=page, **context))
    shown_suspects = {reason: [e for e in errors[:SUSPECTS_SHOWN] if e.id in pictured.keys]
                      for reason, errors in tables.suspects.items()}
    write_text(docs / "errors/suspects.md", env.get_template("pages/detection/suspects.md.j2").render(
        suspects=detection_suspects(report, assets, shown_suspects),
        suspects_total={k: len(v) for k, v in tables.suspects.items()}, **context))
    for name, text in files.items():
        write_text(docs / name, text)
