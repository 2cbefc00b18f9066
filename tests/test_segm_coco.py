"""COCO segmentation metrics (generator/metrics/segm.py) checked against pycocotools `COCOeval(iouType="segm")`.

Every case is written as COCO dicts: images of varied sizes (1-pixel-wide to 130 x 110), ground truth as
polygons with one to three parts (vertices may lie outside the image), compressed RLE masks with holes,
masks touching the border, empty masks, crowd regions as uncompressed RLE (counts lists, sometimes with
zero-length runs), an `area` field that is usually the mask area but sometimes not (pycocotools decides
ground-truth area ranges by that field); detections as compressed RLE *without* a 'bbox' key (as
detectron2 writes them: loadRes then takes area and bbox from the mask), made from shifted / eroded /
noisy ground truth and random blobs, empty masks, rounded scores (ties). pycocotools evaluates them in
memory; an independent converter turns them into our arrays (image index = ascending image id order,
label index = ascending category id order, polygons via `rle_from_polygons`, strings decoded by the code
under test). The 12 stats and per-label AP must agree within 1e-9; bit-identical results are counted.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest
from pycocotools import mask as mu
from pycocotools.cocoeval import COCOeval
from test_coco_metrics import make_coco  # the in-memory pycocotools reference, shared

from evalsite.core.masks import MaskSet, rle_bbox, rle_from_polygons, rle_from_string, rle_iou_pairs, rle_to_string
from evalsite.metrics.coco import coco_evaluate
from evalsite.metrics.segm import coco_evaluate_segm, mask_pair_iou_fn

TOL = 1e-9
N_RANDOM = 600


# ------------------------------------------------------------------------------------------------ helpers

def pycoco(case) -> COCOeval:
    images, categories, anns, dets = copy.deepcopy(case)
    gt = make_coco(images, categories, anns)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        E = COCOeval(gt, dt, "segm")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def runs_fortran(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a mask (column-major, starting with a run of 0s), written here."""
    flat = mask.T.reshape(-1).astype(bool)
    counts, cur, n = [], False, 0
    for v in flat:
        if v != cur:
            counts.append(n)
            cur, n = v, 0
        n += 1
    counts.append(n)
    return counts


def compressed(mask: np.ndarray) -> dict:
    rle = mu.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def arrays(case) -> dict:
    """Our inputs from the COCO dicts."""
    images, categories, anns, dets = case
    ordered = sorted(images, key=lambda im: im["id"])
    img_index = {im["id"]: n for n, im in enumerate(ordered)}
    size = {im["id"]: (im["height"], im["width"]) for im in images}
    cat_index = {c: n for n, c in enumerate(sorted(c["id"] for c in categories))}

    def gt_counts(a):
        seg = a["segmentation"]
        h, w = size[a["image_id"]]
        if isinstance(seg, list):
            return rle_from_polygons(seg, h, w)
        return np.asarray(seg["counts"], dtype=np.int64) if isinstance(seg["counts"], list) else seg["counts"]

    return dict(
        gt_image=np.array([img_index[a["image_id"]] for a in anns], dtype=np.int64),
        gt_label=np.array([cat_index[a["category_id"]] for a in anns], dtype=np.int64),
        gt_counts=[gt_counts(a) for a in anns],
        gt_area=np.array([a["area"] for a in anns], dtype=np.float64),
        gt_crowd=np.array([bool(a["iscrowd"]) for a in anns], dtype=bool),
        dt_image=np.array([img_index[d["image_id"]] for d in dets], dtype=np.int64),
        dt_label=np.array([cat_index[d["category_id"]] for d in dets], dtype=np.int64),
        dt_counts=[d["segmentation"]["counts"] for d in dets],
        dt_score=np.array([d["score"] for d in dets], dtype=np.float64),
        n_labels=len(categories),
        height_width=np.array([(im["height"], im["width"]) for im in ordered], dtype=np.int64),
    )


def reference_per_label_ap(E: COCOeval) -> np.ndarray:
    p = E.eval["precision"]
    out = np.full(p.shape[2], -1.0)
    for k in range(p.shape[2]):
        s = p[:, :, k, 0, -1]
        s = s[s > -1]
        if s.size:
            out[k] = np.mean(s)
    return out


