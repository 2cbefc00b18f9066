"""The COCO evaluation and the VOC matching of a detection report on a Dask cluster (docs/cluster.md): by
groups of consecutive labels, one task each on the workers; the driver joins the per-label summaries (COCO)
and the per-detection flags (VOC).

COCO evaluates each (image, label) on its own and accumulates each label on its own: the matching of a range
of labels, renumbered from 0 with the images and the input order kept, is that part of the whole matching,
and its accumulation those labels' entries (`evalsite.metrics.coco.coco_match`). The 12 numbers are means
over all labels' entries, taken on the driver from the joined entries in pycocotools' order
(`join_label_summaries`), so they are bit for bit those of one process. The driver keeps neither the pairs,
the match table nor the accumulation's working arrays: about 190 bytes per detection at their peak on one
process (0.75 GB at 50,000 COCO-like images), now a task's, for its group of about `TASK_ITEMS` items.

The VOC matching is per label too (`evalsite.metrics.matching.join_label_matchings`): the driver keeps which
detections and objects count and how (2 bytes per detection), not the matching's per-row indices and IoUs
(24 bytes per detection; the tasks at t* match their shards of images again, `evalsite.report.
threshold_shards`) nor its IoU pairs (24 bytes per pair, about 3 pairs per detection at COCO's density). So
are VOC AP and the operating point's sweep but for its grid (`evalsite.metrics.detection.label_group_metrics`),
which each group's task computes from its own matching (or, when the fixed-point bits of F1(t) are not known
before the matching, a second round of tasks from the joined flags): the driver merges the groups' F1 sums
at their distinct scores (`join_sweep_parts`, 16 bytes per distinct score of a group) instead of sorting and
sweeping every detection (about 90 bytes per detection at work: 0.36 GB at 50,000 COCO-like images).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from evalsite.core.cluster import Cluster, Pieces, each_task, row_pieces
from evalsite.core.detection_data import DetectionData
from evalsite.core.masks.maskset import MaskSet
from evalsite.core.on_disk import DiskArray, on_disk
from evalsite.metrics.arrays import counts_of, gathered, held_indices, index_dtype, label_rows
from evalsite.metrics.coco import CocoEvidence, coco_match, counted_rows, evidence_of
from evalsite.metrics.coco_accumulate import CocoMatches, join_image_ranges, join_label_summaries
from evalsite.metrics.detection import label_group_metrics
from evalsite.metrics.mask_matching import pairing
from evalsite.metrics.matching import Matching, join_group_flags, match_detections
from evalsite.metrics.operating_point import (
    MAX_CURVE_POINTS,
    ThresholdSweep,
    bits_before_matching,
    fixed_point_bits,
    join_sweep_parts,
    label_curve_points,
    labels_in_mean,
)
from evalsite.metrics.pairs import chunk_bounds
from evalsite.metrics.segm import coco_match_segm
from evalsite.report.image_windows import image_windows, window_row_blocks, window_rows
from evalsite.report.intervals import label_groups


def coco_on_cluster(cluster: Cluster, data: DetectionData) -> tuple[np.ndarray, np.ndarray, CocoEvidence]:
    """(stats (12,), per-label AP@[.50:.95] (K,), the `CocoEvidence` with its flags packed) of `data` (boxes,
    or masks when it has them), as `coco_evaluate` / `coco_evaluate_segm` give them, computed on the cluster's
    workers by label group (the largest first). A group's part is cut from `data` when it is sent, one at a
    time."""
    n_images, n_labels = len(data.images), len(data.labels)
    # each group's evidence kept on disk as its value comes in (the largest first), joined in label order below
    groups, values = _each_group(cluster, data, _coco_group,
                                 lambda spec: _group_part(data, spec, (n_images, n_labels)), windows=True,
                                 back_in_pieces=True)
    by_group, windows = {}, {}
    for (group, window), value in values:
        if window is None:
            by_group[group] = _kept_on_disk(value)
        else:  # (a window's matching, on disk: the group's is joined from them below, on a worker)
            windows.setdefault(group, []).append((window, tuple(on_disk(column) for column in value)))
    if windows:
        joined = sorted(windows, key=lambda group: -len(windows[group]))
        # (a few at a time: each is its group's matching, about 60 bytes per detection)
        for group, value in zip(joined, each_task(cluster, _coco_windows_group, joined,
                                                  lambda group: _windows_part(windows[group], (n_images, n_labels)),
                                                  back_in_pieces=True, ahead=MASK_TASKS_AHEAD)):
            by_group[group] = _kept_on_disk(value)
            del windows[group]
    parts = [by_group.pop(group) for group in groups]
    stats, per_label_ap, _ = join_label_summaries([summary for summary, *_ in parts])
    counted = counted_rows(data.gt_area, data.gt_crowd)
    # (the indices as the report holds them, `held_indices`: the tasks send them so; the detections' columns
    # kept on this machine's disk, read a part at a time by the intervals' label groups and report.json)
    evidence = CocoEvidence(dt_image=DiskArray.joined([part[1] for part in parts]),
                            dt_label=DiskArray.joined([part[2] for part in parts], [k0 for k0, _ in groups]),
                            tp=DiskArray.joined([part[3] for part in parts]),
                            ignored=DiskArray.joined([part[4] for part in parts]),
                            gt_image=on_disk(gathered(data.gt_image, counted, index_dtype(n_images))),
                            gt_label=on_disk(gathered(data.gt_label, counted, index_dtype(n_labels))))
    return stats, per_label_ap, evidence


def voc_on_cluster(cluster: Cluster, data: DetectionData, iou_threshold: float, max_points: int = MAX_CURVE_POINTS
                   ) -> tuple[Matching, np.ndarray, np.ndarray, ThresholdSweep]:
    """(matching, ap50, ap50_11pt, sweep) of `data` (boxes, or masks when it has them) as `evaluate_matching` gives
    them (the matching in `Matching.which_count`'s form and without its order, the sweep without its exact grid,
    `ThresholdSweep.without_grid`), computed on the cluster's workers by
    label group (the largest first), at the priority of work the driver waits for. A group's task matches its
    labels and, when the fixed-point bits of F1(t) are known before the matching (`bits_before_matching`: always
    below 1,024 labels), gives their AP and sweep part too (`label_group_metrics` of its own matching, which is
    its rows' part of the whole); otherwise a second round of tasks takes them from the joined matching
    (`voc_label_metrics_on_cluster`). The driver merges the parts."""
    n_labels = len(data.labels)

    def counted(start: int, stop: int) -> np.ndarray:  # (a block at a time: the flags are on this machine's disk)
        return ~np.asarray(data.gt_difficult[start:stop], bool) & ~np.asarray(data.gt_crowd[start:stop], bool)

    bits = bits_before_matching(counts_of(data.gt_label, minlength=n_labels, where=counted),
                                counts_of(data.dt_label, minlength=n_labels))
    points = label_curve_points(n_labels, max_points)

    def part(spec: tuple) -> tuple:  # (a window's task leaves its group's AP and sweep to a second round)
        return _voc_part(data, spec, iou_threshold, None if spec[1] else bits, points)

    groups, values = _each_group(cluster, data, _voc_group, part, windows=True, priority=0, back_in_pieces=True)
    metrics: dict[tuple[int, int], tuple | None] = {}
    windows: dict[tuple[int, int], list] = {}

    def matchings():  # each group's matching taken as its task's value is in, its flags kept on disk
        for (group, window), (matching, group_metrics) in values:
            if window is None:
                metrics[group] = _grid_on_disk(group_metrics)
                yield group, matching
                continue
            windows.setdefault(group, []).append((window, matching))
            if len(windows[group]) == window.of:  # (its windows' rows, in image order, are the group's in order)
                yield group, _joined_windows([m for _, m in sorted(windows.pop(group))])

    # (the flags on this machine's disk, 2 bytes per detection, placed at their rows a block of labels at a time)
    matching = join_group_flags(matchings(), groups, data.dt_label, data.gt_label, n_labels, iou_threshold)
    if bits is None or len(metrics) < len(groups):
        return (matching, *voc_label_metrics_on_cluster(cluster, data, matching, max_points))
    return (matching, *_joined_label_metrics([metrics[group] for group in groups], matching, data, max_points))


def _kept_on_disk(value: tuple) -> tuple:
    """A COCO group's value (`_summary_columns`) with its evidence columns on this machine's disk as it comes in
    (those under 16 MB come back into memory: `each_task`'s `back_in_pieces`)."""
    summary, *columns = value
    return (summary, *(on_disk(column) for column in columns))


def _grid_on_disk(group_metrics: tuple | None) -> tuple | None:
    """A group's `label_group_metrics` with its sweep part's grid (16 bytes per distinct score of the group:
    0.26 GB for all groups at 200,000 COCO-like images) kept on this machine's disk until the parts are merged
    (`join_sweep_parts` reads them a range of scores at a time)."""
    if group_metrics is None:
        return None
    ap, ap11, part = group_metrics
    return ap, ap11, replace(part, grid_score=on_disk(part.grid_score), grid_q=on_disk(part.grid_q))


def voc_label_metrics_on_cluster(cluster: Cluster, data: DetectionData, matching: Matching,
                                max_points: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray, ThresholdSweep]:
    """(ap50, ap50_11pt, sweep) of `data`'s `matching` as `evaluate_matching` gives them (the sweep without its
    exact grid), computed on the cluster's workers by label group (the largest first), at the priority of work
    the driver waits for; the driver merges the sweep's parts. A group's part is cut from `data` and `matching`
    when it is sent."""
    n_gt = matching.n_gt
    bits = fixed_point_bits(int(labels_in_mean(data.dt_label[~matching.ignored], n_gt).sum()))
    points = label_curve_points(len(n_gt), max_points)

    def part(group: tuple[int, int]) -> tuple:
        k0, k1 = group
        d = label_rows(data.dt_label, k0, k1)
        return (matching.tp[d], matching.ignored[d], data.dt_label[d] - k0, data.dt_score[d], n_gt[k0:k1], bits,
                points)

    _, values = _by_groups(cluster, data, _label_metrics_group, part, priority=0)
    return _joined_label_metrics(values, matching, data, max_points)


def _joined_label_metrics(values: list[tuple], matching: Matching, data: DetectionData,
                          max_points: int) -> tuple[np.ndarray, np.ndarray, ThresholdSweep]:
    """(ap50, ap50_11pt, sweep without its exact grid) from the label groups' `label_group_metrics`, in label
    order."""
    sweep = join_sweep_parts([value[2] for value in values], matching, data.dt_label, data.dt_score, max_points,
                             keep_grid=False)  # (a report reads the point and the curves, not the exact grid)
    return np.concatenate([value[0] for value in values]), np.concatenate([value[1] for value in values]), sweep


def _label_metrics_group(part: tuple, group: tuple[int, int], _) -> tuple:
    """A task of `voc_label_metrics_on_cluster`: one label group's `label_group_metrics`."""
    return label_group_metrics(*part)


def _by_groups(cluster: Cluster, data: DetectionData, work, make, **options) -> tuple[list, list]:
    """(the label groups, `work`'s value of each) in label order, the largest groups sent first; `make` of a
    group."""
    groups, values = _each_group(cluster, data, work, lambda spec: make(spec[0]), **options)
    by_group = {group: value for (group, _), value in values}
    return groups, [by_group[group] for group in groups]


MASK_TASKS_AHEAD = 2  # tasks sent per worker thread ahead of the value awaited, with masks (`each_task`'s `ahead`)


def _each_group(cluster: Cluster, data: DetectionData, work, make, windows: bool = False,
                **options) -> tuple[list, Iterator]:
    """(the label groups in label order, ((group, window), `work`'s value) of each spec as it comes in), the
    largest groups sent and taken first (`each_task`); `make` of a spec (group, window). A spec's window is
    None: its whole group; with `windows`, a segmentation's group whose masks outgrow a task is sent as
    windows of images instead (`image_windows`), and a few tasks at a time (MASK_TASKS_AHEAD)."""
    groups, sizes, _ = label_groups(data.dt_label, data.gt_label, len(data.labels))
    total = np.cumsum(np.r_[0, sizes])
    cut = image_windows(data, groups) if windows else {group: [None] for group in groups}
    specs = [(group, window) for group in sorted(groups, key=lambda group: -(total[group[1]] - total[group[0]]))
             for window in cut[group]]
    if windows and data.dt_masks is not None:
        options.setdefault("ahead", MASK_TASKS_AHEAD)
    return groups, zip(specs, each_task(cluster, work, specs, make, **options))


def _joined_windows(matchings: list[Matching]) -> Matching:
    """A label group's VOC matching (in `Matching.which_count`'s form) from its windows', in image order: their
    flags one after the other (the group's rows are its windows' rows in that order), its counted objects'
    too, `n_gt` summed (its flags kept on this machine's disk)."""
    return replace(matchings[0], tp=DiskArray.joined([m.tp for m in matchings]),
                   ignored=DiskArray.joined([m.ignored for m in matchings]),
                   gt_counted=np.concatenate([np.asarray(m.gt_counted) for m in matchings]),
                   n_gt=np.sum([m.n_gt for m in matchings], axis=0))


def _detection_pieces(data: DetectionData, spec: tuple, boxes: bool = True) -> Iterator[tuple]:
    """The columns of the detections of labels k0..k1-1 (image, label - k0, with `boxes` the box, score, and
    with masks their `_mask_columns`) of a spec ((k0, k1), its window or None), a block of rows at a time, the
    rows found as they are sent (`row_pieces`), for a group's part sent in `Pieces`; with masks, the blocks cut
    further to hold at most MASK_PIECE_COUNTS of the masks' counts (a block of 524,288 detections' masks takes
    hundreds of MB)."""
    (k0, k1), window = spec

    def cut(rows: np.ndarray) -> tuple:
        return (data.dt_image[rows], data.dt_label[rows] - k0, *((data.dt_box[rows],) if boxes else ()),
                data.dt_score[rows])

    blocks = window_row_blocks(data.dt_label, (k0, k1), window and window[:2])
    if data.dt_masks is None:
        return row_pieces(blocks, cut)
    return (
        (*cut(rows), *_mask_columns(data.dt_masks.piece(rows)))
        for block in row_pieces(blocks, lambda rows: rows) for rows in _by_counts(data.dt_masks, block))


MASK_PIECE_COUNTS = 1 << 22  # masks' counts in a piece of a label group's part (`_detection_pieces`): 16 MB


def _by_counts(masks: MaskSet, rows: np.ndarray, limit: int | None = None) -> Iterator[np.ndarray]:
    """`rows` cut into consecutive runs whose masks hold at most `limit` (MASK_PIECE_COUNTS) counts (a mask at
    least; one run of no rows when there are none: `chunk_bounds`)."""
    lengths = np.asarray(masks.ptr[rows + 1]) - np.asarray(masks.ptr[rows])
    return (rows[a:b] for a, b in chunk_bounds(lengths, limit or MASK_PIECE_COUNTS))


def _mask_columns(masks) -> tuple:
    """A piece of masks as columns that join by concatenation (`_joined_masks`): counts, each mask's length
    with its padding, its number of counts, height and width."""
    return masks.counts, np.diff(masks.ptr), masks.nc, masks.h, masks.w


def _joined_masks(columns: tuple, checked: bool) -> MaskSet:
    """The masks of the pieces' `_mask_columns` joined (on the worker)."""
    counts, lengths, nc, h, w = columns
    return MaskSet(counts, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), nc, h, w, checked=checked)


def _voc_part(data: DetectionData, spec: tuple, iou_threshold: float, *extra) -> Pieces:
    """((the arguments of `match_detections` for labels k0..k1-1, renumbered from 0, of a spec's rows: (k0, k1),
    its window or None), their masks (objects', detections') or None, *extra) as `Pieces`, the detections'
    columns a block at a time."""
    (k0, k1), window = spec
    g = window_rows(data.gt_label, (k0, k1), window and window[2:4])
    gt = (data.gt_image[g], data.gt_label[g] - k0, data.gt_box[g], data.gt_difficult[g], data.gt_crowd[g])
    # (the objects' masks whole, the detections' with their columns: `_detection_pieces`)
    masks = None if data.gt_masks is None else (data.gt_masks.piece(g), data.dt_masks._checked)
    return Pieces(_voc_built, (gt, (k1 - k0, iou_threshold), masks, extra), _detection_pieces(data, spec))


def _voc_built(fixed: tuple, dt: tuple) -> tuple:
    """`_voc_part` made whole (on the worker)."""
    gt, tail, masks, extra = fixed
    if masks is not None:
        masks, dt = (masks[0], _joined_masks(dt[4:], masks[1])), dt[:4]
    return ((*gt, *dt, *tail), masks, *extra)


def _voc_group(part: tuple, group: tuple[int, int], _) -> tuple[Matching, tuple | None]:
    """A task of `voc_on_cluster`: one label group's VOC matching (which rows count and how,
    `Matching.which_count`) and, with the fixed-point bits of F1(t) given, its `label_group_metrics`."""
    (gt_image, gt_label, gt_box, difficult, crowd, dt_image, dt_label, dt_box, dt_score, n_labels,
     threshold), masks, bits, points = part
    pair_iou_fn, dt_box, gt_box = pairing(dt_box, gt_box, crowd, masks)  # (as `evaluate_detection` takes them)
    matching = match_detections(gt_image, gt_label, gt_box, difficult, crowd, dt_image, dt_label, dt_box, dt_score,
                                iou_threshold=threshold, pair_iou_fn=pair_iou_fn, n_labels=n_labels)
    metrics = None if bits is None else label_group_metrics(matching.tp, matching.ignored, dt_label, dt_score,
                                                            matching.n_gt, bits, points)
    return matching.which_count(), metrics


def _group_part(data: DetectionData, spec: tuple, *extra) -> Pieces:
    """(whether masks are matched, the arguments of `coco_match` (or `coco_match_segm`) for labels k0..k1-1,
    renumbered from 0, of a spec's rows ((k0, k1), its window or None), *extra) as `Pieces`, the detections'
    columns a block at a time."""
    (k0, k1), window = spec
    g = window_rows(data.gt_label, (k0, k1), window and window[2:4])
    gt = (data.gt_image[g], data.gt_label[g] - k0)
    if data.gt_masks is not None:  # (no image sizes: `_by_part_images` takes them from the masks)
        fixed = (True, (*gt, data.gt_masks.piece(g), data.gt_area[g], data.gt_crowd[g]), data.dt_masks._checked,
                 (k1 - k0,), extra)
        return Pieces(_coco_built, fixed, _detection_pieces(data, spec, boxes=False))
    fixed = (False, (*gt, data.gt_box[g], data.gt_area[g], data.gt_crowd[g]), None, (k1 - k0,), extra)
    return Pieces(_coco_built, fixed, _detection_pieces(data, spec))


def _coco_built(fixed: tuple, dt: tuple) -> tuple:
    """`_group_part` made whole (on the worker)."""
    masks, gt, checked, tail, extra = fixed
    if masks:  # (image, label, masks, score)
        dt = (*dt[:2], _joined_masks(dt[3:], checked), dt[2])
    return (masks, (*gt, *dt, *tail), *extra)


def _coco_group(part: tuple[bool, tuple, tuple[int, int]], spec: tuple, _) -> tuple:
    """A task of `coco_on_cluster`: one label group's matching, its `_summary_columns`; of a window of its
    images, the matching's `_window_columns` instead."""
    masks, args, (n_images, n_labels) = part
    if not masks:
        return _summary_columns(*coco_match(*args), n_images, n_labels)
    args, images = _by_part_images(args)
    matches, evidence = coco_match_segm(*args, keep_rows=spec[1] is not None)
    if spec[1] is not None:
        return _window_columns(matches, args[8], images[args[5]], n_images)
    return _summary_columns(matches, replace(evidence, dt_image=images[evidence.dt_image]), n_images, n_labels)


def _by_part_images(args: tuple) -> tuple[tuple, np.ndarray]:
    """The arguments of `coco_match_segm` (but its image sizes) with the images renumbered 0..m-1 in order over
    those of the part's rows, and their sizes taken from their masks (decoded and checked against them on the
    way in, `evalsite.formats.mask_decoding`); and the images' numbers. A part carries no array over all the
    images (16 bytes an image: 160 MB at 10 M images, for each group and each window of one); the order of
    the images, hence every tie, is kept."""
    gt_image, gt_label, gt_masks, gt_area, gt_crowd, dt_image, dt_label, dt_masks, dt_score, n_labels = args
    images, at = np.unique(np.concatenate([gt_image, dt_image]).astype(np.int64), return_inverse=True)
    at = at.reshape(-1)
    sizes = np.zeros((len(images), 2), np.int64)
    for masks, rows in ((gt_masks, at[:len(gt_image)]), (dt_masks, at[len(gt_image):])):
        sizes[rows, 0], sizes[rows, 1] = masks.h, masks.w
    return (at[:len(gt_image)], gt_label, gt_masks, gt_area, gt_crowd, at[len(gt_image):], dt_label, dt_masks,
            dt_score, n_labels, sizes), images


def _summary_columns(matches: CocoMatches, evidence: CocoEvidence, n_images: int, n_labels: int) -> tuple:
    """A label group's `label_summary` and the detections' columns of its evidence (labels from 0), the flags
    packed (`CocoEvidence.packed`), the indices as the report holds them (`held_indices`, of the whole's
    numbers of images and labels)."""
    evidence = evidence.packed()
    return (matches.label_summary(), held_indices(evidence.dt_image, n_images),
            held_indices(evidence.dt_label, n_labels), evidence.tp, evidence.ignored)


def _window_columns(matches: CocoMatches, dt_score: np.ndarray, dt_image: np.ndarray, n_images: int) -> tuple:
    """A window's COCO matching (with its rows kept) as columns that join by concatenation (`_windows_part`):
    its ranked detections' label, rank, score, image, areas out of range (n, A); its columns' positions,
    codes (C, A, T); its positives (1, A, K)."""
    return (matches.label.astype(np.int32), matches.rank.astype(np.int8), dt_score[matches.det],
            held_indices(dt_image[matches.det], n_images), matches.dt_out.T, matches.column_position,
            matches.code.transpose(2, 0, 1), matches.n_positive[None])


def _windows_part(windows: list[tuple], sizes: tuple[int, int]) -> Pieces:
    """A label group's windows' `_window_columns` (on this machine's disk) as `Pieces`, one window a piece, in
    image order, its columns' positions counted from the group's first detection."""
    def pieces() -> Iterator[tuple]:
        start = 0
        for _, columns in sorted(windows, key=lambda item: item[0]):
            label, rank, score, image, out, position, code, positives = (np.asarray(c) for c in columns)
            yield label, rank, score, image, out, position + start, code, positives
            start += len(label)

    return Pieces(_windows_built, sizes, pieces())


def _windows_built(sizes: tuple[int, int], columns: tuple) -> tuple:
    """`_windows_part` made whole (on the worker): the group's matching, as one matching of all its images
    gives it (`join_image_ranges`), and its detections' images in its order."""
    label, rank, score, image, out, position, code, positives = columns
    matches = CocoMatches(label=label.astype(np.int64), rank=rank.astype(np.int64), column_position=position,
                          code=code.transpose(1, 2, 0), dt_out=out.T, n_positive=positives.sum(axis=0))
    joined, order = join_image_ranges(matches, score)
    return joined, image[order], sizes


def _coco_windows_group(part: tuple, group: tuple[int, int], _) -> tuple:
    """A task of `coco_on_cluster`: a label group's matching joined from its windows' (`_windows_built`), its
    `_summary_columns`."""
    matches, image, (n_images, n_labels) = part
    empty = np.zeros(0, np.int64)
    return _summary_columns(matches, evidence_of(matches, image, empty, empty), n_images, n_labels)
