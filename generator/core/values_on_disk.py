"""Python values kept pickled on this machine's disk a part at a time (docs/cluster.md, "Memory"): with a
Dask cluster, a segmentation's masks as read (polygons or RLE, hundreds of bytes each as Python objects) go
there as the workers send them, and go back to the workers a part at a time to be decoded
(`evalsite.formats.mask_decoding.decode_masks`): the driver never holds them all."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsite.core.on_disk import DiskArrayWriter, blocks_of, on_disk

PART_ROWS = 20_000  # values in one part of `ValuesOnDisk.of` (masks: a few MB pickled)


@dataclass
class ValuesOnDisk(Sequence):
    """A list of values as parts, each one pickle in `data` (uint8: in memory where it was made, a
    `DiskArray` once kept on disk): part k is ``data[offsets[k]:offsets[k] + lengths[k]]`` and holds
    ``rows[k]`` values. ``v[i]`` and iteration unpickle whole parts (`part(k)`); `pickled(k)` is part k's
    bytes, unpickled where they are used (on a worker).

    Examples
    --------
    >>> v = ValuesOnDisk.of([[1], {"a": 2}, None], part_rows=2)
    >>> len(v), v.n_parts, v.starts().tolist(), v[1], list(v)
    (3, 2, [0, 2, 3], {'a': 2}, [[1], {'a': 2}, None])
    """

    data: Any  # np.ndarray | DiskArray of uint8
    offsets: np.ndarray  # (parts,) int64
    lengths: np.ndarray  # (parts,) int64
    rows: np.ndarray  # (parts,) int64

    @classmethod
    def of(cls, values: list, part_rows: int = PART_ROWS) -> ValuesOnDisk:
        """`values` pickled `part_rows` at a time, in memory (a worker's: taken back a piece at a time, the
        pickles are one array of bytes, not a Python object per value)."""
        starts = range(0, max(1, len(values)), part_rows)
        blobs = [pickle.dumps(values[i:i + part_rows], pickle.HIGHEST_PROTOCOL) for i in starts]
        lengths = np.fromiter(map(len, blobs), np.int64, len(blobs))
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        rows = np.array([min(part_rows, len(values) - i) for i in starts], np.int64)
        return cls(np.frombuffer(b"".join(blobs), np.uint8), offsets, lengths, rows)

    def kept_on_disk(self) -> ValuesOnDisk:
        """These values with their pickles on this machine's disk (`DiskArray`)."""
        return ValuesOnDisk(on_disk(self.data), self.offsets, self.lengths, self.rows)

    @property
    def n_parts(self) -> int:
        return len(self.rows)

    def starts(self) -> np.ndarray:
        """(parts + 1,) the first value of each part, and the number of values."""
        return np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)

    def pickled(self, k: int) -> bytes:
        start = int(self.offsets[k])
        return np.asarray(self.data[start:start + int(self.lengths[k])]).tobytes()

    def part(self, k: int) -> list:
        return pickle.loads(self.pickled(k))

    def __len__(self) -> int:
        return int(self.rows.sum())

    def __getitem__(self, i):
        if isinstance(i, slice):
            raise TypeError("ValuesOnDisk: read a part at a time (part(k)), not a slice")
        i = range(len(self))[i]
        starts = self.starts()
        k = int(np.searchsorted(starts, i, side="right")) - 1
        return self.part(k)[i - int(starts[k])]

    def __iter__(self) -> Iterator:
        for k in range(self.n_parts):
            yield from self.part(k)


class ValuesOnDiskWriter:
    """A `ValuesOnDisk` written a part at a time, the parts given in any order (`add(k, values)`: a cluster's
    shards, as their tasks end), each pickled and written as it comes."""

    def __init__(self) -> None:
        self._data = DiskArrayWriter(np.uint8)
        self._where: dict[int, list[tuple[int, int, int]]] = {}  # part k: its pickles' (offset, length, rows)

    @property
    def added(self) -> int:
        """How many parts were added."""
        return len(self._where)

    def add(self, k: int, values: Sequence) -> None:
        """Part k's values: a list, pickled here, or a `ValuesOnDisk` pickled already (by a worker: its parts
        become part k's)."""
        if not isinstance(values, ValuesOnDisk):
            values = ValuesOnDisk.of(list(values), max(1, len(values)))
        self._where[k] = [(self._data.rows + int(offset), int(length), int(rows))
                          for offset, length, rows in zip(values.offsets, values.lengths, values.rows)]
        for _, block in blocks_of(values.data):
            self._data.append(block)

    def finish(self, n: int) -> ValuesOnDisk:
        """The values of parts 0..n-1 (each must have been added)."""
        missing = [k for k in range(n) if k not in self._where]
        if missing:
            raise RuntimeError(f"the values of {len(missing)} part(s) were not written")
        where = np.array([w for k in range(n) for w in self._where[k]], np.int64).reshape(-1, 3)
        return ValuesOnDisk(self._data.finish(), where[:, 0].copy(), where[:, 1].copy(), where[:, 2].copy())


def values_pickled(read: Callable[[Any], Any], item: Any, *, name: str = "segm") -> Any:
    """``read(item)`` with its attribute `name`, a list of values (or None), pickled (`ValuesOnDisk.of`): done
    by the worker that reads a shard, whose masks then come to the driver as one array of bytes rather than
    a Python object each (a shard of 400,000 predicted masks: 0.8 GB as objects on the driver)."""
    value = read(item)
    if getattr(value, name) is not None:
        setattr(value, name, ValuesOnDisk.of(getattr(value, name)))
    return value


__all__ = ["PART_ROWS", "ValuesOnDisk", "ValuesOnDiskWriter", "values_pickled"]