# --------------------------------------------------------------------------------------- random cases

def blob(rng, h, w) -> np.ndarray:
    """Union of a few rectangles / ellipses, minus a hole or two; may touch or cross the border."""
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), dtype=bool)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(-0.2, 1.2) * h, rng.uniform(-0.2, 1.2) * w
        ry, rx = rng.uniform(0.5, 0.6 * h + 1), rng.uniform(0.5, 0.6 * w + 1)
        if rng.random() < 0.5:
            m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            m |= (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
    for _ in range(rng.integers(0, 3)):  # holes
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.5, 0.25 * min(h, w) + 1)
        m &= ((yy - cy) ** 2 + (xx - cx) ** 2) > r * r
    return m


def polygon_parts(rng, h, w) -> list[list[float]]:
    parts = []
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(-2, w + 2), rng.uniform(-2, h + 2)
        k = int(rng.integers(3, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.3, 0.5 * max(h, w) + 1, k)
        xs, ys = cx + rad * np.cos(ang), cy + rad * np.sin(ang)
        if rng.random() < 0.5:  # coordinates on a 1/10 grid: rleFrPoly's rounding at exact .5
            xs, ys = np.round(xs, 1), np.round(ys, 1)
        parts.append([float(v) for xy in zip(xs, ys) for v in xy])
    return parts


def perturb(rng, m: np.ndarray) -> np.ndarray:
    h, w = m.shape
    out = m.copy()
    kind = rng.integers(0, 4)
    if kind == 0:  # shift with zero fill
        dy, dx = (int(v) for v in rng.integers(-3, 4, 2))
        dy, dx = int(np.clip(dy, 1 - h, h - 1)), int(np.clip(dx, 1 - w, w - 1))
        out = np.zeros_like(m)
        out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            m[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    elif kind == 1:  # erode / dilate by one pixel (4-neighbourhood)
        p = np.pad(m, 1)
        nb = [p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]]
        out = np.logical_and.reduce(nb) if rng.random() < 0.5 else np.logical_or.reduce(nb)
    elif kind == 2:  # flip random pixels
        out ^= rng.random(m.shape) < rng.uniform(0.01, 0.2)
    return out


def random_case(seed: int):
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(1, 4))
    images, masks_by_img = [], {}
    for i in range(n_img):
        r = rng.random()
        if r < 0.1:
            h, w = int(rng.integers(1, 4)), int(rng.integers(1, 30))
        elif r < 0.25:
            h, w = int(rng.integers(90, 131)), int(rng.integers(90, 111))
        else:
            h, w = int(rng.integers(4, 60)), int(rng.integers(4, 60))
        if rng.random() < 0.5:
            h, w = w, h
        images.append({"id": int(3 * i + rng.integers(1, 3)), "height": h, "width": w})
    n_cat = int(rng.integers(1, 4))
    cat_ids = sorted(rng.choice(np.arange(1, 10), n_cat, replace=False).tolist())
    categories = [{"id": int(c), "name": f"c{c}"} for c in cat_ids]

    anns = []
    for im in images:
        h, w = im["height"], im["width"]
        masks_by_img[im["id"]] = []
        for _ in range(rng.integers(0, 7)):
            cat = int(rng.choice(cat_ids))
            kind = rng.random()
            crowd = 0
            if kind < 0.35 and h >= 2 and w >= 2:
                seg = polygon_parts(rng, h, w)
                m = mu.decode(mu.merge(mu.frPyObjects(seg, h, w))).astype(bool)
            elif kind < 0.5:  # crowd region, uncompressed RLE
                m = blob(rng, h, w)
                counts = runs_fortran(m)
                if len(counts) > 2 and rng.random() < 0.4:  # a zero-length run pair inside a run
                    j = int(rng.integers(0, len(counts)))
                    if counts[j] >= 2:
                        a = int(rng.integers(1, counts[j]))
                        counts[j:j + 1] = [a, 0, counts[j] - a]
                seg = {"size": [h, w], "counts": counts}
                crowd = int(rng.random() < 0.85)
            elif kind < 0.58:  # empty mask
                m = np.zeros((h, w), dtype=bool)
                seg = compressed(m)
            else:
                m = blob(rng, h, w)
                seg = compressed(m)
            area = float(m.sum())
            r = rng.random()
            if r < 0.15:
                area = float(rng.uniform(0, 12000))
            elif r < 0.25:
                area = float(rng.choice([32 ** 2, 96 ** 2, 32 ** 2 + 0.5, 96 ** 2 - 0.5]))
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": cat, "segmentation": seg,
                         "area": area, "iscrowd": crowd, "bbox": [0.0, 0.0, 1.0, 1.0]})
            masks_by_img[im["id"]].append((m, cat))

    dets = []
    many = rng.random() < 0.03
    for im in images:
        if rng.random() < 0.15:
            continue  # image without predictions
        h, w = im["height"], im["width"]
        n_det = int(rng.integers(100, 115)) if many else int(rng.integers(0, 10))
        for _ in range(n_det):
            src = masks_by_img[im["id"]]
            r = rng.random()
            if src and r < 0.6:
                m, cat = src[int(rng.integers(0, len(src)))]
                m = perturb(rng, m)
                if rng.random() < 0.15:
                    cat = int(rng.choice(cat_ids))
            elif r < 0.67:
                m, cat = np.zeros((h, w), dtype=bool), int(rng.choice(cat_ids))
            else:
                m, cat = blob(rng, h, w), int(rng.choice(cat_ids))
            score = float(np.round(rng.random(), int(rng.integers(1, 4))))
            dets.append({"image_id": im["id"], "category_id": cat, "segmentation": compressed(m), "score": score})
    if not dets:  # loadRes([]) fails; one detection on the first image
        im = images[0]
        dets.append({"image_id": im["id"], "category_id": cat_ids[0],
                     "segmentation": compressed(blob(rng, im["height"], im["width"])), "score": 0.5})
    # results not grouped by image
    order = rng.permutation(len(dets)) if rng.random() < 0.3 else np.arange(len(dets))
    dets = [dets[i] for i in order]
    return images, categories, anns, dets


