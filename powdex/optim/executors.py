"""Executors: one interface, three ways to run tasks.

``imap_unordered(fn, tasks)`` yields ``fn(task)`` results as they complete.
Pools keep only a window of tasks in flight, so an interrupted ensemble
leaves little work to throw away and memory stays flat for any size.
Workers run numerical libraries single-threaded: many small optimizations in
parallel lose badly to BLAS threads fighting over cores.
"""

from __future__ import annotations

import multiprocessing
import os
from itertools import islice
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator

from distributed import Client, WorkerPlugin, as_completed
from threadpoolctl import threadpool_limits

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def limit_to_one_thread() -> None:
    """Pin BLAS/OpenMP pools of this process to one thread: the environment
    for libraries loaded later, threadpoolctl for those already loaded."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    threadpool_limits(limits=1)


class _Executor:
    """Context-managed lifecycle that nests: ``run_ensemble`` enters the
    executor it is given, and when the caller already holds it open (to run
    several ensembles on one pool or client) only the outermost exit stops it.

    ``chunk_size`` is the most local runs sent per task: batching amortizes
    per-task overhead (about 0.2 ms for a process pool, 1 ms or more for dask)
    when single runs take milliseconds.
    """

    chunk_size = 1
    workers = 1
    _depth = 0

    def __enter__(self):
        if self._depth == 0:
            self._start()
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._stop()

    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        pass


class InProcess(_Executor):
    """Runs tasks one after another in the calling process, which is then a
    worker too: its BLAS pools are held to one thread while it runs."""

    def _start(self) -> None:
        self._limits = threadpool_limits(limits=1)

    def _stop(self) -> None:
        self._limits.restore_original_limits()

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        return map(fn, tasks)


class LocalProcesses(_Executor):
    """A pool of worker processes on this machine, one per core by default.

    Workers come from a forkserver: forking from a clean server process is
    fast and safe even though the driver runs threads (progress bar, dask).
    They are all started on entry, so start-up is not charged to the first runs.
    """

    def __init__(self, workers: int | None = None, chunk_size: int = 8):
        self.workers = workers or os.cpu_count() or 1
        self.chunk_size = chunk_size
        self._pool: ProcessPoolExecutor | None = None

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["powdex.optim.ensemble"])
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=limit_to_one_thread)
        # The pool spawns a process per queued task until it has ``workers``.
        wait([self._pool.submit(os.getpid) for _ in range(self.workers)])

    def _stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        pending: set[Future] = set()
        tasks = iter(tasks)
        window = 2 * self.workers
        for task in tasks:
            pending.add(self._pool.submit(fn, task))
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)


class Dask(_Executor):
    """A dask.distributed cluster given by its scheduler address.

    Start workers with ``--nthreads 1`` (one process per core); each worker is
    also pinned to single-threaded BLAS when the client connects.
    """

    def __init__(self, address: str, chunk_size: int = 16):
        self.address = address
        self.chunk_size = chunk_size
        self._client = None

    def _start(self) -> None:
        self._client = Client(self.address, set_as_default=False)
        self._client.register_plugin(_SingleThreadedWorkers(), name="powdex-single-threaded")

    def _stop(self) -> None:
        self._client.close()
        self._client = None

    @property
    def client(self) -> Client:
        """The connected client, while the executor is open."""
        return self._client

    @property
    def workers(self) -> int:
        return sum(self._client.nthreads().values())

    def imap_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        tasks = iter(tasks)
        window = 2 * max(self.workers, 1)
        # pure=False: tasks are all distinct, so hashing their inputs is wasted work.
        first = [self._client.submit(fn, task, pure=False) for task in islice(tasks, window)]
        completed = as_completed(first, loop=self._client.loop)
        for future in completed:
            yield future.result()
            for task in islice(tasks, 1):
                completed.add(self._client.submit(fn, task, pure=False))


class _SingleThreadedWorkers(WorkerPlugin):
    def setup(self, worker) -> None:
        limit_to_one_thread()


Executor = InProcess | LocalProcesses | Dask
