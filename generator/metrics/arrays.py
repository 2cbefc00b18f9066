"""Small array helpers shared by the detection metrics (matching, VOC AP, operating point, confusion, error
types): input coercion, the detection order, per-group maxima, guarded indexing and division.

All are pure numpy functions; none validates more than it states.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np

from evalsite.core.on_disk import (
    BLOCK_ROWS,
    DiskArray,
    DiskArrayWriter,
    blocks_of,
    is_ascending,
    row_blocks_where,
    rows_where,
)


def int_array(a) -> np.ndarray:
    """A flat int64 array of `a` (an index or label column).

    Examples
    --------
    >>> int_array([[1, 2], [3, 4]])
    array([1, 2, 3, 4])
    """
    return np.asarray(a, dtype=np.int64).reshape(-1)


def index_dtype(n: int) -> np.dtype:
    """The dtype of indices into n items as held long (`held_indices`): int32 when n fits it, else int64."""
    return np.dtype(np.int32 if n < 2**31 else np.int64)


def held_indices(a, n: int) -> np.ndarray:
    """Indices into n items (image, label) as an array to hold long: int32 when n fits it (4 bytes each
    instead of 8: a report's evidence holds two per detection), else int64; the same values.

    Examples
    --------
    >>> held_indices(np.array([0, 2, 1]), 3).dtype
    dtype('int32')
    >>> held_indices([5], 2**31).dtype
    dtype('int64')
    """
    dtype = index_dtype(n)
    if getattr(a, "dtype", None) == dtype and np.ndim(a) == 1:
        return a  # (as it is: an array of that dtype, or one kept on disk, `evalsite.core.on_disk.DiskArray`)
    return np.asarray(a).astype(dtype, copy=False)


GATHER_ROWS = 1 << 20  # rows gathered at a time by `gathered`


def gathered(values: np.ndarray, rows: np.ndarray, dtype) -> np.ndarray:
    """`values[rows].astype(dtype)`, gathered GATHER_ROWS rows at a time into the result: no copy of all the
    rows in `values`' dtype on the way (8 bytes a row for int64 indices held as int32, `held_indices`). The
    values must fit `dtype`.

    Examples
    --------
    >>> gathered(np.array([10, 20, 30]), np.array([2, 0]), np.int32)
    array([30, 10], dtype=int32)
    """
    out = np.empty(len(rows), dtype=dtype)
    for start in range(0, len(rows), GATHER_ROWS):
        out[start:start + GATHER_ROWS] = values[rows[start:start + GATHER_ROWS]]
    return out


def rows_of(values, rows) -> np.ndarray:
    """`values[rows]` as an array: indexed as it is when it is an array or reads like one (a column kept on
    disk then reads only those rows, `evalsite.core.on_disk.DiskArray`), else through `np.asarray` (a list).

    Examples
    --------
    >>> rows_of([10, 20, 30], np.array([True, False, True])).tolist()
    [10, 30]
    """
    return values[rows] if hasattr(values, "shape") else np.asarray(values)[rows]


def counts_of(values, minlength: int = 0, where=None) -> np.ndarray:
    """``np.bincount(values[where], minlength=minlength)`` (non-negative integers, a list too; `where`: a flag
    per value, or a function of (start, stop) giving the flags of those rows, None for all) counted a block
    at a time (`blocks_of`): a column kept on disk is never whole in memory, nor are the rows `where` picks
    (nor, given as a function, the flags).

    Examples
    --------
    >>> counts_of(np.array([2, 0, 2]), minlength=4).tolist()
    [1, 0, 2, 0]
    >>> counts_of([2, 0, 2], where=np.array([True, True, False])).tolist()
    [1, 0, 1]
    >>> counts_of([2, 0, 2], where=lambda start, stop: np.arange(start, stop) > 0).tolist()
    [1, 0, 1]
    """
    flags = where if where is None or callable(where) else lambda start, stop: where[start:stop]
    total = np.zeros(minlength, dtype=np.int64)
    for start, block in blocks_of(values):
        block = index_array(block) if flags is None else index_array(block)[flags(start, start + len(block))]
        counts = np.bincount(block, minlength=len(total))
        if len(counts) > len(total):
            total = np.concatenate([total, np.zeros(len(counts) - len(total), dtype=np.int64)])
        total += counts
    return total


def images_holding(image, label, where: np.ndarray, n_labels: int) -> tuple[np.ndarray, int]:
    """(L,) how many distinct images hold an entry of each label, and how many hold any, of the entries
    `where` (a flag per entry). With `image` grouped by image (never decreasing, as `DetectionData`'s ground
    truth), counted a block at a time (`blocks_of`): a distinct (image, label) pair is counted in the block
    that first holds it, and only the last image of a block can go on in the next; else all at once.

    Examples
    --------
    >>> per_label, images = images_holding(np.array([0, 0, 1, 3]), np.array([1, 1, 0, 1]), np.ones(4, bool), 2)
    >>> per_label.tolist(), images
    ([1, 2], 3)
    """
    per_label, images = np.zeros(n_labels, np.int64), 0
    last_image, last_labels = -1, np.zeros(0, np.int64)
    ordered = is_ascending(image)
    for start, block in blocks_of(image, rows=BLOCK_ROWS if ordered else max(len(image), 1)):
        kept = np.asarray(where[start:start + len(block)], bool)
        keys = np.unique(index_array(block)[kept] * n_labels + index_array(label[start:start + len(block)])[kept])
        if not len(keys):
            continue
        key_image, key_label = np.divmod(keys, n_labels)
        go_on = key_image == last_image  # (the last image of the block before, going on here)
        per_label += np.bincount(key_label[~(go_on & np.isin(key_label, last_labels))], minlength=n_labels)
        images += 1 + int(np.count_nonzero(key_image[1:] != key_image[:-1])) - int(go_on[0])
        tail = key_label[key_image == key_image[-1]]
        last_labels = np.union1d(last_labels, tail) if key_image[-1] == last_image else tail
        last_image = int(key_image[-1])
    return per_label, images


def label_rows(labels, k0: int, k1: int) -> np.ndarray:
    """The rows (int64, ascending) of `labels` that lie in k0..k1-1: a label group's, found a block at a time
    (`rows_where`: a column on disk is not read whole).

    Examples
    --------
    >>> label_rows(np.array([2, 0, 1, 2]), 1, 3).tolist()
    [0, 2, 3]
    """
    return rows_where(labels, _in_labels(k0, k1))


def label_row_blocks(labels, k0: int, k1: int) -> Iterator[np.ndarray]:
    """`label_rows` a block of `labels` at a time (`row_blocks_where`), for a caller that sends them as they
    are found (a label group's `Pieces`, `evalsite.core.cluster.row_pieces`)."""
    return row_blocks_where(labels, _in_labels(k0, k1))


def _in_labels(k0: int, k1: int):
    """The test of a block of labels: which lie in k0..k1-1."""
    return lambda block: (block >= k0) & (block < k1)


def index_array(a) -> np.ndarray:
    """`a` (an index column) as an integer array: as it is when it is one (int32 columns held long,
    `held_indices`, are not copied), else int64 (a list read from report.json, an empty one).

    Examples
    --------
    >>> index_array(np.array([1, 2], dtype=np.int32)).dtype, index_array([]).dtype
    (dtype('int32'), dtype('int64'))
    """
    a = np.asarray(a)
    return a if a.dtype.kind in "iu" else a.astype(np.int64)


def bool_array(a, n: int) -> np.ndarray:
    """A flat bool array of `a` (a flag column), or n times False when `a` is None (flag not given).

    Examples
    --------
    >>> bool_array(None, 2)
    array([False, False])
    >>> bool_array([0, 1], 2)
    array([False,  True])
    """
    if a is None:
        return np.zeros(n, dtype=bool)
    return np.asarray(a, dtype=bool).reshape(-1)


def group_best(group: np.ndarray, value: np.ndarray, obj: np.ndarray, n_groups: int):
    """Per group: the largest value (-inf for an empty group) and the smallest `obj` among the entries that
    hold it (-1 for an empty group). With obj = object indices, "smallest" means "first in file order".

    Parameters
    ----------
    group : (N,) int array, the group of each entry, in 0..n_groups-1.
    value : (N,) float array.
    obj : (N,) int array, the object each entry stands for.
    n_groups : the number of groups.

    Returns
    -------
    best : (n_groups,) float64, the largest value per group.
    first : (n_groups,) int64, the smallest `obj` holding it.

    Examples
    --------
    >>> best, first = group_best(np.array([0, 0, 2]), np.array([0.5, 0.5, 0.1]), np.array([7, 3, 4]), 3)
    >>> best.tolist(), first.tolist()
    ([0.5, -inf, 0.1], [3, -1, 4])
    """
    best = np.full(n_groups, -np.inf)
    np.maximum.at(best, group, value)
    hit = value == best[group]
    big = np.iinfo(np.int64).max
    first = np.full(n_groups, big, dtype=np.int64)
    np.minimum.at(first, group[hit], np.asarray(obj, dtype=np.int64)[hit])
    first[first == big] = -1
    return best, first


def score_rank(score: np.ndarray, known: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Detection order (descending score, ties in file order) and each detection's position in it. `known`:
    that order as computed before (e.g. `Matching.order`), taken after a linear check that it is exactly
    that order for `score`, instead of sorting again; anything else is ignored.

    Examples
    --------
    >>> order, rank = score_rank(np.array([0.2, 0.9, 0.2]))
    >>> order.tolist(), rank.tolist()
    ([1, 0, 2], [1, 0, 2])
    """
    order = score_order(score, known)
    rank = np.empty(len(score), dtype=np.int64)
    rank[order] = np.arange(len(score))
    return order, rank


def score_order(score: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """The detection order alone (`score_rank`'s first value, without the ranks: 8 bytes per detection less)."""
    return known if known is not None and is_score_order(known, score) else descending_order(score)


# The columns of a uint64's 16-bit digits, least significant first, in its view as four uint16
_DIGITS = (0, 1, 2, 3) if sys.byteorder == "little" else (3, 2, 1, 0)


def descending_order(score: np.ndarray) -> np.ndarray:
    """`np.argsort(-score, kind="stable")` (descending, equal values in index order; -0.0 equal to 0.0) for
    float64 `score` without NaN, as four stable radix sorts of 16-bit digits of an order-preserving integer
    key (least significant first; a digit equal everywhere is skipped): 2-3x faster than numpy's stable
    sort of floats, which is on every report's path (the VOC and the COCO matching).

    >>> descending_order(np.array([0.2, 0.9, 0.2, -0.0, 0.0])).tolist()
    [1, 0, 2, 3, 4]
    """
    value = np.asarray(score, dtype=np.float64).reshape(-1) + 0.0  # (a copy; + 0.0: -0.0 is 0.0)
    negative = np.signbit(value)
    # ascending key: negatives with every bit flipped, positives with the sign bit set; then flipped for
    # descending (in place: one array of 8 bytes per score; the order's indices in 4 bytes below 2**31, the
    # digits read from a view of the key: about 26 bytes per score at the peak where it took 40)
    key = value.view(np.uint64)
    np.invert(key, out=key, where=negative)
    np.bitwise_or(key, np.uint64(1 << 63), out=key, where=~negative)
    np.invert(key, out=key)
    del value, negative
    digits = key.view(np.uint16).reshape(key.size, 4)
    order = np.arange(key.size, dtype=np.int32 if key.size < 2**31 else np.int64)
    for column in _DIGITS:
        digit = np.ascontiguousarray(digits[:, column])[order]  # (gathered from a copy: faster than from the view)
        if digit.size and digit.min() != digit.max():
            order = order[np.argsort(digit, kind="stable")]
        del digit
    del digits, key
    return order.astype(np.int64, copy=False)


ORDER_ROWS = 1 << 20  # about the rows of one part of `descending_parts`


def descending_parts(score, rows: int | None = None) -> Iterator[np.ndarray]:
    """`descending_order(score)` a part at a time, in order (int64 row indices): the rows of one range of
    scores each, about `rows` of them (ORDER_ROWS when None; more where one score repeats), the ranges' bounds
    read from a sample of the scores. A range's rows are found a block of `score` at a time (`rows_where`) and
    ordered with `descending_order`; the ranges hold descending values, so their orders joined are the
    whole's, ties in index order. Beside a part, only `score`'s blocks and the sample are in memory: a column
    on disk (`evalsite.core.on_disk.DiskArray`) is ordered without its 26 bytes per score at work, for a pass
    over the column per part.

    Examples
    --------
    >>> [part.tolist() for part in descending_parts(np.array([0.2, 0.9, 0.2, -0.0, 0.0, 0.5]), rows=2)]
    [[1, 5, 0, 2], [3, 4]]
    """
    n, rows = len(score), rows or ORDER_ROWS
    if n == 0:
        return
    sample = np.sort(np.asarray(score[::max(1, rows // 64)], dtype=np.float64) + 0.0)[::-1]  # (+ 0.0: -0.0 is 0.0)
    step = max(1, len(sample) * rows // n)
    bounds = np.unique(sample[step::step])[::-1]  # descending: range j holds bounds[j] <= s < bounds[j - 1]
    for hi, lo in zip([None, *bounds], [*bounds, -np.inf]):
        def inside(block: np.ndarray, lo: float = lo, hi: float | None = hi) -> np.ndarray:
            within = block >= lo
            if hi is not None:
                within &= block < hi
            return within

        part = rows_where(score, inside)
        if len(part):
            yield part[descending_order(score[part])]


def is_score_order(order: np.ndarray, score: np.ndarray) -> bool:
    """Whether `order` is exactly `score_rank(score)[0]`: indices into `score` whose keys (-score, index)
    strictly increase (so they are all the indices, each once).

    >>> score = np.array([0.2, 0.9, 0.2])
    >>> is_score_order(np.array([1, 0, 2]), score), is_score_order(np.array([1, 2, 0]), score)
    (True, False)
    """
    order, score = np.asarray(order), np.asarray(score)
    if order.shape != score.shape or order.ndim != 1 or order.dtype.kind not in "iu":
        return False
    if not len(order):
        return True
    if order.min() < 0 or order.max() >= len(score):
        return False
    s = score[order]
    return bool(np.all((s[:-1] > s[1:]) | ((s[:-1] == s[1:]) & (order[:-1] < order[1:]))))


def label_count(*label_arrays: np.ndarray, n_labels: int | None = None) -> int:
    """The number of labels L: `n_labels` when given, else one more than the largest label in the arrays
    (0 when they are all empty).

    Examples
    --------
    >>> label_count(np.array([0, 3]), np.array([1]))
    4
    >>> label_count(np.array([0, 3]), n_labels=10)
    10
    """
    if n_labels is not None:
        return int(n_labels)
    return int(max((int(a.max()) + 1 for a in label_arrays if len(a)), default=0))


def take(values: np.ndarray, index: np.ndarray, fill) -> np.ndarray:
    """values[index] where index >= 0, else `fill` (also when `values` is empty).

    Examples
    --------
    >>> take(np.array([10, 20]), np.array([1, -1, 0]), -5)
    array([20, -5, 10])
    """
    index = np.asarray(index, dtype=np.int64)
    if len(values) == 0:
        return np.full(index.shape, fill, dtype=np.result_type(values, np.asarray(fill)))
    return np.where(index >= 0, values[np.maximum(index, 0)], fill)


def rows_by_group(group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions of `group` (values 0..n_groups-1) grouped by value, in their order within each group, and
    where each group starts among them (n_groups + 1 bounds).

    Examples
    --------
    >>> order, bounds = rows_by_group(np.array([1, 0, 1, 0]), 3)
    >>> order.tolist(), bounds.tolist()
    ([1, 3, 0, 2], [0, 2, 4, 4])
    """
    order = np.argsort(group, kind="stable")
    return order, np.searchsorted(group[order], np.arange(n_groups + 1))


def placed_by_ranges(keys, ranges: list[tuple[int, int]], parts: list, dtype) -> np.ndarray | DiskArray:
    """(n,) array written on this machine's disk (`DiskArray`): at the rows whose key lies in ``ranges[k] =
    (lo, hi)``, in row order, the values of ``parts[k]`` in order (a label group's flags at its detections'
    rows, its labels being the keys). The ranges are disjoint and hold every key. Made a block of `keys` at a
    time (`blocks_of`), each part read in turn where its rows come: neither the groups' rows nor the result
    is whole in memory.

    Examples
    --------
    >>> placed_by_ranges(np.array([2, 0, 1, 2, 0]), [(1, 3), (0, 1)], [np.array([7, 8, 9]), np.array([5, 6])],
    ...                  np.int64).tolist()
    [7, 5, 8, 9, 6]
    """
    lows = np.array([lo for lo, _ in ranges], dtype=np.int64)
    by_low = np.argsort(lows, kind="stable")
    highs = np.array([hi for _, hi in ranges], dtype=np.int64)
    taken = np.zeros(len(ranges), dtype=np.int64)
    writer = DiskArrayWriter(dtype)
    for _, block in blocks_of(keys):
        block = index_array(block)
        which = by_low[np.maximum(np.searchsorted(lows[by_low], block, side="right") - 1, 0)]
        if len(block) and bool(((block < lows[which]) | (block >= highs[which])).any()):
            raise ValueError("placed_by_ranges: a key in no range")
        out = np.empty(len(block), dtype=dtype)
        rows = np.argsort(which, kind="stable")  # (each range's rows of the block, in row order)
        counts = np.bincount(which, minlength=len(ranges))
        at = 0
        for k in np.flatnonzero(counts).tolist():
            n = int(counts[k])
            out[rows[at:at + n]] = parts[k][taken[k]:taken[k] + n]
            taken[k] += n
            at += n
        writer.append(out)
    if taken.tolist() != [len(part) for part in parts]:
        raise ValueError("placed_by_ranges: a part's length is not its rows'")
    return writer.finish()


class RowsJoin:
    """One (n,) array from its parts (rows, values), each part's values at its rows (together every row once),
    added a part at a time (`add`) as they come, none kept: `out` is the array (None before the first part,
    whose dtype it takes). With `other` (the whole's row indices of the part's rows of another kind), the values
    are indices into those rows, -1 for none, and become whole row indices (-1 stays).

    Examples
    --------
    >>> joined = RowsJoin(3)
    >>> joined.add(np.array([0, 2]), np.array([7, 8])); joined.add(np.array([1]), np.array([9])); joined.out
    array([7, 9, 8])
    >>> joined = RowsJoin(3)
    >>> joined.add(np.array([0, 2]), np.array([1, -1]), np.array([4, 5]))
    >>> joined.add(np.array([1]), np.array([0]), np.array([3])); joined.out
    array([ 5,  3, -1])
    """

    def __init__(self, n: int):
        self.n = n
        self.out: np.ndarray | None = None

    def add(self, rows: np.ndarray, values: np.ndarray, other: np.ndarray | None = None) -> None:
        """`values` at `rows`; with `other` (the whole's row indices of the part's rows of another kind) the
        values are indices into those rows (-1: none) and become whole row indices."""
        values = values if other is None else take(other, values, -1)
        if self.out is None:
            self.out = np.empty(self.n, values.dtype)
        self.out[rows] = values


def check_iou_threshold(iou_threshold: float) -> None:
    """Raise ValueError unless 0 < iou_threshold <= 1."""
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"the IoU threshold must be in (0, 1], not {iou_threshold}")


def ratio(num, den):
    """num / den as float64, elementwise (broadcast), and 0 where den <= 0.

    Examples
    --------
    >>> ratio([1, 1], [2, 0])
    array([0.5, 0. ])
    """
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)
