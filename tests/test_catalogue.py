"""The message catalogue covers every message key the code and templates use, in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = yaml.safe_load((ROOT / "templates/messages.yaml").read_text(encoding="utf-8"))


def test_every_entry_has_both_languages() -> None:
    bad = [key for key, entry in CATALOGUE.items()
           if set(entry) != {"en", "zh"} or not all(isinstance(v, str) for v in entry.values())
           or (not all(entry.values()) and key != "sentence_separator")]  # Chinese needs no space between sentences
    assert bad == []


def test_every_notice_code_has_a_message() -> None:
    code = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "generator").rglob("*.py"))
    codes = set(re.findall(r'Notice\(\s*"([a-z_]+)"', code)) | {"image_missing", "image_unreadable"}
    assert len(codes) > 8
    assert sorted(c for c in codes if f"notice_{c}" not in CATALOGUE) == []


def test_every_literal_key_in_the_templates_exists() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "templates/pages").rglob("*.j2"))
    keys = {k for k in re.findall(r"""\bt\(\s*["']([A-Za-z0-9_]+)["']""", text) if not k.endswith("_")}
    assert len(keys) > 50
    assert sorted(k for k in keys if k not in CATALOGUE) == []


def test_every_error_type_has_a_message() -> None:
    from evalsite.metrics.error_types import FN_TYPES, FP_TYPES

    assert [t for t in FP_TYPES + FN_TYPES if f"error_type_{t}" not in CATALOGUE] == []
    assert [t for t in FN_TYPES if f"error_type_missed_{t}" not in CATALOGUE] == []
