"""Thumbnails and full-size views of images, made in parallel and only for what a page shows."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from evalsite.core.parallel import parallel
from evalsite.formats.images import image_path, quiet_images

THUMB_SIZE = 192  # longest side of a thumbnail
FULL_SIZE = 1600  # longest side of the enlarged view
MIN_VIEW = 384  # tiny images (e.g. 8x8 digits) are enlarged, pixel-exact, to at least this


@dataclass(frozen=True)
class ImageAsset:
    """Site paths (relative to the docs root) of one image's thumbnail and full view."""

    thumb: str
    full: str


def asset_name(image: str) -> str:
    """A stable file name for an image path: nothing of the untrusted path reaches the site's URLs."""
    return hashlib.sha1(image.encode("utf-8")).hexdigest()[:20]


def asset_for(image: str) -> ImageAsset:
    name = asset_name(image)
    return ImageAsset(thumb=f"thumbs/{name}.png", full=f"full/{name}.png")


def _fit(image: Image.Image, longest: int, minimum: int) -> Image.Image:
    width, height = image.size
    scale = longest / max(width, height)
    if scale >= 1:
        # Small images are shown bigger with hard pixel edges, never blurred.
        factor = max(1, int(minimum // max(width, height)))
        if factor > 1:
            return image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _make(source: Path, docs: Path, asset: ImageAsset) -> bool:
    """Write both views of one image; False when it cannot be read (the page then shows a placeholder)."""
    try:
        with Image.open(source) as opened:
            image = ImageOps.exif_transpose(opened)
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            for rel, longest, minimum in ((asset.thumb, THUMB_SIZE, 96), (asset.full, FULL_SIZE, MIN_VIEW)):
                target = docs / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                _fit(image, longest, minimum).save(target, format="PNG", optimize=False)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def make_assets(images_root: Path, images: Iterable[str], docs: Path,
                progress: Callable[[int], None] | None = None) -> dict[str, ImageAsset | None]:
    """Thumbnails and full views for `images` (paths under `images_root`); None for unreadable ones and for
    those leading outside `images_root` (a symbolic link: never published)."""
    unique = list(dict.fromkeys(images))

    def work(image: str) -> ImageAsset | None:
        asset, source = asset_for(image), image_path(images_root, image)
        return asset if source is not None and _make(source, docs, asset) else None

    with quiet_images():
        return dict(zip(unique, parallel(work, unique, progress)))
