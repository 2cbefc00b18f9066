"""Detection (and, for the boxes, segmentation) inputs (DESIGN.md §2, §7) -> :class:`DetectionData`.

Formats (the manifest's ``format:``; left out, it is told from the path):

* ground truth: ``coco`` (an instances ``.json``), ``voc`` (a Pascal VOC ``.xml`` or a folder of them),
  ``yolo`` (a folder of ``.txt`` files ``class cx cy w h``, normalised, plus ``classes.txt``); for
  segmentation also ``png`` (a folder of PNG instance masks plus ``instances.csv``: evalsite.formats.png_masks);
* predictions: ``coco`` (a results ``.json`` list ``{image_id, category_id, bbox, score}``, or a COCO
  dataset object whose ``annotations`` carry a ``score``), ``yolo`` (a folder of ``.txt`` files
  ``class cx cy w h confidence``), ``jsonl`` (one line per image,
  ``{"image": "a/b.jpg", "predictions": [{"label": "cat", "score": 0.93, "bbox": [x, y, w, h]}]}``).

Decisions (binding for the readers; the README repeats the user-facing ones):

* Records in messages: COCO ``image id 5`` / ``annotation id 17`` / ``category id 3`` (``images entry 4``
  etc. while the id itself is bad), ``results entry 3`` (entries counted from 1), JSONL ``line 4,
  prediction 2``, VOC ``object 2`` (counted from 1, in the XML file named), YOLO ``line 4``.
* Images: COCO keeps its ids; VOC and YOLO images get ids 0..n-1 in sorted file-name order. Images are
  ordered by id; ground truth and detections keep their file order inside each image.
* Labels: COCO categories by ascending id (label_ids = category ids, any start, 0 included); YOLO by class
  index (``classes.txt`` line k = class k-1; label_ids = class index); VOC as declared in the manifest,
  else the names found, sorted (label_ids = position). Declared labels (``labels:`` in the manifest) must
  name exactly the COCO categories / the YOLO classes (same order as ``classes.txt``); for VOC they set
  the order and may include labels without objects. A VOC object, or a predicted label, outside the
  declared labels is an error listing them.
* Image matching (``image_matching``): ``"id"`` when the predictions give image ids that all exist in a
  COCO ground truth (and, where they also give file names, the names agree); otherwise ``"file name"``:
  JSONL ``image`` and COCO ``file_name`` by their normalised path relative to the images root, YOLO
  prediction files by stem (the label file's path relative to its folder without ``.txt`` against the
  image path without its suffix, else by the bare stem when exactly one image has it). COCO results that
  give only ids cannot be matched to VOC or YOLO ground truth: an error says so.
* Category matching (``label_matching``): ``"id"`` for ids alone (COCO ``category_id``, YOLO class
  index without a ``classes.txt`` in the predictions folder: the index is taken as the ground truth's
  label id); ``"name"`` for JSONL labels, and for ids that come with names (a ``categories`` list in
  COCO predictions, a ``classes.txt`` beside YOLO predictions) unless every id names the same label
  in the ground truth.
* Errors (one ``InputError``, "file, record: problem"): malformed JSON (line, column), XML that is not
  well-formed (the parser's line) or declares a DOCTYPE/ENTITY, a COCO file that is not an object or
  lacks ``images`` / ``annotations`` / ``categories``, bad or duplicate ids (image, annotation,
  category), duplicate category names, annotations naming unknown images or categories, boxes that are
  not 4 numbers, NaN or infinite coordinates, scores or areas, boxes of zero or negative width or height,
  YOLO lines with the wrong number of fields, class indices that are not whole numbers in range, or
  coordinates outside [0, 1], a YOLO label file whose image cannot be found or sized, predictions for
  images or categories the ground truth lacks (listed, up to 10 and "N more", with the first record).
* Boxes partly outside their image are clipped to it (``Notice("box_clipped")``, with the count and the
  first examples); a box reaching out by at most 0.001 pixel (rounding in YOLO's normalised values or in
  float32 detector output, e.g. 640.00003) is left as it is, silently. A box wholly outside its image
  (nothing left after clipping, including a box that only touches the border) is dropped with
  ``Notice("box_outside_image")``: it cannot match anything, and an error would reject a whole prediction
  file for one stray box. ``read_detection(spec, clip=False)`` keeps every box as given
  (``Notice("box_not_clipped")``): pycocotools never clips. Images of unknown size (a COCO image without
  width/height, a VOC file without ``<size>``) are not checked (``Notice("image_size_unknown")``).
  COCO's ``area`` is kept as given (missing: w*h); VOC and YOLO areas are the (clipped) box areas.
* A missing image file is not an error here (the pipeline reports it), except for YOLO, which needs the
  image's size: read from the header with Pillow, EXIF orientation applied (the labels are relative to
  the upright image, as in Ultralytics; the thumbnails apply it too). Images in the folders of
  YOLO-labelled images that have no label file are images without objects (the YOLO convention;
  ``Notice("yolo_images_without_labels")``). YOLO class names come from ``classes.txt`` in the label
  folder or its parent, else from the manifest's labels.
* VOC ``<filename>`` is relative to the images root; for an XML file in a subfolder of the annotation
  folder, the image in the same subfolder of the images root is taken when it exists.
* An empty predictions file (or folder) is not an error: ``Notice("no_predictions")``.
* Segmentation tasks (``type: segmentation``) also read masks, into ``gt_masks`` / ``dt_masks`` (RLE counts
  as pycocotools', see evalsite.metrics.masks): every COCO ground-truth annotation and every prediction
  (COCO results or JSONL) needs ``segmentation``: polygons ``[[x0, y0, x1, y1, ...], ...]`` (rasterised
  as pycocotools' frPyObjects + merge; self-intersecting ones too), uncompressed RLE ``{"size": [h, w],
  "counts": [ints]}`` or compressed RLE ``{"size": [h, w], "counts": "..."}``. Errors: a ground truth or
  prediction without ``segmentation`` (predictions with none at all: "segmentation task, but the
  predictions have no masks"; YOLO predictions never have them), VOC or YOLO ground truth, counts not
  summing to h*w, an RLE size other than the image's, polygons with fewer than 3 points or an odd number
  of coordinates, an image without width/height. Empty masks (a polygon wholly outside the image) are kept,
  as in pycocotools, with ``Notice("mask_empty")``. Masks are never clipped; a prediction without
  ``bbox`` gets its mask's (toBbox), a ground truth without ``area`` its mask's area. A detection's area
  (for the area ranges) follows pycocotools' loadRes, which looks at the first result: without ``bbox``,
  every detection's is its mask area (``dt_mask_area``); with one (Detectron2 writes both), the box area. Compressed strings are decoded in
  batches with numpy (all strings of a batch at once), not per character in Python.
* Speed: JSON is parsed with the garbage collector paused until the parsed objects are freed (it
  otherwise walks the growing heap of dicts again and again: json.loads of a 59 MB, 408k-detection
  results file takes 1.6 s with it, 1.1 s without), then turned into column arrays with one comprehension
  per field; every check is vectorised over the arrays. COCO val2017 size (5,000 images, 37k objects,
  408k detections): about 1.6 s CPU for ground truth and results together, against 2.1 s for a plain
  json.load and per-field arrays and 3.3 s for pycocotools' COCO() + loadRes(). Measured and rejected:
  regex or str.replace rewrites of the text into flat number lists for json/np.fromstring/np.loadtxt
  (1.1-1.4 s, not faster than the plain parse once the collector is paused, and they need their own
  validation), and vectorised number parsing in numpy (exact only up to 2**53 mantissas: 40% of
  float32-derived values have 17 digits and need strtod anyway).
"""

from __future__ import annotations

import gc
import json
import operator

import orjson
import os
import warnings
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from evalsite.core.errors import InputError, Notice
from evalsite.formats.boxes import DetectionData, empty_boxes
from evalsite.formats.classification import IMAGE_SUFFIXES, listing, read_labels_file
from evalsite.formats.records import jsonl_records, lines, normalise_image_path, read_text
from evalsite.manifest import TaskSpec
from evalsite.metrics.masks import MaskError, MaskSet, rle_from_polygons, rle_from_polygons_many

GROUND_TRUTH_FORMATS = ("coco", "voc", "yolo", "png")  # png: instance masks, segmentation only (png_masks.py)
PREDICTION_FORMATS = ("coco", "yolo", "jsonl")
_EXAMPLES = 3  # examples a notice shows
_SLACK = 1e-3  # pixels a box may reach outside its image (rounding: YOLO's normalised values, float32) unclipped
_MISSING = object()  # a key that is not there (JSON null is None)

Locator = Callable[[int], "tuple[str, str | None]"]  # record index -> (file, record)


# ------------------------------------------------------------------------------------------ small helpers

