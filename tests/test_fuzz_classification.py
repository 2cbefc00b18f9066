"""Fuzz (tests/fuzzing.py): the classification readers (CSV, JSONL, class folders, the score-CSV layouts, class
lists, display names), fed mutants of valid seed files, return ClassificationInputs (or their own type) or raise
one one-line EvalsiteError naming the file. `make fuzz` runs the long profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from evalsite.core.classification_data import ClassificationInputs
from evalsite.formats.classification import read_classification
from evalsite.formats.label_names import names_for, read_label_names

from fuzzing import FUZZ, TEXT, fuzz_file, mutations, outcome, put, world

IMAGES = ["cat/1.png", "cat/2.png", "dog/3.png", "bird/4.png"]
TRUE = ["cat", "cat", "dog", "bird"]
LABELS = ["bird", "cat", "dog"]


def _task(root: Path) -> None:
    for image in IMAGES:
        (root / "images" / image).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 6), (90, 30, 10)).save(root / "images" / image)
    put(root / "gt.csv", "image,label\n" + "".join(f"{i},{t}\n" for i, t in zip(IMAGES, TRUE)))
    put(root / "gt.jsonl", "".join(json.dumps({"image": i, "label": t}) + "\n" for i, t in zip(IMAGES, TRUE)))
    put(root / "scores.csv", "image,bird,cat,dog\n" + "".join(f"{i},0.1,{0.7 if t == 'cat' else 0.2},0.2\n"
                                                             for i, t in zip(IMAGES, TRUE)))
    put(root / "scores.jsonl", "".join(json.dumps({"image": i, "scores": {"bird": 0.1, "cat": 0.6, "dog": 0.3}})
                                       + "\n" for i in IMAGES))
    put(root / "topk.jsonl", "".join(json.dumps({"image": i, "topk": [["cat", 0.6], ["dog", 0.3]]}) + "\n"
                                     for i in IMAGES))
    put(root / "topk.csv", "image,top1,top2,score1,score2\n" + "".join(f"{i},cat,dog,0.6,0.3\n" for i in IMAGES))
    put(root / "index" / "classes.txt", "bird\ncat\ndog\n")
    put(root / "index" / "logits.csv", "path,target,logit_0,logit_1,logit_2\n"
        + "".join(f"{i},{LABELS.index(t)},0.5,1.5,-2.0\n" for i, t in zip(IMAGES, TRUE)))
    put(root / "timm.csv", "filename,index,label,prob\n" + "".join(f"{i},1,cat,0.8\n" for i in IMAGES))
    put(root / "names.txt", "cat a cat, Felis catus\ndog a dog\nbird a bird\n")
    put(root / "names.csv", 'id,name\ncat,"Felis, catus"\ndog,Canis\nbird,Aves\n')


# (the mutated file, its structure, reader arguments relative to the world's root)
CASES = {
    "csv-gt": ("gt.csv", "text", dict(ground_truth="gt.csv", predictions="scores.csv")),
    "jsonl-gt": ("gt.jsonl", "json", dict(ground_truth="gt.jsonl", predictions="scores.csv")),
    "csv-scores": ("scores.csv", "text", dict(ground_truth="gt.csv", predictions="scores.csv")),
    "csv-scores-forced": ("scores.csv", "text", dict(ground_truth="gt.csv", predictions="scores.csv",
                                                     pred_format="csv-scores")),
    "jsonl-scores": ("scores.jsonl", "json", dict(ground_truth="gt.csv", predictions="scores.jsonl")),
    "jsonl-topk": ("topk.jsonl", "json", dict(ground_truth="gt.jsonl", predictions="topk.jsonl")),
    "csv-topk": ("topk.csv", "text", dict(ground_truth="gt.csv", predictions="topk.csv")),
    "csv-index": ("index/logits.csv", "text", dict(ground_truth="images", gt_format="folders",
                                                   predictions="index/logits.csv")),
    "class-list": ("index/classes.txt", "text", dict(ground_truth="images", gt_format="folders",
                                                     predictions="index/logits.csv")),
    "labels-file": ("index/classes.txt", "text", dict(ground_truth="gt.csv", predictions="index/logits.csv",
                                                      labels_file="index/classes.txt")),
    "timm-top1": ("timm.csv", "text", dict(ground_truth="gt.csv", predictions="timm.csv",
                                           labels_file="index/classes.txt")),
}


def _seed(target: str) -> bytes:
    with world(_task) as root:
        return (root / target).read_bytes()


def _call(root: Path, arguments: dict):
    arguments = {k: root / v if k in ("ground_truth", "predictions", "labels_file") else v
                 for k, v in arguments.items()}
    return lambda: read_classification(images_root=root / "images", **arguments)


@pytest.mark.parametrize("case", list(CASES))
def test_the_seed_is_valid(case: str) -> None:
    with world(_task) as root:
        assert isinstance(_call(root, CASES[case][2])(), ClassificationInputs)


@pytest.mark.parametrize("case", list(CASES))
def test_fuzz_classification_reader(case: str) -> None:
    target, structure, arguments = CASES[case]
    fuzz_file(_task, target, _seed(target), structure, lambda root: _call(root, arguments)(), ClassificationInputs)()


def _folder_name() -> st.SearchStrategy[str]:
    """A class folder's name: anything a file system takes (no '/', no NUL, not '.' or '..', 255 bytes)."""
    text = st.one_of(st.sampled_from(TEXT), st.text(min_size=1, max_size=30))
    return text.filter(lambda n: "/" not in n and "\x00" not in n and n not in (".", "..")
                       and len(n.encode("utf-8", "surrogatepass")) <= 255
                       and n.encode("utf-8", "surrogatepass") == n.encode("utf-8", "replace"))


@FUZZ
@given(names=st.lists(_folder_name(), min_size=1, max_size=4))
def test_fuzz_class_folders(names: list[str]) -> None:
    def write(root: Path) -> None:
        _task(root)
        for k, name in enumerate(names):
            (root / "val" / name).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (4, 4)).save(root / "val" / name / f"{k}.png")

    with world(write) as root:
        outcome(lambda: read_classification(ground_truth=root / "val", gt_format="folders",
                                            predictions=root / "scores.csv", images_root=root / "val"), root)


@pytest.mark.parametrize("target", ["names.txt", "names.csv"])
def test_fuzz_label_names(target: str) -> None:
    @FUZZ
    @given(mutant=mutations(_seed(target), "text"))
    def run(mutant: bytes) -> None:
        with world(_task) as root:
            put(root / target, mutant)
            names = outcome(lambda: read_label_names(root / target), root, dict)
            if names is not None:
                outcome(lambda: names_for(LABELS, root / target), root, tuple)

    run()
