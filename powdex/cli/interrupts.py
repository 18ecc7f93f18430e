"""Ctrl-C in a long series: taken at points where stopping is safe.

Python raises KeyboardInterrupt wherever the main thread happens to be. Two
places lose it or corrupt the cleanup that follows: a finalizer or weakref
callback (matplotlib frees many while it draws) reports the exception as
"Exception ignored" and carries on, so the run goes on to the end; and a
drawing broken off half way can leave matplotlib's state inconsistent for
the summary plot drawn on the way out. ``InterruptLatch`` turns SIGINT into a
flag that the driver checks between its steps (``check``), and raises at
once only inside ``raising()``, around work whose partial state is thrown
away; should a raise there be swallowed, the flag still ends the run at the
next check.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class InterruptLatch:
    """SIGINT handler for the main thread while the ``with`` block runs (see the module docstring)."""

    def __init__(self) -> None:
        self.requested = False
        self._raising = False
        self._previous: Any = None

    def __enter__(self) -> InterruptLatch:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        if self._raising:
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if a Ctrl-C came since the latch was set."""
        if self.requested:
            raise KeyboardInterrupt

    @contextmanager
    def raising(self) -> Iterator[None]:
        """A block that a Ctrl-C interrupts at once."""
        self.check()
        self._raising = True
        try:
            yield
        finally:
            self._raising = False
        self.check()
