"""Detection (and, for the boxes, segmentation) inputs (docs/inputs.md, docs/reliability.md) -> :class:`DetectionData`.

This module dispatches to one reader per format (evalsite.formats.coco, voc, yolo, jsonl, png_masks), then
matches the predictions to the ground truth (evalsite.formats.matching), decodes masks
(evalsite.formats.mask_decoding), clips boxes (evalsite.formats.columns) and assembles the result. The
decisions below bind all of them. `read_detection` takes plain arguments (paths, formats, images root,
labels), not a manifest, so that any caller can use it.

Formats (the manifest's ``format:``; left out, it is told from the path):

* ground truth: ``coco`` (an instances ``.json``), ``voc`` (a Pascal VOC ``.xml`` or a folder of them),
  ``yolo`` (a folder of ``.txt`` files ``class cx cy w h``, normalised, plus ``classes.txt``); for
  segmentation also ``png`` (a folder of PNG instance masks plus ``instances.csv``: evalsite.formats.png_masks);
* predictions: ``coco`` (a results ``.json`` list ``{image_id, category_id, bbox, score}``, or a COCO
  dataset object whose ``annotations`` carry a ``score``), ``yolo`` (a folder of ``.txt`` files
  ``class cx cy w h confidence``), ``jsonl`` (one line per image,
  ``{"image": "a/b.jpg", "predictions": [{"label": "cat", "score": 0.93, "bbox": [x, y, w, h]}]}``),
  ``voc-devkit`` (a folder of Pascal VOC devkit results ``comp4_det_test_<class>.txt``: evalsite.formats.voc_devkit).
* Ultralytics (evalsite.formats.ultralytics, ultralytics_results): ground truth ``ultralytics`` (a
  ``data.yaml``: told by its .yaml/.yml suffix), predictions ``ultralytics`` (``predictions.json`` of
  ``yolo val save_json=True``: told by string image ids, or by a data.yaml ground truth; a folder given as
  ``ultralytics`` is read as YOLO text files, ``save_txt save_conf``). YOLO-seg polygon rows are read by
  evalsite.formats.yolo (masks for segmentation, their boxes for detection ground truth).
* Category ids matched by id (COCO results, YOLO text files) that fit the ground truth far better shifted
  by a constant are an error (evalsite.formats.misreads.check_category_shift).

Decisions (binding for the readers; docs/inputs.md repeats the user-facing ones):

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
  file for one stray box. ``read_detection(..., clip=False)`` keeps every box as given
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
  as pycocotools', see evalsite.core.masks): every COCO ground-truth annotation and every prediction
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
  every detection's is its mask area (``dt_mask_area``); with one (Detectron2 writes both), the box area.
  Compressed strings are decoded in batches with numpy (all strings of a batch at once), not per character in Python.
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

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evalsite.core.detection_data import DetectionData
from evalsite.core.errors import InputError, listing
from evalsite.core.files import inside, sniff_format
from evalsite.core.on_disk import DiskArray, DiskArrayWriter, blocks_of, is_ascending, on_disk
from evalsite.core.parallel import ForkedCall, fork_call
from evalsite.core.values_on_disk import ValuesOnDisk
from evalsite.formats.coco import ResultsInParts, coco_predictions, start_results_in_parts
from evalsite.formats.coco_ground_truth import coco_ground_truth
from evalsite.formats.columns import check_finite, check_finite_boxes, clip_boxes
from evalsite.formats.images import image_size
from evalsite.formats.jsonl import jsonl_predictions
from evalsite.formats.mask_decoding import SPLIT_MASKS, decode_masks
from evalsite.formats.matching import coverage_notices, match_images, match_labels, misread_checks
from evalsite.formats.parsed import ParsedGroundTruth, ParsedPredictions
from evalsite.formats.png_masks import looks_like_png_masks, png_ground_truth
from evalsite.formats.records import read_labels_file
from evalsite.formats.shards import folder_format, is_pattern, read_shards, shard_files
from evalsite.formats.split import split_keep
from evalsite.formats.ultralytics import ultralytics_ground_truth
from evalsite.formats.ultralytics_results import (
    looks_like_ultralytics_results,
    shift_hint,
    ultralytics_predictions,
)
from evalsite.formats.voc import voc_ground_truth
from evalsite.formats.voc_devkit import FORMAT as VOC_DEVKIT
from evalsite.formats.voc_devkit import looks_like_results, voc_devkit_predictions
from evalsite.formats.yolo import pixel_polygons, yolo_boxes, yolo_ground_truth, yolo_predictions

# png: instance masks, segmentation only (png_masks.py); ultralytics: a data.yaml (ultralytics.py)
GROUND_TRUTH_FORMATS = ("coco", "voc", "yolo", "png", "ultralytics")
# ultralytics: predictions.json or save_txt labels; voc-devkit: comp4_det_<set>_<class>.txt (voc_devkit.py)
PREDICTION_FORMATS = ("coco", "yolo", "jsonl", "ultralytics", VOC_DEVKIT)
_SUFFIXES = {".json": "coco", ".xml": "voc", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_GT_SUFFIXES = {**_SUFFIXES, ".yaml": "ultralytics", ".yml": "ultralytics"}
MAX_SCORE = 1e15  # a detection score beyond it (either sign) is an error: no model's score, logit or not


def _ground_truth_folder(path: Path) -> str:
    """A ground-truth folder holding .xml files is VOC; one of COCO .json shards (and no .txt) COCO; else YOLO."""
    if any(path.rglob("*.xml")):
        return "voc"
    return "coco" if folder_format(path) == "coco" else "yolo"


def _declared_labels(labels: list[str] | None, labels_file: Path | None, manifest: Path | None) -> list[str] | None:
    declared = labels or (read_labels_file(labels_file) if labels_file else None)
    if declared is not None and len(set(declared)) != len(declared):
        dupes = sorted({n for n in declared if declared.count(n) > 1})
        raise InputError(f"the labels list repeats {listing(dupes)}", labels_file or manifest)
    return declared


def _read_ground_truth(path: Path, fmt: str | None, images_root: Path, labels: list[str] | None,
                       labels_file: Path | None, manifest: Path | None, task_type: str,
                       split: str | None = None) -> tuple[ParsedGroundTruth, str | None]:
    """The ground truth, and the category mapping Ultralytics' predictions.json has for it (a data.yaml)."""
    if fmt is None and looks_like_png_masks(path):
        fmt = "png"
    fmt = sniff_format(fmt, path, GROUND_TRUTH_FORMATS, what="ground truth", task="detection",
                       by_suffix=_GT_SUFFIXES, folder=_ground_truth_folder)
    if split is not None and fmt != "ultralytics":
        raise InputError(f"'split' of the ground truth names a split of an Ultralytics data.yaml, but this is "
                         f"{fmt.upper()} ground truth", path)
    declared = _declared_labels(labels, labels_file, manifest)
    segmentation = task_type == "segmentation"
    if fmt == "png" and not segmentation:
        raise InputError(f"PNG instance masks are segmentation ground truth, but this is a {task_type} task: set "
                         "type: segmentation, or give boxes as COCO, VOC or YOLO", path)
    if segmentation and fmt not in ("coco", "png", "yolo", "ultralytics"):
        raise InputError(f"segmentation task, but {fmt.upper()} ground truth has boxes only: give a COCO "
                         "instances .json with 'segmentation', YOLO-seg polygons or PNG instance masks "
                         "(format: png)", path)
    if fmt == "coco":
        return coco_ground_truth(path, images_root, declared, segmentation), None
    if fmt == "voc":
        return voc_ground_truth(path, images_root, declared), None
    if fmt == "yolo":
        return yolo_ground_truth(path, images_root, declared, labels_file or manifest, segmentation), None
    if fmt == "ultralytics":
        truth, dataset = ultralytics_ground_truth(path, images_root, declared, split, segmentation)
        return truth, "coco91" if dataset.is_coco else "index+1"
    return png_ground_truth(path, images_root, declared), None


