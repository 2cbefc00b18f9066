"""The task overview: one site listing every task report (folders with a report.json) under a root, grouped
by training task (`task.group`, else the task name) across model versions, each group followed by the
comparisons of its models (folders with a compare.json, written by `evalsite compare`)."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from evalsite.core.enums import Verdict
from evalsite.core.errors import Notice
from evalsite.render.i18n import Messages
from evalsite.render.pages import environment
from evalsite.report.compare_model import COMPARE_SCHEMA
from evalsite.report.kinds import task_kind
from evalsite.report.model import READABLE_SCHEMAS
from evalsite.site.build import build_site

OVERVIEW_DIR = "overview"
VERDICTS = tuple(Verdict)
COMPARE_FILE = "compare.json"


@dataclass
class TaskEntry:
    folder: str  # folder under the root, used only in a URL (percent-encoded by the template)
    name: str
    type: str
    headline_metric: str
    headline: float | None
    images: int
    date: str
    language: str
    group: str = ""  # the training task this report belongs to (task.group, else its name)
    model: str | None = None  # the model version it evaluates (task.model), if given
    interval: list[float] | None = None  # the headline's 95% interval, when the report has one


@dataclass
class ComparisonEntry:
    folder: str  # folder under the root, used only in a URL (percent-encoded by the template)
    group: str
    type: str
    base: str  # the base model's version label (else its task name)
    candidate: str
    metric: str  # the headline metric of the task type
    before: float | None
    after: float | None
    difference: float | None
    low: float | None  # the 95% interval of the difference (None: not resampled)
    high: float | None
    verdict: str  # one of VERDICTS
    fixed: int
    broken: int
    date: str  # the candidate report's date


@dataclass
class Group:
    name: str
    tasks: list[TaskEntry] = field(default_factory=list)  # newest first, then by model version (highest first)
    comparisons: list[ComparisonEntry] = field(default_factory=list)  # newest candidate first


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {type(value).__name__}")
    return value or None


def _number(value: object, key: str = "") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{key + ': ' if key else ''}expected a number, found {value!r:.40}")
    return float(value)


def _object(value: object, key: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"{key}: expected an object, found {type(value).__name__}")
    return value


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{key}: expected a string, found {type(value).__name__}")
    return value


def _whole(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{key}: expected a count, found {value!r:.40}")
    return value


def _count(value: object) -> int:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, found {type(value).__name__}")
    return len(value)


def _natural(text: str) -> list[tuple]:
    """A sort key that orders "v10" after "v9"."""
    return [(0, int(part), "") if part[0] in "0123456789" else (1, 0, part.lower())
            for part in re.split(r"([0-9]+)", text) if part]


def find_reports(root: Path) -> tuple[list[TaskEntry], list[Notice]]:
    """Every <root>/<folder>/report.json that is an evalsite report; others are skipped with a notice."""
    entries: list[TaskEntry] = []
    notices: list[Notice] = []
    for path in sorted(root.glob("*/report.json")):
        if path.parent.name == OVERVIEW_DIR or path.parent.name.startswith("."):
            continue
        try:
            data = _object(json.loads(path.read_text(encoding="utf-8")), "the file")
            if data.get("schema") not in READABLE_SCHEMAS:  # /1 and /2 share what the overview reads
                raise ValueError(f"unknown schema {data.get('schema')!r}")
            task, metrics = _object(data.get("task"), "task"), _object(data.get("metrics"), "metrics")
            task_type = _text(task.get("type"), "task.type")
            metric = task_kind(task_type).headline
            name = _text(task.get("name"), "task.name")
            entries.append(TaskEntry(folder=path.parent.name, name=name, type=task_type,
                                     headline_metric=metric, headline=_number(metrics.get(metric), f"metrics.{metric}"),
                                     images=_whole(_object(data.get("dataset"), "dataset").get("images"),
                                                   "dataset.images"),
                                     date=_text(task.get("date"), "task.date"),
                                     language=_text(task.get("language"), "task.language"),
                                     group=_optional_text(task.get("group")) or name,
                                     model=_optional_text(task.get("model")),
                                     interval=_interval(data.get("intervals"), metric)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # JSON errors too
            notices.append(Notice("report_skipped", str(path), None, str(exc)))
    entries.sort(key=lambda e: (e.name.lower(), e.folder))
    return entries, notices


def find_comparisons(root: Path) -> tuple[list[ComparisonEntry], list[Notice]]:
    """Every <root>/<folder>/compare.json that is an evalsite comparison; others are skipped with a notice."""
    entries: list[ComparisonEntry] = []
    notices: list[Notice] = []
    for path in sorted(root.glob(f"*/{COMPARE_FILE}")):
        if path.parent.name == OVERVIEW_DIR or path.parent.name.startswith("."):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("schema") != COMPARE_SCHEMA:
                raise ValueError(f"unknown schema {data.get('schema') if isinstance(data, dict) else None!r}")
            metric = task_kind(data["type"]).headline
            lead = next((m for m in data["headline"] if isinstance(m, dict) and m.get("metric") == metric), None)
            if lead is None:
                raise ValueError(f"no {metric} in its headline")
            if lead["verdict"] not in VERDICTS:
                raise ValueError(f"unknown verdict {lead['verdict']!r}")
            base, candidate = data["base"], data["candidate"]
            entries.append(ComparisonEntry(
                folder=path.parent.name, group=_optional_text(data["group"]) or str(base["name"]),
                type=data["type"], base=_optional_text(base.get("model")) or str(base["name"]),
                candidate=_optional_text(candidate.get("model")) or str(candidate["name"]), metric=metric,
                before=_number(lead["base"]), after=_number(lead["candidate"]),
                difference=_number(lead["difference"]), low=_number(lead["low"]), high=_number(lead["high"]),
                verdict=lead["verdict"], fixed=_count(data["fixed"]), broken=_count(data["broken"]),
                date=str(candidate["date"])))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            notices.append(Notice("comparison_skipped", str(path), None, str(exc)))
    return entries, notices


def group_entries(tasks: list[TaskEntry], comparisons: list[ComparisonEntry]) -> list[Group]:
    """One group per training task, by name; its reports newest first (then the highest model version
    first), its comparisons newest candidate first."""
    groups: dict[str, Group] = {}
    for task in tasks:
        groups.setdefault(task.group, Group(task.group)).tasks.append(task)
    for comparison in comparisons:
        groups.setdefault(comparison.group, Group(comparison.group)).comparisons.append(comparison)
    for group in groups.values():
        group.tasks.sort(key=lambda e: (e.date, _natural(e.model or e.name), e.folder), reverse=True)
        group.comparisons.sort(key=lambda c: (c.date, _natural(c.candidate), _natural(c.base), c.folder),
                               reverse=True)
    return sorted(groups.values(), key=lambda g: (g.name.lower(), g.name))


def _write_redirect(root: Path) -> None:
    """<root>/index.html sends the browser to the overview (also from file://)."""
    target = f"{OVERVIEW_DIR}/index.html"
    html = (f'<!doctype html><meta charset="utf-8"><meta name="generator" content="evalsite">'
            f'<meta http-equiv="refresh" content="0; url={target}">'
            f'<title>evalsite</title><a href="{target}">{target}</a>\n')
    existing = root / "index.html"
    if existing.exists() and 'content="evalsite"' not in existing.read_text(encoding="utf-8", errors="replace"):
        return  # the user's own index.html stays; the overview is still at overview/index.html
    tmp = root / ".index.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, root / "index.html")


def _interval(intervals: object, metric: str) -> list[float] | None:
    """The report's [low, high] for `metric`, if it holds two numbers."""
    metrics = intervals.get("metrics") if isinstance(intervals, dict) else None
    value = metrics.get(metric) if isinstance(metrics, dict) else None
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        return [float(value[0]), float(value[1])]
    return None


def build_overview(root: Path, language: str) -> tuple[Path, list[TaskEntry], list[Notice]]:
    """Build <root>/overview/ from the reports under `root`; returns the index.html path."""
    root = root.resolve()
    entries, notices = find_reports(root)
    comparisons, skipped = find_comparisons(root)
    notices += skipped
    groups = group_entries(entries, comparisons)
    t = Messages(language)

    def write_docs(docs: Path) -> tuple[list, list]:
        text = environment().get_template("pages/overview/index.md.j2").render(t=t, groups=groups)
        (docs / "index.md").write_text(text, encoding="utf-8")
        return [(t("overview_title"), "index.md")], []

    build_site(root / OVERVIEW_DIR, f"evalsite · {t('overview_title')}", language, write_docs)
    _write_redirect(root)
    return root / OVERVIEW_DIR / "index.html", entries, notices
