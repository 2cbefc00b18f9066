"""Per-image work on a Dask cluster (the optional `dask` extra; docs/cluster.md).

`on_cluster(scheduler, shard_images)` connects to a cluster for the duration of a command: ``"local"`` or
``"local:N"`` starts a `distributed.LocalCluster` of N worker processes on this machine (N default: the
number of cores), ``"tcp://HOST:PORT"`` (or any address `distributed.Client` takes) joins a running one
(`dask scheduler` + `dask worker`), and a `distributed.Client` is used as given (never closed here). While
it is active, `evalsite.core.parallel.parallel` sends its items to the workers in shards of
`shard_images` items instead of to local threads: image checks, traits, pictures and the parsing of
prediction shards. Each shard is one Dask task, retried by Dask on another worker when its worker dies.
Results come back in item order, so a report or a site is the same whatever the number of workers and
shards (tests/test_cluster.py). `run_tasks` sends larger parts of the work (the intervals' label groups)
as one task each, straight to the workers.

Dask is imported here only, and only when a cluster is asked for: without the extra nothing imports it.
Workers read images and write pictures through paths, so the images root and the output folder must be
at the same path on every worker (a shared file system); the Python environment of the workers must have
evalsite installed (the same version).
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import gc
import logging
import math
import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from evalsite.core.errors import ClusterError

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before `ClusterError` (exit 2)
SHARD_IMAGES = 1000  # images per Dask task by default (--shard-images)
_SCATTER_TRIES = 3  # sending a part of `run_tasks` to a worker: tries before it is done here
_BACKGROUND = -1  # Dask priority of `run_tasks`' tasks
PIECE_ROWS = 1 << 19  # rows of a piece of a part sent in `Pieces` (`row_pieces`)
BACK_BYTES = 1 << 24  # a task's array larger than this comes back a piece of this size at a time (`_taken_in_pieces`)
_LOCAL = re.compile(r"local(?::(\d+))?")
# glibc's threshold to give freed memory at the top of the heap back to the system (bytes): as Dask's nanny
# sets it for its workers (MALLOC_TRIM_THRESHOLD_, docs/cluster.md "Memory"). Setting it also fixes the size
# from which an allocation gets its own mapping (128 KiB) instead of glibc raising it after each free, up to
# 32 MiB: the driver's many numpy temporaries of a few MB would otherwise stay in its heap once freed
_TRIM_THRESHOLD = 65536
_M_TRIM_THRESHOLD = -1  # mallopt's parameter number (malloc.h)


@dataclass
class Cluster:
    """The Dask client of the running command and how many items go into one task."""

    client: Any  # distributed.Client
    shard_images: int


_current: ContextVar[Cluster | None] = ContextVar("evalsite_cluster", default=None)


def current() -> Cluster | None:
    """The cluster of the running command, or None (work stays on this machine's threads)."""
    return _current.get()


def check_scheduler(scheduler: object) -> None:
    """A `--scheduler` value that is neither ``local[:N]`` (N >= 1) nor a scheduler address is an error."""
    if not isinstance(scheduler, str):
        return
    match = _LOCAL.fullmatch(scheduler)
    if match and match.group(1) is not None and int(match.group(1)) < 1:
        raise ClusterError(f"--scheduler {scheduler}: a local cluster needs at least one worker")
    if not match and "://" not in scheduler and ":" not in scheduler:
        raise ClusterError(f"--scheduler {scheduler!r}: expected local, local:N or a scheduler address such as "
                           "tcp://HOST:8786")


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError('a Dask scheduler was asked for, but Dask is not installed: pip install '
                           '"evalsite[dask]"') from None
    return distributed


@contextmanager
def on_cluster(scheduler: object, shard_images: int | None = None) -> Iterator[Cluster | None]:
    """Run the body with `scheduler`'s cluster as `current()` (see the module docstring); None: no cluster.
    `shard_images`: items per task (default SHARD_IMAGES). An address that does not answer within
    CONNECT_TIMEOUT seconds is a `ClusterError`."""
    if scheduler is None:
        yield None
        return
    if shard_images is not None and shard_images < 1:
        raise ClusterError(f"--shard-images must be at least 1, found {shard_images}")
    check_scheduler(scheduler)
    distributed = _distributed()
    _return_freed_memory()
    owned: list = []
    if isinstance(scheduler, str):
        match = _LOCAL.fullmatch(scheduler)
        if match:
            workers = int(match.group(1) or os.cpu_count() or 2)
            local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                             dashboard_address=":0", silence_logs=logging.ERROR)
            client = distributed.Client(local)
            owned += [client, local]  # closed in this order
        else:
            try:
                client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT:g} s "
                                   f"({type(exc).__name__}); is `dask scheduler` running there?") from None
            owned.append(client)
    elif isinstance(scheduler, distributed.Client):
        client = scheduler
    else:
        raise ClusterError(f"scheduler must be an address or a distributed.Client, found {type(scheduler).__name__}")
    token = _current.set(Cluster(client, shard_images or SHARD_IMAGES))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
        for thing in owned:
            thing.close()


