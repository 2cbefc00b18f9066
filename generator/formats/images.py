"""Image files: find them under the images root and check that they open. Problems are notices, not errors:
a report is still useful when a few images are missing or broken (they show as placeholders)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from evalsite.core.image_info import ImageInfo

MAX_PIXELS = 200_000_000  # larger images are reported as unreadable instead of exhausting memory


def _has_jpeg_end(path: Path) -> bool:
    """A complete JPEG ends with the EOI marker (some cameras append a little data after it)."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - 4096))
        return b"\xff\xd9" in handle.read()


def inspect_image(path: Path) -> ImageInfo:
    """Open one image and check its structure without decoding the pixels (decoding 5,000 photos would
    double the time of `evaluate`): Pillow's verify() checks PNG chunks and their CRCs, so a truncated or
    corrupt PNG is caught here; damaged pixel data in other formats is caught when a picture is drawn, and
    that picture becomes a placeholder. A JPEG cut short is caught by its missing end marker."""
    if not path.is_file():
        return ImageInfo("missing", problem="file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    return ImageInfo("unreadable", width, height, f"too large ({width}x{height} pixels)")
                image.verify()
                if image.format == "JPEG" and not _has_jpeg_end(path):
                    return ImageInfo("unreadable", width, height, "truncated JPEG (no end-of-image marker)")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        return ImageInfo("unreadable", problem=f"corrupt, truncated or not an image ({exc})")
    return ImageInfo("ok", width, height)


def inspect_images(root: Path, images: Iterable[str],
                   progress: Callable[[int], None] | None = None) -> list[ImageInfo]:
    """Inspect many images in parallel (decoding releases the GIL); results in input order."""
    paths = [root / image for image in images]
    present = [os.path.isfile(p) for p in paths]  # missing files need no thread (benchmarks have none)
    results: list[ImageInfo] = [ImageInfo("missing", problem="file not found")] * len(paths)
    todo = [i for i, ok in enumerate(present) if ok]
    if progress and len(todo) < len(paths):
        progress(len(paths) - len(todo))
    with ThreadPoolExecutor(max_workers=4) as pool:
        for i, info in zip(todo, pool.map(inspect_image, [paths[i] for i in todo], chunksize=16)):
            results[i] = info
            if progress:
                progress(1)
    return results


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header, as displayed (EXIF orientation applied). Raises OSError.

    Only the header is read: EXIF from formats that keep it there (JPEG, WebP, TIFF), or a PNG's eXIf chunk
    when it precedes the pixels (getexif() on a PNG would decode the whole image to look further)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as image:
                width, height = image.size
                try:
                    if image.format in ("JPEG", "MPO", "WEBP", "TIFF"):
                        orientation = image.getexif().get(0x0112, 1)
                    elif image.info.get("exif"):
                        exif = Image.Exif()
                        exif.load(image.info["exif"])
                        orientation = exif.get(0x0112, 1)
                    else:
                        orientation = 1
                except Exception:  # a broken EXIF block does not change the pixels
                    orientation = 1
        except (ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise OSError(str(exc)) from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return width, height