def compare(case) -> bool:
    """Assert agreement within TOL; True if stats, per-label AP and the precision/recall arrays are
    bit-identical."""
    E = pycoco(case)
    ours = coco_evaluate_segm(**arrays(case))
    ref_stats = np.asarray(E.stats, dtype=np.float64)
    ref_ap = reference_per_label_ap(E)
    np.testing.assert_allclose(ours.stats, ref_stats, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.per_label_ap, ref_ap, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.precision, E.eval["precision"], rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.recall, E.eval["recall"], rtol=0, atol=TOL)
    return (np.array_equal(ours.stats, ref_stats) and np.array_equal(ours.per_label_ap, ref_ap)
            and np.array_equal(ours.precision, E.eval["precision"])
            and np.array_equal(ours.recall, E.eval["recall"]))


# ----------------------------------------------------------------------------------------------- tests

def test_random_cases_match_pycocotools():
    identical = sum(compare(random_case(seed)) for seed in range(N_RANDOM))
    print(f"\n{identical}/{N_RANDOM} random segm cases bit-identical to pycocotools")
    assert identical == N_RANDOM


def test_detection_area_is_mask_area_and_gt_area_is_the_field():
    # One image, one label. GT mask 20x20 = 400 px (small) but area field 5000 (medium): it counts only
    # in the medium range. The detection covers it (mask area 400: small when unmatched).
    h = w = 40
    g = np.zeros((h, w), dtype=bool)
    g[5:25, 5:25] = True
    d = g.copy()
    d[5, 5] = False
    images = [{"id": 1, "height": h, "width": w}]
    categories = [{"id": 1, "name": "a"}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": compressed(g), "area": 5000.0,
             "iscrowd": 0, "bbox": [0, 0, 1, 1]}]
    dets = [{"image_id": 1, "category_id": 1, "segmentation": compressed(d), "score": 0.9},
            {"image_id": 1, "category_id": 1, "segmentation": compressed(np.zeros((h, w), bool)), "score": 0.8}]
    case = (images, categories, anns, dets)
    assert compare(case)
    ours = coco_evaluate_segm(**arrays(case))
    assert ours.stats[3] == -1 and ours.stats[4] == pytest.approx(1.0)  # APs (no small GT), APm


