"""This machine's resources as workers see them: cores, BLAS threads and
memory.  The lowest layer of the executors, which the dask worker plugin
imports too (apart from the executors, so that neither imports the other)."""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def limit_to_one_thread() -> None:
    """Pin BLAS/OpenMP pools of this process to one thread: the environment
    for libraries loaded later, threadpoolctl for those already loaded."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    threadpool_limits(limits=1)


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity where the system has
    one (a batch slot or ``taskset`` often grants fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_memory() -> int:
    """Bytes this machine can still hand out: ``MemAvailable`` from
    /proc/meminfo (free memory plus the caches the kernel can drop), or the
    physical memory where there is no such file."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def format_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000:
            return f"{count:.3g} {unit}"
        count /= 1000
    return f"{count:.3g} TB"