def _return_freed_memory() -> None:
    """The driver gives freed memory back to the system (`_TRIM_THRESHOLD`): its peak at 50,000 images fell
    from 1.50 to 1.29 GB. Only where glibc's `mallopt` exists (Linux); elsewhere nothing changes."""
    try:
        ctypes.CDLL(None).mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)  # (this process's symbols: libc's)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        pass


def _given(value: Any) -> Any:
    """The task that holds `work` on the cluster (`map_shards`)."""
    return value


def _run_shard(work: Callable, shard: Sequence, filters: list) -> list:
    with warnings.catch_warnings():
        warnings.filters[:] = filters  # the caller's (e.g. Pillow's DecompressionBombWarning silenced)
        return [work(item) for item in shard]


def map_shards(cluster: Cluster, work: Callable, items: list, progress: Callable[[int], None] | None = None,
               step: Callable[[Any], int] = lambda item: 1, shard_size: int | None = None,
               taken: Callable[[int, Any], Any] | None = None) -> list:
    """`work` of every item on the cluster's workers, `shard_size` (default `cluster.shard_images`) items per
    task, in item order; `taken(k, value)`, when given, is what is kept of item k's value, called as its task's
    values come in (in the order the tasks end).
    `work` goes to the cluster once (not once per task), as the value of a task rather than scattered data:
    should every worker holding it die, the scheduler recomputes it (scattered data would be lost, and every
    task needing it cancelled). A task whose worker dies is run again elsewhere (Dask's own retry,
    `distributed.scheduler.allowed-failures` times); past that, or with the tasks cancelled, a `ClusterError`."""
    distributed = _distributed()
    size = shard_size or cluster.shard_images
    shards = [items[i:i + size] for i in range(0, len(items), size)]
    if not shards:
        return []
    client = cluster.client
    shared = client.submit(_given, work, pure=False)
    n = len(shards)
    futures = client.map(_run_shard, [shared] * n, shards, [list(warnings.filters)] * n, pure=False)
    weight = {future.key: sum(step(item) for item in shard) for future, shard in zip(futures, shards)}
    start = {future.key: k * size for k, future in enumerate(futures)}

    def kept(future, values: list) -> list:
        return values if taken is None else [taken(start[future.key] + k, v) for k, v in enumerate(values)]

    try:
        results = _gathered(distributed, client, futures, lambda future: progress and progress(weight[future.key]),
                            kept)
    finally:
        client.cancel([shared])
    return [value for shard in results for value in shard]