@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_json(path: Path) -> object:
    """The parsed JSON file; malformed JSON is an InputError with its line and column."""
    text = read_text(path)
    try:
        with _gc_paused():
            return orjson.loads(text)  # about twice as fast as json.loads: a large share of `evaluate`
    except orjson.JSONDecodeError:
        pass  # the standard parser gives the line and column, and accepts NaN (which is then reported by field)
    try:
        with _gc_paused():
            return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", path, f"line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply", path) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise InputError(f"malformed JSON: {exc}", path) from None


def _field(records: list[dict], key: str) -> list:
    """One field of every record (_MISSING where absent). map(itemgetter) is the fast path for 400k records;
    a record without the field falls back to the slower, forgiving .get."""
    try:
        return list(map(operator.itemgetter(key), records))
    except KeyError:
        return [r.get(key, _MISSING) for r in records]


def _short(value: object) -> str:
    text = "missing" if value is _MISSING else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fmt_box(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def _more(count: int) -> str:
    return "" if count <= 1 else f" (and {count - 1} more like this)"


def _records(values: list, path: Path, what: str) -> None:
    """Every element of a JSON list is an object."""
    if values and set(map(type, values)) != {dict}:
        i = next(i for i, v in enumerate(values) if not isinstance(v, dict))
        raise InputError(f"each entry of '{what}' must be an object, found {_short(values[i])}", path,
                         f"{what} entry {i + 1}")


def _int_column(values: list, locate: Locator, key: str) -> np.ndarray:
    """int64 array of JSON integers (not booleans, not 1.0)."""
    if set(map(type, values)) <= {int}:
        try:
            return np.array(values, dtype=np.int64).reshape(len(values))
        except OverflowError:
            pass
    for i, value in enumerate(values):
        if type(value) is not int:
            problem = f"missing '{key}'" if value is _MISSING else f"'{key}' must be an integer, found {_short(value)}"
            raise InputError(problem, *locate(i))
        if not -(2 ** 63) <= value < 2 ** 63:
            raise InputError(f"'{key}' {value} is out of range", *locate(i))
    raise AssertionError("unreachable")


def _number_column(values: list, locate: Locator, key: str) -> np.ndarray:
    """float64 array of JSON numbers (NaN and infinity pass here; callers check finiteness on the array)."""
    if set(map(type, values)) <= {int, float}:
        try:
            return np.array(values, dtype=np.float64).reshape(len(values))
        except OverflowError:
            pass
    for i, value in enumerate(values):
        if type(value) not in (int, float):
            problem = f"missing '{key}'" if value is _MISSING else f"'{key}' must be a number, found {_short(value)}"
            raise InputError(problem, *locate(i))
    return np.array([_float(v) for v in values], dtype=np.float64)


def _box_column(values: list, locate: Locator, key: str = "bbox") -> np.ndarray:
    """(N, 4) float64 from lists [x, y, w, h]."""
    if not values:
        return empty_boxes()
    try:
        array = np.array(values)
        if array.ndim == 2 and array.shape[1] == 4 and array.dtype.kind in "fi":
            return array.astype(np.float64, copy=False)
    except (ValueError, TypeError, OverflowError):
        pass
    for i, value in enumerate(values):
        if value is _MISSING:
            raise InputError(f"missing '{key}'", *locate(i))
        if (not isinstance(value, list) or len(value) != 4
                or any(type(v) not in (int, float) for v in value)):
            raise InputError(f"'{key}' must be [x, y, width, height] (4 numbers), found {_short(value)}",
                             *locate(i))
    return np.array([[_float(v) for v in box] for box in values], dtype=np.float64)


def _float(value: int | float) -> float:
    """A JSON number as a float; an integer too large for one is infinite (and then reported as such)."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def _first_duplicate(values: np.ndarray) -> tuple[int, int] | None:
    """(first index, index of its first repeat) of the earliest repeated value in file order, or None."""
    if len(values) < 2:
        return None
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(same):
        return None
    k = same[np.argmin(order[same + 1])]
    second = int(order[k + 1])
    first = int(order[np.searchsorted(ordered, ordered[k], side="left")])
    return first, second


def _lookup(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each value in the ascending `sorted_keys`, -1 where absent."""
    if not len(sorted_keys):
        return np.full(len(values), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_keys, values)
    pos_c = np.minimum(pos, len(sorted_keys) - 1)
    return np.where(sorted_keys[pos_c] == values, pos_c, -1).astype(np.int64)


def _unknown_error(index: np.ndarray, keys: np.ndarray | list, locate: Locator, problem: str) -> None:
    """Raise for the keys whose index is -1: up to 10 listed in order of first appearance."""
    bad = np.flatnonzero(index < 0)
    if not len(bad):
        return
    keys_bad = [keys[i] for i in bad] if isinstance(keys, list) else keys[bad].tolist()
    unique = list(dict.fromkeys(keys_bad))
    file, record = locate(int(bad[0]))
    raise InputError(f"{len(unique)} {problem}: {listing(unique)}", file, f"first at {record}" if record else None)


def _check_finite_boxes(box: np.ndarray, locate: Locator) -> None:
    finite = np.isfinite(box).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        i = int(bad[0])
        raise InputError(f"box {_fmt_box(box[i])} has a NaN or infinite coordinate{_more(len(bad))}", *locate(i))
    small = (box[:, 2] <= 0) | (box[:, 3] <= 0)
    if small.any():
        bad = np.flatnonzero(small)
        i = int(bad[0])
        raise InputError(f"box {_fmt_box(box[i])} has zero or negative size (width {box[i, 2]:g}, height "
                         f"{box[i, 3]:g}){_more(len(bad))}", *locate(i))


def _check_finite(values: np.ndarray, locate: Locator, what: str) -> None:
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        i = int(bad[0])
        raise InputError(f"{what} must be a finite number, found {values[i]!r}{_more(len(bad))}", *locate(i))


def _clip(box: np.ndarray, image: np.ndarray, widths: np.ndarray, heights: np.ndarray, locate: Locator,
          names: list[str], file: Path, enabled: bool, kind: str) -> tuple[np.ndarray, np.ndarray | None,
                                                                             list[Notice]]:
    """Boxes clipped to their image; (boxes, rows to keep or None for all, notices)."""
    if not len(box):
        return box, None, []
    w_img = widths[image].astype(np.float64)
    h_img = heights[image].astype(np.float64)
    known = (w_img > 0) & (h_img > 0)
    x1, y1 = box[:, 0], box[:, 1]
    x2, y2 = x1 + box[:, 2], y1 + box[:, 3]
    out = known & ((x1 < -_SLACK) | (y1 < -_SLACK) | (x2 > w_img + _SLACK) | (y2 > h_img + _SLACK))
    if not out.any():
        return box, None, []
    rows = np.flatnonzero(out)
    cx1 = np.clip(x1[rows], 0, w_img[rows])
    cy1 = np.clip(y1[rows], 0, h_img[rows])
    cw = np.clip(x2[rows], 0, w_img[rows]) - cx1
    ch = np.clip(y2[rows], 0, h_img[rows]) - cy1
    gone = (cw <= 0) | (ch <= 0)

    def examples(which: np.ndarray) -> str:
        shown = []
        for i in which[:_EXAMPLES]:
            where, record = locate(int(i))
            place = record if where == str(file) else f"{Path(where).name}, {record}"
            shown.append(f"{place}: {_fmt_box(box[i])} in {names[image[i]]!r} "
                         f"({int(widths[image[i]])}x{int(heights[image[i]])})")
        more = f"; and {len(which) - _EXAMPLES} more" if len(which) > _EXAMPLES else ""
        return "; ".join(shown) + more

    if not enabled:
        return box, None, [Notice("box_not_clipped", str(file), None,
                                  f"{len(rows)} {kind} box(es) reach outside their image, kept as given "
                                  f"(clipping is off), e.g. {examples(rows)}")]
    notices = []
    clipped, dropped = rows[~gone], rows[gone]
    if len(clipped):
        notices.append(Notice("box_clipped", str(file), None,
                              f"{len(clipped)} {kind} box(es) partly outside their image, clipped to it, "
                              f"e.g. {examples(clipped)}"))
    if len(dropped):
        notices.append(Notice("box_outside_image", str(file), None,
                              f"{len(dropped)} {kind} box(es) wholly outside their image, ignored, "
                              f"e.g. {examples(dropped)}"))
    box = box.copy()
    box[rows] = np.column_stack([cx1, cy1, cw, ch])
    keep = np.ones(len(box), dtype=bool)
    keep[dropped] = False
    return box, (None if keep.all() else keep), notices


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


def _image_files(root: Path) -> list[str]:
    """Every image under `root` (symbolic links to folders not followed), relative POSIX paths, sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(folder).relative_to(root).as_posix()
        for name in files:
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(name if rel == "." else f"{rel}/{name}")
    return sorted(found)


def _text_files(folder: Path) -> list[Path]:
    """The .txt files under `folder` (recursive), classes.txt excepted, sorted."""
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.lower().endswith(".txt") and name != "classes.txt":
                found.append(Path(current) / name)
    return sorted(found)


def _stem(rel: str) -> str:
    """A relative POSIX path without its suffix."""
    slash, dot = rel.rfind("/"), rel.rfind(".")
    return rel[:dot] if dot > slash + 1 else rel


class _StemIndex:
    """Find an image by the stem of a label file: the same relative path without suffix, else the bare
    stem when exactly one image has it."""

    def __init__(self, images: list[str]):
        self.by_path: dict[str, list[int]] = {}
        self.by_name: dict[str, list[int]] = {}
        for i, rel in enumerate(images):
            stem = _stem(rel)
            self.by_path.setdefault(stem, []).append(i)
            self.by_name.setdefault(stem.rsplit("/", 1)[-1], []).append(i)

    def find(self, stem: str) -> tuple[int | None, list[int]]:
        """(index, []) when found; (None, candidates) when ambiguous; (None, []) when absent."""
        hits = self.by_path.get(stem) or self.by_name.get(stem.rsplit("/", 1)[-1]) or []
        if len(hits) == 1:
            return hits[0], []
        return None, hits


def _detect(fmt: str | None, path: Path, allowed: tuple[str, ...], what: str) -> str:
    if fmt is None:
        suffix = path.suffix.lower()
        if path.is_dir():
            fmt = "voc" if what == "ground truth" and any(path.rglob("*.xml")) else "yolo"
        else:
            fmt = {".json": "coco", ".xml": "voc", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix, "")
        if fmt not in allowed:
            raise InputError(f"cannot tell the {what} format from the path; set format to one of "
                             f"{', '.join(allowed)}", path)
    if fmt not in allowed:
        raise InputError(f"unknown {what} format {fmt!r} for detection; expected one of {', '.join(allowed)}",
                         path)
    return fmt


def _declared_labels(spec: TaskSpec) -> list[str] | None:
    declared = spec.labels or (read_labels_file(spec.labels_file) if spec.labels_file else None)
    if declared is not None and len(set(declared)) != len(declared):
        dupes = sorted({n for n in declared if declared.count(n) > 1})
        raise InputError(f"the labels list repeats {listing(dupes)}", spec.labels_file or spec.source)
    return declared


# ------------------------------------------------------------------------------------------ ground truth

@dataclass
class _Truth:
    file: Path
    fmt: str
    has_ids: bool  # real image ids (COCO) that predictions may refer to
    image_ids: np.ndarray  # ascending
    images: list[str]
    widths: np.ndarray
    heights: np.ndarray
    labels: list[str]
    label_ids: np.ndarray  # ascending
    gt_image: np.ndarray  # index into images
    gt_label: np.ndarray  # index into labels
    gt_box: np.ndarray
    gt_area: np.ndarray | None  # None: the box area, after clipping
    gt_crowd: np.ndarray
    gt_difficult: np.ndarray
    gt_id: np.ndarray
    locate: Locator
    declared: bool = False
    notices: list[Notice] = field(default_factory=list)
    gt_segm: list | None = None  # segmentation tasks: the raw 'segmentation' values
    gt_area_missing: np.ndarray | None = None  # (G,) bool: no 'area' given (then the mask's area is taken)


def _coco_ground_truth(path: Path, spec: TaskSpec, declared: list[str] | None) -> _Truth:
    with _gc_paused():  # see _coco_predictions
        return _coco_ground_truth_columns(path, spec, declared)


def _coco_ground_truth_columns(path: Path, spec: TaskSpec, declared: list[str] | None) -> _Truth:
    data = load_json(path)
    if isinstance(data, list):
        raise InputError("a COCO ground-truth file must be a JSON object with 'images', 'annotations' and "
                         "'categories'; this one is a list (a results file? give it as predictions)", path)
    if not isinstance(data, dict):
        raise InputError("a COCO ground-truth file must be a JSON object with 'images', 'annotations' and "
                         f"'categories', found {type(data).__name__}", path)
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise InputError(f"missing '{key}': a COCO ground-truth file needs 'images', 'annotations' and "
                             "'categories'", path)
        if not isinstance(data[key], list):
            raise InputError(f"'{key}' must be a list, found {type(data[key]).__name__}", path, f"key '{key}'")
    file = str(path)

    # categories: labels in ascending id order
    cats = data["categories"]
    _records(cats, path, "categories")
    if not cats:
        raise InputError("'categories' is empty", path, "key 'categories'")
    cat_ids = _int_column([c.get("id", _MISSING) for c in cats], lambda i: (file, f"categories entry {i + 1}"), "id")
    dup = _first_duplicate(cat_ids)
    if dup:
        raise InputError(f"category id {cat_ids[dup[1]]} appears twice (categories entries {dup[0] + 1} and "
                         f"{dup[1] + 1})", path, f"categories entry {dup[1] + 1}")
    names = [c.get("name", _MISSING) for c in cats]
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"a category needs a name (a non-empty string), found {_short(name)}", path,
                             f"category id {cat_ids[i]}")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(f"category name {name!r} is also category id {cat_ids[seen[name]]}", path,
                             f"category id {cat_ids[i]}")
        seen[name] = i
    order = np.argsort(cat_ids, kind="stable")
    label_ids = cat_ids[order]
    labels = [names[i] for i in order]
    if declared is not None:
        allowed = set(declared)
        extra = [n for n in labels if n not in allowed]
        if extra:
            raise InputError(f"category name(s) not in the declared labels: {listing(extra)}", path,
                             "key 'categories'")
        absent = [n for n in declared if n not in seen]
        if absent:
            raise InputError(f"declared label(s) not among the categories: {listing(absent)}", path,
                             "key 'categories'")

    # images: ascending id order
    imgs = data["images"]
    _records(imgs, path, "images")
    ids = _int_column([m.get("id", _MISSING) for m in imgs], lambda i: (file, f"images entry {i + 1}"), "id")
    dup = _first_duplicate(ids)
    if dup:
        raise InputError(f"image id {ids[dup[1]]} appears twice (images entries {dup[0] + 1} and {dup[1] + 1})",
                         path, f"images entry {dup[1] + 1}")
    locate_image = lambda i: (file, f"image id {ids[i]}")  # noqa: E731
    file_names = [normalise_image_path(m.get("file_name"), spec.images, path, locate_image(i)[1])
                  for i, m in enumerate(imgs)]
    sizes = []
    for key in ("width", "height"):
        values = [m.get(key, 0) for m in imgs]
        if not set(map(type, values)) <= {int}:
            for i, v in enumerate(values):
                if isinstance(v, float) and v.is_integer():
                    values[i] = int(v)
        column = _int_column(values, locate_image, key)
        if (column < 0).any():
            i = int(np.flatnonzero(column < 0)[0])
            raise InputError(f"'{key}' must not be negative, found {column[i]}", *locate_image(i))
        sizes.append(column)
    order = np.argsort(ids, kind="stable")
    image_ids = ids[order]
    images = [file_names[i] for i in order]
    widths, heights = sizes[0][order], sizes[1][order]

    # annotations
    anns = data["annotations"]
    _records(anns, path, "annotations")
    ann_ids = _int_column([a.get("id", _MISSING) for a in anns], lambda i: (file, f"annotations entry {i + 1}"),
                          "id")
    dup = _first_duplicate(ann_ids)
    if dup:
        raise InputError(f"annotation id {ann_ids[dup[1]]} appears twice (annotations entries {dup[0] + 1} "
                         f"and {dup[1] + 1})", path, f"annotation id {ann_ids[dup[1]]}")
    locate = lambda i: (file, f"annotation id {ann_ids[i]}")  # noqa: E731
    ann_image = _int_column([a.get("image_id", _MISSING) for a in anns], locate, "image_id")
    ann_cat = _int_column([a.get("category_id", _MISSING) for a in anns], locate, "category_id")
    box = _box_column([a.get("bbox", _MISSING) for a in anns], locate)
    gt_image = _lookup(image_ids, ann_image)
    bad = np.flatnonzero(gt_image < 0)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"image id {ann_image[i]} is not in 'images'{_more(len(bad))}", *locate(i))
    gt_label = _lookup(label_ids, ann_cat)
    bad = np.flatnonzero(gt_label < 0)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"category id {ann_cat[i]} is not in 'categories'{_more(len(bad))}", *locate(i))
    _check_finite_boxes(box, locate)
    area_values = [a.get("area", _MISSING) for a in anns]
    missing_area = np.array([v is _MISSING for v in area_values], dtype=bool)
    area = _number_column([0 if v is _MISSING else v for v in area_values], locate, "area")
    _check_finite(area, locate, "'area'")
    if (area < 0).any():
        i = int(np.flatnonzero(area < 0)[0])
        raise InputError(f"'area' must not be negative, found {area[i]:g}", *locate(i))
    area = np.where(missing_area, box[:, 2] * box[:, 3], area)
    crowd_values = [a.get("iscrowd", 0) for a in anns]
    try:
        crowd_ok = set(crowd_values) <= {0, 1}
    except TypeError:  # unhashable values (lists, objects)
        crowd_ok = False
    if not crowd_ok:
        i = next(i for i, v in enumerate(crowd_values) if not isinstance(v, (int, float)) or v not in (0, 1))
        raise InputError(f"'iscrowd' must be 0 or 1, found {_short(crowd_values[i])}", *locate(i))
    crowd = np.array(crowd_values, dtype=bool).reshape(len(anns))
    segm = None
    if spec.type == "segmentation":
        segm = _field(anns, "segmentation")
        for i, value in enumerate(segm):
            if value is _MISSING or value is None:
                raise InputError("missing 'segmentation': a segmentation task needs a mask (polygons or RLE) "
                                 "for every ground-truth object", *locate(i))
    notices = []
    unknown_size = np.flatnonzero((widths == 0) | (heights == 0))
    if len(unknown_size):
        notices.append(Notice("image_size_unknown", file, None,
                              f"{len(unknown_size)} image(s) without width/height: their boxes are not "
                              f"checked against the image, e.g. {listing([images[i] for i in unknown_size])}"))
    return _Truth(file=path, fmt="coco", has_ids=True, image_ids=image_ids, images=images, widths=widths,
                  heights=heights, labels=labels, label_ids=label_ids, gt_image=gt_image, gt_label=gt_label,
                  gt_box=box, gt_area=area, gt_crowd=crowd, gt_difficult=np.zeros(len(anns), dtype=bool),
                  gt_id=ann_ids, locate=locate, declared=declared is not None, notices=notices, gt_segm=segm,
                  gt_area_missing=missing_area)


def _xml_root(file: Path) -> ET.Element:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file) from None
    for marker in (b"<!DOCTYPE", b"<!ENTITY"):
        at = data.find(marker)
        if at >= 0:
            line = data.count(b"\n", 0, at) + 1
            raise InputError(f"XML with a {marker[2:].decode()} declaration is not accepted", file, f"line {line}")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        message = str(exc).split(":")[0]
        raise InputError(f"not well-formed XML: {message}", file, f"line {line}, column {column + 1}") from None


def _voc_number(element: ET.Element | None, tag: str, file: Path, record: str, required: bool) -> float | None:
    text = element.findtext(tag) if element is not None else None
    if text is None or not text.strip():
        if required:
            raise InputError(f"missing <{tag}>", file, record)
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"<{tag}> {text.strip()!r} is not a number", file, record) from None


def _voc_ground_truth(path: Path, spec: TaskSpec, declared: list[str] | None) -> _Truth:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.xml") if p.is_file())
        if not files:
            raise InputError("no .xml files in this folder (Pascal VOC ground truth)", path)
        base = path
    elif path.is_file():
        files, base = [path], path.parent
    else:
        raise InputError("file or folder not found", path)
    per_image = []  # (image, width, height, [(name, box, difficult, object number)], xml file)
    seen: dict[str, Path] = {}
    for file in files:
        root = _xml_root(file)
        if root.tag != "annotation":
            raise InputError(f"expected an <annotation> root element, found <{root.tag}>", file)
        raw = root.findtext("filename")
        if raw is None or not raw.strip():
            raise InputError("missing <filename> (the image this file annotates)", file)
        image = normalise_image_path(raw, spec.images, file, "<filename>")
        sub = file.parent.relative_to(base).as_posix()
        if sub != "." and "/" not in image and (spec.images / sub / image).is_file():
            image = f"{sub}/{image}"
        if image in seen:
            raise InputError(f"image {image!r} is also annotated by {seen[image]}", file, "<filename>")
        seen[image] = file
        size = root.find("size")
        width, height = (_voc_number(size, tag, file, "<size>", False) or 0 for tag in ("width", "height"))
        if not (0 <= width < 2 ** 31 and 0 <= height < 2 ** 31):
            raise InputError(f"image size {width:g} x {height:g} is not a size in pixels", file, "<size>")
        objects = []
        for number, obj in enumerate(root.findall("object"), start=1):
            record = f"object {number}"
            name = (obj.findtext("name") or "").strip()
            if not name:
                raise InputError("missing <name>", file, record)
            difficult = (obj.findtext("difficult") or "0").strip()
            if difficult not in ("0", "1"):
                raise InputError(f"<difficult> must be 0 or 1, found {difficult!r}", file, record)
            bndbox = obj.find("bndbox")
            if bndbox is None:
                raise InputError("missing <bndbox>", file, record)
            x1, y1, x2, y2 = (_voc_number(bndbox, tag, file, record, True)
                              for tag in ("xmin", "ymin", "xmax", "ymax"))
            objects.append((name, (x1, y1, x2 - x1, y2 - y1), difficult == "1", number))  # type: ignore[operator]
        per_image.append((image, int(width), int(height), objects, file))
    per_image.sort(key=lambda item: item[0])

    names = [obj[0] for item in per_image for obj in item[3]]
    if declared is not None:
        labels = list(declared)
        allowed = set(labels)
        unknown = [n for n in dict.fromkeys(names) if n not in allowed]
        if unknown:
            item, obj = next((item, obj) for item in per_image for obj in item[3] if obj[0] == unknown[0])
            raise InputError(f"label(s) not in the declared labels: {listing(unknown)}", item[4],
                             f"first at object {obj[3]}")
    else:
        labels = sorted(set(names))
        if not labels:
            raise InputError("the VOC ground truth has no objects and no labels are declared", path)
    index = {name: i for i, name in enumerate(labels)}
    counts = [len(item[3]) for item in per_image]
    gt_image = np.repeat(np.arange(len(per_image), dtype=np.int64), counts)
    objects = [obj for item in per_image for obj in item[3]]
    box = np.array([obj[1] for obj in objects], dtype=np.float64).reshape(len(objects), 4)
    files_of = [str(item[4]) for item in per_image]
    locate = lambda i: (files_of[gt_image[i]], f"object {objects[i][3]}")  # noqa: E731
    _check_finite_boxes(box, locate)
    widths = np.array([item[1] for item in per_image], dtype=np.int64)
    heights = np.array([item[2] for item in per_image], dtype=np.int64)
    notices = []
    unknown_size = np.flatnonzero((widths <= 0) | (heights <= 0))
    if len(unknown_size):
        notices.append(Notice("image_size_unknown", str(path), None,
                              f"{len(unknown_size)} file(s) without <size>: their boxes are not checked "
                              f"against the image, e.g. {listing([files_of[i] for i in unknown_size])}"))
    return _Truth(file=path, fmt="voc", has_ids=False, image_ids=np.arange(len(per_image), dtype=np.int64),
                  images=[item[0] for item in per_image], widths=np.maximum(widths, 0),
                  heights=np.maximum(heights, 0), labels=labels,
                  label_ids=np.arange(len(labels), dtype=np.int64), gt_image=gt_image,
                  gt_label=np.array([index[n] for n in names], dtype=np.int64), gt_box=box, gt_area=None,
                  gt_crowd=np.zeros(len(objects), dtype=bool),
                  gt_difficult=np.array([obj[2] for obj in objects], dtype=bool),
                  gt_id=np.arange(1, len(objects) + 1, dtype=np.int64), locate=locate,
                  declared=declared is not None, notices=notices)


def _yolo_rows(file: Path, fields: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(values (k, fields) float64, line numbers (k,)) of the non-blank lines; every line `fields` wide."""
    rows, numbers = [], []
    for number, line in enumerate(lines(read_text(file)), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != fields:
            raise InputError(f"expected {fields} values ({what}), found {len(parts)}", file, f"line {number}")
        rows.append(parts)
        numbers.append(number)
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), fields)
    except ValueError:
        for parts, number in zip(rows, numbers):
            for part in parts:
                try:
                    float(part)
                except ValueError:
                    raise InputError(f"{part!r} is not a number", file, f"line {number}") from None
        raise
    return values, np.array(numbers, dtype=np.int64)


