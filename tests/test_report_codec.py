"""The report model's pieces: the report.json codec (evalsite.report.codec, through evalsite.report.load),
the StrEnums of the fixed value sets (evalsite.core.enums) and the registries of task kinds
(evalsite.report.kinds, evalsite.render.kinds). The CLI's messages for bad report files are in
tests/test_gate.py; these pin the walker's rules one by one."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
from pathlib import Path

import orjson
import pytest

from evalsite.commands.evaluate import evaluate
from evalsite.core.enums import (
    FALSE_POSITIVE_TYPES,
    MISSED_TYPES,
    BoxKind,
    ErrorKind,
    ErrorType,
    ImageStatus,
    Rating,
    SuspectReason,
    TaskType,
    Verdict,
)
from evalsite.core.errors import InputError
from evalsite.manifest import load_manifest
from evalsite.report.classification_model import ClassificationReport
from evalsite.report.codec import Invalid, decode
from evalsite.report.derived import ClassificationTables, DetectionTables, derived_tables
from evalsite.report.detection_model import BoxMistake, BoxMistakes, DetectionReport, DetImage, ImageRows
from evalsite.report.kinds import KINDS, task_kind
from evalsite.report.load import load_report, read_report
from evalsite.report.model import Report, json_pieces, to_json, to_json_bytes, write_json

from conftest import write_detection_task, write_segmentation_task, write_task


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict[str, dict]:
    """report.json of a classification (two images missing), a detection and a segmentation, parsed."""
    root = tmp_path_factory.mktemp("codec")
    manifests = {"cls": write_task(root / "cls", ["cat", "dog", "bird"], missing=2),
                 "det": write_detection_task(root / "det"), "seg": write_segmentation_task(root / "seg")}
    return {key: orjson.loads(to_json(evaluate(load_manifest(m)))) for key, m in manifests.items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Report]:
    """Reports just built (their evidence columns numpy arrays): a classification, a detection (also with an
    empty prediction file) and a segmentation."""
    root = tmp_path_factory.mktemp("built")
    manifests = {"cls": write_task(root / "cls", ["cat", "dog", "bird"], missing=2),
                 "det": write_detection_task(root / "det"), "seg": write_segmentation_task(root / "seg"),
                 "empty": write_detection_task(root / "empty")}
    (root / "empty" / "pred.json").write_text("[]", encoding="utf-8")
    return {key: evaluate(load_manifest(m)) for key, m in manifests.items()}


@pytest.mark.parametrize("key", ["cls", "det", "seg", "empty"])
def test_report_json_streamed_in_pieces_is_the_same_bytes(built, key: str, tmp_path: Path) -> None:
    """json_pieces/write_json (report.json never whole in memory) give orjson's bytes of the whole report, for
    any size of the pieces: lists cut at every length, and shorter than one piece."""
    report = built[key]
    whole = to_json_bytes(report)
    assert whole == orjson.dumps(orjson.loads(whole), option=orjson.OPT_APPEND_NEWLINE)  # plain JSON
    for chunk in (1, 2, 3, 7, 10_000):
        pieces = list(json_pieces(report, chunk))
        assert b"".join(pieces) == whole, chunk
        if chunk == 1:  # no piece holds more than one item of a list (the errors, the images...)
            assert len(pieces) > len(report.images) + len(report.errors)
    write_json(report, tmp_path / "sub" / "report.json")
    assert (tmp_path / "sub" / "report.json").read_bytes() == whole
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["report.json"]  # no temporary file left


def _reads_as_the_list(report: DetectionReport, name: str, columns: type, item: type) -> list:
    """`report.<name>`, held as `columns`, reads as the list of `item` that the report read back holds: items
    (from any start), slices, equality both ways, report.json; that list."""
    rows = getattr(report, name)
    assert isinstance(rows, columns) and len(rows) >= 2
    back = getattr(read_report(orjson.loads(to_json_bytes(report)), None), name)
    listed = list(rows)
    assert all(type(i) is item for i in listed) and listed == back
    assert rows == back and back == rows and rows != listed[:-1]
    assert rows[-1] == listed[-1] and rows[::2] == listed[::2] and rows[5:2] == []
    assert all(rows[k:] == listed[k:] and rows[k] == listed[k] for k in range(len(listed)))
    with pytest.raises(IndexError):
        rows[len(rows)]
    assert to_json_bytes(dataclasses.replace(report, **{name: listed})) == to_json_bytes(report)
    return listed


@pytest.mark.parametrize("key", ["det", "seg", "empty"])
def test_errors_just_built_are_columns_that_read_as_the_list(built, key: str) -> None:
    """A detection report just built holds its errors as columns (BoxMistakes: about 170 bytes an error, not a
    Python object's 740), whose items, slices and report.json are those of the list a report read back holds."""
    report = built[key]
    listed = _reads_as_the_list(report, "errors", BoxMistakes, BoxMistake)
    assert [e.id for e in listed] == list(range(1, len(listed) + 1))
    if key == "seg":
        assert all(e.mask is not None for e in listed) and any(e.related_mask is not None for e in listed)
        assert all(e.box_iou is not None for e in listed if e.iou is not None)
    if key == "empty":
        assert all(e.kind is ErrorKind.MISSED and e.score is None and e.related_box is None for e in listed)


def problem(data: dict) -> str:
    with pytest.raises(InputError) as caught:
        read_report(data, Path("r.json"))
    return str(caught.value)


def edited(data: dict, change) -> dict:
    data = copy.deepcopy(data)
    change(data)
    return data


# --- reading back ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, cls", [("cls", ClassificationReport), ("det", DetectionReport),
                                      ("seg", DetectionReport)])
