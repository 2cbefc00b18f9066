"""COCO ground truth: an instances ``.json`` (``images``, ``annotations``, ``categories``), or shards of it (a
folder or glob pattern of such files, evalsite.formats.shards). The rules: evalsite.formats.detection.

Each file is read into columns on its own (`_read_file`: its JSON parsed, checked and let go), shards each by
its own task; on a Dask cluster (``--scheduler``) a worker reads each shard, or the one file, so that the
driver never holds the parsed JSON (it reads a file itself only when no worker could), and the objects'
columns go to its disk as they come in (`ColumnsInOrder`). The files' columns are then joined (`_joined`),
where the ids are checked and found across shards (an object of one shard may belong to an image of another,
as in the files' concatenation), a block at a time for the columns on disk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalsite.core.cluster import current, run_tasks
from evalsite.core.collector import gc_paused
from evalsite.core.errors import InputError, Notice, listing
from evalsite.core.on_disk import ColumnsInOrder, DiskArray, on_disk, rows_where
from evalsite.core.parallel import parallel
from evalsite.core.values_on_disk import ValuesOnDisk, ValuesOnDiskWriter, values_pickled
from evalsite.formats.columns import (
    MISSING,
    and_more,
    box_column,
    check_finite,
    check_finite_boxes,
    check_records,
    field_values,
    first_duplicate,
    first_repeated_name,
    int_column,
    load_json,
    lookup,
    number_column,
    short_repr,
)
from evalsite.formats.parsed import ParsedGroundTruth
from evalsite.formats.records import normalise_image_path
from evalsite.formats.shards import is_pattern, shard_files


def coco_ground_truth(path: Path, images_root: Path, declared: list[str] | None,
                      segmentation: bool) -> ParsedGroundTruth:
    """The ground truth of a COCO instances file, or of its shards joined in sorted path order (every shard
    an instances object with the same ``categories``; ids unique across shards, as in one file)."""
    files = shard_files(path, "coco") if is_pattern(path) or path.is_dir() else None
    if files is None:
        cluster = current()
        if cluster is None:
            return _joined(path, [_read_file(path, images_root, declared, segmentation)], declared is not None)
        # One file, with a cluster: parsed by a worker too (the parse takes about 650 bytes per object at its
        # peak, the columns 60), and here only if that fails (a worker that cannot see the file, or that
        # dies on every try: then this is the one copy of it that can be read)
        read = functools.partial(_file_task, images_root=images_root, declared=declared, segmentation=segmentation)
        # (its large columns taken back a piece at a time onto this machine's disk: docs/cluster.md, "Memory")
        part = run_tasks(cluster, read, [path], make=lambda file: file, priority=0, back_in_pieces=True)[0]
        segm = None if part.segm is None else part.segm.kept_on_disk()
        return _joined(path, [part], declared is not None, _on_disk(part), segm)
    if not files:
        raise InputError("no COCO .json file in this folder", path)
    read = functools.partial(_read_file, images_root=images_root, declared=declared, segmentation=segmentation)
    if current() is None:
        return _joined(path, parallel(read, files, shard_size=1), declared is not None)
    # With a cluster the shards' object columns are written to this machine's disk as they come in, in shard
    # order: joined there, never whole in memory (about 60 bytes per object, 4.4 GB at 10 M images)
    columns, masks = ColumnsInOrder(_OBJECT_COLUMNS), ValuesOnDiskWriter()
    parts = parallel(functools.partial(values_pickled, read), files, shard_size=1,
                     taken=functools.partial(_kept_on_disk, columns, masks))
    segm = masks.finish(len(parts)) if masks.added else None
    return _joined(path, parts, declared is not None, columns.finish(len(parts)), segm)


def _kept_on_disk(columns: ColumnsInOrder, masks: ValuesOnDiskWriter, k: int, part: _FileColumns) -> _FileColumns:
    """Shard k's object columns into `columns`, its masks as read (segmentation) pickled into `masks`
    (decoded on the workers a shard at a time: `decode_masks`)."""
    if part.segm is not None:
        masks.add(k, part.segm)
        part.segm = None
    return columns.taken(k, part)


def _on_disk(part: _FileColumns) -> dict[str, np.ndarray | DiskArray]:
    """The object columns of one file on this machine's disk (those taken back in pieces are there already),
    the part's let go: checked and looked up there a block at a time."""
    columns = {}
    for name in _OBJECT_COLUMNS:
        columns[name] = on_disk(getattr(part, name))
        setattr(part, name, None)
    return columns


