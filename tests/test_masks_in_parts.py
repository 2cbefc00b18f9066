"""Masks kept on disk a part at a time (with a cluster: evalsite.core.values_on_disk, docs/cluster.md "Memory"):
`decode_masks` of values kept on disk gives the masks, areas, boxes, notices and errors of `decode_masks` of
the list, whatever the parts; `MaskSet.take` of a set on disk gives the set `take` gives in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evalsite.core.errors import InputError
from evalsite.core.masks import maskset
from evalsite.core.masks.maskset import MaskSet
from evalsite.core.on_disk import DiskArray, on_disk
from evalsite.core.values_on_disk import ValuesOnDisk, ValuesOnDiskWriter
from evalsite.formats import mask_decoding

NAMES = ["a.jpg", "b.jpg", "c.jpg"]
WIDTHS, HEIGHTS = np.array([64, 80, 50]), np.array([48, 40, 70])


def _values(n: int = 97) -> tuple[list, np.ndarray]:
    """Polygons, uncompressed and compressed RLE, and an empty polygon, on three images."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 3, n)
    values: list = []
    for k in range(n):
        h, w = int(HEIGHTS[image[k]]), int(WIDTHS[image[k]])
        if k % 7 == 3:
            values.append({"size": [h, w], "counts": [5, 10, h * w - 15]})
        elif k % 11 == 5:
            values.append({"size": [h, w], "counts": "52203"})  # (pycocotools' string of [5, 10, ...]: below)
        else:
            x, y = (float(v) for v in rng.random(2) * 30)
            values.append([[x, y, x + 9.5, y, x + 9.5, y + 12.25, x, y + 3]])
    strings = MaskSet.from_counts([[5, 10, int(HEIGHTS[i] * WIDTHS[i]) - 15] for i in range(3)], HEIGHTS,
                                  WIDTHS).strings()
    for k in range(n):
        if isinstance(values[k], dict) and isinstance(values[k]["counts"], str):
            values[k]["counts"] = strings[image[k]]
    values[10] = [[10.1, 10.1, 10.2, 10.1, 10.2, 10.2]]  # empty: named in the notice
    values[60] = [[20.1, 20.1, 20.2, 20.1, 20.2, 20.2]]
    return values, image


def _decoded(values, image, boxes: bool = True):
    locate = lambda i: ("gt.json", f"annotation {i}")  # noqa: E731
    try:
        masks, area, notices = mask_decoding.decode_masks(values, image, WIDTHS, HEIGHTS, NAMES, locate,
                                                          Path("gt.json"), "ground-truth", boxes=boxes)
    except InputError as exc:
        return "error: " + exc.one_line()
    columns = [masks.counts, masks.ptr, masks.nc, masks.h, masks.w, area, masks.areas()]
    if boxes:
        columns.append(masks.bboxes())
    return [np.asarray(c).tolist() for c in columns] + [np.asarray(masks.counts).dtype.name,
                                                         [str(x) for x in notices]]


@pytest.mark.parametrize("part_rows", [1, 7, 50, 1000])
def test_masks_decoded_a_part_at_a_time_are_those_of_the_list(part_rows: int) -> None:
    values, image = _values()
    whole = _decoded(values, image)
    assert not isinstance(whole, str) and "2 ground-truth mask(s) without a pixel" in whole[-1][0]
    kept = ValuesOnDisk.of(values, part_rows).kept_on_disk()
    assert _decoded(kept, image) == whole
    assert _decoded(kept, on_disk(image)) == whole  # (the rows' images on disk too, as a cluster's driver has them)
    assert _decoded(kept, image, boxes=False) == _decoded(values, image, boxes=False)
    masks, area, _ = mask_decoding.decode_masks(kept, image, WIDTHS, HEIGHTS, NAMES, lambda i: ("f", None),
                                                Path("f"), "predicted")
    assert all(isinstance(c, DiskArray) for c in (masks.counts, masks.ptr, masks.nc, masks.h, masks.w, area))


def _bad(values: list, image: np.ndarray, k: int, value) -> list:
    values = list(values)
    values[k] = value
    return values


