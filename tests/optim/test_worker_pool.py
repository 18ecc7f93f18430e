"""WorkerPool.terminate: the pool stops at once, even where a killed worker left half a result behind."""

import os
import struct
import sys
import time

from powdex.optim.executors import WorkerPool


def write_half_a_result(flag: str) -> None:
    """Announce a 1000-byte result on the pool's result pipe, send none of it, and hang: what a worker killed
    in the middle of sending its result leaves."""
    frame = sys._getframe()
    while "result_queue" not in frame.f_locals:  # the worker loop that called this task holds the queue
        frame = frame.f_back
    os.write(frame.f_locals["result_queue"]._writer.fileno(), struct.pack("!i", 1000))
    open(flag, "w").close()
    time.sleep(600)


def test_terminate_stops_the_manager_thread_a_half_written_result_would_hold(tmp_path):
    flag = tmp_path / "header-written"
    pool = WorkerPool(1)
    pool.submit(write_half_a_result, str(flag))
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert time.monotonic() < deadline, "the task never ran"
        time.sleep(0.02)
    time.sleep(0.2)  # the manager thread is now reading the announced 1000 bytes
    manager = pool._executor_manager_thread
    pool.terminate()
    # The interpreter joins this thread at exit: were it left waiting, the process would never end.
    manager.join(timeout=10)
    assert not manager.is_alive()
