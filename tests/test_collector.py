"""`evaluate` runs with Python's cyclic garbage collector paused (evalsite.core.collector: its passes over
the parsed records and report rows cost 0.16 s of 2.2 s at 5,000 COCO images), and gives it back as it was."""

from __future__ import annotations

import gc

from test_detection_inputs import coco_task

from evalsite.commands import evaluate as evaluate_command
from evalsite.core.collector import gc_paused
from evalsite.manifest import spec_from_dict


def _collections_during(call) -> int:
    """How many collections ran during call(), with a collection due at every allocation when it is on."""
    counted = []

    def count(phase, info):
        if phase == "start":
            counted.append(info["generation"])

    thresholds = gc.get_threshold()
    gc.set_threshold(1)
    gc.callbacks.append(count)
    try:
        call()
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*thresholds)
    return len(counted)


def test_evaluate_runs_without_collections(tmp_path, monkeypatch):
    coco_task(tmp_path)  # gt.json, results.json, images/
    spec = spec_from_dict({"name": "t", "type": "detection", "images": "images", "ground_truth": "gt.json",
                           "predictions": "results.json"}, tmp_path, tmp_path / "task.yaml")
    work = evaluate_command._evaluate
    work(spec, evaluate_command.silent, True)  # (imports done)
    # the same work with the collector on does collect (so the count below can fail)
    assert _collections_during(lambda: work(spec, evaluate_command.silent, True)) > 100
    inside = []

    def counted(*args):
        got = []
        inside.append(_collections_during(lambda: got.append(work(*args))))
        return got[0]

    monkeypatch.setattr(evaluate_command, "_evaluate", counted)
    report = evaluate_command.evaluate(spec)
    assert inside == [0]
    assert gc.isenabled() and report.metrics["coco"]["AP"] is not None


def test_paused_collector_comes_back_as_it_was():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # still inside the outer pause
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left off, as it was
    finally:
        gc.enable()


def test_collector_stays_on_with_a_cluster(monkeypatch):
    """A Dask client's event loop runs in this process during a cluster run and makes reference cycles."""
    seen = []
    monkeypatch.setattr(evaluate_command, "current", lambda: object())
    monkeypatch.setattr(evaluate_command, "_evaluate", lambda *args: seen.append(gc.isenabled()) or _Report())
    evaluate_command.evaluate(_NoExtras())
    assert seen == [True]
    monkeypatch.setattr(evaluate_command, "current", lambda: None)
    evaluate_command.evaluate(_NoExtras())
    assert seen == [True, False]


class _Report:
    metadata = None


class _NoExtras:
    metadata_file = label_names_file = None
