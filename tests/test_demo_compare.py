"""The demo's two digits models (a modest v1 and a stronger v2, one group, the same held-out images) and their
comparison: v2 is better beyond noise on accuracy, fixes many images and breaks a few, and the overview
links the comparison under the digits group. Built with the real demo pieces, as `evalsite demo` does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from evalsite.commands.build import build_report_site
from evalsite.commands.demo import compare_digits
from evalsite.commands.evaluate import evaluate
from evalsite.core.progress import Console
from evalsite.demo.classification import write_inputs
from evalsite.manifest import load_manifest
from evalsite.site.overview import build_overview


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT of the digits part of `evalsite demo` (both reports, their comparison, the overview)."""
    out = tmp_path_factory.mktemp("demo-compare")
    console = Console(quiet=True)
    for version in ("v1", "v2"):
        folder = out / "inputs" / ("digits" if version == "v1" else f"digits-{version}")
        spec = load_manifest(write_inputs(folder, "en", model_version=version))
        build_report_site(evaluate(spec), spec.images, out / spec.name)
    compare_digits(out, console)
    build_overview(out, "en")
    return out


def test_two_versions_of_one_task_on_the_same_images(demo: Path) -> None:
    v1 = yaml.safe_load((demo / "inputs" / "digits" / "digits.yaml").read_text(encoding="utf-8"))
    v2 = yaml.safe_load((demo / "inputs" / "digits-v2" / "digits-v2.yaml").read_text(encoding="utf-8"))
    assert (v1["name"], v1["group"], v1["model"]) == ("digits", "digits", "v1")
    assert (v2["name"], v2["group"], v2["model"]) == ("digits-v2", "digits", "v2")
    ground_truth = [(demo / "inputs" / folder / "ground_truth.csv").read_bytes() for folder in ("digits", "digits-v2")]
    assert ground_truth[0] == ground_truth[1]
    images = sorted(p.name for p in (demo / "inputs" / "digits" / "images").iterdir())
    assert images == sorted(p.name for p in (demo / "inputs" / "digits-v2" / "images").iterdir())
    reports = {name: json.loads((demo / name / "report.json").read_text(encoding="utf-8"))
               for name in ("digits", "digits-v2")}
    assert [(r["task"]["group"], r["task"]["model"]) for r in reports.values()] == [("digits", "v1"), ("digits", "v2")]
    assert reports["digits"]["metrics"]["accuracy"] < 0.95 < reports["digits-v2"]["metrics"]["accuracy"]


def test_the_comparison_shows_a_real_gain_with_fixed_and_broken_images(demo: Path) -> None:
    site = demo / "digits v2 vs v1"
    compare = json.loads((site / "compare.json").read_text(encoding="utf-8"))
    assert (compare["group"], compare["base"]["model"], compare["candidate"]["model"]) == ("digits", "v1", "v2")
    accuracy = next(m for m in compare["headline"] if m["metric"] == "accuracy")
    assert accuracy["verdict"] == "better" and accuracy["low"] > 0
    assert len(compare["fixed"]) > len(compare["broken"]) > 0
    # The fixed and broken galleries show every changed image (a thumbnail that exists on disk).
    for page, changes in (("fixed", compare["fixed"]), ("broken", compare["broken"])):
        html = (site / f"{page}.html").read_text(encoding="utf-8")
        thumbs = re.findall(r'<img src="(thumbs/[^"]+)"', html)
        assert len(thumbs) == len(changes) and all((site / thumb).is_file() for thumb in thumbs), page
        assert {c["image"] for c in changes} <= set(re.findall(r'alt="([^"]+)"', html)), page
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "es-verdict--better" in index


def test_the_overview_groups_both_versions_and_links_the_comparison(demo: Path) -> None:
    page = (demo / "overview" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<h2[^>]*>(.*?)</h2>", page) == ["digits"]
    rows = re.findall(r'<tr><td><a href="\.\./([^"]+)/index\.html">', page)
    assert rows == ["digits-v2", "digits"]
    assert '<a href="../digits%20v2%20vs%20v1/index.html">v2 vs v1</a>' in page
    assert '<span class="es-verdict es-verdict--better">better</span>' in page
