"""Geometric peak shifts in the whole-pattern model: Bragg–Brentano transparency and Debye–Scherrer capillary
x/y displacement, with analytic derivatives matched against central differences, and calibration recovering
them from a synthetic standard."""

import numpy as np
import pytest

from powdex.instrument import Instrument, peak_shift
from powdex.refinement.calibrate import STANDARDS, calibrate
from powdex.refinement.profile import GLOBAL_NAMES, SHIFTS, shifted_positions
from powdex.refinement.synthetic import synthetic_pattern

PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.02, "H/L": 0.01, "zero": 0.02}


def test_shift_derivatives_match_central_differences():
    standard = STANDARDS["Si"]
    profile = dict(PROFILE, displacement=-0.03, transparency=0.02, x_displacement=0.015, y_displacement=-0.01)
    _, model, p = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(20.0, 100.0, 0.02),
                                    seed=2, profile=profile)
    windows = model.windows(p)
    columns = np.array(sorted(SHIFTS))
    analytic = model.jacobian(p, windows, columns).toarray()
    for k, column in enumerate(columns):
        step = 1e-5
        up, down = p.copy(), p.copy()
        up[column] += step
        down[column] -= step
        numeric = (model.evaluate(up, windows) - model.evaluate(down, windows)) / (2 * step)
        scale = np.abs(numeric).max()
        assert scale > 0, GLOBAL_NAMES[column]
        assert np.abs(analytic[:, k] - numeric).max() < 1e-4 * scale, GLOBAL_NAMES[column]


def test_line_positions_are_the_instruments_shifts():
    p = np.zeros(len(GLOBAL_NAMES))
    for name, value in (("zero", 0.01), ("displacement", -0.04), ("transparency", 0.03)):
        p[GLOBAL_NAMES.index(name)] = value
    bragg = np.array([15.0, 60.0, 130.0])
    instrument = Instrument(wavelengths=(1.54,), zero=0.01, displacement=-0.04, transparency=0.03)
    assert shifted_positions(p, bragg) - bragg == pytest.approx(peak_shift(instrument, bragg))
    capillary = Instrument(wavelengths=(1.54,), geometry="debye-scherrer", x_displacement=0.02, y_displacement=-0.01)
    q = np.zeros(len(GLOBAL_NAMES))
    q[GLOBAL_NAMES.index("x_displacement")], q[GLOBAL_NAMES.index("y_displacement")] = 0.02, -0.01
    assert shifted_positions(q, bragg) - bragg == pytest.approx(peak_shift(capillary, bragg))


@pytest.mark.parametrize("geometry, shifts", [
    ("bragg-brentano", {"displacement": -0.03, "transparency": 0.025}),
    ("debye-scherrer", {"x_displacement": 0.03, "y_displacement": -0.02}),
])
def test_calibration_recovers_the_geometrys_shifts(geometry, shifts):
    standard = STANDARDS["LaB6"]
    pattern, _, _ = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(15.0, 140.0, 0.02),
                                      seed=4, profile=dict(PROFILE, **shifts), peak_area=20000.0)
    instrument = calibrate(pattern, "LaB6", geometry=geometry).instrument
    assert instrument.geometry == geometry
    assert instrument.zero == pytest.approx(PROFILE["zero"], abs=3e-3)
    for name, value in shifts.items():
        assert getattr(instrument, name) == pytest.approx(value, abs=4e-3), name
