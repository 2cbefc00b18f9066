"""Arrays kept in an unnamed file on this machine's disk instead of in memory, read a part at a time
(docs/cluster.md, "Memory"): with a Dask cluster, the driver keeps the inputs' boxes and masks so, reading
them only to cut the parts it sends to the workers (`evalsite.core.detection_data.heavy_columns_on_disk`)."""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np


class DiskArray(np.lib.mixins.NDArrayOperatorsMixin):
    """An array written once to an unnamed temporary file (gone with this object, or with the process),
    indexed like the array: ``a[rows]``, ``a[i0:i1]``, ``a[:, 2]`` map the file, copy what they select into
    memory and let the mapping go, so the process holds the pages it reads only while it reads them (its
    resident memory does not keep the file's pages, which the system may drop and read again). `np.asarray(a)`
    reads it whole. Read-only.

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
        values.tofile(self._file)
        self._file.flush()

    @classmethod
    def joined(cls, parts: list) -> np.ndarray | DiskArray:
        """The concatenation of the arrays `parts` (in order; `np.concatenate`'s dtype; `DiskArray`s too, each
        read whole in its turn) written part by part,
        each let go (its list entry set to None) once written: neither they nor their concatenation are whole
        in memory at once. An empty concatenation stays in memory."""
        writer = DiskArrayWriter(np.result_type(*(part.dtype for part in parts)), parts[0].shape[1:])
        for k in range(len(parts)):
            writer.append(parts[k])
            parts[k] = None
        return writer.finish()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> Any:
        mapped = np.memmap(self._file, dtype=self.dtype, mode="r", shape=self.shape)
        part = mapped[key]
        if isinstance(part, np.memmap):  # a view of the mapping (a slice): copied, so that the mapping goes now
            part = np.array(part)  # (rows taken by an index array are a copy already)
        del mapped
        return part

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
        out.shape, out.dtype, out._file = shape, self.dtype, self._file
        self._file.flush()
        return out


def on_disk(values: np.ndarray | None) -> np.ndarray | DiskArray | None:
    """`values` as a `DiskArray`; None, an empty array (nothing to gain) and a `DiskArray` as they are."""
    if values is None or isinstance(values, DiskArray) or np.asarray(values).size == 0:
        return values
    return DiskArray(values)
