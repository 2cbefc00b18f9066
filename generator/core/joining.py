"""Columns of parts (shards of a file, shards of images) joined into one, each part's let go once copied."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalsite.core.on_disk import DiskArray


def join_releasing(parts: Sequence[object], name: str) -> np.ndarray | DiskArray:
    """Attribute `name` (an array) of every part concatenated in order, as `np.concatenate` gives it (its
    dtype: `np.result_type` of theirs), each part's set to None once copied: the join holds every part's
    column and the joined one, less what is copied already, instead of both whole (0.9 GB at the 200,000
    COCO-like images of docs/cluster.md, where the parts are the predictions' shards). When a part's column
    is kept on disk (`DiskArray`), so is the join (`DiskArray.joined`). The parts' other attributes are
    untouched; a part's column must not be read after.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> parts = [SimpleNamespace(x=np.array([1, 2])), SimpleNamespace(x=np.array([3.5]))]
    >>> join_releasing(parts, "x"), parts[0].x
    (array([1. , 2. , 3.5]), None)
    """
    columns = [getattr(part, name) for part in parts]
    if any(isinstance(column, DiskArray) for column in columns):
        for part in parts:
            setattr(part, name, None)
        return DiskArray.joined(columns)
    out = np.empty((sum(len(c) for c in columns), *columns[0].shape[1:]), dtype=np.result_type(*columns))
    del columns
    at = 0
    for part in parts:
        column = getattr(part, name)
        out[at:at + len(column)] = column
        at += len(column)
        setattr(part, name, None)
        del column
    return out
