"""The built sites in a real browser (Debian's headless chromium) from file://, as a reader opens them:
zero network requests, no console or page errors, every image loads, navigation, search (zh and en) and
the lightbox work, and untrusted label names stay text."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main

from browser import audit_site, open_page, search
from conftest import write_task

pytestmark = pytest.mark.browser  # headless Chromium on the built site from file://


LABELS = ["sparrow", "麻雀", "<script>window.__pwned=1</script>", "owl|hawk"]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Path:
    root = tmp_path_factory.mktemp("browser")
    en = write_task(root / "en", LABELS, n_images=48, name="birds-en", language="en", missing=1)
    zh = write_task(root / "zh", LABELS, n_images=48, name="birds-zh", language="zh", seed=1)
    out = root / "out"
    result = CliRunner().invoke(main, ["build", str(en), str(zh), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("site", ["birds-en", "birds-zh", "overview"])
def test_every_page_is_clean_and_offline(sites: Path, browser, site: str) -> None:
    audits = audit_site(browser, sites / site)
    expected = 1 if site == "overview" else 8  # 4 pages + errors index + one gallery per label = 4 + 4
    assert len(audits) >= expected, sorted(audits)
    problems = {page: a.problems() for page, a in audits.items() if not a.ok}
    assert problems == {}


def test_images_and_placeholders_load(sites: Path, browser) -> None:
    galleries = sorted((sites / "birds-en" / "errors").glob("label-*.html"))
    shown = 0
    for gallery in galleries:
        page, audit = open_page(browser, gallery)
        widths = page.eval_on_selector_all(".es-gallery img", "imgs => imgs.map(i => i.naturalWidth)")
        shown += len(widths)
        assert all(w > 0 for w in widths), (gallery.name, widths)
        assert audit.ok, audit.problems()
        audit.close()
    assert shown > 0


def test_navigation_links_work(sites: Path, browser) -> None:
    page, audit = open_page(browser, sites / "birds-en" / "index.html")
    for title, target in [("Detailed evaluation", "details.html"), ("Errors by label", "errors/index.html"),
                          ("Data & method", "data.html"), ("Overview", "index.html")]:
        page.locator("nav.md-nav--primary a.md-nav__link", has_text=title).first.click()
        page.wait_for_load_state("load")
        assert page.url.endswith("/birds-en/" + target), page.url
        assert page.locator("h1").first.is_visible()
    # From the errors index to a gallery page, and from the overview site to a report.
    page.goto((sites / "birds-en" / "errors" / "index.html").as_uri())
    page.locator("article a", has_text="sparrow").first.click()
    page.wait_for_load_state("load")
    assert "/errors/label-" in page.url and "sparrow" in page.locator("h1").inner_text()
    page.goto((sites / "overview" / "index.html").as_uri())
    page.locator("table a", has_text="birds-zh").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/birds-zh/index.html")
    assert audit.ok, audit.problems()
    audit.close()


@pytest.mark.parametrize("site, query", [("birds-en", "sparrow"), ("birds-en", "麻雀"),
                                         ("birds-zh", "麻雀"), ("birds-zh", "sparrow"),
                                         ("birds-zh", "精确率")])
def test_search_finds_label_names(sites: Path, browser, site: str, query: str) -> None:
    page, audit = open_page(browser, sites / site / "index.html")
    results = search(page, query)
    assert any("details.html" in r for r in results), results
    assert audit.ok, audit.problems()
    audit.close()


def test_lightbox_opens_and_closes(sites: Path, browser) -> None:
    gallery = sorted((sites / "birds-zh" / "errors").glob("label-*.html"))[0]
    page, audit = open_page(browser, gallery)
    overlay = page.locator(".es-lightbox-overlay")
    assert overlay.is_hidden()
    page.locator("a.es-lightbox").first.click()
    assert overlay.is_visible()
    page.wait_for_function("document.querySelector('.es-lightbox-overlay img').naturalWidth > 0")
    assert page.url == gallery.as_uri()  # opened in place, not navigated away
    page.keyboard.press("Escape")
    assert overlay.is_hidden()
    # Charts open in the lightbox too.
    page.goto((sites / "birds-zh" / "details.html").as_uri())
    page.locator("a.es-lightbox").first.click()
    assert page.locator(".es-lightbox-overlay").is_visible()
    assert audit.ok, audit.problems()
    audit.close()


def test_markup_in_label_names_never_runs(sites: Path, browser) -> None:
    for name in ("index.html", "details.html", "errors/index.html", "data.html"):
        page, audit = open_page(browser, sites / "birds-en" / name)
        assert page.evaluate("window.__pwned") is None
        assert audit.ok, audit.problems()
        audit.close()
    page, audit = open_page(browser, sites / "birds-en" / "details.html")
    assert "<script>window.__pwned=1</script>" in page.locator("article table").first.inner_text()
    assert "owl|hawk" in page.locator("article table").first.inner_text()
    audit.close()


def test_the_audit_catches_network_errors_and_broken_images(tmp_path: Path, browser) -> None:
    """The harness itself can fail: a page that reaches out, logs an error and shows a missing image."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><img src="https://example.invalid/x.png"><img src="nope.png">'
                   '<script>console.error("boom"); throw new Error("bang")</script>', encoding="utf-8")
    page, audit = open_page(browser, bad)
    assert audit.blocked_requests == ["https://example.invalid/x.png"]
    assert any("boom" in m for m in audit.console_errors)
    assert any("bang" in m for m in audit.page_errors)
    assert any("nope.png" in u for u in audit.broken_images)
    assert not audit.ok
    audit.close()