def _predictions_folder(path: Path) -> str:
    """A predictions folder holding VOC devkit results (comp4_det_test_car.txt) is voc-devkit; one of JSONL or
    COCO .json shards (and no .txt) jsonl or coco (evalsite.formats.shards); else YOLO."""
    if looks_like_results(path):
        return VOC_DEVKIT
    return folder_format(path) or "yolo"


# The share of a results list that `read_detection`'s `meanwhile` takes the place of in this process's part
# (as bytes of the list: the cut moves by half of it). scipy.sparse's import, the work it is given, takes
# about 0.1 s on the development machine; with 13 MB both parts of the 5,000-image benchmark's list end
# within 0.01 s of each other there (5 MB: this process's 0.06-0.1 s after the child's).
_MEANWHILE_BYTES = 13_000_000


def _start_results(path: Path, fmt: str | None, ground_truth: Path, segmentation: bool,
                   meanwhile: bool) -> ResultsInParts | None:
    """A large COCO results file's second part parsed by a forked child while this process reads the ground
    truth (and does the `meanwhile` work: `read_detection`) and then the first part
    (`evalsite.formats.coco.start_results_in_parts`); boxes only (masks are decoded in halves later)."""
    if segmentation or fmt not in (None, "coco") or path.suffix.lower() != ".json" or is_pattern(path):
        return None
    try:
        if not path.is_file():
            return None
        lead = ground_truth.stat().st_size if ground_truth.is_file() else 0
    except OSError:
        return None
    return start_results_in_parts(path, lead, _MEANWHILE_BYTES if meanwhile else 0)


