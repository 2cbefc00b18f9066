"""`evalsite compare`: the comparison site of two reports of the same evaluation set."""

from __future__ import annotations

import json
from pathlib import Path

from evalsite.commands.common import Echo, Progress, images_root, report_notices, silent
from evalsite.core.errors import InputError
from evalsite.core.progress import Console


def run_compare(base: Path, candidate: Path, out: Path, console: Console, echo: Echo, images: Path | None = None,
                name: str | None = None, language: str | None = None, overview: bool = True) -> None:
    """The comparison site in OUT/<name>/, then the overview of OUT (unless `overview` is false, in
    `language`, else the comparison's); `echo` prints each path written."""
    from evalsite.site.overview import build_overview

    console.step("comparing")
    site = build_comparison_site(base, candidate, out, images=images, name=name, language=language,
                                 progress=console.progress)
    echo(str((site / "index.html").resolve()))
    if overview:
        overview_language = language or json.loads((site / "compare.json").read_text(encoding="utf-8"))["language"]
        index, _, notices = build_overview(out, overview_language)
        report_notices(console, notices)
        echo(str(index))


def build_comparison_site(base_path: Path, candidate_path: Path, out: Path, images: Path | None = None,
                          name: str | None = None, language: str | None = None,
                          progress: Progress = silent) -> Path:
    """`evalsite compare`: the comparison site of two reports of the same evaluation set, in OUT/<name>/."""
    from evalsite.manifest import check_name
    from evalsite.render.compare_pages import SHOWN, render_comparison
    from evalsite.render.i18n import Messages
    from evalsite.report.compare import build_comparison
    from evalsite.report.load import check_same_evaluation, load_report
    from evalsite.site.build import build_site

    base, base_dir = load_report(base_path)
    candidate, candidate_dir = load_report(candidate_path)
    check_same_evaluation(base, candidate, base_path, candidate_path)
    base_json = base_path if base_path.is_file() else base_dir / "report.json"
    candidate_json = candidate_path if candidate_path.is_file() else candidate_dir / "report.json"
    comparison = build_comparison(base, candidate, base_json, candidate_json)
    if language:
        comparison.language = language
    root = images if images is not None else images_root(base, base_dir)
    if name is None:
        group = base.task.group or base.task.name
        name = f"{group} {candidate.task.model or candidate.task.name} vs {base.task.model or base.task.name}"
        try:
            name = check_name(name)
        except InputError:  # group or model names that cannot make a folder name
            name = "comparison"
    else:
        check_name(name)
    t = Messages(comparison.language)

    def write_docs(docs: Path) -> tuple[list, list]:
        render_comparison(comparison, base, candidate, root, docs,
                          progress("pictures", min(len(comparison.fixed), SHOWN) + min(len(comparison.broken), SHOWN)))
        nav = [(t("nav_overview"), "index.md"), (t("cmp_fixed_title"), "fixed.md"),
               (t("cmp_broken_title"), "broken.md"), (t("nav_details"), "details.md"), (t("nav_data"), "data.md")]
        return nav, ["/fixed.md", "/broken.md"]

    return build_site(out / name, f"{name} · {t('cmp_site')}", comparison.language, write_docs)
