"""Fuzz (tests/fuzzing.py): the manifest (YAML and spec_from_dict), report.json (load_report, read_report, the
overview's find_reports), compare.json (the overview's find_comparisons), the metadata CSV and split files, fed
mutants of valid seed files: a result, or one one-line EvalsiteError naming the file; the overview skips what
it cannot read with a notice and never raises. `make fuzz` runs the long profile."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import assume, given

from evalsite.commands.evaluate import evaluate
from evalsite.core.enums import Verdict
from evalsite.formats.split import read_split
from evalsite.formats.traits import read_metadata
from evalsite.manifest import TaskSpec, load_manifest, spec_from_dict
from evalsite.report.kinds import task_kind
from evalsite.report.load import load_report, read_report
from evalsite.report.model import Report, to_json
from evalsite.site.overview import find_comparisons, find_reports

from conftest import write_detection_task, write_task
from fuzzing import FUZZ, fuzz_file, mutations, outcome, put, world

MANIFEST = """name: flowers-v3
type: classification
images: data/images
ground_truth: {format: csv, path: data/val.csv}
predictions: {format: csv, path: runs/v3/scores.csv}
language: en
labels: [daisy, rose, tulip]
small_set_threshold: 100
group: flowers
model: v3
split: data/test.txt
"""
DETECTION_MANIFEST = """name: det
type: detection
images: images
ground_truth: gt.json
predictions: {format: coco, path: pred.json}
iou_threshold: 0.5
annotation_url: https://label.example/edit?image={file_name}&id={annotation_id}
"""


@pytest.mark.parametrize("seed", [MANIFEST, DETECTION_MANIFEST])
def test_fuzz_manifest_yaml(seed: str) -> None:
    fuzz_file(lambda root: None, "task.yaml", seed.encode(), "text", lambda root: load_manifest(root / "task.yaml"),
              TaskSpec)()


@pytest.mark.parametrize("seed", [MANIFEST, DETECTION_MANIFEST])
def test_fuzz_manifest_dict(seed: str) -> None:
    import yaml

    @FUZZ
    @given(mutant=mutations(json.dumps(yaml.safe_load(seed)).encode(), "json"))
    def run(mutant: bytes) -> None:
        try:
            data = json.loads(mutant)
        except (ValueError, RecursionError):  # a byte-level mutant that is no JSON: not a dict to give
            data = None
        assume(isinstance(data, dict))
        with world(lambda root: None) as root:
            outcome(lambda: spec_from_dict(data, root, root / "task.yaml"), root, TaskSpec)

    run()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """report.json of a small classification and a detection, as written."""
    root = tmp_path_factory.mktemp("reports")
    manifests = {"cls": write_task(root / "cls", ["cat", "dog", "bird"], n_images=8, missing=1),
                 "det": write_detection_task(root / "det")}
    return {key: to_json(evaluate(load_manifest(m))).encode() for key, m in manifests.items()}


@pytest.mark.parametrize("kind", ["cls", "det"])
def test_fuzz_report_json(reports: dict[str, bytes], kind: str) -> None:
    @FUZZ
    @given(mutant=mutations(reports[kind], "json"))
    def run(mutant: bytes) -> None:
        with world(lambda root: put(root / "task" / "report.json", mutant)) as root:
            outcome(lambda: load_report(root / "task"), root, tuple)
            try:
                data = orjson.loads(mutant)
            except orjson.JSONDecodeError:
                data = None
            if data is not None:
                outcome(lambda: read_report(data, root / "task" / "report.json"), root, Report)
            tasks, notices = find_reports(root)  # skips what it cannot read, with a notice
            assert len(tasks) + len(notices) >= 1

    run()


def _compare() -> dict:
    metric = task_kind("classification").headline
    return {"schema": "evalsite.compare/1", "type": "classification", "group": "flowers",
            "base": {"name": "v1", "model": "v1", "date": "2026-01-01"},
            "candidate": {"name": "v2", "model": "v2", "date": "2026-01-02"},
            "headline": [{"metric": metric, "base": 0.8, "candidate": 0.85, "difference": 0.05, "low": 0.01,
                          "high": 0.09, "verdict": list(Verdict)[0].value}],
            "fixed": [{"image": "a.png"}], "broken": []}


def test_the_compare_seed_is_read() -> None:
    with world(lambda root: put(root / "v2 vs v1" / "compare.json", json.dumps(_compare()))) as root:
        entries, notices = find_comparisons(root)
        assert len(entries) == 1 and not notices, notices


@FUZZ
@given(mutant=mutations(json.dumps(_compare()).encode(), "json"))
def test_fuzz_compare_json(mutant: bytes) -> None:
    with world(lambda root: put(root / "v2 vs v1" / "compare.json", mutant)) as root:
        entries, notices = find_comparisons(root)  # never raises: an unreadable comparison is a notice
        assert len(entries) + len(notices) == 1
        for notice in notices:
            assert "\n" not in str(notice.detail or "")


def _metadata(root: Path) -> None:
    put(root / "meta.csv", "image,camera,site\ncat/1.png,A,north\ndog/3.png,B,\nbird/4.png,A,south\n")


@FUZZ
@given(mutant=mutations(b"image,camera,site\ncat/1.png,A,north\ndog/3.png,B,\nbird/4.png,A,south\n", "text"))
def test_fuzz_metadata_csv(mutant: bytes) -> None:
    with world(_metadata) as root:
        put(root / "meta.csv", mutant)
        outcome(lambda: read_metadata(root / "meta.csv", root / "images", ["cat/1.png", "dog/3.png", "bird/4.png"]),
                root, dict)


@FUZZ
@given(mutant=mutations(b"# the test images\nval/000000000139.jpg\nval/000000000285\n/data/coco/a.jpg\n776\n",
                        "text"))
def test_fuzz_split_file(mutant: bytes) -> None:
    with world(lambda root: put(root / "split.txt", mutant)) as root:
        outcome(lambda: read_split(root / "split.txt"), root, list)
