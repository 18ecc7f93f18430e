import math

import numpy as np
import pytest

from powdex.instrument import (
    Instrument,
    cylinder_absorption,
    divergence_slit_factor,
    monochromator_polarisation,
    peak_shift,
    polarisation_factor,
)

CU = (1.5406,)


def test_bragg_brentano_shift_is_zero_plus_displacement_cos_theta_plus_transparency_sin_two_theta():
    instrument = Instrument(wavelengths=CU, zero=0.01, displacement=-0.05, transparency=0.02)
    tth = np.array([20.0, 90.0, 150.0])
    expected = 0.01 - 0.05 * np.cos(np.radians(tth / 2)) + 0.02 * np.sin(np.radians(tth))
    assert peak_shift(instrument, tth) == pytest.approx(expected)


def test_debye_scherrer_shift_from_capillary_offsets():
    instrument = Instrument(wavelengths=CU, geometry="debye-scherrer", x_displacement=0.03, y_displacement=0.01)
    assert peak_shift(instrument, [90.0])[0] == pytest.approx(0.01)  # cos 90° = 0, sin 90° = 1
    assert peak_shift(instrument, [0.0])[0] == pytest.approx(0.03)


def test_polarisation_unpolarised_monochromator_and_synchrotron():
    assert polarisation_factor(Instrument(wavelengths=CU), [90.0])[0] == pytest.approx(0.5)
    # Graphite (002) for Cu Kα: 2θ_M = 26.6°, P(2θ) = (1 + cos²2θ_M cos²2θ) / (1 + cos²2θ_M)
    f = monochromator_polarisation(26.6)
    c2m, c2 = math.cos(math.radians(26.6)) ** 2, math.cos(math.radians(40.0)) ** 2
    assert polarisation_factor(Instrument(wavelengths=CU, polarisation=f), [40.0])[0] == \
        pytest.approx((1 + c2m * c2) / (1 + c2m))
    assert polarisation_factor(Instrument(wavelengths=CU, polarisation=0.95), [90.0])[0] == pytest.approx(0.95)
    assert polarisation_factor(Instrument(wavelengths=CU, radiation="neutron"), [90.0])[0] == 1.0


def test_variable_slit_scales_by_sin_theta():
    variable = Instrument(wavelengths=CU, divergence_slit="variable")
    assert divergence_slit_factor(variable, [60.0])[0] == pytest.approx(0.5)
    assert divergence_slit_factor(Instrument(wavelengths=CU), [60.0])[0] == 1.0


def test_cylinder_absorption_limits():
    # Thin cylinder at 2θ = 0: A ≈ 1 − μ⟨l_in + l_out⟩, the path being the chord through each point along the
    # beam, 2√(R² − y²), whose mean over the cross-section is 16R/3π.
    small = cylinder_absorption(1e-3, [0.0])[0]
    assert 1 - small == pytest.approx(1e-3 * 16 / (3 * math.pi), rel=1e-3)
    values = cylinder_absorption(1.5, [10.0, 90.0, 170.0])
    # Back-scattering passes through less material than forward scattering.
    assert values[0] < values[1] < values[2] < 1
    assert cylinder_absorption(0.0, [45.0])[0] == 1.0
