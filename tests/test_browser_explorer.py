"""The threshold explorer in the browser from file://: the slider shows the precomputed numbers at the chosen
threshold (overall and per label, equal to the report's at t*), offline, and the galleries follow it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalsite.metrics.threshold_table import counts_at

from browser import open_page
from conftest import build_shapes_site

pytestmark = pytest.mark.browser  # headless Chromium on the built site from file://


VISIBLE = "els => els.filter(e => !e.hidden).map(e => [e.dataset.kind, e.dataset.score || null])"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_shapes_site(tmp_path_factory.mktemp("explorer"), "en")


def _table(site: Path) -> dict:
    text = (site / "thresholds.js").read_text(encoding="utf-8")
    return json.loads(re.search(r"window\.ES_THRESHOLDS = (\{.*\});", text).group(1))


def _shown(page) -> dict:
    return page.eval_on_selector_all(
        "[data-es-explorer] [data-es-out]", "cells => Object.fromEntries(cells.map(c => "
        "[c.dataset.esOut, Number(c.dataset.value)]))")


def _slide(page, value: float) -> None:
    page.eval_on_selector("[data-es-range]", "(r, v) => { r.value = String(v); "
                          "r.dispatchEvent(new Event('input', {bubbles: true})); }", value)


def _check(shown: dict, want: dict) -> None:
    assert {k: shown[k] for k in ("tp", "fp", "fn")} == {k: want[k] for k in ("tp", "fp", "fn")}
    for key in ("precision", "recall", "f1"):
        assert shown[key] == pytest.approx(want[key], abs=1e-12), key


def test_slider_shows_the_precomputed_numbers(site: Path, browser) -> None:
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    table = _table(site)
    t_star = report["metrics"]["threshold"]
    assert table["t_star"] == t_star and table["complete"]
    page, audit = open_page(browser, site / "details.html")
    # At load: t*, and the report's own numbers.
    shown = _shown(page)
    assert shown["threshold"] == t_star
    for key in ("precision", "recall", "f1"):
        assert shown[key] == pytest.approx(report["metrics"][key], abs=1e-12)
    # Anywhere on the slider (between scores, on a score, below and above every score).
    grid = table["thresholds"]
    for t in [0.5 * (grid[3] + grid[4]), grid[len(grid) // 2], 0.0, 0.999999, t_star]:
        _slide(page, t)
        shown = _shown(page)
        assert shown["threshold"] == pytest.approx(t)
        _check(shown, counts_at(table, t))
        assert page.locator("[data-es-number]").input_value() == f"{t:.3f}"
    # Per label: the report's per-label counts at t*, and the table's elsewhere.
    t = 0.5 * (grid[10] + grid[11])
    for c, row in enumerate(report["per_label"]):
        page.select_option("[data-es-label]", str(c))
        _slide(page, t_star)
        shown = _shown(page)
        assert (shown["tp"], shown["fp"], shown["fn"]) == (row["tp"], row["fp"], row["fn"]), row["label"]
        _slide(page, t)
        _check(_shown(page), counts_at(table, t, c))
    # The number box moves the slider too; reset returns to t*.
    page.select_option("[data-es-label]", "")
    page.fill("[data-es-number]", "0.8")
    _check(_shown(page), counts_at(table, 0.8))
    assert float(page.locator("[data-es-range]").input_value()) == pytest.approx(0.8)
    page.click("[data-es-reset]")
    assert _shown(page)["threshold"] == t_star
    assert page.locator("[data-es-out=f1]").inner_text() == f"{report['metrics']['f1']:.3f}"
    assert audit.ok, audit.problems()
    audit.close()


def test_galleries_follow_the_chosen_threshold(site: Path, browser) -> None:
    report = json.loads((site / "report.json").read_text(encoding="utf-8"))
    t_star = report["metrics"]["threshold"]
    # The label whose gallery has the most false positives (their scores are >= t*).
    fps: dict[str, list[float]] = {}
    for e in report["errors"]:
        if e["kind"] == "false_positive":
            fps.setdefault(e["label"], []).append(e["score"])
    label = max(fps, key=lambda k: len(fps[k]))
    scores = sorted(fps[label])
    assert len(scores) >= 2 and scores[0] >= t_star
    chosen = 0.5 * (scores[len(scores) // 2 - 1] + scores[len(scores) // 2])
    page, audit = open_page(browser, site / "details.html")
    page.select_option("[data-es-label]", str(report["dataset"]["labels"].index(label)))
    _slide(page, chosen)
    link = page.locator("[data-es-gallery]")
    assert link.is_visible() and f"#t={chosen}" in link.get_attribute("href")
    # Every gallery link of the page carries the threshold (confusion cells and the per-label table).
    hrefs = page.eval_on_selector_all('a[href*="errors/label-"]', "as => as.map(a => a.getAttribute('href'))")
    assert hrefs and all(f"t={chosen}" in h for h in hrefs)
    link.click()
    page.wait_for_load_state("load")
    assert "/errors/label-" in page.url
    shown = page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)
    shown_fp = sorted(float(s) for kind, s in shown if kind == "false_positive")
    assert shown_fp
    assert all(s >= chosen for s in shown_fp)
    assert any(kind == "missed" for kind, _ in shown) or not any(
        e["kind"] == "missed" and e["label"] == label for e in report["errors"])
    note = page.locator("[data-es-threshold-note]")
    assert note.is_visible()
    hidden = page.eval_on_selector_all(
        ".es-gallery [data-score]", "(els, t) => els.filter(e => Number(e.dataset.score) < t).length", chosen)
    assert hidden > 0 and all(page.eval_on_selector_all(
        ".es-gallery [data-score]", "(els, t) => els.filter(e => Number(e.dataset.score) < t).map(e => e.hidden)",
        chosen))
    assert page.locator("[data-es-note-hidden]").inner_text() == str(hidden)
    assert page.locator("[data-es-note-t]").inner_text() == f"{chosen:.3f}"
    # The way back: the errors at t*, every false positive shown again.
    page.click("[data-es-threshold-back]")
    page.wait_for_selector("[data-es-threshold-note]", state="hidden")  # hashchange is handled asynchronously
    assert not note.is_visible()
    shown = page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)
    assert sum(kind == "false_positive" for kind, _ in shown) == page.locator(".es-gallery [data-score]").count()
    assert audit.ok, audit.problems()
    audit.close()