def _yolo_check(values: np.ndarray, locate: Locator, n_classes: int | None) -> None:
    """Class index a whole number (in range), coordinates finite and in [0, 1], confidence finite."""
    if not len(values):
        return
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(f"values must be finite numbers{_more(len(bad))}", *locate(int(bad[0])))
    cls = values[:, 0]
    bad = np.flatnonzero((cls != np.floor(cls)) | (cls < 0) | (cls > 2 ** 53))
    if len(bad):
        raise InputError(f"class {cls[bad[0]]:g} is not a class index (a whole number from 0){_more(len(bad))}",
                         *locate(int(bad[0])))
    if n_classes is not None:
        bad = np.flatnonzero(cls >= n_classes)
        if len(bad):
            raise InputError(f"class {int(cls[bad[0]])} is out of range: classes.txt names {n_classes} "
                             f"(0..{n_classes - 1}){_more(len(bad))}", *locate(int(bad[0])))
    coords = values[:, 1:5]
    outside = ((coords < 0) | (coords > 1)).any(axis=1)
    if outside.any():
        bad = np.flatnonzero(outside)
        i = int(bad[0])
        raise InputError(f"coordinates {_fmt_box(coords[i])} must be normalised to [0, 1]{_more(len(bad))}",
                         *locate(i))


