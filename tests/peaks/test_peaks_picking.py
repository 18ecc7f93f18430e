import numpy as np
import pytest

from powdex.peaks import CU_KA1, PeakInputError, pick_peaks, read_pattern

FWHM = 0.1
SIGMA = FWHM / (2 * np.sqrt(2 * np.log(2)))
STEP = 0.01


def synthetic_pattern(centres, heights, *, noise=5.0, seed=0):
    """Gaussians of FWHM 0.1° on a sloping background with Gaussian noise."""
    two_theta = np.arange(10.0, 70.0, STEP)
    background = 100 + 2.0 * (two_theta - 10)
    peaks = sum(h * np.exp(-0.5 * ((two_theta - c) / SIGMA) ** 2) for c, h in zip(centres, heights))
    noise = np.random.default_rng(seed).normal(0, noise, two_theta.size)
    return two_theta, background + peaks + noise


CENTRES = [15.1234, 22.4567, 28.4421, 33.3019, 41.0503, 47.3007, 56.1228, 65.5555]
HEIGHTS = [500, 800, 1000, 150, 600, 300, 400, 200]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_picked_positions_within_five_millidegrees(seed):
    two_theta, intensity = synthetic_pattern(CENTRES, HEIGHTS, seed=seed)
    peaks = pick_peaks(two_theta, intensity, wavelength=CU_KA1)
    assert len(peaks) == len(CENTRES)
    np.testing.assert_allclose(peaks.two_theta, CENTRES, atol=0.005)
    assert peaks.wavelength == CU_KA1


def test_heights_are_above_the_background():
    two_theta, intensity = synthetic_pattern(CENTRES, HEIGHTS)
    peaks = pick_peaks(two_theta, intensity, wavelength=CU_KA1)
    np.testing.assert_allclose(peaks.intensity, HEIGHTS, rtol=0.1)


def test_noise_free_pattern_is_exact():
    two_theta, intensity = synthetic_pattern(CENTRES, HEIGHTS, noise=0.0)
    peaks = pick_peaks(two_theta, intensity, wavelength=CU_KA1)
    np.testing.assert_allclose(peaks.two_theta, CENTRES, atol=1e-4)


def test_unresolved_pair_is_one_peak():
    # 0.02° apart at FWHM 0.1°: one maximum, between the two.
    two_theta, intensity = synthetic_pattern([30.0, 30.02], [500, 500])
    peaks = pick_peaks(two_theta, intensity, wavelength=CU_KA1)
    assert len(peaks) == 1
    assert peaks.two_theta[0] == pytest.approx(30.01, abs=0.005)


def test_resolved_pair_is_two_peaks():
    two_theta, intensity = synthetic_pattern([30.0, 30.2], [500, 500])
    peaks = pick_peaks(two_theta, intensity, wavelength=CU_KA1)
    np.testing.assert_allclose(peaks.two_theta, [30.0, 30.2], atol=0.005)


def test_max_peaks_keeps_the_strongest_in_angle_order():
    two_theta, intensity = synthetic_pattern(CENTRES, HEIGHTS)
    peaks = pick_peaks(two_theta, intensity, wavelength=CU_KA1, max_peaks=3)
    np.testing.assert_allclose(peaks.two_theta, [22.4567, 28.4421, 41.0503], atol=0.005)


def test_prominence_threshold_drops_weak_peaks():
    two_theta, intensity = synthetic_pattern(CENTRES, HEIGHTS)
    peaks = pick_peaks(two_theta, intensity, wavelength=CU_KA1, min_prominence=450)
    np.testing.assert_allclose(peaks.two_theta, [15.1234, 22.4567, 28.4421, 41.0503], atol=0.005)


def test_flat_pattern_has_no_peaks():
    two_theta = np.arange(10.0, 20.0, STEP)
    with pytest.raises(PeakInputError, match="^<pattern>: no peaks found"):
        pick_peaks(two_theta, np.full_like(two_theta, 100.0), wavelength=CU_KA1)


def test_bad_arrays_are_rejected():
    with pytest.raises(ValueError, match="increase"):
        pick_peaks(np.array([1.0, 3, 2, 4, 5]), np.ones(5), wavelength=CU_KA1)
    with pytest.raises(ValueError, match="equal-length"):
        pick_peaks(np.arange(5.0), np.ones(4), wavelength=CU_KA1)


# --- read_pattern -----------------------------------------------------------


def test_read_pattern_xye_with_header_and_wavelength(tmp_path):
    path = tmp_path / "si.xye"
    rows = "\n".join(f"{10 + 0.01 * i:.2f} {100 + i} {10.0}" for i in range(6))
    path.write_text(f"# wavelength: 1.5406\n2theta intensity sigma\n{rows}\n", encoding="utf-8")
    pattern = read_pattern(path)
    np.testing.assert_allclose(pattern.two_theta, 10 + 0.01 * np.arange(6))
    np.testing.assert_allclose(pattern.intensity, 100 + np.arange(6))
    assert pattern.wavelength == pytest.approx(1.5406)
    assert pattern.source == str(path)


def test_read_pattern_then_pick(tmp_path):
    two_theta, intensity = synthetic_pattern(CENTRES, HEIGHTS)
    path = tmp_path / "si.csv"
    np.savetxt(path, np.column_stack([two_theta, intensity]), delimiter=",", header="2theta,intensity")
    pattern = read_pattern(path)
    peaks = pick_peaks(pattern.two_theta, pattern.intensity, wavelength=CU_KA1, source=pattern.source)
    np.testing.assert_allclose(peaks.two_theta, CENTRES, atol=0.005)
    assert peaks.source == str(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("10 1\n11 2\n12\n13 4\n14 5\n", "{path}:3: 1 columns, but line 1 has 2"),
        ("10 1\n11 2\n12 x\n13 4\n14 5\n", "{path}:3: non-numeric value 'x' in column 2"),
        ("10 1\n11 2\n11 3\n13 4\n14 5\n", "{path}:3: 2θ 11 does not increase from 11 on line 2"),
        ("10 1\n11 2\n12 3\n13 inf\n14 5\n", "{path}:4: non-finite intensity inf"),
        ("170 1\n175 2\n180 3\n", "{path}:3: 2θ 180 outside (0, 180)"),
        ("10 1\n11 2\n", "{path}: 2 points, a pattern needs at least 5"),
        ("# nothing\n", "{path}: no data (the file is empty or holds only comments)"),
    ],
)
def test_read_pattern_errors(tmp_path, text, message):
    path = tmp_path / "pattern.xy"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PeakInputError) as error:
        read_pattern(path)
    assert str(error.value) == message.format(path=path)


def test_read_pattern_missing_file(tmp_path):
    with pytest.raises(PeakInputError, match="file not found$"):
        read_pattern(tmp_path / "absent.xy")
