"""The whole pipeline for one task: read → evaluate → report → render → site."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Callable

from evalsite import __version__
from evalsite.core.errors import InputError, Notice
from evalsite.formats.images import inspect_images
from evalsite.manifest import TaskSpec
from evalsite.report.detection_model import DetectionReport
from evalsite.report.model import InputFile, Report, TaskInfo

# Each stage's heavy libraries (scikit-learn, matplotlib, MkDocs) are imported where the stage runs, so that
# `evalsite evaluate` of a detection task starts fast: start-up is a visible share of its time.

Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> advance(n)


def _silent(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None


def _sha256(path: Path, contents: bool = True) -> str:
    """SHA-256 of a file; of a folder (YOLO/VOC/PNG-mask folders), over every file's path and content in
    sorted order, or over the paths alone (`contents=False`: class folders, whose images are the data)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\n")
            if contents:
                digest.update(_sha256(file).encode("ascii") + b"\n")
        return digest.hexdigest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shown_path(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def evaluation_date() -> str:
    """Today (UTC), or the day of SOURCE_DATE_EPOCH when set, so that builds can be reproduced."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).date().isoformat()
        except (ValueError, OverflowError, OSError):
            raise InputError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time in seconds") from None
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def _image_notices(spec: TaskSpec, images: list[str], infos) -> list[Notice]:
    return [Notice(f"image_{info.status}", str(spec.images / image), None, info.problem or "")
            for image, info in zip(images, infos) if info.status != "ok"]


def _task_info(spec: TaskSpec, label_source: str, prediction_kind: str, **extra) -> TaskInfo:
    base = spec.source.resolve().parent if spec.source else None
    files = [("ground_truth", spec.ground_truth), ("predictions", spec.predictions)]
    inputs_info = [InputFile(role, s.format or s.path.suffix.lstrip(".") or "folders", _shown_path(s.path, base),
                             _sha256(s.path, contents=spec.type != "classification")) for role, s in files]
    if spec.labels_file:
        inputs_info.append(InputFile("labels", "txt", _shown_path(spec.labels_file, base), _sha256(spec.labels_file)))
    return TaskInfo(
        name=spec.name, type=spec.type, language=spec.language, evalsite_version=__version__,
        date=evaluation_date(), images_root=_shown_path(spec.images, base), inputs=inputs_info,
        label_source=label_source, prediction_kind=prediction_kind,
        small_set_threshold=spec.small_set_threshold, group=spec.group or spec.name, model=spec.model, **extra)


def evaluate(spec: TaskSpec, progress: Progress = _silent, intervals: bool = True) -> Report | DetectionReport:
    """Read the inputs, check the images and compute the report (no files written); `intervals=False`
    leaves out the bootstrap intervals (report.intervals None)."""
    report = _evaluate(spec, progress, intervals)
    if spec.metadata_file is not None:
        from evalsite.formats.traits import read_metadata

        report.metadata = read_metadata(spec.metadata_file, spec.images, [r.image for r in report.images])
    return report


def _evaluate(spec: TaskSpec, progress: Progress, intervals: bool) -> Report | DetectionReport:
    if not spec.images.is_dir():
        raise InputError("images root not found or not a folder", spec.images)
    if spec.type in ("detection", "segmentation"):
        return _evaluate_detection(spec, progress, intervals)
    if spec.type != "classification":
        raise InputError(f"task type {spec.type!r} is not supported yet", spec.source)
    from evalsite.formats.classification import read_classification
    from evalsite.report.classification import build_classification_report

    inputs = read_classification(spec)
    infos = inspect_images(spec.images, inputs.images, progress("checking images", len(inputs.images)))
    notices = list(inputs.notices) + _image_notices(spec, inputs.images, infos)
    task = _task_info(spec, inputs.label_source, "scores" if inputs.scores is not None else "topk")
    return build_classification_report(inputs, infos, task, notices, intervals)


def _evaluate_detection(spec: TaskSpec, progress: Progress, intervals: bool = True) -> DetectionReport:
    from evalsite.formats.detection import read_detection
    from evalsite.report.detection import build_detection_report

    data = read_detection(spec)
    infos = inspect_images(spec.images, data.images, progress("checking images", len(data.images)))
    notices = list(data.notices) + _image_notices(spec, data.images, infos)
    kind = "masks" if spec.type == "segmentation" else "boxes"
    task = _task_info(spec, "declared" if spec.labels or spec.labels_file else "categories", kind,
                      image_matching=data.image_matching, label_matching=data.label_matching,
                      iou_threshold=spec.iou_threshold, annotation_url=spec.annotation_url)
    return build_detection_report(data, infos, task, notices, intervals)


def build_report_site(report: Report | DetectionReport, images_root: Path, out: Path,
                      progress: Progress = _silent,
                      extra_pages: Callable[[Path], list] | None = None) -> Path:
    """Render and build one task's site into `out` (replaced only when the build succeeds).
    `extra_pages(docs)` writes more pages (`evalsite verify`) and returns their nav entries, added last."""
    from evalsite.render.i18n import Messages
    from evalsite.render.kinds import render_report
    from evalsite.report.derived import derived_tables
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

    return build_site(out, f"{report.task.name} · {t('site_report')}", report.task.language, write_docs)


def _write_traits(report: Report | DetectionReport, images_root: Path, docs: Path, progress: Progress) -> str:
    """The "Shared traits" page (reads every evaluation image once, at build time); returns its docs path."""
    from evalsite.render.detection_pages import detection_galleries
    from evalsite.render.pages import environment, gallery_pages
    from evalsite.render.traits_pages import PAGE, render_traits
    from evalsite.report.traits import shared_traits

    galleries = (detection_galleries(report, set()) if isinstance(report, DetectionReport)
                 else gallery_pages(report, {}))
    first_page = {g.label: g.file for g in galleries if g.number == 1}
    ok = sum(1 for r in report.images if r.status == "ok")
    shared = shared_traits(report, images_root, progress("image traits", ok))
    render_traits(report, shared, docs, environment(), first_page)
    return PAGE


def build_comparison_site(base_path: Path, candidate_path: Path, out: Path, images: Path | None = None,
                          name: str | None = None, language: str | None = None,
                          progress: Progress = _silent) -> Path:
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
    root = images if images is not None else _images_root(base, base_dir)
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


def _images_root(report, report_dir: Path) -> Path:
    """The images of a report: its images root as recorded (absolute, or relative to the current folder or
    to the report's folder); an InputError asks for --images when none exists."""
    recorded = Path(report.task.images_root)
    for candidate in ([recorded] if recorded.is_absolute() else [Path.cwd() / recorded, report_dir / recorded,
                                                                 report_dir.parent / recorded]):
        if candidate.is_dir():
            return candidate
    raise InputError(f"cannot find the images of this report ({report.task.images_root!r}); give --images DIR",
                     report_dir)
