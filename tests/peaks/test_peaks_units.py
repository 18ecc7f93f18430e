import numpy as np
import pytest

from powdex.peaks import CU_KA1, d_to_q2, dq2_dtwo_theta, q2_to_d, q2_to_two_theta, two_theta_to_q2

# Si 111 (a = 5.4310 Å): d = a/√3 = 3.1356 Å.  By hand at Cu Kα1:
# sin θ = λ / 2d = 1.5406 / 6.2712 = 0.245663, θ = 14.2210°, 2θ = 28.442°.
SI_111_D = 3.1356
SI_111_TWO_THETA = 28.442


def test_si_111_d_to_two_theta_by_hand():
    two_theta = q2_to_two_theta(d_to_q2(SI_111_D), CU_KA1)
    assert two_theta == pytest.approx(SI_111_TWO_THETA, abs=1e-3)


def test_si_111_two_theta_to_d_by_hand():
    assert q2_to_d(two_theta_to_q2(SI_111_TWO_THETA, CU_KA1)) == pytest.approx(SI_111_D, abs=1e-4)


def test_q2_of_d_is_inverse_square():
    np.testing.assert_allclose(d_to_q2([1.0, 2.0, 0.5]), [1.0, 0.25, 4.0])
    np.testing.assert_allclose(q2_to_d([1.0, 0.25, 4.0]), [1.0, 2.0, 0.5])


def test_round_trip_two_theta_q2_over_the_whole_range():
    two_theta = np.linspace(1, 179, 50)
    np.testing.assert_allclose(q2_to_two_theta(two_theta_to_q2(two_theta, 0.7093), 0.7093), two_theta, rtol=1e-12)


def test_backscattering_limit_is_two_theta_180():
    # d = λ/2 is the smallest d any angle reaches: sin θ = 1.
    assert q2_to_two_theta(d_to_q2(CU_KA1 / 2), CU_KA1) == pytest.approx(180.0)


def test_unreachable_and_negative_q2_give_nan():
    result = q2_to_two_theta([0.1, d_to_q2(0.7), -1.0], CU_KA1)
    assert np.isfinite(result[0])
    assert np.isnan(result[1:]).all()


def test_scalar_in_scalar_out():
    assert np.ndim(two_theta_to_q2(30.0, CU_KA1)) == 0


@pytest.mark.parametrize("wavelength", [0.0, -1.5, np.nan])
def test_non_positive_wavelength_is_rejected(wavelength):
    with pytest.raises(ValueError, match="wavelength"):
        two_theta_to_q2(30.0, wavelength)


def test_derivative_matches_finite_difference():
    two_theta = np.array([10.0, 45.0, 90.0, 150.0])
    h = 1e-5
    numeric = (two_theta_to_q2(two_theta + h, CU_KA1) - two_theta_to_q2(two_theta - h, CU_KA1)) / (2 * h)
    np.testing.assert_allclose(dq2_dtwo_theta(two_theta, CU_KA1), numeric, rtol=1e-7)


def test_derivative_by_hand_at_90_degrees():
    # dq²/d2θ = 2 sin(2θ)/λ² · π/180; sin 90° = 1.
    assert dq2_dtwo_theta(90.0, 1.0) == pytest.approx(2 * np.pi / 180)


def test_zero_shift_linearisation_used_by_the_indexer():
    zero_shift = 0.03
    exact = two_theta_to_q2(SI_111_TWO_THETA - zero_shift, CU_KA1)
    linear = two_theta_to_q2(SI_111_TWO_THETA, CU_KA1) - zero_shift * dq2_dtwo_theta(SI_111_TWO_THETA, CU_KA1)
    assert linear == pytest.approx(exact, rel=1e-5)
