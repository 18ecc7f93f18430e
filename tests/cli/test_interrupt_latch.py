"""InterruptLatch: a Ctrl-C is taken at the driver's safe points, and never lost."""

import os
import signal

import pytest

from powdex.cli.interrupts import InterruptLatch


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    sum(range(1000))  # bytecode, where Python runs the handler


def test_outside_raising_blocks_a_ctrl_c_waits_for_the_next_check():
    with InterruptLatch() as latch:
        ctrl_c()  # e.g. while a result is written or the summary plotted: nothing is broken off
        assert latch.requested
        with pytest.raises(KeyboardInterrupt):
            latch.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_inside_raising_a_ctrl_c_interrupts_at_once():
    with InterruptLatch() as latch, pytest.raises(KeyboardInterrupt):
        with latch.raising():
            ctrl_c()
            pytest.fail("the work went on after the Ctrl-C")


class FreedWhileCtrlC:
    def __del__(self):
        ctrl_c()  # the KeyboardInterrupt raised here is printed as "Exception ignored" and dropped


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed exception, reported
def test_a_ctrl_c_swallowed_by_a_finalizer_still_ends_the_block():
    with InterruptLatch() as latch, pytest.raises(KeyboardInterrupt):
        with latch.raising():
            FreedWhileCtrlC()  # freed at once: the handler runs inside __del__
            reached = True
    assert reached  # the work went on (as without the latch), but the run still stops after it
