"""Headless-browser harness for auditing generated evalsite sites from file://.

Importable helpers only (no tests here). Uses Playwright's sync API with the
Debian Chromium at /usr/bin/chromium (``playwright install`` is not needed).

Typical use::

    with launch_browser() as browser:
        page, audit = open_page(browser, site / "index.html")
        assert audit.ok, audit.problems()
        assert any("sparrow" in r for r in search(page, "sparrow"))
        audit.close()
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ALLOWED_SCHEMES = ("file:", "data:", "blob:")

# Force-load every <img> (lazy ones included) and return the srcs that fail.
_BROKEN_IMAGES_JS = """async (timeoutMs) => {
  const imgs = Array.from(document.images);
  for (const img of imgs) img.loading = "eager";
  window.scrollTo(0, document.documentElement.scrollHeight);
  const check = async (img) => {
    const timeout = new Promise((_, no) => setTimeout(() => no(new Error("timeout")), timeoutMs));
    try { await Promise.race([img.decode(), timeout]); } catch (e) { return img.currentSrc || img.src || "(no src)"; }
    return img.naturalWidth === 0 && !/\\.svg(\\?|#|$)/i.test(img.currentSrc) ? img.currentSrc : null;
  };
  const broken = (await Promise.all(imgs.map(check))).filter(Boolean);
  window.scrollTo(0, 0);
  return broken;
}"""


@contextlib.contextmanager
def launch_browser(headless: bool = True, executable_path: Path = CHROMIUM) -> Iterator[Browser]:
    """Yield a headless Chromium Browser; closed (with Playwright) on exit."""
    if not Path(executable_path).exists():
        raise RuntimeError(
            f"Chromium not found at {executable_path}; install the Debian 'chromium' package "
            "(playwright install cannot be used offline)."
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(executable_path), args=CHROMIUM_ARGS, headless=headless
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageAudit:
    """Everything suspicious that happened while a page loaded (and afterwards:
    listeners stay attached, so problems caused by e.g. search() show up too)."""

    url: str
    context: BrowserContext | None = field(default=None, repr=False)
    blocked_requests: list[str] = field(default_factory=list)  # non-file: URLs, aborted
    console_errors: list[str] = field(default_factory=list)  # console messages of type "error"
    console_warnings: list[str] = field(default_factory=list)  # informational only
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    failed_requests: list[str] = field(default_factory=list)  # excluding blocked ones
    broken_images: list[str] = field(default_factory=list)  # <img> that failed to load/decode

    def problems(self) -> list[str]:
        """Human-readable list of all problems (empty when the page is clean)."""
        return (
            [f"blocked request: {u}" for u in self.blocked_requests]
            + [f"console error: {m}" for m in self.console_errors]
            + [f"page error: {m}" for m in self.page_errors]
            + [f"failed request: {m}" for m in self.failed_requests]
            + [f"broken image: {u}" for u in self.broken_images]
        )

    @property
    def ok(self) -> bool:
        return not self.problems()

    def close(self) -> None:
        """Close the page's browser context."""
        if self.context is not None:
            self.context.close()
            self.context = None


def open_page(
    browser: Browser, path: Path, width: int = 1280, height: int = 900, image_timeout_ms: int = 5000
) -> tuple[Page, PageAudit]:
    """Open ``path`` via file:// in a fresh context and audit it.

    Only file:, data: and blob: requests are allowed; anything else is aborted
    and recorded. After ``load`` all images are force-loaded and checked.
    Call ``audit.close()`` (or ``page.context.close()``) when done.
    """
    url = Path(path).resolve().as_uri()
    context = browser.new_context(viewport={"width": width, "height": height})
    audit = PageAudit(url=url, context=context)

    def route(r: Route) -> None:
        if r.request.url.startswith(ALLOWED_SCHEMES):
            r.continue_()
        else:
            audit.blocked_requests.append(r.request.url)
            r.abort("blockedbyclient")

    def on_console(msg) -> None:
        loc = msg.location or {}
        text = f"{msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})"
        if msg.type == "error":
            audit.console_errors.append(text)
        elif msg.type == "warning":
            audit.console_warnings.append(text)

    def on_failed(req) -> None:
        # net::ERR_ABORTED is a request that a navigation cancelled (a click while the favicon still loads,
        # seen on a loaded machine); a missing file is net::ERR_FILE_NOT_FOUND, a blocked one is listed above
        if req.url not in audit.blocked_requests and req.failure != "net::ERR_ABORTED":
            audit.failed_requests.append(f"{req.url}: {req.failure}")

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda exc: audit.page_errors.append(str(exc)))
    page.on("requestfailed", on_failed)
    page.goto(url, wait_until="load")
    audit.broken_images = page.evaluate(_BROKEN_IMAGES_JS, image_timeout_ms)
    return page, audit


def audit_site(
    browser: Browser, site_dir: Path, skip: tuple[str, ...] = ("404.html",)
) -> dict[str, PageAudit]:
    """Open every *.html under ``site_dir``; return {relative path: audit} (contexts closed).

    404.html is skipped by default: without ``site_url`` Material renders it with
    root-absolute URLs (``/assets/...``), which only work when served over HTTP.
    """
    results = {}
    for html in sorted(Path(site_dir).rglob("*.html")):
        if html.relative_to(site_dir).as_posix() in skip:
            continue
        _page, audit = open_page(browser, html)
        audit.close()
        results[html.relative_to(site_dir).as_posix()] = audit
    return results


def search(page: Page, query: str, timeout_ms: int = 10000) -> list[str]:
    """Run a Material search and return results as ``"title -> href"`` strings.

    Opens search, fills the query, presses End (Material reads the box on
    keyup) and waits until results or the "no results" message appear.
    Returns [] when nothing matches.
    """
    box = page.locator("input.md-search__input")
    opener = page.locator("label.md-header__button[for='__search']")
    if opener.is_visible():  # narrow layout: the header icon opens the search overlay
        opener.click()
    else:
        box.click()
    box.fill(query)
    box.press("End")
    config = json.loads(page.locator("#__config").text_content() or "{}")
    none_text = config.get("translations", {}).get("search.result.none", "No matching documents")
    page.wait_for_function(
        """(none) => document.querySelector('.md-search-result__item') ||
                     (document.querySelector('.md-search-result__meta') || {}).textContent === none""",
        arg=none_text,
        timeout=timeout_ms,
    )
    return page.eval_on_selector_all(
        ".md-search-result__item > a",
        """links => links.map(a => {
             const h = a.querySelector('h1, h2');
             return `${(h ? h.textContent : a.textContent).trim()} -> ${a.getAttribute('href')}`;
           })""",
    )


def screenshot(
    browser: Browser, path: Path, out_png: Path, width: int = 1280, height: int = 900,
    full_page: bool = False,
) -> Path:
    """Save a PNG screenshot of ``path`` (opened via file://) to ``out_png``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(ALLOWED_SCHEMES)
                  else r.abort("blockedbyclient"))
    try:
        page = context.new_page()
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.screenshot(path=str(out_png), full_page=full_page)
    finally:
        context.close()
    return Path(out_png)
