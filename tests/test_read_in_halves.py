"""Large inputs read in two halves, the second in a forked child (formats.coco `start_results_in_parts`,
formats.mask_decoding `decode_masks`, core.parallel `fork_call`): the same columns and masks as read whole,
and the same error as the whole when a half is bad. Forks happen only in a process without other threads,
so each case runs in a fresh interpreter (see tests/test_parallel_forked.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from evalsite.core.parallel import fork_call


def _in_a_fresh_process(body: str) -> None:
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


_SETUP = """
import json, os, tempfile
from pathlib import Path
import numpy as np
from evalsite.core.errors import InputError
from evalsite.formats import coco, mask_decoding
from evalsite.core import parallel

forks = []
original = parallel.fork_call
def counted(work):
    got = original(work)
    forks.append(got is not None)
    return got
coco.fork_call = mask_decoding.fork_call = counted
coco.SPLIT_BYTES = 1
mask_decoding.SPLIT_MASKS = 2
tmp = Path(tempfile.mkdtemp())

def read(records, text=None):
    path = tmp / "dets.json"
    path.write_text(text if text is not None else json.dumps(records))
    try:
        p = coco.coco_predictions(path, tmp, False)
    except InputError as exc:
        return "error: " + exc.one_line()
    return [p.image_id.tolist(), p.category_id.tolist(), p.box.tolist(), p.score.tolist(), p.id_names,
            [p.locate(i) for i in (0, len(p.score) - 1)], p.notices]

def whole(records, text=None):
    coco.SPLIT_BYTES = 1 << 60
    try:
        return read(records, text)
    finally:
        coco.SPLIT_BYTES = 1
