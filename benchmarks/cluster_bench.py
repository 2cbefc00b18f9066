#!/usr/bin/env python3
"""The Dask path at scale: `evalsite evaluate|build --scheduler` on a cluster of worker processes with a memory
limit each, against the single-process path on the same inputs; time and peak memory of every process.

  python benchmarks/cluster_bench.py --images 200000                 # evaluate, 2 workers of 2 GB (docs/cluster.md)
  python benchmarks/cluster_bench.py --images 20000 --command build  # the whole site
  python benchmarks/cluster_bench.py --images 2000 --no-single        # the cluster only
  python benchmarks/cluster_bench.py --images 20000 --segm            # masks: a segmentation task

**This benchmark depends on a file outside the repository**: the detection data come from the team's shared
generator `make_coco.py` (by default ../shared/bench/make_coco.py beside the checkout; --shared DIR names
another folder), as for benchmarks/coco_bench.py. Its prefix property makes the first N images of any run
the N-image set. Into --data (default $TMPDIR/evalsite-bench-cluster) it writes, once per size:

  cocoN/gt.json, cocoN/dets_bbox.json   make_coco's output
  cocoN/shards/part-KKKK.json            the detections cut by image into shards of --shard-files images
                                         (as distributed inference writes them), streamed: never all in memory
  cocoN/images/                          one flat 640x480 JPEG, hard-linked under every image's name (the
                                         image checks, traits and pictures read real files; the disk holds one)
  cocoN/gt-shards/part-KKKK.json         with --gt-shards: the ground truth cut likewise (same categories in each)
  cocoN-segm/                            with --segm: the same with make_coco's masks (dets_segm.json cut)
  cocoN/task.yaml                        predictions: shards/part-*.json; ground truth: gt.json, or with
                                         --gt-shards gt-shards/part-*.json (then read on the workers too)

Then it starts a real cluster as a user would, `dask scheduler` and `dask worker --nworkers W --nthreads 1
--memory-limit M` (two more processes: the scheduler, the nanny with its workers), runs `evalsite COMMAND
task.yaml --scheduler tcp://...` and, unless --no-single, the same command without it. Peak RSS: the
driver's from os.wait4, each worker's from /proc/<pid>/status VmHWM (read through the scheduler just
before the end), the scheduler's likewise. Temporary files: the peak size of the files without a name each
evalsite process holds open (its on-disk columns), from /proc/<pid>/fd twice a second (Linux). Workers that
died and were restarted by their nanny (over their memory limit, say) are counted from the nannies' log: a
restarted worker's peak is lost with it, and a part lost with it is done on the driver. The two
report.json files must be byte-identical (exit 1 otherwise). A markdown table is printed; --json FILE keeps
the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000
LINKS = 60_000


def make_data(shared: Path, images: int, root: Path, shard_files: int, gt_shards: bool, segm: bool = False) -> Path:
    """make_coco's set of `images` images, its detections (and with `gt_shards` its ground truth) cut into
    shards, the images, the manifest; `segm`: its masks too (a segmentation task)."""
    folder = root / f"coco{images}{'-segm' if segm else ''}"
    if not (folder / "meta.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(shared / "bench" / "make_coco.py"), "--images", str(images), "--out",
                        str(folder), "--jobs", str(os.cpu_count() or 1), *(["--segm"] if segm else [])], check=True,
                       stdout=subprocess.DEVNULL)
    shards = folder / "shards"
    done = shards / f".done-{shard_files}"
    pictured = folder / "images" / ".done"
    gt_done = folder / "gt-shards" / f".done-{shard_files}"
    if not done.is_file() or not pictured.is_file() or (gt_shards and not gt_done.is_file()):
        gt = json.loads((folder / "gt.json").read_text(encoding="utf-8"))
        ids = sorted(im["id"] for im in gt["images"])
        names = [im["file_name"] for im in gt["images"]]
        if gt_shards and not gt_done.is_file():
            _cut_ground_truth(gt, folder / "gt-shards", {image_id: k // shard_files for k, image_id in enumerate(ids)})
            gt_done.write_text("")
        del gt
        if not done.is_file():
            shutil.rmtree(shards, ignore_errors=True)
            shards.mkdir()
            shard_of = {image_id: k // shard_files for k, image_id in enumerate(ids)}
            _cut(folder / ("dets_segm.json" if segm else "dets_bbox.json"), shards, shard_of,
                 -(-len(ids) // shard_files))
            done.write_text("")
        _images(folder / "images", names)
        pictured.write_text("")
    manifest = folder / "task.yaml"
    manifest.write_text(f"name: coco\ntype: {'segmentation' if segm else 'detection'}\nimages: images\nlanguage: en\n"
                        f"ground_truth: {{format: coco, path: {'gt-shards/part-*.json' if gt_shards else 'gt.json'}}}\n"
                        "predictions: {format: coco, path: shards/part-*.json}\n", encoding="utf-8")
    return manifest


def _cut(source: Path, shards: Path, shard_of: dict[int, int], count: int) -> None:
    """Stream make_coco's one-line results list into `count` shard files by image (entries are flat objects but
    for their bbox list, or their mask object before the score, written compactly: they split at '},{')."""
    outs = [open(shards / f"part-{k:04d}.json", "w", encoding="utf-8") for k in range(count)]
    first = [True] * count
    rest = ""
    with open(source, encoding="utf-8") as handle:
        assert handle.read(1) == "["
        while True:
            block = handle.read(1 << 24)
            text = rest + block
            if block:
                pieces = text.split("},{")
                rest = pieces.pop()  # perhaps cut short: completed by the next block
            else:
                body = text.strip().removesuffix("]")
                pieces = body.split("},{") if body else []
            for piece in pieces:
                entry = "{" + piece.removeprefix("{").removesuffix("}") + "}"
                k = shard_of[json.loads(entry)["image_id"]]
                outs[k].write(("[" if first[k] else ",") + entry)
                first[k] = False
            if not block:
                break
    for k, out in enumerate(outs):
        out.write("[]" if first[k] else "]")
        out.close()


def _cut_ground_truth(gt: dict, shards: Path, shard_of: dict[int, int]) -> None:
    """The ground truth as instances files by image, each with all the categories, in the file's order."""
    shutil.rmtree(shards, ignore_errors=True)
    shards.mkdir()
    count = max(shard_of.values(), default=-1) + 1
    parts = [{"images": [], "annotations": [], "categories": gt["categories"]} for _ in range(count)]
    for image in gt["images"]:
        parts[shard_of[image["id"]]]["images"].append(image)
    for ann in gt["annotations"]:
        parts[shard_of[ann["image_id"]]]["annotations"].append(ann)
    for k, part in enumerate(parts):
        (shards / f"part-{k:04d}.json").write_text(json.dumps(part, separators=(",", ":")), encoding="utf-8")


