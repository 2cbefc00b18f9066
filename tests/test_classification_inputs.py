"""Classification input readers (docs/inputs.md, docs/reliability.md): good files in every format, and one clear
InputError per bad record ("file, record: problem", on one line), or a Notice where the problem does not stop the
report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main
from evalsite.commands.evaluate import evaluate
from evalsite.core.errors import InputError, Notice
from evalsite.formats.images import inspect_image
from evalsite.manifest import load_manifest, spec_from_dict

from spec_readers import read_classification

# ---------------------------------------------------------------------------------------------- helpers

def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_png(path: Path, size: tuple[int, int] = (4, 3)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 120, 200)).save(path)
    return path


def make_spec(root: Path, gt: str | dict, pred: str | dict, **extra):
    """A classification TaskSpec as if read from root/task.yaml, images under root/images."""
    (root / "images").mkdir(exist_ok=True)
    data = {"name": "task", "type": "classification", "images": "images", "ground_truth": gt,
            "predictions": pred, **extra}
    return spec_from_dict(data, root, root / "task.yaml")


def expect_error(call, file: Path, record: str | None, *fragments: str) -> InputError:
    """The call raises an InputError whose one-line message is "file, record: problem" with the fragments."""
    with pytest.raises(InputError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.file == str(file)
    where = f"{file}, {record}: " if record else f"{file}: "
    assert message.startswith(where), message
    for fragment in fragments:
        assert fragment in message, message
    return caught.value


GT_CSV = "image,label\na.png,cat\nb.png,dog\nc.png,cat\n"


# ------------------------------------------------------------------------------------------ good inputs

def test_csv_ground_truth_and_csv_score_table(tmp_path):
    # BOM, blank line, "./" and a Windows separator are all accepted and normalised.
    write(tmp_path / "gt.csv", "\ufeffimage,label\na.png,cat\n\n./b.png, dog\nsub\\c.png,bird\n")
    write(tmp_path / "pred.csv", "image,dog,cat\na.png,0.2,0.8\nb.png,0.6,0.4\nsub/c.png,0.5,0.5\n")
    inputs = read_classification(make_spec(tmp_path, "gt.csv", "pred.csv"))
    assert inputs.images == ["a.png", "b.png", "sub/c.png"]
    # label order: the score columns, then ground-truth labels without a column
    assert inputs.labels == ["dog", "cat", "bird"] and inputs.label_source == "score columns"
    np.testing.assert_array_equal(inputs.y_true, [1, 0, 2])
    np.testing.assert_array_equal(inputs.scores, [[0.2, 0.8, np.nan], [0.6, 0.4, np.nan], [0.5, 0.5, np.nan]])
    assert inputs.topk_labels is None and inputs.has_prediction.all() and inputs.notices == []


def test_jsonl_ground_truth_and_jsonl_scores(tmp_path):
    write(tmp_path / "gt.jsonl", jsonl({"image": "a.png", "label": "cat"}, {"image": "b.png", "label": 7}))
    write(tmp_path / "pred.jsonl", "\n" + jsonl({"image": "a.png", "scores": {"7": 0.1, "cat": 2.5}},
                                                  {"image": "b.png", "scores": {"cat": -1}}))
    inputs = read_classification(make_spec(tmp_path, "gt.jsonl", "pred.jsonl"))
    assert inputs.labels == ["7", "cat"]  # an integer label becomes its name; order of first appearance
    np.testing.assert_array_equal(inputs.y_true, [1, 0])
    np.testing.assert_array_equal(inputs.scores, [[0.1, 2.5], [np.nan, -1.0]])  # no score: NaN


def test_class_folders_ground_truth_and_jsonl_topk(tmp_path):
    data = tmp_path / "data"
    write_png(data / "cat" / "1.png")
    write_png(data / "dog" / "2.png")
    write_png(data / "dog" / "night" / "3.JPG")  # nested: still "dog"
    write_png(data / ".trash" / "4.png")  # hidden folder: ignored
    write(data / "cat" / "notes.txt", "not an image")
    write(tmp_path / "pred.jsonl", jsonl(
        {"image": "cat/1.png", "topk": [["dog", 0.7], ["cat", 0.2]]},
        {"image": "dog/2.png", "topk": [["dog", 0.9]]},
        {"image": "dog/night/3.JPG", "topk": [["cat", 0.5], ["fox", 0.3], ["dog", 0.1]]},
    ))
    spec = spec_from_dict({"name": "t", "type": "classification", "images": "data", "ground_truth": "data",
                           "predictions": "pred.jsonl"}, tmp_path, tmp_path / "task.yaml")
    inputs = read_classification(spec)
    assert inputs.images == ["cat/1.png", "dog/2.png", "dog/night/3.JPG"]
    assert inputs.labels == ["cat", "dog", "fox"] and inputs.label_source == "data"
    np.testing.assert_array_equal(inputs.y_true, [0, 1, 1])
    assert inputs.scores is None
    np.testing.assert_array_equal(inputs.topk_labels, [[1, 0, -1], [1, -1, -1], [0, 2, 1]])
    np.testing.assert_array_equal(inputs.topk_scores, [[0.7, 0.2, np.nan], [0.9, np.nan, np.nan],
                                                      [0.5, 0.3, 0.1]])
    assert "fox" not in inputs.labels[:0]  # (labels only predicted are reported from the metrics: see the report tests)


def test_absolute_image_path_inside_the_root_is_accepted(tmp_path):
    inside = tmp_path / "images" / "a.png"
    write(tmp_path / "gt.csv", f"image,label\n{inside},cat\n")
    write(tmp_path / "pred.csv", "image,cat,dog\na.png,0.9,0.1\n")
    inputs = read_classification(make_spec(tmp_path, "gt.csv", "pred.csv"))
    assert inputs.images == ["a.png"] and inputs.has_prediction.all()


@pytest.mark.parametrize("how", ["manifest list", "labels file"])
@pytest.mark.parametrize("order", [["dog", "cat", "bird"], ["cat", "dog", "bird"]])
def test_declared_label_order_decides_ties(tmp_path, how, order):
    write(tmp_path / "gt.csv", "image,label\na.png,cat\nb.png,dog\n")
    # Both images: cat and dog tie; the score columns are in yet another order (bird, cat, dog).
    write(tmp_path / "pred.csv", "image,bird,cat,dog\na.png,0.1,0.45,0.45\nb.png,0.1,0.45,0.45\n")
    for image in ("a.png", "b.png"):
        write_png(tmp_path / "images" / image)
    if how == "manifest list":
        labels: object = order
    else:
        write(tmp_path / "labels.txt", "\ufeff" + "\n".join(order[:1] + [""] + order[1:]) + "\n")
        labels = "labels.txt"
    report = evaluate(make_spec(tmp_path, "gt.csv", "pred.csv", labels=labels))
    assert report.dataset.labels == order
    assert report.task.label_source == "declared"
    assert [r.predicted for r in report.images] == [order[0], order[0]]  # the first declared label wins
    assert report.metrics["accuracy"] == 0.5  # one of the two images is right whichever order


# --------------------------------------------------------------------------------------------- notices

def test_prediction_without_ground_truth_is_a_notice(tmp_path):
    write(tmp_path / "gt.csv", "image,label\na.png,cat\n")
    write(tmp_path / "pred.csv", "image,cat,dog\na.png,0.9,0.1\nghost.png,0.2,0.8\n")
    inputs = read_classification(make_spec(tmp_path, "gt.csv", "pred.csv"))
    assert inputs.images == ["a.png"]
    [notice] = inputs.notices
    assert isinstance(notice, Notice) and notice.code == "prediction_without_ground_truth"
    assert notice.file == str(tmp_path / "pred.csv") and "ghost.png" in notice.detail


def test_ground_truth_without_prediction_is_a_notice_and_counts_wrong(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    write(tmp_path / "pred.csv", "image,cat,dog\na.png,0.9,0.1\nb.png,0.1,0.9\n")  # no c.png
    for image in ("a.png", "b.png", "c.png"):
        write_png(tmp_path / "images" / image)
    spec = make_spec(tmp_path, "gt.csv", "pred.csv")
    inputs = read_classification(spec)
    [notice] = inputs.notices
    assert notice.code == "ground_truth_without_prediction" and "c.png" in notice.detail
    np.testing.assert_array_equal(inputs.has_prediction, [True, True, False])
    report = evaluate(spec)
    c = next(r for r in report.images if r.image == "c.png")
    assert c.predicted is None and not c.correct and c.true_rank == 0
    assert report.metrics["accuracy"] == pytest.approx(2 / 3)  # a and b right, c counted wrong
    assert report.dataset.images_without_prediction == 1


# ------------------------------------------------------------------------------- bad manifests (YAML)

def test_malformed_yaml_names_line_and_column(tmp_path):
    manifest = write(tmp_path / "task.yaml", "name: t\ntype: classification\nimages: [a\nground_truth: g\n")
    # the unclosed flow list is noticed at line 4, column 13 (the ':' after ground_truth)
    expect_error(lambda: load_manifest(manifest), manifest, "line 4, column 13", "malformed YAML")


def test_yaml_nested_beyond_the_recursion_limit_is_a_one_line_error(tmp_path):
    # 20,000 levels once gave a RecursionError with a 3,000-line traceback
    manifest = write(tmp_path / "task.yaml", "name: " + "[" * 20_000 + "]" * 20_000 + "\n")
    expect_error(lambda: load_manifest(manifest), manifest, None, "nested too deeply")
    result = CliRunner().invoke(main, ["evaluate", str(manifest), "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "nested too deeply" in result.stderr


def test_yaml_tab_indentation(tmp_path):
    manifest = write(tmp_path / "task.yaml", "name: t\n\ttype: classification\n")
    expect_error(lambda: load_manifest(manifest), manifest, "line 2, column 1", "malformed YAML")


def test_unknown_task_type(tmp_path):
    manifest = write(tmp_path / "task.yaml", "name: t\ntype: regression\nimages: i\nground_truth: g.csv\n"
                                              "predictions: p.csv\n")
    expect_error(lambda: load_manifest(manifest), manifest, "key 'type'", "unknown task type 'regression'")


@pytest.mark.parametrize("missing", ["name", "type", "images", "ground_truth", "predictions"])
def test_missing_required_manifest_key(tmp_path, missing):
    fields = {"name": "t", "type": "classification", "images": "i", "ground_truth": "g.csv",
              "predictions": "p.csv"}
    del fields[missing]
    manifest = write(tmp_path / "task.yaml", "".join(f"{k}: {v}\n" for k, v in fields.items()))
    expect_error(lambda: load_manifest(manifest), manifest, None, f"missing required key '{missing}'")


def test_manifest_relative_paths_are_relative_to_the_manifest(tmp_path):
    manifest = write(tmp_path / "cfg" / "task.yaml", "name: t\ntype: classification\nimages: ../img\n"
                                                      "ground_truth: gt.csv\npredictions: {format: csv, path: p.txt}\n")
    spec = load_manifest(manifest)
    assert spec.images == tmp_path / "cfg" / ".." / "img"
    assert spec.ground_truth.path == tmp_path / "cfg" / "gt.csv" and spec.ground_truth.format is None
    assert (spec.predictions.format, spec.predictions.path) == ("csv", tmp_path / "cfg" / "p.txt")


def test_yaml_boolean_label_names_are_not_silently_renamed(tmp_path):
    """BUG (reported): `labels: [yes, no]` is read by YAML as booleans and becomes ['True', 'False']."""
    manifest = write(tmp_path / "task.yaml", "name: t\ntype: classification\nimages: i\nground_truth: g.csv\n"
                                              "predictions: p.csv\nlabels: [yes, no]\n")
    try:
        spec = load_manifest(manifest)
    except InputError as exc:  # an error that asks to quote the names is fine
        assert str(exc).startswith(f"{manifest}, key 'labels': ")
    else:
        assert spec.labels == ["yes", "no"]


# ------------------------------------------------------------------------------ bad CSV / JSONL records

PRED_OK = "image,cat\na.png,1\n"


@pytest.mark.parametrize("gt_text, pred_text, bad, record, problem", [
    ("image,label\na.png,cat\nb.png,dog,extra\n", PRED_OK, "gt.csv", "line 3",
     "expected 2 columns as in the header, found 3"),
    (GT_CSV, "image,cat,dog\na.png,0.1,0.9\n\nb.png,0.3\n", "pred.csv", "line 4",
     "expected 3 columns as in the header, found 2"),
    ('image,label\na.png,cat\n"b.png"x,dog\n', PRED_OK, "gt.csv", "line 3", "malformed CSV"),
    ("file,class\na.png,cat\n", PRED_OK, "gt.csv", "line 1", "expected the header 'image,label'"),
    (GT_CSV, "image,cat,dog,cat\na.png,1,2,3\n", "pred.csv", "line 1", "repeated label column(s) 'cat'"),
], ids=["gt-columns", "pred-columns", "quoting", "gt-header", "pred-repeated-column"])
def test_bad_csv(tmp_path, gt_text, pred_text, bad, record, problem):
    write(tmp_path / "gt.csv", gt_text)
    write(tmp_path / "pred.csv", pred_text)
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.csv")), tmp_path / bad, record,
                 problem)


def test_malformed_jsonl_line(tmp_path):
    gt = write(tmp_path / "gt.jsonl", jsonl({"image": "a.png", "label": "cat"}) + '{"image": "b.png", "label": }\n')
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.jsonl", "pred.csv")), gt, "line 2",
                 "malformed JSON")


def test_jsonl_line_that_is_not_an_object(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl({"image": "a.png", "scores": {"cat": 1}}, ["b.png", "cat"]))
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 2",
                 "must be a JSON object")


def test_jsonl_line_separator_inside_a_string_is_not_a_line_break(tmp_path):
    """BUG (reported): the readers split lines with str.splitlines(), which also breaks at U+2028, U+0085 and
    other separators that are legal inside a JSON string (json.dumps(ensure_ascii=False) writes them raw)."""
    write(tmp_path / "gt.jsonl", jsonl({"image": "a.png", "label": "cat\u2028dog"}, {"image": "b.png", "label": "x"}))
    write(tmp_path / "pred.jsonl", jsonl({"image": "a.png", "scores": {"cat\u2028dog": 1.0, "x": 0.0}}))
    inputs = read_classification(make_spec(tmp_path, "gt.jsonl", "pred.jsonl"))
    assert inputs.images == ["a.png", "b.png"] and inputs.labels[0] == "cat\u2028dog"


def test_csv_line_numbers_count_newlines_only(tmp_path):
    """BUG (reported): a U+0085 (NEL) inside a CSV cell splits the row, giving a bogus error and line number."""
    write(tmp_path / "gt.csv", "image,label\na.png,caf\u0085e\nb.png,tea\n")
    write(tmp_path / "pred.csv", "image,tea\na.png,1\nb.png,1\n")
    inputs = read_classification(make_spec(tmp_path, "gt.csv", "pred.csv"))
    assert inputs.images == ["a.png", "b.png"]


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "abc", "", "1,5"])
def test_csv_bad_score(tmp_path, cell):
    write(tmp_path / "gt.csv", GT_CSV)
    quoted = f'"{cell}"' if "," in cell else cell
    pred = write(tmp_path / "pred.csv", f"image,cat,dog\na.png,0.1,0.9\nb.png,0.5,{quoted}\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.csv")), pred, "line 3",
                 "column 'dog'", repr(cell))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "null", '"high"', "true", "[1]"])
def test_jsonl_bad_score(tmp_path, value):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl({"image": "a.png", "scores": {"cat": 1}})
                 + f'{{"image": "b.png", "scores": {{"cat": 0.5, "dog": {value}}}}}\n')
    err = expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 2",
                       "score of 'dog'")
    assert "finite" in err.problem or "expected a number" in err.problem


def test_topk_bad_score(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl({"image": "a.png", "topk": [["cat", 0.5], ["dog", float("inf")]]}))
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 1",
                 "topk entry 2", "finite")


@pytest.mark.parametrize("gt_text, line, first", [
    ("image,label\na.png,cat\nb.png,dog\na.png,dog\n", "line 4", "line 2"),
    ("image,label\na.png,cat\n./a.png,cat\n", "line 3", "line 2"),  # the same image once normalised
])
def test_duplicate_ground_truth_rows(tmp_path, gt_text, line, first):
    gt = write(tmp_path / "gt.csv", gt_text)
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.csv")), gt, line,
                 f"duplicate image 'a.png' (first at {first})")


def test_duplicate_ground_truth_in_jsonl(tmp_path):
    gt = write(tmp_path / "gt.jsonl", jsonl({"image": "a.png", "label": "cat"}, {"image": "b.png", "label": "cat"},
                                            {"image": "b.png", "label": "dog"}))
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.jsonl", "pred.csv")), gt, "line 3",
                 "duplicate image 'b.png' (first at line 2)")


@pytest.mark.parametrize("pred_name, pred_text, line, problem", [
    ("pred.csv", "image,cat,dog\na.png,0.1,0.9\nb.png,0.1,0.9\n./a.png,0.3,0.7\n", "line 4",
     "duplicate prediction for image 'a.png' (first at line 2)"),
    ("pred.jsonl", jsonl({"image": "a.png", "topk": [["cat", 1]]}, {"image": "b.png", "topk": []},
                         {"image": "a.png", "topk": [["dog", 1]]}), "line 3",
     "duplicate prediction for image 'a.png' (first at line 1)"),
    # "a/../a.png" would be the same image, but ".." is refused before it could be compared
    ("pred.csv", "image,cat,dog\na.png,0.1,0.9\nsub/../a.png,0.3,0.7\n", "line 3", "escapes the images root"),
])
def test_duplicate_prediction_rows(tmp_path, pred_name, pred_text, line, problem):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / pred_name, pred_text)
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", pred_name)), pred, line, problem)


@pytest.mark.parametrize("gt_name, gt_text", [
    ("gt.csv", "image,label\n"),
    ("gt.csv", "image,label\n\n \n"),
    ("gt.jsonl", "\n\n"),
])
def test_empty_evaluation_set(tmp_path, gt_name, gt_text):
    gt = write(tmp_path / gt_name, gt_text)
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, gt_name, "pred.csv")), gt, None,
                 "empty evaluation set")


def test_empty_class_folders(tmp_path):
    (tmp_path / "data" / "cat").mkdir(parents=True)
    write(tmp_path / "data" / "cat" / "readme.md", "no images here")
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    spec = spec_from_dict({"name": "t", "type": "classification", "images": "data", "ground_truth": "data",
                           "predictions": "pred.csv"}, tmp_path)
    expect_error(lambda: read_classification(spec), tmp_path / "data", None, "empty evaluation set")


def test_empty_csv_file(tmp_path):
    gt = write(tmp_path / "gt.csv", "")
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.csv")), gt, "line 1",
                 "empty CSV file")


@pytest.mark.parametrize("image, problem", [
    ("../x.png", "escapes the images root"),
    ("a/../../x.png", "escapes the images root"),
    ("..\\x.png", "escapes the images root"),
    ("/etc/passwd", "is outside the images root"),
    ("OUTSIDE", "is outside the images root"),  # an absolute path next to, not inside, the images root
])
def test_image_path_may_not_escape_the_root(tmp_path, image, problem):
    if image == "OUTSIDE":
        image = str(write_png(tmp_path / "outside.png"))
    gt = write(tmp_path / "gt.csv", f"image,label\na.png,cat\n{image},dog\n")
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.csv")), gt, "line 3",
                 problem, repr(image))


def test_prediction_image_path_may_not_escape_the_root(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl({"image": "a.png", "scores": {"cat": 1}},
                                                {"image": "../../secret.png", "scores": {"cat": 1}}))
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 2",
                 "escapes the images root")


@pytest.mark.parametrize("pred_name, pred_text, record, unknown", [
    ("pred.csv", "image,cat,dog,wolf\na.png,0.1,0.2,0.7\n", "first at line 1 (the header)", "'wolf'"),
    ("pred.jsonl", jsonl({"image": "a.png", "scores": {"cat": 0.2, "Dog": 0.8}}), "first at line 1", "'Dog'"),
    ("pred.jsonl", jsonl({"image": "a.png", "topk": [["cat", 0.6]]},
                         {"image": "b.png", "topk": [["dog", 0.6], ["emu", 0.3], ["yak", 0.1]]}),
     "first at line 2", "'emu', 'yak'"),
])
def test_unknown_predicted_label_with_declared_labels(tmp_path, pred_name, pred_text, record, unknown):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / pred_name, pred_text)
    # The error names the file, the first record with an unknown label, and lists them all.
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", pred_name, labels=["cat", "dog"])),
                 pred, record, "not in the declared labels", unknown)


def test_unknown_true_label_with_declared_labels(tmp_path):
    gt = write(tmp_path / "gt.csv", GT_CSV)
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.csv", labels=["cat"])),
                 gt, "first at line 3", "not in the declared labels", "'dog'")


def test_labels_file_with_a_repeated_name(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    labels = write(tmp_path / "labels.txt", "cat\ndog\n\ncat\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.csv", labels="labels.txt")),
                 labels, "line 4", "label 'cat' repeats line 1")


@pytest.mark.parametrize("entry, problem", [
    (["cat"], "topk entry 2 must be [label, score]"),
    ("cat", "topk entry 2 must be [label, score]"),
    ([0.5, "cat"], "topk entry 2 must be [label, score]"),
    ([True, 0.5], "topk entry 2 must be [label, score]"),
    (["cat", 0.5, 1], "topk entry 2 must be [label, score]"),
    (["cat", "high"], "topk entry 2: expected a number, found 'high'"),
    (["dog", 0.1], "a label appears twice in the topk list"),
])
def test_malformed_topk_entry(tmp_path, entry, problem):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl({"image": "a.png", "topk": [["cat", 0.9]]},
                                                {"image": "b.png", "topk": [["dog", 0.6], entry]}))
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 2", problem)


@pytest.mark.parametrize("second", [
    {"image": "b.png", "topk": [["dog", 0.6]]},
    {"image": "b.png", "scores": {"dog": 0.6}},
])
def test_mixed_scores_and_topk_lines(tmp_path, second):
    first = {"image": "a.png", "scores": {"cat": 0.9}} if "topk" in second else {"image": "a.png", "topk": [["cat", 1]]}
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl(first, {"image": "c.png", **{k: v for k, v in first.items()
                                                                             if k != "image"}}, second))
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 3",
                 "mixes 'scores' and 'topk'")


@pytest.mark.parametrize("record", [{"image": "a.png"}, {"image": "a.png", "scores": [0.1, 0.9]},
                                    {"image": "a.png", "topk": {"cat": 1}}])
def test_prediction_line_without_scores_or_topk(tmp_path, record):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl(record))
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 1",
                 "expected 'scores'")


def test_missing_image_and_missing_label(tmp_path):
    gt = write(tmp_path / "gt.jsonl", jsonl({"image": "a.png", "label": "cat"}, {"label": "dog"}))
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.jsonl", "pred.csv")), gt, "line 2",
                 "missing image path")
    gt = write(tmp_path / "gt.csv", "image,label\na.png,cat\nb.png, \n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.csv")), gt, "line 3",
                 "missing label")


def test_unknown_file_format(tmp_path):
    gt = write(tmp_path / "gt.txt", GT_CSV)
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.txt", "pred.csv")), gt, None,
                 "cannot tell the ground truth format")
    pred = write(tmp_path / "pred.xml", "<x/>")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.txt", {"format": "xml", "path": "pred.xml"})),
                 gt, None, "cannot tell")  # the ground truth is read first
    write(tmp_path / "gt.csv", GT_CSV)
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", {"format": "xml", "path": "pred.xml"})),
                 pred, None, "unknown predictions format 'xml'")


def test_missing_input_file(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "nope.csv")), tmp_path / "nope.csv",
                 None, "file not found")


# ------------------------------------------------------------------------------------------------ images

def test_inspect_image_good(tmp_path):
    info = inspect_image(write_png(tmp_path / "good.png", (7, 5)))
    assert (info.status, info.width, info.height, info.problem) == ("ok", 7, 5, None)


def test_inspect_image_missing(tmp_path):
    info = inspect_image(tmp_path / "nope.png")
    assert info.status == "missing" and info.problem


def test_inspect_image_truncated_png(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # incompressible
    path = tmp_path / "cut.png"
    Image.fromarray(noise).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError):  # the file really is broken for Pillow
        with Image.open(path) as image:
            image.load()
    info = inspect_image(path)
    assert info.status == "unreadable" and "truncated" in info.problem


def test_inspect_image_random_bytes(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(1).bytes(300))
    info = inspect_image(path)
    assert info.status == "unreadable" and info.problem.startswith("corrupt, truncated or not an image")


def test_broken_images_are_notices_not_errors(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    write(tmp_path / "pred.csv", "image,cat,dog\na.png,0.9,0.1\nb.png,0.1,0.9\nc.png,0.8,0.2\n")
    write_png(tmp_path / "images" / "a.png")
    write(tmp_path / "images" / "b.png", "not a png")  # c.png is missing
    report = evaluate(make_spec(tmp_path, "gt.csv", "pred.csv"))
    assert [r.status for r in report.images] == ["ok", "unreadable", "missing"]
    assert report.metrics["accuracy"] == 1.0  # the numbers do not depend on the image files
    codes = [n.code for n in report.notices]
    assert "image_unreadable" in codes and "image_missing" in codes


# ------------------------------------------------------------------------- stricter reading (review)

@pytest.mark.parametrize("pred_name, pred_text", [("pred.csv", "image,cat,dog\n"), ("pred.jsonl", "\n\n")])
def test_empty_predictions_file_is_an_error(tmp_path, pred_name, pred_text):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / pred_name, pred_text)
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", pred_name)), pred, None,
                 "no predictions")


def test_record_with_both_scores_and_topk_is_an_error(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl({"image": "a.png", "scores": {"cat": 1}, "topk": [["cat", 1]]}))
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 1",
                 "both 'scores' and 'topk'")


def test_jsonl_score_given_as_text_is_an_error(tmp_path):
    write(tmp_path / "gt.csv", GT_CSV)
    pred = write(tmp_path / "pred.jsonl", jsonl({"image": "a.png", "scores": {"cat": "0.5"}}))
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.csv", "pred.jsonl")), pred, "line 1",
                 "score of 'cat': expected a number, found '0.5'")


@pytest.mark.parametrize("label", [1.5, True, ["cat"]])
def test_jsonl_label_that_is_not_a_name(tmp_path, label):
    gt = write(tmp_path / "gt.jsonl", jsonl({"image": "a.png", "label": label}))
    write(tmp_path / "pred.csv", "image,cat\na.png,1\n")
    expect_error(lambda: read_classification(make_spec(tmp_path, "gt.jsonl", "pred.csv")), gt, "line 1",
                 "a label must be a name (a string)")


def test_empty_declared_labels_list(tmp_path):
    manifest = write(tmp_path / "task.yaml", "name: t\ntype: classification\nimages: i\nground_truth: g.csv\n"
                                              "predictions: p.csv\nlabels: []\n")
    expect_error(lambda: load_manifest(manifest), manifest, "key 'labels'", "empty list")


def test_images_outside_class_folders_are_a_notice(tmp_path):
    write_png(tmp_path / "images" / "cat" / "1.png")
    write_png(tmp_path / "images" / "stray.png")
    write(tmp_path / "pred.csv", "image,cat\ncat/1.png,1\n")
    inputs = read_classification(make_spec(tmp_path, {"format": "folders", "path": "images"}, "pred.csv"))
    assert inputs.images == ["cat/1.png"]
    (notice,) = [n for n in inputs.notices if n.code == "images_outside_class_folders"]
    assert "stray.png" in notice.detail


def test_inspect_image_truncated_jpeg(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "cut.jpg"
    Image.fromarray(noise).save(path, quality=90)
    assert inspect_image(path).status == "ok"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    info = inspect_image(path)
    assert info.status == "unreadable" and "truncated JPEG" in info.problem
