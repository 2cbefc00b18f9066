"""The crashes the fuzz suite (tests/test_fuzz_*.py) found, each pinned by a plain test: every one was a
traceback (exit 1) or a skipped overview before its fix, and is now one line naming the file, or a notice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsite.core.errors import InputError
from evalsite.formats.records import jsonl_records
from evalsite.formats.ultralytics import read_data_yaml
from evalsite.manifest import load_manifest, spec_from_dict
from evalsite.site.overview import find_comparisons, find_reports

DEEP = "[" * 100_000 + "]" * 100_000


def one_line(call, file: Path, *fragments: str) -> str:
    with pytest.raises(InputError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(file)), message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize("name", ["data.yaml", "task.yaml"])
def test_a_nul_byte_in_yaml_is_one_line(tmp_path: Path, name: str) -> None:
    # PyYAML's ReaderError has no mark and a two-line message ('... not allowed\n  in "<unicode string>"')
    file = tmp_path / name
    file.write_bytes(b"\x00path: .\nval: images/val\nnames: [cat]\n")
    read = read_data_yaml if name == "data.yaml" else load_manifest
    one_line(lambda: read(file), file, "malformed YAML", "#x0000")


def test_a_data_yaml_nested_too_deeply_is_an_input_error(tmp_path: Path) -> None:
    file = tmp_path / "data.yaml"
    file.write_text("names: " + "[" * 20_000 + "]" * 20_000 + "\n", encoding="utf-8")
    one_line(lambda: read_data_yaml(file), file, "nested too deeply")


def test_a_manifest_key_that_is_a_number_is_named(tmp_path: Path) -> None:
    # sorted() of the unknown keys compared 5 with 'x': TypeError
    file = tmp_path / "task.yaml"
    file.write_text("name: t\ntype: detection\n5: a\nx: b\n", encoding="utf-8")
    one_line(lambda: load_manifest(file), file, "unknown key(s) ['5', 'x']")
    one_line(lambda: spec_from_dict({5: 1, "x": 2}, tmp_path, file), file, "unknown key(s)")


@pytest.mark.parametrize("line, problem", [(DEEP, "nested too deeply"), ("1" * 5000, "malformed JSON")])
def test_a_jsonl_line_nested_too_deeply_or_too_long_a_number_is_an_input_error(tmp_path: Path, line: str,
                                                                               problem: str) -> None:
    file = tmp_path / "preds.jsonl"
    file.write_text('{"image": "a.png", "scores": {"cat": 1}}\n' + line + "\n", encoding="utf-8")
    message = one_line(lambda: list(jsonl_records(file)), file, problem)
    assert message.startswith(f"{file}, line 2: ")


def test_overview_skips_a_report_or_comparison_nested_too_deeply(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "report.json").write_text(DEEP, encoding="utf-8")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "compare.json").write_text(DEEP, encoding="utf-8")
    tasks, notices = find_reports(tmp_path)
    assert not tasks and [n.code for n in notices] == ["report_skipped"]
    comparisons, notices = find_comparisons(tmp_path)
    assert not comparisons and [n.code for n in notices] == ["comparison_skipped"]


def test_overview_reads_a_report_whose_interval_metrics_are_not_an_object(tmp_path: Path) -> None:
    # intervals.metrics = 1e308: AttributeError ('float' object has no attribute 'get') broke the overview
    report = {"schema": "evalsite.report/1",
              "task": {"name": "t", "type": "classification", "date": "2026-01-01", "language": "en", "group": "t",
                       "model": None},
              "dataset": {"images": 3}, "metrics": {"accuracy": 0.5}, "intervals": {"metrics": 1e308}}
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "report.json").write_text(json.dumps(report), encoding="utf-8")
    tasks, notices = find_reports(tmp_path)
    assert not notices, notices
    assert len(tasks) == 1 and tasks[0].interval is None and tasks[0].headline == 0.5


def test_an_ultralytics_image_id_that_is_a_list_is_an_input_error(tmp_path: Path) -> None:
    # the (image_id, file_name) cache key was built before the type check: TypeError unhashable type 'list'
    from PIL import Image

    from evalsite.formats.detection import read_detection

    ds = tmp_path / "ds"
    (ds / "images" / "val").mkdir(parents=True)
    Image.new("RGB", (50, 40)).save(ds / "images" / "val" / "a.png")
    (ds / "labels" / "val").mkdir(parents=True)
    (ds / "labels" / "val" / "a.txt").write_text("0 0.3 0.25 0.4 0.25\n", encoding="utf-8")
    (ds / "data.yaml").write_text("path: .\nval: images/val\nnames: {0: cat}\n", encoding="utf-8")
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps([{"image_id": [], "file_name": "a.png", "category_id": 0,
                                        "bbox": [5.0, 5.0, 20.0, 10.0], "score": 0.9}]), encoding="utf-8")
    message = one_line(lambda: read_detection(ground_truth=ds / "data.yaml", predictions=predictions,
                                              images_root=ds), predictions, "'image_id' must be", "found []")
    assert message.startswith(f"{predictions}, results entry 1: ")


def test_a_polygon_coordinate_of_1e308_is_an_input_error(tmp_path: Path) -> None:
    # 1e308 * 5 overflowed inside the rasteriser: AssertionError "rleFrPoly step not located" (exit 1). The bound
    # (evalsite.core.masks.polygons.MAX_COORDINATE) is the one branch i15-contain added for 1e300.
    from PIL import Image

    from evalsite.formats.detection import read_detection

    (tmp_path / "images").mkdir()
    Image.new("RGB", (50, 40)).save(tmp_path / "images" / "a.png")
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 10], "iscrowd": 0,
                           "segmentation": [[5, 5, 25, 5, 25, 15, 5, 15]]}],
          "categories": [{"id": 1, "name": "cat"}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [6, 5, 19, 10], "score": 0.9,
                "segmentation": [[6, 1e308, 25, 5, 25, 15, 6, 15]]}]
    (tmp_path / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    one_line(lambda: read_detection(ground_truth=tmp_path / "gt.json", predictions=tmp_path / "results.json",
                                    images_root=tmp_path / "images", task_type="segmentation"),
             tmp_path / "results.json", "results entry 1", "bad polygon", "beyond")
