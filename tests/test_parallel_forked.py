"""core.parallel.forked: values, the mailbox, exceptions, a child that dies, and the thread fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from evalsite.core.parallel import forked


def _steps(receive):
    yield np.arange(5)
    extra = receive()
    yield extra * 2
    yield receive() + 1


def _values(futures):
    return [f.result(timeout=60) for f in futures]


def _in_a_fresh_process(body: str) -> None:
    """Run `body` (asserting) in a new interpreter: `forked` forks only when no other thread runs, and the test
    process has the threads of earlier tests (the browser tests' driver), so a fork is tested in a process of
    its own."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("fork", [True, False])
def test_values_in_order_with_the_mailbox(monkeypatch, fork) -> None:
    if not fork:
        monkeypatch.setenv("EVALSITE_NO_FORK", "1")
    futures, box = forked(_steps, 3)
    assert futures[0].result(timeout=60).tolist() == [0, 1, 2, 3, 4]  # before anything is sent
    box.send(np.array([1.5, 2.5]))
    box.send(41)
    first, second, third = _values(futures)
    assert second.tolist() == [3.0, 5.0] and third == 42


@pytest.mark.parametrize("fork", [True, False])
def test_an_exception_reaches_the_caller(monkeypatch, fork) -> None:
    if not fork:
        monkeypatch.setenv("EVALSITE_NO_FORK", "1")

    def steps(receive):
        yield "first"
        raise ValueError("no such label")

    futures, _ = forked(steps, 2)
    assert futures[0].result(timeout=60) == "first"
    with pytest.raises(ValueError, match="no such label"):
        futures[1].result(timeout=60)


def test_a_child_that_dies_is_replaced_by_a_thread() -> None:
    _in_a_fresh_process("""
        import os
        from evalsite.core.parallel import forked

        parent = os.getpid()

        def steps(receive):
            yield os.getpid()
            if os.getpid() != parent:
                os._exit(9)  # the child dies without a word after its first value
            yield receive()

        futures, box = forked(steps, 2)
        assert box.child is not None  # forked: nothing else runs in this process
        box.send("sent")
        child, second = [f.result(timeout=60) for f in futures]
        assert child != parent and second == "sent", (child, parent, second)
    """)


def test_no_fork_while_other_threads_run() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        futures, _ = forked(lambda receive: iter([os.getpid()]), 1)
        assert futures[0].result(timeout=60) == os.getpid()
    finally:
        stop.set()
        other.join()


def test_cancel_ends_the_child_and_redoes_nothing() -> None:
    _in_a_fresh_process("""
        import os
        from concurrent.futures import CancelledError

        import numpy as np
        from evalsite.core.parallel import forked

        def steps(receive):
            yield np.arange(5)
            yield receive() * 2

        futures, box = forked(steps, 2)
        futures[0].result(timeout=60)
        child = box.child
        assert child is not None
        box.cancel()  # the work waits for an item that will never come
        try:
            futures[1].result(timeout=60)
        except CancelledError:
            pass
        else:
            raise AssertionError("not cancelled")
        try:
            os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            pass  # reaped: gone
        else:
            raise AssertionError("the child was not reaped")
    """)


def test_cancel_without_a_child(monkeypatch) -> None:
    from concurrent.futures import CancelledError

    monkeypatch.setenv("EVALSITE_NO_FORK", "1")
    futures, box = forked(_steps, 3)
    futures[0].result(timeout=60)
    assert box.child is None
    box.cancel()
    for future in futures[1:]:
        with pytest.raises(CancelledError):
            future.result(timeout=60)


# ------------------------------------------------------------------------------ run_units and a spare core

_UNITS = """
    import os, time
    import numpy as np
    from evalsite.core import parallel
    from evalsite.core.parallel import SpareCore, run_units, shared_array

    parent = os.getpid()
    value = shared_array(40, np.int64)
    by = shared_array(40, np.int64)
    runs = shared_array(40, np.int64)

    def run(k):
        time.sleep(0.01)
        runs[k] += 1
        value[k], by[k] = k * k, os.getpid()
"""


def test_units_left_go_half_to_a_helper_on_an_offered_core() -> None:
    _in_a_fresh_process(_UNITS + """
        spare = SpareCore()
        spare.offer()
        run_units(run, np.ones(40), spare)
        assert value.tolist() == [k * k for k in range(40)]
        helper = sorted(set(by.tolist()) - {parent})
        assert len(helper) == 1, by.tolist()
        # the first unit here (the pace), then the rest halved: units 1-20 here, 21-39 in the helper
        assert (by[:21] == parent).all() and (by[21:] == helper[0]).all(), by.tolist()
        assert (runs == 1).all()
        assert not spare.take()  # one helper per offer
    """)


def test_no_helper_unless_the_core_is_offered_and_worth_it() -> None:
    _in_a_fresh_process(_UNITS + """
        run_units(run, np.ones(40), SpareCore())  # never offered
        assert (by == parent).all() and value.tolist() == [k * k for k in range(40)]
        parallel.HELP_WORTH_SECONDS = 10.0  # 40 units of 10 ms are not worth a fork
        spare = SpareCore()
        spare.offer()
        run_units(run, np.ones(40), spare)
        assert (by == parent).all() and (runs == 2).all()
    """)


def test_the_units_of_a_helper_that_fails_are_run_here() -> None:
    _in_a_fresh_process(_UNITS + """
        def failing(k):
            if os.getpid() != parent and k == 30:
                raise ValueError("bad unit")  # (the helper's exception stays in the helper)
            run(k)

        spare = SpareCore()
        spare.offer()
        run_units(failing, np.ones(40), spare)
        assert (by == parent).all() and value.tolist() == [k * k for k in range(40)]
        assert (runs[:21] == 1).all() and (runs[21:30] == 2).all() and (runs[30:] == 1).all(), runs.tolist()
    """)


def test_a_helper_stops_when_its_parent_is_gone() -> None:
    _in_a_fresh_process(_UNITS + """
        import signal
        pid = os.fork()
        if pid == 0:  # a parent that is killed while its helper works
            spare = SpareCore()
            spare.offer()
            run_units(run, np.ones(40), spare)
            os._exit(0)
        deadline = time.monotonic() + 60
        while runs[21:].sum() == 0 and time.monotonic() < deadline:  # until the helper is at work
            time.sleep(0.001)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        time.sleep(0.5)  # the helper sees its parent gone before its next unit
        assert runs[21:].sum() < 19, runs.tolist()
    """)