def test_reads_back_into_the_class_of_its_type_and_writes_the_same_json(parsed, key: str, cls: type) -> None:
    report = read_report(parsed[key], None)
    assert type(report) is cls and isinstance(report, Report)
    assert to_json(report) == orjson.dumps(parsed[key], option=orjson.OPT_APPEND_NEWLINE).decode()


def test_the_values_of_fixed_sets_are_read_as_members(parsed) -> None:
    cls = read_report(parsed["cls"], None)
    assert cls.task.type is TaskType.CLASSIFICATION and type(cls.findings.rating) is Rating
    assert {r.status for r in cls.images} == {ImageStatus.OK, ImageStatus.MISSING}
    assert all(type(r.status) is ImageStatus for r in cls.images)
    seg = read_report(parsed["seg"], None)
    assert seg.task.type is TaskType.SEGMENTATION and seg.task.type.is_detection
    assert all(type(e.kind) is ErrorKind and type(e.type) is ErrorType for e in seg.errors)
    assert all(type(k) is BoxKind for r in seg.images if r.boxes for k in r.boxes.kinds)


def test_a_report_just_built_holds_members_too(tmp_path: Path) -> None:
    report = evaluate(load_manifest(write_detection_task(tmp_path)), intervals=False)
    assert report.task.type is TaskType.DETECTION and type(report.task.label_source) is not str
    assert all(type(e.kind) is ErrorKind and type(e.type) is ErrorType for e in report.errors)
    assert all(type(r.status) is ImageStatus for r in report.images)


def test_load_report_gives_the_class_of_the_type(tmp_path: Path, parsed) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(parsed["cls"]), encoding="utf-8")
    report, folder = load_report(tmp_path)
    assert type(report) is ClassificationReport and folder == tmp_path


# --- the walker's rules and messages -------------------------------------------------------------------------

