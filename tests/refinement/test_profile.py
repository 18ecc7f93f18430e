"""The reduced Finger–Cox–Jephcoat quadrature: Gauss rules of each peak's own weight."""

import numpy as np
import pytest

from powdex.refinement.profile import asymmetry_node_counts, fcj_nodes, reduced_nodes


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
