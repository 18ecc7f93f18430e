"""Scoring at the measured peak widths: sharp lines are resolved and placed at their own scale."""

from dataclasses import replace

import numpy as np
import pytest

from powdex.indexing.candidate import ERROR_PER_FWHM, RESOLUTION_PER_FWHM, ScoringModel
from powdex.indexing.observations import Observations
from powdex.peaks import PeakList


def peaks(fwhm):
    two_theta = np.array([5.0, 7.1, 8.3, 9.9, 12.2])
    listed = PeakList.from_values(two_theta, units="2theta", wavelength=0.4136)
    return listed if fwhm is None else replace(listed, fwhm=np.full(two_theta.size, fwhm))


def test_sharp_widths_narrow_resolution_and_error():
    model = ScoringModel().for_peak_widths(Observations.from_peaks(peaks(0.008)))
    assert model.resolution == pytest.approx(RESOLUTION_PER_FWHM * 0.008)
    assert model.two_theta_error == pytest.approx(ERROR_PER_FWHM * 0.008)
    # The polish still gathers peaks at the default error before narrowing.
    assert model.capture_error == ScoringModel().two_theta_error


@pytest.mark.parametrize("fwhm", [None, 0.12])
def test_lists_without_widths_and_broad_lines_keep_the_defaults(fwhm):
    assert ScoringModel().for_peak_widths(Observations.from_peaks(peaks(fwhm))) == ScoringModel()


def test_widths_follow_their_peaks():
    listed = replace(peaks(None), fwhm=np.array([0.01, 0.02, 0.03, 0.04, 0.05]))
    np.testing.assert_array_equal(listed.first(3).fwhm, [0.01, 0.02, 0.03])
    # Given as d, the positions lose the 2θ scale the widths were measured on.
    as_d = PeakList.from_values(listed.d, units="d")
    assert Observations.from_peaks(replace(as_d, fwhm=listed.fwhm)).fwhm is None
