"""Instance masks as pycocotools-exact run-length encodings: the codec (`rle`), many masks in flat arrays
(`maskset`), polygons (`polygons`) and mask IoU (`iou`). The public names of all four are importable here."""

from evalsite.core.masks.iou import mask_iou_pairs, rle_iou_matrix, rle_iou_pairs
from evalsite.core.masks.maskset import MaskSet, rle_bbox
from evalsite.core.masks.polygons import rle_from_polygons, rle_from_polygons_many, validate_polygon
from evalsite.core.masks.rle import (
    rle_area,
    rle_decode,
    rle_encode,
    rle_from_string,
    rle_to_string,
    rle_union,
    validate_counts,
)

__all__ = [
    "MaskSet", "mask_iou_pairs", "rle_area", "rle_bbox", "rle_decode", "rle_encode", "rle_from_polygons",
    "rle_from_polygons_many", "rle_from_string", "rle_iou_matrix", "rle_iou_pairs", "rle_to_string",
    "rle_union", "validate_counts", "validate_polygon",
]