def _gathered(distributed, client, futures: list, done: Callable[[Any], None] = lambda future: None,
              kept: Callable[[Any, Any], Any] = lambda future, value: value) -> list:
    """The futures' values in order (`kept(future, value)` of each, `done(future)` as each ends well); the
    work's own exception as it is;
    a task that killed its worker on every try, or cancelled tasks, as a `ClusterError`. Each value is taken
    as its task ends, not all at the end: the messages that bring them are not all here at once beside the
    values (at 50,000 COCO-like images the prediction shards' columns took 0.45 GB more so)."""
    position = {future.key: k for k, future in enumerate(futures)}
    values: list = [None] * len(futures)
    try:
        for future in distributed.as_completed(futures):
            if future.status == "error":
                return client.gather(futures)  # which raises the work's own exception
            values[position[future.key]] = kept(future, future.result())
            done(future)
        return values
    except distributed.KilledWorker as exc:
        raise ClusterError(f"a Dask worker died on every try of the same shard ({exc}); is its memory limit "
                           "too small for --shard-images?") from None
    except CancelledError as exc:  # e.g. the client or the scheduler closed under us
        raise ClusterError(f"the Dask cluster cancelled this run's tasks ({exc})") from None


@dataclass
class _Large:
    """An array of a task's value left on its worker to be taken a piece at a time (`_taken_in_pieces`)."""

    shape: tuple
    dtype: Any


