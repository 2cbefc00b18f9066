"""Inputs written in shards, as distributed inference writes them (one file per process or per chunk):
``predictions:`` a folder of COCO results ``.json`` or JSONL files, or a glob pattern (``preds/part-*.jsonl``,
``**`` for subfolders); ``ground_truth:`` likewise COCO instances files (evalsite.formats.coco_ground_truth).
docs/inputs.md
("Sharded inputs") states the rules:

* the shards are read in sorted path order, and the predictions are those of their concatenation in that
  order (score ties break by it, as in one file): the same report as one file holding them in that order;
* each shard is read by its own task (on a Dask cluster's workers with ``--scheduler``: a worker reads only
  its shard); errors name the shard file and the record in it;
* an image may have predictions in one JSONL shard only (a second line for it is an error naming both
  shards, as within one file); COCO results may spread an image over shards (each entry is one detection);
* a pattern that matches no file is an error; an empty folder is no predictions (a notice), as an empty file;
* ground-truth shards (COCO instances files) are read each by its own task too, and their columns joined:
  the same categories in every shard (else an error naming the shard), images and annotations concatenated
  (ids must stay unique across shards, as in one file; an object may belong to another shard's image).
"""

from __future__ import annotations

import functools
import glob
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evalsite.core.cluster import current
from evalsite.core.errors import InputError
from evalsite.core.joining import join_releasing
from evalsite.core.on_disk import ColumnsInOrder, DiskArray, on_disk
from evalsite.core.parallel import parallel
from evalsite.core.values_on_disk import ValuesOnDisk, ValuesOnDiskWriter, values_pickled
from evalsite.formats.parsed import ParsedPredictions

PATTERN_CHARACTERS = "*?["
SHARD_SUFFIXES = {"jsonl": (".jsonl", ".ndjson"), "coco": (".json",)}


def is_pattern(path: Path) -> bool:
    """Whether `path` is a glob pattern (holds * ? or [)."""
    return any(c in str(path) for c in PATTERN_CHARACTERS)


def folder_format(path: Path) -> str | None:
    """The format of a folder of prediction shards ("jsonl" or "coco"), None when it holds no such file."""
    suffixes = {p.suffix.lower() for p in path.iterdir() if p.is_file()}
    for fmt, known in SHARD_SUFFIXES.items():
        if suffixes & set(known) and not suffixes & {".txt"}:
            return fmt
    return None


def shard_files(path: Path, fmt: str) -> list[Path] | None:
    """The shard files of `path` in sorted order: a pattern's matches (none: an error), a folder's files of
    `fmt`; None for one plain file (not sharded)."""
    if is_pattern(path):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            raise InputError("no file matches this pattern", path)
        return files
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SHARD_SUFFIXES[fmt])
    return None


def read_shards(path: Path, files: list[Path], read: Callable[[Path], ParsedPredictions],
                progress: Callable[[int], None] | None = None) -> ParsedPredictions:
    """`read` of every shard (one task each: in parallel, or on a cluster's workers), joined into the
    predictions of their concatenation (`join`). With a Dask cluster each shard's long columns are written to
    this machine's disk as the shards come in (`ColumnsInOrder`), so they are never all in memory (56 bytes per
    detection: 0.9 GB at 200,000 COCO-like images), and the joined ones stay there (`DiskArray`)."""
    if current() is None:
        return join(path, parallel(read, files, progress, shard_size=1))
    boxes, masks = ColumnsInOrder(_BOXES), ValuesOnDiskWriter()
    parts = parallel(functools.partial(values_pickled, read), files, progress, shard_size=1,
                     taken=functools.partial(_kept_on_disk, boxes, masks))
    segm = masks.finish(len(parts)) if masks.added else None
    return join(path, parts, boxes.finish(len(parts))["box"], segm)


def _kept_on_disk(boxes: ColumnsInOrder, masks: ValuesOnDiskWriter, k: int, part: ParsedPredictions
                  ) -> ParsedPredictions:
    """Shard k's long columns on this machine's disk: its boxes into `boxes` (in shard order: one file), its
    scores and ids each in a file of its own (joined by `join`, in np.concatenate's dtype), its masks as read
    (segmentation) pickled into `masks` (decoded on the workers a shard at a time: `decode_masks`)."""
    for name in _KEPT_ON_DISK:
        setattr(part, name, on_disk(getattr(part, name)))
    if part.segm is not None:
        masks.add(k, part.segm)
        part.segm = None
    return boxes.taken(k, part)


