"""Ultralytics datasets: a ``data.yaml`` names the classes and the images of a split; each image's labels are
the YOLO ``.txt`` file Ultralytics finds for it (evalsite.formats.yolo reads the rows: boxes, or YOLO-seg
polygons).

The rules follow Ultralytics' own (ultralytics/data/utils.py ``check_det_dataset``, ``img2label_paths``;
ultralytics/data/base.py ``get_img_files``), so that the images and objects evaluated are the ones
``yolo val`` evaluates:

* ``names``: a list, or a mapping {index: name} whose keys are 0..n-1; ``nc`` alone gives ``class_0`` ...
  ``class_{nc-1}``; with both, their counts must agree.
* the dataset root is ``path``; relative, it is taken relative to the data.yaml's folder (then to the
  working folder, as Ultralytics does); absent, it is the data.yaml's folder. Ultralytics also tries its
  ``datasets_dir`` setting: a root found nowhere here is an error that says so.
* the split (``val`` unless the manifest's ``ground_truth`` says ``split: test`` or ``train``; a
  ``validation`` key stands for ``val``) is a folder (every image below it), a text file listing images
  (one a line; ``./x`` is relative to the list's folder, other relative paths to the dataset root), or a
  list of folders and files; each relative to the root (a leading ``../`` that leads nowhere is dropped,
  as Ultralytics does).
* an image's labels are the file whose path replaces the last ``/images/`` of the image's path by
  ``/labels/`` and the suffix by ``.txt``; an image without one has no objects
  (``Notice("yolo_images_without_labels")``); rows repeating an earlier row are dropped, as Ultralytics
  drops them (``Notice("yolo_duplicate_labels")``).
* the images root (the manifest's ``images:``) may be left out: it is then the dataset root (or, when
  some images lie outside it, the folder holding them all). When given, every image of the split must lie
  below it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from evalsite.core.errors import InputError, Notice, listing
from evalsite.formats.parsed import ParsedGroundTruth
from evalsite.formats.records import lines, read_text
from evalsite.formats.yolo import yolo_objects

SPLITS = ("val", "test", "train")
YAML_SUFFIXES = (".yaml", ".yml")
# Ultralytics' IMG_FORMATS (ultralytics/data/utils.py): the suffixes its datasets take as images
_ULTRALYTICS_IMAGES = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"}


@dataclass
class UltralyticsDataset:
    file: Path  # the data.yaml
    names: list[str]
    root: Path  # the dataset root (resolved `path`)
    split: str
    split_value: str | list  # the split's value as written
    images: list[Path]  # absolute, sorted as Ultralytics sorts them
    is_coco: bool  # Ultralytics' own test: its predictions.json then carries COCO's 91 category ids


def _load(file: Path) -> dict:
    try:
        data = yaml.safe_load(read_text(file))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        record = f"line {mark.line + 1}" if mark else None
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())  # a ReaderError has no mark
        raise InputError(f"malformed YAML: {problem}", file, record) from None
    except RecursionError:  # PyYAML builds nested values recursively
        raise InputError("malformed YAML: nested too deeply to be a data.yaml", file) from None
    if not isinstance(data, dict):
        raise InputError("an Ultralytics data.yaml must be a mapping (path:, val:, names:, ...)", file)
    return data


def _names(data: dict, file: Path) -> list[str]:
    names, nc = data.get("names"), data.get("nc")
    if names is None:
        if not isinstance(nc, int) or isinstance(nc, bool) or nc <= 0:
            raise InputError("the data.yaml needs 'names' (a list, or {index: name}) or 'nc'", file)
        return [f"class_{i}" for i in range(nc)]
    if isinstance(names, list):
        result = [str(n) for n in names]
    elif isinstance(names, dict):
        try:
            by_index = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise InputError("'names' as a mapping needs class indices as keys ({0: person, 1: car})", file,
                             "key 'names'") from None
        if sorted(by_index) != list(range(len(by_index))):
            raise InputError(f"'names' keys must be the class indices 0..{len(by_index) - 1}, found "
                             f"{sorted(by_index)[:10]}", file, "key 'names'")
        result = [by_index[i] for i in range(len(by_index))]
    else:
        raise InputError(f"'names' must be a list or a mapping {{index: name}}, found {type(names).__name__}", file,
                         "key 'names'")
    if not result:
        raise InputError("'names' is empty", file, "key 'names'")
    if nc is not None and nc != len(result):
        raise InputError(f"'names' lists {len(result)} classes but 'nc' is {nc}", file, "key 'nc'")
    dupes = sorted({n for n in result if result.count(n) > 1})
    if dupes:
        raise InputError(f"'names' repeats {listing(dupes)}", file, "key 'names'")
    return result


def _root(data: dict, file: Path) -> Path:
    raw = data.get("path")
    if raw is None or raw == "":
        return file.resolve().parent
    if not isinstance(raw, str):
        raise InputError("'path' must be a folder", file, "key 'path'")
    given = Path(raw).expanduser()
    if given.is_absolute():
        candidates = [given]
    else:
        candidates = [file.resolve().parent / given, Path.cwd() / given]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise InputError(f"dataset root {raw!r} not found (looked in {listing([str(c) for c in candidates])}); "
                     "Ultralytics may find it below its datasets_dir setting: make 'path' absolute, or "
                     "relative to the data.yaml", file, "key 'path'")


def _split_entries(value: str | list, root: Path, file: Path, key: str) -> list[Path]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise InputError(f"'{key}' must be a folder, an image list file, or a list of them", file, f"key '{key}'")
    paths = []
    for item in items:
        path = (root / item).resolve()
        if not path.exists() and isinstance(value, str) and item.startswith("../"):
            path = (root / item[3:]).resolve()
        if not path.exists():
            raise InputError(f"'{key}' entry {item!r} not found (resolved to {path})", file, f"key '{key}'")
        paths.append(path)
    return paths


def _listed_images(list_file: Path, root: Path) -> list[Path]:
    """The images a split list names: ./x relative to the list's folder, absolute as they are, other
    relative paths below the dataset root (where Ultralytics, run from it, finds them)."""
    found = []
    for number, line in enumerate(lines(read_text(list_file)), start=1):
        entry = line.strip()
        if not entry:
            continue
        if entry.startswith("./"):
            path = list_file.parent / entry[2:]
        elif Path(entry).is_absolute():
            path = Path(entry)
        else:
            path = root / entry
            if not path.exists() and (list_file.parent / entry).exists():
                path = list_file.parent / entry
        if path.suffix.lower() not in _ULTRALYTICS_IMAGES:
            continue
        if not path.is_file():
            raise InputError(f"image {entry!r} not found (looked for {path})", list_file, f"line {number}")
        found.append(path.resolve())
    return found


def read_data_yaml(file: Path, split: str | None = None) -> UltralyticsDataset:
    """The classes and the images of one split of an Ultralytics data.yaml."""
    if not file.is_file():
        raise InputError("data.yaml not found", file)
    data = _load(file)
    names = _names(data, file)
    root = _root(data, file)
    key = split or "val"
    if key not in SPLITS:
        raise InputError(f"unknown split {key!r}; expected one of {', '.join(SPLITS)}", file)
    if key == "val" and not data.get("val") and data.get("validation"):
        key_in_file = "validation"
    else:
        key_in_file = key
    value = data.get(key_in_file)
    if not value:
        raise InputError(f"the data.yaml has no '{key}' split (keys: {', '.join(sorted(map(str, data)))})", file)
    images: list[Path] = []
    for entry in _split_entries(value, root, file, key_in_file):
        if entry.is_dir():
            for folder, dirs, files in os.walk(entry):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                images += [Path(folder, n) for n in files
                           if not n.startswith(".") and Path(n).suffix.lower() in _ULTRALYTICS_IMAGES]
        else:
            images += _listed_images(entry, root)
    if not images:
        raise InputError(f"no images in the '{key}' split", file, f"key '{key_in_file}'")
    images = sorted(set(images), key=str)
    resolved = str((root / value).resolve()) if isinstance(value, str) else None
    is_coco = bool(resolved and "coco" in resolved and resolved.endswith(("/val2017.txt", "/test-dev2017.txt")))
    return UltralyticsDataset(file, names, root, key, value, images, is_coco)


def label_file(image: Path) -> Path:
    """Ultralytics' img2label_paths: the last /images/ of the path becomes /labels/, the suffix .txt."""
    text = image.as_posix()
    head, sep, tail = text.rpartition("/images/")
    if sep:
        text = f"{head}/labels/{tail}"
    return Path(text.rsplit(".", 1)[0] + ".txt")


