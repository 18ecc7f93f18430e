"""Entries per second of synthetic generation (pattern + both peak lists + storage) on 1 and all cores.

    python benchmarks/dataset_build.py --entries 2000
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from powdex.training.build import build_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{'processes':>9} {'entries':>8} {'seconds':>8} {'entries/s':>10} {'MB on disk':>11} {'MB / 100k':>10}")
    for workers in sorted({1, cores}):
        folder = Path(tempfile.mkdtemp(prefix="powdex-bench-"))
        try:
            start = time.perf_counter()
            build_synthetic(folder, args.entries, args.seed, workers=workers, chunk_size=250)
            seconds = time.perf_counter() - start
            size = sum(f.stat().st_size for f in folder.rglob("*.parquet")) / 1e6
            print(f"{workers:>9} {args.entries:>8} {seconds:>8.1f} {args.entries / seconds:>10.1f} {size:>11.1f} {size * 1e5 / args.entries:>10.0f}")
        finally:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
