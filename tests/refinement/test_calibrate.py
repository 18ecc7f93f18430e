"""Calibration on a synthetic standard of known instrument: the instrument comes back."""

import numpy as np
import pytest

from powdex.instrument import Instrument
from powdex.refinement.calibrate import STANDARDS, calibrate
from powdex.refinement.errors import RefinementError
from powdex.refinement.synthetic import synthetic_pattern

TRUE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.02, "H/L": 0.01, "zero": 0.02,
        "displacement": -0.03}


@pytest.fixture(scope="module")
def lab6_calibration():
    standard = STANDARDS["LaB6"]
    pattern, _, _ = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(15.0, 120.0, 0.02),
                                      seed=1, profile=TRUE, peak_area=20000.0)
    return calibrate(pattern, "LaB6", polarisation=0.95)


def test_calibration_recovers_the_instrument(lab6_calibration):
    instrument = lab6_calibration.instrument
    assert isinstance(instrument, Instrument)
    for name in ("U", "V", "W", "X", "Y"):
        assert getattr(instrument, name) == pytest.approx(TRUE[name], rel=0.03, abs=2e-4), name
    assert instrument.zero == pytest.approx(0.02, abs=2e-3)
    assert instrument.displacement == pytest.approx(-0.03, abs=3e-3)
    assert instrument.S_L + instrument.H_L == pytest.approx(0.03, rel=0.05)
    assert instrument.polarisation == 0.95 and instrument.ratio == 0.5
    # GSAS-II's constant Lorentzian Z is not refined unless asked: it stays 0, and the instrument writes exactly
    # to GSAS .prm and FullProf .irf, which have no such term.
    assert instrument.Z == 0.0 and "Z" not in {p.name for p in lab6_calibration.refinement.parameters}
    assert lab6_calibration.refinement.statistics.reduced_chi2 < 1.05
    # The certified cell is held.
    assert lab6_calibration.refinement.cell.a == pytest.approx(4.156826, abs=1e-9)


def test_residual_width_per_peak_is_zero_for_the_right_profile(lab6_calibration):
    widths = lab6_calibration.peak_widths
    assert len(widths) >= 10
    assert lab6_calibration.worst_width_residual < 0.01
    assert all(abs(w.residual) < 4 * w.residual_esd + 2e-3 for w in widths)


def test_a_constant_lorentzian_is_refined_on_request():
    """A Si scan over an instrument with GSAS-II's Z = 0.02° besides X and Y: asked to, the calibration
    refines Z and finds it, with an s.u., and the instrument's Lorentzian widths are the true ones."""
    standard = STANDARDS["Si"]
    truth = dict(TRUE, Z=0.02)
    pattern, _, _ = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(20.0, 140.0, 0.02),
                                      seed=4, profile=truth, peak_area=20000.0)
    calibration = calibrate(pattern, "Si", refine_constant_lorentzian=True)
    z = calibration.refinement.parameter("Z")
    assert z.refined and z.esd is not None and z.value == calibration.instrument.Z
    assert calibration.instrument.Z == pytest.approx(0.02, abs=max(3 * z.esd, 2e-3))
    at = np.array([30.0, 60.0, 90.0, 120.0])
    expected = Instrument(wavelengths=(1.54,), **{k: truth[k] for k in ("U", "V", "W", "X", "Y", "Z")})
    assert calibration.instrument.lorentzian_fwhm(at) == pytest.approx(expected.lorentzian_fwhm(at), rel=0.03)


@pytest.mark.parametrize("k_beta", [0.01, 0.03])
def test_the_tubes_kbeta_is_measured_and_then_fitted(k_beta):
    """A β-filtered tube's Kβ replicas on a synthetic Si scan: the first fit leaves them out and the ratio comes
    back from its residual, within 5 %, into the instrument; the standard is fitted again with them, and the
    profile is the true one (left in the residual, 3 % of each line made W 14 % and a line's width 13 % too
    wide, at a reduced χ² of 750)."""
    standard = STANDARDS["Si"]
    pattern, _, _ = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(20.0, 120.0, 0.02),
                                      seed=6, profile=TRUE, peak_area=20000.0, k_beta=k_beta)
    calibration = calibrate(pattern, "Si")
    assert calibration.instrument.k_beta_ratio == pytest.approx(k_beta, rel=0.05)
    assert 0 < calibration.k_beta_ratio_esd < 0.001
    assert any(note.startswith(f"Kβ/Kα1 ratio {calibration.k_beta_ratio:.4f}(") for note in calibration.instrument.notes)
    assert calibration.refinement.k_beta[1] == calibration.k_beta_ratio
    assert calibration.refinement.statistics.reduced_chi2 < 1.05
    for name in ("U", "V", "W", "X", "Y"):
        assert getattr(calibration.instrument, name) == pytest.approx(TRUE[name], rel=0.03, abs=2e-4), name
    assert calibration.worst_width_residual < 0.01
    assert any(note.startswith("fitted with every line's Kβ replica") for note in calibration.instrument.notes)