def dataset_images_root(file: Path, split: str | None = None) -> Path:
    """The images root a manifest without ``images:`` gets: the dataset root, or the folder holding every
    image of the split when some lie outside it."""
    dataset = read_data_yaml(file, split)
    if all(dataset.root in image.parents for image in dataset.images):
        return dataset.root
    return Path(os.path.commonpath([str(image.parent) for image in dataset.images]))


def ultralytics_ground_truth(path: Path, images_root: Path, declared: list[str] | None, split: str | None,
                             segmentation: bool) -> tuple[ParsedGroundTruth, UltralyticsDataset]:
    dataset = read_data_yaml(path, split)
    if declared is not None and declared != dataset.names:
        raise InputError("the declared labels differ from the data.yaml's names (class k is names[k]): leave "
                         "labels out, or give the same names in the same order", path, "key 'names'")
    root = images_root.resolve()
    outside = [str(image) for image in dataset.images if root not in image.parents]
    if outside:
        raise InputError(f"{len(outside)} image(s) of the '{dataset.split}' split lie outside the images root "
                         f"{root}, e.g. {listing(outside[:3])}: leave images out of the manifest (the dataset "
                         "root is taken) or give a folder holding them", path)
    rel = [image.relative_to(root).as_posix() for image in dataset.images]
    label_files = [label_file(image) for image in dataset.images]
    owners: list[Path | None] = [f if f.is_file() else None for f in label_files]
    notices = []
    missing = [rel[i] for i, f in enumerate(owners) if f is None]
    if len(missing) == len(rel):
        raise InputError(f"no label file for any image of the '{dataset.split}' split (looked for e.g. "
                         f"{label_files[0]}: Ultralytics keeps labels in a labels/ folder beside images/)", path)
    if missing:
        notices.append(Notice("yolo_images_without_labels", str(path), None,
                              f"{len(missing)} image(s) without a label file, counted as images without "
                              f"objects (as Ultralytics counts them): {listing(missing)}"))
    truth = yolo_objects(path, "ultralytics", root, rel, owners, dataset.names, declared is not None,
                         segmentation, notices, drop_duplicates=True)
    return truth, dataset


def looks_like_data_yaml(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in YAML_SUFFIXES

