"""One parallel map on the executors, resumable through a ``Journal``.

``parallel_map(fn, items, executor=..., journal=...)`` runs ``fn(item)`` for
every item on the executor and yields ``(item, result)`` as results arrive.
With a journal, each result is recorded (atomically, in the driver) as it
arrives, and items already recorded by an earlier, interrupted call with the
same settings are skipped: ``journal.finished()`` holds their results.  The
executor's workers die with the driver, whatever kills it (``LocalProcesses``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Any

from powdex.optim.executors import Executor, InProcess
from powdex.optim.journal import Journal


def call_indexed(task: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    """Worker side: ``fn(item)``, with the item's position so the driver knows which finished."""
    fn, index, item = task
    return index, fn(item)


def parallel_map(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    executor: Executor | None = None,
    journal: Journal | None = None,
    key: Callable[[Any], str] = str,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    claim: Callable[[Any], bool] | None = None,
) -> Generator[tuple[Any, Any], None, None]:
    """``(item, fn(item))`` for each item not in ``journal``, in order of completion.

    ``fn`` and the items must pickle for a process executor (module-level
    functions); with a journal, results must be JSON values and ``key(item)``
    names an item across runs.  After ``time_limit`` seconds no item is
    started (those running finish).  ``progress(done, total)`` is called once
    with the items the journal already holds and after each result.  An
    exception of ``fn`` reaches the caller, with the results before it
    recorded; so does Ctrl-C, which stops process workers at once.
    ``claim(item)`` is asked in the driver just before an item is handed out,
    and False leaves it out (another process holds it, say): taken as late as
    that, a claim is held only while its item is running or about to.
    """
    started = time.perf_counter()
    items = list(items)
    finished = journal.finished() if journal is not None else {}
    todo = deque((index, item) for index, item in enumerate(items) if key(item) not in finished)
    done = len(items) - len(todo)
    if progress is not None:
        progress(done, len(items))
    executor = executor or InProcess()
    if todo:
        executor.check_sendable((fn, *todo[0]))
    with executor:
        try:
            in_flight = 0
            while todo or in_flight:
                if time_limit is not None and time.perf_counter() - started >= time_limit:
                    todo.clear()
                while todo and in_flight < 2 * executor.workers:
                    index, item = todo.popleft()
                    if claim is not None and not claim(item):
                        continue
                    executor.submit(call_indexed, (fn, index, item))
                    in_flight += 1
                if not in_flight:
                    break
                index, result = executor.next_result()
                in_flight -= 1
                if journal is not None:
                    journal.record(key(items[index]), result)
                done += 1
                if progress is not None:
                    progress(done, len(items))
                yield items[index], result
        finally:
            executor.discard()
