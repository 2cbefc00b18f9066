"""A plain COCO JSON -> column arrays loader for the benchmark (a stand-in until `evalsite evaluate` runs
the project's own reader). Same conventions as generator.formats.boxes.DetectionData: images in ascending
id order, labels in ascending category id order, lists kept in file order.

Like pycocotools: results whose category is not in the ground truth's categories are left out; a result
for an image the ground truth does not list is an error."""

from __future__ import annotations

import itertools
import json

import numpy as np


def _column(records, key, dtype):
    return np.fromiter((r[key] for r in records), dtype=dtype, count=len(records))


def _boxes(records):
    flat = itertools.chain.from_iterable(r["bbox"] for r in records)
    return np.fromiter(flat, dtype=np.float64, count=4 * len(records)).reshape(-1, 4)


def load_coco_bbox(gt_path, dt_path) -> dict:
    """Keyword arguments for generator.metrics.coco.coco_evaluate."""
    with open(gt_path, "rb") as f:
        gt = json.load(f)
    with open(dt_path, "rb") as f:
        dt = json.load(f)
    image_ids = np.unique(np.array([im["id"] for im in gt["images"]], dtype=np.int64))
    cat_ids = np.unique(np.array([c["id"] for c in gt["categories"]], dtype=np.int64))
    anns = gt["annotations"]

    def index(ids, table, what):
        pos = np.minimum(np.searchsorted(table, ids), max(table.size - 1, 0))
        ok = table[pos] == ids if table.size else np.zeros(ids.size, bool)
        return pos, ok

    g_img, g_ok = index(_column(anns, "image_id", np.int64), image_ids, "image")
    g_cat, c_ok = index(_column(anns, "category_id", np.int64), cat_ids, "category")
    if not g_ok.all():
        raise ValueError("ground truth annotation for an image not in 'images'")
    keep = c_ok  # pycocotools evaluates only the listed categories
    d_img, d_ok = index(_column(dt, "image_id", np.int64), image_ids, "image")
    d_cat, dc_ok = index(_column(dt, "category_id", np.int64), cat_ids, "category")
    if not d_ok.all():
        raise ValueError("results refer to images that are not in the ground truth")
    return dict(
        gt_image=g_img[keep], gt_label=g_cat[keep], gt_box=_boxes(anns)[keep],
        gt_area=_column(anns, "area", np.float64)[keep],
        gt_crowd=np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), bool, len(anns))[keep],
        dt_image=d_img[dc_ok], dt_label=d_cat[dc_ok], dt_box=_boxes(dt)[dc_ok],
        dt_score=_column(dt, "score", np.float64)[dc_ok], n_labels=int(cat_ids.size),
    )