def _read_predictions(path: Path, fmt: str | None, images_root: Path, segmentation: bool,
                      truth: ParsedGroundTruth, expected: str | None, image_set: str | None,
                      early: ResultsInParts | None = None) -> ParsedPredictions:
    """`early`: the results file's second part, when it is being parsed already (`_start_results`)."""
    if fmt is None and path.suffix.lower() == ".json" and not is_pattern(path) and (truth.fmt == "ultralytics"
                                                            or looks_like_ultralytics_results(path)):
        fmt = "ultralytics"
    fmt = sniff_format(fmt, path, PREDICTION_FORMATS, what="predictions", task="detection", by_suffix=_SUFFIXES,
                       folder=_predictions_folder)
    if fmt == VOC_DEVKIT:
        return voc_devkit_predictions(path, truth.images, truth.labels, segmentation, image_set)
    if fmt == "ultralytics":
        if path.is_dir():  # save_txt labels
            return yolo_predictions(path, segmentation)
        return ultralytics_predictions(path, truth, expected, segmentation)
    if fmt in ("coco", "jsonl"):
        read = coco_predictions if fmt == "coco" else jsonl_predictions
        files = shard_files(path, fmt)
        if files is None:
            if fmt == "coco":
                return coco_predictions(path, images_root, segmentation, early)
            return read(path, images_root, segmentation)
        return read_shards(path, files, functools.partial(read, images_root=images_root, segmentation=segmentation))
    if is_pattern(path):
        raise InputError(f"a pattern of prediction shards is read for the coco and jsonl formats, not {fmt}", path)
    return yolo_predictions(path, segmentation)


def _ground_truth_masks(truth: ParsedGroundTruth, halves: bool = True) -> tuple:
    """(masks or None, areas (the masks' where the file has none), notices) of the ground truth; `halves`:
    see `decode_masks`."""
    if truth.gt_segm is None:
        return None, truth.gt_area, []
    masks, mask_area, notices = decode_masks(truth.gt_segm, truth.gt_image, truth.widths, truth.heights,
                                             truth.images, truth.locate, truth.file, "ground-truth", halves=halves)
    area = truth.gt_area
    if area is not None and truth.gt_area_missing is not None:
        area = _where(truth.gt_area_missing, mask_area, area)
    return masks, area, notices


def _where(condition, yes, no) -> np.ndarray | DiskArray:
    """``np.where(condition, yes, no)`` of columns; kept on disk, a block at a time when `no` is there."""
    if not isinstance(no, DiskArray):
        return np.where(condition, yes, no)
    out = DiskArrayWriter(np.result_type(yes.dtype, no.dtype))
    for start, block in blocks_of(no):
        end = start + len(block)
        out.append(np.where(condition[start:end], yes[start:end], block))
    return out.finish()


def _start_ground_truth_masks(truth: ParsedGroundTruth) -> ForkedCall | None:
    """Many ground-truth masks decoded by a forked child while this process reads the predictions (both take
    about a second at 5,000 COCO images), whole there: this process has the other core. None for few masks
    or when this process may not fork (the caller decodes them itself). Started before the predictions are
    read, when this process is small: a fork copies its page tables, and its pages as either side writes
    them."""
    if truth.gt_segm is None or len(truth.gt_segm) < SPLIT_MASKS or isinstance(truth.gt_segm, ValuesOnDisk):
        return None  # (values kept on disk, with a cluster: decoded by its workers)
    return fork_call(lambda: _ground_truth_masks(truth, halves=False))


def _taken(started: ForkedCall | None, here: Callable[[], object]):
    """The value of a forked call, or `here()` when there is none or its child died (ChildProcessError); its
    own errors (a bad mask) are raised as they are."""
    if started is None:
        return here()
    try:
        return started()
    except ChildProcessError:
        return here()


