"""Standard uncertainties with serially correlated residuals: the Bérar–Lelann correction."""

import numpy as np
import pytest

from powdex.patterns import Pattern
from powdex.refinement import refine
from powdex.refinement.result import berar_lelann_factor, durbin_watson

from .conftest import TRUE_CELL
from .test_refinement import START_PROFILE


def _ar1(rho: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal(n)
    series = np.empty(n)
    series[0] = shocks[0]
    for i in range(1, n):
        series[i] = rho * series[i - 1] + np.sqrt(1 - rho * rho) * shocks[i]
    return series


def test_the_factor_is_one_for_white_noise_and_the_ar1_inflation_for_correlated_residuals():
    white = durbin_watson(np.random.default_rng(1).standard_normal(20000))
    assert white == pytest.approx(2.0, abs=0.05)
    assert berar_lelann_factor(white) == pytest.approx(1.0, abs=0.03)
    rho = 0.7
    d = durbin_watson(_ar1(rho, 20000, seed=2))
    assert d == pytest.approx(2 * (1 - rho), abs=0.05)
    # An AR(1) series inflates the variance of a mean by (1 + ρ)/(1 − ρ).
    assert berar_lelann_factor(d) == pytest.approx(np.sqrt((1 + rho) / (1 - rho)), rel=0.05)
    # Anticorrelated residuals do not shrink the uncertainties.
    assert berar_lelann_factor(3.5) == 1.0


def test_correlated_noise_scales_every_esd_by_the_factor_and_white_noise_leaves_them(tetragonal):
    pattern, model, truth = tetragonal
    clean = model.evaluate(truth)
    # Noise smoothed over 7 points (a detector's or a rebinning's point spread), rescaled to σ.
    kernel = np.ones(7) / np.sqrt(7)
    smooth = np.convolve(np.random.default_rng(5).standard_normal(clean.size + 6), kernel, mode="valid")
    correlated = Pattern(pattern.two_theta, clean + pattern.sigma * smooth, pattern.sigma, source="correlated",
                         wavelengths=pattern.wavelengths, ratio=pattern.ratio, sigma_from_file=True)
    options = {"profile": START_PROFILE, "zero": 0.01}
    plain = refine(correlated, TRUE_CELL, "P4/mmm", **options)
    corrected = refine(correlated, TRUE_CELL, "P4/mmm", serial_correlation=True, **options)
    assert plain.esd_factor == 1.0 and plain.durbin_watson < 0.8
    assert corrected.esd_factor > 1.5
    assert "Berar-Lelann" in corrected.esd_convention and "Berar-Lelann" not in plain.esd_convention
    for name in ("a", "c"):
        assert corrected.cell_esd[name] == pytest.approx(corrected.esd_factor * plain.cell_esd[name], rel=1e-6)
    assert corrected.parameter("zero").esd == pytest.approx(corrected.esd_factor * plain.parameter("zero").esd,
                                                            rel=1e-6)
    white = refine(pattern, TRUE_CELL, "P4/mmm", serial_correlation=True, **options)
    assert white.esd_factor == pytest.approx(1.0, abs=0.1)
