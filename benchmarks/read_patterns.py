"""Benchmark of the pattern readers: time to read each real test file, and a
10 000-point pattern written in each text flavour, plus background and peak
search of it (warm: imports and first calls done; median of repeats).

    python3 benchmarks/read_patterns.py --repeats 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from powdex.crystal import Cell
from powdex.patterns import read_pattern
from powdex.patterns.background import estimate_background
from powdex.patterns.formats import format_of
from powdex.patterns.search import search_peaks
from powdex.patterns.simulate import simulate_pattern
from powdex.peaks import PeakInputError

DATA = Path(__file__).parent.parent / "tests" / "data" / "patterns"


def median_seconds(action, repeats: int) -> float:
    action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def text_flavours(folder: Path) -> list[Path]:
    pattern = simulate_pattern(Cell(7.256, 9.451, 10.862, 90, 98.4, 90), two_theta_range=(5.0, 105.0), seed=0).pattern
    x, y, s = pattern.two_theta, pattern.intensity, pattern.sigma
    files = {
        "pattern.xy": ("%.4f %.2f", np.column_stack([x, y]), "wavelength: 1.5406"),
        "pattern.xye": ("%.4f %.2f %.2f", np.column_stack([x, y, s]), "wavelength: 1.5406"),
        "pattern.csv": ("%.3f,%.1f", np.column_stack([np.round(x, 3), y]), ""),
    }
    paths = []
    for name, (fmt, columns, header) in files.items():
        path = folder / name
        np.savetxt(path, columns, fmt=fmt, header=header)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    table = Table(title="Reading patterns (warm, median)")
    for column in ("file", "format", "points", "read (ms)", "background (ms)", "search, background included (ms)", "peaks"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as folder:
        paths = sorted(DATA.glob("*.*"))
        paths = [p for p in paths if p.suffix != ".md"] + text_flavours(Path(folder))
        for path in paths:
            options = {"anode": "Cu"} if path.suffix in (".XRA", ".csv") else {"wavelength": 1.909} if path.suffix == ".CWN" else {}
            pattern = read_pattern(path, **options)
            read = median_seconds(lambda path=path, options=options: read_pattern(path, **options), arguments.repeats)
            background = median_seconds(
                lambda pattern=pattern: estimate_background(pattern.two_theta, pattern.intensity), arguments.repeats)
            try:
                found = search_peaks(pattern)
                search = median_seconds(lambda pattern=pattern: search_peaks(pattern), arguments.repeats)
                peaks = str(len(found))
            except PeakInputError as error:  # the scrambled RAW file holds no peak: say so in the table
                search, peaks = float("nan"), type(error).__name__
            table.add_row(path.name, format_of(path, path.name).name, str(len(pattern)), f"{1e3 * read:.1f}",
                          f"{1e3 * background:.1f}", f"{1e3 * search:.1f}", peaks)
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
