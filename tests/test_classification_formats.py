"""Classification files as torchvision / timm evaluation scripts write them (docs/inputs.md): score columns named
by class index with a class list, a `target` column checked against the ground truth, top-k CSVs, display
names (`label_names`), and text encodings. Numbers are checked against scikit-learn on the same arrays, and the
top-k accuracy by hand."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import accuracy_score, precision_score, recall_score, top_k_accuracy_score

from evalsite.cli import main
from evalsite.commands.evaluate import evaluate
from evalsite.core.errors import InputError
from evalsite.manifest import load_manifest, spec_from_dict

CLASSES = ["tench", "goldfish", "great_white_shark", "tiger_shark", "hammerhead", "electric_ray", "stingray",
           "cock", "hen", "ostrich"]
SYNSETS = ["n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331", "n01498041",
           "n01514668", "n01514859", "n01518878"]
SYNSET_NAMES = ["tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark, white shark",
                "tiger shark, Galeocerdo cuvieri", "hammerhead, hammerhead shark", "electric ray, crampfish",
                "stingray", "cock", "hen", "ostrich, Struthio camelus"]


def write_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), (10, 120, 200)).save(path)


def image_folder(root: Path, classes: list[str], n: int = 60, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """An ImageFolder val/ tree: root/val/<class>/<file>; (paths relative to root, true class indices)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(classes), n)
    y[:len(classes)] = np.arange(len(classes))  # every class present
    paths = []
    for i, c in enumerate(y):
        path = f"val/{classes[c]}/img_{i:04d}.png"
        write_png(root / path)
        paths.append(path)
    return paths, y


def logits_for(y: np.ndarray, n_classes: int, seed: int = 1, accuracy: float = 0.7) -> np.ndarray:
    """Logits whose argmax is the true class for about `accuracy` of the rows."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(y), n_classes)).astype(np.float32)
    right = rng.random(len(y)) < accuracy
    logits[np.arange(len(y))[right], y[right]] += 4.0
    return logits


def write_rows(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    """As pandas' DataFrame.to_csv(index=False) writes: comma, minimal quoting, '\\n' line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def spec(root: Path, gt: object, pred: object, **extra):
    data = {"name": "t", "type": "classification", "images": ".", "ground_truth": gt, "predictions": pred,
            "language": "en", **extra}
    return spec_from_dict(data, root, root / "task.yaml")


def sklearn_numbers(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    present = np.union1d(y_true, y_pred)
    return {"accuracy": accuracy_score(y_true, y_pred),
            "precision": precision_score(y_true, y_pred, labels=present, average="macro", zero_division=0),
            "recall": recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)}


def assert_numbers(report, expected: dict[str, float]) -> None:
    for key, value in expected.items():
        assert report.metrics[key] == pytest.approx(value, abs=1e-12), key


# ------------------------------------------------------------------------- index-named score columns

@pytest.mark.parametrize("prefix", ["logit_", "prob_", ""])
def test_index_named_columns_with_a_class_list_equal_sklearn(tmp_path: Path, prefix: str) -> None:
    """`path,target,logit_0..logit_9` plus classes.txt: the issue's case (accuracy 0.0 before)."""
    paths, y = image_folder(tmp_path, CLASSES)
    logits = logits_for(y, len(CLASSES))
    if prefix == "prob_":
        logits = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    header = ["path", "target"] + [f"{prefix}{k}" for k in range(len(CLASSES))]
    write_rows(tmp_path / "preds.csv", header, [[p, int(t), *map(float, row)] for p, t, row in zip(paths, y, logits)])
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    report = evaluate(spec(tmp_path, {"format": "folders", "path": "val"}, "preds.csv", labels="classes.txt"),
                      intervals=False)
    y_pred = logits.argmax(axis=1)
    assert 0.5 < report.metrics["accuracy"] < 0.95
    assert_numbers(report, sklearn_numbers(y, y_pred))
    assert report.dataset.labels == CLASSES
    # top-5 against scikit-learn (no ties in float logits)
    assert report.metrics["top5"] == pytest.approx(top_k_accuracy_score(y, logits, k=5, labels=range(10)))


