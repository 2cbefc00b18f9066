"""Work on many items on a few threads (image decoding and encoding release the GIL)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel(work: Callable[[T], R], items: Iterable[T], progress: Callable[[int], None] | None = None,
             step: Callable[[T], int] = lambda item: 1) -> list[R]:
    """`work` of every item, in order, on a few threads (Pillow releases the GIL while it decodes, resizes
    and encodes), advancing `progress` by `step(item)` as each is done."""
    done = []
    items = list(items)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for item, value in zip(items, pool.map(work, items)):
            done.append(value)
            if progress:
                progress(step(item))
    return done
