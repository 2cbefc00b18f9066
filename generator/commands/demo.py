"""`evalsite demo`: the demo tasks' inputs (evalsite.demo) evaluated and built through the same pipeline as
any user's task, with a comparison of the two digits models and the task overview."""

from __future__ import annotations

from pathlib import Path

from evalsite.commands.build import build_report_site
from evalsite.commands.compare import build_comparison_site
from evalsite.commands.evaluate import evaluate
from evalsite.core.progress import Console
from evalsite.manifest import load_manifest


def compare_digits(out: Path, console: Console) -> Path:
    """The comparison site of the demo's digits v2 (candidate) with v1 (base), built in `out` beside their
    reports (OUT/digits, OUT/digits-v2); its folder."""
    return build_comparison_site(out / "digits", out / "digits-v2", out, images=out / "inputs" / "digits" / "images",
                                 progress=console.progress)


def run_demo(out: Path, language: str, console: Console) -> Path:
    """The demo tasks (digits and digits-v2 classification, shapes detection, shapes-masks segmentation),
    their reports, the comparison of the two digits models and the overview."""
    from evalsite.demo.classification import write_inputs
    from evalsite.demo.detection import write_detection_inputs
    from evalsite.demo.segmentation import write_segmentation_inputs
    from evalsite.site.overview import build_overview

    console.step("training two classifiers on scikit-learn's digits (a modest v1 and a stronger v2)")
    manifests = [write_inputs(out / "inputs" / "digits", language),
                 write_inputs(out / "inputs" / "digits-v2", language, model_version="v2")]
    console.step("generating shape scenes and training a small detector on them")
    manifests.append(write_detection_inputs(out / "inputs" / "shapes", language))
    console.step("generating shape scenes with masks and training a small segmentation model on them")
    manifests.append(write_segmentation_inputs(out / "inputs" / "shapes-masks", language))
    for manifest in manifests:
        spec = load_manifest(manifest, language)
        console.step(f"evaluating {spec.name}")
        report = evaluate(spec, console.progress)
        console.step(f"building the site of {spec.name}")
        site = build_report_site(report, spec.images, out / spec.name, console.progress, warn=console.warn)
        console.step(f"report: {(site / 'index.html').resolve()}")
    console.step("comparing digits v2 with v1")
    site = compare_digits(out, console)
    console.step(f"comparison: {(site / 'index.html').resolve()}")
    index, _, _ = build_overview(out, language)
    console.step("open this file in a browser:")
    return index