_BOXES = {"box": (np.float64, (4,))}
_KEPT_ON_DISK = ("score", "image_id", "category_id")  # (besides the boxes)


def _column(parts: list[ParsedPredictions], name: str, empty: np.ndarray) -> np.ndarray | None:
    values = [getattr(p, name) for p in parts]
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        raise InputError(f"the shards differ in form: some give '{name}', some do not (mixed formats?)")
    del values
    return join_releasing(parts, name) if parts else empty


def _merged(parts: list[ParsedPredictions], name: str, what: str) -> dict | None:
    """Per-shard dicts (image id -> file name, category id -> name) in one; a key that two shards map to
    different values is an error naming the second shard."""
    if all(getattr(p, name) is None for p in parts):
        return None
    out: dict = {}
    for part in parts:
        for key, value in (getattr(part, name) or {}).items():
            if out.setdefault(key, value) != value:
                raise InputError(f"{what} {key} is {value!r} here and {out[key]!r} in an earlier shard", part.file)
    return out


def join(path: Path, parts: list[ParsedPredictions], boxes: np.ndarray | DiskArray | None = None,
         segm: ValuesOnDisk | None = None) -> ParsedPredictions:
    """The predictions of the shards `parts` (in order) as one reader would have read their concatenation:
    columns concatenated, image and category keys renumbered, each record still located in its shard.
    `boxes`, `segm`: their boxes and masks joined already (`read_shards`), when the parts' are let go."""
    if not parts:
        return ParsedPredictions(file=path, fmt="jsonl", box=np.zeros((0, 4)), score=np.zeros(0),
                                 locate=lambda i: (str(path), None))
    starts = np.cumsum([0] + [len(p.score) for p in parts])
    locates = [p.locate for p in parts]  # (not the parts: their columns are freed once joined)

    def locate(i: int) -> tuple[str, str | None]:
        k = int(np.searchsorted(starts, i, side="right")) - 1
        return locates[k](i - int(starts[k]))

    keys = np.zeros(0, dtype=np.int64)
    joined = ParsedPredictions(
        file=path, fmt=parts[0].fmt, box=join_releasing(parts, "box") if boxes is None else boxes,
        score=join_releasing(parts, "score"), locate=locate,
        image_id=_column(parts, "image_id", keys), category_id=_column(parts, "category_id", keys),
        id_names=_merged(parts, "id_names", "image id"),
        category_id_names=_merged(parts, "category_id_names", "category id"),
        notices=[n for p in parts for n in p.notices], box_missing=_column(parts, "box_missing", np.zeros(0, bool)),
        segm=segm if segm is not None or parts[0].segm is None else [s for p in parts for s in (p.segm or [])])
    if parts[0].image_names is not None:  # JSONL: images and labels by name, renumbered over the shards
        names: list[str] = []
        records: list[str] = []
        seen: dict[str, str] = {}
        image_keys = []
        for part in parts:
            assert part.image_names is not None and part.image_key is not None and part.image_records is not None
            for name, record in zip(part.image_names, part.image_records):
                where = f"{part.file}, {record}"
                if name in seen:
                    raise InputError(f"a second line for image {name!r} (first in {seen[name]})", part.file, record)
                seen[name] = where
            image_keys.append(part.image_key + len(names))
            names += part.image_names
            records += [f"{part.file.name}, {r}" for r in part.image_records]
        label_code: dict[str, int] = {}
        label_keys = []
        for part in parts:
            assert part.category_names is not None and part.category_key is not None
            remap = np.array([label_code.setdefault(n, len(label_code)) for n in part.category_names], np.int64)
            label_keys.append(remap[part.category_key] if len(part.category_key) else part.category_key)
        joined.image_names, joined.image_records = names, records
        joined.image_key = np.concatenate(image_keys)
        joined.category_names, joined.category_key = list(label_code), np.concatenate(label_keys)
    return joined