_OBJECT_COLUMNS = {"ann_ids": (np.int64, ()), "ann_image": (np.int64, ()), "ann_cat": (np.int64, ()),
                   "box": (np.float64, (4,)), "area": (np.float64, ()), "missing_area": (np.bool_, ()),
                   "crowd": (np.bool_, ())}


@dataclass
class _FileColumns:
    """One file's ground truth as columns, in file order, its objects' image and category ids not yet found."""

    file: Path
    categories: list  # as written (shards must agree on it)
    labels: list[str]  # in ascending category id order
    label_ids: np.ndarray  # ascending
    image_ids: np.ndarray
    images: list[str]
    widths: np.ndarray
    heights: np.ndarray
    ann_ids: np.ndarray
    ann_image: np.ndarray  # image ids
    ann_cat: np.ndarray  # category ids
    box: np.ndarray
    area: np.ndarray
    missing_area: np.ndarray
    crowd: np.ndarray
    segm: list | ValuesOnDisk | None  # (pickled in a task of a cluster: `_file_task`)
    n_objects: int  # (its object columns may be let go: `ColumnsInOrder`)


def _file_task(path: Path, spec: Path, value: None, *, images_root: Path, declared: list[str] | None,
               segmentation: bool) -> _FileColumns:
    """`_read_file` as a task of `run_tasks`, its masks as read pickled (`values_pickled`: one array of bytes,
    taken back a piece at a time, not a Python object per value)."""
    return values_pickled(functools.partial(_read_file, images_root=images_root, declared=declared,
                                            segmentation=segmentation), path)


def _read_file(path: Path, images_root: Path, declared: list[str] | None, segmentation: bool) -> _FileColumns:
    with gc_paused():  # see evalsite.formats.coco.coco_predictions
        return _file_columns(load_json(path), path, images_root, declared, segmentation)


