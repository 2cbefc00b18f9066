"""What the pages show of a confusion matrix, from its non-zero cells (evalsite.metrics.cells).

Up to `MANY_LABELS` labels a page shows the whole matrix. Above, a matrix is unreadable and heavy (1,200
labels: 1.44 M cells), so a page shows instead the most confused pairs (`TOP_PAIRS`, from the report), one
compact heat map (`confusion_map`: labels ordered so that labels confused with each other sit together,
binned to at most `MAP_SIDE` rows and columns) and offers the full matrix as a CSV download
(`csv_rows`: square up to `SQUARE_CSV_UP_TO` labels, else one line per non-zero cell). Nothing here holds
an array of labels² entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from evalsite.metrics.cells import Cells, top_off_diagonal
from evalsite.report.model import ConfusedPair

__all__ = ["MANY_LABELS", "MAP_SIDE", "SQUARE_CSV_UP_TO", "TOP_PAIRS", "ConfusionMap", "confused_pairs",
           "confusion_map", "csv_rows", "dense", "to_cells"]

MANY_LABELS = 30  # above this many labels, pages show pairs and a heat map instead of the matrix
TOP_PAIRS = 50  # most confused pairs kept in the report
MAP_SIDE = 600  # at most this many rows (and columns) of cells in the heat map; more labels share a cell
SQUARE_CSV_UP_TO = 2000  # confusion.csv is a square table up to this many labels, else (true, predicted, count)


def to_cells(triples: list[list[int]], shape: tuple[int, int]) -> Cells:
    """The `Cells` of a report's confusion `cells` list ([row, column, count] in row order)."""
    a = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    return Cells(row=a[:, 0], col=a[:, 1], count=a[:, 2], shape=shape)


def confused_pairs(cells: Cells, rows: list, columns: list, limit: int = TOP_PAIRS,
                   skip_row: int | None = None, skip_col: int | None = None) -> list[ConfusedPair]:
    """The `limit` largest cells off the diagonal as pairs of label names, largest first, with the share of
    the row's total (`skip_row`, `skip_col`: a row or column left out, e.g. detection's background)."""
    totals = cells.row_totals()
    return [ConfusedPair(true=rows[r], predicted=columns[c], count=n, share=n / int(totals[r]))
            for r, c, n in top_off_diagonal(cells, limit, skip_row, skip_col)]


def dense(triples: list[list[int]], n_rows: int, n_cols: int) -> tuple[list[list[int]], list[list[float]]]:
    """The full matrix of counts and of row shares (each count / its row's total), for pages that show the
    matrix (at most MANY_LABELS + 1 rows)."""
    counts = to_cells(triples, (n_rows, n_cols)).dense()
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    return counts.tolist(), shares.tolist()


@dataclass(frozen=True)
class ConfusionMap:
    """A binned, reordered view of the square (label × label) part of a confusion matrix.

    `order`: the labels (row indices) in display order; consecutive labels of `order` share a cell of the
    map in groups of `group`. `share[i, j]`: of the items whose true label is in group i, the share given a
    label of group j (rows sum to at most 1: the rest went to labels outside the square part)."""

    order: np.ndarray  # (L,) label indices
    group: int
    share: np.ndarray  # (G, G) float, G = ceil(L / group) <= MAP_SIDE


def confusion_map(cells: Cells, n_labels: int, max_side: int = MAP_SIDE) -> ConfusionMap:
    """The heat map of the first `n_labels` rows and columns of `cells` (the label × label part).

    Order: reverse Cuthill-McKee on the graph whose edges are the off-diagonal cells (both directions), which
    puts labels confused with each other next to one another (a band around the diagonal); labels never
    confused keep their order, after the others. Labels are then grouped `group` at a time, with
    group = ceil(n_labels / max_side), and each map cell is the count in the block over the rows' total.

    Examples
    --------
    >>> from evalsite.metrics.cells import count_cells
    >>> c = count_cells(np.array([0, 0, 1, 2, 2]), np.array([0, 2, 1, 2, 0]), (3, 3))
    >>> m = confusion_map(c, 3)
    >>> sorted(m.order[:2].tolist()), int(m.order[2]), m.group
    ([0, 2], 1, 1)
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    square = (cells.row < n_labels) & (cells.col < n_labels)
    r, c, n = cells.row[square], cells.col[square], cells.count[square]
    off = r != c
    graph = coo_matrix((np.ones(2 * int(off.sum())), (np.concatenate([r[off], c[off]]),
                                                      np.concatenate([c[off], r[off]]))),
                       shape=(n_labels, n_labels)).tocsr()
    rcm = reverse_cuthill_mckee(graph, symmetric_mode=True) if n_labels else np.zeros(0, np.int64)
    confused = np.zeros(n_labels, dtype=bool)
    confused[r[off]] = confused[c[off]] = True
    order = np.concatenate([rcm[confused[rcm]], np.flatnonzero(~confused)]).astype(np.int64)
    group = max(1, -(-n_labels // max_side))
    side = -(-n_labels // group) if n_labels else 0
    position = np.empty(n_labels, dtype=np.int64)
    position[order] = np.arange(n_labels)
    block = np.zeros((side, side))
    np.add.at(block, (position[r] // group, position[c] // group), n)
    totals = np.bincount(position[cells.row[cells.row < n_labels]] // group,
                         weights=cells.count[cells.row < n_labels], minlength=side)
    share = np.divide(block, totals[:, None], out=np.zeros_like(block), where=totals[:, None] > 0)
    return ConfusionMap(order=order, group=group, share=share)


def csv_rows(triples: list[list[int]], rows: list[str], columns: list[str],
             square_up_to: int = SQUARE_CSV_UP_TO) -> Iterator[list]:
    """confusion.csv's lines (header first), row by row without a dense matrix: a square table ("true \\
    predicted", then one column per predicted label) up to `square_up_to` rows, else one line per non-zero
    cell ("true", "predicted", "count"). `rows`, `columns`: the names written."""
    if len(rows) > square_up_to:
        yield ["true", "predicted", "count"]
        for r, c, n in triples:
            yield [rows[r], columns[c], n]
        return
    yield ["true \\ predicted", *columns]
    i = 0
    for r, label in enumerate(rows):
        line = [0] * len(columns)
        while i < len(triples) and triples[i][0] == r:
            line[triples[i][1]] = triples[i][2]
            i += 1
        yield [label, *line]
