"""COCO metrics (generator/metrics/coco.py) checked against pycocotools, the reference.

Every case is written as COCO dicts (images, categories, annotations, results list), evaluated by
pycocotools' COCOeval in memory, and turned into our column arrays by a small independent converter
(image index = position in ascending image id order, label index = position in ascending category id
order, lists kept in their order). The 12 stats and the per-label AP must agree within 1e-9; in practice
they are bit-identical, and so are the full precision / recall arrays (checked too, at 1e-12).

Cases: 1,200 seeded random small cases (float and integer-grid geometry, crowd, segment areas that differ
from the box area, area-range boundaries, score ties, empty images, images without predictions, labels
without ground truth, ids from 0 and non-contiguous, lists not grouped by image), 300 random IoU tables
plugged into both (exercises the matching rules on exact ties and on the thresholds themselves), and
hand-made cases: crowd regions absorbing detections, > 100 detections per image, equal scores across
images, no predictions at all, the segment-area rule, a custom detection area, and annotation id 0, where
we differ from pycocotools on purpose.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from evalsite.core.boxes import pair_iou
from evalsite.metrics.coco import STAT_NAMES, CocoResult, coco_evaluate, coco_match, evidence_of
from evalsite.metrics.coco_accumulate import CocoMatches, join_image_ranges

TOL = 1e-9


# ------------------------------------------------------------------------------------------------ helpers

def make_coco(images, categories, annotations) -> COCO:
    coco = COCO()
    coco.dataset = {"images": images, "categories": categories, "annotations": annotations}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def pycoco(case, compute_iou=None, dt_area=None) -> COCOeval:
    """pycocotools' evaluation of a case (deep copies: pycocotools writes into the dicts).

    compute_iou(E, imgId, catId) replaces COCOeval.computeIoU; dt_area replaces each result's area after
    loadRes (index = position in the results list)."""
    images, categories, anns, dets = copy.deepcopy(case)
    gt = make_coco(images, categories, anns)
    with contextlib.redirect_stdout(io.StringIO()):
        if dets:
            dt = gt.loadRes(dets)
        else:  # loadRes([]) fails (anns[0]); an empty results object is what an empty list means
            dt = make_coco(images, copy.deepcopy(categories), [])
        if dt_area is not None:
            for d in dt.dataset["annotations"]:
                d["area"] = float(dt_area[d["id"] - 1])
        E = COCOeval(gt, dt, "bbox")
        if compute_iou is not None:
            E.computeIoU = lambda img, cat: compute_iou(E, img, cat)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def arrays(case) -> dict:
    """Our inputs from COCO dicts, written independently of the code under test."""
    images, categories, anns, dets = case
    img_index = {i: n for n, i in enumerate(sorted(im["id"] for im in images))}
    cat_index = {c: n for n, c in enumerate(sorted(c["id"] for c in categories))}
    return dict(
        gt_image=np.array([img_index[a["image_id"]] for a in anns], dtype=np.int64),
        gt_label=np.array([cat_index[a["category_id"]] for a in anns], dtype=np.int64),
        gt_box=np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4),
        gt_area=np.array([a["area"] for a in anns], dtype=np.float64),
        gt_crowd=np.array([bool(a["iscrowd"]) for a in anns], dtype=bool),
        dt_image=np.array([img_index[d["image_id"]] for d in dets], dtype=np.int64),
        dt_label=np.array([cat_index[d["category_id"]] for d in dets], dtype=np.int64),
        dt_box=np.array([d["bbox"] for d in dets], dtype=np.float64).reshape(-1, 4),
        dt_score=np.array([d["score"] for d in dets], dtype=np.float64),
        n_labels=len(categories),
    )


def reference_per_label(E: COCOeval, t: int | None) -> np.ndarray:
    precision = E.eval["precision"]
    out = []
    for k in range(precision.shape[2]):
        s = precision[:, :, k, 0, -1] if t is None else precision[t, :, k, 0, -1]
        out.append(float(np.mean(s[s > -1])) if (s > -1).any() else -1.0)
    return np.array(out)


def assert_same(ours: CocoResult, E: COCOeval, what: str = "") -> bool:
    """Assert agreement within TOL; return True when everything is bit-identical."""
    ref_stats = np.asarray(E.stats, dtype=np.float64)
    diff = np.abs(ours.stats - ref_stats)
    assert (diff <= TOL).all(), (
        f"{what}: stats differ: " + ", ".join(f"{n} {a!r} vs {b!r}" for n, a, b, d in
                                              zip(STAT_NAMES, ours.stats, ref_stats, diff) if d > TOL))
    for name, t, got in (("AP", None, ours.per_label_ap), ("AP50", 0, ours.per_label_ap50)):
        ref = reference_per_label(E, t)
        assert np.allclose(got, ref, rtol=0, atol=TOL), f"{what}: per-label {name} {got} vs {ref}"
    assert ours.precision.shape == E.eval["precision"].shape
    assert np.allclose(ours.precision, E.eval["precision"], rtol=0, atol=1e-12), what
    assert np.allclose(ours.recall, E.eval["recall"], rtol=0, atol=1e-12), what
    return (np.array_equal(ours.stats, ref_stats)
            and np.array_equal(ours.per_label_ap, reference_per_label(E, None))
            and np.array_equal(ours.precision, E.eval["precision"])
            and np.array_equal(ours.recall, E.eval["recall"]))


def check(case, **kwargs) -> tuple[CocoResult, COCOeval, bool]:
    ours = coco_evaluate(**arrays(case), **kwargs)
    E = pycoco(case, dt_area=kwargs.get("dt_area"))
    return ours, E, assert_same(ours, E)


def det(image_id, category_id, bbox, score):
    return {"image_id": image_id, "category_id": category_id, "bbox": [float(v) for v in bbox],
            "score": float(score)}


def ann(ann_id, image_id, category_id, bbox, iscrowd=0, area=None):
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [float(v) for v in bbox],
            "area": float(bbox[2] * bbox[3] if area is None else area), "iscrowd": iscrowd}


# ------------------------------------------------------------------------------------------- random cases

SIZES = ((0.5, 8.0), (8.0, 32.0), (32.0, 96.0), (96.0, 220.0))


def random_case(seed: int):
    """A small random case; see the module docstring for what it covers."""
    rng = np.random.default_rng(seed)
    grid = rng.random() < 0.35  # integer coordinates on a small canvas: exact IoU ties and thresholds
    canvas = 40 if grid else 250
    n_images, n_cats = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    image_ids = [int(i) for i in rng.choice(40, n_images, replace=False)]
    cat_ids = [int(c) for c in rng.choice(12, n_cats, replace=False)]
    gt_cats = [c for c in cat_ids if rng.random() < 0.85] or cat_ids[:1]  # some labels have no ground truth
    score_decimals = int(rng.choice([1, 2, 16]))
    p_crowd = float(rng.choice([0.0, 0.1, 0.3]))

    def box():
        if grid:
            w, h = (int(v) for v in rng.integers(0 if rng.random() < 0.03 else 1, 25, 2))
            return [int(rng.integers(0, canvas)), int(rng.integers(0, canvas)), w, h]
        if rng.random() < 0.05:
            w = h = float(rng.choice([32.0, 96.0]))  # area exactly on a range boundary
        else:
            lo, hi = SIZES[int(rng.integers(len(SIZES)))]
            w, h = np.exp(rng.uniform(np.log(lo), np.log(hi), 2))
        return [float(rng.uniform(0, canvas)), float(rng.uniform(0, canvas)), float(w), float(h)]

    anns, dets = [], []
    for image_id in image_ids:
        gts = []
        for _ in range(0 if rng.random() < 0.15 else int(rng.integers(0, 9))):
            b = box() if not gts or rng.random() < 0.85 else list(gts[-1][1])  # some exact duplicates
            area = b[2] * b[3]
            r = rng.random()
            if r < 0.2:
                area = area * float(rng.uniform(0.3, 1.0))  # segment area smaller than the box
            elif r < 0.25:
                area = float(rng.choice([32.0 ** 2, 96.0 ** 2]))
            gts.append((int(rng.choice(gt_cats)), b, area, int(rng.random() < p_crowd)))
        for c, b, area, crowd in gts:
            anns.append({"image_id": image_id, "category_id": c, "bbox": b, "area": area, "iscrowd": crowd})
        for _ in range(0 if rng.random() < 0.15 else int(rng.integers(0, 13))):
            if gts and rng.random() < 0.65:
                c, b, _, _ = gts[int(rng.integers(len(gts)))]
                if rng.random() < 0.15:
                    c = int(rng.choice(cat_ids))
                s = float(rng.choice([0.0, 0.03, 0.1, 0.3]))
                b = [b[0] + rng.normal(0, s) * b[2], b[1] + rng.normal(0, s) * b[3],
                     b[2] * float(np.exp(rng.normal(0, s))), b[3] * float(np.exp(rng.normal(0, s)))]
                if grid:
                    b = [int(round(v)) for v in b]
                b = [float(v) if not grid else v for v in b]
            else:
                c, b = int(rng.choice(cat_ids)), box()
            score = round(float(rng.random()), score_decimals)
            dets.append({"image_id": image_id, "category_id": c, "bbox": b, "score": score})
    # lists need not be grouped by image: shuffle across images, keep the order inside each image
    anns = interleave(rng, anns)
    dets = interleave(rng, dets)
    ids = rng.permutation(len(anns)) + 1  # unique annotation ids >= 1 (id 0: see test_annotation_id_zero)
    for a, i in zip(anns, ids):
        a["id"] = int(i)
    images = [{"id": i} for i in rng.permutation(image_ids).tolist()]
    categories = [{"id": c} for c in rng.permutation(cat_ids).tolist()]
    return images, categories, anns, dets


def interleave(rng, records):
    """Shuffle records across images while keeping their relative order inside each image."""
    keys = [r["image_id"] for r in records]
    slots = rng.permutation(len(records))
    out: list = [None] * len(records)
    by_image: dict = {}
    for r in records:
        by_image.setdefault(r["image_id"], []).append(r)
    order = sorted(range(len(records)), key=lambda i: slots[i])
    taken: dict = {k: 0 for k in by_image}
    for n, i in enumerate(order):
        k = keys[i]
        out[n] = by_image[k][taken[k]]
        taken[k] += 1
    return out


N_RANDOM, CHUNK = 1200, 100
BIT_IDENTICAL: list[bool] = []


@pytest.mark.parametrize("first", range(0, N_RANDOM, CHUNK))
def test_random_cases_match_pycocotools(first):
    for seed in range(first, first + CHUNK):
        case = random_case(seed)
        ours = coco_evaluate(**arrays(case))
        BIT_IDENTICAL.append(assert_same(ours, pycoco(case), f"seed {seed}"))


def iou_table_case(seed: int):
    """A random case plus a random IoU value for every (result, annotation) pair, drawn from a small set
    that contains the thresholds themselves (ties and `>=` at every threshold)."""
    rng = np.random.default_rng(10_000 + seed)
    images, categories, anns, dets = random_case(seed)
    values = np.array([0.0, 0.3, 0.5, 0.55, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 1 - 1e-10, 1.0,
                       float(np.nextafter(0.5, 0)), float(np.nextafter(0.75, 1))])
    table = rng.choice(values, size=(len(dets), len(anns)))
    return (images, categories, anns, dets), table


@pytest.mark.parametrize("first", range(0, 300, 100))
def test_random_iou_tables_match_pycocotools(first):
    """The matching rules alone: both sides read the same IoU table (pycocotools' computeIoU replaced)."""
    for seed in range(first, first + 100):
        case, table = iou_table_case(seed)
        row_of_ann = {a["id"]: n for n, a in enumerate(case[2])}

        def compute_iou(E, img, cat, table=table, row_of_ann=row_of_ann):
            gt, dt = E._gts[img, cat], E._dts[img, cat]
            order = np.argsort([-d["score"] for d in dt], kind="mergesort")
            dt = [dt[i] for i in order][:E.params.maxDets[-1]]
            if not gt or not dt:
                return []
            return table[np.ix_([d["id"] - 1 for d in dt], [row_of_ann[g["id"]] for g in gt])]

        ours = coco_evaluate(**arrays(case), pair_iou_fn=lambda d, g, table=table: table[d, g])
        E = pycoco(case, compute_iou=compute_iou)
        BIT_IDENTICAL.append(assert_same(ours, E, f"iou table seed {seed}"))


# --------------------------------------------------------------------------------------------- hand-made

def test_crowd_region_absorbs_many_detections():
    images = [{"id": 1}, {"id": 2}]
    categories = [{"id": 1}, {"id": 2}]
    anns = [ann(1, 1, 1, [0, 0, 200, 200], iscrowd=1), ann(2, 1, 1, [10, 10, 30, 30]),
            ann(3, 2, 1, [50, 50, 60, 40]), ann(4, 2, 2, [0, 0, 300, 300], iscrowd=1)]
    dets = [det(1, 1, [10, 10, 30, 30], 0.2)]
    dets += [det(1, 1, [20 * i, 20 * i, 25, 25], 0.9 - 0.05 * i) for i in range(7)]  # all inside the crowd
    dets += [det(2, 1, [50, 50, 60, 40], 0.5), det(2, 2, [5, 5, 50, 50], 0.99)]
    ours, E, _ = check((images, categories, anns, dets))
    # the crowd absorbs everything but the two true positives: no false positive, AP 1 for label 1
    assert ours.per_label_ap[0] == pytest.approx(1.0) and ours.per_label_ap[1] == -1.0


def test_more_than_100_detections_per_image():
    rng = np.random.default_rng(7)
    images = [{"id": 5}, {"id": 9}]
    categories = [{"id": 3}, {"id": 4}]
    anns = [ann(i + 1, 5 if i < 30 else 9, 3 if i % 3 else 4, [float(x) for x in rng.uniform(0, 300, 4)])
            for i in range(45)]
    dets = []
    for image_id in (5, 9):
        for _ in range(260):
            a = anns[int(rng.integers(len(anns)))]
            near = a["image_id"] == image_id and rng.random() < 0.3
            b = a["bbox"] if near else list(rng.uniform(0, 300, 4))
            b = [v + float(rng.normal(0, 3)) for v in b]
            dets.append(det(image_id, int(rng.choice([3, 4])), b, round(float(rng.random()), 2)))
    ours, E, _ = check((images, categories, anns, dets))
    assert ours.stats[6] < ours.stats[7] <= ours.stats[8]  # AR@1 < AR@10 <= AR@100


def test_equal_scores_across_images():
    images = [{"id": i} for i in (30, 10, 20)]
    categories = [{"id": 1}]
    anns = [ann(1, 10, 1, [0, 0, 50, 50]), ann(2, 20, 1, [0, 0, 50, 50]), ann(3, 30, 1, [0, 0, 50, 50])]
    # same score everywhere: the order across images (ascending id) decides which comes first
    dets = [det(30, 1, [0, 0, 50, 50], 0.5), det(20, 1, [100, 100, 10, 10], 0.5),
            det(10, 1, [0, 0, 50, 50], 0.5), det(10, 1, [200, 0, 10, 10], 0.5),
            det(20, 1, [0, 0, 50, 50], 0.5)]
    check((images, categories, anns, dets))


def test_no_predictions_at_all():
    images = [{"id": 1}, {"id": 2}]
    categories = [{"id": 1}, {"id": 2}]
    anns = [ann(1, 1, 1, [0, 0, 10, 10]), ann(2, 2, 2, [0, 0, 100, 100], iscrowd=1)]
    ours, E, _ = check((images, categories, anns, []))
    assert ours.per_label_ap.tolist() == [0.0, -1.0]


def test_no_ground_truth_at_all():
    images = [{"id": 1}]
    categories = [{"id": 1}]
    ours, E, _ = check((images, categories, [], [det(1, 1, [0, 0, 10, 10], 0.5)]))
    assert ours.stats.tolist() == [-1.0] * 12


def test_segment_area_decides_the_area_range():
    images = [{"id": 1}]
    categories = [{"id": 1}]
    # box 40x40 (1600, "medium" by box) whose segment area is 700 ("small"): small, not medium
    anns = [ann(1, 1, 1, [0, 0, 40, 40], area=700.0), ann(2, 1, 1, [100, 100, 20, 20], area=2000.0)]
    dets = [det(1, 1, [0, 0, 40, 40], 0.9), det(1, 1, [100, 100, 20, 20], 0.8)]
    ours, E, _ = check((images, categories, anns, dets))
    # APs and APm: each sees its own gt matched (precision is tp / (tp + fp + eps), hence approx)
    assert ours.stats[3] == pytest.approx(1.0) and ours.stats[4] == pytest.approx(1.0)


def test_detection_area_can_be_given():
    """dt_area (mask area for segmentation) replaces w*h for the detections' area ranges."""
    case = random_case(3)
    while len(case[3]) < 5:
        case = random_case(len(case[3]) + 1000)
    rng = np.random.default_rng(0)
    dt_area = np.array([d["bbox"][2] * d["bbox"][3] for d in case[3]]) * rng.uniform(0.1, 3.0, len(case[3]))
    check(case, dt_area=dt_area)


def test_pair_iou_fn_default_is_box_iou():
    case = random_case(11)
    a = arrays(case)
    default = coco_evaluate(**a)
    plugged = coco_evaluate(**a, pair_iou_fn=lambda d, g: pair_iou(a["dt_box"][d], a["gt_box"][g],
                                                                    a["gt_crowd"][g]))
    assert np.array_equal(default.precision, plugged.precision)


def test_annotation_id_zero_is_a_real_ground_truth():
    """pycocotools stores the matched gt *id* and tests `dtm == 0`/truthiness: a detection matched to gt
    id 0 becomes a false positive there. Ours has no ids: the same data with ids 1.. is the reference."""
    images = [{"id": 0}, {"id": 1}]
    categories = [{"id": 0}]
    anns = [ann(0, 0, 0, [0, 0, 50, 50]), ann(1, 0, 0, [100, 100, 40, 40]), ann(2, 1, 0, [0, 0, 30, 30])]
    dets = [det(0, 0, [0, 0, 50, 50], 0.9), det(0, 0, [100, 100, 40, 40], 0.8),
            det(1, 0, [0, 0, 30, 30], 0.7)]
    shifted = copy.deepcopy(anns)
    for a in shifted:
        a["id"] += 1
    ours = coco_evaluate(**arrays((images, categories, anns, dets)))
    assert_same(ours, pycoco((images, categories, shifted, dets)), "ids from 1")
    buggy = pycoco((images, categories, anns, dets))
    # pycocotools loses the match with gt id 0 (that detection becomes a false positive)
    assert ours.stats[0] == pytest.approx(1.0) and buggy.stats[0] < 0.9
    assert not np.allclose(ours.stats, buggy.stats)


def test_rejects_bad_inputs():
    good = dict(gt_image=[0], gt_label=[0], gt_box=[[0, 0, 1, 1]], gt_area=[1.0], gt_crowd=[False],
                dt_image=[0], dt_label=[0], dt_box=[[0, 0, 1, 1]], dt_score=[0.5], n_labels=1)
    assert coco_evaluate(**good).stats[0] == pytest.approx(1.0)
    for bad in ({"dt_label": [1]}, {"gt_label": [-1]}, {"dt_score": [float("nan")]}, {"gt_area": [1.0, 2.0]},
                {"dt_image": [-1]}, {"dt_area": [1.0, 2.0]}):
        with pytest.raises(ValueError):
            coco_evaluate(**{**good, **bad})


def test_a_larger_realistic_case():
    """50 images, up to 100 detections each, many labels: closer to real data than the small cases."""
    rng = np.random.default_rng(2024)
    images = [{"id": int(i)} for i in rng.choice(1000, 50, replace=False)]
    categories = [{"id": int(c)} for c in rng.choice(100, 20, replace=False)]
    cats = [c["id"] for c in categories]
    anns, dets = [], []
    for im in images:
        gts = []
        for _ in range(int(rng.integers(0, 15))):
            w, h = np.exp(rng.uniform(np.log(4), np.log(300), 2))
            b = [float(rng.uniform(0, 640 - w)), float(rng.uniform(0, 480 - h)), float(w), float(h)]
            c = int(rng.choice(cats[:12]))
            gts.append(b)
            anns.append(ann(len(anns) + 1, im["id"], c, b, iscrowd=int(rng.random() < 0.03),
                            area=b[2] * b[3] * float(rng.uniform(0.5, 0.9))))
            if rng.random() < 0.8:
                j = [v + float(rng.normal(0, 0.08)) * s for v, s in zip(b, [b[2], b[3], b[2], b[3]])]
                label = c if rng.random() < 0.9 else int(rng.choice(cats))
                dets.append(det(im["id"], label, j, rng.random()))
        for _ in range(int(rng.integers(0, 100 - len(gts)))):
            w, h = np.exp(rng.uniform(np.log(4), np.log(300), 2))
            dets.append(det(im["id"], int(rng.choice(cats)),
                            [rng.uniform(0, 640 - w), rng.uniform(0, 480 - h), w, h], rng.beta(1, 8)))
    check((images, categories, anns, dets))


def test_zz_bit_identical_share():
    """Report (and guard) how many random cases were bit-identical, not merely within 1e-9."""
    if not BIT_IDENTICAL:
        pytest.skip("random cases did not run in this session")
    n_same = sum(BIT_IDENTICAL)
    assert n_same == len(BIT_IDENTICAL), f"{n_same}/{len(BIT_IDENTICAL)} bit-identical"


@pytest.mark.parametrize("largest_image", [50, 70_000])
def test_group_sort_in_two_passes_equals_one_stable_sort(largest_image):
    """`_stable_argsort_pairs` (two 16-bit radix sorts when the ids fit, else one sort of the keys) gives
    numpy's stable argsort of image * K + label, ties in input order."""
    from evalsite.metrics.coco import _stable_argsort_pairs

    rng = np.random.default_rng(largest_image)
    image = rng.integers(0, largest_image, 20_000)
    label = rng.integers(0, 7, 20_000)
    key = image * 7 + label
    np.testing.assert_array_equal(_stable_argsort_pairs(image, label, key), np.argsort(key, kind="stable"))


def test_descending_order_is_numpys_stable_sort_of_the_negated_scores():
    """`descending_order` (radix sorts of 16-bit digits of an integer key) is np.argsort(-score, 'stable'):
    ties (many: scores rounded to 1 or 2 decimals), -0.0 beside 0.0, subnormals, infinities, every exponent,
    and empty input."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays as float_arrays

    from evalsite.metrics.arrays import descending_order

    rng = np.random.default_rng(3)
    cases = [np.zeros(0), np.array([0.0, -0.0, 0.0, -0.0]), np.round(rng.random(50_000), 2),
             np.array([5e-324, -5e-324, np.inf, -np.inf, 1e308, -1e308, 0.0, 1.0, -1.0]),
             rng.normal(size=20_000) * 10.0 ** rng.integers(-300, 300, 20_000)]
    for score in cases:
        np.testing.assert_array_equal(descending_order(score), np.argsort(-score, kind="stable"))

    @settings(max_examples=300, deadline=None, database=None)
    @given(float_arrays(np.float64, st.integers(0, 60), elements=st.floats(allow_nan=False, width=64)))
    def check(score):
        np.testing.assert_array_equal(descending_order(score), np.argsort(-score, kind="stable"))

    check()


@pytest.mark.parametrize("read_bytes", [8, 40, 1 << 24])
def test_descending_parts_join_into_numpys_stable_sort(monkeypatch, read_bytes: int):
    """`descending_parts` (ranges of scores, each found a block at a time and sorted on its own) joined is
    np.argsort(-score, 'stable'), for arrays and columns on disk read in blocks of 1, 5 and many rows, parts of
    1 to 500 rows: ties (every score one of six values), -0.0 beside 0.0, infinities, one score everywhere."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays as float_arrays

    from evalsite.core import on_disk
    from evalsite.metrics.arrays import descending_parts

    monkeypatch.setattr(on_disk, "READ_BYTES", read_bytes)
    rng = np.random.default_rng(5)

    def joined(score: np.ndarray, rows: int) -> np.ndarray:
        parts = list(descending_parts(on_disk.on_disk(score), rows))
        assert all(len(part) for part in parts)
        return np.concatenate([np.zeros(0, dtype=np.int64), *parts])

    cases = [np.zeros(0), np.full(300, 0.5), np.array([0.0, -0.0, 0.0, -0.0, np.inf, -np.inf, 1.0]),
             rng.choice([0.0, -0.0, 0.25, 0.5, 1.0, -1.0], 1_000), np.round(rng.random(1_500), 2)]
    for score in cases:
        for rows in (1, 7, 100, 500) if read_bytes > 8 else (7, 500):
            np.testing.assert_array_equal(joined(score, rows), np.argsort(-score, kind="stable"))

    @settings(max_examples=150, deadline=None, database=None)
    @given(float_arrays(np.float64, st.integers(0, 80), elements=st.floats(allow_nan=False, width=64)),
           st.integers(1, 30))
    def check(score, rows):
        np.testing.assert_array_equal(joined(score, rows), np.argsort(-score, kind="stable"))

    check()


@pytest.mark.parametrize("read_bytes", [8, 56, 1 << 24])
def test_block_helpers_equal_numpy(monkeypatch, read_bytes: int):
    """`counts_of`, `rows_where`, `is_ascending`, `first_row_where`, `max_of` and `count_below`, which read a
    column on disk a block at a time (1, 7 and many rows), equal numpy's bincount, flatnonzero, a whole
    comparison, max and searchsorted (of the values sorted either way), on arrays too."""
    from evalsite.core import on_disk
    from evalsite.core.on_disk import count_below, first_row_where, is_ascending, max_of, rows_where
    from evalsite.metrics.arrays import counts_of

    monkeypatch.setattr(on_disk, "READ_BYTES", read_bytes)
    rng = np.random.default_rng(11)
    for n in (1, 2, 7, 50, 3_000):
        values = rng.integers(0, 9, n)
        where = rng.random(n) < 0.3
        for column in (values, on_disk.on_disk(values)):
            np.testing.assert_array_equal(counts_of(column, 12), np.bincount(values, minlength=12))
            np.testing.assert_array_equal(counts_of(column, where=where), np.bincount(values[where]))
            np.testing.assert_array_equal(rows_where(column, lambda block: block % 3 == 1),
                                          np.flatnonzero(values % 3 == 1))
            assert is_ascending(column) == bool(np.all(np.diff(values) >= 0))
            ascending = np.sort(values)
            assert is_ascending(on_disk.on_disk(ascending)) and is_ascending(ascending)
            hits = np.flatnonzero(values == 7)
            assert first_row_where(column, lambda block: block == 7) == (int(hits[0]) if len(hits) else -1)
            assert max_of(column) == values.max()
            targets = np.array([-1, 0, 3, 3.5, 8, 9])
            for ordered in (ascending, ascending[::-1].copy()):
                assert count_below(on_disk.on_disk(ordered), targets).tolist() == \
                    np.searchsorted(ascending, targets).tolist() == count_below(ordered, targets).tolist()
    assert counts_of([], 3).tolist() == [0, 0, 0] and rows_where(np.zeros(0), lambda b: b > 0).tolist() == []
    # a step down exactly between two blocks is seen
    assert not is_ascending(on_disk.on_disk(np.array([0, 1, 2, 3, 4, 5, 6, 0, 9])))


@pytest.mark.parametrize("read_bytes", [8, 56, 1 << 24])
def test_images_holding_equals_sets_of_images(monkeypatch, read_bytes: int):
    """`images_holding` (how many images hold an object of each label, and any object; the report's
    dataset counts), read a block at a time (1, 7 and many rows: an image's objects split over blocks, over
    three too), equals the sets of images the report took before; the objects out of image order too."""
    from evalsite.core import on_disk
    from evalsite.metrics.arrays import images_holding

    monkeypatch.setattr(on_disk, "READ_BYTES", read_bytes)
    rng = np.random.default_rng(5)
    for n, n_images, n_labels in ((0, 3, 2), (1, 1, 1), (9, 2, 3), (60, 7, 4), (3_000, 400, 9)):
        image, label = np.sort(rng.integers(0, n_images, n)), rng.integers(0, n_labels, n)
        where = rng.random(n) < 0.8
        expected = ([len(set(image[where & (label == c)].tolist())) for c in range(n_labels)],
                    len(set(image[where].tolist())))
        shuffled = rng.permutation(n)
        for columns in ((image, label), (on_disk.on_disk(image), on_disk.on_disk(label))):
            per_label, images = images_holding(*columns, where, n_labels)
            assert (per_label.tolist(), images) == expected
        per_label, images = images_holding(image[shuffled], label[shuffled], where[shuffled], n_labels)
        assert (per_label.tolist(), images) == expected


def split_by_labels(inputs: dict, bounds: list[int]):
    """coco_match of each label range [bounds[i], bounds[i+1]) on its own (renumbered from 0, the images and
    the input order kept), as a cluster's tasks run it (evalsite.report.matching_groups)."""
    from evalsite.metrics.coco import coco_match

    for k0, k1 in zip(bounds[:-1], bounds[1:]):
        d = (inputs["dt_label"] >= k0) & (inputs["dt_label"] < k1)
        g = (inputs["gt_label"] >= k0) & (inputs["gt_label"] < k1)
        yield k0, coco_match(inputs["gt_image"][g], inputs["gt_label"][g] - k0, inputs["gt_box"][g],
                             inputs["gt_area"][g], inputs["gt_crowd"][g], inputs["dt_image"][d],
                             inputs["dt_label"][d] - k0, inputs["dt_box"][d], inputs["dt_score"][d], k1 - k0)


@pytest.mark.parametrize("seed", range(0, 400, 40))
def test_label_ranges_matched_apart_give_the_same_numbers_and_evidence(seed):
    """COCO by label groups (a Dask cluster's tasks): the joined summaries give the 12 numbers and the per-label
    APs of the whole evaluation bit for bit, and the groups' evidence, joined in label order, is the whole's."""
    from evalsite.metrics.coco_accumulate import join_label_summaries

    for case_seed in range(seed, seed + 40):
        inputs = arrays(random_case(case_seed))
        whole = coco_evaluate(**inputs)
        assert_same(whole, pycoco(random_case(case_seed)), f"seed {case_seed}")  # the whole is pycocotools'
        K = inputs["n_labels"]
        rng = np.random.default_rng(case_seed)
        bounds = sorted({0, K, *rng.integers(0, K + 1, 2).tolist()})
        parts = list(split_by_labels(inputs, bounds))
        stats, ap, ap50 = join_label_summaries([matches.label_summary() for _, (matches, _) in parts])
        assert stats.tobytes() == whole.stats.tobytes(), case_seed
        assert ap.tobytes() == whole.per_label_ap.tobytes() and ap50.tobytes() == whole.per_label_ap50.tobytes()
        ev = whole.evidence
        assert np.array_equal(np.concatenate([e.dt_label + k0 for k0, (_, e) in parts]), ev.dt_label)
        assert np.array_equal(np.concatenate([e.dt_image for _, (_, e) in parts]), ev.dt_image)
        assert np.array_equal(np.concatenate([e.tp for _, (_, e) in parts], axis=1), ev.tp)
        assert np.array_equal(np.concatenate([e.ignored for _, (_, e) in parts], axis=1), ev.ignored)


def test_counted_rows_are_those_area_all_does_not_ignore(monkeypatch: pytest.MonkeyPatch) -> None:
    """`counted_rows` (a block at a time, columns on disk too) gives the rows that `area_ignored`'s "all" range
    counts, as pycocotools' areaRng [0, 1e10] and iscrowd decide them."""
    from evalsite.core import on_disk
    from evalsite.metrics.coco import area_ignored, counted_rows

    monkeypatch.setattr(on_disk, "READ_BYTES", 24)  # 3 areas a block
    rng = np.random.default_rng(11)
    area = rng.choice([0.0, 5.5, 1e10, 1e10 + 1, 3e11], 50)
    crowd = rng.random(50) < 0.3
    expected = np.flatnonzero(~area_ignored(area, crowd)[0])
    assert 0 < len(expected) < 50
    for given in ((area, crowd), (on_disk.DiskArray(area), on_disk.DiskArray(crowd))):
        assert counted_rows(*given).tolist() == expected.tolist()


def test_matchings_of_image_windows_join_into_the_matching_of_all_images():
    """`join_image_ranges`: the matchings of consecutive windows of images, each matched on its own (as a
    cluster's tasks match a segmentation's large label groups), join into the matching of all images: the same
    arrays, evidence and numbers as one matching, bit for bit, and pycocotools' numbers."""
    joined_cases = 0
    for seed in range(400):
        case = random_case(seed)
        a = arrays(case)
        whole, evidence = coco_match(**a)
        n_images = len(case[0])
        rng = np.random.default_rng(seed)
        cuts = np.unique(np.r_[0, rng.integers(0, n_images + 1, int(rng.integers(1, 4))), n_images])
        parts, scores, images = [], [], []
        for i0, i1 in zip(cuts[:-1], cuts[1:]):
            g = (a["gt_image"] >= i0) & (a["gt_image"] < i1)
            d = (a["dt_image"] >= i0) & (a["dt_image"] < i1)
            window = {k: (v[d] if k.startswith("dt_") else v[g]) if isinstance(v, np.ndarray) else v
                      for k, v in a.items()}
            matches, _ = coco_match(**window, keep_rows=True)
            parts.append(matches)
            scores.append(window["dt_score"][matches.det])
            images.append(window["dt_image"][matches.det])
        joined, order = join_image_ranges(CocoMatches.concatenated(parts), np.concatenate(scores))
        joined_cases += len(parts) > 1
        for name in ("label", "rank", "column_position", "code", "dt_out", "n_positive"):
            assert np.array_equal(getattr(joined, name), getattr(whole, name)), (seed, name)
        again = evidence_of(joined, np.concatenate(images)[order], evidence.gt_image, evidence.gt_label)
        for name in ("dt_image", "dt_label", "tp", "ignored"):
            assert np.array_equal(getattr(again, name), getattr(evidence, name)), (seed, name)
        stats = joined.summary()[0]
        assert np.array_equal(stats, whole.summary()[0]), seed
        assert np.allclose(stats, pycoco(case).stats, rtol=0, atol=TOL), seed
    assert joined_cases > 200