def _file_columns(data: object, path: Path, images_root: Path, declared: list[str] | None,
                  segmentation: bool) -> _FileColumns:
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
    check_records(cats, path, "categories")
    if not cats:
        raise InputError("'categories' is empty", path, "key 'categories'")
    cat_ids = int_column([c.get("id", MISSING) for c in cats], lambda i: (file, f"categories entry {i + 1}"), "id")
    dup = first_duplicate(cat_ids)
    if dup:
        raise InputError(f"category id {cat_ids[dup[1]]} appears twice (categories entries {dup[0] + 1} and "
                         f"{dup[1] + 1})", path, f"categories entry {dup[1] + 1}")
    names = [c.get("name", MISSING) for c in cats]
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"a category needs a name (a non-empty string), found {short_repr(name)}", path,
                             f"category id {cat_ids[i]}")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(f"category name {name!r} is also category id {cat_ids[seen[name]]}", path,
                             f"category id {cat_ids[i]}")
        seen[name] = i
    order = np.argsort(cat_ids, kind="stable")
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

    # images, in file order (the join puts them in id order)
    imgs = data["images"]
    check_records(imgs, path, "images")
    ids = int_column([m.get("id", MISSING) for m in imgs], lambda i: (file, f"images entry {i + 1}"), "id")
    file_names = [normalise_image_path(m.get("file_name"), images_root, path, f"image id {ids[i]}")
                  for i, m in enumerate(imgs)]
    sizes = []
    for key in ("width", "height"):
        values = [m.get(key, 0) for m in imgs]
        if not set(map(type, values)) <= {int}:
            for i, v in enumerate(values):
                if isinstance(v, float) and v.is_integer():
                    values[i] = int(v)
        column = int_column(values, lambda i: (file, f"image id {ids[i]}"), key)
        if (column < 0).any():
            i = int(np.flatnonzero(column < 0)[0])
            raise InputError(f"'{key}' must not be negative, found {column[i]}", path, f"image id {ids[i]}")
        sizes.append(column)

    # annotations
    anns = data["annotations"]
    check_records(anns, path, "annotations")
    ann_ids = int_column([a.get("id", MISSING) for a in anns], lambda i: (file, f"annotations entry {i + 1}"),
                          "id")
    locate = lambda i: (file, f"annotation id {ann_ids[i]}")  # noqa: E731
    ann_image = int_column([a.get("image_id", MISSING) for a in anns], locate, "image_id")
    ann_cat = int_column([a.get("category_id", MISSING) for a in anns], locate, "category_id")
    box = box_column([a.get("bbox", MISSING) for a in anns], locate)
    check_finite_boxes(box, locate)
    area_values = [a.get("area", MISSING) for a in anns]
    missing_area = np.array([v is MISSING for v in area_values], dtype=bool)
    area = number_column([0 if v is MISSING else v for v in area_values], locate, "area")
    check_finite(area, locate, "'area'")
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
        raise InputError(f"'iscrowd' must be 0 or 1, found {short_repr(crowd_values[i])}", *locate(i))
    crowd = np.array(crowd_values, dtype=bool).reshape(len(anns))
    segm = None
    if segmentation:
        segm = field_values(anns, "segmentation")
        for i, value in enumerate(segm):
            if value is MISSING or value is None:
                raise InputError("missing 'segmentation': a segmentation task needs a mask (polygons or RLE) "
                                 "for every ground-truth object", *locate(i))
    return _FileColumns(file=path, categories=cats, labels=labels, label_ids=cat_ids[order], image_ids=ids,
                        images=file_names, widths=sizes[0], heights=sizes[1], ann_ids=ann_ids, ann_image=ann_image,
                        ann_cat=ann_cat, box=box, area=area, missing_area=missing_area, crowd=crowd, segm=segm,
                        n_objects=len(anns))


class _Rows:
    """Where row k of the files' concatenated rows is: its file and its index in that file."""

    def __init__(self, files: list[Path], counts: list[int]):
        self.files = files
        self.starts = np.cumsum([0, *counts])

    def __call__(self, k: int) -> tuple[Path, int]:
        f = int(np.searchsorted(self.starts, k, side="right")) - 1
        return self.files[f], k - int(self.starts[f])

    def check_unique(self, values: np.ndarray, what: str, entries: str, record: Callable[[int, int], str]) -> None:
        """An InputError at the earliest repeat in `values`, e.g. "image id 7 appears twice (images entries 1
        and 4)", naming the first one's file when it is another; `record(index in its file, value)` names the
        repeat's record."""
        dup = first_duplicate(values)
        if dup is None:
            return
        (first_file, i), (file, j) = self(dup[0]), self(dup[1])
        value = int(values[dup[1]])
        where = f"{entries} entries {i + 1} and {j + 1}" if first_file == file else \
            f"{entries} entry {i + 1} of {first_file} and {entries} entry {j + 1}"
        raise InputError(f"{what} {value} appears twice ({where})", file, record(j, value))


