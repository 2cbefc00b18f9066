"""The task overview: one site listing every task report (folders with a report.json) under a root."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from generator.errors import Notice
from generator.render.i18n import Messages
from generator.render.pages import environment
from generator.report.model import SCHEMA
from generator.site.build import build_site

OVERVIEW_DIR = "overview"
HEADLINE = {"classification": "accuracy", "detection": "mAP50", "segmentation": "mAP50"}


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


def find_reports(root: Path) -> tuple[list[TaskEntry], list[Notice]]:
    """Every <root>/<folder>/report.json that is an evalsite report; others are skipped with a notice."""
    entries: list[TaskEntry] = []
    notices: list[Notice] = []
    for path in sorted(root.glob("*/report.json")):
        if path.parent.name == OVERVIEW_DIR or path.parent.name.startswith("."):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("schema") != SCHEMA:
                raise ValueError(f"unknown schema {data.get('schema')!r}")
            task, metrics = data["task"], data["metrics"]
            metric = HEADLINE[task["type"]]
            entries.append(TaskEntry(folder=path.parent.name, name=task["name"], type=task["type"],
                                     headline_metric=metric, headline=metrics.get(metric),
                                     images=int(data["dataset"]["images"]), date=task["date"],
                                     language=task["language"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            notices.append(Notice("report_skipped", str(path), None, str(exc)))
    entries.sort(key=lambda e: (e.name.lower(), e.folder))
    return entries, notices


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


def build_overview(root: Path, language: str) -> tuple[Path, list[TaskEntry], list[Notice]]:
    """Build <root>/overview/ from the reports under `root`; returns the index.html path."""
    root = root.resolve()
    entries, notices = find_reports(root)
    t = Messages(language)

    def write_docs(docs: Path) -> tuple[list, list]:
        text = environment().get_template("pages/overview/index.md.j2").render(t=t, tasks=entries)
        (docs / "index.md").write_text(text, encoding="utf-8")
        return [(t("overview_title"), "index.md")], []

    build_site(root / OVERVIEW_DIR, f"evalsite · {t('overview_title')}", language, write_docs)
    _write_redirect(root)
    return root / OVERVIEW_DIR / "index.html", entries, notices