@pytest.mark.parametrize("part_rows", [1, 10, 1000])
def test_a_bad_mask_in_a_part_is_the_error_of_the_list(part_rows: int) -> None:
    values, image = _values()
    h, w = int(HEIGHTS[image[80]]), int(WIDTHS[image[80]])
    cases = [
        _bad(values, image, 5, [[1, 2, "x", 4, 5, 6]]),
        _bad(values, image, 80, {"size": [h, w], "counts": [5, 10, h * w]}),  # (counts not summing to h*w)
        _bad(values, image, 80, {"size": [h + 1, w], "counts": [h * w]}),
        _bad(values, image, 40, {"size": [h, w], "counts": "5~"}),
        _bad(values, image, 30, [[500.0, 500.0, 510.0, 500.0, 510.0, 501.0]]),  # wholly outside its image
        _bad(values, image, 95, 7),
    ]
    # a bad polygon early and a bad structure late: the list's checks find the structure first
    cases.append(_bad(_bad(values, image, 2, [[1.0, 2.0, 3.0]]), image, 90, {"size": [h, w]}))
    cases.append(_bad(_bad(values, image, 2, [[500.0, 500.0, 510.0, 500.0, 510.0, 501.0]]), image, 90,
                      [[1.0, 2.0, 3.0, 4.0]]))
    for bad in cases:
        whole = _decoded(bad, image)
        assert isinstance(whole, str) and whole.startswith("error: gt.json, annotation"), whole
        assert _decoded(ValuesOnDisk.of(bad, part_rows).kept_on_disk(), image) == whole
    unsized = WIDTHS.copy()
    unsized[1] = 0
    locate = lambda i: ("gt.json", f"annotation {i}")  # noqa: E731
    errors = []
    for given in (values, ValuesOnDisk.of(values, part_rows)):
        with pytest.raises(InputError) as exc:
            mask_decoding.decode_masks(given, image, unsized, HEIGHTS, NAMES, locate, Path("gt.json"), "gt")
        errors.append(exc.value.one_line())
    assert errors[0] == errors[1] and "'b.jpg' has no width/height" in errors[0]


def test_values_written_in_any_order_are_read_in_part_order() -> None:
    writer = ValuesOnDiskWriter()
    parts = [[[1.5, 2]], [], [{"counts": "ab"}, None], [[3]]]
    for k in (2, 0, 3, 1):  # (part 2 pickled already, by a worker, in parts of one value)
        writer.add(k, ValuesOnDisk.of(parts[k], 1) if k == 2 else parts[k])
    assert writer.added == 4
    kept = writer.finish(4)
    assert isinstance(kept.data, DiskArray) and kept.starts().tolist() == [0, 1, 1, 2, 3, 4]
    assert list(kept) == [v for p in parts for v in p] and kept[1] == {"counts": "ab"} and kept[2] is None
    assert kept.part(1) == [] and kept.part(3) == [None]
    with pytest.raises(RuntimeError):
        ValuesOnDiskWriter().finish(1)


def test_taking_masks_kept_on_disk_is_taking_them_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maskset, "_TAKE_MASKS", 5)
    values, image = _values()
    masks, _, _ = mask_decoding.decode_masks(values, image, WIDTHS, HEIGHTS, NAMES, lambda i: ("f", None),
                                             Path("f"), "gt", boxes=True)
    kept, _, _ = mask_decoding.decode_masks(ValuesOnDisk.of(values, 13), image, WIDTHS, HEIGHTS, NAMES,
                                            lambda i: ("f", None), Path("f"), "gt", boxes=True)
    rng = np.random.default_rng(4)
    for index in (rng.permutation(len(values)), np.sort(rng.choice(len(values), 40, replace=False)),
                  rng.random(len(values)) < 0.5, np.array([3, 3, 90, 0]), np.zeros(0, np.int64)):
        want, got = masks.take(index), kept.take(index)
        assert isinstance(got.counts, DiskArray) or len(got.counts) == 0
        for name in ("counts", "ptr", "nc", "h", "w", "_areas", "_bboxes"):
            assert np.asarray(getattr(got, name)).tolist() == np.asarray(getattr(want, name)).tolist(), name
        assert np.asarray(got.counts).dtype == want.counts.dtype