def _by_image(image: np.ndarray) -> np.ndarray | slice:
    """The rows' order by image, file order kept within an image (a stable sort): all of them as they are
    (`slice(None)`, whose indexing copies nothing) when they are in that order already, as inference writes
    its results image by image; else the order. (The detections' columns are 56 bytes each: a copy of them
    all was the peak of reading, 0.26 GB at 50,000 COCO-like images.)"""
    if is_ascending(image):  # (a block at a time: on disk with a cluster)
        return slice(None)
    return np.argsort(np.asarray(image), kind="stable")


def _taken_rows(column: np.ndarray | DiskArray, order: np.ndarray | slice, dtype=None) -> np.ndarray | DiskArray:
    """`column[order]` (`_by_image`'s order, or the rows kept), contiguous, in `dtype` when given; a column kept
    on disk (with a Dask cluster: `evalsite.formats.shards`, or a ground-truth file's columns taken back from
    its worker) stays there, as it is when `order` is a slice and it has that dtype."""
    if isinstance(column, DiskArray):
        taken = column if isinstance(order, slice) else column.taken(order)
        if dtype is None or taken.dtype == np.dtype(dtype):
            return taken
        return on_disk(np.asarray(taken).astype(dtype))  # (a narrower column, e.g. flags: read whole once)
    taken = np.ascontiguousarray(column[order])
    return taken if dtype is None else taken.astype(dtype, copy=False)