@pytest.mark.parametrize("key, change, expected", [
    ("cls", lambda d: d["task"].pop("name"), "key task.name: missing"),
    ("cls", lambda d: d["task"]["inputs"][1].update(sha256=5),
     "key task.inputs[1].sha256: expected a string, found a number"),
    ("cls", lambda d: d["dataset"].update(small_set="no"), "key dataset.small_set: expected a boolean, found a string"),
    ("cls", lambda d: d["dataset"].update(images=True), "key dataset.images: expected a number, found a boolean"),
    ("cls", lambda d: d["dataset"]["labels"].__setitem__(1, 3),
     "key dataset.labels[1]: expected a string, found a number"),
    ("cls", lambda d: d.update(confusion=[]), "key confusion: expected an object, found a list"),
    ("cls", lambda d: d["confusion"]["cells"][0].__setitem__(0, "x"), "key confusion.cells[0][0]: expected a number"),
    ("cls", lambda d: d["confusion"]["cells"][0].__setitem__(1, 10 ** 6),
     "key confusion.cells[0]: expected [row, column, count] with 0 <= row"),
    ("cls", lambda d: d["confusion"]["row_totals"].pop(), "key confusion.row_totals: expected"),
    ("cls", lambda d: d["intervals"]["metrics"].update(f1=[0, "x"]), "key intervals.metrics.f1[1]: expected a number"),
    ("cls", lambda d: d["images"][2].update(status="lost"),
     "key images[2].status: unknown value 'lost' (expected one of: ok, missing, unreadable)"),
    ("cls", lambda d: d["images"][2].update(status=1), "key images[2].status: expected a string, found a number"),
    ("cls", lambda d: d["findings"].update(rating="great"), "key findings.rating: unknown value 'great'"),
    ("cls", lambda d: d.update(metadata={"a.png": {"camera": 1}}), "key metadata.a.png.camera: expected a string"),
    ("cls", lambda d: d.update(notices=[{"file": "x"}]), "key notices[0].code: missing"),
    ("det", lambda d: d["metrics"].update(f1=[0.5]), "key metrics.f1: expected a number, found a list"),
    ("det", lambda d: d["metrics"]["coco"].update(AP="1"), "key metrics.coco.AP: expected a number, found a string"),
    ("det", lambda d: d["errors"][0].update(kind="wrong"), "key errors[0].kind: unknown value 'wrong'"),
    ("det", lambda d: d["evidence"].update(dt_score=None), "key evidence.dt_score: expected a list, found null"),
    ("seg", lambda d: d["images"][0]["boxes"]["kinds"].__setitem__(1, "fine"),
     "key images[0].boxes.kinds[1]: unknown value 'fine' (expected one of: correct, false_positive, ground_truth, "
     "missed)"),
    ("seg", lambda d: d["images"][0]["boxes"]["kinds"].__setitem__(0, None), None),  # a string may be null
    ("cls", lambda d: d["images"][0].update(confidence=None, problem=None), None),
    ("cls", lambda d: d.update(unknown_key=[1, 2]), None),  # keys the model does not know are ignored
    ("cls", lambda d: d.pop("intervals"), None),  # an optional field may be left out
])
def test_walker_names_the_key_and_the_problem(parsed, key: str, change, expected: str | None) -> None:
    data = edited(parsed[key], change)
    if expected is None:
        read_report(data, None)
    else:
        assert problem(data).startswith(f"r.json, {expected}")


def test_checks_before_the_walk_keep_their_messages(parsed) -> None:
    assert problem([]) == "r.json: not an evalsite report: expected a JSON object, found a list"
    assert problem(edited(parsed["cls"], lambda d: d.pop("task"))) == "r.json, key task: missing"
    assert problem(edited(parsed["cls"], lambda d: d["task"].update(type=["x"]))) == \
        "r.json, key task.type: unknown task type ['x'] (classification, detection or segmentation)"
    # the task type is checked before the rest of the task
    assert "key task.type" in problem(edited(parsed["cls"], lambda d: d["task"].update(type="x", name=1)))


def test_decode_of_plain_types() -> None:
    assert decode(list[float], [1, 2.5, None]) == [1, 2.5, None]
    assert decode(dict[str, int | None], {"a": 1, "b": None}) == {"a": 1, "b": None}
    assert decode(list[ErrorKind], ["missed"]) == [ErrorKind.MISSED]
    with pytest.raises(Invalid) as caught:
        decode(dict[str, list[int]], {"a": [1], "b": [2, False]})
    assert (caught.value.key, caught.value.problem) == ("b[1]", "expected a number, found a boolean")


# --- the enums and the registries ----------------------------------------------------------------------------

def test_members_serialise_as_their_strings() -> None:
    value = {"type": TaskType.SEGMENTATION, "kinds": [BoxKind.MISSED], "verdict": Verdict.WITHIN_NOISE}
    expected = '{"type":"segmentation","kinds":["missed"],"verdict":"within_noise"}'
    assert orjson.dumps(value).decode() == expected == json.dumps(value, separators=(",", ":"))
    assert f"{TaskType.DETECTION}" == str(TaskType.DETECTION) == "detection" == TaskType.DETECTION
    assert [t.is_detection for t in TaskType] == [False, True, True]


