"""Size and strain over a known instrument, and the check that a wrong instrument is caught."""

import math

import numpy as np
import pytest

from powdex.crystal import Cell
from powdex.instrument import Instrument
from powdex.refinement.broadening import SCHERRER_K, sample_broadening
from powdex.refinement.synthetic import CU_KALPHA, synthetic_pattern

INSTRUMENT = Instrument(wavelengths=CU_KALPHA, ratio=0.5, U=0.004, V=-0.002, W=0.003, X=0.02, Y=0.01, S_L=0.02,
                        H_L=0.01)
CEO2 = Cell(5.411651, 5.411651, 5.411651)


def pattern_of(size_nm: float, strain: float, seed: int = 2):
    """CeO2 over ``INSTRUMENT`` with Scherrer size and Stokes–Wilson strain broadening added."""
    y_sample = SCHERRER_K * CU_KALPHA[0] * 180 / math.pi / (size_nm * 10)
    x_sample = 4 * strain * 180 / math.pi
    profile = dict(INSTRUMENT.profile, X=INSTRUMENT.X + x_sample, Y=INSTRUMENT.Y + y_sample)
    pattern, _, _ = synthetic_pattern(CEO2, "Fm-3m", two_theta=np.arange(20.0, 130.0, 0.02), seed=seed,
                                      profile=profile, peak_area=20000.0)
    return pattern


@pytest.mark.parametrize(("size_nm", "strain"), [(20.0, 0.0), (100.0, 0.001), (500.0, 0.003), (500.0, 0.0)])
def test_size_and_strain_within_ten_percent(size_nm, strain):
    result = sample_broadening(pattern_of(size_nm, strain), CEO2, "Fm-3m", INSTRUMENT)
    assert result.consistent, result.message
    assert result.size_nm == pytest.approx(size_nm, rel=0.10)
    assert result.size_esd_nm is not None and result.size_esd_nm > 0
    assert result.strain == pytest.approx(strain, rel=0.10, abs=3e-5)


@pytest.mark.parametrize(("size_nm", "strain"), [(20.0, 0.0), (500.0, 0.003), (500.0, 0.0)])
def test_instrument_twenty_percent_too_wide_in_w_is_flagged(size_nm, strain):
    wrong = INSTRUMENT.with_values(W=INSTRUMENT.W * 1.2)
    result = sample_broadening(pattern_of(size_nm, strain), CEO2, "Fm-3m", wrong)
    assert not result.consistent
    assert result.size_nm is None
    assert "inconsistent" in result.message


def test_refine_with_an_instrument_refines_only_the_lorentzian_terms():
    result = sample_broadening(pattern_of(100.0, 0.001), CEO2, "Fm-3m", INSTRUMENT).refinement
    refined = {p.name for p in result.parameters if p.refined}
    assert {"X", "Y", "displacement"} <= refined  # specimen displacement belongs to the sample's mounting
    assert not refined & {"U", "V", "W", "S/L", "H/L", "zero"}
    values = {p.name: p.value for p in result.parameters}
    assert (values["U"], values["W"], values["S/L"]) == (INSTRUMENT.U, INSTRUMENT.W, INSTRUMENT.S_L)


def test_stephens_terms_of_an_isotropic_strain_are_the_isotropic_form():
    """A Stokes–Wilson strain ε (FWHM 4ε tanθ) spreads M = 1/d² by Γ_M = 4εM: for a cubic cell Stephens's
    S400 = (4ε)²/a⁴ and S220 = ⅔ S400 (Γ_M² = (4ε)²(h² + k² + l²)²/a⁴), and the size is unchanged."""
    size_nm, strain = 200.0, 0.002
    result = sample_broadening(pattern_of(size_nm, strain), CEO2, "Fm-3m", INSTRUMENT, anisotropic_strain=True)
    assert result.consistent, result.message
    terms = {name: value for name, value, _ in result.stephens}
    expected = (4 * strain) ** 2 / CEO2.a**4
    assert terms["S400"] == pytest.approx(expected, rel=0.10)
    assert terms["S220"] == pytest.approx(2 / 3 * expected, rel=0.10)
    assert result.size_nm == pytest.approx(size_nm, rel=0.10)
    assert "anisotropic strain (Stephens)" in result.message


def test_a_constant_lorentzian_instrument_is_held_with_its_negative_term():
    """An instrument whose 1/cosθ term is negative and made up for by a constant Z (as Xerus' MiniFlex
    calibration, Y = −0.042°, Z = +0.064°): the fit holds Z, starts X and Y from the instrument's, and finds
    the sample's size and strain over it.  The size's 1/cosθ term, 0.016°, leaves Y below zero: a bound at 0
    there would credit the sample with 0.027° more, a size of 190 nm."""
    instrument = INSTRUMENT.with_values(Y=-0.0425, Z=0.0641)
    size_nm, strain = 500.0, 0.001
    y_sample = SCHERRER_K * CU_KALPHA[0] * 180 / math.pi / (size_nm * 10)
    profile = dict(instrument.profile, X=instrument.X + 4 * strain * 180 / math.pi, Y=instrument.Y + y_sample)
    pattern, _, _ = synthetic_pattern(CEO2, "Fm-3m", two_theta=np.arange(20.0, 130.0, 0.02), seed=2, profile=profile,
                                      peak_area=20000.0)
    result = sample_broadening(pattern, CEO2, "Fm-3m", instrument)
    assert result.consistent, result.message
    assert result.size_nm == pytest.approx(size_nm, rel=0.10)
    assert result.strain == pytest.approx(strain, rel=0.10)
    z = result.refinement.parameter("Z")
    assert z.value == instrument.Z and not z.refined
