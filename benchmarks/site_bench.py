#!/usr/bin/env python3
"""Site scale: build whole report sites at COCO, LVIS and ImageNet size and hold them to their budgets.

  python benchmarks/site_bench.py                         # coco, lvis, imagenet at full size (~15 min)
  python benchmarks/site_bench.py --images 500 --sets coco lvis
  python benchmarks/site_bench.py --images 40 --labels small --json out.json   # a quick run (the test's)
  python benchmarks/site_bench.py --browser               # also opens the pages in headless Chromium

Three sets, generated once into --data (default $TMPDIR/evalsite-bench-site) and reused (meta.json):

  coco      --images images (5,000), 80 labels. **This set depends on a file outside the repository**: the
            detection data come from the team's shared generator `make_coco.py` (by default
            ../shared/bench/make_coco.py beside the checkout; --shared DIR names another folder), as for
            benchmarks/coco_bench.py. The images are drawn here, 640x480 JPEGs: a smooth, noisy background
            with every ground-truth object as a textured shape in its box, so they compress like photos.
  lvis      the same images and detections, the 80 categories remapped deterministically to --lvis-labels
            (1,200) labels: label = 15 * category + hash(image, category) % 15 (wrapped), so a detection
            keeps the label of the ground truth it was made from and every label gets a share of the
            objects, with COCO's long tail.
  imagenet  --imagenet-images (10 x --images: 50,000) small JPEGs (128x128), --classes (1,000) classes,
            ground truth as CSV and a top-5 ranked list per image as JSONL ({"image", "topk"}), about 76%
            top-1 and 93% top-5 correct.

For each set: `evalsite build MANIFEST -o OUT` as one subprocess (the whole site: evaluation, charts,
pictures, pages; wall time and the peak RSS of the process from os.wait4), optionally `evalsite evaluate`
alone (--evaluate), then `evalsite archive` of the site. The site is measured as the build measures it
(evalsite.site.budget.measure): total MB, files, the largest HTML page, the largest data file a page loads
(.js/.json outside downloads/), and the zip's MB and entries. --browser opens index.html and the largest
pages from file:// in headless Chromium (tests/browser.py) and records the slowest load. A markdown table
with a budget mark per column is printed; the exit status is 1 when a budget is broken (unless --no-fail).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SETS = ("coco", "lvis", "imagenet")
MB = 1_000_000
GB = 1_000_000_000
COCO_SIZE = (640, 480)
IMAGENET_SIZE = 128
LABELS = {"full": {"lvis": 1200, "imagenet": 1000}, "small": {"lvis": 120, "imagenet": 50}}
DATA_VERSION = 1  # bump when the generated data change: older folders are made again

# ------------------------------------------------------------------------------------------------ budgets


def time_memory_budget(images: int, labels: int) -> tuple[float, int]:
    """Seconds and bytes of peak RSS a whole build may take (issue 14): 30 s and 1 GB at 5,000 images and 80
    labels; 60 s and 2 GB at 5,000 images and 1,200 labels, at 50,000 images and 1,000 classes and at 10,000
    labels. The benchmark reads them as: up to 10,000 images and 1,000 labels the smaller, otherwise the larger."""
    if images <= 10_000 and labels <= 1_000:
        return 30.0, 1 * GB
    return 60.0, 2 * GB


def checks(res: dict) -> dict[str, dict]:
    """{name: {value, limit, ok}} for every budget of one set's measurement."""
    from evalsite.site.budget import budget_for

    b = budget_for(res["images"])
    seconds, memory = time_memory_budget(res["images"], res["labels"])
    failed = bool(res.get("failed"))  # a failed build is over every budget: its site is not measured (None)
    site, zipped = res.get("site") or {}, res.get("zip") or {}
    out = {
        "build_s": (res["build"]["wall_s"], seconds),
        "build_rss": (res["build"]["rss_bytes"], memory),
        "site_bytes": (site.get("bytes"), b.total_bytes),
        "site_files": (site.get("files"), b.files),
        "page_bytes": (site.get("largest_page", [None, None])[1], b.page_bytes),
        "data_bytes": (site.get("largest_data", [None, None])[1], b.data_bytes),
        "zip_bytes": (zipped.get("bytes"), b.total_bytes),
        "zip_files": (zipped.get("files"), b.files),
    }
    if res.get("browser"):
        out["load_s"] = (res["browser"]["max_load_s"], 3.0)
    return {k: {"value": v, "limit": lim, "ok": not failed and v is not None and v <= lim}
            for k, (v, lim) in out.items()}


