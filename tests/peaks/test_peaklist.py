import numpy as np
import pytest

from powdex.peaks import CU_KA1, PeakInputError, PeakList, d_to_q2, two_theta_to_q2


def test_from_d_sorts_by_q2_and_keeps_intensity_aligned():
    peaks = PeakList.from_values([1.0, 3.0, 2.0], units="d", intensity=[10, 30, 20])
    np.testing.assert_allclose(peaks.d, [3.0, 2.0, 1.0])
    np.testing.assert_allclose(peaks.q2, d_to_q2([3.0, 2.0, 1.0]))
    np.testing.assert_allclose(peaks.intensity, [30, 20, 10])
    assert peaks.two_theta is None and peaks.wavelength is None
    assert peaks.source == "<array>"


def test_intensity_defaults_to_ones():
    peaks = PeakList.from_values([0.1, 0.2])
    np.testing.assert_array_equal(peaks.intensity, [1.0, 1.0])
    assert peaks.q2.dtype == np.float64


def test_from_two_theta_keeps_measured_two_theta():
    peaks = PeakList.from_values([47.3, 28.44], units="2theta", wavelength=CU_KA1)
    np.testing.assert_allclose(peaks.two_theta, [28.44, 47.3])
    np.testing.assert_allclose(peaks.q2, two_theta_to_q2([28.44, 47.3], CU_KA1))
    np.testing.assert_allclose(peaks.two_theta_at(CU_KA1), [28.44, 47.3])
    assert peaks.wavelength == CU_KA1


def test_is_immutable():
    peaks = PeakList.from_values([0.1, 0.2])
    with pytest.raises(AttributeError):
        peaks.source = "other"
    with pytest.raises(ValueError):
        peaks.q2[0] = 5.0


def test_first_takes_lowest_angle_peaks():
    peaks = PeakList.from_values([0.5, 0.1, 0.3, 0.2], intensity=[5, 1, 3, 2])
    first = peaks.first(2)
    np.testing.assert_allclose(first.q2, [0.1, 0.2])
    np.testing.assert_allclose(first.intensity, [1, 2])
    assert len(peaks.first(10)) == 4 and peaks.n == 4


def test_require_names_source_count_and_reason():
    peaks = PeakList.from_values([0.1, 0.2, 0.3], source="silicon.txt")
    peaks.require(3, "anything")
    with pytest.raises(PeakInputError) as error:
        peaks.require(4, "the tetragonal lattice system")
    assert str(error.value) == "silicon.txt: 3 peaks, but the tetragonal lattice system needs at least 4"


def test_two_theta_without_wavelength_is_rejected():
    with pytest.raises(PeakInputError, match=r"^<array>: positions are 2θ but no wavelength was given$"):
        PeakList.from_values([30.0], units="2theta")


@pytest.mark.parametrize(
    "values, units, message",
    [
        ([2.0, -1.2], "d", "<array>[1]: negative d-spacing -1.2"),
        ([0.1, 0.0], "q2", "<array>[1]: zero q²"),
        ([30.0, 181.2], "2theta", "<array>[1]: 2θ 181.2 outside (0, 180)"),
        ([np.nan, 30.0], "2theta", "<array>[0]: non-finite 2θ nan"),
        ([0.1, np.inf], "q2", "<array>[1]: non-finite q² inf"),
    ],
)
def test_bad_positions_name_the_entry(values, units, message):
    with pytest.raises(PeakInputError) as error:
        PeakList.from_values(values, units=units, wavelength=CU_KA1)
    assert str(error.value) == message


def test_duplicates_name_both_entries():
    with pytest.raises(PeakInputError) as error:
        PeakList.from_values([0.3, 0.1, 0.1 * (1 + 1e-7)])
    assert str(error.value) == "<array>[2]: duplicate peak (same position as entry 1)"


def test_close_but_distinct_peaks_are_kept():
    assert len(PeakList.from_values([0.1, 0.1 * (1 + 1e-4)])) == 2


def test_bad_intensity_is_rejected():
    with pytest.raises(PeakInputError, match=r"^<array>\[0\]: negative intensity -3$"):
        PeakList.from_values([0.1, 0.2], intensity=[-3, 1])
    with pytest.raises(PeakInputError, match="2 intensities for 3 positions"):
        PeakList.from_values([0.1, 0.2, 0.3], intensity=[1, 2])


def test_empty_and_unknown_units_are_rejected():
    with pytest.raises(PeakInputError, match="no peaks"):
        PeakList.from_values([])
    with pytest.raises(ValueError, match="units"):
        PeakList.from_values([1.0], units="q")


def test_a_peak_picked_twice_a_thousandth_of_a_degree_apart_is_a_duplicate_but_resolved_peaks_are_not():
    with pytest.raises(PeakInputError, match=r"\[1\]: duplicate peak"):
        PeakList.from_values([28.4400, 28.4405, 47.30], units="2theta", wavelength=CU_KA1)
    assert PeakList.from_values([28.44, 28.45, 47.30], units="2theta", wavelength=CU_KA1).n == 3