def _yolo_boxes(values: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """cx cy w h in [0, 1] -> absolute xywh."""
    cx, cy, w, h = values[:, 1], values[:, 2], values[:, 3], values[:, 4]
    return np.column_stack([(cx - w / 2) * widths, (cy - h / 2) * heights, w * widths, h * heights])


def _classes_file(folder: Path, parent_too: bool) -> Path | None:
    for candidate in (folder / "classes.txt", folder.parent / "classes.txt")[: 2 if parent_too else 1]:
        if candidate.is_file():
            return candidate
    return None


def _yolo_ground_truth(path: Path, spec: TaskSpec, declared: list[str] | None) -> _Truth:
    if not path.is_dir():
        raise InputError("expected a folder of YOLO .txt label files", path)
    classes = _classes_file(path, parent_too=True)
    if classes is not None:
        labels = read_labels_file(classes)
        if declared is not None and declared != labels:
            raise InputError(f"the declared labels differ from {classes} (YOLO class k is line k+1 of "
                             "classes.txt): give the same names in the same order, or leave labels out",
                             spec.labels_file or spec.source or classes)
    elif declared is not None:
        labels = list(declared)
    else:
        raise InputError("YOLO ground truth needs the class names: a classes.txt (line k+1 names class k) "
                         "in this folder or its parent, or labels in the manifest", path)
    root = spec.images
    if not root.is_dir():
        raise InputError("images folder not found (YOLO labels need the images for their sizes)", root)
    all_images = _image_files(root)
    index = _StemIndex(all_images)
    label_files = _text_files(path)
    matched: dict[int, Path] = {}
    for file in label_files:
        stem = file.relative_to(path).as_posix()[:-4]
        hit, candidates = index.find(stem)
        if hit is None:
            if candidates:
                shown = listing([all_images[c] for c in candidates])
                raise InputError(f"several images match this label file: {shown}", file)
            raise InputError(f"no image for this label file under the images root {root} (looked for "
                             f"{stem}.* and {stem.rsplit('/', 1)[-1]}.*)", file)
        if hit in matched:
            raise InputError(f"image {all_images[hit]!r} also has the label file {matched[hit]}", file)
        matched[hit] = file
    if not matched:
        raise InputError("no YOLO .txt label files in this folder", path)
    folders = {all_images[i].rpartition("/")[0] for i in matched}
    background = [i for i, rel in enumerate(all_images) if i not in matched and rel.rpartition("/")[0] in folders]
    notices = []
    if background:
        notices.append(Notice("yolo_images_without_labels", str(path), None,
                              f"{len(background)} image(s) without a label file, counted as images without "
                              f"objects: {listing([all_images[i] for i in background])}"))
    chosen = sorted([*matched, *background], key=lambda i: all_images[i])
    images = [all_images[i] for i in chosen]
    widths = np.zeros(len(chosen), dtype=np.int64)
    heights = np.zeros(len(chosen), dtype=np.int64)
    parts, line_numbers, owners = [], [], []
    for k, i in enumerate(chosen):
        owner = matched.get(i)
        try:
            widths[k], heights[k] = image_size(root / images[k])
        except OSError as exc:
            raise InputError(f"cannot read the size of image {images[k]!r} ({exc}); YOLO coordinates need it",
                             owner or root / images[k]) from None
        if owner is not None:
            values, numbers = _yolo_rows(owner, 5, "class cx cy w h")
            _yolo_check(values, lambda j, f=owner, n=numbers: (str(f), f"line {n[j]}"), len(labels))
            parts.append(values)
            line_numbers.append(numbers)
            owners.append(np.full(len(values), k, dtype=np.int64))
    values = np.concatenate(parts) if parts else np.zeros((0, 5))
    gt_image = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    numbers = np.concatenate(line_numbers) if line_numbers else np.zeros(0, dtype=np.int64)
    owner_files = [str(matched.get(i)) for i in chosen]
    locate = lambda j: (owner_files[gt_image[j]], f"line {numbers[j]}")  # noqa: E731
    box = _yolo_boxes(values, widths[gt_image], heights[gt_image])
    _check_finite_boxes(box, locate)
    return _Truth(file=path, fmt="yolo", has_ids=False, image_ids=np.arange(len(chosen), dtype=np.int64),
                  images=images, widths=widths, heights=heights, labels=labels,
                  label_ids=np.arange(len(labels), dtype=np.int64), gt_image=gt_image,
                  gt_label=values[:, 0].astype(np.int64), gt_box=box, gt_area=None,
                  gt_crowd=np.zeros(len(values), dtype=bool), gt_difficult=np.zeros(len(values), dtype=bool),
                  gt_id=np.arange(1, len(values) + 1, dtype=np.int64), locate=locate,
                  declared=declared is not None, notices=notices)


# ------------------------------------------------------------------------------------------ predictions

@dataclass
class _Predictions:
    file: Path
    fmt: str
    box: np.ndarray  # (D, 4): xywh, or YOLO's normalised cx cy w h while `normalised`
    score: np.ndarray
    locate: Locator
    image_id: np.ndarray | None = None  # (D,) image ids, or
    image_key: np.ndarray | None = None  # (D,) index into image_names
    image_names: list[str] | None = None  # normalised paths, or label-file stems when `by_stem`
    image_records: list[str] | None = None  # where each of image_names is: "line 4", "labels/a.txt"
    id_names: dict[int, str] | None = None  # image id -> file name, where the predictions give both
    by_stem: bool = False
    category_id: np.ndarray | None = None  # (D,) category ids / class indices, or
    category_key: np.ndarray | None = None  # (D,) index into category_names
    category_names: list[str] | None = None
    category_id_names: dict[int, str] | None = None  # id -> name where the predictions give both
    normalised: bool = False
    notices: list[Notice] = field(default_factory=list)
    segm: list | None = None  # segmentation tasks: the raw 'segmentation' values
    box_missing: np.ndarray | None = None  # (D,) bool: no 'bbox' given (segmentation: the mask's box is taken)


def _coco_predictions(path: Path, spec: TaskSpec) -> _Predictions:
    # The collector stays off until the parsed JSON is freed (by reference counting, on return): else
    # its first run afterwards walks all the dicts once more.
    with _gc_paused():
        return _coco_predictions_columns(path, spec)


def _coco_predictions_columns(path: Path, spec: TaskSpec) -> _Predictions:
    data = load_json(path)
    file = str(path)
    category_id_names = id_names = None
    if isinstance(data, dict):
        if not isinstance(data.get("annotations"), list):
            raise InputError("COCO predictions must be a results list [{image_id, category_id, bbox, score}, "
                             "...] or an object with an 'annotations' list", path)
        entries, what = data["annotations"], "annotations"
        if isinstance(data.get("categories"), list):
            cats = data["categories"]
            _records(cats, path, "categories")
            loc = lambda i: (file, f"categories entry {i + 1}")  # noqa: E731
            ids = _int_column([c.get("id", _MISSING) for c in cats], loc, "id")
            category_id_names = {}
            for i, (cid, cat) in enumerate(zip(ids.tolist(), cats)):
                if not isinstance(cat.get("name"), str):
                    raise InputError(f"a category needs a name, found {_short(cat.get('name', _MISSING))}",
                                     *loc(i))
                category_id_names[cid] = cat["name"]
        if isinstance(data.get("images"), list):
            imgs = data["images"]
            _records(imgs, path, "images")
            loc = lambda i: (file, f"images entry {i + 1}")  # noqa: E731
            ids = _int_column([m.get("id", _MISSING) for m in imgs], loc, "id")
            id_names = {iid: normalise_image_path(m.get("file_name"), spec.images, path, loc(i)[1])
                        for i, (iid, m) in enumerate(zip(ids.tolist(), imgs))}
    elif isinstance(data, list):
        entries, what = data, "results"
    else:
        raise InputError("COCO predictions must be a results list [{image_id, category_id, bbox, score}, ...], "
                         f"found {type(data).__name__}", path)
    _records(entries, path, what)
    locate = lambda i: (file, f"{what} entry {i + 1}")  # noqa: E731
    image_id = _int_column(_field(entries, "image_id"), locate, "image_id")
    category_id = _int_column(_field(entries, "category_id"), locate, "category_id")
    segm = box_missing = None
    boxes = _field(entries, "bbox")
    if spec.type == "segmentation":
        segm = _field(entries, "segmentation")
        _check_segm_present(segm, path, locate)
        boxes, box_missing = _placeholder_boxes(boxes)
    box = _box_column(boxes, locate)
    score = _number_column(_field(entries, "score"), locate, "score")
    if entries and id_names is None and "file_name" in entries[0]:
        # results that also name their image: matched by file name when the ids are not the ground truth's
        cache: dict[str, str] = {}
        id_names = {}
        for i, (iid, raw) in enumerate(zip(image_id.tolist(), [r.get("file_name") for r in entries])):
            name = cache.get(raw) if isinstance(raw, str) else None
            if name is None:
                name = cache[raw] = normalise_image_path(raw, spec.images, path, locate(i)[1])
            if id_names.setdefault(iid, name) != name:
                raise InputError(f"image id {iid} has the file name {name!r} here and {id_names[iid]!r} before",
                                 *locate(i))
    notices = []
    if not entries:
        notices.append(Notice("no_predictions", file, None, "the predictions file lists no detections"))
    return _Predictions(file=path, fmt="coco", box=box, score=score, locate=locate, image_id=image_id,
                        id_names=id_names, category_id=category_id, category_id_names=category_id_names,
                        notices=notices, segm=segm, box_missing=box_missing)


def _jsonl_predictions(path: Path, spec: TaskSpec) -> _Predictions:
    with _gc_paused():  # see _coco_predictions
        return _jsonl_prediction_columns(path, spec)


def _jsonl_prediction_columns(path: Path, spec: TaskSpec) -> _Predictions:
    file = str(path)
    image_names: list[str] = []
    where: dict[str, int] = {}
    det_line: list[int] = []
    det_number: list[int] = []
    det_image: list[int] = []
    labels: list[object] = []
    scores: list[object] = []
    boxes: list[object] = []
    segms: list[object] = []
    for number, record in jsonl_records(path):
        line = f"line {number}"
        image = normalise_image_path(record.get("image"), spec.images, path, line)
        if image in where:
            raise InputError(f"duplicate line for image {image!r} (first at line {where[image]})", path, line)
        where[image] = number
        predictions = record.get("predictions", _MISSING)
        if not isinstance(predictions, list):
            problem = ("missing 'predictions'" if predictions is _MISSING else
                       f"'predictions' must be a list, found {_short(predictions)}")
            raise InputError(problem, path, line)
        for k, p in enumerate(predictions, start=1):
            if not isinstance(p, dict):
                raise InputError(f"each prediction must be an object, found {_short(p)}", path,
                                 f"{line}, prediction {k}")
        n = len(predictions)
        det_line += [number] * n
        det_number += range(1, n + 1)
        det_image += [len(image_names)] * n
        image_names.append(image)
        labels += [p.get("label", _MISSING) for p in predictions]
        scores += [p.get("score", _MISSING) for p in predictions]
        boxes += [p.get("bbox", _MISSING) for p in predictions]
        segms += [p.get("segmentation", _MISSING) for p in predictions]
    locate = lambda i: (file, f"line {det_line[i]}, prediction {det_number[i]}")  # noqa: E731
    codes: dict[str, int] = {}
    keys = []
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            problem = ("missing 'label'" if label is _MISSING else
                       f"'label' must be a name (a string), found {_short(label)}")
            raise InputError(problem, *locate(i))
        keys.append(codes.setdefault(label.strip(), len(codes)))
    notices = []
    if not image_names:
        notices.append(Notice("no_predictions", file, None, "the predictions file has no lines"))
    segm = box_missing = None
    if spec.type == "segmentation":
        segm = segms
        _check_segm_present(segm, path, locate)
        boxes, box_missing = _placeholder_boxes(boxes)
    return _Predictions(file=path, fmt="jsonl", box=_box_column(boxes, locate), segm=segm, box_missing=box_missing,
                        score=_number_column(scores, locate, "score"), locate=locate,
                        image_key=np.array(det_image, dtype=np.int64), image_names=image_names,
                        image_records=[f"line {where[name]}" for name in image_names],
                        category_key=np.array(keys, dtype=np.int64), category_names=list(codes),
                        notices=notices)


def _yolo_predictions(path: Path, spec: TaskSpec) -> _Predictions:
    if spec.type == "segmentation":
        raise InputError(f"{_NO_MASKS}: YOLO prediction files give boxes only; give COCO results or JSONL "
                         "with 'segmentation'", path)
    if not path.is_dir():
        raise InputError("expected a folder of YOLO .txt prediction files (class cx cy w h confidence)", path)
    classes = _classes_file(path, parent_too=False)
    names = read_labels_file(classes) if classes else None
    files = _text_files(path)
    parts, numbers, owners, stems, owner_files = [], [], [], [], []
    for k, file in enumerate(files):
        values, line_numbers = _yolo_rows(file, 6, "class cx cy w h confidence")
        _yolo_check(values, lambda j, f=file, n=line_numbers: (str(f), f"line {n[j]}"),
                    len(names) if names else None)
        parts.append(values)
        numbers.append(line_numbers)
        owners.append(np.full(len(values), k, dtype=np.int64))
        stems.append(file.relative_to(path).as_posix()[:-4])
        owner_files.append(str(file))
    values = np.concatenate(parts) if parts else np.zeros((0, 6))
    image_key = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    line_numbers = np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64)
    locate = lambda j: (owner_files[image_key[j]], f"line {line_numbers[j]}")  # noqa: E731
    notices = []
    if not files:
        notices.append(Notice("no_predictions", str(path), None, "the predictions folder has no .txt files"))
    return _Predictions(file=path, fmt="yolo", box=values[:, :5], score=values[:, 5], locate=locate,
                        image_key=image_key, image_names=stems, by_stem=True,
                        image_records=[f"{stem}.txt" for stem in stems],
                        category_id=values[:, 0].astype(np.int64),
                        category_id_names=dict(enumerate(names)) if names else None, normalised=True,
                        notices=notices)


