"""normalise_image_path: its fast path for plain file names gives what the general steps give."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsite.core.errors import InputError
from evalsite.formats.records import normalise_image_path


@pytest.mark.parametrize(("raw", "expected"), [
    ("a.jpg", "a.jpg"), (" a.jpg", "a.jpg"), ("a.jpg ", "a.jpg"), ("a\\b.jpg", "a/b.jpg"), ("a/b.jpg", "a/b.jpg"),
    ("./a/./b.jpg", "a/b.jpg"), ("...", "..."), (".hidden", ".hidden"), ("a b.jpg", "a b.jpg"), ("é.jpg", "é.jpg"),
    ("\u00a0a.jpg", "a.jpg"), ("a\u2028.jpg", "a\u2028.jpg"),
])
def test_names(raw: str, expected: str) -> None:
    assert normalise_image_path(raw, Path("/tmp"), Path("gt.json"), "images entry 1") == expected


@pytest.mark.parametrize("raw", ["", " ", ".", "..", "a/../../b.jpg", "a\x01.jpg", "a\t.jpg", None, 5])
def test_refused(raw: object) -> None:
    with pytest.raises(InputError):
        normalise_image_path(raw, Path("/tmp"), Path("gt.json"), "images entry 1")