def test_index_named_columns_one_file_for_ground_truth_and_predictions(tmp_path: Path) -> None:
    """The same CSV as ground truth (its `target` column) and predictions, with a class list."""
    paths, y = image_folder(tmp_path, CLASSES, n=40, seed=3)
    logits = logits_for(y, len(CLASSES), seed=4)
    header = ["path", "target"] + [f"logit_{k}" for k in range(len(CLASSES))]
    write_rows(tmp_path / "out.csv", header, [[p, int(t), *map(float, r)] for p, t, r in zip(paths, y, logits)])
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    report = evaluate(spec(tmp_path, "out.csv", "out.csv", labels="classes.txt"), intervals=False)
    assert_numbers(report, sklearn_numbers(y, logits.argmax(axis=1)))


def test_class_list_from_folders_and_found_classes_txt(tmp_path: Path) -> None:
    """Without `labels`: a classes.txt beside the predictions, else the class folders' sorted order (as
    torchvision's ImageFolder numbers them), each said in a notice."""
    order = sorted(CLASSES)  # ImageFolder: class i = i-th folder name in sorted order
    paths, y_sorted = image_folder(tmp_path, order, n=40, seed=5)
    logits = logits_for(y_sorted, len(order), seed=6)
    header = ["path"] + [f"logit_{k}" for k in range(len(order))]
    write_rows(tmp_path / "preds.csv", header, [[p, *map(float, r)] for p, r in zip(paths, logits)])
    report = evaluate(spec(tmp_path, {"format": "folders", "path": "val"}, "preds.csv"), intervals=False)
    assert_numbers(report, sklearn_numbers(y_sorted, logits.argmax(axis=1)))
    assert "class_order_folders" in [n.code for n in report.notices]
    assert report.task.label_source == "data"  # sorted folder names
    # a classes.txt beside the predictions wins, and is recorded as an input
    (tmp_path / "classes.txt").write_text("\n".join(order) + "\n", encoding="utf-8")
    report = evaluate(spec(tmp_path, {"format": "folders", "path": "val"}, "preds.csv"), intervals=False)
    assert_numbers(report, sklearn_numbers(y_sorted, logits.argmax(axis=1)))
    assert "class_list_found" in [n.code for n in report.notices]
    assert report.task.label_source == "class list"
    assert [i.path for i in report.task.inputs if i.role == "labels"] == ["classes.txt"]


def test_integer_ground_truth_and_index_columns_need_no_class_list(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 4, 30)
    y[:4] = np.arange(4)
    names = [f"{i}.png" for i in range(30)]
    for name in names:
        write_png(tmp_path / name)
    scores = rng.random((30, 4))
    write_rows(tmp_path / "gt.csv", ["image", "label"], [[n, int(t)] for n, t in zip(names, y)])
    write_rows(tmp_path / "p.csv", ["image", "0", "1", "2", "3"], [[n, *r] for n, r in zip(names, scores)])
    report = evaluate(spec(tmp_path, "gt.csv", "p.csv"), intervals=False)
    assert report.dataset.labels == ["0", "1", "2", "3"]
    assert_numbers(report, sklearn_numbers(y, scores.argmax(axis=1)))


