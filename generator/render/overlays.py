"""Detection and segmentation pictures: error thumbnails cropped around the object, and whole images with
every object at t*.

Colours (also in the page legends, evalsite.css): false positive (误识别) red, missed object (漏识别) orange,
correct prediction blue (segmentation: green), ground truth green. Boxes are drawn after scaling, so lines
stay crisp. Segmentation draws masks instead of boxes: a translucent fill with an opaque outline for
false positives, missed objects and correct predictions, an outline only for ground truth and for the
object an error is related to; its thumbnails are cropped around the mask.

Files: one thumbnail per pictured error (thumbs/e<error id>) and one full view per pictured image (full/<hash
of its path>), in the formats of evalsite.render.thumbnails (JPEG for photographs, PNG where smaller or for
the pixel-exact enlargement of a tiny image).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from evalsite.core.enums import BoxKind, ErrorKind
from evalsite.core.masks.rle import rle_decode, rle_from_string
from evalsite.core.parallel import parallel
from evalsite.formats.images import image_path, quiet_images
from evalsite.render.thumbnails import FULL_SIZE, MIN_VIEW, THUMB_SIZE, asset_name, enlargement, is_flat, save_picture
from evalsite.report.detection_model import BoxMistake, DrawnBoxes

COLOURS = {  # by BoxKind; an ErrorKind finds its colour too (a member is its name)
    BoxKind.FALSE_POSITIVE: (220, 38, 38),
    BoxKind.MISSED: (245, 140, 0),
    BoxKind.CORRECT: (37, 99, 235),
    BoxKind.GROUND_TRUTH: (22, 163, 74),
}
# Segmentation: correct predictions are green (the palette), the related prediction of a missed
# object stays blue.
MASK_COLOURS = {**COLOURS, BoxKind.CORRECT: (22, 163, 74), "related_prediction": (37, 99, 235)}
FILL_ALPHA = 0.4
MARGIN = 0.5  # crop margin around the object, as a share of its size on each side
MIN_CROP = 24  # pixels: tiny objects get at least this much context


def thumb_stem(error: BoxMistake) -> str:
    """The thumbnail's docs path without its extension (the format is chosen per picture)."""
    return f"thumbs/e{error.id:06d}"


def full_stem(image: str) -> str:
    """The full view's docs path without its extension."""
    return f"full/{asset_name(image)}"


@dataclass
class DetectionAssets:
    """Docs paths of the pictures made: thumbnails by error id, full views by image (readable images only)."""

    thumbs: dict[int, str] = field(default_factory=dict)
    full: dict[str, str] = field(default_factory=dict)


def to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    return image.convert("RGB") if image.mode != "RGB" else image


def _draw(draw: ImageDraw.ImageDraw, box: Sequence[float], scale: float, offset: tuple[float, float],
          colour: tuple[int, int, int], width: int) -> None:
    x, y, w, h = box
    x0, y0 = (x - offset[0]) * scale, (y - offset[1]) * scale
    x1, y1 = x0 + max(w * scale, 1), y0 + max(h * scale, 1)
    draw.rectangle([x0, y0, x1, y1], outline=colour, width=width)


def _mask(rle: str | None, image: Image.Image) -> np.ndarray | None:
    """The (h, w) bool mask of a compressed RLE in the image's size; None if absent or of another size (a
    picture whose size differs from the annotated one is still shown, with boxes)."""
    if rle is None:
        return None
    counts = rle_from_string(rle)
    if int(counts.sum()) != image.width * image.height:
        return None
    return rle_decode(counts, image.height, image.width)


def _mask_extent(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    return float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)


def _scaled(mask: np.ndarray, crop: tuple[int, int, int, int], size: tuple[int, int]) -> Image.Image | None:
    """The part `crop` (left, top, right, bottom, image pixels) of `mask`, scaled to `size`, as an "L"
    image (255 = set); None when that part is empty."""
    left, top, right, bottom = crop
    part = mask[top:bottom, left:right]
    if not part.any():
        return None
    return Image.fromarray(part.astype(np.uint8) * 255, mode="L").resize(size, Image.Resampling.NEAREST)


def _fill(canvas: Image.Image, scaled: Image.Image | None, colour: tuple[int, int, int]) -> None:
    if scaled is not None:
        canvas.paste(Image.new("RGB", canvas.size, colour), (0, 0), scaled.point(lambda v: round(v * FILL_ALPHA)))


def _outline(canvas: Image.Image, scaled: Image.Image | None, colour: tuple[int, int, int], width: int) -> None:
    if scaled is not None:
        inner = scaled.filter(ImageFilter.MinFilter(2 * width + 1))
        edge = Image.fromarray(np.asarray(scaled) & ~np.asarray(inner), mode="L")
        canvas.paste(Image.new("RGB", canvas.size, colour), (0, 0), edge)


