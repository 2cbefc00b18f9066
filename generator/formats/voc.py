"""Pascal VOC ground truth: an ``.xml`` file or a folder of them (the rules: evalsite.formats.detection)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from evalsite.core.errors import InputError, Notice, listing
from evalsite.formats.columns import check_finite_boxes
from evalsite.formats.parsed import ParsedGroundTruth
from evalsite.formats.records import normalise_image_path


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


def voc_ground_truth(path: Path, images_root: Path, declared: list[str] | None) -> ParsedGroundTruth:
    """A VOC .xml file, a folder of them, or a VOC dataset folder (``VOC2007/``: its ``Annotations/`` are read;
    which of them are evaluated is the split's business: evalsite.formats.split)."""
    if path.is_dir() and (path / "Annotations").is_dir():
        path = path / "Annotations"
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
        image = normalise_image_path(raw, images_root, file, "<filename>")
        sub = file.parent.relative_to(base).as_posix()
        if sub != "." and "/" not in image and (images_root / sub / image).is_file():
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
    check_finite_boxes(box, locate)
    widths = np.array([item[1] for item in per_image], dtype=np.int64)
    heights = np.array([item[2] for item in per_image], dtype=np.int64)
    notices = []
    unknown_size = np.flatnonzero((widths <= 0) | (heights <= 0))
    if len(unknown_size):
        notices.append(Notice("image_size_unknown", str(path), None,
                              f"{len(unknown_size)} file(s) without <size>: their boxes are not checked "
                              f"against the image, e.g. {listing([files_of[i] for i in unknown_size])}"))
    return ParsedGroundTruth(file=path, fmt="voc", has_ids=False, image_ids=np.arange(len(per_image), dtype=np.int64),
                  images=[item[0] for item in per_image], widths=np.maximum(widths, 0),
                  heights=np.maximum(heights, 0), labels=labels,
                  label_ids=np.arange(len(labels), dtype=np.int64), gt_image=gt_image,
                  gt_label=np.array([index[n] for n in names], dtype=np.int64), gt_box=box, gt_area=None,
                  gt_crowd=np.zeros(len(objects), dtype=bool),
                  gt_difficult=np.array([obj[2] for obj in objects], dtype=bool),
                  gt_id=np.arange(1, len(objects) + 1, dtype=np.int64), locate=locate,
                  declared=declared is not None, notices=notices)
