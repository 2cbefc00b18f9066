"""Detection metrics stay within 2 GB of address space at 10,000 labels (docs/speed.md, "Many labels"):
COCO's evaluation, the VOC matching with its AP and operating point, the error types and the bootstrap
intervals (VOC and COCO), run in a subprocess under `RLIMIT_AS`, on ~300 images with ~31 objects each. And
the label groups that bound the memory change no number: with a tiny budget (one label per group) every
resampled value and every COCO array is bit for bit the one of a single group.

Run as a script (`python tests/test_many_labels_memory.py LABELS`) it does the work in the current process
and prints its peak resident memory."""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import numpy as np
import pytest

LIMIT = 2 << 30  # bytes of address space (issue 14: a build stays within 2 GB at 10,000 labels)


def many_label_case(n_labels: int, n_images: int = 300, per_image: int = 31, seed: int = 0) -> dict:
    """Deterministic boxes: `per_image` objects per image with random labels out of `n_labels` (a few crowd);
    85% of them found (90% of those with the right label), jittered; plus half as many stray predictions."""
    rng = np.random.default_rng(seed)
    n_gt = n_images * per_image
    gt_image = np.repeat(np.arange(n_images), per_image)
    gt_label = rng.integers(0, n_labels, n_gt)
    wh = 8 + rng.random((n_gt, 2)) * 150
    gt_box = np.hstack([rng.random((n_gt, 2)) * 600, wh])
    found = rng.random(n_gt) < 0.85
    label = np.where(rng.random(n_gt) < 0.9, gt_label, rng.integers(0, n_labels, n_gt))[found]
    box = gt_box[found] + rng.normal(0, 6, (int(found.sum()), 4)) * [1, 1, 0.5, 0.5]
    box[:, 2:] = np.maximum(box[:, 2:], 1)
    n_fp = n_gt // 2
    dt_image = np.r_[gt_image[found], rng.integers(0, n_images, n_fp)]
    dt_label = np.r_[label, rng.integers(0, n_labels, n_fp)]
    dt_box = np.vstack([box, np.hstack([rng.random((n_fp, 2)) * 600, 8 + rng.random((n_fp, 2)) * 150])])
    order = np.argsort(dt_image, kind="stable")
    return dict(gt_image=gt_image, gt_label=gt_label, gt_box=gt_box, gt_area=wh[:, 0] * wh[:, 1] * 0.8,
                gt_crowd=rng.random(n_gt) < 0.01, dt_image=dt_image[order], dt_label=dt_label[order],
                dt_box=dt_box[order], dt_score=np.round(rng.random(len(dt_image)), 3)[order], n_labels=n_labels,
                n_images=n_images)


def detection_metrics(case: dict) -> dict:
    """What `evalsite evaluate` computes for a detection task's metrics (report.detection's
    build_detection_report), but the class-agnostic confusion: COCO's 12 numbers and per-label AP, the VOC
    matching, AP, operating point and error types, and the bootstrap intervals of both."""
    from evalsite.core.detection_data import DetectionData
    from evalsite.metrics import bootstrap as bs
    from evalsite.metrics import coco_bootstrap
    from evalsite.metrics.coco import coco_evaluate
    from evalsite.metrics.detection import evaluate_matching
    from evalsite.metrics.error_types import type_errors

    case = dict(case)
    n_labels, n_images = case.pop("n_labels"), case.pop("n_images")
    coco = coco_evaluate(**case, n_labels=n_labels)
    n_gt = len(case["gt_image"])
    data = DetectionData(labels=[f"label {c}" for c in range(n_labels)], label_ids=np.arange(n_labels),
                         images=[f"{i}.jpg" for i in range(n_images)], image_ids=np.arange(n_images),
                         widths=np.full(n_images, 800), heights=np.full(n_images, 800),
                         gt_image=case["gt_image"], gt_label=case["gt_label"], gt_box=case["gt_box"],
                         gt_area=case["gt_area"], gt_crowd=case["gt_crowd"], gt_difficult=np.zeros(n_gt, bool),
                         gt_id=np.arange(n_gt), dt_image=case["dt_image"], dt_label=case["dt_label"],
                         dt_box=case["dt_box"], dt_score=case["dt_score"])
    matching, ap50, _, sweep = evaluate_matching(data)
    errors = type_errors(matching, data.gt_image, data.gt_label, data.gt_box, data.gt_crowd, data.dt_image,
                         data.dt_label, data.dt_box, data.dt_score, threshold=sweep.point.threshold)
    counted = np.flatnonzero(~matching.ignored)
    order = counted[np.argsort(-data.dt_score[counted], kind="stable")]
    gt = np.flatnonzero(matching.gt_counted)
    weights = bs.resample_weights(n_images)
    voc = bs.detection_resampled(data.dt_image[order], data.dt_label[order], data.dt_score[order],
                                 matching.tp[order].astype(np.int64), data.gt_image[gt], data.gt_label[gt],
                                 n_images, n_labels, sweep.point.threshold, weights)
    boot = coco_bootstrap.coco_resampled(coco.evidence, n_images, n_labels, weights)
    return {"stats": coco.stats, "per_label_ap": coco.per_label_ap, "ap50": ap50,
            "errors": int((errors.dt_code != 0).sum()), "voc": voc, "coco": boot}


def _run_limited(n_labels: int) -> str:
    """Run this file as a script under the address-space limit; its output (the peak), or the failure."""
    code = ("import resource, runpy, sys; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT})); "
            f"sys.argv = [{__file__!r}, '{n_labels}']; runpy.run_path({__file__!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("n_labels", [1_000, 10_000])
def test_detection_metrics_fit_in_2_gb(n_labels):
    out = _run_limited(n_labels)
    assert "peak" in out


def test_label_groups_change_no_number(monkeypatch):
    """One label per group (the smallest budget) gives every resampled value and every COCO array of one
    group for all labels."""
    from evalsite.metrics import bootstrap as bs
    from evalsite.metrics import coco, coco_accumulate

    case = many_label_case(40, n_images=30, per_image=6, seed=3)
    whole = detection_metrics(case)
    full = coco.coco_evaluate(**{k: v for k, v in case.items() if k != "n_images"})
    precision, recall = full.precision, full.recall
    monkeypatch.setattr(bs, "LABEL_BUDGET", 1)
    monkeypatch.setattr(coco_accumulate, "LABEL_BUDGET", 1)
    grouped = detection_metrics(case)
    split = coco.coco_evaluate(**{k: v for k, v in case.items() if k != "n_images"})
    assert np.array_equal(split.precision, precision) and np.array_equal(split.recall, recall)
    assert np.array_equal(grouped["stats"], whole["stats"])
    assert np.array_equal(coco_accumulate.summarize(precision, recall), whole["stats"])  # as from the dense arrays
    assert np.array_equal(grouped["per_label_ap"], whole["per_label_ap"])
    for part in ("voc", "coco"):
        assert whole[part].keys() == grouped[part].keys()
        for name, values in whole[part].items():
            assert np.array_equal(values, grouped[part][name], equal_nan=True), (part, name)


if __name__ == "__main__":
    start = time.perf_counter()
    result = detection_metrics(many_label_case(int(sys.argv[1])))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{sys.argv[1]} labels: peak {peak:.0f} MB resident, {time.perf_counter() - start:.1f} s, "
          f"COCO AP {result['stats'][0]:.4f}")
