"""Shared traits of a report's errors: the images' traits (generator/formats/traits.py, read at build time)
and the user's metadata, analysed by generator/metrics/traits.py for the "Shared traits" page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evalsite.core.enums import BoxKind, ImageStatus
from evalsite.formats.traits import ImageTraits, read_traits
from evalsite.metrics.traits import META, Finding, Item, Trait, TraitsAnalysis, analyse_all, time_of_day
from evalsite.report.classification_model import ClassificationReport
from evalsite.report.detection_model import DetectionReport
from evalsite.report.model import Report

__all__ = ["META", "Finding", "SharedTraits", "Trait", "TraitsAnalysis", "shared_traits", "trait_values"]
# META, Finding, Trait and TraitsAnalysis (evalsite.metrics.traits) are what a SharedTraits holds: the pages
# take them from here (evalsite.render never imports evalsite.metrics).


@dataclass
class SharedTraits:
    analyses: dict[str, TraitsAnalysis]  # by kind of error (misclassified; missed, false_positive)
    unread: int  # evaluation images whose traits could not be read


def trait_values(traits: ImageTraits | None, metadata: dict[str, str] | None = None) -> dict[str, object | None]:
    """An image's traits by name, with the user's metadata columns as meta:<column>."""
    values: dict[str, object | None] = {META + column: value for column, value in (metadata or {}).items()}
    if traits is not None:
        values.update({"brightness": traits.brightness, "contrast": traits.contrast, "sharpness": traits.sharpness,
                       "resolution": traits.width * traits.height, "orientation": traits.orientation,
                       "camera": traits.camera, "time_of_day": time_of_day(traits.hour)})
    return values


def classification_items(report: ClassificationReport, traits: dict[str, ImageTraits | None]) -> dict[str, list[Item]]:
    """One item per evaluation image that could be read: error = misclassified, label = the true label."""
    meta = report.metadata or {}
    return {"misclassified": [Item(r.true, not r.correct, trait_values(traits.get(r.image), meta.get(r.image)))
                              for r in report.images if r.status == ImageStatus.OK]}


def detection_items(report: DetectionReport, traits: dict[str, ImageTraits | None]) -> dict[str, list[Item]]:
    """Ground-truth objects (error = missed) and predictions at t* (error = false positive), each with its
    image's traits."""
    missed: list[Item] = []
    false_positive: list[Item] = []
    for r in report.images:
        if r.status != ImageStatus.OK or r.boxes is None:
            continue
        values = trait_values(traits.get(r.image), (report.metadata or {}).get(r.image))
        for kind, label in zip(r.boxes.kinds, r.boxes.labels):
            if kind in (BoxKind.GROUND_TRUTH, BoxKind.MISSED):
                missed.append(Item(label, kind == BoxKind.MISSED, values))
            else:
                false_positive.append(Item(label, kind == BoxKind.FALSE_POSITIVE, values))
    return {"missed": missed, "false_positive": false_positive}


def shared_traits(report: Report, images_root: Path,
                  progress: Callable[[int], None] | None = None) -> SharedTraits:
    """Read the traits of every readable evaluation image once and analyse the report's errors with them."""
    ok = [r.image for r in report.images if r.status == ImageStatus.OK]
    traits = read_traits(images_root, ok, progress)
    items = detection_items if report.task.type.is_detection else classification_items
    groups = items(report, traits)  # type: ignore[arg-type]
    meta = report.metadata or {}
    analyses = analyse_all(groups, report.dataset.labels,
                           [trait_values(traits.get(image), meta.get(image)) for image in ok])
    unread = len(report.images) - len(ok) + sum(1 for image in ok if traits.get(image) is None)
    return SharedTraits(analyses, unread)
