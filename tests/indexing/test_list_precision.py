"""A peak list more precise than the scoring assumes is scored again at its own precision."""

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing import IndexingConfig, index
from powdex.peaks import PeakList

# Bethanechol chloride (P2₁/n) and two of its lists in Bergmann, Le Bail, Shirley & Zlokazov (2004),
# Z. Kristallogr. 219, 783, Table 6: set F, synchrotron (NSLS X3, λ 0.6995 Å), on which the published cell was
# refined (M20 197, F20 1080(0.0006, 32)); set E, a laboratory list (λ 1.54056 Å).
BETHANECHOL = Cell(8.875, 16.408, 7.137, 90, 93.84, 90)
SET_F = [4.887, 6.139, 6.664, 6.989, 7.403, 7.460, 7.850, 8.531, 8.921, 9.062, 9.251, 9.386, 9.781, 10.136, 10.300,
         10.468, 10.634, 10.783, 11.280, 11.450]
SET_E = [10.765, 13.522, 14.690, 15.398, 16.336, 16.453, 17.312, 18.828, 19.699, 20.031, 20.752, 21.641, 22.414,
         22.788, 23.152, 23.528, 23.872, 24.970, 25.365, 25.549]


def test_a_synchrotron_list_is_polished_and_scored_at_its_own_precision():
    """At the laboratory's 0.02° and 0.06° resolution the list's neighbouring reflections were averaged into lines:
    M20 21 and a cell 5·10⁻⁴ off in c. At the list's own precision the figures are the published ones' order."""
    peaks = PeakList.from_values(np.array(SET_F), units="2theta", wavelength=0.6995, source="bethanechol F")
    result = index(peaks, config=IndexingConfig(time_limit=30))
    best = result.best
    assert best.bravais is BravaisLattice.mP and same_lattice(best.cell, BETHANECHOL, rtol=5e-4)
    assert best.figures.n_unindexed == 0
    assert best.figures.m > 100 and best.figures.mean_abs_dtt < 0.0015
    assert any("polished and scored again at that precision" in note for note in result.notes)


def test_a_laboratory_list_keeps_the_default_precision():
    peaks = PeakList.from_values(np.array(SET_E), units="2theta", wavelength=1.54056, source="bethanechol E")
    result = index(peaks, config=IndexingConfig(time_limit=30))
    assert same_lattice(result.best.cell, BETHANECHOL, rtol=3e-3)
    assert not any("at that precision" in note for note in result.notes)


@pytest.mark.parametrize("noise", [0.001, 0.015])
def test_the_precision_step_needs_a_list_four_times_more_precise_than_assumed(noise):
    from powdex.indexing import PeakListFaults, synthetic_peaks

    cell = Cell(5.12, 6.34, 7.71)
    peaks = synthetic_peaks(cell, BravaisLattice.oP, 20, PeakListFaults(two_theta_noise=noise),
                            np.random.default_rng(3))
    result = index(peaks, config=IndexingConfig(time_limit=30))
    assert same_lattice(result.best.cell, cell, rtol=1e-3)
    rescored = any("at that precision" in note for note in result.notes)
    assert rescored == (noise < 0.005)


def test_a_synchrotron_list_searched_with_a_zero_shift_finds_the_published_cell():
    """At a laboratory's 0.02° and ±0.25° the zero-shift search let false cells fit set F's lines at 4.9–11.5° (a 43 Å
    hR cell after 60 s); scaled to λ 0.6995 Å (0.009°, ±0.11°) the published cell comes first."""
    peaks = PeakList.from_values(np.array(SET_F), units="2theta", wavelength=0.6995, source="bethanechol F")
    result = index(peaks, config=IndexingConfig(time_limit=30, zero_shift=True))
    best = result.best
    assert best.bravais is BravaisLattice.mP and same_lattice(best.cell, BETHANECHOL, rtol=5e-4)
    assert abs(best.zero_shift) < 0.005
    assert any("no X-ray tube's" in note and "0.454" in note for note in result.notes)


@pytest.mark.parametrize(("wavelength", "units", "fwhm", "scale"), [
    (0.6995, "2theta", None, 0.6995 / 1.5406),  # a synchrotron's
    (0.1665, "2theta", None, 0.25),  # a high-energy beamline's: no finer than 0.005°
    (0.71, "2theta", None, 1.0),  # Mo Kα, rounded: a laboratory's
    (1.5418, "2theta", None, 1.0),  # Cu Kα mean
    (1.909, "2theta", None, 1.0),  # a neutron wavelength, longer than Cu Kα1: no finer than a laboratory's
    (None, "d", None, 1.0),  # d-spacings without a wavelength: the errors' scale is stated, no source
    (0.4136, "2theta", 0.008, 1.0),  # a measured pattern's widths set its own precision
])
def test_the_laboratory_errors_are_scaled_only_for_a_list_at_a_synchrotron_wavelength(wavelength, units, fwhm, scale):
    from dataclasses import replace

    from powdex.indexing.observations import Observations
    from powdex.indexing.search import laboratory_error_scale

    values = np.array([3.2, 2.8, 2.1, 1.9, 1.6]) if units == "d" else np.array([8.1, 9.4, 11.2, 13.7, 15.0])
    peaks = PeakList.from_values(values, units=units, wavelength=wavelength)
    if fwhm is not None:
        peaks = replace(peaks, fwhm=np.full(values.size, fwhm))
    assert laboratory_error_scale(peaks, Observations.from_peaks(peaks)) == pytest.approx(scale)
