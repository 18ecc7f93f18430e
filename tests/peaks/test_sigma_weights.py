"""A peak's own σ(2θ), as a DICVOL file states it, weights it in indexing."""

import numpy as np

from powdex.indexing.observations import SYSTEMATIC_PER_MEDIAN_SIGMA, Observations, sigma_weights
from powdex.peaks import PeakList


def test_weights_follow_sigma_with_a_systematic_floor():
    sigma = np.array([0.001, 0.002, 0.002, 0.002, 0.02])
    weight = sigma_weights(sigma)
    systematic = SYSTEMATIC_PER_MEDIAN_SIGMA * 0.002
    expected = np.hypot(0.002, systematic) / np.hypot(sigma, systematic)
    np.testing.assert_allclose(weight, expected)
    # The weak peak counts less; the strongest gains little over the median (the floor).
    assert weight[-1] < 0.4 and weight[0] < 1.1
    assert sigma_weights(None) is None and sigma_weights(np.array([0.001, 0.0])) is None


def test_observations_use_the_peaks_sigma():
    peaks = PeakList.from_values([20.0, 30.0, 40.0, 50.0], units="2theta", wavelength=1.5406)
    assert np.all(Observations.from_peaks(peaks).weight == 1.0)
    from dataclasses import replace

    sigma = np.array([0.002, 0.002, 0.002, 0.03])
    observations = Observations.from_peaks(replace(peaks, two_theta_sigma=sigma))
    np.testing.assert_allclose(observations.weight, sigma_weights(sigma))
    assert any("their own σ(2θ)" in note for note in observations.notes)


def test_a_dicvol_files_errors_weight_its_lines_and_sharpen_the_cell(tmp_path):
    """Silicon (a = 5.4311 Å) with its (331) line 0.05° off and stated as uncertain (σ 0.05°, the others
    0.004°): the stated error weights that line down, so the cubic cell comes out closer to the truth and
    further ahead of the next candidate than from the same positions without errors."""
    from dataclasses import replace

    import powdex
    from powdex.peaks import read_peaks
    from powdex.peaks.program_files import dicvol_text

    two_theta = np.array([28.443, 47.303, 56.123, 69.131, 76.377 + 0.05, 88.032])
    plain = PeakList.from_values(two_theta, units="2theta", wavelength=1.540593)
    stated = replace(plain, two_theta_sigma=np.array([0.004, 0.004, 0.004, 0.004, 0.05, 0.004]))
    path = tmp_path / "si.dat"
    path.write_text(dicvol_text(stated, "silicon"))
    peaks = read_peaks(path)
    weight = Observations.from_peaks(peaks).weight
    assert weight[4] < 0.3 and np.all(weight[[0, 1, 2, 3, 5]] == 1.0)
    config = powdex.IndexingConfig(systems="cubic,tetragonal", time_limit=20)
    weighted, unweighted = powdex.index(peaks, config=config), powdex.index(plain, config=config)
    for result in (weighted, unweighted):
        assert result.candidates[0].bravais.value == "cF"
    error = [abs(r.candidates[0].cell.parameters[0] - 5.4311) for r in (weighted, unweighted)]
    assert error[0] < 5e-4 < error[1]
    gap = [r.candidates[0].score - r.candidates[1].score for r in (weighted, unweighted)]
    assert gap[0] > gap[1]
