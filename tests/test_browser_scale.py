"""Many labels in a real browser from file:// (headless Chromium): the label index filters, sorts and pages its
table offline, search finds a label's gallery page, and the pages of a many-label site load cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main

from browser import open_page, search
from conftest import write_task

pytestmark = pytest.mark.browser

N_LABELS = 120


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Path:
    root = tmp_path_factory.mktemp("browser-scale")
    labels = [f"species {c:03d}" for c in range(N_LABELS)]
    manifest = write_task(root / "in", labels, n_images=4 * N_LABELS, name="many", language="en")
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(root / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    return root / "out" / "many"


def _visible_rows(page) -> list[str]:
    return page.eval_on_selector_all("article table tbody tr", "rows => rows.filter(r => !r.hidden)"
                                     ".map(r => r.cells[0].textContent.trim())")


def test_label_index_filters_sorts_and_pages(site: Path, browser) -> None:
    page, audit = open_page(browser, site / "errors" / "index.html")
    total = page.locator("article table tbody tr").count()
    assert total > 50
    assert len(_visible_rows(page)) == 50  # the first page of rows
    count = page.locator(".es-table-count").first
    assert count.inner_text().startswith(f"rows 1–50 of {total}")
    page.locator(".es-table-bar button", has_text="Next").first.click()
    assert len(_visible_rows(page)) == min(50, total - 50)
    assert count.inner_text().startswith(f"rows 51–{min(100, total)} of {total}")
    every = page.eval_on_selector_all("article table tbody tr", "rows => rows.map(r => r.cells[0].textContent.trim())")
    page.locator(".es-table-filter").first.fill("species 07")
    shown = _visible_rows(page)
    assert shown == [s for s in every if "species 07" in s] and shown, shown
    assert count.inner_text().startswith(f"rows 1–{len(shown)} of {len(shown)} (of {total})")
    page.locator(".es-table-filter").first.fill("")
    # Sorting by the errors column (the last one), twice: ascending, then descending.
    header = page.locator("article table thead th").last
    header.click()
    values = page.eval_on_selector_all("article table tbody tr", "rows => rows.map(r => "
                                       "parseFloat(r.cells[r.cells.length - 1].textContent))")
    assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    values = page.eval_on_selector_all("article table tbody tr", "rows => rows.map(r => "
                                       "parseFloat(r.cells[r.cells.length - 1].textContent))")
    assert values == sorted(values, reverse=True) and header.get_attribute("aria-sort") == "descending"
    # A label row still leads to its gallery.
    page.locator("article table tbody tr:not([hidden]) a").first.click()
    page.wait_for_load_state("load")
    assert "/errors/label-" in page.url
    assert audit.ok, audit.problems()
    audit.close()


def test_search_finds_a_label_page(site: Path, browser) -> None:
    page, audit = open_page(browser, site / "index.html")
    results = search(page, "species 042")
    assert any("label-" in r and "species 042" in r for r in results), results
    assert audit.ok, audit.problems()
    audit.close()


@pytest.mark.parametrize("name", ["index.html", "details.html", "errors/index.html", "data.html"])
def test_pages_load_fast_and_clean(site: Path, browser, name: str) -> None:
    page, audit = open_page(browser, site / name)
    loaded = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    assert loaded < 3000, loaded  # milliseconds from the start of navigation; the budget is 3 s (docs/scale.md)
    assert audit.ok, audit.problems()
    audit.close()
