"""The in-memory model of a detection (or segmentation) evaluation: column arrays, no dict per object.

Readers (COCO, VOC, YOLO, predictions JSONL) fill it; the metrics read it. Conventions:

* images are ordered by ascending image id (pycocotools evaluates images in sorted id order, and its tie
  orders depend on it); `image_ids` holds the ids (for VOC/YOLO: 0..n-1 in sorted file-name order);
* labels are ordered by ascending category id (COCO) or as declared / sorted (VOC, YOLO: class index);
* ground truth and detections keep their file order inside each image: pycocotools breaks score ties by it;
* boxes are [x, y, w, h] in absolute pixels, float64, continuous coordinates (no VOC "+1");
* masks (segmentation tasks only, else None) are RLE counts as pycocotools', column-major runs of the image
  (heights[i] x widths[i]) starting with a run of 0s, held in a `MaskSet` (evalsite.core.masks: all
  counts in one flat array; `masks[i]` is object i's counts, `masks.take(index)`, `masks.areas()`,
  `masks.bboxes()`, `masks.h` / `masks.w`), aligned with the rows of the ground truth / detections.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from evalsite.core.errors import Notice
from evalsite.core.masks.maskset import MaskSet
from evalsite.core.on_disk import on_disk


@dataclass
class DetectionData:
    labels: list[str]  # category names, metric order
    label_ids: np.ndarray  # (L,) int64 original category ids (COCO ids; class index for YOLO/VOC)
    images: list[str]  # file names relative to the images root, aligned with image_ids
    image_ids: np.ndarray  # (I,) int64, strictly ascending
    widths: np.ndarray  # (I,) int64 image width in pixels (0 when unknown)
    heights: np.ndarray  # (I,) int64
    # ground truth, one entry per object
    gt_image: np.ndarray  # (G,) int64 index into images
    gt_label: np.ndarray  # (G,) int64 index into labels
    gt_box: np.ndarray  # (G, 4) float64 xywh
    gt_area: np.ndarray  # (G,) float64: COCO's "area" field (segment area), else w*h
    gt_crowd: np.ndarray  # (G,) bool iscrowd
    gt_difficult: np.ndarray  # (G,) bool VOC "difficult" (never counted, never penalised)
    gt_id: np.ndarray  # (G,) int64 annotation id (may be 0)
    # detections (predictions)
    dt_image: np.ndarray  # (D,) int64
    dt_label: np.ndarray  # (D,) int64
    dt_box: np.ndarray  # (D, 4) float64 xywh
    dt_score: np.ndarray  # (D,) float64, finite
    image_matching: str = "id"  # "id" or "file name": how predictions found their images
    label_matching: str = "id"  # "id" or "name": how predictions found their categories
    notices: list[Notice] = field(default_factory=list)
    # segmentation tasks: RLE counts per object (None for box tasks)
    gt_masks: MaskSet | None = None  # G masks, mask i of size heights[gt_image[i]] x widths[gt_image[i]]
    dt_masks: MaskSet | None = None  # D masks, likewise
    # (D,) float64 set pixels of dt_masks, when pycocotools' loadRes takes them as the areas (its first result
    # has no 'bbox'; with one, it takes the box areas, and this stays None)
    dt_mask_area: np.ndarray | None = None
    # the formats actually read ("coco", "yolo", "ultralytics", ...), and how Ultralytics' category ids were
    # read ("index+1", "coco91", "exact"; None for other predictions)
    gt_format: str | None = None
    pred_format: str | None = None
    category_mapping: str | None = None

    @property
    def dt_area(self) -> np.ndarray:
        """A detection's area for COCO's area ranges: its mask area when it has masks (as pycocotools'
        loadRes for segmentation results), else its box area (w*h)."""
        if self.dt_mask_area is not None:
            return self.dt_mask_area
        return self.dt_box[:, 2] * self.dt_box[:, 3]


def heavy_columns_on_disk(data: DetectionData) -> DetectionData:
    """`data` with every column of its ground truth and detections, and their masks, kept on this machine's
    disk (`evalsite.core.on_disk.DiskArray`; those read from prediction shards are there already), the
    images' and labels' columns as they are: what a Dask cluster's driver holds of its inputs (docs/cluster.md,
    "Memory"). It reads them a block, a range of scores or a label group's piece at a time, to cut the parts
    it sends to the workers and to count and order. Empty columns stay in memory."""
    return replace(data, gt_box=on_disk(data.gt_box), dt_box=on_disk(data.dt_box),
                   gt_image=on_disk(data.gt_image), gt_label=on_disk(data.gt_label), gt_area=on_disk(data.gt_area),
                   gt_crowd=on_disk(data.gt_crowd), gt_difficult=on_disk(data.gt_difficult), gt_id=on_disk(data.gt_id),
                   dt_image=on_disk(data.dt_image), dt_label=on_disk(data.dt_label), dt_score=on_disk(data.dt_score),
                   gt_masks=_masks_on_disk(data.gt_masks), dt_masks=_masks_on_disk(data.dt_masks),
                   dt_mask_area=on_disk(data.dt_mask_area))


def _masks_on_disk(masks: MaskSet | None) -> MaskSet | None:
    if masks is None or not len(masks):
        return masks
    kept = copy.copy(masks)
    for name in ("counts", "ptr", "nc", "h", "w", "_areas", "_bboxes"):
        setattr(kept, name, on_disk(getattr(masks, name)))
    return kept
