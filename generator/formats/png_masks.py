"""Segmentation ground truth as PNG instance masks (manifest ``ground_truth: {format: png, path: masks/}``).

Layout: a folder holding, for each evaluation image, a PNG with the image's relative path and stem
(``images/a/b.jpg`` <-> ``masks/a/b.png``) whose pixel values are instance numbers (0 = background, any
other value = one object), and ``instances.csv`` in that folder naming each instance's label:

    image,instance,label[,iscrowd]
    a/b.png,1,cat
    a/b.png,2,dog,1

Decisions (docs/inputs.md repeats the user-facing ones):

* Masks: 8-bit grayscale ("L"), 1-bit ("1"), 16-bit ("I;16", older Pillow "I") or palette ("P": the
  palette index is the value, not its colour) PNGs, exactly the size of their image as displayed (EXIF
  orientation applied, as YOLO labels and the thumbnails). RGB, RGBA, grayscale+alpha and any other mode
  are rejected: colour-coded masks have to be converted to instance numbers first. A file whose content
  is not PNG, a corrupt or truncated PNG, and other image files (.jpg, .tif, ...) in the folder are errors.
  The path may also name ``instances.csv`` itself (the folder is then its folder).
* ``instances.csv``: columns by header name, in any order; ``image``, ``instance``, ``label`` required,
  ``iscrowd`` optional (0 or 1, empty = 0); other columns are an error (a typo would otherwise be
  ignored). ``image`` is the mask's path relative to the folder (``a/b.png``) or the image's path relative
  to the images root (``a/b.jpg``): both are accepted. ``instance`` is a whole number >= 1. Each
  (image, instance) pair once. Every non-zero value of a mask needs a row, and every row's value must occur
  in its mask (a row without pixels is an object that cannot be matched: an error, not an empty mask).
* Images: every image file under the images root (as YOLO: hidden folders skipped; the mask folder itself
  left out when it lies inside the root), matched to masks by relative path without suffix. A mask
  without its image, or whose stem names two images, is an error. Images without a mask PNG in a folder
  that holds masked images are images without objects (``Notice("png_images_without_masks")``); images in
  folders without any mask are not part of the evaluation (``Notice("png_folders_without_masks")``), so
  that e.g. an unlabelled ``train/`` beside ``val/`` does not turn into thousands of empty images.
  Image ids are 0..n-1 in sorted path order.
* Labels: names, as for VOC: the declared ``labels`` (their order; a label outside them is an error), else
  the names found, sorted; label ids = positions (COCO results' ``category_id`` k is label k).
* Objects: one per (image, instance value), annotation ids 1..N in image order, then instance value; mask
  = uncompressed RLE of ``pixels == value`` (column-major, as pycocotools), box = the mask's tight box
  (rleToBbox), area = its pixel count, iscrowd from the CSV.
* Speed: each mask is decoded once and all its instances are run-length encoded together from the runs of
  equal values in column-major order (no per-instance pass over the pixels).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from evalsite.core.errors import InputError, Notice, listing
from evalsite.core.files import image_files, inside
from evalsite.formats.images import image_size
from evalsite.formats.matching import path_stem
from evalsite.formats.parsed import ParsedGroundTruth
from evalsite.formats.records import csv_rows, normalise_image_path

TABLE = "instances.csv"
_REQUIRED = ("image", "instance", "label")
_OPTIONAL = ("iscrowd",)
_MODES = {"1", "L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N"}
_WHOLE = re.compile(r"[0-9]+")
_COLOUR = {"RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV"}


def looks_like_png_masks(path: Path) -> bool:
    """A folder with an instances.csv (or that file itself): told apart from VOC/YOLO without a format."""
    return (path.is_dir() and (path / TABLE).is_file()) or (path.is_file() and path.name == TABLE)


def _where(path: Path) -> tuple[Path, Path]:
    """(mask folder, instances.csv) of the manifest's path."""
    if path.is_file() and path.suffix.lower() == ".csv":
        return path.parent, path
    if not path.exists():
        raise InputError("folder not found (PNG instance masks)", path)
    if not path.is_dir():
        raise InputError("expected a folder of PNG instance masks with an instances.csv", path)
    table = path / TABLE
    if not table.is_file():
        raise InputError(f"no {TABLE} in this folder: PNG instance masks need it to name each instance's label "
                         "(columns image,instance,label and optionally iscrowd)", path)
    return path, table