def read_detection(*, ground_truth: Path, predictions: Path, images_root: Path, gt_format: str | None = None,
                   pred_format: str | None = None, labels: list[str] | None = None, labels_file: Path | None = None,
                   manifest: Path | None = None, task_type: str = "detection", clip: bool = True,
                   image_set: str | None = None, gt_split: str | None = None,
                   split: Path | None = None, meanwhile: Callable[[], object] | None = None) -> DetectionData:
    """Ground truth and predictions of a detection (or segmentation: boxes and masks) task as column arrays.

    ground_truth, predictions: the input files or folders; gt_format, pred_format: their formats (None: told
    from the path); images_root: the folder the image paths are relative to; labels (a list) or labels_file
    (one name a line): the declared labels, if any; manifest: the file that declares them inline, named in
    errors about them; task_type: "detection" or "segmentation" (then masks are read too); gt_split: the
    split of an Ultralytics data.yaml (default val).
    `clip=False` keeps boxes that reach outside their image as given (pycocotools' behaviour); `image_set`:
    the VOC image set evaluated (picks its devkit results files, evalsite.formats.voc_devkit); `meanwhile`:
    work for this process while a forked child parses a large COCO results file's second part (the caller's
    imports for what follows: evalsite.report.kinds `prepare_report`), called only then."""
    segmentation = task_type == "segmentation"
    early = _start_results(predictions, pred_format, ground_truth, segmentation, meanwhile is not None)
    gt_masks_later = None
    try:
        if early is not None and meanwhile is not None:
            meanwhile()
        truth, expected = _read_ground_truth(ground_truth, gt_format, images_root, labels, labels_file, manifest,
                                             task_type, gt_split)
        gt_masks_later = _start_ground_truth_masks(truth)
        pred = _read_predictions(predictions, pred_format, images_root, segmentation, truth, expected, image_set,
                                 early)
        gt_masks, gt_area, gt_mask_notices = _taken(gt_masks_later, lambda: _ground_truth_masks(truth))
        gt_masks_later = None
    finally:
        if early is not None:
            early.cancel()  # (when it was not taken: another format, or an error)
        if gt_masks_later is not None:
            gt_masks_later.cancel()  # (the predictions could not be read)
    notices = [*truth.notices, *pred.notices, *gt_mask_notices]

    # ground truth: clip, drop what lies wholly outside, group by image (stable: file order kept)
    dt_masks = dt_mask_area = None
    gt_box, keep, more = clip_boxes(truth.gt_box, truth.gt_image, truth.widths, truth.heights, truth.locate,
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
    order = _by_image(gt_image)

    # predictions: record checks, then images, then labels, then boxes against their image
    if not pred.normalised:
        check_finite_boxes(pred.box, pred.locate)
    check_finite(pred.score, pred.locate, "score", MAX_SCORE)  # (1e308: medians and chart ranges overflow to inf)
    dt_image, image_matching = match_images(truth, pred)
    misread_checks(truth, pred, dt_image)
    try:
        dt_label, label_matching = match_labels(truth, pred)
    except InputError as exc:
        raise shift_hint(exc, truth, pred) from None
    widths, heights = truth.widths.copy(), truth.heights.copy()
    dt_box = pred.box
    if pred.normalised:
        unsized = np.unique(dt_image[(widths[dt_image] <= 0) | (heights[dt_image] <= 0)])
        for i in unsized.tolist():
            try:
                widths[i], heights[i] = image_size(inside(images_root, truth.images[i]))
            except OSError as exc:
                raise InputError(f"cannot read the size of image {truth.images[i]!r} ({exc}); YOLO "
                                 "coordinates need it", pred.file) from None
        dt_box = yolo_boxes(pred.box, widths[dt_image], heights[dt_image])
        check_finite_boxes(dt_box, pred.locate)
    if segmentation:
        assert pred.segm is not None and pred.box_missing is not None
        segm = pixel_polygons(pred.segm, widths[dt_image], heights[dt_image]) if pred.normalised else pred.segm
        dt_masks, dt_mask_area, more = decode_masks(segm, dt_image, widths, heights, truth.images,
                                                     pred.locate, pred.file, "predicted",
                                                     boxes=bool(pred.box_missing.any()))
        notices += more
        missing = np.flatnonzero(pred.box_missing)
        if not pred.box_missing[:1].all():
            dt_mask_area = None  # the first has a box: pycocotools' loadRes takes them as box results (w*h)
        if len(missing) and isinstance(dt_box, DiskArray):
            dt_box = dt_box.with_rows(missing, np.asarray(dt_masks.bboxes()[missing]))
        elif len(missing):
            dt_box = dt_box.copy()
            dt_box[missing] = dt_masks.bboxes()[missing]
    dt_box, keep, more = clip_boxes(dt_box, dt_image, widths, heights, pred.locate, truth.images,
                               pred.file, clip, "predicted")
    notices += more
    # (scores kept on disk, with a cluster, stay there: float64 as the shards' columns join)
    dt_score = pred.score if isinstance(pred.score, DiskArray) else np.asarray(pred.score, dtype=np.float64)
    if keep is not None:
        dt_image, dt_label, dt_score = (_taken_rows(column, keep) for column in (dt_image, dt_label, dt_score))
        dt_box = _taken_rows(dt_box, keep)
        if dt_masks is not None:
            dt_masks = dt_masks.take(keep)
            dt_mask_area = _taken_rows(dt_mask_area, keep) if dt_mask_area is not None else None
    covered = truth.images  # a split (evalsite.formats.split, applied by the caller): only its images need a record
    if split is not None:
        real_ids = truth.image_ids if truth.fmt == "coco" else None
        covered = [im for im, k in zip(truth.images, split_keep(split, truth.images, real_ids)) if k]
    notices += coverage_notices(covered, pred)
    dt_order = _by_image(dt_image)
    if gt_masks is not None and not isinstance(order, slice):
        gt_masks = gt_masks.take(order)
    if dt_masks is not None and not isinstance(dt_order, slice):
        dt_masks = dt_masks.take(dt_order)
        dt_mask_area = _taken_rows(dt_mask_area, dt_order) if dt_mask_area is not None else None

    return DetectionData(
        labels=list(truth.labels), label_ids=truth.label_ids.astype(np.int64), images=list(truth.images),
        image_ids=truth.image_ids.astype(np.int64), widths=widths.astype(np.int64),
        heights=heights.astype(np.int64),
        gt_image=_taken_rows(gt_image, order), gt_label=_taken_rows(gt_label, order),
        gt_box=_taken_rows(gt_box, order), gt_area=_taken_rows(gt_area, order, np.float64),
        gt_crowd=_taken_rows(gt_crowd, order, bool), gt_difficult=_taken_rows(gt_difficult, order, bool),
        gt_id=_taken_rows(gt_id, order, np.int64),
        dt_image=_taken_rows(dt_image, dt_order), dt_label=_taken_rows(dt_label, dt_order),
        dt_box=_taken_rows(dt_box, dt_order),
        dt_score=_taken_rows(dt_score, dt_order),
        image_matching=image_matching, label_matching=label_matching, notices=notices,
        gt_masks=gt_masks, dt_masks=dt_masks, dt_mask_area=dt_mask_area, gt_format=truth.fmt,
        pred_format=pred.fmt, category_mapping=pred.category_mapping)