def _mapped(value: Any, leaf: Callable[[Any, tuple], Any], path: tuple = ()) -> Any:
    """`value` with each leaf (what is not a tuple, list or dataclass instance; a `_Large` too) replaced by
    ``leaf(it, its path)``, the containers rebuilt (a dataclass copied, its fields set)."""
    if isinstance(value, _Large):
        return leaf(value, path)
    if isinstance(value, tuple):
        items = [_mapped(item, leaf, (*path, k)) for k, item in enumerate(value)]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        return [_mapped(item, leaf, (*path, k)) for k, item in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        copied = copy.copy(value)
        for field in dataclasses.fields(value):
            object.__setattr__(copied, field.name, _mapped(getattr(value, field.name), leaf, (*path, field.name)))
        return copied
    return leaf(value, path)


def _skeleton(value: Any, limit: int) -> Any:
    """`value` (on its worker) with each numpy array of numbers of more than `limit` bytes as a `_Large`."""
    import numpy as np

    return _mapped(value, lambda item, _: _Large(item.shape, item.dtype)
                   if isinstance(item, np.ndarray) and item.nbytes > limit and not item.dtype.hasobject else item)


def _rows_at(value: Any, path: tuple, start: int, stop: int) -> Any:
    """Rows start..stop-1 of the array at `path` in `value` (on its worker)."""
    for key in path:
        value = value[key] if isinstance(key, int) else getattr(value, key)
    return value[start:stop]


def _taken_in_pieces(distributed, client, future, priority: int) -> Any:
    """The value of `future`'s task with each array of more than BACK_BYTES taken a piece of BACK_BYTES at a
    time, by tasks of its own on the worker that holds it, into an array on this machine's disk (`DiskArray`):
    a label group's value (its evidence, 12 bytes per detection, and its sweep part, 16 bytes per distinct
    score: 0.1 GB for COCO's "person" at 200,000 images) is never whole here."""
    from evalsite.core.on_disk import DiskArrayWriter

    skeleton = _gathered(distributed, client, [client.submit(_skeleton, future, BACK_BYTES, pure=False,
                                                             priority=priority)])[0]

    def taken(item: Any, path: tuple) -> Any:
        if not isinstance(item, _Large):
            return item
        writer = DiskArrayWriter(item.dtype, item.shape[1:])
        row_bytes = item.dtype.itemsize * max(1, int(math.prod(item.shape[1:])))
        step = max(1, BACK_BYTES // row_bytes)
        for start in range(0, item.shape[0], step):
            writer.append(_gathered(distributed, client, [client.submit(_rows_at, future, path, start, start + step,
                                                                        pure=False, priority=priority)])[0])
        return writer.finish()

    return _mapped(skeleton, taken)


@dataclass
class Pieces:
    """A part of `each_task` sent in pieces, so that the driver never holds it whole: `fixed`, sent as it is,
    and `pieces`, each a tuple of the same columns for a block of rows, made and sent one at a time (at least
    one); a worker joins each column (`np.concatenate`) and takes ``build(fixed, columns)`` as the part. A
    label group's detections are so sent a block at a time: the largest group's part (about 64 bytes per
    detection: 0.3 GB for COCO's "person" at 200,000 images) is not whole on the driver."""

    build: Callable[[Any, tuple], Any]
    fixed: Any
    pieces: Iterable[tuple]


def row_pieces(row_blocks: Iterable[Any], cut: Callable[[Any], tuple]) -> Iterator[tuple]:
    """``cut(rows)`` of the rows of `row_blocks` (arrays of ascending rows, in order, as a block at a time finds
    them: `evalsite.metrics.arrays.label_row_blocks`) PIECE_ROWS at a time (one piece at least, of no rows when
    there are none): the pieces of a label group's `Pieces` part, whose rows (8 bytes a detection: 32 MB for
    COCO's "person" at 200,000 images) are never all in memory at once."""
    import numpy as np

    pending: list = []
    count, sent = 0, False
    for found in row_blocks:
        while len(found):
            taken, found = found[:PIECE_ROWS - count], found[PIECE_ROWS - count:]
            pending.append(taken)
            count += len(taken)
            if count == PIECE_ROWS:
                yield cut(np.concatenate(pending))
                pending, count, sent = [], 0, True
    if count or not sent:
        yield cut(np.concatenate(pending) if pending else np.zeros(0, np.int64))


def _built(build: Callable[[Any, tuple], Any], fixed: Any, pieces: list[tuple]) -> Any:
    """A `Pieces` part made whole (on the worker that runs its task, or here)."""
    import numpy as np

    return build(fixed, tuple(np.concatenate(column) for column in zip(*pieces)))


def _on_pieces(work: Callable, build: Callable, fixed: Any, pieces: list[tuple], spec: Any, value: Any) -> Any:
    """A task of `each_task` whose part was sent in `Pieces`."""
    return work(_built(build, fixed, pieces), spec, value)


def run_tasks(cluster: Cluster, work: Callable, specs: Sequence, make: Callable[[Any], Any],
              common: tuple[Callable, tuple] | None = None, key: Callable[[Any], Any] = lambda spec: spec,
              priority: int = _BACKGROUND, back_in_pieces: bool = False) -> list:
    """`work(make(key(spec)), spec, value)` of every spec, one Dask task each, in spec order (`each_task`'s
    values, as a list)."""
    return list(each_task(cluster, work, specs, make, common, key, priority, back_in_pieces))


def each_task(cluster: Cluster, work: Callable, specs: Sequence, make: Callable[[Any], Any],
              common: tuple[Callable, tuple] | None = None, key: Callable[[Any], Any] = lambda spec: spec,
              priority: int = _BACKGROUND, back_in_pieces: bool = False, ahead: int | None = None) -> Iterator:
    """`work(make(key(spec)), spec, value)` of every spec, one Dask task each, yielded in spec order as each is
    in, where `value` is `common[0](*common[1])`, computed once on a worker as a task of its own (recomputed by
    Dask should the workers holding it die; None without `common`). A caller that keeps only what it takes of
    each value holds one value at a time (the ones not yet yielded stay on the workers). Each part `make(k)` is
    made here once per key k, one at a time, and sent straight to a worker (`Client.scatter`: not through the
    scheduler, which would hold them all); a part made as `Pieces` is sent a piece at a time. A part lost with
    its worker has no recipe to be made again there, so a spec whose task lost it is computed here instead, by
    the same call (with `value` computed here once); so is one whose part could not be sent, or whose task
    failed (an error of `work` itself is then raised here). `priority`: Dask's, by default below the per-image
    shards; 0 for work that the driver waits for next. The tasks are all sent before the first value is yielded,
    or with `ahead`, that many per worker thread ahead of the value awaited (two at least): then the workers
    hold a few parts at a time, not all of them (a segmentation's label groups with their masks, all sent at
    once, outgrew 2 GB workers at 20,000 COCO-like images). Each part is let go once its last task's value
    is in.
    `back_in_pieces`: each value's large arrays are taken a piece at a time onto this machine's disk
    (`_taken_in_pieces`)."""
    distributed = _distributed()
    if not specs:
        return
    client = cluster.client
    # By default below the per-image shards (`map_shards`, priority 0) that the driver waits for before its own
    # work: these run beside that work, on the workers left (Dask runs higher priorities first)
    value = client.submit(common[0], *common[1], pure=False, priority=priority) if common else None
    sent: dict = {}
    here: list = []  # `value` computed here, once, if ever needed

    def scattered(data: Any):
        for _ in range(_SCATTER_TRIES):  # a worker that dies while receiving: another one
            try:
                return client.scatter(data, direct=True, hash=False)
            except Exception:  # noqa: BLE001 - a worker dying meanwhile fails it in many ways (closed
                continue  # comm, an unknown worker...); the part is then sent again, or done here
        return None

    def part_of(spec: Any):
        k = key(spec)
        if k not in sent:
            part = make(k)
            if isinstance(part, Pieces):  # (each piece sent as it is made, and let go)
                fixed, pieces = scattered(part.fixed), [scattered(piece) for piece in part.pieces]
                sent[k] = None if fixed is None or any(p is None for p in pieces) else \
                    Pieces(part.build, fixed, pieces)  # (their futures)
            else:
                sent[k] = scattered(part)
            del part
        return sent[k]

    def done_here(spec: Any):
        if not here:
            here.append(common[0](*common[1]) if common else None)
        part = make(key(spec))
        if isinstance(part, Pieces):
            part = _built(part.build, part.fixed, list(part.pieces))
        return work(part, spec, here[0])

    futures: list = [None] * len(specs)  # (None: not sent, or its value taken)
    last = {key(spec): k for k, spec in enumerate(specs)}  # the last spec of each part
    window = len(specs) if ahead is None else max(2, ahead * sum(client.nthreads().values()))
    submitted = 0

    def submit(upto: int) -> None:
        nonlocal submitted
        for k in range(submitted, min(upto, len(specs))):
            spec = specs[k]
            part = part_of(spec)
            if isinstance(part, Pieces):
                futures[k] = client.submit(_on_pieces, work, part.build, part.fixed, part.pieces, spec, value,
                                           key=f"{work.__name__}-{uuid.uuid4()}", priority=priority)  # (its name)
            elif part is not None:
                futures[k] = client.submit(work, part, spec, value, pure=False, priority=priority)
            submitted = k + 1

    try:
        for k, spec in enumerate(specs):
            submit(k + window)
            future = futures[k]
            try:
                if future is None:
                    raise ClusterError("not sent")
                result = _taken_in_pieces(distributed, client, future, priority) if back_in_pieces else \
                    _gathered(distributed, client, [future])[0]
            except Exception:  # noqa: BLE001 - lost with its worker, or failing there: done here (an error of
                result = done_here(spec)  # the work itself is then raised here, by the same code)
            if future is not None:  # (its value is here now)
                client.cancel([future])
                futures[k] = future = None
            if last[key(spec)] == k:
                sent.pop(key(spec), None)  # (its part let go on the workers)
            yield result
            del result
            # The values' received messages stay in reference cycles of Dask's comm layer until the cycle
            # collector runs: at 50,000 images, 0.2 GB of the confusion's and error types' parts (docs/cluster.md
            # "Memory"); a young generation's collection frees them as they come, for little time
            gc.collect(1)
    finally:
        client.cancel([future for future in (value, *futures) if future is not None])
        gc.collect()
