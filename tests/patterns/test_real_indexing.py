"""Indexing real measured files from the raw pattern: the published cell comes first."""

from dataclasses import replace

import numpy as np
import pytest

import powdex
from powdex.crystal import Cell, conventional_cell, niggli_reduce, same_lattice
from powdex.indexing import IndexingConfig
from powdex.indexing.candidate import ScoringModel
from powdex.indexing.search import IndexingSearch
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


def _polished(search, cell, centring, tolerance):
    return search.polished_cell(conventional_cell(niggli_reduce(cell, centring).cell, "P", length_tolerance=tolerance))


def test_sharp_synchrotron_lines_tell_monoclinic_jadarite_from_its_orthorhombic_description(data):
    # Jadarite (APS 11-BM, λ = 0.413529 Å), P2₁/c: metrically close to a C-centred orthorhombic cell of twice the
    # volume. Its picks are 0.009° wide; at the laboratory defaults (reflections within 0.06° are one line) both
    # descriptions index every pick, M20 9 against 7.  Scored at the picks' own widths, or without them at the
    # laboratory's errors scaled to the wavelength (λ / λ(Cu Kα1) = 0.27), the true cell's M20 passes 100 and the
    # orthorhombic description no longer indexes the picks.
    peaks = read_peak_input(data / "jadarite_11bmb_6231_to12deg.fxye", wavelength=0.413529)
    assert peaks.fwhm is not None and np.median(peaks.fwhm) < 0.012
    published = Cell(6.763493, 13.803014, 7.689354, 90, 124.0869, 90)
    lab = IndexingSearch(replace(peaks, fwhm=None), IndexingConfig(zero_shift=True))
    lab._use_model(ScoringModel())  # the laboratory's 0.02° and 0.06°, unscaled
    scaled = IndexingSearch(replace(peaks, fwhm=None), IndexingConfig(zero_shift=True))
    sharp = IndexingSearch(peaks, IndexingConfig(zero_shift=True))
    assert sharp.model.resolution < 0.02 and scaled.model.resolution < 0.02
    for search in (lab, scaled, sharp):
        true = _polished(search, published, "P", 1e-3)
        assert true.bravais.value == "mP" and true.figures.n_unindexed == 0
    pseudo_lab = _polished(lab, published, "P", 1e-2)
    assert pseudo_lab.bravais.value == "oC" and pseudo_lab.figures.n_unindexed == 0
    assert _polished(lab, published, "P", 1e-3).figures.m < 10
    for search in (scaled, sharp):
        true = _polished(search, published, "P", 1e-3)
        assert true.figures.m > 100
        pseudo = _polished(search, published, "P", 1e-2)
        assert pseudo is None or pseudo.score < true.score - 20


def test_the_orthorhombic_description_of_jadarite_leads_to_its_monoclinic_cell(data):
    # The search finds jadarite's pseudo-orthorhombic oC description first; at the picks' widths it leaves lines,
    # and a local search around its least distortions (its monoclinic descriptions) reaches the true P2₁/c lattice.
    peaks = read_peak_input(data / "jadarite_11bmb_6231_to12deg.fxye", wavelength=0.413529)
    published = Cell(6.763493, 13.803014, 7.689354, 90, 124.0869, 90)
    search = IndexingSearch(peaks, IndexingConfig(zero_shift=True))
    pseudo = search.polished_cell(conventional_cell(Cell(7.6795, 11.1743, 13.7947), "C"))
    assert pseudo.bravais.value == "oC" and pseudo.figures.n_unindexed >= 3
    found = max(search.competing_distortions(pseudo), key=lambda c: c.score)
    assert found.bravais.value == "mP" and same_lattice(found.cell, published, "P", "P", rtol=2e-3)
    assert found.figures.n_unindexed == 0 and found.figures.m > 100 and found.score > pseudo.score + 40


def test_a_pseudo_centred_cell_lists_the_true_primitive_cell_beside_it(data):
    # A gold(I) isocyanide complex, P2₁/c: the gold atoms near x = 0, z = 0 fake an A-centring. The C-centred
    # cell on the same axes (half the volume) leaves two of the 20 picks and outscores the true cell, whose
    # forbidden-by-centring reflections are weak; dropping the centring indexes both and lists the true cell second,
    # for a whole-pattern fit to decide.
    peaks = read_peak_input(data / "COD_1518592_AuY.cif")
    published = Cell(7.79058, 18.7202, 6.74157, 90, 103.1674, 90)
    search = IndexingSearch(peaks, IndexingConfig(zero_shift=True))
    centred = _polished(search, Cell(6.737, 18.700, 7.785, 90, 103.10, 90), "C", 2e-3)
    assert centred.bravais.centring == "C" and centred.figures.n_unindexed == 2
    primitive = search.decentred(centred)
    assert primitive.bravais.centring == "P" and primitive.figures.n_unindexed == 0
    assert same_lattice(primitive.cell, published, "P", "P", rtol=5e-3)
    assert primitive.score < centred.score
    assert search.decentred_second([centred]) == [centred, primitive]
