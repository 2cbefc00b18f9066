"""`evalsite build`: evaluate tasks and build their report sites, the task overview and, on request, zips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evalsite.commands.common import Echo, Progress, report_notices, silent
from evalsite.commands.evaluate import evaluate, images_path
from evalsite.core.enums import ImageStatus
from evalsite.core.errors import InputError
from evalsite.core.progress import Console
from evalsite.manifest import TaskSpec
from evalsite.report.model import Report


def run_build(specs: list[TaskSpec], out: Path, console: Console, echo: Echo, overview: bool = True,
              archive: bool = False, language: str | None = None, scheduler: object = None,
              shard_images: int | None = None) -> None:
    """Every task's site in OUT/<task name>/, then the overview of OUT (unless `overview` is false, in
    `language`, else the first task's) and each site's zip (`archive`); `echo` prints each path written.
    `scheduler`: a Dask cluster for the per-image work (evalsite.core.cluster.on_cluster), `shard_images`
    images per task there."""
    from evalsite.core.cluster import check_scheduler, on_cluster

    check_scheduler(scheduler)
    with on_cluster(scheduler, shard_images) as cluster:
        if cluster is not None:
            console.step(f"using the Dask cluster at {cluster.client.scheduler.address}")
        _build_all(specs, out, console, echo, overview, archive, language)


def _build_all(specs: list[TaskSpec], out: Path, console: Console, echo: Echo, overview: bool, archive: bool,
               language: str | None) -> None:
    from evalsite.site.overview import build_overview

    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"two manifests use the same task name: {sorted({n for n in names if names.count(n) > 1})}")
    if archive:
        from evalsite.site.archive import check_target

        for name in names:
            check_target(out / name, out / f"{name}.zip")
    reports = []
    for spec in specs:  # evaluate everything first: bad input anywhere writes nothing
        console.step(f"evaluating {spec.name}")
        report = evaluate(spec, console.progress)
        report_notices(console, report.notices)
        reports.append((spec, report))
    for spec, report in reports:
        console.step(f"building the site of {spec.name}")
        report.task.images_path = images_path(spec.images, out / spec.name)  # verify's rebuild keeps it
        site = build_report_site(report, spec.images, out / spec.name, console.progress, warn=console.warn)
        echo(str((site / "index.html").resolve()))
    if overview:
        index, _, notices = build_overview(out, language or specs[0].language)
        report_notices(console, notices)
        echo(str(index))
    if archive:
        from evalsite.commands.archive import run_archive

        for spec in specs:
            echo(str(run_archive(out / spec.name, None, console)))


def build_report_site(report: Report, images_root: Path, out: Path,
                      progress: Progress = silent,
                      extra_pages: Callable[[Path], list] | None = None,
                      warn: Callable[[str], None] | None = None) -> Path:
    """Render and build one task's site into `out` (replaced only when the build succeeds).
    `extra_pages(docs)` writes more pages (`evalsite verify`) and returns their nav entries, added last.
    `warn` tells the user about characters the charts could not draw and about a site over its size budget
    (evalsite.site.budget; None: a Python UserWarning)."""
    from evalsite.render.i18n import Messages
    from evalsite.render.kinds import render_report
    from evalsite.report.derived import derived_tables
    from evalsite.site.budget import budget_for
    from evalsite.site.build import build_site

    t = Messages(report.task.language)

    def write_docs(docs: Path) -> tuple[list, list]:
        render_report(report, derived_tables(report), images_root, docs, progress("pictures", len(report.errors)))
        nav = [(t("nav_overview"), "index.md"), (t("nav_details"), "details.md"),
               (t("nav_errors"), "errors/index.md"), (t("nav_suspects"), "errors/suspects.md"),
               (t("nav_data"), "data.md")]
        nav.insert(4, (t("nav_traits"), _write_traits(report, images_root, docs, progress)))  # reads the images
        if extra_pages is not None:
            nav += extra_pages(docs)
        return nav, ["/errors/label-*.md"]

    site = build_site(out, f"{report.task.name} · {t('site_report')}", report.task.language, write_docs,
                      budget_for(len(report.images)), warn)
    glyph_warning(warn)
    return site


def glyph_warning(warn: Callable[[str], None] | None) -> None:
    """One warning for the label characters the charts showed as boxes (evalsite.render.charts)."""
    import warnings

    from evalsite.render.charts import missing_glyphs

    missing = missing_glyphs()
    if missing:
        text = (f"charts: no installed font has the character(s) {missing} (label names, or the chart text of a "
                "Chinese site), so the charts show them as boxes (the pages show them as text); install a font "
                "that has them, e.g. Noto Sans CJK (Debian/Ubuntu: fonts-noto-cjk)")
        if warn is None:
            warnings.warn(text, UserWarning, stacklevel=3)
        else:
            warn(text)


def _write_traits(report: Report, images_root: Path, docs: Path, progress: Progress) -> str:
    """The "Shared traits" page (reads every evaluation image once, at build time); returns its docs path."""
    from evalsite.render.kinds import first_gallery_pages
    from evalsite.render.pages import environment
    from evalsite.render.traits_pages import PAGE, render_traits
    from evalsite.report.traits import shared_traits

    first_page = first_gallery_pages(report)
    ok = sum(1 for r in report.images if r.status == ImageStatus.OK)
    shared = shared_traits(report, images_root, progress("image traits", ok))
    render_traits(report, shared, docs, environment(), first_page)
    return PAGE
