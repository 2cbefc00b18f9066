"""`evalsite.evaluate`, `load_report`, `build_site`, `compare` and `check`: the commands of the command line
as functions, on the same code (evalsite.commands), with the same one-line errors (raised, not printed)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsite.core.errors import InputError, Notice
from evalsite.core.image_info import ImageInfo
from evalsite.report.model import Report, TaskInfo

__all__ = ["CheckResult", "build_site", "check", "compare", "evaluate", "load_report"]

PathLike = str | os.PathLike
LOG = logging.getLogger("evalsite")


def log_notices(notices: list[Notice]) -> None:
    """Each notice as a warning of the "evalsite" logger (shown on stderr unless logging is configured
    otherwise); they are also kept in ``report.notices``."""
    for notice in notices:
        LOG.warning(notice.one_line())


def built_report(inputs: Any, task: TaskInfo, images_root: Path | None, unchecked: Callable[[int], list],
                 intervals: bool) -> Report:
    """The report of an evaluator's inputs: the images checked as by the CLI when there is an images root,
    else `unchecked(n)` (their infos, not looked at)."""
    from evalsite.formats.images import inspect_images, size_notices
    from evalsite.report.kinds import task_kind

    notices = list(inputs.notices)
    if images_root is not None:
        if not images_root.is_dir():
            raise InputError("images root not found or not a folder", images_root)
        infos: list[ImageInfo] = inspect_images(images_root, inputs.images)
        notices += [Notice(f"image_{info.status}", str(images_root / image), None, info.problem or "")
                    for image, info in zip(inputs.images, infos) if info.status != "ok"]
        if hasattr(inputs, "widths"):  # detection: sizes given (sizes=) that are not the files'
            notices += size_notices(images_root, inputs.images, inputs.widths, inputs.heights, infos, "sizes")
    else:
        infos = unchecked(len(inputs.images))
    report = task_kind(task.type).build_report(inputs, infos, task, notices, intervals)
    log_notices(report.notices)
    return report


def evaluate(manifest: PathLike | Mapping[str, Any], *, base: PathLike | None = None, language: str | None = None,
             intervals: bool = True, scheduler: Any = None, shard_images: int | None = None) -> Report:
    """Evaluate a task described by a manifest, as ``evalsite evaluate`` does (no files written).

    Parameters
    ----------
    manifest : str, os.PathLike or dict
        A task.yaml file, or a dict with the same keys (``name``, ``type``, ``images``, ``ground_truth``,
        ``predictions``, optional ``labels``, ``iou_threshold``...; see "Inputs and formats"); paths may be
        strings or ``pathlib.Path`` objects.
    base : str or os.PathLike, optional
        For a dict: the folder its relative paths are relative to (default: the current folder). A task.yaml's
        relative paths are always relative to the file's own folder; ``base`` is then refused.
    language : {"zh", "en"}, optional
        Overrides the manifest's ``language`` (as ``--lang``).
    intervals : bool, default True
        Compute the 95% bootstrap intervals (``False``: as ``--no-intervals``).
    scheduler : str or distributed.Client, optional
        Run the per-image work on a Dask cluster, as ``--scheduler`` (needs ``pip install "evalsite[dask]"``):
        ``"local:N"`` (N worker processes on this machine), a scheduler address (``"tcp://host:8786"``), or a
        ``distributed.Client`` (used as it is, not closed). The result is the same as without it
        (docs/cluster.md).
    shard_images : int, optional
        Images per Dask task with ``scheduler`` (default 1000), as ``--shard-images``.

    Returns
    -------
    Report
        The report: ``report.metrics`` is report.json's ``metrics``; ``report.to_json(path)`` writes it.

    Raises
    ------
    evalsite.InputError
        Bad input, with the one-line message the command line prints ("file, record: problem").

    Examples
    --------
    >>> report = evalsite.evaluate("task.yaml")  # doctest: +SKIP
    >>> report = evalsite.evaluate({"name": "digits", "type": "classification", "images": "images",
    ...                             "ground_truth": "gt.csv", "predictions": "scores.csv"},
    ...                            base="data")  # doctest: +SKIP
    >>> report.metrics["accuracy"]  # doctest: +SKIP
    0.953
    """
    from evalsite.commands.evaluate import evaluate as evaluate_spec
    from evalsite.manifest import load_manifest, spec_from_dict

    if isinstance(manifest, Mapping):
        spec = spec_from_dict(_plain(manifest), Path(base) if base is not None else Path.cwd(), None, language)
    elif isinstance(manifest, (str, os.PathLike)):
        if base is not None:
            raise InputError("'base' is for a manifest given as a dict; a task.yaml's paths are relative to its "
                             "own folder", Path(manifest))
        spec = load_manifest(Path(manifest), language)
    else:
        raise InputError(f"'manifest' must be a task.yaml path or a dict, found {type(manifest).__name__}")
    from evalsite.core.cluster import on_cluster

    with on_cluster(scheduler, shard_images):
        report = evaluate_spec(spec, intervals=intervals)
    log_notices(report.notices)
    return report


def _plain(data: Mapping[str, Any]) -> dict:
    """A manifest dict with paths (os.PathLike) as strings, as YAML would give them."""
    def plain(value: Any) -> Any:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in data.items()}


def load_report(path: PathLike) -> Report:
    """Read a report back from report.json.

    Parameters
    ----------
    path : str or os.PathLike
        A built report folder (``OUT/<task name>/``) or a report.json file of any name.

    Returns
    -------
    Report
        The report, as :func:`evaluate` returned it.

    Examples
    --------
    >>> report = evalsite.load_report("reports/digits")  # doctest: +SKIP
    """
    from evalsite.report.load import load_report as load

    return load(Path(path))[0]


def _report_and_images(report: Report | PathLike, images: PathLike | None) -> tuple[Report, Path]:
    from evalsite.commands.common import images_root
    from evalsite.report.load import load_report as load

    if isinstance(report, (str, os.PathLike)):
        loaded, folder = load(Path(report))
        return loaded, Path(images) if images is not None else images_root(loaded, folder)
    if images is not None:
        return report, Path(images)
    if report.task.images_root:
        return report, images_root(report, Path.cwd())
    raise InputError("this report records no images folder; give images=DIR (the folder its image paths are "
                     "relative to)")


def build_site(report: Report | PathLike, out: PathLike, *, images: PathLike | None = None,
               overview: bool = True, scheduler: Any = None, shard_images: int | None = None) -> Path:
    """Build the report site of one report, as ``evalsite build`` does for one task.

    The site goes to ``out/<task name>/`` (replaced only when the build succeeds); then the task overview of
    ``out`` is refreshed (``out/index.html``), unless ``overview=False``.

    Parameters
    ----------
    report : Report, str or os.PathLike
        A report (from :func:`evaluate`, an evaluator's ``compute()`` or :func:`load_report`), or the path of
        a report folder or report.json.
    out : str or os.PathLike
        The output root.
    images : str or os.PathLike, optional
        The folder the report's image paths are relative to. Default: the images root the report records
        (as given to the manifest or the evaluator's ``images_root``; looked up from the current folder, and
        for a report path also from the report's folder). A report built from arrays without
        ``images_root`` records none: then ``images`` is needed.
    overview : bool, default True
        Refresh the task overview of ``out``.
    scheduler, shard_images : optional
        The pictures and traits on a Dask cluster, as for :func:`evaluate`; the site is the same as without it.

    Returns
    -------
    pathlib.Path
        The site's folder, ``out/<task name>``; open its ``index.html``.

    Examples
    --------
    >>> site = evalsite.build_site(report, "reports", images="data/images")  # doctest: +SKIP
    >>> print(site / "index.html")  # doctest: +SKIP
    reports/digits/index.html
    """
    from evalsite.commands.build import build_report_site

    loaded, root = _report_and_images(report, images)
    out = Path(out)
    from evalsite.core.cluster import on_cluster

    with on_cluster(scheduler, shard_images):
        site = build_report_site(loaded, root, out / loaded.task.name)
    if overview:
        from evalsite.site.overview import build_overview

        _, _, notices = build_overview(out, loaded.task.language)
        log_notices(notices)
    return site


def compare(base: PathLike, candidate: PathLike, out: PathLike, *, images: PathLike | None = None,
            name: str | None = None, language: str | None = None, overview: bool = True) -> Path:
    """Build the comparison site of two reports of the same evaluation set, as ``evalsite compare``.

    Parameters
    ----------
    base, candidate : str or os.PathLike
        Report folders or report.json files (save a :class:`Report` first with ``report.to_json(path)``).
    out : str or os.PathLike
        The output root: the site goes to ``out/<name>/``.
    images : str or os.PathLike, optional
        The evaluation images (default: the images root recorded in ``base``).
    name : str, optional
        The folder name (default ``"<group> <candidate model> vs <base model>"``).
    language : {"zh", "en"}, optional
        The pages' language (default: the reports').
    overview : bool, default True
        Refresh the task overview of ``out``.

    Returns
    -------
    pathlib.Path
        The comparison site's folder.

    Examples
    --------
    >>> evalsite.compare("reports/v1/report.json", "reports/v2/report.json", "reports")  # doctest: +SKIP
    """
    from evalsite.commands.compare import build_comparison_site

    out = Path(out)
    site = build_comparison_site(Path(base), Path(candidate), out, images=Path(images) if images else None,
                                 name=name, language=language)
    if overview:
        import json

        from evalsite.site.overview import build_overview

        shown = language or json.loads((site / "compare.json").read_text(encoding="utf-8"))["language"]
        _, _, notices = build_overview(out, shown)
        log_notices(notices)
    return site


@dataclass
class CheckResult:
    """The outcome of :func:`check`, as ``evalsite check`` prints it.

    Attributes
    ----------
    passed : bool
        Every rule holds.
    rules : list of dict
        One entry per rule, as ``evalsite check --json`` gives them: ``rule``, ``kind``, ``metric``, ``op``,
        ``limit``, ``value``, ``baseline``, ``drop``, ``passed``, ``reason``.
    lines : list of str
        The table ``evalsite check`` prints: a header, one line per rule, the verdict.
    """

    passed: bool
    rules: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _metrics_of(report: Report | PathLike) -> tuple[Report, Path]:
    from evalsite.report.load import load_report as load

    if isinstance(report, (str, os.PathLike)):
        return load(Path(report))[0], Path(report)
    return report, Path(f"<{report.task.name}>")


def check(report: Report | PathLike, require: Sequence[str] = (), max_drop: Sequence[str] = (),
          baseline: Report | PathLike | None = None) -> CheckResult:
    """Check a report's metrics against release rules, as ``evalsite check``.

    Parameters
    ----------
    report : Report, str or os.PathLike
        The report, or a report folder / report.json.
    require : sequence of str
        Rules ``"NAME OP VALUE"``, e.g. ``"mAP50>=0.6"`` or ``"recall >= 80%"`` (OP one of ``>= <= > < ==``;
        NAME a key of ``report.metrics``, dotted for the COCO numbers: ``coco.AP``).
    max_drop : sequence of str
        Rules ``"NAME=VALUE"``: the baseline's value minus the report's must not exceed VALUE.
    baseline : Report, str or os.PathLike, optional
        The report to compare with (needed by ``max_drop``); the same evaluation set as ``report``.

    Returns
    -------
    CheckResult
        ``.passed`` (also its truth value), ``.rules`` and ``.lines``. A failing rule is not an exception.

    Raises
    ------
    evalsite.InputError
        Malformed rules, unknown metric names, no rules, a max drop without a baseline, reports of different
        evaluation sets: the messages of ``evalsite check``.

    Examples
    --------
    >>> result = evalsite.check(report, require=["mAP50>=0.6", "recall>=0.8"])  # doctest: +SKIP
    >>> if not result.passed:  # doctest: +SKIP
    ...     raise SystemExit(str(result))
    """
    from evalsite.commands.check import apply_rules, as_dict, as_table, parse_rules

    if isinstance(require, str) or isinstance(max_drop, str):
        raise InputError("'require' and 'max_drop' are lists of rules, e.g. require=[\"mAP50>=0.6\"]")
    rules = parse_rules(list(require), list(max_drop), baseline is not None)
    loaded, where = _metrics_of(report)
    base, base_where = _metrics_of(baseline) if baseline is not None else (None, None)
    outcomes = apply_rules(rules, loaded, where, base, base_where)
    data = as_dict(outcomes, str(where), str(base_where) if baseline is not None else None, loaded.task.type)
    return CheckResult(data["passed"], data["rules"], as_table(outcomes, baseline is not None).splitlines())