def test_no_kbeta_measured_where_the_scan_has_none(lab6_calibration):
    """The synthetic LaB6 scan has no Kβ: its ratio is within 3 s.u. of 0, and the instrument then says nothing of
    Kβ (the peak search looks for it in each pattern)."""
    assert abs(lab6_calibration.k_beta_ratio) < 3 * lab6_calibration.k_beta_ratio_esd
    assert lab6_calibration.instrument.k_beta_ratio is None
    assert any(note.startswith("no Kβ seen") for note in lab6_calibration.instrument.notes)


def test_unknown_standard_and_geometry_raise():
    pattern, _, _ = synthetic_pattern(STANDARDS["Si"].cell, "Fd-3m", two_theta=np.arange(20.0, 60.0, 0.02), seed=0)
    with pytest.raises(RefinementError, match="unknown 'NaCl'"):
        calibrate(pattern, "NaCl")
    with pytest.raises(RefinementError, match="geometry"):
        calibrate(pattern, "Si", geometry="transmission")


def test_standards_carry_the_certified_cells():
    assert STANDARDS["Si"].cell.a == 5.431179 and STANDARDS["CeO2"].cell.a == 5.411651
    assert (STANDARDS["Al2O3"].cell.a, STANDARDS["Al2O3"].cell.c) == (4.759138, 12.99244)


def test_real_lab6_scan_of_the_gsas_ii_tutorial():
    """The Bruker LaB6 scan of the GSAS-II instrument-calibration tutorial, fitted over 20–70° as there."""
    from pathlib import Path

    from powdex.patterns import read_pattern

    path = Path(__file__).parents[1] / "data" / "instrument" / "LaB6_Jan2018.raw"
    calibration = calibrate(read_pattern(path, anode="Cu"), "LaB6", two_theta_range=(20.0, 70.1))
    assert calibration.refinement.statistics.rwp < 0.06
    residuals = np.array([abs(p.residual) for p in calibration.peak_widths])
    assert residuals.size == 8  # every LaB6 line from (100) to (300) is isolated
    # Each line's own pseudo-Voigt FWHM within 5 % of the calibrated profile's across 21–68°.
    assert np.median(residuals) < 0.02 and residuals.max() < 0.05
    # A lab instrument's FWHM at 21–68°: 0.07–0.08°.
    assert all(0.06 < p.fwhm < 0.09 for p in calibration.peak_widths)
    # The Bruker tube's β filter leaves a Kβ of a few tenths of a per cent: its replicas of (100), (110) and
    # (111) stand about 5–12 σ above the residual beside them.
    assert 0.002 < calibration.instrument.k_beta_ratio < 0.006
    assert calibration.k_beta_ratio > 5 * calibration.k_beta_ratio_esd
    # The Caglioti width bends down (U < 0) and ends above the scan; the instrument says where.
    assert calibration.instrument.U < 0
    assert any("reaches zero at 2θ" in note for note in calibration.instrument.notes)
    # Held by a later fit as it is (a free fit's bound U ≥ 0 does not clip it), the instrument fits its own scan.
    from powdex.refinement.api import refine

    held = refine(read_pattern(path, anode="Cu"), STANDARDS["LaB6"].cell, "Pm-3m", two_theta_range=(20.0, 70.1),
                  instrument=calibration.instrument)
    assert held.parameter("U").value == calibration.instrument.U
    assert held.statistics.rwp < calibration.refinement.statistics.rwp * 1.01
    # Picked with the instrument and corrected for its shifts, the peaks lie on the certified lines: the apexes
    # of the asymmetric low-angle lines are moved to their reflection positions (they lay 0.014° below at 21°).
    from powdex.instrument import corrected_two_theta
    from powdex.patterns import search_peaks

    picks = corrected_two_theta(calibration.instrument, search_peaks(read_pattern(path, anode="Cu"),
                                                                     instrument=calibration.instrument).two_theta)
    a = STANDARDS["LaB6"].cell.a
    certified = np.degrees(2 * np.arcsin(1.5406 * np.sqrt([1, 2, 3, 4, 5, 6, 8, 9]) / (2 * a)))
    assert np.abs(picks[np.abs(picks[:, None] - certified).argmin(axis=0)] - certified).max() < 0.003


def test_kalpha2_ratio_refined_from_a_wrong_start():
    from dataclasses import replace

    standard = STANDARDS["Si"]
    pattern, _, _ = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(25.0, 100.0, 0.02),
                                      seed=5, profile=TRUE, peak_area=20000.0, ratio=0.5)
    calibration = calibrate(replace(pattern, ratio=0.45), "Si", refine_ratio=True)
    assert calibration.instrument.ratio == pytest.approx(0.5, abs=max(3 * calibration.ratio_esd, 0.005))
    assert 0 < calibration.ratio_esd < 0.02


def test_parameter_bounds_name_global_parameters_only():
    from powdex.refinement.api import refine

    standard = STANDARDS["Si"]
    pattern, _, _ = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(25.0, 60.0, 0.02),
                                      seed=0)
    with pytest.raises(RefinementError, match="parameter_bounds: unknown parameters U2"):
        refine(pattern, standard.cell, standard.space_group, parameter_bounds={"U2": (-1.0, 1.0)})
