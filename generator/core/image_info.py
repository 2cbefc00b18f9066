"""What checking one image file found (evalsite.formats.images reads it; the reports show it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ImageInfo:
    status: str  # ok | missing | unreadable
    width: int | None = None
    height: int | None = None
    problem: str | None = None