def test_crowd_region_absorbs_detections():
    h, w = 30, 50
    crowd = np.zeros((h, w), dtype=bool)
    crowd[:, :25] = True
    single = np.zeros((h, w), dtype=bool)
    single[10:20, 30:45] = True
    images = [{"id": 7, "height": h, "width": w}]
    categories = [{"id": 3, "name": "a"}]
    anns = [{"id": 1, "image_id": 7, "category_id": 3, "segmentation": {"size": [h, w], "counts": runs_fortran(crowd)},
             "area": float(crowd.sum()), "iscrowd": 1, "bbox": [0, 0, 1, 1]},
            {"id": 2, "image_id": 7, "category_id": 3, "segmentation": compressed(single),
             "area": float(single.sum()), "iscrowd": 0, "bbox": [0, 0, 1, 1]}]
    dets = []
    for k in range(5):  # small pieces inside the crowd region: crowd IoU = 1
        m = np.zeros((h, w), dtype=bool)
        m[2 * k:2 * k + 3, 3 * k:3 * k + 4] = True
        dets.append({"image_id": 7, "category_id": 3, "segmentation": compressed(m), "score": 0.9 - 0.1 * k})
    dets.append({"image_id": 7, "category_id": 3, "segmentation": compressed(single), "score": 0.3})
    case = (images, categories, anns, dets)
    assert compare(case)
    assert coco_evaluate_segm(**arrays(case)).stats[0] == pytest.approx(1.0)


def test_mask_pair_iou_fn_matches_pycocotools_iou_across_sizes():
    rng = np.random.default_rng(123)
    sizes = [(17, 23), (23, 17), (40, 9), (1, 12)]  # (17, 23) and (23, 17) have equal pixel totals
    dt_masks, gt_masks, dt_hw, gt_hw = [], [], [], []
    for _ in range(25):
        hw = sizes[int(rng.integers(0, len(sizes)))]
        dt_masks.append(blob(rng, *hw) if rng.random() < 0.9 else np.zeros(hw, bool))
        dt_hw.append(hw)
    for _ in range(15):
        hw = sizes[int(rng.integers(0, len(sizes)))]
        gt_masks.append(blob(rng, *hw))
        gt_hw.append(hw)
    crowd = rng.random(15) < 0.3
    dt_rles = [compressed(m) for m in dt_masks]
    gt_rles = [compressed(m) for m in gt_masks]
    ref = np.asarray(mu.iou([{"size": r["size"], "counts": r["counts"].encode()} for r in dt_rles],
                            [{"size": r["size"], "counts": r["counts"].encode()} for r in gt_rles],
                            crowd.astype(np.uint8).tolist()))
    fn = mask_pair_iou_fn([r["counts"] for r in dt_rles], [r["counts"] for r in gt_rles], crowd,
                          dt_hw=dt_hw, gt_hw=gt_hw)
    di, gi = np.repeat(np.arange(25), 15), np.tile(np.arange(15), 25)
    got = fn(di, gi).reshape(25, 15)
    # pycocotools gives -1 to pairs of different sizes; we give 0 (both never match)
    np.testing.assert_array_equal(got, np.where(ref < 0, 0.0, ref))
    assert (ref < 0).any() and (ref > 0).any()
    assert fn(np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0,)


def test_rle_bbox_is_a_valid_pruning_box():
    # box-disjoint masks (by rle_bbox) always have IoU 0, so box pruning (detection.py) loses nothing
    rng = np.random.default_rng(5)
    h, w = 31, 27
    masks = [blob(rng, h, w) for _ in range(60)] + [np.zeros((h, w), bool)]
    counts = [np.asarray(runs_fortran(m), dtype=np.int64) for m in masks]
    boxes = np.array([rle_bbox(c, h, w) for c in counts])
    n = len(masks)
    di, gi = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    iou = rle_iou_pairs(counts, counts, di, gi, np.zeros(n, bool))
    b1, b2 = boxes[di], boxes[gi]
    disjoint = ((b1[:, 0] + b1[:, 2] <= b2[:, 0]) | (b2[:, 0] + b2[:, 2] <= b1[:, 0])
                | (b1[:, 1] + b1[:, 3] <= b2[:, 1]) | (b2[:, 1] + b2[:, 3] <= b1[:, 1]))
    assert disjoint.any()
    assert np.all(iou[disjoint] == 0)


