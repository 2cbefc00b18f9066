"""The Dask path (`--scheduler`, evalsite.core.cluster; docs/cluster.md) on a LocalCluster of 2 worker
processes: the same report.json and the same site, byte for byte, as the single-process path, whatever the
shard size; the per-image work really runs on the workers; a worker killed mid-run changes nothing; an
unreachable scheduler and a missing Dask are one-line errors with exit status 2; nothing imports Dask
without a scheduler."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

distributed = pytest.importorskip("distributed")  # the test extra has it: an ImportError here is a broken install

from evalsite.cli import main  # noqa: E402
from evalsite.core.cluster import CONNECT_TIMEOUT  # noqa: E402

from conftest import assert_one_line_error, listing, write_task  # noqa: E402

EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes (one thread each), as `--scheduler local:2` starts."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from evalsite.demo.detection import write_detection_inputs
    from evalsite.demo.segmentation import write_segmentation_inputs

    root = tmp_path_factory.mktemp("cluster-inputs")
    return {"detection": write_detection_inputs(root / "det", "en", n_train=40, n_eval=30),
            "segmentation": write_segmentation_inputs(root / "seg", "en", n_train=40, n_eval=16),
            "classification": write_task(root / "cls", ["cat", "dog", "bird", "fish"], n_images=40, missing=2)}


def _build(manifest: Path, out: Path, monkeypatch: pytest.MonkeyPatch, *options) -> dict[str, bytes]:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    result = run("build", manifest, "-o", out, "--quiet", *options)
    assert result.exit_code == 0, result.output
    return listing(out)


@pytest.mark.parametrize("kind", ["detection", "segmentation", "classification"])
def test_site_on_the_cluster_is_the_single_process_site(kind: str, inputs: dict[str, Path], client,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = inputs[kind]
    alone = _build(manifest, tmp_path / "alone", monkeypatch)
    with distributed.get_task_stream(client) as stream:
        spread = _build(manifest, tmp_path / "cluster", monkeypatch, "--scheduler", client.scheduler.address,
                        "--shard-images", "3")
    assert alone.keys() == spread.keys()
    assert [name for name in alone if alone[name] != spread[name]] == []
    ran = [task for task in stream.data if task["key"].startswith("_run_shard")]
    assert len(ran) >= 4  # image checks, traits and pictures, in shards of 3 images
    assert {task["worker"] for task in ran} == set(client.scheduler_info()["workers"])  # both workers worked


def test_local_scheduler_option_starts_its_own_cluster(inputs: dict[str, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    for out, options in (("a", ()), ("b", ("--scheduler", "local:2", "--shard-images", "7"))):
        result = run("evaluate", inputs["detection"], "-o", tmp_path / f"{out}.json", "--quiet", *options)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_python_api_takes_a_client(inputs: dict[str, Path], client, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import evalsite

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    alone = evalsite.evaluate(inputs["segmentation"])
    spread = evalsite.evaluate(inputs["segmentation"], scheduler=client, shard_images=2)
    assert alone.to_json() == spread.to_json()
    site = evalsite.build_site(spread, tmp_path / "out", images=inputs["segmentation"].parent / "images",
                               scheduler=client, shard_images=5, overview=False)
    assert (site / "index.html").is_file()
    assert client.status == "running"  # a client given is the caller's: not closed


class KillOnce(distributed.WorkerPlugin):
    """Ends its worker's process the first time any worker starts a task (a marker file says it happened)."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)


def test_a_worker_killed_mid_run_changes_nothing(inputs: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = inputs["detection"]
    alone = _build(manifest, tmp_path / "alone", monkeypatch)
    marker = tmp_path / "killed"
    # its own cluster: the killed worker's nanny starts a new one, which the plugin reaches too
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        c.register_plugin(KillOnce(str(marker)))
        spread = _build(manifest, tmp_path / "cluster", monkeypatch, "--scheduler", c.scheduler.address,
                        "--shard-images", "4")
    assert marker.is_file()  # a worker did die
    assert [name for name in alone if alone[name] != spread.get(name)] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KillEachOnce(distributed.WorkerPlugin):
    """Ends every worker's process at its first task, once per worker name (the nanny's restart keeps it)."""

    def __init__(self, folder: str):
        self.folder = folder

    def setup(self, worker):
        self.marker = Path(self.folder) / f"killed-{worker.name}"

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)


