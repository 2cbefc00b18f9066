"""Work on many items on a few threads (image decoding and encoding release the GIL); work beside the caller in
a forked process (`forked`), and a helper forked onto a core that falls idle meanwhile (`run_units`)."""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Generic, TypeVar

import numpy as np

from evalsite.core.cluster import current, map_shards

T = TypeVar("T")
R = TypeVar("R")
# One thread per core, at most 4: more threads than cores only fight over the GIL between decodes (50,000
# images of 128 px: 0.44 ms an image with 2 threads on 2 cores, 0.66 ms with 4).
WORKERS = max(1, min(4, os.cpu_count() or 2))
BATCH = 32  # items per task at most (fewer when there are few items, so that every thread gets work)


def parallel(work: Callable[[T], R], items: Iterable[T], progress: Callable[[int], None] | None = None,
             step: Callable[[T], int] = lambda item: 1, shard_size: int | None = None,
             taken: Callable[[int, R], R] | None = None) -> list[R]:
    """`work` of every item, in order, on a few threads (Pillow releases the GIL while it decodes, resizes
    and encodes), advancing `progress` by `step(item)` as each is done. Items go to the threads in batches:
    with one task per item, 50,000 small images spent more time handing out tasks than reading them.
    While a Dask cluster is active (evalsite.core.cluster.on_cluster) the items go to its workers instead, in
    shards of `shard_size` items (default: the cluster's --shard-images); `work` must then pickle (it does
    when it closes over paths and small values only). `taken(k, value)`, when given, is what is kept of item
    k's value, called as the values come in (with a cluster in the order its tasks end, else in item order)."""
    items = list(items)
    cluster = current()
    if cluster is not None:
        return map_shards(cluster, work, items, progress, step, shard_size, taken)
    batch = max(1, min(BATCH, len(items) // (WORKERS * 4)))
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]

    def run(chunk: list[T]) -> list[R]:
        return [work(item) for item in chunk]

    done: list[R] = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for chunk, values in zip(batches, pool.map(run, batches)):
            base = len(done)
            done.extend(values if taken is None else [taken(base + k, v) for k, v in enumerate(values)])
            if progress:
                progress(sum(step(item) for item in chunk))
    return done


class Mailbox:
    """What the caller of `forked` sends to its work, in order (`send`); the work takes item k with `get(k)`,
    waiting for it. Kept whole, so that a rerun of the work (its child died) takes the same items."""

    def __init__(self) -> None:
        self._items: list = []
        self._ready = threading.Condition()
        self.child: int | None = None  # the process id of the forked child, if there is one
        self.cancelled = False

    def cancel(self) -> None:
        """The caller no longer wants the values (it failed): the child is ended at once, nothing is redone,
        and the futures not yet done get a CancelledError."""
        self.cancelled = True
        if self.child is not None:
            try:
                os.kill(self.child, signal.SIGKILL)
            except OSError:  # already gone
                pass
        self.send(_STOP)

    def send(self, item: object) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify_all()

    def get(self, k: int) -> object:
        with self._ready:
            self._ready.wait_for(lambda: len(self._items) > k)
            return self._items[k]


_STOP = "evalsite.core.parallel.stop"  # ends the sending thread of `forked`


def may_fork() -> bool:
    """Whether work may go to a forked child here: os.fork exists, no other thread is running (a child of a
    process with threads can inherit a lock held by one of them), and EVALSITE_NO_FORK is unset."""
    return hasattr(os, "fork") and threading.active_count() == 1 and not os.environ.get("EVALSITE_NO_FORK")


class ForkedCall(Generic[R]):
    """A call running in a forked child (`fork_call`): calling this waits for its value (or raises its
    exception; a child that died raises ChildProcessError) and reaps the child; `cancel()` kills and reaps
    a child whose value is no longer wanted (a no-op once the value was taken)."""

    def __init__(self, pid: int, readable: int):
        self._pid: int | None = pid
        self._readable = readable

    def __call__(self) -> R:
        if self._pid is None:
            raise ChildProcessError("the forked call was cancelled")
        try:
            with os.fdopen(self._readable, "rb") as pipe:
                try:
                    ok, value = pickle.load(pipe)
                except Exception:  # noqa: BLE001 - EOF or a broken message: the child died
                    raise ChildProcessError("the forked child ended without its value") from None
        finally:
            os.waitpid(self._pid, 0)
            self._pid = None
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        if self._pid is None:
            return
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self._readable)
        os.waitpid(self._pid, 0)
        self._pid = None


