"""Pages, pictures and downloads of a comparison site (`evalsite compare`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from evalsite.core.enums import ImageStatus
from evalsite.core.parallel import parallel
from evalsite.formats.images import image_path, quiet_images
from evalsite.render.display import displayed
from evalsite.render.i18n import Messages
from evalsite.render.overlays import draw_full, to_rgb
from evalsite.render.pages import environment, write_text
from evalsite.render.thumbnails import THUMB_SIZE, asset_name, make_assets
from evalsite.report.compare_model import Comparison, ImageChange
from evalsite.report.detection_model import DetectionReport, DrawnBoxes
from evalsite.report.model import Report, to_json

SHOWN = 120  # images per gallery (fixed, broken); all of them are in the CSV


@dataclass
class Picture:
    thumb: str
    full: str


@dataclass
class ChangeItem:
    change: ImageChange
    base: Picture | None  # detection: each model's drawing; classification: the same picture twice
    candidate: Picture | None


def _detection_pictures(images_root: Path, changes: list[ImageChange], base: DetectionReport,
                        candidate: DetectionReport, docs: Path, progress: Callable[[int], None] | None):
    """Each changed image drawn twice, with each model's objects at its own t*."""
    drawn = {side: {r.image: r.boxes for r in report.images} for side, report in
             (("base", base), ("candidate", candidate))}
    (docs / "pics").mkdir(parents=True, exist_ok=True)

    def work(change: ImageChange) -> tuple[str, dict[str, Picture] | None]:
        name = asset_name(change.image)
        out: dict[str, Picture] = {}
        source = image_path(images_root, change.image)  # None: a link leading outside the root, never drawn
        try:
            if source is None:
                raise OSError("outside the images root")
            with Image.open(source) as opened:
                image = to_rgb(opened)
                for side in ("base", "candidate"):
                    boxes: DrawnBoxes | None = drawn[side].get(change.image)
                    full = draw_full(image, boxes)
                    picture = Picture(thumb=f"pics/{name}-{side}-thumb.png", full=f"pics/{name}-{side}.png")
                    full.save(docs / picture.full, format="PNG")
                    thumb = full.copy()
                    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
                    thumb.save(docs / picture.thumb, format="PNG")
                    out[side] = picture
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            return change.image, None
        return change.image, out

    with quiet_images():
        return dict(parallel(work, changes, progress))


def _changes_csv(comparison: Comparison) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["image", "change", "base_errors", "candidate_errors", "base", "candidate"])
    for kind, items in (("fixed", comparison.fixed), ("broken", comparison.broken)):
        for c in items:
            writer.writerow([c.image, kind, c.base_errors, c.candidate_errors, c.base_summary, c.candidate_summary])
    return out.getvalue()


def render_comparison(comparison: Comparison, base: Report, candidate: Report, images_root: Path, docs: Path,
                      progress: Callable[[int], None] | None = None) -> None:
    """Write every page, picture and download of a comparison into `docs`."""
    t = Messages(comparison.language)
    shown = comparison.fixed[:SHOWN] + comparison.broken[:SHOWN]
    status = {r.image: r.status for r in base.images}
    readable = [c for c in shown if status.get(c.image) == ImageStatus.OK]
    if progress:
        progress(len(shown) - len(readable))
    detection = base.task.type.is_detection
    if detection:
        pictures = _detection_pictures(images_root, readable, base, candidate, docs, progress)  # type: ignore[arg-type]
    else:
        assets = make_assets(images_root, [c.image for c in readable], docs, progress)
        pictures = {image: None if a is None else {side: Picture(a.thumb, a.full) for side in ("base", "candidate")}
                    for image, a in assets.items()}

    def items(changes: list[ImageChange]) -> list[ChangeItem]:
        out = []
        for c in changes[:SHOWN]:
            p = pictures.get(c.image)
            out.append(ChangeItem(c, p["base"] if p else None, p["candidate"] if p else None))
        return out

    # The pages show labels by their display names (evalsite.render.display); compare.json and the download
    # keep the ids. The candidate's names first: it is the model under review.
    names = {**(base.dataset.label_names or {}), **(candidate.dataset.label_names or {})} or None
    page = displayed(comparison, names)
    env = environment()
    context = dict(c=page, t=t, fixed=items(page.fixed), broken=items(page.broken), shown=SHOWN,
                   detection=detection,
                   headline={m.metric: m for m in comparison.headline})
    for target, template in {"index.md": "index", "details.md": "details", "fixed.md": "fixed",
                             "broken.md": "broken", "data.md": "data"}.items():
        write_text(docs / target, env.get_template(f"pages/compare/{template}.md.j2").render(**context))
    write_text(docs / "compare.json", to_json(comparison))
    write_text(docs / "downloads/changed_images.csv", _changes_csv(comparison))
