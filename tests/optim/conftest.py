import pytest

from powdex.optim.cluster import local_dask_cluster


@pytest.fixture(scope="module")
def dask_scheduler():
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    with local_dask_cluster(workers=2) as address:
        yield address
