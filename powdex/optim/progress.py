"""Progress reporting for ensembles: a rich bar with runs done, best value and
rate, and a line for every new best.  (Status lines every ``output_interval``
iterations come from the local runs themselves: see ``run_ensemble``.)"""

from __future__ import annotations

import time
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from powdex.optim.result import LocalResult, format_point


class ProgressReporter(Protocol):
    """What ``run_ensemble`` reports to: any object with these three methods."""

    def start(self, total: int, done: int) -> None: ...

    def update(self, result: LocalResult, best: LocalResult | None, new_best: bool) -> None: ...

    def finish(self) -> None: ...


class RichProgress:
    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None

    def start(self, total: int, done: int) -> None:
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"), TextColumn("{task.fields[rate]} runs/s"),
            TimeElapsedColumn(), console=self.console,
        )
        self._task = self._bar.add_task("local runs", total=total, completed=done, best="-", rate="-")
        self._started, self._executed = time.perf_counter(), 0
        self._bar.start()
        if done:
            self.console.log(f"resuming: {done} of {total} runs already stored")

    def update(self, result: LocalResult, best: LocalResult | None, new_best: bool) -> None:
        self._executed += 1
        rate = self._executed / max(time.perf_counter() - self._started, 1e-9)
        best_text = "-" if best is None else f"{best.value:.6g}"
        assert self._bar is not None, "update() before start()"
        self._bar.update(self._task, advance=1, best=best_text, rate=f"{rate:.1f}")
        if new_best and best is not None:
            self.console.log(f"new best {best.value:.10g} at run {best.run_index}: x = {format_point(best.x)}")

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
