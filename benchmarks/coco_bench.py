#!/usr/bin/env python3
"""COCO bbox evaluation: pycocotools vs faster-coco-eval vs hotcoco vs ours, whole processes.

  python benchmarks/coco_bench.py --images 500 5000 [--repeat 3] [--data /tmp/evalsite-bench]

For each size: generates data with ../shared/bench/make_coco.py (deterministic; reused when present),
runs every tool in its own subprocess --repeat times (pycocotools --slow-repeat times: it takes minutes),
records wall time (median) and peak RSS (os.wait4, per child), checks that the 12 stats agree with
pycocotools (or with the first tool that ran), and prints a markdown table. Ours = the whole
`evalsite evaluate` process (manifest → reading → every detection metric → report.json written).
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
TOOLS = ("pycocotools", "faster-coco-eval", "hotcoco", "evalsite")
SLOW = {"pycocotools"}


# ------------------------------------------------------------------------------------------------- workers

def worker(tool: str, data: Path) -> dict:
    gt, dt = str(data / "gt.json"), str(data / "dets_bbox.json")
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
                E = COCOeval(g, g.loadRes(dt), "bbox")
            elif tool == "faster-coco-eval":
                from faster_coco_eval import COCO, COCOeval_faster
                g = COCO(gt)
                E = COCOeval_faster(g, g.loadRes(dt), "bbox", print_function=print)
            elif tool == "hotcoco":
                from hotcoco import COCO, COCOeval  # pycocotools-compatible API
                g = COCO(gt)
                E = COCOeval(g, g.loadRes(dt), "bbox")
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

def make_data(shared: Path, images: int, root: Path, extra: list[str]) -> Path:
    out = root / (f"coco{images}" + ("-" + "-".join(a.strip("-") for a in extra) if extra else ""))
    meta = out / "meta.json"
    if meta.exists() and json.loads(meta.read_text())["args"]["images"] == images:
        return out
    cmd = [sys.executable, str(shared / "bench" / "make_coco.py"), "--images", str(images), "--out", str(out),
           "--jobs", str(min(2, os.cpu_count() or 1)), *extra]
    print("generating:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def run_evalsite(data: Path) -> dict:
    """`evalsite evaluate` as users run it: a manifest, the whole process, report.json written."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "images").mkdir()  # the benchmark data has no image files: all are reported missing
        manifest = Path(tmp) / "task.yaml"
        manifest.write_text(f"name: bench\ntype: detection\nimages: images\n"
                            f"ground_truth: {{format: coco, path: {data / 'gt.json'}}}\n"
                            f"predictions: {{format: coco, path: {data / 'dets_bbox.json'}}}\n")
        report = Path(tmp) / "report.json"
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "generator", "evaluate", str(manifest), "-o", str(report),
                              "--quiet"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"evalsite evaluate failed on {data}")
        coco = json.loads(report.read_text())["metrics"]["coco"]
    names = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
    return dict(stats=[coco[k] for k in names], wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime,
                rss_mb=usage.ru_maxrss / 1024.0, load_s=float("nan"), core_s=float("nan"))


def run_once(tool: str, data: Path) -> dict:
    if tool == "evalsite":
        return run_evalsite(data)
    with tempfile.TemporaryFile("w+") as f:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, __file__, "--worker", tool, "--data", str(data)], stdout=f)
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
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool (median reported)")
    ap.add_argument("--slow-repeat", type=int, default=1, help="runs for pycocotools")
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
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
        print(json.dumps(worker(a.worker, a.data)))
        return 0

    rows, everything = [], []
    ok = True
    for n in a.images:
        data = make_data(a.shared, n, a.data, a.make_args)
        meta = json.loads((data / "meta.json").read_text())
        res = {}
        for tool in a.tools:
            runs = [run_once(tool, data) for _ in range(a.slow_repeat if tool in SLOW else a.repeat)]
            res[tool] = dict(
                wall_s=statistics.median(r["wall_s"] for r in runs),
                cpu_s=statistics.median(r["cpu_s"] for r in runs),
                rss_mb=max(r["rss_mb"] for r in runs),
                core_s=statistics.median(r["core_s"] for r in runs),
                load_s=statistics.median(r["load_s"] for r in runs), stats=runs[0]["stats"], runs=len(runs))
            print(f"{n} {tool}: {res[tool]['wall_s']:.2f} s", file=sys.stderr)
        ref_tool = "pycocotools" if "pycocotools" in res else a.tools[0]
        ref = res[ref_tool]["stats"]
        ours = res.get("evalsite")
        for tool, r in res.items():
            diff = max(abs(x - y) for x, y in zip(r["stats"], ref))
            same = r["stats"] == ref
            ok &= diff <= 1e-9
            rows.append((n, meta["dets"], tool, r, diff, same, ours))
        everything.append(dict(images=n, data=str(data), gt=meta["gt"], dets=meta["dets"], results=res))

    print(f"\nCOCO bbox, whole process (median of {a.repeat}; pycocotools {a.slow_repeat}), "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| images | dets | tool | wall s | × ours | CPU s | import+load s | eval s | peak RSS MB "
          "| 12 stats vs pycocotools |")  # (or vs the first tool when pycocotools is not run)
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for n, nd, tool, r, diff, same, ours in rows:
        ratio = f"{r['wall_s'] / ours['wall_s']:.1f}" if ours else "—"
        ref_tool = "pycocotools" if "pycocotools" in a.tools else a.tools[0]
        agree = "reference" if tool == ref_tool else "identical" if same else f"max Δ {diff:.1e}"
        if tool != ref_tool and ref_tool != "pycocotools":
            agree += f" to {ref_tool}"
        print(f"| {n:,} | {nd:,} | {tool} | {r['wall_s']:.2f} | {ratio} | {r['cpu_s']:.2f} "
              f"| {r['load_s']:.2f} "
              f"| {r['core_s']:.2f} "
              f"| {r['rss_mb']:.0f} | {agree} |")
    if a.json:
        a.json.write_text(json.dumps(everything, indent=1))
    if not ok:
        print("\nSTATS DISAGREE (> 1e-9)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
