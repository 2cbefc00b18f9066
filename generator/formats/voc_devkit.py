"""The Pascal VOC devkit's own files: the dataset folder (``VOC2007/`` with ``Annotations/``,
``ImageSets/Main/<set>.txt``, ``JPEGImages/``) and the detection results it evaluates
(``results/VOC2007/Main/comp4_det_test_<class>.txt``), as the devkit and the tools that feed it write them.

Results (format ``voc-devkit``): one file per class, ``<comp>[_<salt>]_det_<set>_<class>.txt``, as written
by the devkit's example code (``%s %f %d %d %d %d``), by py-faster-rcnn (``comp4_<uuid>_det_test_car.txt``
unless in competition mode; ``{:s} {:.3f} {:.1f} {:.1f} {:.1f} {:.1f}``, its 0-based boxes plus 1) and by
darknet's ``detector valid`` (``comp4_det_test_car.txt``). Each line is ``<image id> <score> <x1> <y1> <x2>
<y2>``, separated by white space; the image id is the image's file name without suffix (the id of
``ImageSets/Main/<set>.txt``), the class is the file name's. Decisions:

* Coordinates: the devkit's corners are 1-based inclusive pixel coordinates, as in the annotation XML.
  They are read exactly as `evalsite.formats.voc` reads ``<bndbox>``: x = x1, w = x2 - x1 (continuous
  coordinates, no "+1"), so that a box written to an XML and to a results file is the same box (IoU 1).
  The devkit computes IoU with "+1" widths; for boxes of a few pixels that IoU is a little higher.
* The image id finds its ground-truth image by stem (the path without suffix, else the bare file name
  without suffix when exactly one image has it).
* The folder may be ``Main`` itself or one of its parents (``results/VOC2007``, ``results``). Every results
  file in it must belong to one run (one ``<comp>[_<salt>]`` and one set): files of two runs are an error,
  unless the set to evaluate is known (a split) and picks one set.
* A set name (``test``) and a class name may both contain ``_``; the class is what follows
  ``_det_<set>_`` for the one set that makes every file's class a ground-truth label (else the first word).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from evalsite.core.errors import InputError, Notice, listing
from evalsite.formats.matching import StemIndex
from evalsite.formats.parsed import ParsedPredictions
from evalsite.formats.records import is_number, lines, read_text

RESULTS_FILE = re.compile(r"^(comp\d+(?:_[^_]+)?)_det_(.+)\.txt$")
IMAGE_SETS = Path("ImageSets") / "Main"
FORMAT = "voc-devkit"


def _result_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and RESULTS_FILE.match(p.name))


def results_folder(path: Path) -> Path | None:
    """The folder of devkit results files at or below `path` (itself, ``Main``, ``VOC*/Main``), or None."""
    if not path.is_dir():
        return None
    found = [f for f in (path, path / "Main", *sorted(path.glob("VOC*/Main")), *sorted(path.glob("results/VOC*/Main")))
             if f.is_dir() and _result_files(f)]
    if len(found) > 1 and found[0] != path:
        raise InputError(f"several folders of VOC devkit results: {listing([f.as_posix() for f in found])}; "
                         "give the one to evaluate", path)
    return found[0] if found else None


def looks_like_results(path: Path) -> bool:
    """A folder holding (or above) devkit results files ``comp4_det_test_<class>.txt``."""
    return results_folder(path) is not None


def voc_root(ground_truth: Path) -> Path | None:
    """The VOC dataset folder (the one holding ``ImageSets/Main``) of a ground-truth path that is that folder
    or a folder beside ``ImageSets`` (``Annotations/``); None for anything else."""
    if not ground_truth.is_dir():
        return None
    for candidate in (ground_truth, ground_truth.parent):
        if (candidate / IMAGE_SETS).is_dir() and (candidate != ground_truth.parent or ground_truth.name != "ImageSets"):
            return candidate
    return None


def image_set_names(root: Path) -> list[str]:
    """The image sets of a VOC folder (``ImageSets/Main/<name>.txt``), the whole-split ones first (``test``,
    not ``car_test``)."""
    names = sorted(p.stem for p in (root / IMAGE_SETS).glob("*.txt") if p.is_file())
    return sorted(names, key=lambda n: ("_" in n, n))


def _runs(files: list[Path]) -> dict[str, list[Path]]:
    runs: dict[str, list[Path]] = {}
    for file in files:
        match = RESULTS_FILE.match(file.name)
        assert match is not None
        runs.setdefault(match.group(1), []).append(file)
    return runs


def _split_name(rests: list[str], labels: list[str] | None) -> str:
    """The set name of results files whose names end in ``_det_<set>_<class>`` (`rests`: ``<set>_<class>``)."""
    known = set(labels or ())
    first = rests[0]
    for at in [i for i, ch in enumerate(first) if ch == "_"]:
        name = first[:at]
        if all(r.startswith(name + "_") and r[at + 1:] in known for r in rests):
            return name
    return first.split("_", 1)[0]


def results_set(path: Path, labels: list[str] | None = None, wanted: str | None = None) -> tuple[str, list[Path]]:
    """(set name, files) of the one run of results below `path`. `labels`: the ground truth's, to tell the
    set name from the class; `wanted`: the image set being evaluated (ImageSets/Main/<wanted>.txt), which
    picks its files among several runs and must be the results' set."""
    folder = results_folder(path)
    if folder is None:
        raise InputError("no VOC devkit results here: expected files <comp>_det_<set>_<class>.txt "
                         "(e.g. comp4_det_test_car.txt in results/VOC2007/Main)", path)
    groups: dict[tuple[str, str], list[Path]] = {}
    for run, files in _runs(_result_files(folder)).items():
        rests = [RESULTS_FILE.match(f.name).group(2) for f in files]  # type: ignore[union-attr]
        common = _split_name(rests, labels)
        shared = all(r.startswith(common + "_") for r in rests)
        for file, rest in zip(files, rests):
            if wanted is not None and rest.startswith(wanted + "_"):
                name = wanted
            else:
                name = common if shared else rest.split("_", 1)[0]
            groups.setdefault((run, name), []).append(file)
    if wanted is not None and any(key[1] == wanted for key in groups):
        groups = {key: files for key, files in groups.items() if key[1] == wanted}
    if len(groups) > 1:
        shown = [f"{run}_det_{name}_*.txt" for run, name in groups]
        raise InputError(f"results of {len(groups)} runs in one folder ({', '.join(shown)}): keep one run per "
                         "folder" + ("" if wanted else ", or name the image set to evaluate with split"), folder)
    (_, name), files = next(iter(groups.items()))
    if wanted is not None and name != wanted:
        raise InputError(f"these results are for the image set {name!r} ({files[0].name}), but the split is "
                         f"{wanted!r}", folder)
    return name, files


