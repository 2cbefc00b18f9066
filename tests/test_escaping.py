"""Label and file names are untrusted: they must reach every page as text, never as markup."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from evalsite.cli import main
from evalsite.render.text import md, title

from conftest import write_task

NASTY = ["<script>window.__pwned=1</script>", "a|b", "*bold* _it_", "[x](javascript:alert(1))",
         "</title><img src=x onerror=alert(1)>", "{0} {label}", "# heading"]


def test_nasty_labels_render_as_text(tmp_path: Path) -> None:
    manifest = write_task(tmp_path / "in", NASTY, n_images=40)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(manifest), "-o", str(out), "--quiet", "--lang", "en"])
    assert result.exit_code == 0, result.output
    pages = {p: p.read_text(encoding="utf-8") for p in (out / "task").rglob("*.html")}
    assert len(pages) >= 6
    for page, html in pages.items():
        assert "<script>window.__pwned" not in html, page
        assert "<img src=x" not in html and "<img src=\"x\"" not in html, page
        assert 'href="javascript:' not in html, page
        title_tag = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
        assert "<" not in title_tag, (page, title_tag)
    details = pages[out / "task" / "details.html"]
    # Every label is in the per-label table as its literal text (HTML-escaped once).
    for label in NASTY:
        escaped = label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in details, label
    # The markup did not become markup: no <em>/<strong> from the *bold* label, no extra table columns.
    assert "<strong>bold</strong>" not in details and "<em>bold</em>" not in details
    first_row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", details, re.S).group(1)
    assert first_row.count("<td") == 7


def test_markdown_escape_roundtrip() -> None:
    import markdown

    for text in NASTY + ["1. not a list", "- not a bullet", "`code`", "back\\slash", "tab\tand\nnewline"]:
        html = markdown.markdown(md(text), extensions=["tables"])
        inner = re.fullmatch(r"<p>(.*)</p>", html, re.S).group(1)
        expected = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert inner == expected, (text, html)


def test_titles_have_no_markup_characters() -> None:
    import yaml

    for text in NASTY:
        value = yaml.safe_load(f"title: {title(text)}")["title"]
        assert not set(value) & set("<>&\"'\\")