def test_a_groups_masks_are_cut_by_their_counts_and_joined_whole() -> None:
    """A label group's detections' masks go to a worker in pieces of at most MASK_PIECE_COUNTS counts (or one
    mask), taken from the set on disk into memory; the worker's join of the pieces is the set of those rows."""
    from evalsite.report import matching_groups

    values, image = _values()
    kept, _, _ = mask_decoding.decode_masks(ValuesOnDisk.of(values, 13), image, WIDTHS, HEIGHTS, NAMES,
                                            lambda i: ("f", None), Path("f"), "gt")
    rows = np.flatnonzero(np.arange(len(values)) % 3 != 1)
    want = kept.piece(rows)
    assert not isinstance(want.counts, DiskArray) and want._areas is None
    for limit in (1, 40, 300, 10 ** 9):
        pieces = list(matching_groups._by_counts(kept, rows, limit))
        assert np.concatenate(pieces).tolist() == rows.tolist()
        lengths = [int(np.diff(kept.piece(p).ptr).sum()) for p in pieces]
        assert all(n <= limit or len(p) == 1 for n, p in zip(lengths, pieces)) and (limit > 300 or len(pieces) > 1)
        columns = [matching_groups._mask_columns(kept.piece(p)) for p in pieces]
        joined = matching_groups._joined_masks(tuple(np.concatenate(c) for c in zip(*columns)), True)
        for name in ("counts", "ptr", "nc", "h", "w"):
            assert getattr(joined, name).tolist() == getattr(want, name).tolist(), name
        assert joined.areas().tolist() == kept.areas()[rows].tolist()
    assert [p.tolist() for p in matching_groups._by_counts(kept, rows[:0], 40)] == [[]]



def test_a_groups_windows_of_images_hold_at_most_the_limit_and_cover_its_rows() -> None:
    # `image_windows`: the windows of a label group are runs of consecutive images whose masks, objects' and
    # detections', hold at most the limit (an image at least), their rows those of their images; a group that
    # fits, rows out of image order, or no masks: the group whole ([None]).
    from types import SimpleNamespace

    from evalsite.report.image_windows import Window, image_windows, window_rows

    dt_image, dt_label = np.array([0, 0, 1, 2, 2, 2, 4, 5]), np.array([0, 1, 0, 0, 0, 1, 0, 0])
    gt_image, gt_label = np.array([0, 2, 3, 5]), np.array([0, 0, 0, 1])
    dt_counts, gt_counts = [4, 50, 6, 2, 2, 50, 10, 4], [2, 4, 8, 50]  # (even: no padding)

    def masks(lengths: list[int]) -> MaskSet:  # masks of 1 x n pixels in runs of one
        return MaskSet.from_counts([np.ones(n, np.int64) for n in lengths], 1, lengths)

    data = SimpleNamespace(images=[f"{i}.jpg" for i in range(6)], dt_image=on_disk(dt_image), gt_image=gt_image,
                           dt_label=dt_label, gt_label=gt_label, dt_masks=masks(dt_counts), gt_masks=masks(gt_counts))
    # label 0's counts by image: 6, 6, 8, 8, 10, 4; label 1's: 50, 0, 50, 0, 0, 50
    windows = image_windows(data, [(0, 1), (1, 2)], limit=14)
    assert windows[(0, 1)] == [Window(0, 3, 0, 1, 4), Window(3, 6, 1, 2, 4), Window(6, 6, 2, 3, 4),
                               Window(6, 8, 3, 4, 4)]
    assert windows[(1, 2)] == [Window(0, 2, 0, 1, 5), Window(2, 3, 1, 1, 5), Window(3, 6, 1, 2, 5),
                               Window(6, 7, 2, 3, 5), Window(7, 8, 3, 4, 5)]
    for group, cut in windows.items():
        rows = [window_rows(dt_label, group, window[:2]) for window in cut]
        assert np.concatenate(rows).tolist() == np.flatnonzero(dt_label == group[0]).tolist()
        objects = [window_rows(gt_label, group, window[2:4]) for window in cut]
        assert np.concatenate(objects).tolist() == np.flatnonzero(gt_label == group[0]).tolist()
        for found, held in zip(rows, objects):
            images = set(dt_image[found]) | set(gt_image[held])
            assert sum(dt_counts[r] for r in found) + sum(gt_counts[g] for g in held) <= 14 or len(images) == 1
    assert image_windows(data, [(0, 1)], limit=42) == {(0, 1): [None]}  # (42 counts: all of label 0's)
    for other in ({"dt_image": dt_image[::-1].copy()}, {"dt_masks": None}):
        assert image_windows(SimpleNamespace(**{**vars(data), **other}), [(0, 1)], limit=14) == {(0, 1): [None]}