def _mask_files(folder: Path) -> list[str]:
    """The .png files under `folder` (hidden folders skipped: evalsite.core.files), relative POSIX paths,
    sorted; any other image file there is an error (masks must be lossless PNG)."""
    found = image_files(folder)
    for rel in found:
        suffix = Path(rel).suffix.lower()
        if suffix != ".png":
            raise InputError(f"not a PNG: instance masks must be PNG files (lossless; {suffix} is not accepted)",
                             folder / rel)
    return found


def _inside(folder: Path, root: Path) -> str | None:
    """The mask folder's path relative to the images root when it lies inside it ("" for the root itself)."""
    try:
        rel = folder.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    return "" if rel == "." else rel


def read_mask(file: Path) -> tuple[Image.Image, str]:
    """The opened PNG (pixels not yet decoded) and its mode; errors for non-PNG content and colour modes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(file)
        except FileNotFoundError:
            raise InputError("file not found", file) from None
        except UnidentifiedImageError:
            raise InputError("not a PNG (not an image file at all)", file) from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"not a readable PNG ({exc})", file) from None
    if image.format != "PNG":
        image.close()
        raise InputError(f"not a PNG (the file holds {image.format or 'another format'} data)", file)
    mode = image.mode
    if mode not in _MODES:
        image.close()
        kind = "a colour" if mode in _COLOUR else "a two-channel" if mode in ("LA", "La", "PA") else "an unsupported"
        alpha = " with alpha" if mode in ("RGBA", "LA", "PA", "La", "RGBa") else ""
        raise InputError(f"{kind} PNG{alpha} (mode {mode}): instance masks must be single-channel PNGs whose "
                         "pixel values are instance numbers (8-bit or 16-bit grayscale, or palette); convert "
                         "colour-coded masks to instance numbers first", file)
    return image, mode


def mask_pixels(image: Image.Image, file: Path) -> np.ndarray:
    """The (h, w) instance numbers of an opened mask."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with image:
                image.load()
                pixels = np.asarray(image)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise InputError(f"corrupt PNG ({exc})", file) from None
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8)  # not .view: Pillow stores True as byte 255
    if pixels.ndim != 2:
        raise InputError(f"expected one channel, found pixels of shape {pixels.shape}", file)
    if pixels.dtype.kind == "i" and pixels.size and pixels.min() < 0:
        raise InputError(f"negative pixel value {int(pixels.min())}: instance numbers are 0 (background) and up",
                         file)
    return pixels


