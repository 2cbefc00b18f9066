"""Untrusted text (label names, file names) on its way into Markdown, HTML and YAML.

Every label or file name reaches a page through one of these filters, never raw.
"""

from __future__ import annotations

import html
import re

import yaml

# The characters Python-Markdown lets a backslash escape (its ESCAPED_CHARS, plus "|" of tables); a backslash
# before any other character would show.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|])")
# Characters that would be markup in a page title (titles are inserted unescaped by the theme).
_TITLE_SAFE = str.maketrans({"<": "＜", ">": "＞", "&": "＆", '"': "＂", "'": "＇", "\\": "＼"})


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def md(text: object) -> str:
    """Literal text inside Markdown: HTML-escaped, then every Markdown special character backslashed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(one_line(text), quote=False))


def h(text: object) -> str:
    """Literal text inside an HTML block or attribute."""
    return html.escape(one_line(text), quote=True)


def title(text: object) -> str:
    """A page title for front matter: no character the theme could read as markup, YAML-quoted."""
    return yaml.safe_dump(one_line(text).translate(_TITLE_SAFE), allow_unicode=True,
                          default_style='"', width=10_000).strip()
