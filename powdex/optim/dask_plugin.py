"""The dask worker plugin, apart from the executors so that dask.distributed
is imported only when a Dask executor starts (a dask plugin must subclass
its WorkerPlugin, and workers unpickle it by this module's name)."""

from distributed import WorkerPlugin

from powdex.optim.resources import limit_to_one_thread

# The worker's periodic callbacks that only observe it: the statistical profiler (a stack sample every
# 10 ms and its cycle) and the event loop's latency probe (every 20 ms).  Each wakes the worker's event
# loop, which then takes the GIL from the thread running the task: 3 % of a task's CPU seconds, measured
# on Rietveld fits; with them stopped, 0.8 %.  The heartbeat and the memory monitor stay.
OBSERVERS = ("profile", "profile-cycle", "tick", "ticks")


class NumericalWorkers(WorkerPlugin):
    """Workers for long numerical tasks: BLAS single-threaded, the observers stopped (their dashboard
    pages stay empty)."""

    def setup(self, worker) -> None:
        limit_to_one_thread()
        for name in OBSERVERS:
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()
