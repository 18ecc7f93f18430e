"""Executors: one interface (``Executor``), several ways to run tasks.

``submit(fn, task)`` starts ``fn(task)``; ``next_result()`` blocks until one
submitted task is done and returns its result, in order of completion;
``discard()`` forgets whatever is still in flight.  The driver keeps only a
window of tasks submitted, so an interrupted ensemble leaves little work to
throw away and memory stays flat for any size.  A new executor subclasses
``Executor`` and registers a name with ``register_executor``;
``executor_from_name`` builds one by that name.

Workers run numerical libraries single-threaded: many small optimizations in
parallel lose badly to BLAS threads fighting over cores.  dask.distributed is
imported only when a Dask executor starts: it costs a second of start-up.

Local workers belong to the driver: they ignore Ctrl-C (the driver alone
handles it, and stops them at once), exit within a second when the driver is
killed, and import powdex before the driver's working directory joins their
import path, so that a folder named ``powdex`` there cannot shadow the
installed package while the user's objective modules stay importable.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import signal
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from threadpoolctl import threadpool_limits

from powdex.optim.errors import ConfigError
from powdex.optim.registry import register_executor
from powdex.optim.resources import available_cores, limit_to_one_thread


def exit_with_driver(link: Connection) -> None:
    """End this process as soon as the driver is gone, however it went.

    ``link`` is the read end of a pipe whose write end only the driver
    holds: the kernel closes it when the driver dies, even by SIGKILL and
    while it is still an unreaped zombie, and the watcher thread's blocking
    read then ends.  (Polling the driver's pid would miss a zombie, and the
    parent pid of a pool worker is the fork server, not the driver.)
    """

    def watch() -> None:
        try:
            link.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="powdex-exit-with-driver", daemon=True).start()


def start_worker(link: Connection, driver_directory: str) -> None:
    """Initializer of a pool worker (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_driver(link)
    if driver_directory not in sys.path:
        sys.path.append(driver_directory)
    limit_to_one_thread()


def start_forkserver() -> None:
    """Start multiprocessing's fork server, if it is not running, without the
    working directory on its import path.  It runs ``python -c``, which puts
    the working directory first on ``sys.path`` (and ignores the ``sys_path``
    it is given): with powdex installed in editable mode, a folder named
    ``powdex`` there wins as a namespace package and every worker fails to
    import powdex.  ``PYTHONSAFEPATH`` (Python 3.11) leaves it off.

    The server imports only this module, which fixes where powdex's modules
    come from: each worker imports those its tasks need, all workers at once.
    Preloading a task's modules here would cost the same time, one import
    after another, before any worker starts, and a module another kind of
    task needs (the ensemble engine's 1.7 s of SQLAlchemy and scipy.stats,
    for a series of refinements) would be imported for nothing."""
    multiprocessing.forkserver.set_forkserver_preload(["powdex.optim.executors"])
    previous = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if previous is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = previous


class WorkerPool(ProcessPoolExecutor):
    """A process pool whose workers belong to this driver (see the module
    docstring).  Workers come from a fork server: forking from a clean
    server process is fast and safe even though the driver runs threads
    (progress bars, dask).  ``terminate()`` stops it at once."""

    def __init__(self, workers: int):
        start_forkserver()
        # The write end stays in this process alone: the fork server hands
        # workers only the file descriptors their arguments carry.
        watched, self._driver_end = multiprocessing.Pipe(duplex=False)
        super().__init__(workers, mp_context=multiprocessing.get_context("forkserver"),
                         initializer=start_worker, initargs=(watched, os.getcwd()))

    def terminate(self) -> None:
        """Kill the workers and the tasks they run (what Python 3.14's
        ``terminate_workers`` does): an interrupted driver must not wait for
        work whose results it will throw away."""
        processes = list((self._processes or {}).values())  # no public handle on the workers before 3.14
        results = self._result_queue  # shutdown() drops it
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
        # A worker killed while it wrote a result leaves half a message in the result pipe, and the pool's
        # manager thread, which the interpreter joins at exit, would wait for the rest for ever: this process
        # holds a write end too, so no end of file comes (a Ctrl-C'd driver hung in CI so). With every worker
        # dead, closing that end gives the reader its end of file and the thread stops.
        if results is not None:
            results._writer.close()  # type: ignore[attr-defined]  # the queue's private pipe end

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait:
            self._driver_end.close()


def run_pickled(payload: bytes) -> Any:
    """Worker side of ``Dask.submit``: ``fn(task)`` of the pickled pair."""
    fn, task = pickle.loads(payload)
    return fn(task)


class Executor:
    """Base of every executor.  The engine (``run_ensemble``, ``parallel_map``) calls, in this order:

    1. ``check_sendable(task)`` with a sample task before starting (optional:
       default accepts everything; raise ``ConfigError`` when a task cannot
       reach the workers, e.g. cannot be pickled);
    2. ``with executor:``, which calls ``start()`` on the outermost entry
       (optional hook: start workers, connect to a cluster);
    3. ``submit(fn, task)`` (required) up to about ``2 * workers`` tasks ahead,
       then ``next_result()`` (required: block until one submitted task is
       done, return its result or raise its exception, in order of
       completion), and more submissions as results arrive;
    4. ``discard()`` (required) when it stops early: forget what is in flight;
    5. leaving the ``with``, ``stop(interrupted)`` on the outermost exit
       (optional hook; ``interrupted`` when an exception, such as Ctrl-C, is
       leaving: kill workers instead of waiting for them).

    Entries nest: ``run_ensemble`` enters the executor it is given, and when
    the caller already holds it open (to run several ensembles on one pool or
    client) only the outermost exit stops it.  ``from_options(workers=...,
    scheduler=...)`` builds one for ``executor_from_name``.

    ``chunk_size`` is the most local runs sent per task: batching amortizes
    per-task overhead (about 0.2 ms for a process pool, 1 ms or more for dask)
    when single runs take milliseconds.  The driver also bounds a task by
    time, so a large chunk never holds finished runs back for long.
    """

    chunk_size = 1
    workers = 1
    _depth = 0

    @classmethod
    def from_options(cls, *, workers: int | None = None, scheduler: str | None = None) -> Executor:
        return cls()

    @classmethod
    def examples(cls) -> list[Executor]:
        """Instances that the contract checks (``powdex.optim.testing``) run: two workers."""
        return [cls.from_options(workers=2)]

    def __enter__(self):
        if self._depth == 0:
            self.start()
        self._depth += 1
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.stop(interrupted=exc_type is not None)

    def start(self) -> None:
        """Hook: called on the outermost entry."""

    def stop(self, interrupted: bool) -> None:
        """Hook: called on the outermost exit."""

    def check_sendable(self, task: Any) -> None:
        """Raise ConfigError when ``task`` cannot reach this executor's workers."""

    def submit(self, fn: Callable[[Any], Any], task: Any) -> None:
        raise NotImplementedError

    def next_result(self) -> Any:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError


@register_executor("inprocess")
class InProcess(Executor):
    """Runs tasks one after another in the calling process, which is then a
    worker too: its BLAS pools are held to one thread while it runs.  A task
    runs when its result is asked for."""

    def __init__(self) -> None:
        self._queued: deque[tuple[Callable[[Any], Any], Any]] = deque()

    def start(self) -> None:
        self._limits = threadpool_limits(limits=1)

    def stop(self, interrupted: bool) -> None:
        self._limits.restore_original_limits()

    def submit(self, fn: Callable[[Any], Any], task: Any) -> None:
        self._queued.append((fn, task))

    def next_result(self) -> Any:
        fn, task = self._queued.popleft()
        return fn(task)

    def discard(self) -> None:
        self._queued.clear()


@register_executor("processes")
class LocalProcesses(Executor):
    """A pool of worker processes on this machine, one per available core by default.

    A :class:`WorkerPool`, all started on entry, so start-up is not charged
    to the first runs.  Leaving on an exception (Ctrl-C) kills the workers
    instead of waiting for the runs in flight.
    """

    def __init__(self, workers: int | None = None, chunk_size: int = 64):
        self.workers = workers or available_cores()
        self.chunk_size = chunk_size
        self._pool: WorkerPool | None = None
        self._pending: set[Future] = set()
        self._done: deque[Future] = deque()

    @classmethod
    def from_options(cls, *, workers: int | None = None, scheduler: str | None = None) -> LocalProcesses:
        return cls(workers)

    def start(self) -> None:
        self._pool = WorkerPool(self.workers)
        # The pool spawns a process per queued task until it has ``workers``.
        wait([self._pool.submit(os.getpid) for _ in range(self.workers)])

    def stop(self, interrupted: bool) -> None:
        assert self._pool is not None, "stop() without start()"
        if interrupted:
            self._pool.terminate()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def check_sendable(self, task: Any) -> None:
        # The pool pickles tasks in a background thread, whose error would
        # only surface, as a traceback, when the first result is awaited.
        try:
            ForkingPickler.dumps(task)
        except Exception as error:  # pickling raises AttributeError, TypeError, PicklingError...
            raise ConfigError(
                f"the objective cannot be sent to worker processes ({error}): define its functions at module "
                "level, not as lambdas or nested functions, or run it in process"
            ) from None

    def submit(self, fn: Callable[[Any], Any], task: Any) -> None:
        assert self._pool is not None, "submit() outside the executor's with block"
        self._pending.add(self._pool.submit(fn, task))

    def next_result(self) -> Any:
        if not self._done:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            self._done.extend(done)
        return self._done.popleft().result()

    def discard(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending, self._done = set(), deque()


@register_executor("dask")
class Dask(Executor):
    """A dask.distributed cluster given by its scheduler address, or, with
    ``address=None``, a loopback cluster of ``local_workers`` processes that
    this executor starts on entry and stops on exit (``local_dask_cluster``).

    Start workers with ``--nthreads 1`` (one process per core); when the
    client connects, each worker is pinned to single-threaded BLAS and its
    profiler stopped (``NumericalWorkers``).  Workers must be able to import
    the objective's module, and the scheduler powdex (each task reaches it as
    bytes that ``run_pickled``, a powdex function, unpickles on the worker).
    """

    def __init__(self, address: str | None, chunk_size: int = 64, local_workers: int = 2):
        self.address = address
        self.chunk_size = chunk_size
        self.local_workers = local_workers
        # dask's objects, typed loosely: distributed is imported only when the executor starts.
        self._client: Any = None
        self._completed: Any = None
        self._cluster: Any = None
        self.workers = 1

    @classmethod
    def from_options(cls, *, workers: int | None = None, scheduler: str | None = None) -> Dask:
        return cls(scheduler, local_workers=workers or 2)

    def start(self) -> None:
        address = self.address
        if address is None:
            from powdex.optim.cluster import local_dask_cluster

            self._cluster = local_dask_cluster(self.local_workers)
            address = self._cluster.__enter__()
        try:
            from distributed import Client

            from powdex.optim.dask_plugin import NumericalWorkers

            self._client = Client(address, set_as_default=False)
            self._client.register_plugin(NumericalWorkers(), name="powdex-numerical-workers")
        except BaseException:
            if self._cluster is not None:
                self._cluster.__exit__(None, None, None)
                self._cluster = None
            raise
        # Counted once: asking the scheduler before every submission would cost a round trip each.
        self.workers = max(sum(self._client.nthreads().values()), 1)
        self.discard()

    def stop(self, interrupted: bool) -> None:
        self._client.close()
        self._client = None
        self._completed = None
        if self._cluster is not None:
            self._cluster.__exit__(None, None, None)
            self._cluster = None

    @property
    def client(self):
        """The connected ``distributed.Client``, while the executor is open."""
        return self._client

    def submit(self, fn: Callable[[Any], Any], task: Any) -> None:
        import cloudpickle

        # The scheduler unpickles every task graph it is sent.  As bytes, the task is unpickled by its worker
        # alone: the scheduler imports none of its modules (a second of imports before the first task of a
        # series could start) and does not unpickle and pickle again each task's objects.  cloudpickle, as
        # dask would: lambdas and interactively defined functions travel too.  pure=False: tasks are all
        # distinct, so hashing their inputs is wasted work; the key keeps the function's name for dask's
        # dashboard and task stream.
        self._completed.add(self._client.submit(run_pickled, cloudpickle.dumps((fn, task)), pure=False,
                                                key=f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex}"))

    def next_result(self) -> Any:
        return next(self._completed).result()

    def discard(self) -> None:
        from distributed import as_completed

        if self._completed is not None:
            self._completed.clear()
        self._completed = as_completed([], loop=self._client.loop)

