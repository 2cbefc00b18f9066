"""Image files: find them under the images root and check that they open. Problems are notices, not errors:
a report is still useful when a few images are missing or broken (they show as placeholders).

An image whose path leads outside the images root (a symbolic link, see the containment rule in
evalsite.core.files) is unreadable, with a notice naming it: it is never opened, drawn or published.

Pillow's DecompressionBombWarning (images over Image.MAX_IMAGE_PIXELS, 89.5 Mpx) is silenced by
`quiet_images()` around every batch: evalsite's own limit is MAX_PIXELS, checked here. The filter is set once
per batch in the calling thread (warnings.catch_warnings is not thread-safe, so never inside the workers)."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from PIL import Image

from evalsite.core.cluster import current
from evalsite.core.errors import InputError, Notice, listing
from evalsite.core.files import inside
from evalsite.core.image_info import ImageChecks, ImageInfo
from evalsite.core.parallel import parallel

# Larger images are unreadable (a notice) instead of exhausting memory: Pillow's own hard limit, 2 x
# Image.MAX_IMAGE_PIXELS (89,478,485 by default), beyond which Image.open raises DecompressionBombError.
# docs/reliability.md states this number (178,956,970 pixels, 178.9 Mpx): keep them in step.
MAX_PIXELS = 178_956_970
OUTSIDE = "a symbolic link leading outside the images folder (not read)"


@contextlib.contextmanager
def quiet_images() -> Iterator[None]:
    """Pillow's DecompressionBombWarning silenced (MAX_PIXELS is checked instead); enter it in the thread
    that starts the workers, never in a worker."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def image_path(root: Path, image: str, base: Path | None = None) -> Path | None:
    """The file of `image` (relative to `root`), or None when it leads outside `root` (evalsite.core.files
    inside: symbolic links resolved; `base`: `root` resolved, when known). For the renderers: such an image is
    drawn as a placeholder."""
    try:
        return inside(root, image, base)
    except InputError:
        return None


def _has_jpeg_end(path: Path) -> bool:
    """A complete JPEG ends with the EOI marker (some cameras append a little data after it)."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - 4096))
        return b"\xff\xd9" in handle.read()


def _too_large(width: int | None, height: int | None) -> str:
    size = f"{width}x{height} = {width * height:,} pixels; " if width and height else ""
    return f"too large ({size}the limit is {MAX_PIXELS:,} pixels)"


def inspect_image(path: Path) -> ImageInfo:
    """Open one image and check its structure without decoding the pixels (decoding 5,000 photos would
    double the time of `evaluate`): Pillow's verify() checks PNG chunks and their CRCs, so a truncated or
    corrupt PNG is caught here; damaged pixel data in other formats is caught when a picture is drawn, and
    that picture becomes a placeholder. A JPEG cut short is caught by its missing end marker."""
    if not path.is_file():
        return ImageInfo("missing", problem="file not found")
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                return ImageInfo("unreadable", width, height, _too_large(width, height))
            image.verify()
            if image.format == "JPEG" and not _has_jpeg_end(path):
                return ImageInfo("unreadable", width, height, "truncated JPEG (no end-of-image marker)")
    except Image.DecompressionBombError:
        return ImageInfo("unreadable", problem=_too_large(None, None))
    except (OSError, SyntaxError, ValueError) as exc:
        return ImageInfo("unreadable", problem=f"corrupt, truncated or not an image ({exc})")
    return ImageInfo("ok", width, height)


def _locate(root: Path, image: str, base: Path) -> tuple[Path | None, bool]:
    """(`image_path(root, image, base)`, whether it is a file). A plain file name (no folder) that is not a
    symbolic link resolves to `base` / name, found or not: one lstat instead of resolving every folder of
    the root again (5,000 images: 0.3 s); anything else takes the general way."""
    if type(image) is str and image not in ("", ".", "..") and os.sep not in image and "\0" not in image \
            and (os.altsep is None or os.altsep not in image):
        try:
            mode = os.lstat(os.path.join(base, image)).st_mode
        except FileNotFoundError:
            return base / image, False
        except OSError:
            mode = None
        if mode is not None and not stat.S_ISLNK(mode):
            return base / image, stat.S_ISREG(mode)
    path = image_path(root, image, base)
    return path, path is not None and os.path.isfile(path)


def inspect_images(root: Path, images: Sequence[str],
                   progress: Callable[[int], None] | None = None) -> ImageChecks:
    """Inspect many images in parallel (decoding releases the GIL); results in input order, as columns. An
    image leading outside `root` is unreadable (OUTSIDE), never opened. While a Dask cluster is active the
    images go to its workers in shards of --shard-images, each found and checked there (the workers see the
    images' root: docs/cluster.md) and sent back as columns, so that the driver holds neither a path nor a
    record per image."""
    cluster = current()
    if cluster is None:
        return _inspected(root, images, progress, threads=True)
    size = cluster.shard_images
    shards = [images[i:i + size] for i in range(0, len(images), size)]
    return ImageChecks.joined(parallel(functools.partial(_inspected, root, threads=False), shards, progress,
                                       step=len, shard_size=1))


def _inspected(root: Path, images: Sequence[str], progress: Callable[[int], None] | None = None,
               threads: bool = True) -> ImageChecks:
    """`inspect_images` of `images` here: on a few threads, or without (a cluster's task: its worker has its
    own thread)."""
    base = Path(root).resolve()
    located = [_locate(root, image, base) for image in images]
    paths = [path for path, _ in located]
    present = [ok for _, ok in located]  # missing files need no thread
    results: list[ImageInfo] = [ImageInfo("missing", problem="file not found") if p is not None
                                else ImageInfo("unreadable", problem=OUTSIDE) for p in paths]
    todo = [i for i, ok in enumerate(present) if ok]
    if progress and len(todo) < len(paths):
        progress(len(paths) - len(todo))
    with quiet_images():
        inspected = (parallel(inspect_image, [paths[i] for i in todo], progress) if threads
                     else map(inspect_image, (paths[i] for i in todo)))
        for i, info in zip(todo, inspected):
            results[i] = info
    return ImageChecks.of(results)


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


def size_notices(root: Path, images: list[str], widths, heights, infos: list[ImageInfo], file: str) -> list[Notice]:
    """`Notice("image_size_differs")` naming each image whose declared size (the ground truth's width and
    height, e.g. COCO's; 0 = not declared) is neither its file's stored size nor its size as displayed (EXIF
    orientation applied), with both sizes. The declared size is what the metrics use, as pycocotools does
    (it decodes polygons and RLE at the declared size, and the numbers must equal its numbers); the pictures
    are drawn from the file, so their boxes and masks may be out of place."""
    differ = []
    for i, (image, info) in enumerate(zip(images, infos)):
        w, h = int(widths[i]), int(heights[i])
        if info.status != "ok" or w <= 0 or h <= 0 or (info.width, info.height) == (w, h):
            continue
        path = image_path(root, image)
        try:
            if path is None or image_size(path) == (w, h):
                continue
        except OSError:
            continue
        differ.append(f"{image} (declared {w}x{h}, file {info.width}x{info.height})")
    if not differ:
        return []
    return [Notice("image_size_differs", file, None,
                   f"{len(differ)} image(s) whose declared width x height differs from the image file: "
                   f"{listing(differ)}; the metrics use the declared size (as pycocotools does), the pictures "
                   "the file: check that the ground truth belongs to these images (resized copies?)")]
