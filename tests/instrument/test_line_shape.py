"""Where the apex of the instrument's asymmetric line lies, and the peak search's positions that take it off."""

import numpy as np
import pytest

from powdex.instrument import Instrument, apex_offset
from powdex.patterns import search_peaks
from powdex.refinement.calibrate import STANDARDS
from powdex.refinement.synthetic import synthetic_pattern

# A lab diffractometer's profile with its axial divergence, and no shift at all: the reflection positions are
# exactly where Bragg's law puts the lines.
PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.025, "H/L": 0.02}
INSTRUMENT = Instrument(wavelengths=(1.5405929,), U=0.004, V=-0.002, W=0.003, X=0.02, Y=0.01, S_L=0.025, H_L=0.02,
                        source="lab")


def test_the_apex_lies_below_a_low_angle_line_above_a_back_reflection_and_nowhere_else_without_asymmetry():
    at = np.array([15.0, 30.0, 60.0, 89.9, 120.0, 150.0])
    offsets = apex_offset(INSTRUMENT, at)
    assert np.all(offsets[:3] < 0) and np.all(offsets[4:] > 0)
    assert abs(offsets[3]) < 2e-4  # axial divergence shifts nothing at 90°
    assert np.all(np.diff(np.abs(offsets[:4])) < 0)  # the skew fades towards 90°
    assert offsets[0] == pytest.approx(-0.02, abs=0.01)  # about 0.02° at 15° 2θ for S/L + H/L = 0.045
    symmetric = Instrument(wavelengths=(1.54,), U=0.004, V=-0.002, W=0.003, X=0.02, Y=0.01)
    assert np.all(apex_offset(symmetric, at) == 0.0)


def test_picks_with_the_instrument_lie_on_the_reflection_positions_of_an_asymmetric_profile():
    """The line's apex, found on a pattern drawn by the refinement's own profile, is where ``apex_offset``
    says: with the instrument the search reports the reflection positions."""
    standard = STANDARDS["LaB6"]
    pattern, _, _ = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(15.0, 80.0, 0.01),
                                      seed=3, wavelengths=(1.5405929,), ratio=0.0, profile=PROFILE, peak_area=200000.0)
    lines = np.degrees(2 * np.arcsin(1.5405929 * np.sqrt([1, 2, 3, 4, 5, 6, 8, 9, 10, 11]) / (2 * standard.cell.a)))

    def errors(search):
        nearest = np.abs(search.two_theta[:, None] - lines[None, :]).argmin(axis=0)
        return search.two_theta[nearest] - lines

    plain, guided = errors(search_peaks(pattern)), errors(search_peaks(pattern, instrument=INSTRUMENT))
    assert plain[0] < -0.012  # the apex of 100 at 21° lies well below the line
    assert np.all(np.abs(guided) < 0.001)
    assert np.abs(guided).max() < np.abs(plain).max() / 5
