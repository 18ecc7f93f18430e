import pytest

from powdex.optim.cluster import local_dask_cluster


@pytest.fixture(scope="module")
def dask_scheduler():
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    with local_dask_cluster(workers=2) as address:
        yield address


@pytest.fixture(scope="module")
def postgresql_url():
    """A throw-away PostgreSQL server on 127.0.0.1, where the server binaries
    and a Python driver are installed; skipped elsewhere."""
    import os
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile

    pytest.importorskip("psycopg")
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL server binaries not installed")
    # Not under pytest's tmp_path: the 'postgres' user cannot enter root's folder there.
    folder = tempfile.mkdtemp(prefix="powdex-postgres-")
    prefix = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' user")
        shutil.chown(folder, "postgres")
        prefix = ["su", "postgres", "-s", "/bin/sh", "-c"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def run(command):
        subprocess.run([*prefix, command] if prefix else ["/bin/sh", "-c", command], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    started = False
    try:
        run(f"initdb -D {folder}/data -A trust -U powdex")
        run(f"pg_ctl -D {folder}/data -o '-k {folder} -h 127.0.0.1 -p {port}' -l {folder}/log -w start")
        started = True
        yield f"postgresql+psycopg://powdex@127.0.0.1:{port}/postgres"
    finally:
        if started:
            run(f"pg_ctl -D {folder}/data -m fast stop")
        shutil.rmtree(folder, ignore_errors=True)
