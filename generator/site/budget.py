"""The size budgets of a built site (docs/scale.md): what a report may weigh so that it fits a review attachment,
an artifact store and a browser. The build measures every site it writes and warns, naming what is big, when
one is over; the tests hold the budgets at small scale and benchmarks/site_bench.py at real sizes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Budget", "SiteSize", "budget_for", "loaded_by_pages", "measure", "over_budget", "zip_over_budget"]

MB = 1_000_000
DATA_SUFFIXES = (".js", ".json")  # what a page loads besides its pictures and styles
NOT_LOADED = ("report.json", "downloads/")  # data for people and tools (downloads, the overview), not for pages


def loaded_by_pages(rel: str) -> bool:
    """A site file (site-relative path) that a page loads as data: scripts and JSON, except the downloads
    and report.json (read by `evalsite overview`/`compare`, never by a page)."""
    return rel.endswith(DATA_SUFFIXES) and not rel.startswith(NOT_LOADED)


@dataclass(frozen=True)
class Budget:
    """The most a site may weigh: its total bytes and files, each HTML page, each data file a page loads."""

    total_bytes: int = 100 * MB
    files: int = 10_000
    page_bytes: int = 1 * MB
    data_bytes: int = 2 * MB


def budget_for(images: int) -> Budget:
    """The budget of a task site with `images` evaluation images: 10,000 files up to 10,000 images, 20,000
    above (a 50,000-image ImageNet-like task); the rest does not depend on the size."""
    return Budget(files=10_000 if images <= 10_000 else 20_000)


@dataclass(frozen=True)
class SiteSize:
    total_bytes: int
    files: int
    largest_page: tuple[str, int]  # (site-relative path, bytes); ("", 0) without pages
    largest_data: tuple[str, int]
    folders: dict[str, int]  # bytes per top-level folder (or file), for the warning


def _walk(site: Path) -> Iterable[tuple[str, int]]:
    for folder, _, names in os.walk(site):
        for name in names:
            path = Path(folder, name)
            yield path.relative_to(site).as_posix(), path.lstat().st_size


def measure(site: Path) -> SiteSize:
    """Bytes and files of a built site, its largest HTML page and data file, and bytes per top-level entry."""
    total = files = 0
    page, data = ("", 0), ("", 0)
    folders: dict[str, int] = {}
    for rel, size in _walk(site):
        total += size
        files += 1
        top = rel.split("/", 1)[0]
        folders[top] = folders.get(top, 0) + size
        if rel.endswith(".html") and size > page[1]:
            page = (rel, size)
        elif loaded_by_pages(rel) and size > data[1]:
            data = (rel, size)
    return SiteSize(total, files, page, data, folders)


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def over_budget(size: SiteSize, budget: Budget) -> list[str]:
    """One line per budget the site is over, naming what is big; empty when it is within all of them."""
    biggest = ", ".join(f"{name} {_mb(n)}" for name, n in sorted(size.folders.items(), key=lambda kv: -kv[1])[:3])
    lines = []
    if size.total_bytes > budget.total_bytes:
        lines.append(f"the site is {_mb(size.total_bytes)}, over its {_mb(budget.total_bytes)} budget "
                     f"(largest parts: {biggest})")
    if size.files > budget.files:
        lines.append(f"the site has {size.files:,} files, over its {budget.files:,} budget (largest parts: {biggest})")
    if size.largest_page[1] > budget.page_bytes:
        lines.append(f"the page {size.largest_page[0]} is {_mb(size.largest_page[1])}, over the "
                     f"{_mb(budget.page_bytes)} page budget")
    if size.largest_data[1] > budget.data_bytes:
        lines.append(f"the data file {size.largest_data[0]} is {_mb(size.largest_data[1])}, over the "
                     f"{_mb(budget.data_bytes)} budget of a file a page loads")
    return lines


def zip_over_budget(archive: Path, budget: Budget | None = None) -> str | None:
    """The warning for a site's zip (evalsite archive) over the total budget, else None."""
    size, limit = archive.stat().st_size, (budget or Budget()).total_bytes
    if size <= limit:
        return None
    return (f"{archive.name}: the zip is {_mb(size)}, over the {_mb(limit)} budget of a review attachment; "
            "`evalsite build` named what is big when it built the site")