def _images(folder: Path, names: list[str]) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        one = folder / f".one-{k // LINKS}.jpg"  # a file system allows some 65,000 links to one file
        if k % LINKS == 0 and not one.exists():
            Image.new("RGB", (640, 480), (118, 124, 130)).save(one, quality=80)
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(one, target)


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / MB
    return float("nan")


def _vm_hwm() -> tuple[int, float]:
    """(pid, peak RSS MB) of the process that runs it (sent to every worker)."""
    return os.getpid(), _peak_mb(os.getpid())


def _unnamed_files_mb(pid: int) -> float:
    """MB in the process's open files that have no name (its `DiskArray`s: unnamed temporary files)."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).endswith("(deleted)"):
                total += os.stat(fd).st_size
        except OSError:  # closed meanwhile
            continue
    return total / MB


def _run(command: list[str], env: dict) -> dict:
    """Wall and CPU time, peak RSS and the peak of its unnamed temporary files (sampled twice a second)."""
    started = time.perf_counter()
    p = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    disk = [0.0]

    def watch() -> None:
        while p.poll() is None:
            try:
                disk[0] = max(disk[0], _unnamed_files_mb(p.pid))
            except OSError:  # ended meanwhile
                return
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - started
    err = p.stderr.read() if p.stderr else ""
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed ({status}):\n{err[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss * 1024 / MB,
            "temp_disk_mb": disk[0]}


def run_cluster(manifest: Path, command: str, out: Path, workers: int, memory_limit: str, shard_images: int,
                env: dict) -> dict:
    """A scheduler and W workers started as a user would (`dask scheduler`, `dask worker`), the command run
    against them; the driver's, workers' and scheduler's time and peak memory."""
    import distributed

    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "scheduler.json"
        scheduler = subprocess.Popen([dask, "scheduler", "--scheduler-file", str(file), "--port", "0",
                                      "--dashboard-address", ":0"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env)
        nanny = log = None
        try:
            for _ in range(300):
                if file.is_file() and file.stat().st_size:
                    break
                time.sleep(0.1)
            address = json.loads(file.read_text())["address"]
            log = open(Path(tmp) / "workers.log", "w")  # (the nannies' log: their restarts of workers)
            nanny = subprocess.Popen([dask, "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                                      "--memory-limit", memory_limit, "--no-dashboard"],
                                     stdout=subprocess.DEVNULL, stderr=log, env=env)
            with distributed.Client(address, timeout=30) as client:
                client.wait_for_workers(workers, timeout=60)
                target = out if command == "build" else out.with_suffix(".json")
                driver = _run([sys.executable, "-m", "evalsite", command, str(manifest), "-o", str(target), "-q",
                               "--scheduler", address, "--shard-images", str(shard_images)], env)
                peaks = client.run(_vm_hwm)
                sched_peak = client.run_on_scheduler(_vm_hwm)[1]
        finally:
            for p in (nanny, scheduler):
                if p is not None:
                    p.terminate()
                    p.wait(timeout=60)
            if log is not None:
                log.close()
        # a worker that dies (over its memory limit, say) is restarted by its nanny ("Restarting worker"): its
        # peak is then lost with it, and its tasks run again elsewhere (or on the driver, for a lost part)
        restarts = (Path(tmp) / "workers.log").read_text(errors="replace").count("Restarting worker")
    return {"driver": driver, "workers": [peak for _, peak in peaks.values()], "scheduler_mb": sched_peak,
            "worker_restarts": restarts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200_000)
    ap.add_argument("--command", choices=("evaluate", "build"), default="evaluate")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="2GB", help="per worker, as `dask worker --memory-limit` takes it")
    ap.add_argument("--shard-images", type=int, default=2000, help="images per Dask task (--shard-images)")
    ap.add_argument("--shard-files", type=int, default=5000, help="images per predictions shard file")
    ap.add_argument("--gt-shards", action="store_true",
                    help="the ground truth in shard files too (of --shard-files images), read on the workers")
    ap.add_argument("--segm", action="store_true",
                    help="a segmentation task: make_coco's masks too (ground-truth polygons, predicted RLE)")
    ap.add_argument("--no-single", action="store_true", help="skip the single-process run")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "evalsite-bench-cluster")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not (args.shared / "bench" / "make_coco.py").is_file():
        raise SystemExit(f"make_coco.py not found under {args.shared}/bench (give --shared DIR)")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    manifest = make_data(args.shared, args.images, args.data, args.shard_files, args.gt_shards, args.segm)
    out = args.data / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    rows = {"cluster": run_cluster(manifest, args.command, out / "cluster", args.workers, args.memory_limit,
                                   args.shard_images, env)}
    same = None
    if not args.no_single:
        target = out / "single" if args.command == "build" else out / "single.json"
        rows["single"] = {"driver": _run([sys.executable, "-m", "evalsite", args.command, str(manifest), "-o",
                                          str(target), "-q"], env)}
        report = "coco/report.json" if args.command == "build" else ""
        one = (out / "single" / report) if report else out / "single.json"
        two = (out / "cluster" / report) if report else out / "cluster.json"
        same = one.read_bytes() == two.read_bytes()
    meta = json.loads((manifest.parent / "meta.json").read_text(encoding="utf-8"))
    gt = "the ground truth in as many" if args.gt_shards else "one ground-truth file"
    gt += ", with masks (segmentation)" if args.segm else ""
    print(f"\n{args.images:,} images, {meta['dets']:,} detections in {-(-args.images // args.shard_files)} shard "
          f"files, {gt}; `evalsite {args.command}`; {args.workers} workers x {args.memory_limit}, --shard-images "
          f"{args.shard_images}; {platform.machine()}, {os.cpu_count()} cores\n")
    print("| run | process | wall s | CPU s | peak RSS MB | peak temporary files MB |\n|---|---|---:|---:|---:|---:|")
    c = rows["cluster"]
    print(f"| cluster | driver (`--scheduler`) | {c['driver']['wall_s']:.1f} | {c['driver']['cpu_s']:.1f} | "
          f"{c['driver']['peak_mb']:.0f} | {c['driver']['temp_disk_mb']:.0f} |")
    for k, peak in enumerate(c["workers"]):
        print(f"| cluster | worker {k + 1} | | | {peak:.0f} | |")
    print(f"| cluster | scheduler | | | {c['scheduler_mb']:.0f} | |")
    if "single" in rows:
        s = rows["single"]["driver"]
        print(f"| single process | evalsite | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | {s['peak_mb']:.0f} | "
              f"{s['temp_disk_mb']:.0f} |")
    print(f"\nworkers restarted by their nanny: {c['worker_restarts']} (a restarted worker's peak is lost with it)")
    if "single" in rows:
        print(f"report.json identical: {'yes' if same else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps({"images": args.images, "args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": rows, "identical": same}, indent=1), encoding="utf-8")
    if same is False:
        sys.exit(1)


if __name__ == "__main__":
    main()
