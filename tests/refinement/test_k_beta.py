"""A β-filtered tube's Kβ line in whole-pattern fits: every line fitted once more at Kβ with the instrument's ratio."""

import math

import numpy as np
import pytest

from powdex.crystal import Cell
from powdex.instrument import Instrument
from powdex.patterns.radiation import tube_lines
from powdex.refinement import RefinementError, refine
from powdex.refinement.broadening import SCHERRER_K, sample_broadening
from powdex.refinement.result import RefinementResult
from powdex.refinement.surface import chi2_map
from powdex.refinement.synthetic import CU_KALPHA, synthetic_pattern

INSTRUMENT = Instrument(wavelengths=CU_KALPHA, ratio=0.5, U=0.004, V=-0.002, W=0.003, X=0.02, Y=0.01, S_L=0.02,
                        H_L=0.01)
CEO2 = Cell(5.411651, 5.411651, 5.411651)
K_BETA = 0.02


@pytest.fixture(scope="module")
def ceria():
    """CeO2 of 500 nm crystallites over ``INSTRUMENT``, with every line's Kβ replica at 2 % (lines past 130° whose
    replicas fall below it included)."""
    y_sample = SCHERRER_K * CU_KALPHA[0] * 180 / math.pi / (500.0 * 10)
    pattern, _, _ = synthetic_pattern(CEO2, "Fm-3m", two_theta=np.arange(20.0, 130.0, 0.02), seed=2,
                                      profile=dict(INSTRUMENT.profile, Y=INSTRUMENT.Y + y_sample),
                                      peak_area=20000.0, k_beta=K_BETA)
    return pattern


def test_the_instruments_kbeta_fits_the_pattern_to_its_noise_and_the_size_comes_back(ceria):
    """Held with the instrument's Kβ ratio the fit reaches χ²_red 1 and the size its truth; without it the
    replicas stand in the residual (χ²_red in the hundreds) and the size is 4 % off, still called consistent."""
    with_k_beta = sample_broadening(ceria, CEO2, "Fm-3m", INSTRUMENT.with_values(k_beta_ratio=K_BETA))
    assert with_k_beta.refinement.statistics.reduced_chi2 < 1.05
    assert with_k_beta.size_nm == pytest.approx(500.0, rel=0.01)
    assert with_k_beta.refinement.k_beta == (tube_lines("Cu").k_beta, K_BETA)
    without = sample_broadening(ceria, CEO2, "Fm-3m", INSTRUMENT)
    assert without.refinement.statistics.reduced_chi2 > 50
    assert without.refinement.k_beta is None
    assert abs(without.size_nm / 500.0 - 1) > 0.02


def test_an_explicit_ratio_overrides_the_instruments_and_zero_fits_none(ceria):
    held = INSTRUMENT.with_values(k_beta_ratio=K_BETA)
    result = refine(ceria, CEO2, "Fm-3m", instrument=held, k_beta_ratio=0.0)
    assert result.k_beta is None and result.statistics.reduced_chi2 > 50
    direct = refine(ceria, CEO2, "Fm-3m", k_beta_ratio=K_BETA)
    assert direct.k_beta == (tube_lines("Cu").k_beta, K_BETA) and direct.statistics.reduced_chi2 < 1.05


def test_the_kbeta_line_is_saved_and_the_chi2_map_keeps_it():
    """A tetragonal pattern with Kβ replicas, refined with them: the saved result names the line, and the χ² map,
    whose model is rebuilt from the result, has the fit's own χ² at its centre."""
    pattern, _, _ = synthetic_pattern(Cell(5.2, 5.2, 7.4), "P4/mmm", two_theta=np.linspace(15.0, 75.0, 2400), seed=3,
                                      profile=INSTRUMENT.profile, k_beta=K_BETA)
    result = refine(pattern, Cell(5.206, 5.206, 7.392), "P4/mmm", k_beta_ratio=K_BETA)
    assert RefinementResult.from_dict(result.to_dict()).k_beta == result.k_beta
    stats = result.statistics
    surface = chi2_map(result, ("a", "c"), span=0.0005, resolution=3)
    assert surface.values[1, 1] == pytest.approx(stats.reduced_chi2 * (stats.points - stats.parameters), rel=1e-3)


def test_a_kbeta_ratio_needs_a_tubes_kalpha1_and_lies_in_0_1():
    pattern, _, _ = synthetic_pattern(CEO2, "Fm-3m", two_theta=np.arange(8.0, 40.0, 0.005), seed=0,
                                      wavelengths=(0.7,), ratio=0.0)
    with pytest.raises(RefinementError, match="needs an X-ray tube's Kα1"):
        refine(pattern, CEO2, "Fm-3m", k_beta_ratio=0.01)
    cu, _, _ = synthetic_pattern(CEO2, "Fm-3m", two_theta=np.arange(25.0, 60.0, 0.02), seed=0)
    with pytest.raises(RefinementError, match="not in"):
        refine(cu, CEO2, "Fm-3m", k_beta_ratio=1.5)


def test_a_rietveld_fit_holds_the_instrument_and_fits_its_kbeta():
    """Rutile over ``INSTRUMENT`` with 2 % Kβ and a sample's wider Lorentzian: held, the instrument keeps its U, V,
    W, asymmetry and zero through stages that free the profile, the sample's X and Y come back, and with the Kβ
    replicas the fit reaches its noise; without the instrument's Kβ it does not."""
    from pathlib import Path

    from powdex.refinement.rietveld import RietveldPhase, rietveld_refine, simulate_pattern
    from powdex.refinement.structure import CrystalStructure

    rutile = RietveldPhase(CrystalStructure.from_cif(Path(__file__).parent / "data" / "rutile.cif"), "rutile")
    truth = dict(INSTRUMENT.profile, X=0.03, Y=0.02, zero=0.0, displacement=-0.02, **{"rutile:scale": 0.1})
    pattern = simulate_pattern([rutile], np.arange(20.0, 110.0, 0.02), seed=4, values=truth, k_beta=K_BETA)
    stages = (("background", "scale"), ("background", "scale", "cell", "zero", "displacement"),
              ("background", "scale", "cell", "zero", "displacement", "profile", "asymmetry"))
    held = INSTRUMENT.with_values(k_beta_ratio=K_BETA)
    result = rietveld_refine(pattern, [rutile], stages=stages, instrument=held, background_terms=3)
    values = {p.name: p for p in result.parameters}
    for name in ("U", "V", "W", "S/L", "H/L", "zero"):
        assert not values[name].refined and values[name].value == pytest.approx(held.profile.get(name, held.zero))
    assert values["X"].value == pytest.approx(0.03, rel=0.05) and values["Y"].value == pytest.approx(0.02, rel=0.05)
    assert values["displacement"].value == pytest.approx(-0.02, abs=3e-3)
    assert result.statistics.reduced_chi2 < 1.1
    without = rietveld_refine(pattern, [rutile], stages=stages, instrument=INSTRUMENT, background_terms=3)
    assert without.statistics.reduced_chi2 > 3 * result.statistics.reduced_chi2
