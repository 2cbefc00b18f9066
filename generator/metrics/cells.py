"""Sparse count matrices: a confusion matrix as its non-zero cells.

A confusion matrix of L labels has L² cells but at most one non-zero cell per counted item (image or
object), so its non-zero cells are what grows with the data; a dense (L+1)² array is 800 MB at 10,000
labels. Every confusion matrix of evalsite is a `Cells`: the row, column and count of each non-zero cell,
sorted by (row, column).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Cells", "add_cells", "count_cells", "top_off_diagonal"]


@dataclass(frozen=True)
class Cells:
    """The non-zero cells of an (n_rows, n_cols) count matrix, sorted by (row, column)."""

    row: np.ndarray  # (N,) int64
    col: np.ndarray  # (N,) int64
    count: np.ndarray  # (N,) int64, > 0
    shape: tuple[int, int]

    def dense(self) -> np.ndarray:
        """The full matrix (for small matrices and tests only: it has n_rows × n_cols entries)."""
        out = np.zeros(self.shape, dtype=np.int64)
        out[self.row, self.col] = self.count
        return out

    def row_totals(self) -> np.ndarray:
        """(n_rows,) the sum of each row."""
        return np.bincount(self.row, weights=self.count, minlength=self.shape[0]).astype(np.int64)

    def diagonal(self) -> np.ndarray:
        """(min(n_rows, n_cols),) the counts of cells (i, i)."""
        out = np.zeros(min(self.shape), dtype=np.int64)
        on = self.row == self.col
        out[self.row[on]] = self.count[on]
        return out

    def at(self, row: int, col: int) -> int:
        """The count of one cell (0 when it is not stored)."""
        i = np.searchsorted(self.row * self.shape[1] + self.col, row * self.shape[1] + col)
        found = i < len(self.row) and self.row[i] == row and self.col[i] == col
        return int(self.count[i]) if found else 0

    def triples(self) -> list[list[int]]:
        """[[row, column, count], ...] in (row, column) order."""
        return np.stack([self.row, self.col, self.count], axis=1).tolist() if len(self.row) else []


def count_cells(row: np.ndarray, col: np.ndarray, shape: tuple[int, int]) -> Cells:
    """The cells counting each (row[i], col[i]) pair once.

    Parameters
    ----------
    row, col : (N,) int arrays of the same length, 0 <= row < shape[0], 0 <= col < shape[1].
    shape : (n_rows, n_cols).

    Returns
    -------
    `Cells`: cell (r, c) holds the number of i with row[i] == r and col[i] == c.

    Examples
    --------
    >>> c = count_cells(np.array([0, 1, 1, 0]), np.array([0, 2, 2, 0]), (2, 3))
    >>> c.triples()
    [[0, 0, 2], [1, 2, 2]]
    >>> c.dense().tolist()
    [[2, 0, 0], [0, 0, 2]]
    """
    row = np.asarray(row, dtype=np.int64).reshape(-1)
    col = np.asarray(col, dtype=np.int64).reshape(-1)
    key, count = np.unique(row * shape[1] + col, return_counts=True)
    return Cells(row=key // shape[1], col=key % shape[1], count=count.astype(np.int64), shape=shape)


def add_cells(parts: list[Cells]) -> Cells:
    """The sum of count matrices of the same shape (e.g. one per shard of images), as `Cells`.

    Examples
    --------
    >>> a = count_cells(np.array([0, 1]), np.array([0, 2]), (2, 3))
    >>> b = count_cells(np.array([1, 1]), np.array([2, 0]), (2, 3))
    >>> add_cells([a, b]).triples()
    [[0, 0, 1], [1, 0, 1], [1, 2, 2]]
    """
    shape = parts[0].shape
    key, where = np.unique(np.concatenate([c.row * shape[1] + c.col for c in parts]), return_inverse=True)
    count = np.zeros(len(key), dtype=np.int64)
    np.add.at(count, where, np.concatenate([c.count for c in parts]))
    return Cells(row=key // shape[1], col=key % shape[1], count=count, shape=shape)


def top_off_diagonal(cells: Cells, limit: int, skip_row: int | None = None,
                     skip_col: int | None = None) -> list[tuple[int, int, int]]:
    """(row, column, count) of the `limit` largest cells off the diagonal, largest first (ties: row, then
    column), leaving out row `skip_row` and column `skip_col` when given.

    Examples
    --------
    >>> c = count_cells(np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 0, 0, 3, 0]), (3, 4))
    >>> top_off_diagonal(c, 5)
    [(1, 0, 2), (0, 1, 1), (1, 3, 1), (2, 0, 1)]
    >>> top_off_diagonal(c, 5, skip_col=3)
    [(1, 0, 2), (0, 1, 1), (2, 0, 1)]
    """
    keep = cells.row != cells.col
    if skip_row is not None:
        keep &= cells.row != skip_row
    if skip_col is not None:
        keep &= cells.col != skip_col
    r, c, n = cells.row[keep], cells.col[keep], cells.count[keep]
    order = np.lexsort((c, r, -n))[:limit]
    return [(int(r[i]), int(c[i]), int(n[i])) for i in order]
