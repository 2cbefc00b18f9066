"""benchmarks/site_bench.py (docs/scale.md) runs end to end on a tiny set: it generates the data, builds and
archives each site and reports sane numbers, a mark for every budget, and its exit status by those marks.

The coco and lvis sets take their data from the team's shared generator (bench/make_coco.py in the folder
--shared names), which is not part of the repository: the test gives the benchmark a stand-in, `STAND_IN`, that
writes the same files (gt.json, dets_bbox.json, meta.json) for a few images, so every set runs here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETS = ["coco", "lvis", "imagenet"]
STAND_IN = """
import argparse, json, random
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("--images", type=int); p.add_argument("--out"); p.add_argument("--jobs")
a = p.parse_args()
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
rng = random.Random(0)
images, annotations, dets = [], [], []
for i in range(1, a.images + 1):
    images.append({"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480})
    for k in range(8):
        box = [rng.uniform(0, 500), rng.uniform(0, 380), rng.uniform(20, 120), rng.uniform(20, 90)]
        category = rng.randrange(80) + 1
        annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": category, "bbox": box,
                            "area": box[2] * box[3], "iscrowd": 0})
        if rng.random() < 0.8:
            dets.append({"image_id": i, "category_id": category if rng.random() < 0.8 else rng.randrange(80) + 1,
                         "bbox": [box[0] + 2, box[1], box[2], box[3]], "score": round(rng.random(), 4)})
categories = [{"id": c + 1, "name": f"category {c + 1}", "supercategory": "thing"} for c in range(80)]
(out / "gt.json").write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
(out / "dets_bbox.json").write_text(json.dumps(dets))
(out / "meta.json").write_text(json.dumps({"args": {"images": a.images}}))
"""
BUDGETS = {"build_s", "build_rss", "site_bytes", "site_files", "page_bytes", "data_bytes", "zip_bytes", "zip_files"}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict]:
    tmp = tmp_path_factory.mktemp("site-bench")
    shared = tmp / "shared"
    (shared / "bench").mkdir(parents=True)
    (shared / "bench" / "make_coco.py").write_text(STAND_IN, encoding="utf-8")
    out = tmp / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "site_bench.py"), "--images", "30", "--imagenet-images", "200",
           "--labels", "small", "--sets", *SETS, "--data", str(tmp / "data"), "--shared", str(shared),
           "--json", str(out), "--no-fail", "--timeout", "120"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run, json.loads(out.read_text())


def test_every_set_is_measured_with_sane_numbers(bench) -> None:
    _, report = bench
    results = {r["set"]: r for r in report["results"]}
    assert list(results) == SETS
    for name, r in results.items():
        assert r["images"] == (200 if name == "imagenet" else 30)
        assert r["labels"] == {"coco": 80, "lvis": 120, "imagenet": 50}[name]
        assert r["build"]["exit"] == 0 and 0 < r["build"]["wall_s"] < 120
        assert 50 * 10**6 < r["build"]["rss_bytes"] < 4 * 10**9  # a Python process with numpy, not kB nor GB
        site = r["site"]
        assert site["files"] > 10 and site["bytes"] > 100_000
        assert site["largest_page"][0].endswith(".html") and site["largest_page"][1] > 1000
        data_file = site["largest_data"][0]
        assert data_file.endswith((".js", ".json")) and not data_file.startswith("downloads/")
        assert r["zip"]["files"] == site["files"] and 0 < r["zip"]["bytes"] < site["bytes"]


def test_every_budget_is_checked_and_the_exit_status_follows_them(bench) -> None:
    _, report = bench
    for r in report["results"]:
        assert set(r["checks"]) == BUDGETS  # no --browser: no load time
        for name, check in r["checks"].items():
            assert check["value"] is not None and check["limit"] > 0, name
            assert check["ok"] == (check["value"] <= check["limit"]), name
    assert report["ok"] == all(c["ok"] for r in report["results"] for c in r["checks"].values())
    # A tiny set is far inside the size budgets (time and memory depend on the machine).
    for r in report["results"]:
        assert all(r["checks"][k]["ok"] for k in ("site_bytes", "site_files", "zip_bytes", "zip_files")), r["checks"]


def test_the_table_has_a_row_and_a_mark_per_budget(bench) -> None:
    run, report = bench
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and not line.startswith("| set")]
    assert [row.split("|")[1].strip() for row in rows] == SETS
    for row in rows:
        assert sum(row.count(mark) for mark in "✓✗") == len(BUDGETS), row


def test_lvis_keeps_the_coco_images_and_remaps_the_labels(bench) -> None:
    _, report = bench
    results = {r["set"]: r for r in report["results"]}
    coco, lvis = Path(results["coco"]["data"]), Path(results["lvis"]["data"])
    manifest = (lvis / "task.yaml").read_text(encoding="utf-8")
    assert "coco30/images" in manifest
    gt = json.loads((lvis / "gt.json").read_text())
    assert len(gt["categories"]) == 120
    coco_gt = json.loads((coco / "make_coco" / "gt.json").read_text())
    assert len(gt["annotations"]) == len(coco_gt["annotations"])
    assert len({a["category_id"] for a in gt["annotations"]}) > 40  # the objects spread over the new labels
