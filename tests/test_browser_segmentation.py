"""The demo's segmentation report in the browser from file://: clean pages, error pictures with red and
orange masks (mask quality among them), and gallery filters that work offline."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from evalsite.cli import main
from evalsite.demo.segmentation import write_segmentation_inputs

from browser import audit_site, open_page

pytestmark = pytest.mark.browser  # headless Chromium on the built site from file://


VISIBLE = "els => els.filter(e => !e.hidden).map(e => e.dataset.kind + ':' + e.dataset.type)"
RED, ORANGE = (220, 38, 38), (245, 140, 0)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("segmentation")
    manifest = write_segmentation_inputs(root / "inputs", "en")
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(root / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    (site,) = [p for p in (root / "out").iterdir() if p.is_dir() and p.name != "overview"]
    return site


def test_every_page_is_clean_and_offline(site: Path, browser) -> None:
    audits = audit_site(browser, site)
    assert len(audits) >= 6
    assert {page: a.problems() for page, a in audits.items() if not a.ok} == {}


def _pixels(src: str) -> np.ndarray:
    # file:// images taint a canvas, so the pixels are read from the files the page shows
    return np.asarray(Image.open(unquote(urlparse(src).path)).convert("RGB")).reshape(-1, 3)


def test_masks_red_and_orange_and_filters_work(site: Path, browser) -> None:
    kinds_seen: set[str] = set()
    mask_quality_pages = []
    for gallery in sorted((site / "errors").glob("label-*.html")):
        page, audit = open_page(browser, gallery)
        items = page.eval_on_selector_all(
            ".es-gallery [data-kind]",
            "els => els.map(e => [e.dataset.kind, e.dataset.type, e.querySelector('img').src])")
        for kind, _, src in items:
            pixels = _pixels(src)
            colour = RED if kind == "false_positive" else ORANGE
            # JPEG or PNG (whichever is smaller): the colour within 40 per channel (red and orange differ by 102)
            assert int((np.abs(pixels.astype(int) - colour).max(axis=1) <= 40).sum()) > 10, (gallery.name, kind)
            kinds_seen.add(kind)
        if any(t == "mask_quality" for _, t, _ in items):
            mask_quality_pages.append(gallery)
        assert audit.ok, audit.problems()
        audit.close()
    assert kinds_seen == {"false_positive", "missed"}
    assert mask_quality_pages, "no gallery shows a mask-quality error"

    page, audit = open_page(browser, mask_quality_pages[0])
    total = page.locator(".es-gallery [data-kind]").count()
    # Only mask-quality errors: untick every other type.
    for box in page.locator("input[data-filter=type]").all():
        if box.get_attribute("value") != "mask_quality":
            box.uncheck()
    shown = page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)
    assert shown and all(s.endswith(":mask_quality") for s in shown) and len(shown) <= total
    assert page.locator(".es-filter-count").inner_text() == str(len(shown))
    # The link form used by the confusion matrix: missed objects only.
    page.goto(mask_quality_pages[0].as_uri() + "#show=missed")
    shown = page.eval_on_selector_all(".es-gallery [data-kind]", VISIBLE)
    assert shown and all(s.startswith("missed:") for s in shown)
    # The whole image opens with its masks.
    page.locator(".es-gallery [data-kind]:not([hidden]) a.es-lightbox").first.click()
    assert page.locator(".es-lightbox-overlay").is_visible()
    page.wait_for_function("document.querySelector('.es-lightbox-overlay img').naturalWidth >= 384")
    full = page.eval_on_selector(".es-lightbox-overlay img", "i => i.src")
    pixels = _pixels(full)
    assert int((pixels == RED).all(axis=1).sum()) + int((pixels == ORANGE).all(axis=1).sum()) > 20
    assert audit.ok, audit.problems()
    audit.close()