# ------------------------------------------------------------------------------------------------ pictures


def _background(rng: np.random.Generator, width: int, height: int, cells: int = 12) -> np.ndarray:
    """A smooth colour field (bilinear upsampling of a coarse random grid) plus fine grain: photo-like JPEG bytes."""
    from PIL import Image

    gh, gw = max(2, cells * height // max(width, height)), max(2, cells * width // max(width, height))
    grid = rng.integers(20, 235, (gh, gw, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(grid).resize((width, height), Image.BILINEAR), dtype=np.int16)
    return field


def _finish(rgb: np.ndarray, rng: np.random.Generator, grain: int) -> np.ndarray:
    noise = rng.integers(-grain, grain + 1, rgb.shape[:2], dtype=np.int16)[..., None]
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def draw_coco_image(path: Path, image_id: int, boxes: list[tuple[list[float], int]], seed: int = 0) -> None:
    """640x480 JPEG: background, then each object (bbox, category index) as a filled ellipse with a
    shaded stripe texture and an outline, in a colour of its category."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, image_id])
    width, height = COCO_SIZE
    canvas = Image.fromarray(_background(rng, width, height).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for (x, y, w, h), cat in sorted(boxes, key=lambda b: -b[0][2] * b[0][3]):  # large first, small on top
        base = np.array([(cat * 67) % 256, (cat * 131 + 40) % 256, (cat * 29 + 90) % 256])
        colour = tuple(int(v) for v in np.clip(base + rng.integers(-30, 31, 3), 0, 255))
        dark = tuple(max(0, c - 70) for c in colour)
        draw.ellipse([x, y, x + max(w, 1), y + max(h, 1)], fill=colour, outline=dark, width=2)
        for k in range(1, 4):  # stripes: edges inside the object, as a real object has
            yy = y + h * k / 4
            draw.line([x + w * 0.2, yy, x + w * 0.8, yy + h * 0.05], fill=dark, width=max(1, int(h / 30)))
    rgb = _finish(np.asarray(canvas, dtype=np.int16), rng, 10)
    Image.fromarray(rgb).save(path, "JPEG", quality=85)


def draw_imagenet_image(path: Path, index: int, label: int, seed: int = 0) -> None:
    """128x128 JPEG: background and one object of its class's colour and shape."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, 7, index])
    canvas = Image.fromarray(_background(rng, IMAGENET_SIZE, IMAGENET_SIZE, 6).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    colour = ((label * 67) % 256, (label * 131 + 40) % 256, (label * 29 + 90) % 256)
    s = IMAGENET_SIZE
    x0, y0 = rng.uniform(0.05, 0.35, 2) * s
    x1, y1 = rng.uniform(0.65, 0.95, 2) * s
    if label % 3 == 0:
        draw.ellipse([x0, y0, x1, y1], fill=colour, outline=(20, 20, 20), width=2)
    elif label % 3 == 1:
        draw.rectangle([x0, y0, x1, y1], fill=colour, outline=(20, 20, 20), width=2)
    else:
        draw.polygon([(x0, y1), ((x0 + x1) / 2, y0), (x1, y1)], fill=colour, outline=(20, 20, 20))
    rgb = _finish(np.asarray(canvas, dtype=np.int16), rng, 8)
    Image.fromarray(rgb).save(path, "JPEG", quality=85)


def _draw_coco_chunk(job: tuple[str, list]) -> int:
    folder, items = job
    for file_name, image_id, boxes in items:
        draw_coco_image(Path(folder) / file_name, image_id, boxes)
    return len(items)


def _draw_imagenet_chunk(job: tuple[str, list]) -> int:
    folder, items = job
    for file_name, index, label in items:
        draw_imagenet_image(Path(folder) / file_name, index, label)
    return len(items)


def _parallel(fn, folder: Path, items: list, jobs: int) -> None:
    chunk = max(1, math.ceil(len(items) / (jobs * 8)))
    work = [(str(folder), items[i:i + chunk]) for i in range(0, len(items), chunk)]
    if jobs > 1 and len(work) > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(jobs) as pool:
            pool.map(fn, work, chunksize=1)
    else:
        for w in work:
            fn(w)


# -------------------------------------------------------------------------------------------------- data


def _fresh(folder: Path, params: dict) -> bool:
    meta = folder / "meta.json"
    return meta.exists() and json.loads(meta.read_text()).get("params") == params


def _done(folder: Path, params: dict, **extra) -> None:
    (folder / "meta.json").write_text(json.dumps({"params": params, **extra}, indent=1))


def _say(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def make_coco(a, data: Path) -> Path:
    """coco{N}: make_coco.py's gt.json and dets_bbox.json, the drawn images, task.yaml."""
    n = a.images
    folder = data / f"coco{n}"
    params = {"version": DATA_VERSION, "images": n, "lang": a.lang}
    if _fresh(folder, params):
        return folder
    t0 = time.perf_counter()
    raw = folder / "make_coco"
    raw_meta = raw / "meta.json"
    if not (raw_meta.exists() and json.loads(raw_meta.read_text())["args"]["images"] == n):
        if not (a.shared / "bench" / "make_coco.py").exists():
            raise SystemExit(f"{a.shared / 'bench' / 'make_coco.py'} not found: the coco and lvis sets need the "
                             "team's shared data generator; name its folder with --shared DIR")
        cmd = [sys.executable, str(a.shared / "bench" / "make_coco.py"), "--images", str(n), "--out", str(raw),
               "--jobs", str(a.jobs)]
        _say("generating:", " ".join(cmd))
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    gt = json.loads((raw / "gt.json").read_text())
    index = {c["id"]: k for k, c in enumerate(gt["categories"])}
    boxes: dict[int, list] = {im["id"]: [] for im in gt["images"]}
    for ann in gt["annotations"]:
        boxes[ann["image_id"]].append((ann["bbox"], index[ann["category_id"]]))
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    _say(f"drawing {n:,} images of {COCO_SIZE[0]}x{COCO_SIZE[1]} into {images}")
    _parallel(_draw_coco_chunk, images, [(im["file_name"], im["id"], boxes[im["id"]]) for im in gt["images"]],
              a.jobs)
    write_manifest(folder, "coco", "detection", "images", "make_coco/gt.json", "make_coco/dets_bbox.json", a.lang)
    _done(folder, params, seconds=round(time.perf_counter() - t0, 1),
          images_bytes=sum(p.stat().st_size for p in images.iterdir()))
    return folder


def write_manifest(folder: Path, name: str, kind: str, images: str, gt: str, pred: str, lang: str,
                   gt_format: str | None = None, pred_format: str | None = None) -> Path:
    g = f"{{format: {gt_format}, path: {gt}}}" if gt_format else gt
    p = f"{{format: {pred_format}, path: {pred}}}" if pred_format else pred
    manifest = folder / "task.yaml"
    manifest.write_text(f"name: {name}\ntype: {kind}\nimages: {images}\nlanguage: {lang}\n"
                        f"ground_truth: {g}\npredictions: {p}\n", encoding="utf-8")
    return manifest


def _hash(*values: int) -> int:
    return int.from_bytes(hashlib.blake2b(repr(values).encode(), digest_size=8).digest(), "little")


def make_lvis(a, data: Path, coco: Path) -> Path:
    """lvis{N}-{L}: the coco set's images and boxes, 80 categories remapped to L labels (ids 1..L)."""
    n, labels = a.images, a.lvis_labels
    folder = data / f"lvis{n}-{labels}"
    params = {"version": DATA_VERSION, "images": n, "labels": labels, "lang": a.lang}
    if _fresh(folder, params):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    gt = json.loads((coco / "make_coco" / "gt.json").read_text())
    dets = json.loads((coco / "make_coco" / "dets_bbox.json").read_text())
    cats = gt["categories"]
    index = {c["id"]: k for k, c in enumerate(cats)}
    spread = max(1, math.ceil(labels / len(cats)))

    def label(image_id: int, category_id: int) -> int:
        c = index[category_id]
        return (spread * c + _hash(image_id, c) % spread) % labels + 1

    for ann in gt["annotations"]:
        ann["category_id"] = label(ann["image_id"], ann["category_id"])
    for det in dets:
        det["category_id"] = label(det["image_id"], det["category_id"])
    gt["categories"] = [{"id": k + 1, "name": f"{cats[(k // spread) % len(cats)]['name']} {k % spread + 1}",
                         "supercategory": cats[(k // spread) % len(cats)]["supercategory"]} for k in range(labels)]
    (folder / "gt.json").write_text(json.dumps(gt, separators=(",", ":")))
    (folder / "dets.json").write_text(json.dumps(dets, separators=(",", ":")))
    write_manifest(folder, "lvis", "detection", os.path.relpath(coco / "images", folder), "gt.json", "dets.json",
                   a.lang, "coco", "coco")
    used = len({ann["category_id"] for ann in gt["annotations"]})
    _done(folder, params, labels_with_ground_truth=used)
    return folder


ADJECTIVES = ("red", "striped", "spotted", "great", "little", "common", "black", "golden", "grey", "white",
              "northern", "wild", "giant", "pygmy", "crested", "horned", "long-tailed", "silver", "green",
              "brown", "blue", "sea", "mountain", "desert", "river")
NOUNS = ("heron", "shark", "fox", "beetle", "teapot", "lantern", "tractor", "violin", "mushroom", "otter",
         "kettle", "canoe", "parrot", "lizard", "bridge", "castle", "piano", "turtle", "goblet", "bison",
         "spider", "scooter", "harp", "falcon", "crab", "jellyfish", "umbrella", "sandal", "pelican", "lemur",
         "tiger", "monitor", "gazelle", "hammer", "snail", "walrus", "stove", "cricket", "salamander", "yak")


def class_name(k: int) -> str:
    """ImageNet-like names ("striped heron"), unique: a number is added past 1,000 classes."""
    name = f"{ADJECTIVES[k % len(ADJECTIVES)]} {NOUNS[(k // len(ADJECTIVES)) % len(NOUNS)]}"
    cycle = len(ADJECTIVES) * len(NOUNS)
    return name if k < cycle else f"{name} {k // cycle + 1}"


def make_imagenet(a, data: Path) -> Path:
    """imagenet{N}-{C}: N JPEGs in val/, gt.csv (image,label) and a top-5 JSONL of ranked predictions."""
    n, classes = a.imagenet_images, a.classes
    folder = data / f"imagenet{n}-{classes}"
    params = {"version": DATA_VERSION, "images": n, "classes": classes, "lang": a.lang}
    if _fresh(folder, params):
        return folder
    t0 = time.perf_counter()
    images = folder / "val"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([0, 1000])
    truth = rng.integers(0, classes, n)
    names = [class_name(k) for k in range(classes)]
    with open(folder / "gt.csv", "w", encoding="utf-8") as gt, open(folder / "topk.jsonl", "w", encoding="utf-8") as pr:
        gt.write("image,label\n")
        for i, t in enumerate(truth.tolist()):
            file_name = f"ILSVRC_val_{i + 1:08d}.JPEG"
            gt.write(f"{file_name},{names[t]}\n")
            neighbours = [(t + d) % classes for d in (1, -1, 2, -2, 3, 5, 8, 13)]
            others = [int(c) for c in rng.permutation(neighbours)[:4]]
            u = rng.random()
            if u < 0.76:
                ranked = [t, *others]
            elif u < 0.93:
                ranked = others[:]
                ranked.insert(int(rng.integers(1, 5)), t)
                ranked = ranked[:5]
            else:
                far = int((t + classes // 2 + rng.integers(0, 7)) % classes)
                ranked = [*others, far]
            scores = np.sort(rng.dirichlet(np.full(6, 0.6)))[::-1][:5]
            topk = [[names[c], round(float(s), 4)] for c, s in zip(ranked, scores)]
            pr.write(json.dumps({"image": file_name, "topk": topk}, ensure_ascii=False) + "\n")
    _say(f"drawing {n:,} images of {IMAGENET_SIZE}x{IMAGENET_SIZE} into {images}")
    _parallel(_draw_imagenet_chunk, images,
              [(f"ILSVRC_val_{i + 1:08d}.JPEG", i, int(t)) for i, t in enumerate(truth.tolist())], a.jobs)
    write_manifest(folder, "imagenet", "classification", "val", "gt.csv", "topk.jsonl", a.lang, "csv", "jsonl")
    _done(folder, params, seconds=round(time.perf_counter() - t0, 1))
    return folder


def generate(a) -> dict[str, Path]:
    a.data.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    if "coco" in a.sets or "lvis" in a.sets:
        made["coco"] = make_coco(a, a.data)
    if "lvis" in a.sets:
        made["lvis"] = make_lvis(a, a.data, made["coco"])
    if "imagenet" in a.sets:
        made["imagenet"] = make_imagenet(a, a.data)
    return {s: made[s] for s in a.sets}


# ----------------------------------------------------------------------------------------------- measuring


def _rss(pid: int) -> int:
    """The resident bytes of a running process now (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(cmd: list[str], timeout: float, max_rss: float = float("inf")) -> dict:
    """One evalsite command as its own process: wall time, CPU time and peak RSS (os.wait4: the largest of the
    process and the children it waited for), the exit code and stderr's tail. The process is killed after
    `timeout` seconds or once its resident memory passes `max_rss` bytes (`killed` says which)."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        deadline, killed = t0 + timeout, None
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                killed = f"after {timeout:.0f} s (--timeout)"
            elif _rss(p.pid) > max_rss:
                killed = f"at {max_rss / GB:.1f} GB of memory (--max-rss)"
            if killed:
                p.kill()
                _, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        p.returncode = code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()
    return dict(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, rss_bytes=usage.ru_maxrss * 1024,
                exit=code, killed=killed, warnings=[ln for ln in tail.splitlines() if ln.strip()][-20:])


def measure_site(site: Path) -> dict:
    """evalsite.site.budget.measure: bytes, files, the largest page and the largest data file a page loads
    (evalsite.site.budget.loaded_by_pages: not the downloads, not report.json)."""
    from evalsite.site.budget import measure

    size = measure(site)
    return dict(bytes=size.total_bytes, files=size.files, largest_page=list(size.largest_page),
                largest_data=list(size.largest_data),
                folders=dict(sorted(size.folders.items(), key=lambda kv: -kv[1])[:8]))


def browse(site: Path, pages: int, timeout_ms: int = 30000) -> dict:
    """index.html and the `pages` largest HTML pages (0: every page) from file:// in headless Chromium: the
    load time of each (navigation start to the end of the load event; a page that does not load within
    Playwright's 30 s counts as 30 s) and the problems tests/browser.py finds."""
    sys.path.insert(0, str(REPO / "tests"))
    from browser import launch_browser, open_page

    html = sorted(site.rglob("*.html"), key=lambda p: -p.stat().st_size)
    chosen = html if pages <= 0 else [site / "index.html", *[p for p in html if p != site / "index.html"][:pages]]
    loads, problems = {}, {}
    from playwright.sync_api import Error as PlaywrightError

    timed_out = []
    with launch_browser() as browser:
        for path in chosen:
            rel = path.relative_to(site).as_posix()
            try:
                page, audit = open_page(browser, path)
            except PlaywrightError as exc:  # no load event within Playwright's 30 s: recorded as 30 s
                loads[rel], problems[rel] = timeout_ms / 1000, [str(exc).splitlines()[0]]
                timed_out.append(rel)
                continue
            loads[rel] = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000
            if not audit.ok:
                problems[rel] = audit.problems()[:5]
            audit.close()
    slowest = max(loads, key=loads.get)
    return dict(pages=len(loads), max_load_s=loads[slowest], slowest=slowest, problems=problems,
                timed_out=timed_out, loads=dict(sorted(loads.items(), key=lambda kv: -kv[1])[:10]))


def label_count(folder: Path, kind: str, a) -> int:
    """The task's labels: the classes of the imagenet set (a small set may miss a few in its ground truth),
    the categories of a COCO ground truth."""
    if kind == "classification":
        return a.classes
    gt = folder / ("make_coco/gt.json" if (folder / "make_coco").exists() else "gt.json")
    return len(json.loads(gt.read_text())["categories"])


def bench_set(name: str, folder: Path, a) -> dict:
    kind = "classification" if name == "imagenet" else "detection"
    images = a.imagenet_images if name == "imagenet" else a.images
    out = a.out / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    evalsite = [sys.executable, "-m", "evalsite"]
    res: dict = dict(set=name, images=images, labels=label_count(folder, kind, a), data=str(folder))
    if a.evaluate:
        _say(f"{name}: evalsite evaluate")
        res["evaluate"] = run([*evalsite, "evaluate", str(folder / "task.yaml"), "-o", str(out / "report.json"),
                               "--quiet"], a.timeout, a.max_rss * GB)
    _say(f"{name}: evalsite build ({images:,} images, {res['labels']:,} labels)")
    res["build"] = build = run([*evalsite, "build", str(folder / "task.yaml"), "-o", str(out / "root"), "--quiet"],
                               a.timeout, a.max_rss * GB)
    site = out / "root" / name
    if build["exit"] or not (site / "index.html").exists():
        res["failed"] = (f"build failed (exit {build['exit']}"
                         + (f", killed {build['killed']}" if build["killed"] else "") + ")")
        _say(f"{name}: {res['failed']} after {build['wall_s']:.0f} s, peak RSS {build['rss_bytes'] / MB:,.0f} MB:\n"
             + "\n".join(build["warnings"][-5:]))
        res["checks"] = checks(res)
        return res
    _say(f"{name}: built in {build['wall_s']:.1f} s, peak RSS {build['rss_bytes'] / MB:.0f} MB")
    res["site"] = measure_site(site)
    zip_path = out / f"{name}.zip"
    res["archive"] = run([*evalsite, "archive", str(site), "-o", str(zip_path), "--quiet"], a.timeout)
    with zipfile.ZipFile(zip_path) as z:
        entries = [i for i in z.infolist() if not i.is_dir()]
    res["zip"] = dict(bytes=zip_path.stat().st_size, files=len(entries))
    if a.browser:
        _say(f"{name}: opening pages in Chromium")
        res["browser"] = browse(site, a.browser_pages)
    res["checks"] = checks(res)
    return res


# --------------------------------------------------------------------------------------------------- table


def _mark(check: dict) -> str:
    return "✓" if check["ok"] else "✗"


def table(results: list[dict]) -> str:
    browser = any(r.get("browser") for r in results)
    head = ["set", "images", "labels", "build s", "peak RSS MB", "site MB", "files", "largest page KB",
            "largest data file KB", "zip MB", "zip files"] + (["slowest page s"] if browser else [])
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in results:
        def cell(key: str, scale: float, fmt: str, c: dict = r["checks"]) -> str:
            value = c[key]["value"]
            return "–" if value is None else f"{format(value / scale if scale != 1 else value, fmt)} {_mark(c[key])}"

        cells = [r["set"], f"{r['images']:,}", f"{r['labels']:,}", cell("build_s", 1, ".1f"),
                 cell("build_rss", MB, ",.0f"), cell("site_bytes", MB, ".1f"), cell("site_files", 1, ","),
                 cell("page_bytes", 1000, ",.0f"), cell("data_bytes", 1000, ",.0f"), cell("zip_bytes", MB, ".1f"),
                 cell("zip_files", 1, ",")]
        if r.get("failed"):
            cells[3] += f" (killed {r['build']['killed']})" if r['build']['killed'] else f" ({r['failed']})"
        if browser:
            cells.append(cell("load_s", 1, ".2f") if r.get("browser") else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(results: list[dict]) -> str:
    lines = []
    for r in results:
        if r.get("failed"):
            lines.append(f"- {r['set']}: {r['failed']} after {r['build']['wall_s']:.0f} s, peak RSS "
                         f"{r['build']['rss_bytes'] / MB:,.0f} MB; CPU {r['build']['cpu_s']:.1f} s")
            continue
        s = r["site"]
        parts = ", ".join(f"{k} {v / MB:.1f} MB" for k, v in list(s["folders"].items())[:4])
        lines.append(f"- {r['set']}: largest page {s['largest_page'][0]}, largest data file {s['largest_data'][0]}; "
                     f"CPU {r['build']['cpu_s']:.1f} s; largest parts: {parts}")
        if r.get("evaluate"):
            lines.append(f"  evaluate alone: {r['evaluate']['wall_s']:.1f} s, "
                         f"{r['evaluate']['rss_bytes'] / MB:,.0f} MB")
        if r.get("browser"):
            b = r["browser"]
            lines.append(f"  browser: {b['pages']} pages, slowest {b['slowest']} {b['max_load_s']:.2f} s"
                         + (f"; no load event within 30 s: {', '.join(b['timed_out'])}" if b["timed_out"] else "")
                         + (f"; problems on {len(b['problems'])} pages" if b["problems"] else ""))
        warned = [w for w in r["build"]["warnings"] if "budget" in w]
        for w in warned[:4]:
            lines.append(f"  build warned: {w}")
        broken = [f"{k} {v['value']:,.4g} > {v['limit']:,.4g}" for k, v in r["checks"].items() if not v["ok"]]
        if broken:
            lines.append("  over budget: " + "; ".join(broken))
    return "\n".join(lines)


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---------------------------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    ap.add_argument("--images", type=int, default=5000, help="images of the coco and lvis sets (default 5,000)")
    ap.add_argument("--imagenet-images", type=int, help="images of the imagenet set (default 10 x --images)")
    ap.add_argument("--labels", choices=sorted(LABELS), default="full",
                    help="full: lvis 1,200 labels, imagenet 1,000 classes; small: 120 and 50 (quick runs)")
    ap.add_argument("--lvis-labels", type=int, help="labels of the lvis set (overrides --labels; e.g. 10000)")
    ap.add_argument("--classes", type=int, help="classes of the imagenet set (overrides --labels)")
    ap.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the pages (default zh)")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "evalsite-bench-site",
                    help="where the generated data and the built sites go (not the repository)")
    ap.add_argument("--out", type=Path, help="where the sites are built (default DATA/sites; replaced each run)")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                    help="folder holding bench/make_coco.py (default ../shared beside the checkout)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes drawing the images")
    ap.add_argument("--generate-only", action="store_true", help="make the data and stop")
    ap.add_argument("--evaluate", action="store_true", help="also time `evalsite evaluate` alone")
    ap.add_argument("--browser", action="store_true",
                    help="open index.html and the largest pages from file:// in headless Chromium")
    ap.add_argument("--browser-pages", type=int, default=20,
                    help="how many of the largest pages --browser opens besides index.html (0: all)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds each evalsite command may take")
    ap.add_argument("--max-rss", type=float, default=8.0,
                    help="GB of resident memory at which an evalsite command is killed (default 8; the row fails)")
    ap.add_argument("--json", type=Path, help="also write every measurement here")
    ap.add_argument("--no-fail", action="store_true", help="exit 0 even when a budget is broken")
    a = ap.parse_args(argv)
    a.imagenet_images = a.imagenet_images or 10 * a.images
    a.lvis_labels = a.lvis_labels or LABELS[a.labels]["lvis"]
    a.classes = a.classes or LABELS[a.labels]["imagenet"]
    a.out = a.out or a.data / "sites"

    if a.browser and not a.generate_only:
        sys.path.insert(0, str(REPO / "tests"))
        from browser import CHROMIUM
        if not CHROMIUM.exists():
            raise SystemExit(f"--browser: Chromium not found at {CHROMIUM} (install the Debian 'chromium' package)")
    t0 = time.perf_counter()
    folders = generate(a)
    _say(f"data ready in {time.perf_counter() - t0:.0f} s: " + ", ".join(str(f) for f in folders.values()))
    if a.generate_only:
        return 0
    import evalsite
    head = (f"evalsite {getattr(evalsite, '__version__', '?')} ({_commit()}), Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    results = []
    for name, folder in folders.items():
        results.append(bench_set(name, folder, a))
        if a.json:  # kept after every set: a long run that stops later still has its numbers
            a.json.write_text(json.dumps(dict(environment=head, ok=None, results=results), indent=1))
    print(f"\nSite scale, {head}\n")
    print(table(results))
    print()
    print(details(results))
    ok = all(c["ok"] for r in results for c in r["checks"].values())
    if a.json:
        a.json.write_text(json.dumps(dict(environment=head, ok=ok, results=results), indent=1))
    if not ok:
        _say("\nOVER BUDGET" + (" (--no-fail: exit 0)" if a.no_fail else ""))
    return 0 if ok or a.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
