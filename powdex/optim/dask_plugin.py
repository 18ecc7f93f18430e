"""The dask worker plugin, apart from the executors so that dask.distributed
is imported only when a Dask executor starts (a dask plugin must subclass
its WorkerPlugin, and workers unpickle it by this module's name)."""

from distributed import WorkerPlugin

from powdex.optim.resources import limit_to_one_thread


class SingleThreadedWorkers(WorkerPlugin):
    def setup(self, worker) -> None:
        limit_to_one_thread()