def test_same_as_coco_evaluate_with_the_callback():
    images, categories, anns, dets = random_case(11)
    a = arrays((images, categories, anns, dets))
    ours = coco_evaluate_segm(**a)
    hw = a["height_width"]
    gts = [c if not isinstance(c, str) else rle_from_string(c) for c in a["gt_counts"]]
    dts = [rle_from_string(c) for c in a["dt_counts"]]
    fn = mask_pair_iou_fn(dts, gts, a["gt_crowd"], dt_hw=hw[a["dt_image"]], gt_hw=hw[a["gt_image"]])
    dt_area = np.array([c[1::2].sum() for c in dts], dtype=np.float64)
    direct = coco_evaluate(a["gt_image"], a["gt_label"], np.zeros((len(gts), 4)), a["gt_area"], a["gt_crowd"],
                           a["dt_image"], a["dt_label"], np.zeros((len(dts), 4)), a["dt_score"], a["n_labels"],
                           dt_area=dt_area, pair_iou_fn=fn)
    np.testing.assert_array_equal(ours.precision, direct.precision)
    np.testing.assert_array_equal(ours.stats, direct.stats)


def test_mask_size_must_match_image():
    a = arrays(random_case(3))
    a["height_width"] = a["height_width"] + 1
    with pytest.raises(ValueError):
        coco_evaluate_segm(**a)


def as_mask_sets(a: dict) -> dict:
    """The same inputs with MaskSets (as read_detection gives them): compressed strings decoded in batch."""
    hw = a["height_width"]
    gts = [rle_from_string(c) if isinstance(c, str) else c for c in a["gt_counts"]]
    gh, dh = hw[a["gt_image"]], hw[a["dt_image"]]
    return {**a, "gt_counts": MaskSet.from_counts(gts, gh[:, 0], gh[:, 1]),
            "dt_counts": MaskSet.from_strings(a["dt_counts"], dh[:, 0], dh[:, 1])}


def test_mask_sets_in_equal_lists_in():
    for seed in range(40):
        a = arrays(random_case(seed))
        lists, sets = coco_evaluate_segm(**a), coco_evaluate_segm(**as_mask_sets(a))
        np.testing.assert_array_equal(lists.stats, sets.stats)
        np.testing.assert_array_equal(lists.precision, sets.precision)
        np.testing.assert_array_equal(lists.recall, sets.recall)
    # a mask set whose sizes are not the images': a clear error
    b = as_mask_sets(arrays(random_case(3)))
    b["height_width"] = b["height_width"] + 1
    with pytest.raises(ValueError, match="differs from its image"):
        coco_evaluate_segm(**b)


def test_mask_pair_iou_fn_on_mask_sets_and_min_iou():
    """Every pair of the same image, against pycocotools' iou; with min_iou, IoUs >= it stay exact and
    the others are exact or 0."""
    n_kept = n_low = 0
    for seed in range(20):
        a = as_mask_sets(arrays(random_case(seed)))
        dt, gt, crowd, hw = a["dt_counts"], a["gt_counts"], a["gt_crowd"], a["height_width"]
        di, gi = np.repeat(np.arange(len(dt)), len(gt)), np.tile(np.arange(len(gt)), len(dt))
        same = a["dt_image"][di] == a["gt_image"][gi]
        di, gi = di[same], gi[same]
        iou = mask_pair_iou_fn(dt, gt, crowd)(di, gi)
        for d, g, value in zip(di.tolist(), gi.tolist(), iou.tolist()):
            h, w = (int(v) for v in hw[a["dt_image"][d]])
            rles = [{"size": [h, w], "counts": rle_to_string(m).encode()} for m in (dt[d], gt[g])]
            assert value == mu.iou([rles[0]], [rles[1]], [int(crowd[g])])[0, 0]
        pruned = mask_pair_iou_fn(dt, gt, crowd, min_iou=0.5)(di, gi)
        keep = iou >= 0.5
        np.testing.assert_array_equal(pruned[keep], iou[keep])
        assert np.all((pruned == iou) | (pruned == 0))
        n_kept += int(keep.sum())
        n_low += int(((iou > 0) & ~keep).sum())
    assert n_kept and n_low