def instance_rles(pixels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """(values, counts, boxes, areas) of every non-zero value of a label image, values ascending: the RLE
    counts each equal rle_encode(pixels == value), the boxes [x, y, w, h] rle_bbox of them, the areas
    their pixel counts. One pass over the pixels: the runs of equal values in column-major order."""
    h, w = pixels.shape
    flat = pixels.ravel(order="F")
    n = flat.size
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], change)).astype(np.int64)
    ends = np.concatenate((change, [n])).astype(np.int64)
    run_values = flat[starts]
    fg = np.flatnonzero(run_values != 0)
    order = fg[np.argsort(run_values[fg], kind="stable")]  # by value, then position
    starts, ends, run_values = starts[order], ends[order], run_values[order]
    if not len(starts):
        return np.zeros(0, dtype=np.int64), [], np.zeros((0, 4)), np.zeros(0)
    values, first = np.unique(run_values, return_index=True)
    previous_end = np.empty_like(starts)
    previous_end[1:] = ends[:-1]
    previous_end[first] = 0
    lengths = ends - starts
    pairs = np.empty(2 * len(starts), dtype=np.int64)
    pairs[0::2] = starts - previous_end  # the 0s before each run of the value
    pairs[1::2] = lengths
    bounds = np.append(first, len(starts))
    counts = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        tail = n - int(ends[b - 1])
        part = pairs[2 * a:2 * b]
        counts.append(np.append(part, tail) if tail else part.copy())
    last = ends - 1
    x0 = np.minimum.reduceat(starts // h, first)
    x1 = np.maximum.reduceat(last // h, first)
    crosses = np.maximum.reduceat((starts // h != last // h).astype(np.int8), first).astype(bool)
    y0 = np.where(crosses, 0, np.minimum.reduceat(starts % h, first))
    y1 = np.where(crosses, h - 1, np.maximum.reduceat(last % h, first))
    boxes = np.column_stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1]).astype(np.float64)
    areas = np.add.reduceat(lengths, first).astype(np.float64)
    return values.astype(np.int64), counts, boxes, areas


def _read_table(table: Path, folder: Path, masks: set[str], images: dict[str, int], mask_of: dict[int, str],
                ) -> dict[str, dict[int, tuple[int, str, bool]]]:
    """mask path -> instance value -> (line, label, iscrowd)."""
    header, rows = csv_rows(table)
    columns = {name.lower(): k for k, name in enumerate(header)}
    if len(columns) != len(header):
        lower = [name.lower() for name in header]
        repeated = sorted({name for name in lower if lower.count(name) > 1})
        raise InputError(f"column(s) {listing(repeated)} appear more than once in the header (names are not "
                         "case-sensitive)", table, "line 1")
    unknown = [name for name in header if name.lower() not in _REQUIRED + _OPTIONAL]
    missing = [name for name in _REQUIRED if name not in columns]
    if missing or unknown:
        problem = (f"missing column(s) {listing(missing)}" if missing else f"unknown column(s) {listing(unknown)}")
        raise InputError(f"{problem}: the header must be image,instance,label (and optionally iscrowd)", table,
                         "line 1")
    ci, cv, cl = (columns[name] for name in _REQUIRED)
    cc = columns.get("iscrowd")
    found: dict[str, dict[int, tuple[int, str, bool]]] = {}
    for number, cells in rows:
        record = f"line {number}"
        rel = normalise_image_path(cells[ci], folder, table, record)
        if rel in masks:
            mask = rel
        elif rel in images:
            mask = mask_of.get(images[rel], "")
            if not mask:
                raise InputError(f"image {rel!r} has no mask PNG (expected {folder / path_stem(rel)}.png)", table,
                                 record)
        else:
            raise InputError(f"{rel!r} is neither a mask PNG in {folder} nor an image under the images root",
                             table, record)
        text = cells[cv]
        if not _WHOLE.fullmatch(text):
            raise InputError(f"'instance' must be a whole number (the pixel value), found {text!r}", table, record)
        value = int(text)
        if value == 0:
            raise InputError("'instance' 0 is the background (pixel value 0); instances are numbered from 1",
                             table, record)
        label = cells[cl]
        if not label:
            raise InputError("missing 'label'", table, record)
        crowd_text = cells[cc] if cc is not None else ""
        if crowd_text not in ("", "0", "1"):
            raise InputError(f"'iscrowd' must be 0 or 1, found {crowd_text!r}", table, record)
        per_mask = found.setdefault(mask, {})
        if value in per_mask:
            raise InputError(f"instance {value} of {mask} appears twice (lines {per_mask[value][0]} and {number})",
                             table, record)
        per_mask[value] = (number, label, crowd_text == "1")
    return found


def png_ground_truth(path: Path, images_root: Path, declared: list[str] | None) -> ParsedGroundTruth:
    folder, table = _where(path)
    root = images_root
    if not root.is_dir():
        raise InputError("images folder not found (PNG masks are matched to the images)", root)
    masks = _mask_files(folder)
    if not masks:
        raise InputError("no .png mask files in this folder", folder)
    masks_at = _inside(folder, root)
    all_images = image_files(root)
    if masks_at is not None:
        all_images = [rel for rel in all_images if not (masks_at == "" or rel.startswith(masks_at + "/"))]
    image_index = {rel: i for i, rel in enumerate(all_images)}
    by_stem: dict[str, list[int]] = {}
    for i, rel in enumerate(all_images):
        by_stem.setdefault(path_stem(rel), []).append(i)
    mask_of: dict[int, str] = {}
    for rel in masks:
        stem = path_stem(rel)
        hits = by_stem.get(stem, [])
        if not hits:
            raise InputError(f"no image for this mask under the images root {root} (looked for {stem}.*)",
                             folder / rel)
        if len(hits) > 1:
            raise InputError(f"several images match this mask: {listing([all_images[i] for i in hits])}",
                             folder / rel)
        if hits[0] in mask_of:
            raise InputError(f"image {all_images[hits[0]]!r} also has the mask {folder / mask_of[hits[0]]}",
                             folder / rel)
        mask_of[hits[0]] = rel
    rows = _read_table(table, folder, set(masks), image_index, mask_of)

    # labels: as VOC (declared order, else sorted names)
    names: dict[str, int] = {}  # label -> line of its first row
    for number, label, _ in sorted(row for per_mask in rows.values() for row in per_mask.values()):
        names.setdefault(label, number)
    if declared is not None:
        labels = list(declared)
        unknown = sorted((n for n in names if n not in set(labels)), key=names.__getitem__)
        if unknown:
            raise InputError(f"label(s) not in the declared labels: {listing(unknown)}", table,
                             f"first at line {names[unknown[0]]}")
    else:
        labels = sorted(names)
        if not labels:
            raise InputError(f"{TABLE} names no instances and no labels are declared", table)
    label_index = {name: k for k, name in enumerate(labels)}

    # images: those with a mask, and those without one in the same folders
    folders = {all_images[i].rpartition("/")[0] for i in mask_of}
    chosen, ignored = [], []
    for i, rel in enumerate(all_images):
        (chosen if i in mask_of or rel.rpartition("/")[0] in folders else ignored).append(i)
    notices = []
    background = [all_images[i] for i in chosen if i not in mask_of]
    if background:
        notices.append(Notice("png_images_without_masks", str(folder), None,
                              f"{len(background)} image(s) without a mask PNG, counted as images without "
                              f"objects: {listing(background)}"))
    if ignored:
        empty_folders = sorted({all_images[i].rpartition("/")[0] or "." for i in ignored})
        notices.append(Notice("png_folders_without_masks", str(folder), None,
                              f"{len(ignored)} image(s) in folder(s) without any mask PNG, not evaluated: "
                              f"{listing(empty_folders)}"))

    n = len(chosen)
    widths = np.zeros(n, dtype=np.int64)
    heights = np.zeros(n, dtype=np.int64)
    gt_image, gt_label, gt_crowd, segm, boxes, areas, where = [], [], [], [], [], [], []
    for k, i in enumerate(chosen):
        rel = all_images[i]
        mask = mask_of.get(i)
        try:
            size = image_size(inside(root, rel))
        except OSError as exc:
            if mask is None:
                raise InputError(f"cannot read the size of image {rel!r} ({exc}); predicted masks need it",
                                 root / rel) from None
            size = None  # the mask gives it; the pipeline reports the broken image
        if mask is None:
            widths[k], heights[k] = size  # type: ignore[misc]
            continue
        file = inside(folder, mask)
        image, _ = read_mask(file)
        if size is not None and image.size != size:
            image.close()
            turned = " (the image's EXIF orientation is applied: masks are relative to the upright image)" \
                if image.size == size[::-1] else ""
            raise InputError(f"mask size {image.size[0]}x{image.size[1]} (width x height) differs from the size "
                             f"of its image {rel!r}, {size[0]}x{size[1]}{turned}", file)
        widths[k], heights[k] = image.size
        values, counts, box, area = instance_rles(mask_pixels(image, file))
        expected = rows.get(mask, {})
        extra = [v for v in values.tolist() if v not in expected]
        if extra:
            pixels = int(area[values.tolist().index(extra[0])])
            more = f" (nor do {', '.join(map(str, extra[1:]))})" if len(extra) > 1 else ""
            raise InputError(f"value {extra[0]} ({pixels} pixels) has no row in {table.name} (expected "
                             f"'{mask},{extra[0]},<label>'){more}", file, f"pixel value {extra[0]}")
        if len(expected) > len(values):
            present = set(values.tolist())
            value, (number, _, _) = min(((v, row) for v, row in expected.items() if v not in present),
                                        key=lambda item: item[1][0])
            found = ", ".join(map(str, values.tolist())) or "none: the mask is all background"
            raise InputError(f"instance {value} does not occur in the mask {mask} (its values: {found})", table,
                             f"line {number}")
        h = int(heights[k])
        for v, c, b, a in zip(values.tolist(), counts, box, area):
            number, label, crowd = expected[v]
            gt_image.append(k)
            gt_label.append(label_index[label])
            gt_crowd.append(crowd)
            segm.append({"size": [h, int(widths[k])], "counts": c.tolist()})
            boxes.append(b)
            areas.append(a)
            where.append((str(file), f"instance {v}"))
    m = len(segm)
    return ParsedGroundTruth(file=folder, fmt="png", has_ids=False, image_ids=np.arange(n, dtype=np.int64),
                  images=[all_images[i] for i in chosen], widths=widths, heights=heights, labels=labels,
                  label_ids=np.arange(len(labels), dtype=np.int64), gt_image=np.array(gt_image, dtype=np.int64),
                  gt_label=np.array(gt_label, dtype=np.int64),
                  gt_box=np.array(boxes, dtype=np.float64).reshape(m, 4),
                  gt_area=np.array(areas, dtype=np.float64), gt_crowd=np.array(gt_crowd, dtype=bool),
                  gt_difficult=np.zeros(m, dtype=bool), gt_id=np.arange(1, m + 1, dtype=np.int64),
                  locate=lambda j: where[j], declared=declared is not None, notices=notices, gt_segm=segm,
                  gt_area_missing=np.zeros(m, dtype=bool))