# ------------------------------------------------------------------------------------------ matching

def _match_images(truth: _Truth, pred: _Predictions) -> tuple[np.ndarray, str]:
    """The ground-truth image index of every detection, and how it was found ("id" or "file name")."""
    n = len(pred.score)
    if pred.image_id is not None:
        index = _lookup(truth.image_ids, pred.image_id)
        if truth.has_ids and (index >= 0).all():
            firsts = np.unique(index, return_index=True)[1]
            if pred.id_names is None or all(truth.images[int(index[i])] == pred.id_names.get(int(pred.image_id[i]))
                                            for i in firsts):
                return index, "id"
        if pred.id_names is None:
            if not truth.has_ids:
                raise InputError(f"COCO results name images by id only, but {truth.fmt.upper()} ground truth "
                                 "has no image ids: add 'file_name' to each result, or give the predictions as "
                                 "JSONL keyed by file name", pred.file)
            _unknown_error(index, pred.image_id, pred.locate, "image id(s) not in the ground truth")
        unique_ids, inverse = np.unique(pred.image_id, return_inverse=True)
        names = [pred.id_names.get(i) for i in unique_ids.tolist()]
        per_id = _match_names(truth, [name or "" for name in names])
        shown = [repr(name) if name else f"image id {i} (no file name)" for i, name in zip(unique_ids.tolist(), names)]
        index = per_id[inverse] if n else np.zeros(0, dtype=np.int64)
        bad = np.flatnonzero(index < 0)
        if len(bad):
            unknown = list(dict.fromkeys(shown[inverse[i]] for i in bad))
            listed = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise InputError(f"{len(unknown)} image(s) not in the ground truth: {listed}", str(pred.file),
                             f"first at {pred.locate(int(bad[0]))[1]}")
        return index, "file name"
    assert pred.image_key is not None and pred.image_names is not None and pred.image_records is not None
    if pred.by_stem:
        stems = _StemIndex(truth.images)
        found = []
        for k, stem in enumerate(pred.image_names):
            hit, candidates = stems.find(stem)
            if hit is None and candidates:
                raise InputError(f"several ground-truth images match this file: "
                                 f"{listing([truth.images[c] for c in candidates])}", pred.image_records[k])
            found.append(-1 if hit is None else hit)
        per_image = np.array(found, dtype=np.int64)
    else:
        per_image = _match_names(truth, pred.image_names)
    bad = np.flatnonzero(per_image < 0)
    if len(bad):
        unknown = [pred.image_names[k] + (".txt" if pred.by_stem else "") for k in bad]
        first = pred.image_records[int(bad[0])]
        raise InputError(f"{len(unknown)} {'file(s) for ' if pred.by_stem else ''}image(s) not in the ground "
                         f"truth: {listing(unknown)}", pred.file, f"first at {first}")
    index = per_image[pred.image_key] if n else np.zeros(0, dtype=np.int64)
    return index, "file name"