def crop_error(image: Image.Image, error: BoxMistake) -> Image.Image:
    """The object with a margin around it, scaled to at most THUMB_SIZE, its box (and the box it was
    confused with, thinner, in green) drawn on top; for segmentation its mask (and the related mask, as an
    outline), cropped around the mask."""
    mask, related = _mask(error.mask, image), _mask(error.related_mask, image)
    extent = _mask_extent(mask) if mask is not None else None
    x, y, w, h = extent or error.box
    pad_x, pad_y = max(w * MARGIN, MIN_CROP / 2), max(h * MARGIN, MIN_CROP / 2)
    left, top = max(0.0, x - pad_x), max(0.0, y - pad_y)
    right, bottom = min(float(image.width), x + w + pad_x), min(float(image.height), y + h + pad_y)
    if right - left < 1 or bottom - top < 1:  # defensive: a degenerate box still gets a picture
        left, top, right, bottom = 0.0, 0.0, float(image.width), float(image.height)
    crop = (int(left), int(top), int(round(right)), int(round(bottom)))
    region = image.crop(crop)
    scale = THUMB_SIZE / max(region.width, region.height)
    size = (max(1, round(region.width * scale)), max(1, round(region.height * scale)))
    region = region.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    offset = (int(left), int(top))
    if mask is not None or related is not None:
        if mask is not None:
            own = _scaled(mask, crop, region.size)
            _fill(region, own, MASK_COLOURS[error.kind])
            _outline(region, own, MASK_COLOURS[error.kind], 2)
        else:
            _draw(ImageDraw.Draw(region), error.box, scale, offset, COLOURS[error.kind], 3)
        if related is not None:  # an outline on top, so that both shapes stay visible
            _outline(region, _scaled(related, crop, region.size),
                     MASK_COLOURS[BoxKind.GROUND_TRUTH if error.kind is ErrorKind.FALSE_POSITIVE
                                  else "related_prediction"], 1)
        return region
    draw = ImageDraw.Draw(region)
    if error.related_box is not None:
        _draw(draw, error.related_box, scale, offset, COLOURS[BoxKind.GROUND_TRUTH]
              if error.kind is ErrorKind.FALSE_POSITIVE else COLOURS[BoxKind.CORRECT], 1)
    _draw(draw, error.box, scale, offset, COLOURS[error.kind], 3)
    return region


def full_scale(image: Image.Image) -> float:
    """The full view's scale: at most FULL_SIZE px on the longest side, never enlarged, except a tiny image
    (evalsite.render.thumbnails.enlargement: by a whole factor to at least MIN_VIEW)."""
    longest = max(image.width, image.height)
    if longest > FULL_SIZE:
        return FULL_SIZE / longest
    return float(enlargement(longest, MIN_VIEW))


def draw_full(image: Image.Image, boxes: DrawnBoxes | None) -> Image.Image:
    """The whole image (at most FULL_SIZE; a tiny one enlarged pixel-exact: full_scale) with ground truth and
    predictions at t*; errors drawn last. Segmentation: masks (ground truth as outlines, predictions and
    missed objects filled)."""
    scale = full_scale(image)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if scale == 1:
        canvas = image.copy()
    else:
        canvas = image.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    order = {BoxKind.GROUND_TRUTH: 0, BoxKind.CORRECT: 1, BoxKind.MISSED: 2, BoxKind.FALSE_POSITIVE: 3}
    masks = boxes.masks if boxes is not None and boxes.masks is not None else None
    items = sorted(((kind, box, masks[i] if masks else None) for i, (kind, _, box, _) in enumerate(boxes or ())),
                   key=lambda b: order[b[0]])
    whole = (0, 0, image.width, image.height)
    outlines = []
    for kind, box, rle in items:
        mask = _mask(rle, image)
        if mask is None:
            _draw(draw, box, scale, (0, 0), COLOURS[kind], 3 if kind in (BoxKind.MISSED, BoxKind.FALSE_POSITIVE) else 2)
            continue
        scaled = _scaled(mask, whole, canvas.size)
        if kind != BoxKind.GROUND_TRUTH:
            _fill(canvas, scaled, MASK_COLOURS[kind])
        outlines.append((kind, scaled))
    for kind, scaled in outlines:  # every outline after every fill, so that none is hidden
        _outline(canvas, scaled, MASK_COLOURS[kind], 2 if kind in (BoxKind.MISSED, BoxKind.FALSE_POSITIVE) else 1)
    return canvas


def make_detection_assets(images_root: Path, errors: list[BoxMistake], boxes: dict[str, DrawnBoxes | None],
                          docs: Path, progress: Callable[[int], None] | None = None) -> DetectionAssets:
    """Thumbnails of `errors` and annotated full views of their images (evalsite.render.pictured chooses
    which); the images that cannot be read get none (the pages show placeholders)."""
    by_image: dict[str, list[BoxMistake]] = {}
    for error in errors:
        by_image.setdefault(error.image, []).append(error)

    # each item carries its own boxes: `work` closes over two paths only (it is sent to a cluster's workers)
    def work(item: tuple[str, list[BoxMistake], DrawnBoxes | None]) -> tuple[str, str | None, dict[int, str]]:
        name, own, drawn = item
        source = image_path(images_root, name)  # None: a link leading outside the images root, never drawn
        try:
            if source is None:
                raise OSError("outside the images root")
            with Image.open(source) as opened:
                flat = is_flat(opened)
                image = to_rgb(opened)
                thumbs = {error.id: save_picture(crop_error(image, error), docs, thumb_stem(error), flat=flat)
                          for error in own}
                full = draw_full(image, drawn)
                path = save_picture(full, docs, full_stem(name), exact=full.width > image.width, flat=flat)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            return name, None, {}
        return name, path, thumbs

    with quiet_images():
        results = parallel(work, [(name, own, boxes.get(name)) for name, own in by_image.items()], progress,
                           step=lambda item: len(item[1]))
    made = DetectionAssets()
    for name, path, thumbs in results:
        if path is not None:
            made.full[name] = path
            made.thumbs.update(thumbs)
    return made
