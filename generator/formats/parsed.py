"""What a ground-truth or predictions reader returns to evalsite.formats.detection, which matches, clips and
assembles the two into a `DetectionData` (column arrays, as read: before matching and clipping)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalsite.core.errors import Notice
from evalsite.formats.columns import Locator


@dataclass
class ParsedGroundTruth:
    """Ground truth as one reader read it: images in id order, labels in label-id order, objects in file order."""

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
    # segmentation tasks: the raw 'segmentation' values (with a cluster, kept on disk: ValuesOnDisk)
    gt_segm: Sequence | None = None
    gt_area_missing: np.ndarray | None = None  # (G,) bool: no 'area' given (then the mask's area is taken)


@dataclass
class ParsedPredictions:
    """Predictions as one reader read them, in file order, with the keys that find their images and labels."""

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
    segm: Sequence | None = None  # segmentation tasks: the raw 'segmentation' values (likewise)
    box_missing: np.ndarray | None = None  # (D,) bool: no 'bbox' given (segmentation: the mask's box is taken)
    category_mapping: str | None = None  # Ultralytics' predictions.json: "index+1", "coco91" or "exact"
