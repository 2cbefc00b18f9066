"""Per-image traits for the "Shared traits" page: brightness, contrast, sharpness, resolution, aspect ratio,
orientation, and the EXIF camera and hour of the day when present.

Read at site-build time (every image is opened once, downscaled to at most TRAIT_SIZE on its longest side
so that the statistics cost little); missing or unreadable images get None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from evalsite.core.parallel import parallel

TRAIT_SIZE = 256  # longest side of the grey image the statistics are computed on
_EXIF_MAKE, _EXIF_MODEL, _EXIF_ORIENTATION, _EXIF_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_EXIF_IFD, _EXIF_DATETIME_ORIGINAL = 0x8769, 0x9003


@dataclass
class ImageTraits:
    brightness: float  # mean luminance, 0..255
    contrast: float  # RMS contrast: standard deviation of the luminance, 0..127.5
    sharpness: float  # variance of the 3x3 Laplacian of the downscaled grey image
    width: int  # as displayed (EXIF orientation applied)
    height: int
    aspect: float  # width / height
    orientation: str  # landscape | portrait | square
    camera: str | None  # EXIF "Make Model"
    hour: int | None  # EXIF DateTimeOriginal (or DateTime) hour, 0..23


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the interior pixels (0 for a flat image)."""
    g = grey.astype(np.float64)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def _exif(image: Image.Image) -> tuple[str | None, int | None, bool]:
    """(camera, hour, whether the EXIF orientation turns the image by 90°)."""
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - broken EXIF is no reason to drop the image
        return None, None, False
    make = str(exif.get(_EXIF_MAKE) or "").strip("\x00 ")
    model = str(exif.get(_EXIF_MODEL) or "").strip("\x00 ")
    camera = (model if make and model.startswith(make) else " ".join(p for p in (make, model) if p)) or None
    stamp = None
    try:
        stamp = exif.get_ifd(_EXIF_IFD).get(_EXIF_DATETIME_ORIGINAL)
    except Exception:  # noqa: BLE001
        pass
    stamp = stamp or exif.get(_EXIF_DATETIME)
    hour = None
    if isinstance(stamp, str) and len(stamp) >= 13 and stamp[11:13].isdigit():
        hour = int(stamp[11:13]) if int(stamp[11:13]) < 24 else None
    return camera, hour, exif.get(_EXIF_ORIENTATION) in (5, 6, 7, 8)


def image_traits(path: Path) -> ImageTraits | None:
    """The traits of one image file, or None when it cannot be read."""
    try:
        with Image.open(path) as opened:
            camera, hour, turned = _exif(opened)
            width, height = opened.size[::-1] if turned else opened.size
            # JPEG: decode at a reduced scale (1/2, 1/4, 1/8), much faster. draft() keeps the image at least as
            # large as the box in both directions, so the box has the image's shape (a square box would keep
            # a 640 x 480 photograph at full size).
            scale = min(1.0, TRAIT_SIZE / max(opened.size))
            opened.draft("L", (max(1, int(opened.width * scale)), max(1, int(opened.height * scale))))
            grey = ImageOps.exif_transpose(opened).convert("L")
            if max(grey.size) > TRAIT_SIZE:
                scale = TRAIT_SIZE / max(grey.size)
                grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
                                   Image.Resampling.BILINEAR)
            pixels = np.asarray(grey, dtype=np.float64)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    if width == 0 or height == 0:
        return None
    aspect = width / height
    orientation = "square" if abs(aspect - 1) < 0.05 else ("landscape" if width > height else "portrait")
    return ImageTraits(brightness=float(pixels.mean()), contrast=float(pixels.std()),
                       sharpness=laplacian_variance(pixels), width=width, height=height, aspect=aspect,
                       orientation=orientation, camera=camera, hour=hour)


def read_traits(images_root: Path, images: Iterable[str],
                progress: Callable[[int], None] | None = None) -> dict[str, ImageTraits | None]:
    """Traits of every image (paths under `images_root`), read in parallel; None for an image leading outside
    `images_root` (evalsite.formats.images image_path)."""
    from evalsite.formats.images import image_path, quiet_images

    base = Path(images_root).resolve()

    def traits(image: str) -> ImageTraits | None:
        path = image_path(images_root, image, base)
        return None if path is None else image_traits(path)

    unique = list(dict.fromkeys(images))
    with quiet_images():
        return dict(zip(unique, parallel(traits, unique, progress)))


def read_metadata(path: Path, images_root: Path, images: list[str]) -> dict[str, dict[str, str]]:
    """The user's per-image metadata CSV, `image,<column>,...` (image paths relative to the images root, as
    in the ground truth): {image: {column: value}} for the evaluation images; empty values are left out.
    InputError for a missing file, no `image` column, no other column, a duplicate column or image, and an
    image that is not in the evaluation set."""
    from evalsite.core.errors import InputError
    from evalsite.formats.records import csv_rows, normalise_image_path

    if not path.is_file():
        raise InputError("metadata file not found", path)
    header, rows = csv_rows(path)
    if "image" not in header:
        raise InputError(f"the metadata CSV needs an 'image' column, found {header}", path, "line 1")
    columns = [c for c in header if c != "image"]
    if not columns:
        raise InputError("the metadata CSV has no column besides 'image'", path, "line 1")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated or any(not c for c in columns):
        raise InputError(f"every column needs a name, once: {duplicated or 'an empty name'}", path, "line 1")
    known = set(images)
    out: dict[str, dict[str, str]] = {}
    where: dict[str, int] = {}
    at = header.index("image")
    for line, cells in rows:
        image = normalise_image_path(cells[at], images_root, path, f"line {line}")
        if image not in known:
            raise InputError(f"image {image!r} is not in the evaluation set", path, f"line {line}")
        if image in out:
            raise InputError(f"image {image!r} appears twice (first at line {where[image]})", path, f"line {line}")
        where[image] = line
        out[image] = {c: v for c, v in zip(header, cells) if c != "image" and v}
    return out
