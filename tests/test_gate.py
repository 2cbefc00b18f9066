"""`evalsite check`, the release gate, end to end on reports built by the real pipeline; and
`evalsite.report.load` (reading reports back, checking two describe the same evaluation).

Expected numbers are read from the report.json files the pipeline wrote, never from the gate's output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main
from evalsite.core.errors import InputError
from evalsite.report.detection_model import DetectionReport
from evalsite.report.load import check_same_evaluation, load_report
from evalsite.report.model import Report

from conftest import assert_one_line_error, edit_json, write_detection_task, write_segmentation_task, write_task


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def evaluate(manifest: Path, out: Path) -> Path:
    result = run("evaluate", manifest, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def metrics(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["metrics"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """report.json files: two classifications of the same images with different scores, one of other
    images, one of other labels; a detection, the same detection with one true positive removed (a built
    site folder), a detection at another IoU threshold, and a segmentation."""
    root = tmp_path_factory.mktemp("gate")
    out = {}
    out["cls"] = evaluate(write_task(root / "cls", ["cat", "dog", "bird"], seed=0), root / "cls.json")
    out["cls_b"] = evaluate(write_task(root / "cls_b", ["cat", "dog", "bird"], seed=1), root / "cls_b.json")
    out["cls_more"] = evaluate(write_task(root / "cls_more", ["cat", "dog", "bird"], n_images=36), root / "more.json")
    out["cls_fish"] = evaluate(write_task(root / "cls_fish", ["cat", "dog", "fish"]), root / "fish.json")
    det = write_detection_task(root / "det")
    out["det"] = evaluate(det, root / "det.json")
    worse = write_detection_task(root / "det_worse")
    edit_json(worse.parent / "pred.json", lambda preds: preds.pop())  # drop the 0.4 cat on im2 (a true positive)
    built = run("build", worse, "-o", root / "site", "--quiet", "--no-overview")
    assert built.exit_code == 0, built.output
    out["det_worse_site"] = root / "site" / "det"
    iou = write_detection_task(root / "det_iou")
    iou.write_text(iou.read_text(encoding="utf-8") + "iou_threshold: 0.75\n", encoding="utf-8")
    out["det_iou"] = evaluate(iou, root / "det_iou.json")
    out["seg"] = evaluate(write_segmentation_task(root / "seg"), root / "seg.json")
    return out


# --- pass / fail, table and exit codes ---------------------------------------------------------------------

def test_require_pass_and_fail_exit_codes(reports) -> None:
    m = metrics(reports["cls"])
    accuracy, recall = m["accuracy"], m["recall"]
    passing = run("check", reports["cls"], "--require", f"accuracy>={accuracy - 0.01}",
                  "--require", f"recall >= {recall}")  # equal to the value itself holds
    assert passing.exit_code == 0, passing.output
    lines = passing.stdout.splitlines()
    assert lines[0].split() == ["rule", "value", "result"]
    assert lines[1].split()[-1] == "pass" and lines[2].split()[-1] == "pass"
    assert f"{accuracy:.6g}" in lines[1] and f"{recall:.6g}" in lines[2]
    assert lines[-1] == "PASSED: all 2 rules hold"

    failing = run("check", reports["cls"], "--require", f"accuracy>={accuracy - 0.01}",
                  "--require", f"recall > {recall}")
    assert failing.exit_code == 1
    rows = failing.stdout.splitlines()
    assert rows[1].split()[-1] == "pass" and rows[2].split()[-1] == "FAIL"
    assert rows[-1] == "FAILED: 1 of 2 rules failed"


@pytest.mark.parametrize("op, delta, holds", [
    (">=", 0, True), (">", 0, False), ("<=", 0, True), ("<", 0, False), ("==", 0, True),
    (">=", 0.001, False), ("<", 0.001, True), ("==", 0.001, False), (">", -0.001, True), ("<=", -0.001, False),
])
def test_operators(reports, op: str, delta: float, holds: bool) -> None:
    value = metrics(reports["cls"])["f1"]
    result = run("check", reports["cls"], "--require", f"f1{op}{value + delta!r}")
    assert result.exit_code == (0 if holds else 1), result.output


def test_percentages_and_rounding(reports) -> None:
    m = metrics(reports["det"])
    # By hand (tests/test_cli_detection.py): precision at t* is 2/3, stored as 0.666...6 or ...7.
    assert m["precision"] == pytest.approx(2 / 3)
    assert run("check", reports["det"], "--require", "precision >= 0.6666666667").exit_code == 0  # within 1e-9
    assert run("check", reports["det"], "--require", "precision>=66.7%").exit_code == 1
    result = run("check", reports["det"], "--require", "precision>=66.6%", "--json")
    assert result.exit_code == 0
    (rule,) = json.loads(result.stdout)["rules"]
    assert rule["limit"] == pytest.approx(0.666) and rule["rule"] == "precision >= 66.6%"


def test_json_output(reports) -> None:
    m = metrics(reports["det"])
    result = run("check", reports["det"], "--require", "mAP50>=0.4", "--require", "recall>=0.8", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False and data["task_type"] == "detection"
    assert data["report"] == str(reports["det"]) and data["baseline"] is None
    first, second = data["rules"]
    assert first == {"rule": "mAP50 >= 0.4", "kind": "require", "metric": "mAP50", "op": ">=", "limit": 0.4,
                     "value": m["mAP50"], "baseline": None, "drop": None, "passed": True, "reason": None}
    assert second["metric"] == "recall" and second["value"] == m["recall"] and second["passed"] is False
    ok = run("check", reports["det"], "--require", "mAP50>=0.4", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["passed"] is True


def test_max_drop_against_a_baseline(reports) -> None:
    base, worse = reports["det"], reports["det_worse_site"]  # a built site folder as REPORT
    b, r = metrics(base), metrics(worse / "report.json")
    # By hand: without the 0.4 detection, cat's AP falls from 5/6 to 1/2, so mAP50 from 5/12 to 1/4.
    drop = b["mAP50"] - r["mAP50"]
    assert drop == pytest.approx(1 / 6)
    result = run("check", worse, "--baseline", base, "--max-drop", f"mAP50={drop + 0.001}",
                 "--max-drop", f"recall = {b['recall'] - r['recall'] - 0.001}", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["baseline"] == str(base) and data["passed"] is False
    first, second = data["rules"]
    assert first["kind"] == "max_drop" and first["op"] is None and first["passed"] is True
    assert (first["value"], first["baseline"]) == (r["mAP50"], b["mAP50"])
    assert first["drop"] == pytest.approx(drop)
    assert second["passed"] is False and second["drop"] == pytest.approx(b["recall"] - r["recall"])

    table = run("check", worse, "--baseline", base, "--max-drop", "mAP50=10%", "--require", "f1>=0.1")
    assert table.exit_code == 1
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["rule", "value", "baseline", "result"]
    require, max_drop = lines[1], lines[2]  # --require rules first
    assert require.startswith("f1 >= 0.1") and require.split()[-1] == "pass"
    assert max_drop.startswith("mAP50 max drop 10%") and f"FAIL: dropped by {drop:.6g}" in max_drop
    assert f"{r['mAP50']:.6g}" in max_drop and f"{b['mAP50']:.6g}" in max_drop
    # A rise is no drop; the same report against itself drops by 0.
    assert run("check", base, "--baseline", worse, "--max-drop", "mAP50=0").exit_code == 0
    assert run("check", base, "--baseline", base, "--max-drop", "mAP50=0", "--max-drop", "f1=0").exit_code == 0


def test_max_drop_classification(reports) -> None:
    a, b = metrics(reports["cls"]), metrics(reports["cls_b"])  # the same images and labels, other scores
    base, report = ("cls", "cls_b") if a["accuracy"] >= b["accuracy"] else ("cls_b", "cls")
    drop = metrics(reports[base])["accuracy"] - metrics(reports[report])["accuracy"]
    assert drop > 0
    args = ("check", reports[report], "--baseline", reports[base], "--json", "--max-drop")
    assert run(*args, f"accuracy={drop + 0.001}").exit_code == 0
    result = run(*args, f"accuracy={drop - 0.001}")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["rules"][0]["drop"] == pytest.approx(drop)


def test_dotted_coco_names(reports) -> None:
    m = metrics(reports["det"])
    coco = m["coco"]
    assert coco["APl"] == -1  # 64x48 images: no large objects
    result = run("check", reports["det"], "--require", f"coco.AP50>={coco['AP50']}", "--require",
                 f"coco.AR100 <= {coco['AR100']}", "--json")
    assert result.exit_code == 0, result.output
    assert [r["value"] for r in json.loads(result.stdout)["rules"]] == [coco["AP50"], coco["AR100"]]
    undefined = run("check", reports["det"], "--require", "coco.APl>=0")
    assert undefined.exit_code == 1
    assert "FAIL: -1 in report.json" in undefined.stdout


def test_null_metric_fails_with_the_reason(reports) -> None:
    assert metrics(reports["cls"])["top3"] is None  # 3 labels: top-3 is undefined
    result = run("check", reports["cls"], "--require", "top3>=0", "--json")
    assert result.exit_code == 1
    (rule,) = json.loads(result.stdout)["rules"]
    assert rule["value"] is None and rule["passed"] is False and "null in report.json" in rule["reason"]
    table = run("check", reports["cls"], "--require", "top3 >= 0", "--require", "top2>=0")
    assert table.exit_code == 1
    assert "FAIL: null in report.json (top-k accuracy is undefined" in table.stdout.splitlines()[1]
    # null in the baseline fails a max drop too.
    edited = reports["cls"].parent / "cls_null.json"
    shutil.copy(reports["cls"], edited)
    edit_json(edited, lambda d: d["metrics"].update(f1=None))
    drop = run("check", reports["cls"], "--baseline", edited, "--max-drop", "f1=1")
    assert drop.exit_code == 1 and "FAIL: in the baseline: null in report.json" in drop.stdout


# --- bad arguments: exit 2 --------------------------------------------------------------------------------

@pytest.mark.parametrize("option, text, expected", [
    ("--require", "mAP50=>0.5", 'expected "NAME OP VALUE"'),
    ("--require", "mAP50>=", 'expected "NAME OP VALUE"'),
    ("--require", ">=0.5", 'expected "NAME OP VALUE"'),
    ("--require", "mAP50>=abc", 'expected "NAME OP VALUE"'),
    ("--require", "mAP50>=0.5 recall>=0.5", 'expected "NAME OP VALUE"'),
    ("--require", "mAP50=0.5", 'expected "NAME OP VALUE"'),
    ("--require", "mAP50>=60", "mAP50 is a fraction between 0 and 1"),
    ("--require", "threshold>=50%", "threshold is a score, not a fraction"),
    ("--max-drop", "mAP50>=0.01", 'expected "NAME=VALUE"'),
    ("--max-drop", "mAP50=-0.01", "a drop cannot be negative"),
])
def test_malformed_rules(reports, option: str, text: str, expected: str) -> None:
    result = run("check", reports["det"], "--baseline", reports["det"], option, text)
    assert_one_line_error(result, f'{option} "{text}": {expected}')
    assert result.stdout == ""


def test_unknown_metric_lists_the_names(reports) -> None:
    result = run("check", reports["det"], "--require", "accuracy>=0.5")
    assert_one_line_error(result, "unknown metric 'accuracy' for a detection report")
    assert "mAP50, mAP50_11pt, precision, recall, f1, threshold, iou_threshold, coco.AP, coco.AP50" in result.stderr
    result = run("check", reports["cls"], "--require", "mAP50>=0.5")
    assert_one_line_error(result, "the metrics are: accuracy, precision, recall, f1, top1, top2, top3, top4, top5")
    assert "did you mean mAP50?" in run("check", reports["det"], "--require", "map50>=0.5").stderr


def test_no_rules_and_max_drop_without_baseline(reports) -> None:
    assert_one_line_error(run("check", reports["cls"]), "no rules: give at least one --require")
    assert_one_line_error(run("check", reports["cls"], "--max-drop", "f1=0.01"),
                          '--max-drop "f1=0.01" needs --baseline')


def test_baseline_of_another_task_type(reports) -> None:
    result = run("check", reports["det"], "--baseline", reports["seg"], "--require", "f1>=0")
    assert_one_line_error(result, f"{reports['det']}: a detection report, but {reports['seg']} is a "
                                  "segmentation report; both must be of the same task type")
    result = run("check", reports["cls"], "--baseline", reports["det"], "--require", "f1>=0")
    assert_one_line_error(result, "a classification report, but")


def test_baseline_of_other_images(reports) -> None:
    # 36 images against 30: img-030 ... img-035 only in the larger set; up to 3 named.
    result = run("check", reports["cls_more"], "--baseline", reports["cls"], "--require", "f1>=0")
    assert_one_line_error(result, f"{reports['cls_more']}: not the same evaluation set as {reports['cls']}: "
                                  f"6 images differ (6 only in {reports['cls_more']}: img-030.png, img-031.png, "
                                  "img-032.png and 3 more)")
    other = run("check", reports["cls"], "--baseline", reports["cls_more"], "--max-drop", "f1=1")
    assert_one_line_error(other, f"6 images differ (6 only in {reports['cls_more']}: img-030.png")


def test_baseline_of_other_labels(reports) -> None:
    result = run("check", reports["cls_fish"], "--baseline", reports["cls"], "--require", "f1>=0")
    assert_one_line_error(result, f"the labels differ (1 only in {reports['cls_fish']}: fish; "
                                  f"1 only in {reports['cls']}: bird)")
    assert "images differ" not in result.stderr


def test_baseline_at_another_iou_threshold(reports) -> None:
    result = run("check", reports["det_iou"], "--baseline", reports["det"], "--require", "f1>=0")
    assert_one_line_error(result, "the IoU threshold differs (0.75 here, 0.5 in")


# --- bad report files: exit 2 -----------------------------------------------------------------------------

def test_unknown_schema_version(reports, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    shutil.copy(reports["cls"], path)
    edit_json(path, lambda d: d.update(schema="evalsite.report/3"))
    result = run("check", tmp_path, "--require", "f1>=0")
    assert_one_line_error(result, f"{path}, key schema: unknown report schema 'evalsite.report/3', written by "
                                  "evalsite 0.1.0; evalsite 0.1.0 reads 'evalsite.report/2'")
    # ... also as a baseline.
    result = run("check", reports["cls"], "--baseline", path, "--max-drop", "f1=0.1")
    assert_one_line_error(result, "unknown report schema 'evalsite.report/3'")


def test_folder_without_report_and_missing_path(tmp_path: Path) -> None:
    result = run("check", tmp_path, "--require", "f1>=0")
    assert_one_line_error(result, f"{tmp_path}: no report.json in this folder")
    result = run("check", tmp_path / "nope", "--require", "f1>=0")
    assert_one_line_error(result, f"{tmp_path / 'nope'}: not found")


@pytest.mark.parametrize("change, expected", [
    (lambda text: text[:200], ", line 1, column 201: not valid JSON: unexpected end of data"),
    (lambda text: "[1, 2]", ": not an evalsite report: expected a JSON object, found a list"),
    (lambda text: "{}", ": not an evalsite report: no `schema` key"),
])
def test_malformed_report_text(reports, tmp_path: Path, change, expected: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(change(reports["cls"].read_text(encoding="utf-8")), encoding="utf-8")
    assert_one_line_error(run("check", path, "--require", "f1>=0"), f"{path}{expected}")


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"schema": "evalsite.report/1",\n "task": oops}\n', encoding="utf-8")
    assert_one_line_error(run("check", path, "--require", "f1>=0"), f"{path}, line 2, column 10: not valid JSON")


@pytest.mark.parametrize("key, change, expected", [
    ("cls", lambda d: d["dataset"].pop("labels"), "key dataset.labels: missing"),
    ("cls", lambda d: d.pop("metrics"), "key metrics: missing"),
    ("cls", lambda d: d.update(images={}), "key images: expected a list, found an object"),
    ("cls", lambda d: d["images"][3].update(image=7), "key images[3].image: expected a string, found a number"),
    ("cls", lambda d: d["metrics"].update(f1="high"), "key metrics.f1: expected a number, found a string"),
    ("cls", lambda d: d["task"].update(type="ranking"), "key task.type: unknown task type 'ranking'"),
    ("det", lambda d: d["metrics"]["coco"].update(AP=[1]), "key metrics.coco.AP: expected a number, found a list"),
    ("det", lambda d: d["per_label"][0].pop("ap50"), "key per_label[0].ap50: missing"),
    ("seg", lambda d: d["curves"].update(pr=None), "key curves.pr: expected a list, found null"),
])
def test_report_of_wrong_shape_names_the_key(reports, tmp_path: Path, key: str, change, expected: str) -> None:
    path = tmp_path / "report.json"
    shutil.copy(reports[key], path)
    edit_json(path, change)
    assert_one_line_error(run("check", path, "--require", "f1>=0"), f"{path}, {expected}")


# --- the load API, as `evalsite compare` uses it ------------------------------------------------------------

def test_load_report_api(reports) -> None:
    report, folder = load_report(reports["cls"])
    assert isinstance(report, Report) and folder == reports["cls"].parent
    assert report.metrics == metrics(reports["cls"]) and len(report.images) == 30
    site = reports["det_worse_site"]
    report, folder = load_report(site)
    assert isinstance(report, DetectionReport) and folder == site
    assert report.metrics["coco"] == metrics(site / "report.json")["coco"]
    seg, _ = load_report(reports["seg"])
    assert isinstance(seg, DetectionReport) and seg.task.type == "segmentation"
    check_same_evaluation(report, load_report(reports["det"])[0], site, reports["det"])  # no error
    with pytest.raises(InputError, match="both must be of the same task type"):
        check_same_evaluation(report, seg, site, reports["seg"])


def test_help_explains_every_option() -> None:
    result = run("check", "--help")
    assert result.exit_code == 0 and "Example" in result.output and "Exit status" in result.output
    for param in main.commands["check"].params:
        if param.param_type_name == "option":
            assert param.help, f"check {param.opts} has no help"
            assert param.opts[-1] in result.output


def test_an_internal_error_never_passes(reports, monkeypatch) -> None:
    from evalsite.commands import check as gate

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(gate, "evaluate_rules", broken)
    result = CliRunner().invoke(main, ["check", str(reports["cls"]), "--require", "f1>=0"])
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