def test_every_worker_killed_once_changes_nothing(inputs: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # every worker that held the work function dies: it must be recomputed, not lost (a lost one cancelled
    # the whole run when it was scattered)
    manifest = inputs["detection"]
    alone = _build(manifest, tmp_path / "alone", monkeypatch)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        c.register_plugin(KillEachOnce(str(tmp_path)))
        spread = _build(manifest, tmp_path / "cluster", monkeypatch, "--scheduler", c.scheduler.address,
                        "--shard-images", "4")
    assert sorted(p.name for p in tmp_path.glob("killed-*")) == ["killed-0", "killed-1"]
    assert [name for name in alone if alone[name] != spread.get(name)] == []


def _slow_item(item: int) -> int:
    time.sleep(0.5)
    return item


def test_cancelled_tasks_are_a_cluster_error(client) -> None:
    import threading

    from evalsite.core.cluster import map_shards, on_cluster
    from evalsite.core.errors import ClusterError

    def cancel_all() -> None:
        time.sleep(1.0)
        client.cancel([distributed.Future(key, client) for key in list(client.futures)], force=True)

    with on_cluster(client, shard_images=1) as cluster:
        threading.Thread(target=cancel_all, daemon=True).start()
        with pytest.raises(ClusterError, match="cancelled this run's tasks"):
            map_shards(cluster, _slow_item, list(range(8)))


def test_a_ground_truth_files_columns_come_back_in_pieces_onto_the_disk(inputs: dict[str, Path], client,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # One COCO ground-truth file is parsed by a worker; its large columns are taken back a piece at a time onto
    # the driver's disk (here pieces of 64 bytes), never whole in its memory: the same columns as one process
    # reads.
    import yaml

    from evalsite.core import cluster
    from evalsite.core.cluster import on_cluster
    from evalsite.core.on_disk import DiskArray
    from evalsite.formats.coco_ground_truth import coco_ground_truth

    manifest = inputs["detection"]
    spec = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    path, images = manifest.parent / spec["ground_truth"]["path"], manifest.parent / spec["images"]
    alone = coco_ground_truth(path, images, None, False)
    monkeypatch.setattr(cluster, "BACK_BYTES", 64)
    with distributed.get_task_stream(client) as stream, on_cluster(client, shard_images=4):
        spread = coco_ground_truth(path, images, None, False)
    assert isinstance(spread.gt_box, DiskArray) and isinstance(spread.gt_area, DiskArray)
    for name in ("image_ids", "widths", "heights", "gt_image", "gt_label", "gt_box", "gt_area", "gt_crowd", "gt_id"):
        mine, theirs = np.asarray(getattr(spread, name)), getattr(alone, name)
        assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes(), name
    assert spread.images == alone.images and spread.labels == alone.labels
    pieces = [task for task in stream.data if task["key"].startswith("_rows_at-")]
    assert len(pieces) > len(alone.gt_box) * 32 // 64  # (the boxes alone: 32 bytes each)


def test_images_are_found_and_checked_on_the_workers_as_in_one_process(client, tmp_path: Path) -> None:
    # With a cluster each shard of images is found and checked by a task (the workers see the images' root) and
    # comes back as columns (ImageChecks): the same checks, in the same order, as in one process; an image
    # leading outside the root is never opened there either.
    from PIL import Image

    from evalsite.core.cluster import on_cluster
    from evalsite.core.image_info import ImageChecks, ImageInfo
    from evalsite.formats.images import OUTSIDE, inspect_images

    root, elsewhere = tmp_path / "images", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    Image.new("RGB", (6, 4)).save(root / "a.png")
    Image.new("RGB", (3, 5)).save(root / "c.jpg")
    (root / "broken.png").write_bytes(b"not an image")
    Image.new("RGB", (2, 2)).save(elsewhere / "x.png")
    (root / "outside.png").symlink_to(elsewhere / "x.png")
    names = ["a.png", "gone.png", "broken.png", "outside.png", "c.jpg", "a.png", "gone/deeper.png"]
    alone = inspect_images(root, names)
    seen = []
    with on_cluster(client, shard_images=2) as cluster:
        spread = inspect_images(root, names, seen.append)
        assert cluster is not None
    assert isinstance(spread, ImageChecks) and list(spread) == list(alone)
    assert sum(seen) == len(names) and len(seen) == 4  # (a step per shard's task)
    assert spread[0] == ImageInfo("ok", 6, 4) and spread[4] == ImageInfo("ok", 3, 5)
    assert [info.status for info in spread] == ["ok", "missing", "unreadable", "unreadable", "ok", "ok", "missing"]
    assert spread[3].problem == OUTSIDE and "corrupt" in spread[2].problem
    assert list(spread[2:5]) == list(alone)[2:5] and spread.with_status("missing") == 2


def test_unreachable_scheduler_is_exit_2_within_the_timeout(inputs: dict[str, Path], tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    result = run("build", inputs["classification"], "-o", tmp_path / "out", "--quiet", "--scheduler", address)
    took = time.monotonic() - started
    assert result.exit_code == 2
    assert_one_line_error(result, f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT:g} s")
    assert took < CONNECT_TIMEOUT + 5
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("value", "problem"), [("local:0", "needs at least one worker"),
                                                ("my-cluster", "expected local, local:N or a scheduler address")])
def test_bad_scheduler_value(value: str, problem: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    result = run("evaluate", inputs["classification"], "-o", tmp_path / "r.json", "--scheduler", value)
    assert result.exit_code == 2
    assert_one_line_error(result, problem)


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **EPOCH})


def test_nothing_imports_dask_without_a_scheduler(inputs: dict[str, Path], tmp_path: Path) -> None:
    code = (f"import sys\nfrom click.testing import CliRunner\nfrom evalsite.cli import main\n"
            f"r = CliRunner().invoke(main, ['build', {str(inputs['detection'])!r}, '-o', 'out', '-q'])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_scheduler_without_dask_installed_is_exit_2_with_the_fix(inputs: dict[str, Path], tmp_path: Path) -> None:
    code = ("import sys\nsys.modules['distributed'] = None  # as if the dask extra were not installed\n"
            "from evalsite.cli import main\n"
            f"main(['evaluate', {str(inputs['classification'])!r}, '-o', 'r.json', '--scheduler', 'local:2'])\n")
    done = _python(code, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        'error: a Dask scheduler was asked for, but Dask is not installed: pip install "evalsite[dask]"']
    assert not (tmp_path / "r.json").exists()


# ---------------------------------------------------------------------------------------- sharded predictions

def _shard(manifest: Path, pattern: str, fmt: str) -> tuple[Path, Path]:
    """COCO results shards (entries cut in three, an image's detections may straddle two) or JSONL shards (one
    line per image, images dealt round-robin), and the one file of their concatenation in sorted-name order;
    two manifests: the shards by `pattern`, the one file."""
    folder = manifest.parent
    results = json.loads((folder / "predictions.json").read_text(encoding="utf-8"))
    gt = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    (folder / f"shards-{fmt}").mkdir(exist_ok=True)
    if fmt == "coco":
        cut = [0, len(results) // 3 + 1, 2 * len(results) // 3 + 1, len(results)]
        parts = [json.dumps(results[cut[k]:cut[k + 1]]) for k in range(3)]
        suffix, joined = "json", json.dumps(results[:cut[3]])
    else:
        names = {im["id"]: im["file_name"] for im in gt["images"]}
        labels = {c["id"]: c["name"] for c in gt["categories"]}
        by_image: dict[int, list] = {}
        for r in results:
            by_image.setdefault(r["image_id"], []).append(
                {"label": labels[r["category_id"]], "score": r["score"], "bbox": r["bbox"],
                 **({"segmentation": r["segmentation"]} if "segmentation" in r else {})})
        ids = sorted(by_image)
        parts = ["".join(json.dumps({"image": names[i], "predictions": by_image[i]}) + "\n" for i in ids[k::3])
                 for k in range(3)]
        suffix, joined = "jsonl", "".join(parts)
    for k, text in enumerate(parts):
        (folder / f"shards-{fmt}" / f"part-{k}.{suffix}").write_text(text, encoding="utf-8")
    (folder / f"joined.{suffix}").write_text(joined, encoding="utf-8")
    text = manifest.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("predictions:"))
    manifests = []
    for name, path in ((f"shards-{fmt}", pattern), (f"joined-{fmt}", f"joined.{suffix}")):
        m = folder / f"{name}.yaml"
        m.write_text(text.replace(line, f"predictions: {json.dumps({'format': fmt, 'path': path})}"),
                     encoding="utf-8")
        manifests.append(m)
    return manifests[0], manifests[1]


def _report(manifest: Path, out: Path, *options) -> dict:
    result = run("evaluate", manifest, "-o", out, "--quiet", *options)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    for notice in report["notices"]:
        notice["file"] = None  # names the shards or the one file
    report["task"]["inputs"] = None
    return report


@pytest.mark.parametrize(("kind", "fmt", "pattern"), [
    ("detection", "coco", "shards-coco"),  # a folder of shards
    ("detection", "jsonl", "shards-jsonl/part-*.jsonl"),
    ("segmentation", "coco", "shards-coco/*.json"),
    ("segmentation", "jsonl", "shards-jsonl"),
])
def test_shards_give_the_report_of_their_concatenation(kind: str, fmt: str, pattern: str, inputs, client,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    sharded, joined = _shard(inputs[kind], pattern, fmt)
    one = _report(joined, tmp_path / "one.json")
    assert _report(sharded, tmp_path / "shards.json") == one
    with distributed.get_task_stream(client) as stream:
        assert _report(sharded, tmp_path / "cluster.json", "--scheduler", client.scheduler.address) == one
    assert sum(task["key"].startswith("_run_shard") for task in stream.data) >= 3  # a task per shard file


def test_sharded_coco_results_match_pycocotools(inputs, tmp_path: Path) -> None:
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    sharded, _ = _shard(inputs["detection"], "shards-coco/part-*.json", "coco")
    folder = sharded.parent
    data = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    for annotation in data["annotations"]:  # the demo's ids start at 0, which pycocotools takes for "no match"
        annotation["id"] += 1
    gt = COCO()
    gt.dataset = data
    gt.createIndex()
    entries = [e for f in sorted((folder / "shards-coco").glob("part-*.json"))
               for e in json.loads(f.read_text(encoding="utf-8"))]
    ev = COCOeval(gt, gt.loadRes(entries), "bbox")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    report = _report(sharded, tmp_path / "r.json")
    assert list(report["metrics"]["coco"].values()) == pytest.approx(list(ev.stats), abs=1e-12)


def test_shard_errors_name_the_shard_and_its_record(inputs, tmp_path: Path) -> None:
    sharded, _ = _shard(inputs["detection"], "shards-jsonl/*.jsonl", "jsonl")
    shards = sharded.parent / "shards-jsonl"
    lines = (shards / "part-1.jsonl").read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[1])
    bad["predictions"][0]["score"] = "high"
    (shards / "part-1.jsonl").write_text("\n".join([lines[0], json.dumps(bad), *lines[2:]]) + "\n", encoding="utf-8")
    result = run("evaluate", sharded, "-o", tmp_path / "r.json")
    assert result.exit_code == 2
    assert_one_line_error(result, f"{shards / 'part-1.jsonl'}, line 2, prediction 1")
    # the same image in two shards
    (shards / "part-1.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (shards / "part-3.jsonl").write_text(lines[0] + "\n", encoding="utf-8")
    image = json.loads(lines[0])["image"]
    result = run("evaluate", sharded, "-o", tmp_path / "r.json")
    assert result.exit_code == 2
    assert_one_line_error(result, f"{shards / 'part-3.jsonl'}, line 1: a second line for image {image!r} (first in "
                                  f"{shards / 'part-1.jsonl'}, line 1)")
    assert not (tmp_path / "r.json").exists()


def test_a_pattern_matching_nothing_is_exit_2(inputs, tmp_path: Path) -> None:
    manifest = inputs["detection"]
    text = manifest.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("predictions:"))
    m = manifest.parent / "nothing.yaml"
    m.write_text(text.replace(line, 'predictions: {format: jsonl, path: "nowhere/*.jsonl"}'), encoding="utf-8")
    result = run("evaluate", m, "-o", tmp_path / "r.json")
    assert result.exit_code == 2
    assert_one_line_error(result, "nowhere/*.jsonl: no file matches this pattern")


def test_a_url_as_images_root_is_exit_2(inputs, client, tmp_path: Path) -> None:
    """docs/cluster.md: workers read images through shared paths; URLs (fsspec) are not read."""
    manifest = inputs["classification"]
    m = manifest.parent / "url.yaml"
    m.write_text(manifest.read_text(encoding="utf-8").replace("images: images", "images: s3://bucket/images"),
                 encoding="utf-8")
    result = run("build", m, "-o", tmp_path / "out", "-q", "--scheduler", client.scheduler.address)
    assert_one_line_error(result, "images root not found or not a folder")
    assert not (tmp_path / "out").exists()


def _gt_shards(manifest: Path, name: str, parts: list[dict]) -> Path:
    """COCO ground-truth shards `name`/gt-K.json beside `manifest`, and a manifest reading them."""
    folder = manifest.parent
    (folder / name).mkdir(exist_ok=True)
    for k, part in enumerate(parts):
        (folder / name / f"gt-{k}.json").write_text(json.dumps(part), encoding="utf-8")
    text = manifest.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("ground_truth:"))
    sharded = folder / f"{name}.yaml"
    sharded.write_text(text.replace(line, f'ground_truth: {{path: "{name}/gt-*.json"}}'), encoding="utf-8")
    return sharded


def test_ground_truth_shards_give_the_report_of_one_file(inputs, client, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import evalsite.formats.coco_ground_truth as coco_ground_truth
    from evalsite.core.on_disk import DiskArray

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    manifest = inputs["segmentation"]
    folder = manifest.parent
    gt = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    halves = [gt["images"][::2], gt["images"][1::2]]  # each image (and its objects) in one shard
    parts = []
    for images in halves:
        ids = {im["id"] for im in images}
        parts.append({"images": images, "annotations": [a for a in gt["annotations"] if a["image_id"] in ids],
                      "categories": gt["categories"]})
    sharded = _gt_shards(manifest, "gt-shards", parts)
    one = _report(manifest, tmp_path / "one.json")
    assert _report(sharded, tmp_path / "shards.json") == one
    # an object may be in another shard than its image (the report of the files' concatenation)
    n = len(gt["annotations"]) // 2
    apart = _gt_shards(manifest, "gt-apart", [
        {"images": [], "annotations": gt["annotations"][:n], "categories": gt["categories"]},
        {"images": gt["images"], "annotations": gt["annotations"][n:], "categories": gt["categories"]}])
    assert _report(apart, tmp_path / "apart.json") == one

    # with a cluster the workers read the shards: the driver never parses them
    def not_here(path, data=None):
        raise AssertionError(f"the driver parsed {path}")

    monkeypatch.setattr(coco_ground_truth, "load_json", not_here)
    # and their object columns are written to the driver's disk as they come in: joined there, in shard order
    read, joined = coco_ground_truth._joined, []
    monkeypatch.setattr(coco_ground_truth, "_joined", lambda *args: joined.append(read(*args)) or joined[-1])
    assert _report(sharded, tmp_path / "cluster.json", "--scheduler", client.scheduler.address) == one
    [truth] = joined
    assert all(isinstance(column, DiskArray) for column in (truth.gt_id, truth.gt_image, truth.gt_label, truth.gt_box,
                                                             truth.gt_area, truth.gt_crowd, truth.gt_area_missing))
    assert len(truth.gt_id) == len(gt["annotations"])

    # a shard whose categories differ
    part = json.loads((folder / "gt-shards" / "gt-1.json").read_text(encoding="utf-8"))
    part["categories"][0]["name"] = "another"
    (folder / "gt-shards" / "gt-1.json").write_text(json.dumps(part), encoding="utf-8")
    result = run("evaluate", sharded, "-o", tmp_path / "r.json", "-q", "--scheduler", client.scheduler.address)
    assert_one_line_error(result, f"{folder / 'gt-shards' / 'gt-1.json'}, key 'categories': its categories differ "
                                  f"from those of {folder / 'gt-shards' / 'gt-0.json'}")


class WorkersCannotRead(distributed.WorkerPlugin):
    """Its workers read no COCO ground-truth file (as when the file is on the driver's disk only)."""

    def setup(self, worker):
        import evalsite.formats.coco_ground_truth as coco_ground_truth
        from evalsite.core.errors import InputError

        def unreadable(path, data=None):
            raise InputError("file not found", path)

        coco_ground_truth.load_json = unreadable


def test_one_ground_truth_file_is_parsed_by_a_worker(inputs, client, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cluster one COCO ground-truth file is parsed by a worker (its JSON never whole on the driver),
    and by the driver only when no worker can read it: the report of one process either way."""
    import evalsite.formats.coco_ground_truth as coco_ground_truth
    from evalsite.core.on_disk import DiskArray

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    manifest = inputs["segmentation"]
    one = _report(manifest, tmp_path / "one.json")
    parse = coco_ground_truth.load_json

    def not_here(path, data=None):
        raise AssertionError(f"the driver parsed {path}")

    monkeypatch.setattr(coco_ground_truth, "load_json", not_here)
    # its object columns then wait on the driver's disk, checked and looked up there a block at a time
    read, joined = coco_ground_truth._joined, []
    monkeypatch.setattr(coco_ground_truth, "_joined", lambda *args: joined.append(read(*args)) or joined[-1])
    assert _report(manifest, tmp_path / "cluster.json", "--scheduler", client.scheduler.address) == one
    [truth] = joined
    assert all(isinstance(column, DiskArray) for column in (truth.gt_id, truth.gt_image, truth.gt_label, truth.gt_box,
                                                             truth.gt_area, truth.gt_crowd, truth.gt_area_missing))
    parsed_here = []

    def counted(path, data=None):
        parsed_here.append(path)
        return parse(path, data)

    monkeypatch.setattr(coco_ground_truth, "load_json", counted)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        c.register_plugin(WorkersCannotRead())
        assert _report(manifest, tmp_path / "here.json", "--scheduler", cluster.scheduler_address) == one
    assert parsed_here == [manifest.parent / "ground_truth.json"]


def test_ground_truth_shard_errors_name_the_shard(inputs, client, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors in ground-truth shards name the shard and the record, in one process and with a cluster (whose
    driver checks the object columns on its disk: here a few values at a time)."""
    from evalsite.core import on_disk
    from evalsite.formats import columns

    monkeypatch.setattr(columns, "DUPLICATE_ROWS", 2)
    monkeypatch.setattr(on_disk, "READ_BYTES", 24)
    manifest = inputs["detection"]
    folder = manifest.parent
    gt = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    images, anns, cats = gt["images"], gt["annotations"], gt["categories"]
    shard = lambda k: folder / "gt-bad" / f"gt-{k}.json"  # noqa: E731
    cases = [
        # an image id in two shards: both named
        ([{"images": images, "annotations": anns, "categories": cats},
          {"images": [dict(images[0], file_name="other.jpg")], "annotations": [], "categories": cats}],
         f"{shard(1)}, images entry 1: image id {images[0]['id']} appears twice (images entry 1 of {shard(0)} "
         "and images entry 1)"),
        # an annotation id in two shards
        ([{"images": images, "annotations": anns, "categories": cats},
          {"images": [], "annotations": [anns[2]], "categories": cats}],
         f"{shard(1)}, annotation id {anns[2]['id']}: annotation id {anns[2]['id']} appears twice (annotations "
         f"entry 3 of {shard(0)} and annotations entry 1)"),
        # one file in two shards' images
        ([{"images": images, "annotations": anns, "categories": cats},
          {"images": [dict(images[1], id=10 ** 6)], "annotations": [], "categories": cats}],
         f"{shard(1)}, image id 1000000: file_name {images[1]['file_name']!r} is also image id {images[1]['id']}"),
        # an object of no shard's image, and a bad box: named in their shard
        ([{"images": images, "annotations": anns[:3], "categories": cats},
          {"images": [], "annotations": [*anns[3:5], dict(anns[5], image_id=10 ** 6)], "categories": cats}],
         f"{shard(1)}, annotation id {anns[5]['id']}: image id 1000000 is not in 'images'"),
        ([{"images": images, "annotations": anns[:3], "categories": cats},
          {"images": [], "annotations": [anns[3], dict(anns[4], bbox=[1, 2, 3])], "categories": cats}],
         f"{shard(1)}, annotation id {anns[4]['id']}: 'bbox' must be [x, y, width, height] (4 numbers)"),
    ]
    for parts, message in cases:
        for old in (folder / "gt-bad").glob("*.json"):
            old.unlink()
        sharded = _gt_shards(manifest, "gt-bad", parts)
        for spread in ((), ("--scheduler", client.scheduler.address)):
            result = run("evaluate", sharded, "-o", tmp_path / "r.json", "-q", *spread)
            assert_one_line_error(result, message)
            assert not (tmp_path / "r.json").exists()


def _with_inputs(manifest: Path, name: str, ground_truth: str, predictions: str) -> Path:
    text = manifest.read_text(encoding="utf-8")
    for key, value in (("ground_truth", ground_truth), ("predictions", predictions)):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{key}:"))
        text = text.replace(line, f"{key}: {value}")
    (manifest.parent / name).write_text(text, encoding="utf-8")
    return manifest.parent / name


def test_masks_are_decoded_on_the_workers_onto_the_drivers_disk(inputs, client, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cluster a segmentation's masks as read (polygons, RLE) go to the driver's disk as they come in
    from the tasks that read them, and back to the workers a part at a time to be decoded there, the decoded
    masks taken back a piece at a time onto the driver's disk: the report of one process, for the ground truth
    in one file (its objects not in image order: their masks reordered on disk) or in shards, and predictions
    without boxes (their masks' boxes and areas taken); a bad mask is the error of one process."""
    import evalsite.formats.mask_decoding as mask_decoding
    from evalsite.core import cluster
    from evalsite.core.on_disk import DiskArray
    from evalsite.core.values_on_disk import ValuesOnDisk

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    manifest = inputs["segmentation"]
    folder = manifest.parent / "masks-apart"
    folder.mkdir()
    gt = json.loads((manifest.parent / "ground_truth.json").read_text(encoding="utf-8"))
    gt["annotations"] = gt["annotations"][::-1]  # (not in image order)
    (folder / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    halves = [gt["images"][::2], gt["images"][1::2]]
    for k, images in enumerate(halves):
        ids = {im["id"] for im in images}
        (folder / f"gt-{k}.json").write_text(json.dumps(dict(gt, images=images, annotations=[
            a for a in gt["annotations"] if a["image_id"] in ids])), encoding="utf-8")
    results = json.loads((manifest.parent / "predictions.json").read_text(encoding="utf-8"))
    assert all(isinstance(r["segmentation"], dict) for r in results)
    for r in results[::2]:
        r["segmentation"] = [[10.0, 10.0, 30.5, 10.0, 30.5, 25.0, 10.0, 20.0]]  # (polygons among the RLE)
    unboxed = [{key: value for key, value in r.items() if key != "bbox"} for r in results]
    cut = [0, len(unboxed) // 3, 2 * len(unboxed) // 3, len(unboxed)]
    for k in range(3):
        (folder / f"dt-{k}.json").write_text(json.dumps(unboxed[cut[k]:cut[k + 1]]), encoding="utf-8")
    manifests = [_with_inputs(manifest, f"masks-{name}.yaml", gt_path, "{format: coco, path: masks-apart/dt-*.json}")
                 for name, gt_path in (("one", "{format: coco, path: masks-apart/gt.json}"),
                                       ("shards", "{format: coco, path: masks-apart/gt-*.json}"))]
    alone = [_report(m, tmp_path / f"alone-{k}.json") for k, m in enumerate(manifests)]
    assert alone[0] == alone[1] and alone[0]["metrics"]["coco"]["AP"] > 0

    given, kept = [], []
    decode, decoded_here = mask_decoding.decode_masks, mask_decoding._decoded

    def spied(values, *args, **kwargs):
        given.append(type(values))
        decoded = decode(values, *args, **kwargs)
        kept.append(decoded[0])
        return decoded

    def not_here(*args, **kwargs):
        raise AssertionError("the driver decoded masks")

    monkeypatch.setattr(mask_decoding, "decode_masks", spied)
    monkeypatch.setattr(mask_decoding, "_decoded", not_here)
    monkeypatch.setattr(cluster, "BACK_BYTES", 256)  # (the decoded masks' counts taken back in pieces)
    import evalsite.formats.detection as detection
    monkeypatch.setattr(detection, "decode_masks", spied)
    for k, m in enumerate(manifests):
        given.clear()
        kept.clear()
        assert _report(m, tmp_path / f"spread-{k}.json", "--scheduler", client.scheduler.address) == alone[k]
        assert given == [ValuesOnDisk, ValuesOnDisk]  # the ground truth's masks, the predictions'
        assert all(isinstance(masks.counts, DiskArray) and isinstance(masks.ptr, DiskArray) for masks in kept)

    # a polygon too short in the first shard, a bad value in the last: as in one process, the last's error (the
    # checks of every value come before the polygons are drawn), found by the driver when a part has failed
    first = [dict(r) for r in unboxed[:cut[1]]]
    first[0]["segmentation"] = [[1.0, 2.0, 3.0, 4.0]]
    (folder / "dt-0.json").write_text(json.dumps(first), encoding="utf-8")
    last = [dict(r) for r in unboxed[cut[2]:]]
    last[1]["segmentation"] = [[1.0, 2.0, "x", 4.0, 5.0, 6.0]]
    (folder / "dt-2.json").write_text(json.dumps(last), encoding="utf-8")
    monkeypatch.setattr(mask_decoding, "_decoded", decoded_here)
    for spread in ((), ("--scheduler", client.scheduler.address)):
        result = run("evaluate", manifests[1], "-o", tmp_path / "r.json", "-q", *spread)
        assert_one_line_error(result, f"{folder / 'dt-2.json'}, results entry 2: polygon 1 must be numbers")
    (folder / "dt-2.json").write_text(json.dumps(unboxed[cut[2]:]), encoding="utf-8")
    for spread in ((), ("--scheduler", client.scheduler.address)):
        result = run("evaluate", manifests[1], "-o", tmp_path / "r.json", "-q", *spread)
        assert_one_line_error(result, f"{folder / 'dt-0.json'}, results entry 1: bad polygon")


@pytest.mark.parametrize("kind", ["detection", "segmentation"])
def test_coco_and_intervals_run_on_the_workers_by_label_groups(inputs: dict[str, Path], client, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    # With a cluster the COCO evaluation (matching and accumulation), the VOC matching and the intervals'
    # resampling (the largest working sets) run as tasks of label groups on the workers, which draw the
    # resamples themselves, and the confusion and error types at t* as tasks of image shards:
    # report.json is the single process's, byte for byte.
    # The driver keeps every column of the inputs (boxes, masks, images, labels, scores, the objects' areas,
    # crowd and difficult flags and ids) on its disk meanwhile, and reads
    # them a block at a time (here of a few rows: blocks end everywhere) to cut the workers' parts, count, order
    # the evidence and find the rows at t*.
    import evalsite.commands.evaluate as evaluate_command
    import evalsite.report.intervals as intervals
    import evalsite.report.matching_groups as matching_groups
    from evalsite.core import cluster, on_disk
    from evalsite.core.detection_data import heavy_columns_on_disk
    from evalsite.core.image_info import ImageChecks
    from evalsite.core.on_disk import DiskArray, StringsOnDisk
    from evalsite.metrics import arrays
    from evalsite.report.detection_model import BoxMistakes, ImageRows

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    manifest = inputs[kind]
    assert run("evaluate", manifest, "-o", tmp_path / "alone.json", "--quiet").exit_code == 0
    offloaded = []
    monkeypatch.setattr(evaluate_command, "heavy_columns_on_disk",
                        lambda data: offloaded.append(heavy_columns_on_disk(data)) or offloaded[-1])
    rows = []  # (the errors and images joined from the shards at t*)
    for kept in (BoxMistakes, ImageRows):
        monkeypatch.setattr(kept, "joined", classmethod(
            lambda cls, *args, join=kept.joined, **kwargs: rows.append(join(*args, **kwargs)) or rows[-1]))
    monkeypatch.setattr(intervals, "TASK_ITEMS", 60)  # a few labels per task
    monkeypatch.setattr(on_disk, "READ_BYTES", 56)  # 7 rows of a column, 1-2 boxes
    monkeypatch.setattr(arrays, "ORDER_ROWS", 5)  # the evidence ordered by ranges of about 5 scores
    monkeypatch.setattr(cluster, "PIECE_ROWS", 4)  # the groups' detections sent 4 at a time
    monkeypatch.setattr(matching_groups, "MASK_PIECE_COUNTS", 40)  # and, with masks, 40 counts of them at most
    monkeypatch.setattr(cluster, "BACK_BYTES", 64)  # and their values' arrays taken back 64 bytes at a time
    with distributed.get_task_stream(client) as stream:  # and a few images per shard
        result = run("evaluate", manifest, "-o", tmp_path / "spread.json", "--quiet", "--scheduler",
                     client.scheduler.address, "--shard-images", "3")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "alone.json").read_bytes() == (tmp_path / "spread.json").read_bytes()
    [held] = offloaded
    assert all(isinstance(column, DiskArray) for column in (held.dt_box, held.gt_box, held.dt_image, held.dt_label,
                                                             held.dt_score, held.gt_image, held.gt_label, held.gt_area,
                                                             held.gt_crowd, held.gt_difficult, held.gt_id))
    assert kind != "segmentation" or isinstance(held.dt_masks.counts, DiskArray)
    errors, images = rows
    assert isinstance(errors.kind, DiskArray) and isinstance(errors.type, DiskArray) and len(errors) > 10
    assert isinstance(errors.suspect, DiskArray) and isinstance(images.checks, ImageChecks)
    masks = (errors.masks, errors.related_masks, images.masks)
    assert all(isinstance(m, StringsOnDisk) for m in masks) if kind == "segmentation" else masks == (None,) * 3
    report = json.loads((tmp_path / "alone.json").read_bytes())
    assert report["intervals"]["metrics"]["coco.AP"] is not None
    assert len(report["dataset"]["labels"]) >= 3 and report["metrics"]["coco"]["AP"] > 0
    # COCO's evaluation, the VOC matching, its AP and sweep, COCO AP's resampling, and mAP50 / P / R / F1's; the
    # confusion and the error types at t* by shard of images
    for work in ("_coco_group-", "_voc_group-", "_coco_group_samples", "_voc_group_samples", "_shard_at_threshold-",
                 "_skeleton-", "_rows_at-"):
        assert len([task for task in stream.data if task["key"].startswith(work)]) >= 3, work
    assert [task for task in stream.data if task["key"].startswith("report_weights")]


def test_a_label_groups_masks_go_to_its_tasks_by_windows_of_images(inputs: dict[str, Path], client, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # A segmentation's label group whose masks outgrow a task (here: those of any one image) is matched by
    # windows of consecutive images, each task holding at most that many counts; the group's COCO matching is
    # joined from its windows' on a worker and accumulated there, its VOC flags on the driver with AP and sweep
    # from a second round: report.json is the single process's, byte for byte.
    import evalsite.report.matching_groups as matching_groups
    from evalsite.report.image_windows import image_windows

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    manifest = inputs["segmentation"]
    assert run("evaluate", manifest, "-o", tmp_path / "alone.json", "--quiet").exit_code == 0
    limits, held = [], []

    def windows(data, groups):  # the counts of the fullest image, all labels, objects' and detections'
        per_image = sum(np.bincount(np.asarray(image), weights=np.diff(np.asarray(masks.ptr)),
                                    minlength=len(data.images)) for image, masks in
                        ((data.dt_image, data.dt_masks), (data.gt_image, data.gt_masks)))
        limits.append(int(per_image.max()))
        return image_windows(data, groups, limits[-1])

    def counted(make, gt_masks_at):  # the masks' counts of each window's part (objects' whole, detections' pieces)
        def part(data, spec, *args):
            made = make(data, spec, *args)
            pieces = list(made.pieces)
            gt_masks = made.fixed[gt_masks_at[0]][gt_masks_at[1]]
            if spec[1] is not None:
                held.append(len(gt_masks.counts) + sum(len(piece[-5]) for piece in pieces))
            return cluster.Pieces(made.build, made.fixed, pieces)
        return part

    from evalsite.core import cluster

    monkeypatch.setattr(matching_groups, "image_windows", windows)
    monkeypatch.setattr(matching_groups, "_group_part", counted(matching_groups._group_part, (1, 2)))
    monkeypatch.setattr(matching_groups, "_voc_part", counted(matching_groups._voc_part, (2, 0)))
    with distributed.get_task_stream(client) as stream:
        result = run("evaluate", manifest, "-o", tmp_path / "spread.json", "--quiet", "--scheduler",
                     client.scheduler.address)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "alone.json").read_bytes() == (tmp_path / "spread.json").read_bytes()
    limit = limits[0]
    assert len(held) >= 6 and max(held) <= limit, (held, limit)
    keys = [task["key"] for task in stream.data]
    assert [key for key in keys if key.startswith("_coco_windows_group-")]  # (COCO: joined on a worker)
    assert [key for key in keys if key.startswith("_label_metrics_group-")]  # (VOC: AP and sweep, 2nd round)


class KillAtTasks(distributed.WorkerPlugin):
    """Ends its worker's process when a task whose key starts with one of `prefixes` starts, once per prefix
    (a marker file per prefix says it happened)."""

    def __init__(self, folder: str, prefixes: tuple[str, ...]):
        self.folder, self.prefixes = folder, prefixes

    def transition(self, key, start, finish, **kwargs):
        name = key if isinstance(key, str) else str(key[0]) if isinstance(key, tuple) else str(key)
        for prefix in self.prefixes:
            marker = Path(self.folder) / f"killed-{prefix}"
            if finish == "executing" and name.startswith(prefix) and not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)


def test_workers_killed_in_the_windows_tasks_change_nothing(inputs: dict[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker dies in a window's COCO task, in the task that joins a group's windows, and in a window's VOC
    # task: each lost part is done again (on the driver: a scattered part has no recipe), and the report is
    # the single process's, byte for byte.
    import evalsite.report.matching_groups as matching_groups
    from evalsite.report.image_windows import image_windows

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    manifest = inputs["segmentation"]
    assert run("evaluate", manifest, "-o", tmp_path / "alone.json", "--quiet").exit_code == 0
    monkeypatch.setattr(matching_groups, "image_windows", lambda data, groups: image_windows(data, groups, 1))
    prefixes = ("_voc_group-", "_coco_group-", "_coco_windows_group-")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        c.register_plugin(KillAtTasks(str(tmp_path), prefixes))
        result = run("evaluate", manifest, "-o", tmp_path / "spread.json", "--quiet", "--scheduler",
                     c.scheduler.address)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("killed-*")) == sorted(f"killed-{p}" for p in prefixes)
    assert (tmp_path / "alone.json").read_bytes() == (tmp_path / "spread.json").read_bytes()


def test_voc_ap_and_sweep_in_a_second_round_when_the_bits_are_not_known(inputs: dict[str, Path], client,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The VOC groups' tasks give their labels' AP and sweep part with their matching (the fixed-point bits of
    # F1(t) known before it); when they are not (as past 1,024 labels may happen), a second round of tasks by
    # label group takes them from the joined matching: the same report either way.
    import evalsite.report.intervals as intervals
    import evalsite.report.matching_groups as matching_groups

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    manifest = inputs["detection"]
    assert run("evaluate", manifest, "-o", tmp_path / "alone.json", "--quiet", "--no-intervals").exit_code == 0
    monkeypatch.setattr(intervals, "TASK_ITEMS", 60)
    for known in (True, False):
        if not known:
            monkeypatch.setattr(matching_groups, "bits_before_matching", lambda n_gt, n_dt: None)
        with distributed.get_task_stream(client) as stream:
            result = run("evaluate", manifest, "-o", tmp_path / f"{known}.json", "--quiet", "--no-intervals",
                         "--scheduler", client.scheduler.address)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "alone.json").read_bytes() == (tmp_path / f"{known}.json").read_bytes()
        rounds = [task for task in stream.data if task["key"].startswith("_label_metrics_group-")]
        assert len(rounds) >= 3 if not known else not rounds


def test_coco_on_the_workers_without_intervals(inputs: dict[str, Path], client, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # --no-intervals: COCO and the VOC matching still go to the workers (and nothing resamples); the same
    # report as alone.
    import evalsite.report.intervals as intervals

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH["SOURCE_DATE_EPOCH"])
    manifest = inputs["detection"]
    assert run("evaluate", manifest, "-o", tmp_path / "alone.json", "--quiet", "--no-intervals").exit_code == 0
    monkeypatch.setattr(intervals, "TASK_ITEMS", 60)
    with distributed.get_task_stream(client) as stream:
        result = run("evaluate", manifest, "-o", tmp_path / "spread.json", "--quiet", "--no-intervals",
                     "--scheduler", client.scheduler.address)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "alone.json").read_bytes() == (tmp_path / "spread.json").read_bytes()
    keys = [task["key"] for task in stream.data]
    assert len([key for key in keys if key.startswith("_coco_group-")]) >= 3
    assert len([key for key in keys if key.startswith("_voc_group-")]) >= 3
    assert not [key for key in keys if key.startswith(("_coco_group_samples", "_voc_group_samples", "report_weights"))]


_DONE_HERE: list[int] = []  # the specs whose `_part_value` ran in this process (not on a worker)


def _noted_where(spec: int) -> None:
    """Notes a spec run in this process (`_DONE_HERE`); spec 13 fails on the workers."""
    try:
        distributed.get_worker()
    except ValueError:  # not on a worker
        _DONE_HERE.append(spec)
    else:
        if spec == 13:
            raise RuntimeError("spec 13 fails on the workers")


def _part_value(part: int, spec: int, common: int) -> int:
    _noted_where(spec)
    return part * 10 + spec + common


class KillAtPart(distributed.WorkerPlugin):
    """Ends its worker's process when it starts the first `_part_value` task (once: a marker file)."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith("_part_value") and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)


def test_run_tasks_values_survive_lost_and_failing_tasks(tmp_path: Path) -> None:
    # run_tasks sends each part straight to a worker (not through the scheduler), once per key; a part that
    # dies with its worker cannot be recomputed there, and a task that fails there is not retried: the
    # caller then computes that value itself. The values are the same, in order, either way.
    from evalsite.core.cluster import Cluster, run_tasks

    marker = tmp_path / "killed"
    made: list[int] = []

    def make(key: int) -> int:
        made.append(key)
        return key

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        specs = [2, 3, 4, 5, 6, 7, 13]  # parts 1, 2, 3, 6; spec 13 fails on the workers
        _DONE_HERE.clear()
        values = run_tasks(Cluster(c, 1), _part_value, specs, make, (int, (7,)), key=lambda spec: spec // 2)
        assert values == [19, 20, 31, 32, 43, 44, 80]
        assert made == [1, 2, 3, 6, 6] and _DONE_HERE == [13]  # each part sent once; part 6 made again here
        made.clear(), _DONE_HERE.clear()
        c.register_plugin(KillAtPart(str(marker)))
        values = run_tasks(Cluster(c, 1), _part_value, specs, make, (int, (7,)), key=lambda spec: spec // 2)
    assert values == [19, 20, 31, 32, 43, 44, 80]
    assert marker.is_file()  # a worker died at its first task: its part was sent again or its value made here
    assert sorted(set(made)) == [1, 2, 3, 6] and 13 in _DONE_HERE and set(_DONE_HERE) <= set(specs)


def _pieces_total(fixed: tuple, columns: tuple) -> tuple[int, int]:
    (offset,), (values, weights) = fixed, columns
    return offset + int((values * weights).sum()), len(values)


def _pieces_value(part: tuple[int, int], spec: int, common: None) -> tuple[int, int]:
    _noted_where(spec)
    return part


def test_parts_sent_in_pieces_are_joined_on_the_worker(client, monkeypatch: pytest.MonkeyPatch) -> None:
    # A part made as `Pieces` (a label group's detections) is sent a piece at a time, each made as the one before
    # is sent, and joined on the worker into the part the work takes; a task that fails there is done here from
    # the same pieces. The values are those of the whole parts.
    from evalsite.core.cluster import Cluster, Pieces, run_tasks

    sent: list = []
    events: list[str] = []
    scatter = client.scatter

    def sending(data, **options):
        sent.append(data)
        events.append("sent")
        return scatter(data, **options)

    monkeypatch.setattr(client, "scatter", sending)

    def make(key: int) -> Pieces:
        values = np.arange(10 * key)

        def pieces():
            for start in range(0, max(1, len(values)), 4):
                events.append("made")
                yield values[start:start + 4], values[start:start + 4] % 3

        return Pieces(_pieces_total, (key,), pieces())

    specs = [0, 1, 2, 13]
    _DONE_HERE.clear()
    values = run_tasks(Cluster(client, 1), _pieces_value, specs, make)
    assert values == [(k + sum(v * (v % 3) for v in range(10 * k)), 10 * k) for k in specs]
    assert _DONE_HERE == [13]
    pieces = [piece for piece in sent if isinstance(piece, tuple) and len(piece) == 2]
    assert len(pieces) == sum(max(1, -(-10 * k // 4)) for k in specs) and all(len(p[0]) <= 4 for p in pieces)
    # each piece sent before the next is made (the last made ones: spec 13's, made again here)
    sending_phase = "".join(event[0] for event in events).rstrip("m")
    assert "mm" not in sending_phase and sending_phase.count("m") == len(pieces)


def test_each_task_sends_a_few_tasks_ahead_of_the_value_awaited(client) -> None:
    """`each_task(ahead=N)` keeps N tasks per worker thread sent ahead of the value it waits for, not all of
    them: the workers hold a few parts at a time (a segmentation's label groups with their masks, all sent at
    once, outgrew 2 GB workers at 20,000 COCO-like images); without it, all are sent at once."""
    from evalsite.core.cluster import Cluster, each_task

    made: list[int] = []
    tasks = each_task(Cluster(client, 1), _pieces_value, list(range(10)), lambda k: made.append(k) or k, ahead=2)
    assert made == []  # (2 workers of one thread: 4 tasks ahead)
    assert next(tasks) == 0 and made == list(range(4))
    assert next(tasks) == 1 and made == list(range(5))
    assert list(tasks) == list(range(2, 10)) and made == list(range(10))
    made.clear()
    tasks = each_task(Cluster(client, 1), _pieces_value, list(range(10)), lambda k: made.append(k) or k)
    assert next(tasks) == 0 and made == list(range(10))
    assert list(tasks) == list(range(1, 10))