"""


def test_results_in_halves_equal_the_whole() -> None:
    _in_a_fresh_process(_SETUP + textwrap.dedent("""
    rng = np.random.default_rng(0)
    records = [{"image_id": int(rng.integers(1, 50)), "category_id": int(rng.integers(1, 5)),
                "bbox": [float(v) for v in rng.random(4) * 100] if k % 3 else [1, 2, 3, 4],
                "score": float(rng.random()) if k % 5 else 1} for k in range(1001)]
    assert read(records) == whole(records) and forks[-1] is True
    # blanks and newlines between the records, a string holding '}, {' in a record
    text = "[\\n" + ",\\n  ".join(json.dumps(r) for r in records) + "\\n]\\n"
    assert read(records, text) == whole(records, text)
    tricky = [dict(r, note="}, {" * 3) for r in records]
    assert read(tricky) == whole(tricky)
    for k in (0, 700):  # a bad record in either half: the whole's error
        bad = [dict(r) for r in records]
        del bad[k]["score"]
        got = read(bad)
        assert got.startswith("error:") and got == whole(bad), got
        bad = [dict(r) for r in records]
        bad[k]["bbox"] = [1, 2, 3]
        assert read(bad) == whole(bad) and read(bad).startswith("error:")
        bad = [dict(r) for r in records]
        bad[k]["image_id"] = 2.5
        assert read(bad) == whole(bad) and read(bad).startswith("error:")
    # records that name their images, malformed JSON, NaN, a byte-order mark: read whole
    named = [dict(r, file_name=f"{r['image_id']}.jpg") for r in records]
    assert read(named) == whole(named) and read(named)[4]
    broken = json.dumps(records)[:-40]
    assert read(records, broken).startswith("error: ") and read(records, broken) == whole(records, broken)
    nan = json.dumps(records).replace('"score": 1}', '"score": NaN}', 1)
    assert repr(read(records, nan)) == repr(whole(records, nan))  # (NaN != NaN)
    print("ok")
    """))


def test_results_started_before_the_ground_truth() -> None:
    """`read_detection` starts the results' second part before reading the ground truth (its own part
    shortened by the ground truth's and the `meanwhile` work's share): the same columns as read whole, the
    `meanwhile` work done only then, and the child stopped and reaped when the ground truth is bad."""
    _in_a_fresh_process(_SETUP + textwrap.dedent("""
    from evalsite.formats.detection import read_detection
    rng = np.random.default_rng(2)
    gt = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 80} for i in range(1, 50)],
          "categories": [{"id": c, "name": f"c{c}"} for c in range(1, 5)],
          "annotations": [{"id": k, "image_id": int(rng.integers(1, 50)), "category_id": int(rng.integers(1, 5)),
                           "bbox": [float(v) for v in rng.random(4) * 40], "iscrowd": 0} for k in range(300)]}
    records = [{"image_id": int(rng.integers(1, 50)), "category_id": int(rng.integers(1, 5)),
                "bbox": [float(v) for v in rng.random(4) * 40], "score": float(rng.random())} for k in range(1001)]
    (tmp / "gt.json").write_text(json.dumps(gt))
    (tmp / "dets.json").write_text(json.dumps(records))
    called = []

    def columns(split):
        coco.SPLIT_BYTES = 1 if split else 1 << 60
        d = read_detection(ground_truth=tmp / "gt.json", predictions=tmp / "dets.json", images_root=tmp,
                           meanwhile=lambda: called.append(1))
        return [d.dt_image.tolist(), d.dt_label.tolist(), d.dt_box.tolist(), d.dt_score.tolist(),
                d.gt_image.tolist(), d.gt_box.tolist(), [str(n) for n in d.notices]]

    forks.clear()
    whole = columns(False)
    assert called == [] and forks == []
    assert columns(True) == whole and called == [1] and forks == [True]
    # however large the share taken before: the same columns (the cut moves, down to a quarter)
    for lead in (0, 10 ** 9):
        parts = coco.start_results_in_parts(tmp / "dets.json", lead)
        got = parts.columns()
        half = coco.start_results_in_parts(tmp / "dets.json").columns()
        assert parts.end < len(json.dumps(records)) // 2 or lead == 0
        assert [c.tolist() for c in got] == [c.tolist() for c in half]
    # a bad ground truth: its error, and no child left behind
    (tmp / "gt.json").write_text(json.dumps(gt)[:-30])
    try:
        columns(True)
    except InputError as exc:
        assert "gt.json" in exc.one_line()
    else:
        raise AssertionError("a broken ground truth must be an error")
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        pass
    else:
        raise AssertionError("a child was left")
    print("ok")
    """))


def test_polygon_masks_in_halves_equal_the_whole() -> None:
    _in_a_fresh_process(_SETUP + textwrap.dedent("""
    rng = np.random.default_rng(1)
    n = 301
    image = np.sort(rng.integers(0, 3, n))
    widths, heights = np.array([64, 80, 50]), np.array([48, 40, 70])
    values = []
    for k in range(n):
        if k % 7 == 3:
            h, w = int(heights[image[k]]), int(widths[image[k]])
            values.append({"size": [h, w], "counts": [5, 10, h * w - 15]})
        else:
            x, y = (float(v) for v in rng.random(2) * 40)
            values.append([[x, y, x + 9.5, y, x + 9.5, y + 12.25, x, y + 3]])
    values[10] = [[10.1, 10.1, 10.2, 10.1, 10.2, 10.2]]  # empty: named in the notice
    locate = lambda i: ("gt.json", f"annotation {i}")
    names = ["a.jpg", "b.jpg", "c.jpg"]

    def decode(vals, split=True):
        mask_decoding.SPLIT_MASKS = 2 if split else 1 << 60
        try:
            m, area, notices = mask_decoding.decode_masks(vals, image, widths, heights, names, locate,
                                                          Path("gt.json"), "ground-truth", boxes=True)
        except InputError as exc:
            return "error: " + exc.one_line()
        return [m.counts.tolist(), m.ptr.tolist(), m.nc.tolist(), m.h.tolist(), m.w.tolist(), area.tolist(),
                m.bboxes().tolist(), [str(x) for x in notices]]

    assert decode(values) == decode(values, split=False) and forks[-1] is True
    for k in (5, 250):  # a bad mask in either half: the whole's error
        bad = list(values)
        bad[k] = [[1, 2, "x", 4, 5, 6]]
        got = decode(bad)
        assert got.startswith("error:") and got == decode(bad, split=False), got
    # compressed RLE (as predictions come): both halves decoded into one shared buffer
    masks, _, _ = mask_decoding.decode_masks(values, image, widths, heights, names, locate, Path("gt.json"),
                                             "ground-truth")
    strings = [{"size": [int(heights[image[k]]), int(widths[image[k]])], "counts": c}
               for k, c in enumerate(masks.strings())]
    forks.clear()
    assert decode(strings) == decode(strings, split=False) and forks == [True]
    assert decode(strings)[0] == decode(values)[0]
    shared, _, _ = mask_decoding.decode_masks(strings, image, widths, heights, names, locate, Path("gt.json"), "gt")
    assert type(shared.counts.base.base.obj).__name__ == "mmap"  # decoded in place by both processes
    for k in (5, 250):
        bad = list(strings)
        bad[k] = dict(bad[k], counts=bad[k]["counts"] + "~")
        got = decode(bad)
        assert got.startswith("error:") and got == decode(bad, split=False), got
        bad[k] = [[1, 2, 3, 4, 5, 6]]  # a polygon among them: read whole
        assert decode(bad) == decode(bad, split=False)
    print("ok")
    """))


@pytest.mark.parametrize("outcome", ["value", "error"])
def test_fork_call_value_or_exception(monkeypatch, outcome) -> None:
    _in_a_fresh_process(f"""
    from evalsite.core.parallel import fork_call
    def work():
        if {outcome!r} == "error":
            raise KeyError("absent")
        return list(range(5))
    wait = fork_call(work)
    assert wait is not None
    try:
        got = wait()
    except KeyError as exc:
        got = str(exc)
    assert got == ([0, 1, 2, 3, 4] if {outcome!r} == "value" else "'absent'"), got
    import os
    try:
        fork_call(lambda: os._exit(3))()
    except ChildProcessError:
        pass
    else:
        raise AssertionError("a dead child must raise")
    print("ok")
    """)


def test_fork_call_cancelled() -> None:
    """`cancel()` stops and reaps a child whose value is no longer wanted, at once; afterwards neither the
    value nor a second cancel waits."""
    _in_a_fresh_process("""
    import os, time
    from evalsite.core.parallel import fork_call
    wait = fork_call(lambda: time.sleep(60))
    t = time.monotonic()
    wait.cancel()
    wait.cancel()
    assert time.monotonic() - t < 5
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        pass
    else:
        raise AssertionError("the child was not reaped")
    try:
        wait()
    except ChildProcessError:
        print("ok")
    """)


def test_fork_call_declines_without_fork(monkeypatch) -> None:
    monkeypatch.setenv("EVALSITE_NO_FORK", "1")
    assert fork_call(lambda: 1) is None


def test_ground_truth_masks_decoded_beside_the_predictions() -> None:
    """Many ground-truth masks are decoded by a forked child while the predictions are read
    (formats.detection `_start_ground_truth_masks`): the same data as decoded here, the same error for a bad
    one (after a bad predictions file's: it is read first, as without the child), and a child that dies is
    replaced by decoding here."""
    _in_a_fresh_process(_SETUP + textwrap.dedent("""
    import dataclasses
    from evalsite.formats import detection

    mask_decoding.SPLIT_MASKS = 1 << 60  # (the predictions' masks whole: this test is about the ground truth's)
    detection.fork_call = counted
    rng = np.random.default_rng(5)

    def polygon():
        x, y = (float(v) for v in rng.random(2) * 40)
        return [[x, y, x + 9.5, y, x + 9.5, y + 12.25, x, y + 3]]

    images = [{"id": i + 1, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in range(3)]
    anns = [{"id": k + 1, "image_id": k % 3 + 1, "category_id": 1 + k % 2, "bbox": [1, 1, 9, 9], "area": 50.0,
             "iscrowd": 0, "segmentation": polygon()} for k in range(40)]
    dets = [{"image_id": k % 3 + 1, "category_id": 1 + k % 2, "score": round(float(rng.random()), 3),
             "segmentation": polygon()} for k in range(50)]

    def read(gt_anns=anns, dets_text=None, split=True):
        detection.SPLIT_MASKS = 2 if split else 1 << 60
        (tmp / "gt.json").write_text(json.dumps({"images": images, "annotations": gt_anns, "categories": [
            {"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
        (tmp / "dets.json").write_text(dets_text if dets_text is not None else json.dumps(dets))
        try:
            data = detection.read_detection(ground_truth=tmp / "gt.json", predictions=tmp / "dets.json",
                                            images_root=tmp, task_type="segmentation")
        except InputError as exc:
            return "error: " + exc.one_line()
        out = {}
        for field in dataclasses.fields(data):
            value = getattr(data, field.name)
            if hasattr(value, "counts"):
                value = [value.counts.tolist(), value.ptr.tolist(), value.h.tolist(), value.w.tolist()]
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            out[field.name] = repr(value)
        return out

    forks.clear()
    got = read()
    assert forks == [True] and got == read(split=False) and "gt_masks" in got, forks
    bad = [dict(a) for a in anns]
    bad[30]["segmentation"] = [[1, 2, "x", 4, 5, 6]]
    assert read(bad).startswith("error:") and read(bad) == read(bad, split=False), read(bad)
    assert "gt.json, annotation id 31: polygon 1 must be numbers" in read(bad), read(bad)
    broken = read(bad, dets_text="[{")  # both bad: the predictions' error, as read without the child
    assert broken == read(bad, dets_text="[{", split=False) and "dets.json" in broken, broken

    parent = os.getpid()
    decode = detection._ground_truth_masks
    def dying(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(3)
        return decode(*args, **kwargs)
    detection._ground_truth_masks = dying
    forks.clear()
    assert read() == got and forks == [True]
    print("ok")
    """))
