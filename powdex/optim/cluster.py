"""A real dask.distributed cluster on the loopback interface: one ``dask
scheduler`` and N ``dask worker`` processes, for tests, benchmarks and
trying the distributed path on one machine.  Across machines, start the same
commands on each host and give the scheduler address to ``Dask``.

The scheduler and the workers start at once (the workers find the scheduler's
address in its scheduler file when it is written), and this process imports
dask.distributed meanwhile: each of them spends a second or more importing,
which one after another would double the cluster's start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from powdex.optim.resources import THREAD_VARIABLES


def _dask(*args: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    # The ``dask`` command of this very interpreter, in a process that dies with the driver.
    with open(log, "wb") as handle:
        return subprocess.Popen([sys.executable, "-P", "-m", "powdex.optim.dask_process", *args],
                                stdout=handle, stderr=subprocess.STDOUT, env=env,
                                pass_fds=(int(env["POWDEX_DRIVER_FD"]),))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def local_dask_cluster(workers: int = 2, timeout: float = 60.0) -> Iterator[str]:
    """Start the cluster, yield its scheduler address, and tear it down."""
    with tempfile.TemporaryDirectory(prefix="powdex-dask-") as name:
        folder = Path(name)
        scheduler_file = folder / "scheduler.json"
        # Only this process holds the write end: the cluster's processes see the
        # pipe close, and exit, when the driver dies (powdex.optim.dask_process).
        watched, driver_end = os.pipe()
        env = {**os.environ, **{name: "1" for name in THREAD_VARIABLES},
               "POWDEX_DRIVER_DIRECTORY": os.getcwd(), "POWDEX_DRIVER_FD": str(watched)}
        processes = [_dask(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(scheduler_file), log=folder / "scheduler.log", env=env,
        )]
        try:
            processes += [_dask(
                "worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1", "--nthreads", "1",
                "--no-nanny", "--no-dashboard", "--name", f"powdex-{i}", "--local-directory", str(folder),
                log=folder / f"worker-{i}.log", env=env,
            ) for i in range(workers)]
            from distributed import Client

            deadline = time.monotonic() + timeout
            address = None
            while address is None:
                if processes[0].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dask scheduler did not start: {(folder / 'scheduler.log').read_text()[-2000:]}")
                time.sleep(0.05)
                try:
                    address = json.loads(scheduler_file.read_text())["address"]
                except (OSError, ValueError, KeyError):  # not written yet, or half written
                    pass
            with Client(address, timeout=timeout) as client:
                client.wait_for_workers(workers, timeout=max(deadline - time.monotonic(), 1.0))
            yield address
        finally:
            for process in reversed(processes):
                _stop(process)
            os.close(watched)
            os.close(driver_end)
