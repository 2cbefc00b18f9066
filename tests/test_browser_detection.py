"""A detection report in the browser from file://: clean pages, red and orange error pictures, and gallery
filters (checkboxes and #show= links from the confusion matrix) that work offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser import audit_site, open_page
from conftest import build_shapes_site

pytestmark = pytest.mark.browser  # headless Chromium on the built site from file://


VISIBLE = "els => els.filter(e => !e.hidden).map(e => e.dataset.kind + ':' + e.dataset.type)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_shapes_site(tmp_path_factory.mktemp("detection"), "zh")


def test_every_page_is_clean_and_offline(site: Path, browser) -> None:
    audits = audit_site(browser, site)
    assert len(audits) >= 6
    assert {page: a.problems() for page, a in audits.items() if not a.ok} == {}


def _gallery_with_both_kinds(site: Path, browser):
    for gallery in sorted((site / "errors").glob("label-*.html")):
        page, audit = open_page(browser, gallery)
        kinds = set(page.eval_on_selector_all(".es-gallery [data-kind]", "els => els.map(e => e.dataset.kind)"))
        if kinds == {"false_positive", "missed"}:
            return gallery, page, audit
        audit.close()
    raise AssertionError("no gallery shows both false positives and missed objects")


def test_errors_are_pictures_boxed_red_and_orange(site: Path, browser) -> None:
    gallery, page, audit = _gallery_with_both_kinds(site, browser)
    widths = page.eval_on_selector_all(".es-gallery img", "imgs => imgs.map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths)
    # The thumbnails really carry the boxes: red pixels on false positives, orange on missed objects.
    # (file:// images taint a canvas, so the pixels are read from the files the page shows.)
    from urllib.parse import unquote, urlparse

    import numpy as np
    from PIL import Image

    colours: dict[str, list[tuple[int, int]]] = {}
    for kind, src in page.eval_on_selector_all(
            ".es-gallery [data-kind]", "els => els.map(e => [e.dataset.kind, e.querySelector('img').src])"):
        pixels = np.asarray(Image.open(unquote(urlparse(src).path)).convert("RGB")).reshape(-1, 3)
        # JPEG or PNG (whichever is smaller): the colour within 40 per channel (red and orange differ by 102)
        red = int((np.abs(pixels.astype(int) - (220, 38, 38)).max(axis=1) <= 40).sum())
        orange = int((np.abs(pixels.astype(int) - (245, 140, 0)).max(axis=1) <= 40).sum())
        colours.setdefault(kind, []).append((red, orange))
    assert all(red > 20 for red, _ in colours["false_positive"])
    assert all(orange > 20 for _, orange in colours["missed"])
    assert audit.ok, audit.problems()
    audit.close()


def test_filters_hide_and_show_offline(site: Path, browser) -> None:
    gallery, page, audit = _gallery_with_both_kinds(site, browser)
    items = page.locator(".es-gallery [data-kind]")
    total = items.count()
    page.locator("input[data-filter=kind][value=false_positive]").uncheck()
    shown = page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)
    assert shown and all(s.startswith("missed:") for s in shown)
    assert page.locator(".es-filter-count").inner_text() == str(len(shown))
    page.locator("input[data-filter=kind][value=false_positive]").check()
    assert len(page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)) == total
    first_type = page.locator("input[data-filter=type]").first
    hidden_type = first_type.get_attribute("value")
    first_type.uncheck()
    shown = page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)
    assert all(not s.endswith(":" + hidden_type) for s in shown) and len(shown) < total
    # A link with #show= opens the gallery filtered (as the confusion-matrix cells do).
    page.goto(gallery.as_uri() + "#show=missed")
    shown = page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)
    assert shown and all(s.startswith("missed:") for s in shown)
    assert audit.ok, audit.problems()
    audit.close()


def test_confusion_cells_link_to_filtered_galleries(site: Path, browser) -> None:
    page, audit = open_page(browser, site / "details.html")
    links = page.locator("table.es-matrix a")
    assert links.count() > 0
    href = links.first.get_attribute("href")
    assert "errors/label-" in href and "#show=" in href
    links.first.click()
    page.wait_for_load_state("load")
    assert "/errors/label-" in page.url
    kind = href.split("#show=")[1].split(":")[0]
    shown = page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)
    assert shown and all(s.startswith(kind + ":") for s in shown)
    assert audit.ok, audit.problems()
    audit.close()


def test_full_image_opens_in_the_lightbox(site: Path, browser) -> None:
    gallery, page, audit = _gallery_with_both_kinds(site, browser)
    page.locator("a.es-lightbox").first.click()
    assert page.locator(".es-lightbox-overlay").is_visible()
    page.wait_for_function("document.querySelector('.es-lightbox-overlay img').naturalWidth >= 384")
    assert audit.ok, audit.problems()
    audit.close()
