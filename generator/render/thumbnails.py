"""Thumbnails and full views of images, made in parallel and only for what a page shows.

Formats (save_picture), sized to how the pages show them:

* a full view is at most FULL_SIZE (1,024) px on its longest side, never enlarged, except a tiny image
  (longest side at most MIN_VIEW / 2 = 192 px: no bigger than a thumbnail), which is enlarged pixel-exact
  (nearest neighbour, by the smallest whole factor that reaches MIN_VIEW = 384 px) and kept as PNG;
* a thumbnail is at most THUMB_SIZE (192) px on its longest side;
* everything else is JPEG (quality 80, baseline, optimised Huffman tables), except that a small picture
  (at most 256 x 256 px) and a picture from a palette or greyscale source (the digits demo, drawings,
  scans) is encoded both ways and the smaller file is kept: PNG wins on flat colours;
* JPEG chroma: 4:2:0 for full views, 4:4:4 (full colour resolution) for pictures of at most THUMB_SIZE px:
  with 4:2:0 the 1-3 px red and orange outlines of a thumbnail lose their colour (measured on the
  segmentation demo: 9 of 155 thumbnails kept fewer than 10 pixels of their colour, none with 4:4:4,
  for 5.5 KB instead of 3.5 KB a thumbnail);
* a transparent source is flattened on white for JPEG (a PNG keeps its transparency);
* the file extension is the format's (.jpg or .png); the name is a hash of the image path (asset_name),
  so nothing of an untrusted path reaches the site's URLs.

A 640 x 480 photograph with its boxes drawn is about 45-65 KB as a full view and 4-8 KB as a thumbnail
(PNG: about 420 KB and 25-45 KB); the measurements are on the documentation's "Design choices" page.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from evalsite.core.parallel import parallel
from evalsite.formats.images import image_path, quiet_images

THUMB_SIZE = 192  # longest side of a thumbnail
FULL_SIZE = 1024  # longest side of the full view
MIN_VIEW = 384  # tiny images (e.g. 8x8 digits) are enlarged, pixel-exact, to at least this (enlargement)
MIN_THUMB = 96  # the same for thumbnails
JPEG_QUALITY = 80
SMALL = 256 * 256  # pixels: at most this, PNG and JPEG are both tried
FLAT_MODES = frozenset({"1", "L", "LA", "P", "PA", "I", "I;16", "F"})  # palette and greyscale sources


@dataclass(frozen=True)
class ImageAsset:
    """Site paths (relative to the docs root) of one image's thumbnail and full view."""

    thumb: str
    full: str


def asset_name(image: str) -> str:
    """A stable file name for an image path: nothing of the untrusted path reaches the site's URLs."""
    return hashlib.sha1(image.encode("utf-8")).hexdigest()[:20]


def _jpeg(image: Image.Image) -> bytes:
    subsampling = 0 if max(image.size) <= THUMB_SIZE else 2  # 4:4:4 for thumbnails, 4:2:0 above
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, (0, 0), rgba)
        image = flat
    elif image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=False, subsampling=subsampling)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def encode_picture(image: Image.Image, *, exact: bool = False, flat: bool = False) -> tuple[bytes, str]:
    """The bytes and extension ("png" or "jpg") of a picture by the rule of this module: PNG when `exact`
    (a pixel-exact enlargement); both tried, the smaller kept, when the picture is small or `flat` (its
    source was a palette or greyscale image); JPEG otherwise."""
    if exact:
        return _png(image), "png"
    if flat or image.width * image.height <= SMALL:
        jpeg, png = _jpeg(image), _png(image)
        return (png, "png") if len(png) <= len(jpeg) else (jpeg, "jpg")
    return _jpeg(image), "jpg"


def save_picture(image: Image.Image, docs: Path, stem: str, *, exact: bool = False, flat: bool = False) -> str:
    """Write `image` to docs/<stem>.<jpg|png> (encode_picture) and return that docs-relative path."""
    data, extension = encode_picture(image, exact=exact, flat=flat)
    rel = f"{stem}.{extension}"
    target = docs / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return rel


def is_flat(image: Image.Image) -> bool:
    """A palette or greyscale source: its pictures may be smaller as PNG."""
    return image.mode in FLAT_MODES


def enlargement(side: int, minimum: int) -> int:
    """The whole factor a tiny picture is enlarged by: the smallest that makes its longest `side` at least
    `minimum`, for a side of at most half of `minimum`; 1 (never enlarged) otherwise."""
    return -(-minimum // max(1, side)) if 2 * side <= minimum else 1


def fit(image: Image.Image, longest: int, minimum: int) -> tuple[Image.Image, bool]:
    """`image` at most `longest` px on its longest side; a tiny one enlarged pixel-exact (enlargement).
    Returns the picture and whether it was enlarged."""
    width, height = image.size
    scale = longest / max(width, height)
    if scale >= 1:
        # Small images are shown bigger with hard pixel edges, never blurred.
        factor = enlargement(max(width, height), minimum)
        if factor > 1:
            return image.resize((width * factor, height * factor), Image.Resampling.NEAREST), True
        return image, False
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS), False


def _make(source: Path, docs: Path, name: str) -> ImageAsset | None:
    """Write both views of one image; None when it cannot be read (the page then shows a placeholder)."""
    try:
        with Image.open(source) as opened:
            flat = is_flat(opened)
            image = ImageOps.exif_transpose(opened)
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            paths = []
            for folder, longest, minimum in (("thumbs", THUMB_SIZE, MIN_THUMB), ("full", FULL_SIZE, MIN_VIEW)):
                picture, enlarged = fit(image, longest, minimum)
                paths.append(save_picture(picture, docs, f"{folder}/{name}", exact=enlarged, flat=flat))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return ImageAsset(thumb=paths[0], full=paths[1])


def make_assets(images_root: Path, images: Iterable[str], docs: Path,
                progress: Callable[[int], None] | None = None) -> dict[str, ImageAsset | None]:
    """Thumbnails and full views for `images` (paths under `images_root`); None for unreadable ones and for
    those leading outside `images_root` (a symbolic link: never published)."""
    unique = list(dict.fromkeys(images))

    def work(image: str) -> ImageAsset | None:
        source = image_path(images_root, image)
        return _make(source, docs, asset_name(image)) if source is not None else None

    with quiet_images():
        return dict(zip(unique, parallel(work, unique, progress)))
