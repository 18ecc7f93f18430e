"""Start-up of powdex: what a user waits for before any work.

Prints one table, each figure the best of ``--repeat`` runs (the least disturbed by other load):
``import powdex`` as ``python -X importtime`` counts it (the cumulative microseconds of the top-level
package), ``powdex --help`` wall time, and ``powdex index examples/silicon.txt`` wall time split into
start-up (``import powdex.cli.main, powdex.cli.index``: the program and the command's module) and the rest
(the work, with the imports it does itself). Targets: import
≤ 0.3 s, ``--help`` ≤ 0.5 s, the silicon pattern ≤ 1.0 s.

    PYTHONPATH=. python3 benchmarks/startup.py [--repeat 5]

The interpreter imports powdex as ``PYTHONPATH`` says (``python -P``: not from the working directory), so
two trees compare by running this with each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def importtime(module: str) -> float:
    """Seconds ``python -X importtime`` reports for ``import module`` (its cumulative time)."""
    run = subprocess.run([sys.executable, "-P", "-X", "importtime", "-c", f"import {module}"], cwd=ROOT, check=True,
                         capture_output=True, text=True)
    for line in run.stderr.splitlines():
        fields = [field.strip() for field in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1e6
    raise RuntimeError(f"python -X importtime did not report {module}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    # -P: the working directory (this repository) is not put first on the import path, so PYTHONPATH decides.
    python = [sys.executable, "-P"]
    measures = {
        "import powdex (importtime)": lambda: importtime("powdex"),
        "import powdex.cli.main (wall)": lambda: wall([*python, "-c", "import powdex.cli.main"]),
        "import powdex.cli.main, powdex.cli.index (wall)": lambda: wall([*python, "-c",
                                                                         "import powdex.cli.main, powdex.cli.index"]),
        "powdex --help (wall)": lambda: wall([*python, "-m", "powdex", "--help"]),
        "powdex index examples/silicon.txt (wall)": lambda: wall([*python, "-m", "powdex", "index",
                                                                  "examples/silicon.txt"]),
    }
    best = {name: min(measure() for _ in range(repeat)) for name, measure in measures.items()}
    best["  of which start-up"] = best["import powdex.cli.main, powdex.cli.index (wall)"]
    best["  of which work"] = best["powdex index examples/silicon.txt (wall)"] - best["  of which start-up"]
    print(f"best of {repeat}, python {sys.version.split()[0]}, powdex from {os.environ.get('PYTHONPATH') or 'site'}")
    print(f"{'measure':45s} {'seconds':>8s}")
    for name, seconds in best.items():
        print(f"{name:45s} {seconds:8.3f}")


if __name__ == "__main__":
    main()