def _joined(path: Path, parts: list[_FileColumns], declared: bool,
            joined: dict[str, np.ndarray | DiskArray] | None = None,
            segm: ValuesOnDisk | None = None) -> ParsedGroundTruth:
    """The files' columns as one ground truth: images in id order, objects in the files' order. `joined`,
    `segm`: the object columns and the masks joined already (on disk, `ColumnsInOrder`, `ValuesOnDisk`), the
    parts' let go. Columns on disk are checked and looked up a block at a time."""
    column = functools.partial(_column, parts, joined or {})
    first = parts[0]
    for part in parts[1:]:
        if part.categories != first.categories:
            raise InputError(f"its categories differ from those of {first.file}: every shard needs the same",
                             part.file, "key 'categories'")
    files = [p.file for p in parts]

    image_rows = _Rows(files, [len(p.image_ids) for p in parts])
    ids = np.concatenate([p.image_ids for p in parts])
    image_rows.check_unique(ids, "image id", "images", lambda j, value: f"images entry {j + 1}")
    names = [name for p in parts for name in p.images]
    # pycocotools keys images by id only (file_name is never read), but a report keys its pictures by file:
    # two ids of one file would be one picture evaluated twice, each drawn with the other's boxes
    repeated = first_repeated_name(names)
    if repeated is not None:
        j, i = repeated
        raise InputError(f"file_name {names[i]!r} is also image id {ids[j]}: two images cannot be one file "
                         "(pycocotools would evaluate the same picture twice); give each image its own "
                         "file or remove the duplicate entry", image_rows(i)[0], f"image id {ids[i]}")
    order = np.argsort(ids, kind="stable")
    image_ids = ids[order]
    images = [names[i] for i in order]
    del names
    widths = np.concatenate([p.widths for p in parts])[order]
    heights = np.concatenate([p.heights for p in parts])[order]

    ann_ids = column("ann_ids")
    ann_rows = _Rows(files, [p.n_objects for p in parts])
    ann_rows.check_unique(ann_ids, "annotation id", "annotations", lambda j, value: f"annotation id {value}")
    locate = lambda i: (str(ann_rows(i)[0]), f"annotation id {ann_ids[i]}")  # noqa: E731
    ann_image = column("ann_image")
    gt_image = lookup(image_ids, ann_image)
    bad = rows_where(gt_image, lambda block: block < 0)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"image id {ann_image[i]} is not in 'images'{and_more(len(bad))}", *locate(i))
    del ann_image
    ann_cat = column("ann_cat")
    gt_label = lookup(first.label_ids, ann_cat)
    bad = rows_where(gt_label, lambda block: block < 0)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"category id {ann_cat[i]} is not in 'categories'{and_more(len(bad))}", *locate(i))
    del ann_cat
    if segm is None and first.segm is not None:
        segm = [value for p in parts for value in p.segm]
    notices = []
    unknown_size = np.flatnonzero((widths == 0) | (heights == 0))
    if len(unknown_size):
        notices.append(Notice("image_size_unknown", str(path), None,
                              f"{len(unknown_size)} image(s) without width/height: their boxes are not "
                              f"checked against the image, e.g. {listing([images[i] for i in unknown_size])}"))
    return ParsedGroundTruth(
        file=path, fmt="coco", has_ids=True, image_ids=image_ids, images=images, widths=widths, heights=heights,
        labels=first.labels, label_ids=first.label_ids, gt_image=gt_image, gt_label=gt_label,
        gt_box=column("box"), gt_area=column("area"), gt_crowd=column("crowd"),
        gt_difficult=np.zeros(len(ann_ids), dtype=bool), gt_id=ann_ids, locate=locate, declared=declared,
        notices=notices, gt_segm=segm, gt_area_missing=column("missing_area"))


def _column(parts: list[_FileColumns], joined: dict, name: str) -> np.ndarray | DiskArray:
    """The files' column `name` joined in order (`joined`'s when there), each file's let go (set to None) as it
    is taken: one file's as it is, not copied (with a cluster, the one file's columns as a worker sent them:
    about 60 bytes per object, 88 MB at 200,000 COCO-like images, were held twice)."""
    if name in joined:
        return joined.pop(name)
    columns = [getattr(p, name) for p in parts]
    for p in parts:
        setattr(p, name, None)
    return columns[0] if len(columns) == 1 else np.concatenate(columns)
