"""A comparison site in the browser from file://: every page clean and offline, the verdicts and both
models' pictures of the fixed and broken images visible."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main

from browser import audit_site, open_page
from conftest import write_shapes_pair

pytestmark = pytest.mark.browser  # headless Chromium on the built site from file://


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    manifests = write_shapes_pair(root, "zh", n_eval=24)
    out = root / "out"
    runner = CliRunner()
    assert runner.invoke(main, ["build", *map(str, manifests), "-o", str(out), "--quiet"]).exit_code == 0
    result = runner.invoke(main, ["compare", str(out / "shapes-weak"), str(out / "shapes-strong"), "-o", str(out),
                                  "--images", str(root / "in-weak" / "images"), "--quiet"])
    assert result.exit_code == 0, result.output
    (site,) = [p for p in out.iterdir() if (p / "compare.json").is_file()]
    return site


def test_every_page_is_clean_and_offline(site: Path, browser) -> None:
    audits = audit_site(browser, site)
    assert {"index.html", "fixed.html", "broken.html", "details.html", "data.html"} <= set(audits)
    assert {page: a.problems() for page, a in audits.items() if not a.ok} == {}


def test_verdicts_and_side_by_side_pictures(site: Path, browser) -> None:
    page, audit = open_page(browser, site / "index.html")
    verdicts = page.eval_on_selector_all(".es-verdict", "els => els.map(e => e.className)")
    assert len(verdicts) == 5 and any("es-verdict--" in v for v in verdicts)
    audit.close()
    for name in ("fixed.html", "broken.html"):
        page, audit = open_page(browser, site / name)
        pairs = page.eval_on_selector_all(".es-pair__pictures", "els => els.map(e => e.querySelectorAll('img').length)")
        widths = page.eval_on_selector_all(".es-pair img", "imgs => imgs.map(i => i.naturalWidth)")
        assert pairs and all(n == 2 for n in pairs) and all(w > 0 for w in widths), name
        page.locator(".es-pair a.es-lightbox").first.click()
        assert page.locator(".es-lightbox-overlay").is_visible()
        assert audit.ok, audit.problems()
        audit.close()
