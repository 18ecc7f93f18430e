"""The reduced Finger–Cox–Jephcoat quadrature (Gauss rules of each peak's own weight) and the profile built on it."""

import numpy as np
import pytest

from powdex.instrument import fcj_nodes
from powdex.refinement.profile import (
    HL,
    SL,
    ProfileModel,
    U,
    V,
    W,
    X,
    Y,
    Z,
    asymmetry_node_counts,
    reduced_nodes,
    tch_widths,
)


@pytest.mark.parametrize("nodes", [1, 2, 3, 4])
def test_a_reduced_rule_keeps_the_moments_of_the_full_rule(nodes):
    two_theta = np.array([12.0, 25.0, 40.0, 70.0])
    delta, omega = fcj_nodes(two_theta, 0.03, 0.015, 3)
    reduced_delta, reduced_omega = reduced_nodes(delta, omega, np.full(two_theta.size, nodes))
    scale = np.abs(delta).max(axis=1, keepdims=True)
    for order in range(2 * nodes):
        full = np.sum(omega * (delta / scale) ** order, axis=1)
        reduced = np.sum(reduced_omega * (reduced_delta / scale) ** order, axis=1)
        assert reduced == pytest.approx(full, rel=1e-8, abs=1e-10), f"moment {order}"


def test_peaks_need_fewer_nodes_towards_ninety_degrees():
    two_theta = np.array([10.0, 30.0, 60.0, 85.0])
    delta, omega = fcj_nodes(two_theta, 0.02, 0.01, 3)
    counts = asymmetry_node_counts(delta, omega, np.full(two_theta.size, 0.08))
    assert counts[0] == delta.shape[1] and counts[-1] == 1
    assert np.all(np.diff(counts) <= 0)


def _pseudo_voigt(x, gamma, eta):
    gauss = 2.0 * np.sqrt(np.log(2.0) / np.pi) / gamma * np.exp(-4.0 * np.log(2.0) * (x / gamma) ** 2)
    lorentz = 2.0 / (np.pi * gamma) / (1.0 + 4.0 * (x / gamma) ** 2)
    return (1.0 - eta) * gauss + eta * lorentz


@pytest.mark.parametrize("two_theta_line", [12.0, 30.0, 70.0])
def test_a_peak_is_the_full_fcj_rule_of_tch_pseudo_voigts(two_theta_line):
    """One line at unit intensity, evaluated by the node blocks with reduced rules and the
    Gaussian's cut-off, against the full Finger–Cox–Jephcoat rule summed node by node."""
    wavelength = 1.540593
    q2 = (2.0 * np.sin(np.radians(two_theta_line) / 2.0) / wavelength) ** 2
    two_theta = np.linspace(two_theta_line - 1.5, two_theta_line + 1.5, 3001)
    model = ProfileModel(two_theta, (wavelength,), 0.0, np.array([[q2]]), background_terms=1)
    p = np.zeros(model.size)
    p[[U, V, W, X, Y, SL, HL]] = 0.004, -0.002, 0.003, 0.02, 0.01, 0.03, 0.015
    p[model.cell_slice] = 1.0
    p[model.intensity_slice] = 1.0
    calculated = model.evaluate(p)
    gamma, eta, _, _ = tch_widths(np.radians(np.array([two_theta_line])) / 2.0, *p[U:Z + 1])
    delta, omega = fcj_nodes(np.array([two_theta_line]), p[SL], p[HL], model.asymmetry_order)
    reference = sum(w * _pseudo_voigt(two_theta - (two_theta_line - d), gamma[0], eta[0])
                    for d, w in zip(delta[0], omega[0]))
    # Within the window's untapered part (4.5 FWHM of the centroid), to a part in 10⁴ of the peak height.
    centroid = two_theta_line - np.sum(omega * delta)
    inner = np.abs(two_theta - centroid) < 4.5 * gamma[0]
    assert np.abs(calculated[inner] - reference[inner]).max() <= 1e-4 * reference.max()