def _match_names(truth: _Truth, names: list[str]) -> np.ndarray:
    """Ground-truth image index of each file name, -1 where absent; a name two images share is an error."""
    by_name: dict[str, int] = {}
    shared: set[str] = set()
    for i, name in enumerate(truth.images):
        if by_name.setdefault(name, i) != i:
            shared.add(name)
    clash = [name for name in names if name in shared]
    if clash:
        ids = [int(truth.image_ids[i]) for i, name in enumerate(truth.images) if name == clash[0]]
        raise InputError(f"predictions are matched by file name, but {clash[0]!r} is the file name of several "
                         f"images (ids {', '.join(map(str, ids))})", truth.file)
    return np.array([by_name.get(name, -1) for name in names], dtype=np.int64)


def _match_labels(truth: _Truth, pred: _Predictions) -> tuple[np.ndarray, str]:
    """The label index of every detection, and how it was found ("id" or "name")."""
    n = len(pred.score)
    index_of = {name: i for i, name in enumerate(truth.labels)}
    lacks = "not in the declared labels" if truth.declared else "the ground truth lacks"
    if pred.category_id is not None:
        index = _lookup(truth.label_ids, pred.category_id)
        if pred.category_id_names is None:
            _unknown_error(index, pred.category_id, pred.locate, f"category id(s) {lacks}")
            return index, "id"
        used = np.unique(pred.category_id).tolist()
        missing = [i for i in used if i not in pred.category_id_names]
        if missing:
            first = int(np.flatnonzero(pred.category_id == missing[0])[0])
            raise InputError(f"category id(s) without a name in the predictions' categories: {listing(missing)}",
                             *pred.locate(first))
        same = (index >= 0).all() and all(
            truth.labels[int(index[i])] == pred.category_id_names[int(pred.category_id[i])]
            for i in np.unique(index, return_index=True)[1])
        if same:
            return index, "id"
        names = [pred.category_id_names[i] for i in used]
        per_id = np.array([index_of.get(name, -1) for name in names], dtype=np.int64)
        index = per_id[np.searchsorted(np.array(used, dtype=np.int64), pred.category_id)] if n else per_id[:0]
        _unknown_error(index, [pred.category_id_names[int(c)] for c in pred.category_id], pred.locate,
                       f"label(s) {lacks}")
        return index, "name"
    assert pred.category_key is not None and pred.category_names is not None
    per_name = np.array([index_of.get(name, -1) for name in pred.category_names], dtype=np.int64)
    index = per_name[pred.category_key] if n else np.zeros(0, dtype=np.int64)
    _unknown_error(index, [pred.category_names[k] for k in pred.category_key], pred.locate, f"label(s) {lacks}")
    return index, "name"


