"""The demo's planted annotation mistakes (issue 6): the digits ground truth gives a wrong digit to a few clear
digits, the shapes ground truth leaves out a few objects and files a few under a look-alike label; each is
recorded in planted_mistakes.json, and the report's "check these annotations" page (errors/suspects.html)
lists every one of them, first in its section. Built through the real pipeline, as `evalsite demo` does.

Every planted shapes mistake can be found: the demo plants them only on objects the detector finds clearly
and alone (a dropped annotation of an object the detector misses leaves no trace in the predictions, so no
rule could find it; a swapped label on an object it misses would be an ordinary missed object)."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import pytest

from evalsite.commands.build import build_report_site
from evalsite.commands.evaluate import evaluate
from evalsite.demo.classification import LOOK_ALIKE, PLANTED_DIGITS, write_inputs
from evalsite.demo.detection import LABELS, PLANTED_DROPPED, PLANTED_SWAPPED, SWAPPED_LABEL, write_detection_inputs
from evalsite.manifest import load_manifest
from evalsite.render.detection_pages import detection_suspects


def _planted(manifest: Path) -> list[dict]:
    return json.loads((manifest.parent / "planted_mistakes.json").read_text(encoding="utf-8"))["mistakes"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object, Path | None]]:
    """The digits demo tasks (v1 with its site, v2 its report only): {version: (manifest, report, site)}."""
    root = tmp_path_factory.mktemp("planted-digits")
    built = {}
    for version in ("v1", "v2"):
        manifest = write_inputs(root / "inputs" / version, "en", model_version=version)
        spec = load_manifest(manifest)
        report = evaluate(spec)
        site = build_report_site(report, spec.images, root / spec.name) if version == "v1" else None
        built[version] = (manifest, report, site)
    return built


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, Path]:
    """The full-size shapes demo task: its manifest, report and site."""
    root = tmp_path_factory.mktemp("planted-shapes")
    manifest = write_detection_inputs(root / "inputs", "en")
    spec = load_manifest(manifest)
    report = evaluate(spec)
    return manifest, report, build_report_site(report, spec.images, root / spec.name)


def test_digits_mistakes_are_planted_in_the_ground_truth_only(digits) -> None:
    manifest, _, _ = digits["v1"]
    planted = _planted(manifest)
    assert len(planted) == PLANTED_DIGITS
    assert len({m["true_label"] for m in planted}) == PLANTED_DIGITS  # one per true digit
    with open(manifest.parent / "ground_truth.csv", encoding="utf-8") as handle:
        given = {row["image"]: row["label"] for row in csv.DictReader(handle)}
    for m in planted:
        assert m["kind"] == "wrong_label"
        assert given[m["image"]] == m["given_label"] == str(LOOK_ALIKE[int(m["true_label"])])
    # v1 and v2 share the ground truth, mistakes included
    assert _planted(digits["v2"][0]) == planted
    assert (manifest.parent / "ground_truth.csv").read_bytes() == (
        digits["v2"][0].parent / "ground_truth.csv").read_bytes()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_digits_suspects_are_the_planted_mistakes_first(digits, version: str) -> None:
    manifest, report, _ = digits[version]
    planted = {m["image"]: m for m in _planted(manifest)}
    suspects = sorted((e for e in report.errors if e.suspect), key=lambda e: -(e.suspicion or 0.0))
    # the four most suspicious images are exactly the planted ones: a clear digit, the model sure of it
    assert {e.image for e in suspects[:len(planted)]} == set(planted), [e.image for e in suspects]
    for e in suspects[:len(planted)]:
        assert e.suspect == "confident_other_label"
        assert (e.true, e.predicted) == (planted[e.image]["given_label"], planted[e.image]["true_label"])


def test_digits_suspects_page_and_csv_list_them(digits) -> None:
    manifest, _, site = digits["v1"]
    planted = {m["image"] for m in _planted(manifest)}
    with open(site / "downloads" / "suspects.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["image"] for row in rows if int(row["rank"]) <= len(planted)} == planted
    page = html.unescape((site / "errors" / "suspects.html").read_text(encoding="utf-8"))
    assert all(image in page for image in planted)


def test_shapes_mistakes_are_planted_in_the_ground_truth_only(shapes) -> None:
    manifest, _, _ = shapes
    planted = _planted(manifest)
    kinds = [m["kind"] for m in planted]
    assert sorted(kinds) == ["missing_annotation"] * PLANTED_DROPPED + ["swapped_label"] * PLANTED_SWAPPED
    assert len({m["image"] for m in planted}) == len(planted)  # in different images
    gt = json.loads((manifest.parent / "ground_truth.json").read_text(encoding="utf-8"))
    annotations = {a["id"]: a for a in gt["annotations"]}
    assert sorted(annotations) == list(range(len(annotations)))  # ids stay 0..n-1 without the dropped ones
    for m in planted:
        same_place = [a for a in gt["annotations"] if a["image_id"] == m["image_id"] and a["bbox"] == m["bbox"]]
        if m["kind"] == "missing_annotation":
            assert m["annotation_id"] is None and m["given_label"] is None and same_place == []
        else:
            a = annotations[m["annotation_id"]]
            assert same_place == [a] and LABELS[a["category_id"] - 1] == m["given_label"]
            assert m["given_label"] == SWAPPED_LABEL[m["true_label"]] != m["true_label"]


def test_shapes_suspects_are_the_planted_mistakes_first(shapes) -> None:
    manifest, report, site = shapes
    planted = _planted(manifest)
    found = detection_suspects(report, set())
    for reason in ("missing_annotation", "swapped_label"):
        mine = [m for m in planted if m["kind"] == reason]
        # the planted ones lead their section of the page (the detection's box, of the true label)
        top = found[reason][:len(mine)]
        assert sorted(item.error.image for item in top) == sorted(m["image"] for m in mine), reason
        for item in top:
            m = next(m for m in mine if m["image"] == item.error.image)
            assert item.error.label == m["true_label"] and item.error.kind == "false_positive"
            if reason == "swapped_label":
                assert item.error.related_label == m["given_label"]
    # the page shows them as #1 and #2 of their sections
    page = html.unescape((site / "errors" / "suspects.html").read_text(encoding="utf-8"))
    ranks = {image: int(rank) for rank, image in re.findall(r'alt="#(\d+) · [^"]*· (scene-\d+\.png)"', page)
             if image in {m["image"] for m in planted}}
    assert set(ranks) == {m["image"] for m in planted}, ranks
    assert all(rank <= 2 for rank in ranks.values()), ranks


def test_shapes_shared_traits_page_finds_the_blurred_scenes(shapes) -> None:
    """The generator puts some scenes out of focus (demo_detection's docstring): blurred shapes look like
    others, and the detector's confident mistakes gather there; the shared-traits page must say so."""
    _, _, site = shapes
    html = (site / "traits.html").read_text(encoding="utf-8")
    named = [line for line in html.split("<li>") if " vs " in line and "blurry" in line]
    assert named, "the shared-traits page does not name the blurred scenes"
