"""Arrays kept in an unnamed file on this machine's disk instead of in memory, read a part at a time
(docs/cluster.md, "Memory"): with a Dask cluster, the driver keeps every column of the detections so
(`evalsite.core.detection_data.heavy_columns_on_disk`, `evalsite.formats.shards`); and helpers that read any
column, in memory or on disk, a block at a time (`blocks_of`, `rows_where`, `is_ascending`, ...)."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

READ_BYTES = 1 << 24  # bytes of a DiskArray's file read at a time to take rows from (`DiskArray._gathered`)


class DiskArray(np.lib.mixins.NDArrayOperatorsMixin):
    """An array written once to an unnamed temporary file (gone with this object, or with the process),
    indexed like the array: ``a[rows]``, ``a[i0:i1]``, ``a[:, 2]`` read from the file what they select, a
    block of at most READ_BYTES at a time beside the result (the file is read, not mapped: its pages are the
    system's cache, not the process's resident memory, and the system drops them when it needs the room).
    `np.asarray(a)` reads it whole. Read-only; threads may read it at once.

    Examples
    --------
    >>> a = DiskArray(np.arange(12.0).reshape(6, 2))
    >>> a.shape, len(a), a.dtype
    ((6, 2), 6, dtype('float64'))
    >>> a[np.array([4, 1])].tolist(), a[2:3, 1].tolist()
    ([[8.0, 9.0], [2.0, 3.0]], [5.0])
    >>> bool(np.array_equal(np.asarray(a), np.arange(12.0).reshape(6, 2)))
    True
    """

    def __init__(self, values: np.ndarray):
        values = np.asarray(values)
        if values.size == 0:
            raise ValueError("an empty array stays in memory (a file of no bytes cannot be mapped)")
        self.shape, self.dtype = values.shape, values.dtype
        self._file = tempfile.TemporaryFile(prefix="evalsite-")  # (unnamed on POSIX: nothing to clean up)
        self._lock = threading.Lock()
        values.tofile(self._file)
        self._file.flush()

    @classmethod
    def joined(cls, parts: list, offsets: list | None = None) -> np.ndarray | DiskArray:
        """The concatenation of the arrays `parts` (in order; `np.concatenate`'s dtype; `DiskArray`s too, read
        a block at a time) written part by part, `offsets[k]` added to part k when given (in that dtype:
        shards' indices numbered from each shard's start), each let go (its list entry set to None) once
        written: neither they nor their concatenation are whole in memory at once. An empty concatenation
        stays in memory."""
        dtype = np.result_type(*(part.dtype for part in parts))
        writer = DiskArrayWriter(dtype, parts[0].shape[1:])
        for k in range(len(parts)):
            for _, block in blocks_of(parts[k]):
                writer.append(block if offsets is None else block + dtype.type(offsets[k]))
            parts[k] = None
        return writer.finish()

    def taken(self, index: np.ndarray) -> np.ndarray | DiskArray:
        """``a[index]`` (row indices, or a bool per row) as a new `DiskArray`, gathered and written a block of
        the result at a time: neither this array nor the result is whole in memory."""
        index = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index)
        writer = DiskArrayWriter(self.dtype, self.shape[1:])
        step = self._block_rows()
        for start in range(0, len(index), step):
            writer.append(self[index[start:start + step]])
        return writer.finish()

    def with_rows(self, rows: np.ndarray, values: np.ndarray) -> DiskArray:
        """A copy with ``copy[rows] = values`` (ascending row indices), written a block at a time."""
        writer = DiskArrayWriter(self.dtype, self.shape[1:])
        for start, block in self.blocks():
            lo, hi = np.searchsorted(rows, [start, start + len(block)])
            block[rows[lo:hi] - start] = values[lo:hi]
            writer.append(block)
        return writer.finish()  # type: ignore[return-value]  (not empty: this array is not)

    def blocks(self, rows: int | None = None):
        """(start, rows start.. of the array) a block at a time, in order: READ_BYTES of the file each (or
        `rows` rows), read into an array of its own."""
        step = rows or self._block_rows()
        for start in range(0, len(self), step):
            yield start, self._read(start, min(len(self), start + step))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Any:
        return iter(self[...])  # (read whole once, not a row at a time)

    def __getitem__(self, key: Any) -> Any:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if rows is Ellipsis:
            return self._read(0, len(self))[key]
        if isinstance(rows, slice) and rows.indices(len(self))[2] == 1:
            start, stop = rows.indices(len(self))[:2]
            if not rest:
                return self._read(start, max(start, stop))
            return self._blocks(start, max(start, stop), (slice(None), *rest))
        if isinstance(rows, (int, np.integer)):
            k = int(rows) + len(self) if rows < 0 else int(rows)
            if not 0 <= k < len(self):
                raise IndexError(f"index {rows} is out of bounds for {len(self)} rows")
            return self._read(k, k + 1)[0][rest]
        # (a strided slice's rows made from its bounds: not an index of every row first)
        index = np.arange(*rows.indices(len(self))) if isinstance(rows, slice) else np.asarray(rows)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"a boolean index of shape {index.shape} for {len(self)} rows")
            index = np.flatnonzero(index)
        index = np.where(index < 0, index + len(self), index).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"an index out of bounds for {len(self)} rows")
        return self._gathered(index, (slice(None), *rest))

    def _read(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1, read from the file into an array of their own (no mapping: the pages read are
        not the process's)."""
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        row = out.itemsize * int(np.prod(self.shape[1:]))
        with self._lock:  # (the file's position is shared: threads read one at a time)
            self._file.seek(start * row)
            if out.nbytes and self._file.readinto(memoryview(out).cast("B")) != out.nbytes:
                raise OSError("a column kept on disk was cut short")
        return out

    def _block_rows(self) -> int:
        """How many rows make a block of READ_BYTES (at least one)."""
        return max(1, READ_BYTES // max(1, self.dtype.itemsize * int(np.prod(self.shape[1:]))))

    def _result(self, rows: int, rest: tuple) -> np.ndarray:
        """An empty array for `rows` rows with `rest` of each (``a[:, 2]``: one value a row)."""
        shape = np.empty((1, *self.shape[1:]), dtype=self.dtype)[rest].shape[1:]
        return np.empty((rows, *shape), dtype=self.dtype)

    def _blocks(self, start: int, stop: int, rest: tuple) -> np.ndarray:
        """Rows start..stop-1 with `rest` of each (a column of them, say), read a block at a time: only the
        result is whole."""
        out = self._result(stop - start, rest)
        block = self._block_rows()
        for lo in range(start, stop, block):
            hi = min(stop, lo + block)
            out[lo - start:hi - start] = self._read(lo, hi)[rest]
        return out

    def _gathered(self, index: np.ndarray, rest: tuple) -> np.ndarray:
        """Rows `index` (in that order) with `rest` of each, read a block of the file at a time: the block
        holding the next rows asked for, of READ_BYTES at most (or one row), then the rows taken from it."""
        out = self._result(len(index), rest)
        # (rows asked for in ascending order, as a part's mostly are, need no sorted copy and no order)
        order = None if bool((index[1:] >= index[:-1]).all()) else np.argsort(index, kind="stable")
        ascending = index if order is None else index[order]
        block = self._block_rows()
        i = 0
        while i < len(ascending):
            lo = int(ascending[i])
            j = int(np.searchsorted(ascending, lo + block, side="left"))
            read = self._read(lo, int(ascending[j - 1]) + 1)
            out[slice(i, j) if order is None else order[i:j]] = read[ascending[i:j] - lo][rest]
            i = j
        return out

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """numpy's functions and operators (``a >= 3``, ``a + 1``, ``np.maximum(a, b)``) on the array read
        whole: a read-only array, in memory while it is used."""
        inputs = tuple(np.asarray(x) if isinstance(x, DiskArray) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """The array's other attributes and methods (``a.tolist()``, ``a.sum()``, ``a.astype(...)``), of the
        array read whole."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self[...], name)

    def __reduce__(self) -> tuple:
        """Pickled (sent to a worker, say) as the array it holds: the file is this machine's."""
        return np.array, (self[...],)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[...]
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"DiskArray({self.shape}, {self.dtype})"


class DiskArrayWriter:
    """A `DiskArray` written a part at a time (`append`, then `finish`): rows of `row_shape` in `dtype`, each
    part's values cast to it (safely: a part of a wider type is a TypeError)."""

    def __init__(self, dtype: Any, row_shape: tuple = ()):
        self.dtype, self.row_shape, self.rows = np.dtype(dtype), tuple(row_shape), 0
        self._file = tempfile.TemporaryFile(prefix="evalsite-")

    def append(self, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.shape[1:] != self.row_shape and len(values):
            raise ValueError(f"rows of shape {values.shape[1:]}, not {self.row_shape}")
        if not np.can_cast(values.dtype, self.dtype, "safe"):
            raise TypeError(f"{values.dtype} values in a {self.dtype} array")
        values.astype(self.dtype, copy=False).tofile(self._file)
        self.rows += len(values)

    def finish(self) -> np.ndarray | DiskArray:
        """The array written (in memory when empty: a file of no bytes cannot be mapped)."""
        shape = (self.rows, *self.row_shape)
        if not int(np.prod(shape)):
            self._file.close()
            return np.zeros(shape, dtype=self.dtype)
        out = DiskArray.__new__(DiskArray)
        out.shape, out.dtype, out._file, out._lock = shape, self.dtype, self._file, threading.Lock()
        self._file.flush()
        return out


class ColumnsInOrder:
    """Columns of parts that come in any order (a cluster's shards, as their tasks end) written to disk in the
    parts' order as they come (`taken`: part k's columns are appended once parts 0..k-1's are, then set to None;
    a part that comes early waits with its columns in memory), each into one file: their concatenation is on
    disk as the parts come in, never in memory. `columns`: name -> (dtype, row shape) of each column taken.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> columns = ColumnsInOrder({"x": (np.int64, ())})
    >>> parts = [SimpleNamespace(x=np.array([1, 2])), SimpleNamespace(x=np.array([3]))]
    >>> later = columns.taken(1, parts[1]); first = columns.taken(0, parts[0])
    >>> joined = columns.finish(2)["x"]
    >>> type(joined).__name__, joined[0:3].tolist(), parts[1].x
    ('DiskArray', [1, 2, 3], None)
    """

    def __init__(self, columns: dict[str, tuple[Any, tuple]]):
        self.writers = {name: DiskArrayWriter(dtype, shape) for name, (dtype, shape) in columns.items()}
        self.waiting: dict[int, Any] = {}
        self.next = 0

    def taken(self, k: int, part: Any) -> Any:
        """`part` (the k-th), its columns written (or waiting for the parts before it); for `parallel`'s
        `taken`."""
        self.waiting[k] = part
        while self.next in self.waiting:
            ready = self.waiting.pop(self.next)
            for name, writer in self.writers.items():
                writer.append(np.asarray(getattr(ready, name)).reshape(-1, *writer.row_shape))
                setattr(ready, name, None)
            self.next += 1
        return part

    def finish(self, n: int) -> dict[str, np.ndarray | DiskArray]:
        """Each column of the `n` parts joined (a `DiskArray`; in memory when empty)."""
        if self.next != n:
            raise RuntimeError(f"the columns of {n - self.next} part(s) were not written")
        return {name: writer.finish() for name, writer in self.writers.items()}


class StringsOnDisk(Sequence):
    """A list of strings (None too) kept on this machine's disk: their UTF-8 bytes one after another, where each
    ends and which are None (`DiskArray`s). ``s[k]`` reads string k, ``s[i:j]`` the list of strings i..j-1 (one
    read of their bytes); they are written a part at a time (`joined`): a segmentation's mask strings (RLE,
    hundreds of bytes each) are never all in memory.

    Examples
    --------
    >>> s = StringsOnDisk.joined([["ab", None], ["", "中"]])
    >>> len(s), s[1], s[3], s[0:4]
    (4, None, '中', ['ab', None, '', '中'])
    """

    def __init__(self, data, ends, absent):
        self._data, self._ends, self._absent = data, ends, absent

    @classmethod
    def joined(cls, parts: list) -> StringsOnDisk:
        """The strings of `parts` (lists, or `StringsOnDisk`, each read whole in its turn) in order, written part
        by part, each let go (its list entry set to None) once written."""
        data, ends, absent = DiskArrayWriter(np.uint8), DiskArrayWriter(np.int64), DiskArrayWriter(np.bool_)
        total = 0
        for k in range(len(parts)):
            strings = parts[k] if isinstance(parts[k], list) else parts[k][0:len(parts[k])]
            encoded = [b"" if text is None else text.encode("utf-8") for text in strings]
            lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
            data.append(np.frombuffer(b"".join(encoded), np.uint8))
            ends.append(total + np.cumsum(lengths))
            absent.append(np.fromiter((text is None for text in strings), np.bool_, len(strings)))
            total += int(lengths.sum())
            parts[k] = strings = encoded = None
        return cls(data.finish(), ends.finish(), absent.finish())

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, key):
        if not isinstance(key, slice):
            k = range(len(self))[key]
            return self[k:k + 1][0]
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError("StringsOnDisk: a slice with a step")
        if stop <= start:
            return []
        ends = self._ends[start:stop].tolist()
        first = int(self._ends[start - 1]) if start else 0
        data = self._data[first:ends[-1]].tobytes() if ends[-1] > first else b""
        begins = [first, *ends[:-1]]
        return [None if none else data[b - first:e - first].decode("utf-8")
                for b, e, none in zip(begins, ends, self._absent[start:stop].tolist())]

    def __iter__(self) -> Iterator[str | None]:
        for start in range(0, len(self), 4096):  # (a read of many strings at a time, not one each)
            yield from self[start:start + 4096]

    def __repr__(self) -> str:
        return f"StringsOnDisk({len(self)} strings)"


def on_disk(values: np.ndarray | None) -> np.ndarray | DiskArray | None:
    """`values` as a `DiskArray`; None, an empty array (nothing to gain) and a `DiskArray` as they are."""
    if values is None or isinstance(values, DiskArray) or np.asarray(values).size == 0:
        return values
    return DiskArray(values)


BLOCK_ROWS = 1 << 21  # rows of an array in memory read at a time by `blocks_of`


def blocks_of(values, rows: int = BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """(start, values[start:start + n]) in order, a block at a time: of a `DiskArray`, as it reads them (16 MB
    each); of an array, views of `rows` rows.

    Examples
    --------
    >>> [(start, block.tolist()) for start, block in blocks_of(np.arange(5), rows=2)]
    [(0, [0, 1]), (2, [2, 3]), (4, [4])]
    """
    if isinstance(values, DiskArray):
        yield from values.blocks()
        return
    values = np.asarray(values)
    for start in range(0, len(values), rows):
        yield start, values[start:start + rows]


def is_ascending(values) -> bool:
    """Whether `values` never decrease, looked at a block at a time (`blocks_of`).

    Examples
    --------
    >>> is_ascending(np.array([0, 0, 2])), is_ascending(np.array([1, 0]))
    (True, False)
    """
    last = None
    for _, block in blocks_of(values):
        if len(block) and ((last is not None and block[0] < last) or not bool(np.all(block[1:] >= block[:-1]))):
            return False
        last = block[-1] if len(block) else last
    return True


def rows_where(values, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``np.flatnonzero(test(values))`` (int64, ascending), tested a block at a time (`blocks_of`): neither
    a column kept on disk nor a flag per row is whole in memory.

    Examples
    --------
    >>> rows_where(np.array([3, 1, 4, 1, 5]), lambda block: block < 4).tolist()
    [0, 1, 3]
    """
    parts = list(row_blocks_where(values, test))
    return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, dtype=np.int64)


def row_blocks_where(values, test: Callable[[np.ndarray], np.ndarray]) -> Iterator[np.ndarray]:
    """`rows_where`'s rows a block of `values` at a time, in order (one array of rows per block): for a
    caller that uses them as they are found, never all at once.

    Examples
    --------
    >>> [rows.tolist() for rows in row_blocks_where(np.array([3, 1, 4, 1, 5]), lambda block: block < 4)]
    [[0, 1, 3]]
    """
    for start, block in blocks_of(values):
        yield start + np.flatnonzero(test(block))


def first_row_where(values, test: Callable[[np.ndarray], np.ndarray]) -> int:
    """The first row where `test` (of a block) holds, -1 where it holds nowhere; a block at a time
    (`blocks_of`), stopping at the first.

    Examples
    --------
    >>> first_row_where(np.array([3, 1, 4, 1, 5]), lambda block: block > 3), first_row_where([1], lambda b: b > 1)
    (2, -1)
    """
    for start, block in blocks_of(values):
        hit = np.flatnonzero(test(block))
        if len(hit):
            return start + int(hit[0])
    return -1


def max_of(values) -> Any:
    """``values.max()`` of non-empty `values`, a block at a time (`blocks_of`).

    Examples
    --------
    >>> int(max_of(np.array([3, 1, 4, 1, 5])))
    5
    """
    return max(block.max() for _, block in blocks_of(values) if len(block))


def count_below(ordered, targets: np.ndarray) -> np.ndarray:
    """For each target, how many of `ordered` (sorted, ascending or descending) are below it: the
    ``np.searchsorted`` of the ascending values, a block at a time (`blocks_of`).

    Examples
    --------
    >>> count_below(np.array([9, 7, 7, 2]), np.array([1, 7, 8, 10])).tolist()
    [0, 1, 3, 4]
    """
    counts = np.zeros(len(targets), dtype=np.int64)
    for _, block in blocks_of(ordered):
        counts += np.searchsorted(block[::-1] if len(block) > 1 and block[0] > block[-1] else block, targets)
    return counts
