"""Reference indices, labels and the assignment network on a small orthorhombic dataset."""

import numpy as np
import pytest

from powdex.crystal import Cell, LatticeSystem, reference_miller_indices
from powdex.models.assignment import (
    best_other_peak,
    build_reference,
    candidate_cells,
    labels,
    matched_lines,
    nearest_reference,
    reference_q2,
)
from powdex.models.cells import perturbed_cells, swap_cell_axes, swap_index_axes, unique_axis_swap
from powdex.models.evaluate import assignment_errors
from powdex.models.window import WAVELENGTH
from powdex.peaks import two_theta_to_q2


def test_reference_is_sorted_by_mean_spacing_and_labels_find_equivalent_indices(small_orthorhombic):
    data = small_orthorhombic
    cells = data.cells[:200]  # fewer than the sorting sample: every cell counts
    reference = build_reference(data.system, cells)
    assert reference.shape == (500, 3)
    assert np.all(np.diff(reference_q2(data.system, reference, cells).mean(axis=0)) >= 0)
    # A sign change keeps h², k², l²: the same line, the same label; indices beyond the list get the (000) class.
    flipped = reference[None, :20] * np.array([-1, 1, -1])
    np.testing.assert_array_equal(labels(data.system, reference, data.cells[:1], flipped), [np.arange(20)])
    assert labels(data.system, reference, data.cells[:1], np.array([[[19, 20, 20]]]))[0, 0] == 500


def test_best_other_peak_is_the_largest_delta_star_of_the_other_peaks_at_each_reference():
    delta = np.array([[[0.9, 0.1, 0.3], [0.2, 0.8, 0.3], [0.5, 0.4, 0.1]]])  # 3 peaks × 3 references
    expected = [[[0.5, 0.8, 0.3], [0.9, 0.4, 0.3], [0.9, 0.8, 0.3]]]  # a tie at the best stays the best
    np.testing.assert_array_equal(best_other_peak(delta), expected)


def test_matched_lines_give_two_peaks_near_one_line_different_lines():
    # Lines at q² 1.0, 1.1, 2.0; peaks at 1.02 and 1.04 are both nearest to 1.0, the second is sent to 1.1.
    epsilon = 0.01
    distance = np.abs(np.array([1.02, 1.04, 1.98])[:, None] - np.array([1.0, 1.1, 2.0])[None, :])
    delta = (epsilon / (distance + epsilon))[None]
    np.testing.assert_array_equal(delta.argmax(axis=2), [[0, 0, 2]])
    np.testing.assert_array_equal(matched_lines(delta), [np.eye(3)])


def test_monoclinic_cells_with_unique_axis_a_or_c_are_handled_through_an_axis_exchange():
    system = LatticeSystem.MONOCLINIC
    reference = reference_miller_indices(system, limit=300)
    b_unique = np.array([[5.0, 6.0, 7.0, 90.0, 101.0, 90.0]])
    for oblique in (3, 5):  # α, γ
        axis = np.array([oblique - 3])
        cell = swap_cell_axes(b_unique, axis)
        assert unique_axis_swap(system, cell)[0] == oblique - 3
        hkl = swap_index_axes(reference[None, :40], axis)
        np.testing.assert_allclose(Cell.from_parameters(cell[0]).q2(hkl[0]), Cell.from_parameters(b_unique[0]).q2(reference[:40]))
        np.testing.assert_array_equal(labels(system, reference, cell, hkl), [np.arange(40)])
        np.testing.assert_allclose(reference_q2(system, reference, cell), reference_q2(system, reference, b_unique))


def test_perturbed_cells_keep_the_lattice_system_and_scale_with_sigma(small_orthorhombic):
    data = small_orthorhombic
    rng = np.random.default_rng(0)
    spread = [np.std(data.scaler.scale_cells(perturbed_cells(data.system, data.scaler, data.cells, s, rng)) - data.scaler.scale_cells(data.cells)) for s in (0.1, 0.01)]
    assert spread[0] == pytest.approx(0.1 * np.sqrt(3 / 6), rel=0.1)  # noise on 3 of the 6 columns
    assert spread[1] == pytest.approx(0.01 * np.sqrt(3 / 6), rel=0.1)


def test_assignment_network_beats_the_nearest_reference_baseline(body_centred_cubic):
    """Body centring removes half the reference lines; the network learns that, the nearest reference cannot."""
    pytest.importorskip("torch")
    from powdex.models.train import AssignmentConfig, train_assignment_network

    data = body_centred_cubic
    train, validation = data.subset(data.training), data.subset(~data.training)
    reference = build_reference(data.system, train.cells)
    no_prediction = np.full((len(data.cells), 6), np.nan), np.full(len(data.cells), np.nan)
    config = AssignmentConfig(hidden=(100, 100, 50), epochs=6, batch_size=64, dropout=0.1, noise_levels=(0.05, 0.02))
    model, history = train_assignment_network(
        train, reference, tuple(a[data.training] for a in no_prediction), validation,
        tuple(a[~data.training] for a in no_prediction), config, seed=0,
    )
    assert history[-1]["training"] < history[0]["training"]
    target = labels(data.system, reference, validation.cells, validation.hkl)
    rng = np.random.default_rng(1)
    for sigma in (0.05, 0.02):
        sources = np.ones(len(validation.cells), dtype=int)
        cells, uncertainty = candidate_cells(validation, tuple(a[~data.training] for a in no_prediction), sources, (sigma,), rng)
        assert np.all(uncertainty == sigma)
        network = np.mean(model.probabilities(validation.q2, cells, uncertainty).argmax(axis=2) == target)
        baseline = np.mean(nearest_reference(validation.q2, reference_q2(data.system, reference, cells)) == target)
        assert network > baseline + 0.03, (sigma, network, baseline)


def test_assignment_errors_count_wins_losses_and_errors_at_a_line_too_close_to_tell():
    # Lines at 20.00°, 20.05° (closer than FWHM / 1.5 = 0.067°) and 30°; class 3 is (000).
    q2_reference = two_theta_to_q2(np.array([[20.0, 20.05, 30.0]]), WAVELENGTH)
    truth = np.array([[0, 1, 2, 0]])
    network = np.array([[1, 1, 0, 3]])  # the overlapping line, right, a distant line, (000)
    baseline = np.array([[0, 0, 2, 2]])
    errors = assignment_errors(network, baseline, truth, q2_reference)
    assert (errors.network_wins, errors.network_losses) == (1, 2)
    assert (errors.network_errors, errors.errors_at_overlapping_lines) == (3, 1)