def test_enums_hold_the_values_the_metrics_write() -> None:
    from evalsite.metrics.bootstrap import paired_difference
    from evalsite.metrics.error_types import FN_TYPES, FP_TYPES
    from evalsite.metrics.label_errors import REASONS

    assert FALSE_POSITIVE_TYPES == FP_TYPES and MISSED_TYPES == FN_TYPES
    assert set(ErrorType) == set(FP_TYPES) | set(FN_TYPES)
    assert tuple(SuspectReason) == REASONS
    assert Verdict(paired_difference(0.5, 0.5, *([[0.5, 0.5]] * 2)).verdict)


def test_every_task_type_has_a_kind_and_pages() -> None:
    from evalsite.render.kinds import PAGES

    assert set(KINDS) == set(PAGES) == set(TaskType)
    assert task_kind("detection") is KINDS[TaskType.DETECTION] and task_kind("segmentation").report is DetectionReport
    assert task_kind(TaskType.CLASSIFICATION).headline == "accuracy"
    with pytest.raises(KeyError):
        task_kind("ranking")
    for kind in KINDS.values():  # the builders and table makers, imported when used, exist
        for name in (kind.builder, kind.tables):
            module, function = name.split(":")
            assert callable(getattr(importlib.import_module(module), function)), name


def test_derived_tables_follow_the_kind(parsed) -> None:
    cls = read_report(parsed["cls"], None)
    tables = derived_tables(cls)
    assert isinstance(tables, ClassificationTables)
    assert [e.suspicion for e in tables.suspects] == sorted((e.suspicion for e in tables.suspects), reverse=True)
    det = derived_tables(read_report(parsed["det"], None))
    assert isinstance(det, DetectionTables) and det.thresholds is not None
    assert det.thresholds["names"] == ["cat", "dog"]



def test_coco_evidence_flags_pack_into_bit_t_and_back() -> None:
    """report.json's evidence.coco packs the ten IoU thresholds' flags of a detection into one integer, bit t
    for threshold t (docs/report-json.md); read back, the same flags."""
    import numpy as np

    from evalsite.metrics.coco import CocoEvidence
    from evalsite.report.detection import coco_evidence_from_report, coco_evidence_to_report

    rng = np.random.default_rng(7)
    n = 300
    tp = rng.random((10, n)) < 0.5
    tp[:, 0], tp[:, 1] = True, False  # 1023 and 0
    ignored = ~tp & (rng.random((10, n)) < 0.3)
    e = CocoEvidence(dt_image=rng.integers(0, 9, n), dt_label=rng.integers(0, 3, n), tp=tp, ignored=ignored,
                     gt_image=np.arange(4), gt_label=np.zeros(4, dtype=np.int64))
    packed = coco_evidence_to_report(e)
    assert packed.tp[:2] == [1023, 0]
    assert packed.tp == [sum(int(tp[t, j]) << t for t in range(10)) for j in range(n)]
    assert packed.ignored == [sum(int(ignored[t, j]) << t for t in range(10)) for j in range(n)]
    back = coco_evidence_from_report(packed)
    assert np.array_equal(back.tp, tp) and np.array_equal(back.ignored, ignored)
    assert back.dt_image.tolist() == e.dt_image.tolist() and back.gt_image.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("key", ["det", "seg"])
def test_evidence_just_built_holds_its_indices_in_four_bytes(built, key: str) -> None:
    """The evidence of a report just built holds its image and label indices as int32 (two per detection, for
    VOC and COCO each: 16 bytes a detection less than int64), and report.json is the same as with int64."""
    import numpy as np

    report = built[key]
    names = ("dt_image", "dt_label", "gt_image", "gt_label")
    for columns in (report.evidence, report.evidence.coco):
        assert all(getattr(columns, name).dtype == np.int32 for name in names)
    wide = dataclasses.replace(report, evidence=dataclasses.replace(
        report.evidence, **{name: getattr(report.evidence, name).astype(np.int64) for name in names},
        coco=dataclasses.replace(report.evidence.coco, **{name: getattr(report.evidence.coco, name).astype(np.int64)
                                                          for name in names})))
    assert wide.evidence.dt_image.dtype == np.int64 and to_json_bytes(wide) == to_json_bytes(report)
    # The intervals read them as they are (not copied to int64): the same values as from int64 columns
    from evalsite.report.intervals import detection_intervals, report_weights

    n_images, n_labels, t = report.dataset.images, len(report.dataset.labels), report.metrics["threshold"]
    weights = report_weights(n_images)
    columns = [getattr(report.evidence, f.name) for f in dataclasses.fields(report.evidence) if f.name != "coco"]
    narrow = detection_intervals(*columns, n_images, n_labels, t, weights, threads=1)
    wide_columns = [c.astype(np.int64) if c.dtype == np.int32 else c for c in columns]
    assert narrow == detection_intervals(*wide_columns, n_images, n_labels, t, weights, threads=1)
    assert narrow[0].metrics["mAP50"] is not None