def test_index_columns_without_a_class_list_are_an_error(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png")
    write_rows(tmp_path / "gt.csv", ["image", "label"], [["a.png", "cat"]])
    write_rows(tmp_path / "p.csv", ["image", "logit_0", "logit_1"], [["a.png", 0.1, 2.0]])
    with pytest.raises(InputError, match=r"no class list.*labels: classes.txt"):
        evaluate(spec(tmp_path, "gt.csv", "p.csv"), intervals=False)


def test_class_list_of_the_wrong_length_is_an_error(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png")
    write_rows(tmp_path / "gt.csv", ["image", "label"], [["a.png", "cat"]])
    write_rows(tmp_path / "p.csv", ["image", "logit_0", "logit_1", "logit_2"], [["a.png", 0.1, 2.0, 0.3]])
    with pytest.raises(InputError, match="are 3 classes but the class list has 2 names") as caught:
        evaluate(spec(tmp_path, "gt.csv", "p.csv", labels=["cat", "dog"]), intervals=False)
    assert caught.value.record == "line 1"


def test_score_columns_that_are_no_label_are_an_error(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png")
    write_rows(tmp_path / "gt.csv", ["image", "label"], [["a.png", "cat"]])
    write_rows(tmp_path / "p.csv", ["image", "cat_score", "dog_score"], [["a.png", 0.9, 0.1]])
    with pytest.raises(InputError, match="no score column is a ground-truth label"):
        evaluate(spec(tmp_path, "gt.csv", "p.csv"), intervals=False)


# ------------------------------------------------------------------------------------- target column

def _target_task(tmp_path: Path, flip: int, n: int = 200) -> object:
    paths, y = image_folder(tmp_path, CLASSES, n=n, seed=8)
    logits = logits_for(y, len(CLASSES), seed=9)
    target = y.copy()
    target[:flip] = (target[:flip] + 1) % len(CLASSES)
    header = ["path", "target"] + [f"logit_{k}" for k in range(len(CLASSES))]
    write_rows(tmp_path / "p.csv", header, [[p, int(t), *map(float, r)] for p, t, r in zip(paths, target, logits)])
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    return spec(tmp_path, {"format": "folders", "path": "val"}, "p.csv", labels="classes.txt")


def test_target_column_disagreeing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        evaluate(_target_task(tmp_path, flip=20), intervals=False)
    message = str(caught.value)
    assert "disagrees with the ground truth on 20 of 200 images" in message
    assert caught.value.record == "first at line 2"
    assert "line 2: target 'goldfish', ground truth 'tench'" in message  # row 0 is class 0 (image_folder)


def test_target_column_few_disagreements_are_a_notice(tmp_path: Path) -> None:
    report = evaluate(_target_task(tmp_path, flip=2), intervals=False)
    notice = next(n for n in report.notices if n.code == "target_disagrees")
    assert notice.detail.startswith("2 of 200 images")


def test_class_list_in_another_order_is_caught_by_the_target_column(tmp_path: Path) -> None:
    """A class list that is not the model's order would silently permute every label; the target column
    (the model's own indices) shows it."""
    spec_ = _target_task(tmp_path, flip=0)
    (tmp_path / "classes.txt").write_text("\n".join(sorted(CLASSES)) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="class list is probably not in the model's order"):
        evaluate(spec_, intervals=False)


# ----------------------------------------------------------------------------------------- top-k CSVs

TOPK_Y = ["cat", "dog", "bird", "cat", "dog", "bird"]
# Ranked lists by hand: image 0 right at 1, image 1 right at 2, image 2 right at 3, image 3 wrong
# (not listed), image 4 right at 1, image 5 right at 2.
TOPK_RANKED = [["cat", "dog", "bird"], ["cat", "dog", "bird"], ["cat", "dog", "bird"], ["dog", "bird", "fish"],
               ["dog", "cat", "bird"], ["cat", "bird", "dog"]]


def _topk_files(tmp_path: Path, header: list[str], cells) -> object:
    names = [f"{i}.png" for i in range(len(TOPK_Y))]
    for name in names:
        write_png(tmp_path / name)
    write_rows(tmp_path / "gt.csv", ["image", "label"], [[n, y] for n, y in zip(names, TOPK_Y)])
    scores = [0.6, 0.3, 0.1]
    rows = [[n, *cells(ranked), *scores] for n, ranked in zip(names, TOPK_RANKED)]
    write_rows(tmp_path / "p.csv", header, rows)
    return names


@pytest.mark.parametrize("label_cols, score_cols", [
    (["top1", "top2", "top3"], ["score1", "score2", "score3"]),
    (["top1_label", "top2_label", "top3_label"], ["top1_score", "top2_score", "top3_score"]),
    (["label_0", "label_1", "label_2"], ["prob_0", "prob_1", "prob_2"]),  # timm --results-separate-col
])
def test_topk_csv_by_name(tmp_path: Path, label_cols: list[str], score_cols: list[str]) -> None:
    _topk_files(tmp_path, ["image", *label_cols, *score_cols], lambda ranked: ranked)
    report = evaluate(spec(tmp_path, "gt.csv", "p.csv", labels=["cat", "dog", "bird", "fish"]), intervals=False)
    # by hand: top-1 right for images 0 and 4; top-2 adds 1 and 5; top-3 adds 2
    assert report.metrics["top1"] == pytest.approx(2 / 6)
    assert report.metrics["accuracy"] == pytest.approx(2 / 6)
    assert report.metrics["top2"] == pytest.approx(4 / 6)
    assert report.metrics["top3"] == pytest.approx(5 / 6)
    assert report.task.prediction_kind == "topk"
    y_true = np.array([["cat", "dog", "bird", "fish"].index(v) for v in TOPK_Y])
    y_pred = np.array([["cat", "dog", "bird", "fish"].index(r[0]) for r in TOPK_RANKED])
    assert_numbers(report, sklearn_numbers(y_true, y_pred))


def test_topk_csv_by_class_index_timm_layout(tmp_path: Path) -> None:
    """timm inference.py --topk 3 --results-separate-col --include-index: index_i (class index), label_i (its
    description, ignored) and prob_i."""
    labels = ["cat", "dog", "bird", "fish"]
    header = ["filename", "index_0", "index_1", "index_2", "label_0", "label_1", "label_2",
              "prob_0", "prob_1", "prob_2"]
    names = [f"{i}.png" for i in range(len(TOPK_Y))]
    for name in names:
        write_png(tmp_path / name)
    write_rows(tmp_path / "gt.csv", ["image", "label"], [[n, y] for n, y in zip(names, TOPK_Y)])
    rows = [[n, *[labels.index(c) for c in ranked], *[c.upper() for c in ranked], 0.6, 0.3, 0.1]
            for n, ranked in zip(names, TOPK_RANKED)]
    write_rows(tmp_path / "p.csv", header, rows)
    report = evaluate(spec(tmp_path, "gt.csv", "p.csv", labels=labels), intervals=False)
    assert [report.metrics[f"top{k}"] for k in (1, 2, 3)] == pytest.approx([2 / 6, 4 / 6, 5 / 6])


def test_topk_csv_without_scores_is_an_error(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png")
    write_rows(tmp_path / "gt.csv", ["image", "label"], [["a.png", "cat"]])
    write_rows(tmp_path / "p.csv", ["image", "top1", "top2"], [["a.png", "cat", "dog"]])
    with pytest.raises(InputError, match="without score columns"):
        evaluate(spec(tmp_path, "gt.csv", "p.csv"), intervals=False)


# -------------------------------------------------------------------------------------- display names

def _imagenet_task(tmp_path: Path, names_file: str, text: str) -> Path:
    paths, y = image_folder(tmp_path, SYNSETS, n=30, seed=11)
    logits = logits_for(y, len(SYNSETS), seed=12, accuracy=0.6)
    header = ["path"] + [f"logit_{k}" for k in range(len(SYNSETS))]
    write_rows(tmp_path / "p.csv", header, [[p, *map(float, r)] for p, r in zip(paths, logits)])
    (tmp_path / names_file).write_text(text, encoding="utf-8")
    (tmp_path / "task.yaml").write_text(
        "name: imagenet\ntype: classification\nimages: .\nlanguage: en\n"
        "ground_truth: {format: folders, path: val}\npredictions: p.csv\n"
        f"label_names: {names_file}\n", encoding="utf-8")
    return tmp_path / "task.yaml"


LOC_SYNSET = "".join(f"{s} {n}\n" for s, n in zip(SYNSETS, SYNSET_NAMES))


def test_label_names_in_report_json(tmp_path: Path) -> None:
    report = evaluate(load_manifest(_imagenet_task(tmp_path, "LOC_synset_mapping.txt", LOC_SYNSET)),
                      intervals=False)
    assert report.dataset.labels == SYNSETS  # ids stay the key (class folders in sorted order)
    assert report.dataset.label_names == dict(zip(SYNSETS, SYNSET_NAMES))
    assert "label_names" in [i.role for i in report.task.inputs]


def test_label_names_csv_and_errors(tmp_path: Path) -> None:
    text = "id,name\n" + "".join(f'{s},"{n}"\n' for s, n in zip(SYNSETS[:5], SYNSET_NAMES[:5]))
    report = evaluate(load_manifest(_imagenet_task(tmp_path, "names.csv", text)), intervals=False)
    assert report.dataset.label_names == dict(zip(SYNSETS[:5], SYNSET_NAMES[:5]))
    notice = next(n for n in report.notices if n.code == "label_names_missing")
    assert notice.detail.startswith("5 label(s) shown by id")
    (tmp_path / "names.csv").write_text("id,name\nx1,cat\n", encoding="utf-8")
    with pytest.raises(InputError, match="names none of the task's labels"):
        evaluate(load_manifest(tmp_path / "task.yaml"), intervals=False)


def test_label_names_shown_on_the_built_pages(tmp_path: Path) -> None:
    from evalsite.commands.build import build_report_site
    from evalsite.report.load import load_report

    hostile = "<b>x</b>"
    names = dict(zip(SYNSETS, SYNSET_NAMES))
    names[SYNSETS[1]] = f"goldfish {hostile}"
    task = _imagenet_task(tmp_path, "LOC_synset_mapping.txt", "".join(f"{s} {n}\n" for s, n in names.items()))
    report = evaluate(load_manifest(task))
    site = build_report_site(report, tmp_path, tmp_path / "site")
    pages = {p.relative_to(site).as_posix(): p.read_text(encoding="utf-8") for p in site.rglob("*.html")}
    text = "\n".join(pages.values())
    assert "tench, Tinca tinca (n01440764)" in text
    assert {"index.html", "details.html", "errors/index.html", "data.html"} <= set(pages), sorted(pages)
    for page in ("index.html", "details.html", "errors/index.html", "data.html"):
        shown = [f"{n} ({s})" for s, n in zip(SYNSETS, SYNSET_NAMES) if f"{n} ({s})" in pages[page]]
        assert shown, page
    gallery = [text for path, text in pages.items() if "errors/label-" in path]
    assert gallery and all("(n0" in g for g in gallery)
    assert hostile not in text and "goldfish &lt;b&gt;x&lt;/b&gt;" in text  # escaped like any label
    search = (site / "search" / "search_index.json").read_text(encoding="utf-8")
    assert "Tinca tinca" in search
    # report.json keeps the ids, records the names; a rebuild from it shows them again
    saved, _ = load_report(site / "report.json")
    assert saved.dataset.labels == SYNSETS and saved.dataset.label_names == names
    rebuilt = build_report_site(saved, tmp_path, tmp_path / "site2")
    assert "tench, Tinca tinca (n01440764)" in (rebuilt / "details.html").read_text(encoding="utf-8")
    results = (site / "downloads" / "results.csv").read_text(encoding="utf-8")
    assert "Tinca" not in results and re.search(r"n01440764", results)


def test_label_names_shown_on_the_comparison_pages(tmp_path: Path) -> None:
    from evalsite.commands.compare import build_comparison_site

    task = _imagenet_task(tmp_path, "LOC_synset_mapping.txt", LOC_SYNSET)
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["build", str(task), "-o", str(out), "--quiet", "--no-overview"]).exit_code == 0
    paths, y = image_folder(tmp_path, SYNSETS, n=30, seed=11)  # the same images again, a second model's logits
    logits = logits_for(y, len(SYNSETS), seed=99, accuracy=0.8)
    write_rows(tmp_path / "p.csv", ["path"] + [f"logit_{k}" for k in range(len(SYNSETS))],
               [[p, *map(float, r)] for p, r in zip(paths, logits)])
    (tmp_path / "task.yaml").write_text((tmp_path / "task.yaml").read_text(encoding="utf-8")
                                        .replace("name: imagenet", "name: imagenet-v2"), encoding="utf-8")
    assert CliRunner().invoke(main, ["build", str(task), "-o", str(out), "--quiet", "--no-overview"]).exit_code == 0
    site = build_comparison_site(out / "imagenet" / "report.json", out / "imagenet-v2" / "report.json",
                                 tmp_path / "cmp")
    details = (site / "details.html").read_text(encoding="utf-8")
    assert "tench, Tinca tinca (n01440764)" in details
    saved = json.loads((site / "compare.json").read_text(encoding="utf-8"))
    assert {change["label"] for change in saved["labels"]} <= set(SYNSETS)  # compare.json keeps the ids


# ------------------------------------------------------------------------------------------- encodings

def _encoded_task(tmp_path: Path, text: str, encoding: str) -> object:
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png")
    (tmp_path / "gt.csv").write_bytes(text.encode(encoding))
    write_rows(tmp_path / "p.csv", ["image", "猫", "狗"], [["a.png", 0.9, 0.1], ["b.png", 0.2, 0.8]])
    return spec(tmp_path, "gt.csv", "p.csv")


def test_gbk_csv_names_its_encoding_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        evaluate(_encoded_task(tmp_path, "image,label\na.png,猫\nb.png,狗\n", "gbk"), intervals=False)
    message = str(caught.value)
    assert "\n" not in message and caught.value.file == str(tmp_path / "gt.csv")
    assert "looks like GBK" in message and "iconv -f GBK -t UTF-8 gt.csv > gt.utf8.csv" in message


def test_utf16_file_names_its_encoding(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"looks like UTF-16.*iconv -f UTF-16 -t UTF-8"):
        evaluate(_encoded_task(tmp_path, "image,label\na.png,猫\nb.png,狗\n", "utf-16"), intervals=False)


def test_utf8_bom_csv_is_read_and_its_header_is_clean(tmp_path: Path) -> None:
    report = evaluate(_encoded_task(tmp_path, "\ufeffimage,label\na.png,猫\nb.png,狗\n", "utf-8"), intervals=False)
    assert report.metrics["accuracy"] == 1.0
    assert report.dataset.labels == ["猫", "狗"]


@pytest.mark.parametrize("text, encoding, named", [
    ("image,label\n1.png,貓\n2.png,小鳥\n3.png,鯊魚\n", "big5", "Big5"),
    ("image,label\n1.png,ねこ\n2.png,いぬ\n", "shift_jis", "Shift-JIS"),
    ("image,label\n1.png,café\n2.png,crème brûlée\n", "cp1252", "Windows-1252"),
    ("image,label\n1.png,金鱼\n2.png,大白鲨\n3.png,鸵鸟\n", "gb18030", "GBK"),
])
def test_other_encodings_are_named(tmp_path: Path, text: str, encoding: str, named: str) -> None:
    from evalsite.formats.records import read_text

    path = tmp_path / "x.csv"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(InputError, match=f"looks like {re.escape(named)}"):
        read_text(path)


def test_manifest_in_gbk_names_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    path.write_bytes("name: 任务\ntype: classification\n".encode("gbk"))
    with pytest.raises(InputError, match="looks like GBK"):
        load_manifest(path)


def test_label_names_on_detection_pages(tmp_path: Path) -> None:
    """Detection too: label ids (here COCO category names) -> display names on the pages; annotation links and
    report.json keep the ids."""
    from evalsite.commands.build import build_report_site

    from conftest import write_detection_task

    manifest = write_detection_task(tmp_path)
    (tmp_path / "names.csv").write_text("id,name\ncat,Felis catus\ndog,Canis familiaris\n", encoding="utf-8")
    with open(manifest, "a", encoding="utf-8") as handle:
        handle.write("label_names: names.csv\nannotation_url: https://label.example/edit?l={label}\n")
    report = evaluate(load_manifest(manifest))
    assert report.dataset.labels == ["cat", "dog"]
    assert report.dataset.label_names == {"cat": "Felis catus", "dog": "Canis familiaris"}
    site = build_report_site(report, tmp_path / "images", tmp_path / "site")
    text = "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))
    assert "Felis catus (cat)" in text and "Canis familiaris (dog)" in text
    assert "l=cat" in text and "l=Felis" not in text
    assert '"labels":["cat","dog"]' in (site / "report.json").read_text(encoding="utf-8")


def test_format_forces_the_csv_layout(tmp_path: Path) -> None:
    """Labels that look like class indices (p1, p2) are read by name with `format: csv-scores`; a forced
    layout the header does not have is an error."""
    for name in ("a.png", "b.png"):
        write_png(tmp_path / name)
    write_rows(tmp_path / "gt.csv", ["image", "label"], [["a.png", "p1"], ["b.png", "p2"]])
    write_rows(tmp_path / "p.csv", ["image", "p1", "p2"], [["a.png", 0.9, 0.1], ["b.png", 0.6, 0.4]])
    with pytest.raises(InputError, match="numbered 0, 1"):
        evaluate(spec(tmp_path, "gt.csv", "p.csv"), intervals=False)
    report = evaluate(spec(tmp_path, "gt.csv", {"format": "csv-scores", "path": "p.csv"}), intervals=False)
    assert report.dataset.labels == ["p1", "p2"] and report.metrics["accuracy"] == 0.5
    with pytest.raises(InputError, match="format csv-topk: expected top-k columns"):
        evaluate(spec(tmp_path, "gt.csv", {"format": "csv-topk", "path": "p.csv"}), intervals=False)
    write_rows(tmp_path / "q.csv", ["image", "cat", "dog"], [["a.png", 0.9, 0.1], ["b.png", 0.6, 0.4]])
    with pytest.raises(InputError, match="format csv-index: expected score columns named by class index"):
        evaluate(spec(tmp_path, "gt.csv", {"format": "csv-index", "path": "q.csv"}), intervals=False)


def test_timm_default_top1_csv(tmp_path: Path) -> None:
    """timm inference.py without --results-separate-col, --topk 1 --include-index: filename,index,label,prob,
    where label is the predicted class's description (not the truth) and index its class index."""
    labels = ["cat", "dog", "bird"]
    y = ["cat", "dog", "bird", "cat"]
    pred = [0, 1, 0, 2]
    names = [f"{i}.png" for i in range(4)]
    for name in names:
        write_png(tmp_path / name)
    write_rows(tmp_path / "gt.csv", ["image", "label"], [[n, t] for n, t in zip(names, y)])
    write_rows(tmp_path / "p.csv", ["filename", "index", "label", "prob"],
               [[n, k, f"{labels[k]}, a description", 0.9] for n, k in zip(names, pred)])
    report = evaluate(spec(tmp_path, "gt.csv", "p.csv", labels=labels), intervals=False)
    assert report.metrics["accuracy"] == pytest.approx(0.5)  # images 0 and 1 right, by hand
    assert_numbers(report, sklearn_numbers(np.array([labels.index(t) for t in y]), np.array(pred)))


def test_cli_options_label_names_and_index_columns(tmp_path: Path) -> None:
    """Option-only `evalsite evaluate` reads index-named columns with --labels and records --label-names."""
    import json

    from click.testing import CliRunner

    from evalsite.cli import main

    paths, y = image_folder(tmp_path, SYNSETS, n=20, seed=13)
    logits = logits_for(y, len(SYNSETS), seed=14)
    write_rows(tmp_path / "p.csv", ["path"] + [f"logit_{k}" for k in range(10)],
               [[p, *map(float, r)] for p, r in zip(paths, logits)])
    (tmp_path / "classes.txt").write_text("\n".join(SYNSETS) + "\n", encoding="utf-8")
    (tmp_path / "names.txt").write_text(LOC_SYNSET, encoding="utf-8")
    result = CliRunner().invoke(main, [
        "evaluate", "--name", "in", "--images", str(tmp_path), "--ground-truth", str(tmp_path / "val"),
        "--gt-format", "folders", "--predictions", str(tmp_path / "p.csv"), "--labels", str(tmp_path / "classes.txt"),
        "--label-names", str(tmp_path / "names.txt"), "--no-intervals", "-o", "-"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["dataset"]["label_names"]["n01440764"] == "tench, Tinca tinca"
    assert data["metrics"]["accuracy"] == pytest.approx(accuracy_score(y, logits.argmax(axis=1)))


def test_jsonl_topk_class_indices_and_target_names(tmp_path: Path) -> None:
    """JSONL top-k lists may name classes by index too; a target column may hold names."""
    import json

    labels = ["cat", "dog", "bird", "fish"]
    names = [f"{i}.png" for i in range(len(TOPK_Y))]
    for name in names:
        write_png(tmp_path / name)
    write_rows(tmp_path / "gt.csv", ["image", "label"], [[n, y] for n, y in zip(names, TOPK_Y)])
    (tmp_path / "p.jsonl").write_text("".join(
        json.dumps({"image": n, "topk": [[labels.index(c), s] for c, s in zip(ranked, (0.6, 0.3, 0.1))]}) + "\n"
        for n, ranked in zip(names, TOPK_RANKED)), encoding="utf-8")
    report = evaluate(spec(tmp_path, "gt.csv", "p.jsonl", labels=labels), intervals=False)
    assert [report.metrics[f"top{k}"] for k in (1, 2, 3)] == pytest.approx([2 / 6, 4 / 6, 5 / 6])
    # a target column of names, one of six wrong: more than 1% -> error naming the row
    rows = [[n, "dog" if i == 3 else y, *ranked, 0.6, 0.3, 0.1]
            for i, (n, y, ranked) in enumerate(zip(names, TOPK_Y, TOPK_RANKED))]
    write_rows(tmp_path / "q.csv", ["image", "target", "top1", "top2", "top3", "score1", "score2", "score3"], rows)
    with pytest.raises(InputError, match=r"1 of 6 images \(line 5: target 'dog', ground truth 'cat'"):
        evaluate(spec(tmp_path, "gt.csv", "q.csv", labels=labels), intervals=False)
