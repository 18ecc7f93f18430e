"""de Wolff M_N and Smith-Snyder F_N against values worked by hand."""

import numpy as np
import pytest

from powdex.indexing import figures_of_merit


def test_m_and_f_by_hand():
    # cP, a = 5 Å: lines at Q = N/25 for N = 1, 2, 3, 4, ...
    q2_lines = np.array([1, 2, 3, 4, 5, 6, 8]) / 25
    q2_obs = np.array([0.0401, 0.0799, 0.1203])
    q2_calc = np.array([0.04, 0.08, 0.12])
    tt_obs = np.array([10.01, 20.00, 30.02])
    tt_calc = np.array([10.00, 20.01, 30.00])
    fom = figures_of_merit(q2_obs, q2_calc, tt_obs, tt_calc, np.ones(3, bool), q2_lines, n=3)
    # ε = (1 + 1 + 3)·1e-4 / 3; N_calc = 3 lines up to Q_3 = 0.1203
    assert fom.m == pytest.approx(0.1203 / (2 * (5e-4 / 3) * 3))
    # |Δ2θ| = (0.01 + 0.01 + 0.02) / 3; N_poss = 3
    assert fom.f == pytest.approx(3 / ((0.04 / 3) * 3))
    assert fom.n_possible == 3 and fom.n_unindexed == 0


def test_unindexed_lines_are_left_out_of_the_mean_and_counted():
    q2_lines = np.array([1, 2, 3, 4]) / 25
    q2_obs = np.array([0.0401, 0.0650, 0.0799])
    q2_calc = np.array([0.04, 0.08, 0.08])
    tt = np.array([10.0, 15.0, 20.0])
    fom = figures_of_merit(q2_obs, q2_calc, tt, tt, np.array([True, False, True]), q2_lines, n=3)
    assert fom.n_unindexed == 1
    assert fom.mean_abs_dq2 == pytest.approx(1e-4)
    # only the line at 0.04 lies below Q_3 = 0.0799: N_calc = 1
    assert fom.n_possible == 1
    assert fom.m == pytest.approx(0.0799 / (2 * 1e-4 * 1))