def voc_devkit_predictions(path: Path, images: list[str], labels: list[str], segmentation: bool,
                           wanted: str | None = None) -> ParsedPredictions:
    """Devkit results below `path` as predictions; `images`, `labels`: the ground truth's (image ids are
    found by stem, the set name is told from the labels); `wanted`: the set to read when there are several."""
    if segmentation:
        raise InputError("segmentation task, but the predictions have no masks: VOC devkit results give boxes "
                         "only; give COCO results or JSONL with 'segmentation'", path)
    if path.is_file():
        raise InputError("give the folder of the VOC devkit results (results/VOC2007/Main), not one class's file",
                         path)
    name, files = results_set(path, labels, wanted)
    stems = StemIndex(images)
    image_names: list[str] = []
    image_records: list[str] = []
    key_of: dict[str, int] = {}
    classes: list[str] = []
    rows, image_key, class_key, owners, numbers = [], [], [], [], []
    prefix = len(RESULTS_FILE.match(files[0].name).group(1)) + len("_det_") + len(name) + 1  # type: ignore[union-attr]
    for k, file in enumerate(files):
        classes.append(file.name[prefix:-4])
        for number, line in enumerate(lines(read_text(file)), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise InputError(f"expected 6 values (image score x1 y1 x2 y2), found {len(parts)}", file,
                                 f"line {number}")
            image = parts[0]
            if image not in key_of:
                hit, candidates = stems.find(image)
                if hit is None and candidates:
                    raise InputError(f"image id {image!r} matches several ground-truth images: "
                                     f"{listing([images[c] for c in candidates])}", file, f"line {number}")
                key_of[image] = len(image_names)
                image_names.append(image if hit is None else images[hit])
                image_records.append(f"{file.name} line {number}")
            try:
                rows.append([float(v) for v in parts[1:]])
            except ValueError:
                bad = next(v for v in parts[1:] if not is_number(v))
                raise InputError(f"{bad!r} is not a number", file, f"line {number}") from None
            image_key.append(key_of[image])
            class_key.append(k)
            owners.append(k)
            numbers.append(number)
    values = np.array(rows, dtype=np.float64).reshape(len(rows), 5)
    owner = np.array(owners, dtype=np.int64)
    line_of = np.array(numbers, dtype=np.int64)
    locate = lambda j: (str(files[owner[j]]), f"line {line_of[j]}")  # noqa: E731
    x1, y1, x2, y2 = values[:, 1], values[:, 2], values[:, 3], values[:, 4]
    bad = np.flatnonzero(~((x2 > x1) & (y2 > y1)) & np.isfinite(values[:, 1:]).all(axis=1))
    if len(bad):
        j = int(bad[0])
        raise InputError(f"box x1 y1 x2 y2 = {' '.join(f'{v:g}' for v in values[j, 1:])} has zero or negative "
                         "size (read as the annotation XML: width x2 - x1, height y2 - y1)", *locate(j))
    notices = []
    if not len(values):
        notices.append(Notice("no_predictions", str(path), None, "the VOC devkit results files hold no lines"))
    return ParsedPredictions(file=path, fmt=FORMAT, box=np.stack([x1, y1, x2 - x1, y2 - y1], axis=1),
                             score=values[:, 0], locate=locate, image_key=np.array(image_key, dtype=np.int64),
                             image_names=image_names, image_records=image_records,
                             category_key=np.array(class_key, dtype=np.int64), category_names=classes,
                             notices=notices)