def fork_call(work: Callable[[], R]) -> ForkedCall[R] | None:
    """`work()` started in a forked child, beside the caller (a `ForkedCall`: calling it waits for the
    value). None when this process may not fork (`may_fork`): the caller then does the work itself. No
    thread is started, so the caller may fork again afterwards; the value is read only when asked for (the
    child waits on the pipe until then)."""
    if not may_fork():
        return None
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(readable)
        status = 0
        try:
            with os.fdopen(writable, "wb") as pipe:
                try:
                    outcome = (True, work())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    outcome = (False, exc)
                try:
                    pickle.dump(outcome, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:  # noqa: BLE001 - a value or exception that does not pickle
                    pickle.dump((False, RuntimeError(repr(outcome[1]))), pipe, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(writable)
    return ForkedCall(pid, readable)


def forked(steps: Callable[[Callable[[], object]], Iterator[R]], count: int) -> tuple[list[Future[R]], Mailbox]:
    """The first `count` values that the generator `steps(receive)` yields, as futures, computed in a forked
    child process when this one may fork (os.fork exists, no other thread is running, EVALSITE_NO_FORK
    unset), else on a thread; and the `Mailbox` whose items `receive()` returns there, one per call, in the
    order they were sent (it waits for the next one). A second process is what lets Python-heavy work
    (assembling a report) and numpy-heavy work (the bootstrap, whose small-array loops hold the GIL much of
    the time) use two cores at once.

    The child gets a copy-on-write snapshot of this process and sends each value back pickled as soon as it
    is yielded; threads here receive them and send it the mailbox's items, so that neither side waits for
    the other's reading. The child exits without running any exit handler. An exception raised by `steps`
    reaches the caller through its futures; when the child dies without a word (killed, out of memory),
    the remaining values are computed on a thread, from the start."""
    futures: list[Future[R]] = [Future() for _ in range(count)]
    box = Mailbox()
    if may_fork():
        from_child, to_parent = os.pipe()
        from_parent, to_child = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(from_child)
            os.close(to_child)
            _child(steps, count, to_parent, from_parent)
        os.close(to_parent)
        os.close(from_parent)
        box.child = pid
        threading.Thread(target=_send, args=(box, to_child), daemon=True).start()
        # not a daemon: the interpreter waits for it at exit, so the child is always reaped (its CPU time then
        # counts in this process's children's, as `time` reports it)
        threading.Thread(target=_receive, args=(pid, from_child, steps, futures, box)).start()
    else:
        threading.Thread(target=_fill, args=(steps, futures, 0, box), daemon=True).start()
    return futures, box


def _child(steps: Callable, count: int, to_parent: int, from_parent: int) -> None:
    status = 0
    try:
        inbox = os.fdopen(from_parent, "rb")
        with os.fdopen(to_parent, "wb") as pipe:
            try:
                for value, _ in zip(steps(lambda: pickle.load(inbox)), range(count)):
                    pickle.dump((True, value), pipe, protocol=pickle.HIGHEST_PROTOCOL)
                    pipe.flush()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                try:
                    pickle.dump((False, exc), pipe, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:  # noqa: BLE001 - an exception that does not pickle
                    pickle.dump((False, RuntimeError(repr(exc))), pipe, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # noqa: BLE001 - the parent computes what is missing
        status = 1
    finally:
        os._exit(status)


def _send(box: Mailbox, to_child: int) -> None:
    try:
        with os.fdopen(to_child, "wb") as pipe:
            k = 0
            while (item := box.get(k)) is not _STOP:
                pickle.dump(item, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                pipe.flush()
                k += 1
    except OSError:  # the child is gone: its work is redone here (`_receive`)
        pass


def _receive(pid: int, from_child: int, steps: Callable, futures: list[Future], box: Mailbox) -> None:
    done = 0
    with os.fdopen(from_child, "rb") as pipe:
        while done < len(futures):
            try:
                ok, value = pickle.load(pipe)
            except Exception:  # noqa: BLE001 - EOF or a broken message: the child died
                break
            if ok:
                futures[done].set_result(value)
                done += 1
            else:
                for future in futures[done:]:
                    future.set_exception(value)
                done = len(futures)
    os.waitpid(pid, 0)
    if done < len(futures):
        if box.cancelled:
            for future in futures[done:]:
                future.set_exception(CancelledError())
        else:
            _fill(steps, futures, done, box)
    box.send(_STOP)


def _fill(steps: Callable, futures: list[Future], skip: int, box: Mailbox) -> None:
    """futures[skip:] from `steps(receive)` run here (its first `skip` values are already known)."""
    taken = iter(range(1 << 62))

    def receive() -> object:
        item = box.get(next(taken))
        if item is _STOP:  # cancelled
            raise CancelledError()
        return item

    try:
        for k, value in zip(range(len(futures)), steps(receive)):
            if k >= skip:
                futures[k].set_result(value)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller
        for future in futures:
            if not future.done():
                future.set_exception(exc)


def shared_array(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    """Zeros in an anonymous shared mapping: the processes forked after this see and write the same memory
    (nothing is copied or sent; pages are untouched until written)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    return np.frombuffer(mmap.mmap(-1, max(1, count * dtype.itemsize)), dtype=dtype, count=count).reshape(shape)


class SpareCore:
    """A core that a process offers when it falls idle waiting for a forked child's values (`offer`), so that
    the child's long loop can fork a helper onto it (`run_units`). One byte of memory shared across forks:
    made before the child is forked. At most one helper per offer."""

    def __init__(self) -> None:
        self._flag = shared_array(1, np.uint8)

    def offer(self) -> None:
        self._flag[0] = 1

    def take(self) -> bool:
        """Whether the core is offered; it is then no longer (this process uses it)."""
        if self._flag[0] != 1:
            return False
        self._flag[0] = 2
        return True


#: `run_units` forks a helper only when the units left should take longer than this (a fork of a process of
#: some hundred MB, and its first copied pages, take 10-30 ms).
HELP_WORTH_SECONDS = 0.06


def run_units(run: Callable[[int], None], costs: np.ndarray, spare: SpareCore | None = None) -> None:
    """run(k) for every unit k = 0 .. len(costs) - 1, in order. When `spare` is offered (looked at between
    units), this process may fork (`may_fork`) and the units left should take more than
    `HELP_WORTH_SECONDS` at the pace so far, they are split by their `costs` (any unit of measure): a
    forked helper runs the second half beside this process, which runs the first.

    So `run` must write its results where both processes see them (`shared_array`, made before), and the
    units must not depend on each other. The helper is waited for before returning. One that fails (raises,
    dies, or outlives this process: it stops when its parent changes) leaves its units to this process,
    which runs them after all: the results, and any error, are those of running every unit here."""
    total = np.cumsum(np.asarray(costs, dtype=np.float64))
    end, k, helper = len(total), 0, None
    started = time.perf_counter()
    while k < end:
        run(k)
        k += 1
        if helper is None and spare is not None and k < end and spare.take() and may_fork():
            done, left = total[k - 1], total[end - 1] - total[k - 1]
            if done > 0 and (time.perf_counter() - started) * left / done > HELP_WORTH_SECONDS:
                middle = min(end - 1, max(k + 1, int(np.searchsorted(total, done + left / 2))))
                helper, end = (_fork_helper(run, middle, end), middle, end), middle
    if helper is not None:
        pid, first, last = helper
        _, status = os.waitpid(pid, 0)
        if status != 0:
            for unit in range(first, last):
                run(unit)


def _fork_helper(run: Callable[[int], None], first: int, last: int) -> int:
    """The process id of a forked child running run(first) .. run(last - 1) (`run_units`); it exits 0 when it
    ran them all."""
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        for unit in range(first, last):
            if os.getppid() != parent:  # the parent is gone: its caller no longer wants the values
                break
            run(unit)
        else:
            status = 0
    finally:
        os._exit(status)