# ------------------------------------------------------------------------------------------ masks

_NO_MASKS = "segmentation task, but the predictions have no masks"
_NUMBER_TYPES = frozenset((int, float))  # polygon coordinates (not bool)


def _check_segm_present(segm: list, path: Path, locate: Locator) -> None:
    """Every prediction has a 'segmentation'; none at all is the clear "no masks" error."""
    missing = [i for i, v in enumerate(segm) if v is _MISSING or v is None]
    if not missing:
        return
    if len(missing) == len(segm):
        raise InputError(f"{_NO_MASKS} (no 'segmentation' in any prediction): give polygons or RLE masks "
                         "(e.g. pycocotools' compressed {\"size\": [h, w], \"counts\": \"...\"})", path,
                         locate(0)[1])
    raise InputError(f"missing 'segmentation'{_more(len(missing))}: a segmentation task needs a mask for "
                     "every prediction", *locate(missing[0]))


def _placeholder_boxes(boxes: list) -> tuple[list, np.ndarray]:
    """Missing boxes replaced by a placeholder (filled from the mask later), and where they were."""
    missing = np.array([b is _MISSING for b in boxes], dtype=bool)
    if missing.any():
        boxes = [[0, 0, 1, 1] if b is _MISSING else b for b in boxes]
    return boxes, missing


def _decode_masks(values: list, image: np.ndarray, widths: np.ndarray, heights: np.ndarray, names: list[str],
                  locate: Locator, file: Path, kind: str) -> tuple[MaskSet, np.ndarray, list[Notice]]:
    """RLE counts of every 'segmentation' value in the image of its row; (masks, areas, notices).

    One pass in Python sorts the values by kind and checks their structure; then each kind is converted
    in one vectorised batch: polygons (rle_from_polygons_many; only when that fails, row by row to name
    the bad one), uncompressed counts, compressed strings (MaskSet.from_strings)."""
    hs, ws = heights[image], widths[image]
    unsized = np.flatnonzero((hs <= 0) | (ws <= 0))
    if len(unsized):
        i = int(unsized[0])
        raise InputError(f"image {names[image[i]]!r} has no width/height: a segmentation task needs them to "
                         f"decode masks{_more(len(unsized))}", *locate(i))
    hl, wl = hs.tolist(), ws.tolist()
    strings, string_rows, lists, list_rows, polygons, polygon_rows = [], [], [], [], [], []
    for i, value in enumerate(values):
        if isinstance(value, dict):
            size, raw = value.get("size", _MISSING), value.get("counts", _MISSING)
            if not (type(size) is list and len(size) == 2 and type(size[0]) is int and type(size[1]) is int):
                raise InputError(f"an RLE mask needs 'size': [height, width], found {_short(size)}", *locate(i))
            if size[0] != hl[i] or size[1] != wl[i]:
                raise InputError(f"RLE size [{size[0]}, {size[1]}] (height, width) differs from the image's "
                                 f"size [{hl[i]}, {wl[i]}] ({names[image[i]]!r})", *locate(i))
            if isinstance(raw, str):
                strings.append(raw)
                string_rows.append(i)
                continue
            if not isinstance(raw, list) or any(type(v) is not int for v in raw):
                raise InputError("RLE 'counts' must be a compressed string or a list of integers, found "
                                 f"{_short(raw)}", *locate(i))
            try:
                lists.append(np.array(raw, dtype=np.int64).reshape(len(raw)))
            except (ValueError, OverflowError) as exc:
                raise InputError(f"bad RLE mask: {exc}", *locate(i)) from None
            list_rows.append(i)
        elif isinstance(value, list):
            if not value or any(not isinstance(p, list) for p in value):
                raise InputError("'segmentation' polygons must be a non-empty list of lists [[x0, y0, x1, y1, "
                                 f"...], ...], found {_short(value)}", *locate(i))
            if not _NUMBER_TYPES.issuperset(map(type, chain.from_iterable(value))):  # one C-level pass
                k, polygon = next((k, p) for k, p in enumerate(value, start=1)
                                  if any(type(v) not in _NUMBER_TYPES for v in p))
                raise InputError(f"polygon {k} must be numbers [x0, y0, x1, y1, ...], found "
                                 f"{_short(polygon)}", *locate(i))
            polygons.append(value)
            polygon_rows.append(i)
        else:
            raise InputError("'segmentation' must be polygons [[x0, y0, x1, y1, ...], ...] or an RLE "
                             f"{{\"size\": [h, w], \"counts\": ...}}, found {_short(value)}", *locate(i))
    parts, part_rows = [], []
    if polygons:
        rows = np.array(polygon_rows, dtype=np.int64)
        try:
            counts = rle_from_polygons_many(polygons, hs[rows], ws[rows])
        except (ValueError, OverflowError):
            for i, value in zip(polygon_rows, polygons):  # the first bad one, named
                try:
                    rle_from_polygons(value, hl[i], wl[i])
                except (ValueError, OverflowError) as exc:
                    raise InputError(f"bad polygon: {exc}", *locate(i)) from None
            raise
        parts.append(MaskSet.from_counts(counts, hs[rows], ws[rows]))
        part_rows.append(rows)
    if lists:
        rows = np.array(list_rows, dtype=np.int64)
        masks = MaskSet.from_counts(lists, hs[rows], ws[rows])
        bad = masks.check()
        if bad is not None:
            raise InputError(f"bad RLE mask: {bad[1]}", *locate(list_rows[bad[0]]))
        parts.append(masks)
        part_rows.append(rows)
    if strings:
        rows = np.array(string_rows, dtype=np.int64)
        try:
            parts.append(MaskSet.from_strings(strings, hs[rows], ws[rows]))
        except MaskError as exc:
            raise InputError(f"bad compressed RLE: {exc.problem}", *locate(string_rows[exc.index])) from None
        part_rows.append(rows)
    masks = MaskSet.concat(parts)
    if len(parts) > 1:
        masks = masks.take(np.argsort(np.concatenate(part_rows), kind="stable"))
    area = masks.areas().astype(np.float64)
    notices = []
    empty = np.flatnonzero(area == 0)
    _check_inside(values, empty, hl, wl, names, image, locate)
    if len(empty):
        shown = []
        for i in empty[:_EXAMPLES].tolist():
            where, record = locate(i)
            place = record if where == str(file) else f"{Path(where).name}, {record}"
            shown.append(f"{place} in {names[image[i]]!r}")
        more = f"; and {len(empty) - _EXAMPLES} more" if len(empty) > _EXAMPLES else ""
        notices.append(Notice("mask_empty", str(file), None,
                              f"{len(empty)} {kind} mask(s) without a pixel in their image (e.g. a polygon "
                              f"too thin to cover a pixel, or an empty RLE), kept as empty masks (they match nothing), e.g. "
                              f"{'; '.join(shown)}{more}"))
    return masks, area, notices


