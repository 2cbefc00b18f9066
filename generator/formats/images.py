"""Image files: find them under the images root and check that they open. Problems are notices, not errors:
a report is still useful when a few images are missing or broken (they show as placeholders)."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image

MAX_PIXELS = 200_000_000  # larger images are reported as unreadable instead of exhausting memory


@dataclass
class ImageInfo:
    status: str  # ok | missing | unreadable
    width: int | None = None
    height: int | None = None
    problem: str | None = None


def inspect_image(path: Path) -> ImageInfo:
    """Open and fully decode one image (a truncated file only fails on decode)."""
    if not path.is_file():
        return ImageInfo("missing", problem="file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    return ImageInfo("unreadable", width, height, f"too large ({width}x{height} pixels)")
                image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        return ImageInfo("unreadable", problem=f"corrupt or not an image ({exc})")
    return ImageInfo("ok", width, height)


def inspect_images(root: Path, images: Iterable[str],
                   progress: Callable[[int], None] | None = None) -> list[ImageInfo]:
    """Inspect many images in parallel (decoding releases the GIL); results in input order."""
    paths = [root / image for image in images]
    results: list[ImageInfo] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for info in pool.map(inspect_image, paths, chunksize=16):
            results.append(info)
            if progress:
                progress(1)
    return results