@pytest.mark.parametrize("key", ["det", "seg", "empty"])
def test_images_just_built_are_columns_that_read_as_the_list(built, key: str) -> None:
    """A detection report just built holds its images as columns (ImageRows: about 50 bytes an image and 50 a
    drawn box, not 1.3 KB of objects), whose items, slices and report.json are those of the list a report read
    back holds; each image's boxes agree with its counts and with the errors (made apart, `_errors`)."""
    report = built[key]
    listed = _reads_as_the_list(report, "images", ImageRows, DetImage)
    assert len({i.image for i in listed}) == len(listed) == report.dataset.images  # (each image once)
    drawn = [i for i in listed if i.boxes is not None]
    assert drawn or key == "empty"
    for image in listed:
        kinds = [] if image.boxes is None else image.boxes.kinds
        assert kinds.count(BoxKind.FALSE_POSITIVE) == image.false_positives
        assert kinds.count(BoxKind.MISSED) == image.missed
        assert kinds.count(BoxKind.CORRECT) + image.false_positives == image.predictions
        assert kinds.count(BoxKind.GROUND_TRUTH) + image.missed == image.objects
        mine = [e for e in report.errors if e.image == image.image]
        assert sum(e.kind is ErrorKind.FALSE_POSITIVE for e in mine) == image.false_positives
        assert sum(e.kind is ErrorKind.MISSED for e in mine) == image.missed
        if image.boxes is not None:
            boxes = [box for kind, _, box, _ in image.boxes if kind in (BoxKind.FALSE_POSITIVE, BoxKind.MISSED)]
            assert sorted(list(map(float, b)) for b in boxes) == sorted(e.box for e in mine)
            assert all((score is None) is (kind in (BoxKind.GROUND_TRUTH, BoxKind.MISSED))
                       for kind, _, _, score in image.boxes)
            assert (image.boxes.masks is not None) is (key == "seg")


def _kept_on_disk(columns: object) -> object:
    """A copy of `columns` (a report's evidence or rows) with each array attribute kept on disk, as a Dask
    cluster's driver holds them (`evalsite.core.on_disk`)."""
    import copy

    import numpy as np

    from evalsite.core.on_disk import on_disk

    kept = copy.copy(columns)
    for name, value in vars(columns).items():
        if isinstance(value, np.ndarray):
            setattr(kept, name, on_disk(value))
    return kept


@pytest.mark.parametrize("key", ["det", "seg", "empty"])
def test_columns_kept_on_disk_write_the_same_report(built, key: str) -> None:
    """A cluster's driver keeps the report's evidence, errors and images' columns on its disk: report.json
    (whole, or streamed in pieces of a few items) and the items read are those of the columns in memory."""
    from evalsite.core.on_disk import DiskArray
    from evalsite.report.model import json_pieces

    report = built[key]
    evidence = _kept_on_disk(report.evidence)
    evidence.coco = _kept_on_disk(report.evidence.coco)
    disk = dataclasses.replace(report, evidence=evidence, errors=_kept_on_disk(report.errors),
                               images=_kept_on_disk(report.images))
    assert isinstance(disk.evidence.gt_image, DiskArray) and isinstance(disk.images.bounds, DiskArray)
    assert key == "empty" or isinstance(disk.errors.box, DiskArray) and isinstance(disk.evidence.dt_score, DiskArray)
    expected = to_json_bytes(report)
    assert to_json_bytes(disk) == expected
    assert b"".join(json_pieces(disk, chunk=3)) == b"".join(json_pieces(report, chunk=3)) == expected
    assert list(disk.errors) == list(report.errors) and list(disk.images) == list(report.images)


