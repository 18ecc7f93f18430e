"""Indexing real measured files from the raw pattern: the published cell comes first."""

import pytest

import powdex
from powdex.crystal import Cell, same_lattice
from powdex.patterns import read_peak_input


@pytest.mark.slow
@pytest.mark.parametrize(("name", "wavelength", "cell", "centring"), [
    # CuCr2O4 at 288.7 K (APS 11-BM), with CuO lines: the tetragonal spinel cell.
    ("OH_53.fxye", 0.413263, Cell(6.03, 6.03, 7.78), "I"),
    # Zincite from a Bruker RAW v2 file, Cu Kα1 + Kα2 as the file states them.
    ("pyxrd_brk_raw2.raw", None, Cell(3.2498, 3.2498, 5.2066, 90, 90, 120), "P"),
])
def test_published_cell_first(data, name, wavelength, cell, centring):
    peaks = read_peak_input(data / name, wavelength=wavelength)
    result = powdex.index(peaks, config=powdex.IndexingConfig(time_limit=30))
    best = result.candidates[0]
    assert same_lattice(best.cell, cell, best.bravais.centring, centring, rtol=5e-3)
