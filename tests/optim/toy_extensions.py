"""A minimizer and an executor from outside powdex: each is one class plus one registry line."""

from typing import Literal

import numpy as np
from pydantic import PositiveFloat, PositiveInt

from powdex.optim import (
    Executor,
    Iterate,
    Minimizer,
    SearchEnd,
    register_executor,
    register_minimizer,
)


class CompassSearch(Minimizer):
    """Compass (pattern) search: try ±step along each axis, move to the best, halve the step when none is better."""

    kind: Literal["compass"] = "compass"
    step: PositiveFloat = 0.25
    min_step: PositiveFloat = 1e-7
    max_iter: PositiveInt = 10_000

    def search(self, tracker, start, seed):
        bounds = tracker.objective.bounds
        x, f, step = start, tracker.value(start), self.step
        for _ in range(self.max_iter):
            if step < self.min_step:
                break
            trials = [np.clip(x + sign * step * axis, bounds.lower, bounds.upper)
                      for axis in np.eye(x.size) for sign in (1.0, -1.0)]
            values = [tracker.value(trial) for trial in trials]
            best = int(np.argmin(values))
            if values[best] < f:
                x, f = trials[best], values[best]
                tracker.iterate(Iterate(x, f))
            else:
                step /= 2
        return SearchEnd(x, f, None, 0, bool(np.isfinite(f)), f"step {step:.3g}")


class Threads(Executor):
    """Tasks on a thread pool of this process."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or 2
        self._pool = None
        self._futures = []

    @classmethod
    def from_options(cls, *, workers=None, scheduler=None):
        return cls(workers)

    def start(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(self.workers)

    def stop(self, interrupted):
        self._pool.shutdown(cancel_futures=True)

    def submit(self, fn, task):
        self._futures.append(self._pool.submit(fn, task))

    def next_result(self):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(self._futures, return_when=FIRST_COMPLETED)
        future = next(iter(done))
        self._futures.remove(future)
        return future.result()

    def discard(self):
        for future in self._futures:
            future.cancel()
        self._futures = []


register_minimizer(CompassSearch)
register_executor("threads")(Threads)