def test_arrays_joined_on_disk_are_their_concatenation() -> None:
    """Shards' columns joined on disk (`DiskArray.joined`) read as np.concatenate's array, by rows, slices,
    numpy's operators and the array's methods, and are sent (pickled) as it; each shard's is let go."""
    import pickle

    import numpy as np

    from evalsite.core.on_disk import DiskArray

    parts = [np.arange(6, dtype=np.int32).reshape(3, 2), np.zeros((0, 2), np.int32), np.ones((2, 2)) * 2.5]
    expected = np.concatenate(parts)
    joined = DiskArray.joined(parts)
    assert parts == [None, None, None] and isinstance(joined, DiskArray)
    assert joined.dtype == expected.dtype and joined.shape == expected.shape and len(joined) == 5
    assert np.array_equal(np.asarray(joined), expected) and np.array_equal(joined[[4, 0]], expected[[4, 0]])
    assert np.array_equal(joined[1:3, 1], expected[1:3, 1]) and joined[2, 1] == expected[2, 1]
    assert np.array_equal(joined >= 2, expected >= 2) and np.array_equal(joined + joined, 2 * expected)
    assert joined.sum() == expected.sum() and joined.tolist() == expected.tolist()
    sent = pickle.loads(pickle.dumps(joined))
    assert type(sent) is np.ndarray and np.array_equal(sent, expected)
    empty = DiskArray.joined([np.zeros((0, 4)), np.zeros((0, 4), np.float32)])
    assert type(empty) is np.ndarray and empty.shape == (0, 4) and empty.dtype == np.float64


@pytest.mark.parametrize("read_bytes", [8, 40, 1 << 24])
def test_columns_on_disk_index_as_numpy(read_bytes: int, monkeypatch) -> None:
    """A column kept on disk is read, not mapped, a block of the file at a time: every kind of index (rows in
    any order with repeats, slices with steps, masks, single rows, columns, Ellipsis) gives numpy's result,
    and an index out of bounds is numpy's IndexError; `taken` and `with_rows` give numpy's copies."""
    import numpy as np

    import evalsite.core.on_disk as on_disk

    monkeypatch.setattr(on_disk, "READ_BYTES", read_bytes)
    rng = np.random.default_rng(read_bytes)
    for shape in ((50, 4), (37,), (1, 4)):
        values = rng.random(shape)
        column = on_disk.DiskArray(values)
        n = shape[0]
        keys = [np.array([5, 1, 1, 30, -1]) % n, slice(None), slice(3, 9), slice(None, None, 3), slice(10, 2, -2),
                slice(-5, None, 2), slice(None, None, -1), slice(100, -100, -7), slice(2, 2, 3),
                Ellipsis, 0, -1, rng.random(n) > 0.5, np.array([], dtype=int), (slice(None),)]
        if len(shape) > 1:
            keys += [(slice(None), 2), (np.array([4, 0, 4]) % n, 1), (slice(2, 7), slice(1, 3)), (Ellipsis, 1),
                     (0, 1), (slice(None, None, 2), 0)]
        for key in keys:
            expected, got = values[key], column[key]
            assert np.shape(got) == np.shape(expected) and np.array_equal(got, expected), (shape, key)
        for key in (n, -n - 1, np.array([0, n])):
            with pytest.raises(IndexError):
                column[key]
        # copies made a block at a time, on disk: rows taken (in any order, or by a mask), rows replaced
        for index in (rng.permutation(n), np.sort(rng.choice(n, n // 2)), rng.random(n) > 0.3):
            taken = column.taken(index)
            assert np.array_equal(np.asarray(taken), values[index])
            assert isinstance(taken, on_disk.DiskArray) or len(values[index]) == 0
        rows = np.sort(rng.choice(n, max(1, n // 3), replace=False))
        new = rng.random((len(rows), *shape[1:]))
        replaced = column.with_rows(rows, new)
        expected = values.copy()
        expected[rows] = new
        assert isinstance(replaced, on_disk.DiskArray) and np.array_equal(np.asarray(replaced), expected)
        assert np.array_equal(np.asarray(column), values)  # (the original unchanged)
