"""``python -P -m powdex.optim.dask_process scheduler|worker ...``: the ``dask``
command, run by ``local_dask_cluster`` for a process that belongs to the
driver.

``-P`` keeps the working directory off the import path until powdex is
imported (a folder named ``powdex`` there would shadow an editable install);
it is appended afterwards, from ``POWDEX_DRIVER_DIRECTORY``, so that workers
import the user's objective modules as the driver does.  The process exits
when the driver dies, however it died: ``POWDEX_DRIVER_FD`` is the read end
of a pipe only the driver writes to (see ``exit_with_driver``).
"""

import os
import sys
from multiprocessing.connection import Connection

# Importing powdex (any of its modules) before the driver's directory joins sys.path fixes where all its
# modules come from; those a task needs are imported when the first such task is unpickled.
from powdex.optim.executors import exit_with_driver


def main() -> None:
    exit_with_driver(Connection(int(os.environ["POWDEX_DRIVER_FD"]), writable=False))
    directory = os.environ.get("POWDEX_DRIVER_DIRECTORY")
    if directory and directory not in sys.path:
        sys.path.append(directory)
    from dask.cli import run_cli

    sys.argv[0] = "dask"
    run_cli()


if __name__ == "__main__":
    main()
