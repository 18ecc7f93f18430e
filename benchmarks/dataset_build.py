"""Synthetic generation rate (pattern + both peak lists + storage) on one worker and on every available core.

    python benchmarks/dataset_build.py --entries 2000 [--system-shares natural] [--workers 1 2]

One row per worker count: entries/s, bytes on disk per 100,000 entries and the entries per lattice system.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from powdex.crystal import LatticeSystem
from powdex.optim.executors import available_cores
from powdex.training.build import build_synthetic
from powdex.training.spacegroups import system_shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--system-shares", default="natural")
    parser.add_argument("--workers", type=int, nargs="+", help="worker counts to time (default: 1 and all available cores)")
    args = parser.parse_args()
    shares = system_shares(args.system_shares)
    header = f"{'workers':>7} {'entries':>8} {'seconds':>8} {'entries/s':>10} {'MB / 100k':>10}  " + " ".join(f"{s.value[:5]:>6}" for s in LatticeSystem)
    print(f"system shares: {args.system_shares}")
    print(header)
    for workers in args.workers or sorted({1, available_cores()}):
        folder = Path(tempfile.mkdtemp(prefix="powdex-bench-"))
        try:
            start = time.perf_counter()
            counts = build_synthetic(folder, args.entries, args.seed, shares, workers=workers, chunk_size=250)
            seconds = time.perf_counter() - start
            size = sum(f.stat().st_size for f in folder.rglob("*.parquet"))
            per_system = " ".join(f"{counts.get(s.value, 0):>6}" for s in LatticeSystem)
            print(f"{workers:>7} {args.entries:>8} {seconds:>8.1f} {args.entries / seconds:>10.1f} {size / args.entries * 1e5 / 1e6:>10.0f}  {per_system}")
        finally:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