def _check_inside(values: list, empty: np.ndarray, hl: list, wl: list, names: list[str], image: np.ndarray,
                  locate: Locator) -> None:
    """A polygon mask lying entirely outside its image (all its points left of, right of, above or below
    the image) is surely a coordinate mistake: an error. Only empty masks can be such, so only they are
    looked at."""
    for i in empty.tolist():
        value = values[i]
        if not isinstance(value, list):
            continue
        xs = [v for polygon in value for v in polygon[0::2]]
        ys = [v for polygon in value for v in polygon[1::2]]
        if max(xs) < 0 or min(xs) > wl[i] or max(ys) < 0 or min(ys) > hl[i]:
            raise InputError(f"the polygon lies entirely outside its image {names[image[i]]!r} (width "
                             f"{wl[i]}, height {hl[i]}): x from {min(xs):g} to {max(xs):g}, y from {min(ys):g} "
                             f"to {max(ys):g}", *locate(i))


# ------------------------------------------------------------------------------------------ entry point

def _read_ground_truth(spec: TaskSpec) -> _Truth:
    from evalsite.formats import png_masks  # it builds on this module's helpers

    path = spec.ground_truth.path
    fmt = spec.ground_truth.format
    if fmt is None and png_masks.looks_like_png_masks(path):
        fmt = "png"
    fmt = _detect(fmt, path, GROUND_TRUTH_FORMATS, "ground truth")
    declared = _declared_labels(spec)
    if fmt == "png" and spec.type != "segmentation":
        raise InputError(f"PNG instance masks are segmentation ground truth, but this is a {spec.type} task: set "
                         "type: segmentation, or give boxes as COCO, VOC or YOLO", path)
    if spec.type == "segmentation" and fmt not in ("coco", "png"):
        raise InputError(f"segmentation task, but {fmt.upper()} ground truth has boxes only: give a COCO "
                         "instances .json with 'segmentation', or PNG instance masks (format: png)", path)
    reader = {"coco": _coco_ground_truth, "voc": _voc_ground_truth, "yolo": _yolo_ground_truth,
              "png": png_masks.png_ground_truth}[fmt]
    return reader(path, spec, declared)


def _read_predictions(spec: TaskSpec) -> _Predictions:
    path = spec.predictions.path
    fmt = _detect(spec.predictions.format, path, PREDICTION_FORMATS, "predictions")
    reader = {"coco": _coco_predictions, "jsonl": _jsonl_predictions, "yolo": _yolo_predictions}[fmt]
    return reader(path, spec)


def read_detection(spec: TaskSpec, *, clip: bool = True) -> DetectionData:
    """Ground truth and predictions of a detection (or segmentation: boxes and masks) task as column arrays.

    `clip=False` keeps boxes that reach outside their image as given (pycocotools' behaviour)."""
    truth = _read_ground_truth(spec)
    pred = _read_predictions(spec)
    notices = [*truth.notices, *pred.notices]

    # ground truth: clip, drop what lies wholly outside, group by image (stable: file order kept)
    gt_masks = dt_masks = dt_mask_area = None
    gt_area = truth.gt_area
    if truth.gt_segm is not None:
        gt_masks, gt_mask_area, more = _decode_masks(truth.gt_segm, truth.gt_image, truth.widths, truth.heights,
                                                     truth.images, truth.locate, truth.file, "ground-truth")
        notices += more
        if gt_area is not None and truth.gt_area_missing is not None:
            gt_area = np.where(truth.gt_area_missing, gt_mask_area, gt_area)
    gt_box, keep, more = _clip(truth.gt_box, truth.gt_image, truth.widths, truth.heights, truth.locate,
                               truth.images, truth.file, clip, "ground-truth")
    notices += more
    columns = [truth.gt_image, truth.gt_label, gt_box, truth.gt_crowd, truth.gt_difficult, truth.gt_id]
    if keep is not None:
        columns = [c[keep] for c in columns]
        gt_area = gt_area[keep] if gt_area is not None else None
        if gt_masks is not None:
            gt_masks = gt_masks.take(keep)
    gt_image, gt_label, gt_box, gt_crowd, gt_difficult, gt_id = columns
    if gt_area is None:
        gt_area = gt_box[:, 2] * gt_box[:, 3]
    order = np.argsort(gt_image, kind="stable")

    # predictions: record checks, then images, then labels, then boxes against their image
    if not pred.normalised:
        _check_finite_boxes(pred.box, pred.locate)
    _check_finite(pred.score, pred.locate, "score")
    dt_image, image_matching = _match_images(truth, pred)
    dt_label, label_matching = _match_labels(truth, pred)
    widths, heights = truth.widths.copy(), truth.heights.copy()
    dt_box = pred.box
    if spec.type == "segmentation":
        assert pred.segm is not None and pred.box_missing is not None
        dt_masks, dt_mask_area, more = _decode_masks(pred.segm, dt_image, widths, heights, truth.images,
                                                     pred.locate, pred.file, "predicted")
        notices += more
        missing = np.flatnonzero(pred.box_missing)
        if not pred.box_missing[:1].all():
            dt_mask_area = None  # the first has a box: pycocotools' loadRes takes them as box results (w*h)
        if len(missing):
            dt_box = dt_box.copy()
            dt_box[missing] = dt_masks.bboxes()[missing]
    if pred.normalised:
        unsized = np.unique(dt_image[(widths[dt_image] <= 0) | (heights[dt_image] <= 0)])
        for i in unsized.tolist():
            try:
                widths[i], heights[i] = image_size(spec.images / truth.images[i])
            except OSError as exc:
                raise InputError(f"cannot read the size of image {truth.images[i]!r} ({exc}); YOLO "
                                 "coordinates need it", pred.file) from None
        dt_box = _yolo_boxes(pred.box, widths[dt_image], heights[dt_image])
        _check_finite_boxes(dt_box, pred.locate)
    dt_box, keep, more = _clip(dt_box, dt_image, widths, heights, pred.locate, truth.images,
                               pred.file, clip, "predicted")
    notices += more
    dt_score = pred.score
    if keep is not None:
        dt_image, dt_label, dt_box, dt_score = dt_image[keep], dt_label[keep], dt_box[keep], dt_score[keep]
        if dt_masks is not None:
            dt_masks = dt_masks.take(keep)
            dt_mask_area = dt_mask_area[keep] if dt_mask_area is not None else None
    dt_order = np.argsort(dt_image, kind="stable")
    if gt_masks is not None:
        gt_masks = gt_masks.take(order)
    if dt_masks is not None:
        dt_masks = dt_masks.take(dt_order)
        dt_mask_area = dt_mask_area[dt_order] if dt_mask_area is not None else None

    return DetectionData(
        labels=list(truth.labels), label_ids=truth.label_ids.astype(np.int64), images=list(truth.images),
        image_ids=truth.image_ids.astype(np.int64), widths=widths.astype(np.int64),
        heights=heights.astype(np.int64),
        gt_image=gt_image[order], gt_label=gt_label[order], gt_box=np.ascontiguousarray(gt_box[order]),
        gt_area=gt_area[order].astype(np.float64), gt_crowd=gt_crowd[order].astype(bool),
        gt_difficult=gt_difficult[order].astype(bool), gt_id=gt_id[order].astype(np.int64),
        dt_image=dt_image[dt_order], dt_label=dt_label[dt_order], dt_box=np.ascontiguousarray(dt_box[dt_order]),
        dt_score=np.asarray(dt_score, dtype=np.float64)[dt_order],
        image_matching=image_matching, label_matching=label_matching, notices=notices,
        gt_masks=gt_masks, dt_masks=dt_masks, dt_mask_area=dt_mask_area)
