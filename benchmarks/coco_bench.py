#!/usr/bin/env python3
"""COCO bbox / segm evaluation: pycocotools vs faster-coco-eval vs hotcoco vs ours, whole processes.

  python benchmarks/coco_bench.py --images 500 5000 [--repeat 3] [--data /tmp/evalsite-bench]
  python benchmarks/coco_bench.py --segm --images 500 5000 --repeat 1     # masks (iouType 'segm')

For each size: generates data with ../shared/bench/make_coco.py (deterministic; reused when present),
runs every tool in its own subprocess --repeat times (pycocotools --slow-repeat times: it takes minutes),
in rounds (each tool once per round, so that the machine's drift touches all alike), records wall time
(median), "× ours" (the median over the rounds of the tool's time ÷ evalsite's in that round) and peak
RSS (os.wait4, per child), checks that the 12 stats agree with
pycocotools (or with the first tool that ran), and prints a markdown table. Ours = the whole
`evalsite evaluate` process (manifest → reading → every detection metric → report.json written).

--segm: the data folder gets an "s" suffix (coco500s; make_coco.py --segm, which also writes
dets_segm.json: compressed RLE, no 'bbox' key); the reference tools use iouType 'segm' on gt.json +
dets_segm.json, evalsite a `type: segmentation` manifest on the same two files. The table then also
gives the input size (MB of the two JSON files) and peak RSS as a multiple of it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("pycocotools", "faster-coco-eval", "hotcoco", "evalsite", "evalsite-no-intervals")
SLOW = {"pycocotools"}


# ------------------------------------------------------------------------------------------------- workers

def inputs(data: Path, segm: bool) -> tuple[Path, Path]:
    """The ground truth and the predictions file of one run."""
    return data / "gt.json", data / ("dets_segm.json" if segm else "dets_bbox.json")


def worker(tool: str, data: Path, segm: bool = False) -> dict:
    gt, dt = map(str, inputs(data, segm))
    iou_type = "segm" if segm else "bbox"
    t0 = time.perf_counter()
    out: dict = {}
    if tool == "evalsite":
        raise SystemExit("evalsite runs as its own command (run_once), not as a worker")
    else:
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            if tool == "pycocotools":
                from pycocotools.coco import COCO
                from pycocotools.cocoeval import COCOeval
                g = COCO(gt)
                E = COCOeval(g, g.loadRes(dt), iou_type)
            elif tool == "faster-coco-eval":
                from faster_coco_eval import COCO, COCOeval_faster
                g = COCO(gt)
                E = COCOeval_faster(g, g.loadRes(dt), iou_type, print_function=print)
            elif tool == "hotcoco":
                from hotcoco import COCO, COCOeval  # pycocotools-compatible API
                g = COCO(gt)
                E = COCOeval(g, g.loadRes(dt), iou_type)
            else:
                raise SystemExit(f"unknown tool {tool}")
            t1 = time.perf_counter()
            E.evaluate()
            E.accumulate()
            E.summarize()
            out.update(load_s=t1 - t0, core_s=time.perf_counter() - t1)
            stats = E.stats
    out["stats"] = [float(s) for s in stats]
    return out


# -------------------------------------------------------------------------------------------------- driver

def _seconds(value: float) -> str:
    return "–" if value != value else f"{value:.2f}"


def make_data(shared: Path, images: int, root: Path, extra: list[str], segm: bool = False) -> Path:
    """coco{N}[s][-extra-args]: generated once (s = with masks, make_coco.py --segm), then reused."""
    extra = [a for a in extra if a != "--segm"]
    out = root / (f"coco{images}" + ("s" if segm else "")
                  + ("-" + "-".join(a.strip("-") for a in extra) if extra else ""))
    meta = out / "meta.json"
    if meta.exists():
        args = json.loads(meta.read_text())["args"]
        if args["images"] == images and (not segm or (args.get("segm") and (out / "dets_segm.json").exists())):
            return out
    cmd = [sys.executable, str(shared / "bench" / "make_coco.py"), "--images", str(images), "--out", str(out),
           "--jobs", str(min(2, os.cpu_count() or 1)), *(["--segm"] if segm else []), *extra]
    print("generating:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def run_evalsite(data: Path, segm: bool = False, extra: tuple[str, ...] = ()) -> dict:
    """`evalsite evaluate` as users run it: a manifest, the whole process, report.json written (`extra`:
    more options, e.g. --no-intervals)."""
    gt, dt = inputs(data, segm)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "images").mkdir()  # the benchmark data has no image files: all are reported missing
        manifest = Path(tmp) / "task.yaml"
        manifest.write_text(f"name: bench\ntype: {'segmentation' if segm else 'detection'}\nimages: images\n"
                            f"ground_truth: {{format: coco, path: {gt}}}\n"
                            f"predictions: {{format: coco, path: {dt}}}\n")
        report = Path(tmp) / "report.json"
        t0 = time.perf_counter()
        with tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen([sys.executable, "-m", "evalsite", "evaluate", str(manifest), "-o", str(report),
                                  "--quiet", *extra], cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            if os.waitstatus_to_exitcode(status):
                err.seek(0)
                tail = "".join(err.read().splitlines(keepends=True)[-20:])
                raise SystemExit(f"evalsite evaluate failed on {data} (exit {os.waitstatus_to_exitcode(status)})"
                                 f":\n{tail}")
        coco = json.loads(report.read_text())["metrics"]["coco"]
    names = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
    return dict(stats=[coco[k] for k in names], wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime,
                rss_mb=usage.ru_maxrss / 1024.0, load_s=float("nan"), core_s=float("nan"))


def run_once(tool: str, data: Path, segm: bool = False) -> dict:
    if tool == "evalsite":
        return run_evalsite(data, segm)
    if tool == "evalsite-no-intervals":
        return run_evalsite(data, segm, ("--no-intervals",))
    with tempfile.TemporaryFile("w+") as f:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, __file__, "--worker", tool, "--data", str(data),
                              *(["--segm"] if segm else [])], stdout=f)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode:
            raise SystemExit(f"{tool} failed on {data} (exit {p.returncode})")
        f.seek(0)
        out = json.loads(f.read())
    out.update(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, rss_mb=usage.ru_maxrss / 1024.0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, nargs="+", default=[500, 5000])
    ap.add_argument("--segm", action="store_true",
                    help="masks: iouType 'segm' on dets_segm.json, evalsite `type: segmentation`")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool (median reported)")
    ap.add_argument("--slow-repeat", type=int, default=1, help="runs for pycocotools")
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds to wait before each run (on a virtual machine a process started right after a "
                         "large one ended can get much more system time)")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "evalsite-bench",
                    help="where generated data goes (not the repository)")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                    help="folder holding bench/make_coco.py")
    ap.add_argument("--make-args", nargs=argparse.REMAINDER, default=[],
                    help="extra make_coco.py options, e.g. --score-decimals 2 --det-decimals 0 (put last)")
    ap.add_argument("--json", type=Path, help="also write all measurements here")
    ap.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a.data, a.segm)))
        return 0

    rows, everything = [], []
    ok = True
    for n in a.images:
        data = make_data(a.shared, n, a.data, a.make_args, a.segm)
        meta = json.loads((data / "meta.json").read_text())
        input_mb = sum(p.stat().st_size for p in inputs(data, a.segm)) / 2**20
        res = {}
        # Round by round, every tool once per round (A B C A B C ...), so that the machine's drift (other jobs,
        # a slower hour) touches every tool alike; "× ours" is the median of the rounds' own ratios.
        counts = {tool: a.slow_repeat if tool in SLOW else a.repeat for tool in a.tools}
        all_runs: dict[str, list[dict]] = {tool: [] for tool in a.tools}
        for k in range(max(counts.values(), default=0)):
            for tool in a.tools:
                if k < counts[tool]:
                    time.sleep(a.pause)
                    all_runs[tool].append(run_once(tool, data, a.segm))
        for tool in a.tools:
            runs = all_runs[tool]
            res[tool] = dict(
                wall_s=statistics.median(r["wall_s"] for r in runs),
                cpu_s=statistics.median(r["cpu_s"] for r in runs),
                rss_mb=max(r["rss_mb"] for r in runs),
                core_s=statistics.median(r["core_s"] for r in runs),
                load_s=statistics.median(r["load_s"] for r in runs), stats=runs[0]["stats"], runs=len(runs))
            if "evalsite" in all_runs:
                res[tool]["paired"] = statistics.median(
                    r["wall_s"] / o["wall_s"] for r, o in zip(runs, all_runs["evalsite"]))
            print(f"{n} {tool}: {res[tool]['wall_s']:.2f} s", file=sys.stderr)
        ref_tool = "pycocotools" if "pycocotools" in res else a.tools[0]
        ref = res[ref_tool]["stats"]
        ours = res.get("evalsite")
        for tool, r in res.items():
            diff = max(abs(x - y) for x, y in zip(r["stats"], ref))
            same = r["stats"] == ref
            ok &= diff <= 1e-9
            rows.append((n, meta["dets"], tool, r, diff, same, ours, input_mb))
        everything.append(dict(images=n, data=str(data), gt=meta["gt"], dets=meta["dets"], input_mb=input_mb,
                               iou_type="segm" if a.segm else "bbox", results=res))

    print(f"\nCOCO {'segm' if a.segm else 'bbox'}, whole process (median of {a.repeat}; "
          f"pycocotools {a.slow_repeat}), Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    mem_h, mem_a = (" input MB | RSS ÷ input |", "---:|---:|") if a.segm else ("", "")
    print("| images | dets | tool | wall s | × ours | CPU s | import+load s | eval s | peak RSS MB |" + mem_h
          + " 12 stats vs pycocotools |")  # (or vs the first tool when pycocotools is not run)
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|" + mem_a + "---|")
    for n, nd, tool, r, diff, same, ours, input_mb in rows:
        x = r.get("paired") if ours else None
        ratio = "—" if x is None else f"{x:.1f}" if x >= 1 else f"{x:.2f}"
        ref_tool = "pycocotools" if "pycocotools" in a.tools else a.tools[0]
        agree = "reference" if tool == ref_tool else "identical" if same else f"max Δ {diff:.1e}"
        if tool != ref_tool and ref_tool != "pycocotools":
            agree += f" to {ref_tool}"
        print(f"| {n:,} | {nd:,} | {tool} | {r['wall_s']:.2f} | {ratio} | {r['cpu_s']:.2f} "
              f"| {_seconds(r['load_s'])} "  # evalsite is one command: no split into load and eval
              f"| {_seconds(r['core_s'])} "
              f"| {r['rss_mb']:.0f} |"
              + (f" {input_mb:.1f} | {r['rss_mb'] / input_mb:.1f} |" if a.segm else "")
              + f" {agree} |")
    if a.json:
        a.json.write_text(json.dumps(everything, indent=1))
    if not ok:
        print("\nSTATS DISAGREE (> 1e-9)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
