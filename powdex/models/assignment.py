"""Miller-index assignment by a classifier network: reference indices, network inputs, labels, numpy inference.

For a candidate cell, the reference q² of every reference index is compared
with every observed peak in scaled units (Δ = (q²obs − q²ref) / σ_q², σ_q² the
q² scale of the lattice system) and squashed to Δ* = ε / (|Δ| + ε) ∈ (0, 1], large
where a reference line sits on a peak. ε is proportional to the candidate's
uncertainty τ (one network that is told τ, rather than one network per noise level
with its own ε): a cell known to 1 % measures distances
on a scale ten times finer than one known to 10 %. The network maps each peak's row of Δ*,
with the row of the largest Δ* any other peak has at each reference (a line another
peak sits on is less likely to be this one's: two observed peaks are two lines), to a
distribution over the references plus one last class, (000), for indices outside the
reference list; the line each peak gets in the pattern's one-to-one matching of least
total distance adds to its logit (``torch_modules.AssignmentModule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from powdex.crystal import (
    LatticeSystem,
    miller_terms,
    reciprocal_coefficients,
    reference_miller_indices,
    sort_by_mean_spacing,
    spacing_invariants,
)
from powdex.models.cells import perturbed_cells, swap_cell_axes, swap_index_axes, unique_axis_swap, valid_cells
from powdex.models.numpy_layers import mlp, softmax, softplus
from powdex.models.regression import RegressionModel

if TYPE_CHECKING:  # training and evaluation pass training tables; running the models needs no pyarrow
    from powdex.models.data import SystemData

REFERENCE_SIZE = {LatticeSystem.CUBIC: 100}
DEFAULT_REFERENCE_SIZE = 500
_SORTING_CELLS = 256  # training cells averaged over to sort the references: plenty for a stable order
_BATCH = 256  # candidates per numpy batch: bounds the (batch, peaks, references) arrays


def reference_size(system: LatticeSystem) -> int:
    return REFERENCE_SIZE.get(system, DEFAULT_REFERENCE_SIZE)


def build_reference(system: LatticeSystem, cells: np.ndarray, seed: int = 0) -> np.ndarray:
    """The system's reference indices sorted by their q² averaged over training cells, first ``reference_size`` kept."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 6)
    rng = np.random.default_rng(seed)
    sample = cells[rng.choice(len(cells), min(len(cells), _SORTING_CELLS), replace=False)]
    sample = swap_cell_axes(sample, unique_axis_swap(system, sample))
    ordered = sort_by_mean_spacing(reference_miller_indices(system), reciprocal_coefficients(sample))
    return np.ascontiguousarray(ordered[: reference_size(system)])


def reference_q2(system: LatticeSystem, reference: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """q² (n, references) of the reference indices in each cell (n, 6)."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 6)
    canonical = swap_cell_axes(cells, unique_axis_swap(system, cells))
    return reciprocal_coefficients(canonical) @ miller_terms(reference).T


def delta_star(q2_observed: np.ndarray, q2_reference: np.ndarray, q2_scale: float, epsilon) -> np.ndarray:
    """Δ* (n, peaks, references), float32, from observed (n, peaks) and reference (n, references) q²;
    ``epsilon`` one value or one per candidate (n,)."""
    delta = np.abs(q2_observed[:, :, None] - q2_reference[:, None, :]) / q2_scale
    epsilon = np.asarray(epsilon, dtype=float).reshape(-1, 1, 1) if np.ndim(epsilon) else epsilon
    return (epsilon / (delta + epsilon)).astype(np.float32)


def best_other_peak(delta: np.ndarray) -> np.ndarray:
    """For Δ* (n, peaks, references): at each peak and reference, the largest Δ* of any other peak there."""
    top = np.sort(np.partition(delta, -2, axis=1)[:, -2:], axis=1)  # (n, 2, references): second best, best
    return np.where(delta >= top[:, 1:], top[:, :1], top[:, 1:])


def matched_lines(delta: np.ndarray) -> np.ndarray:
    """One-hot (n, peaks, references): each pattern's peaks assigned to distinct reference lines with the least
    total distance Σ |Δ| (``scipy.optimize.linear_sum_assignment`` on ε / Δ* = |Δ| + ε)."""
    from scipy.optimize import linear_sum_assignment  # scipy.optimize is a second of import; only assigning needs it

    out = np.zeros(np.shape(delta), dtype=np.float32)
    for pattern, row in zip(out, np.asarray(delta, dtype=np.float64)):
        peaks, lines = linear_sum_assignment(1.0 / row)
        pattern[peaks, lines] = 1.0
    return out


def labels(system: LatticeSystem, reference: np.ndarray, cells: np.ndarray, hkl: np.ndarray) -> np.ndarray:
    """Class (n, peaks) of observed indices (n, peaks, 3) in their cells: the reference with the same
    spacing invariants, or ``len(reference)`` — the (000) class — when none has them."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 6)
    canonical = swap_index_axes(hkl, unique_axis_swap(system, cells))
    observed = spacing_invariants(system, canonical.reshape(-1, 3))
    known = spacing_invariants(system, np.asarray(reference))
    _, inverse = np.unique(np.concatenate([known, observed]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    class_of = np.full(inverse.max() + 1, len(reference))
    class_of[inverse[: len(known)]] = np.arange(len(known))  # references have distinct invariants by construction
    return class_of[inverse[len(known) :]].reshape(np.shape(hkl)[:-1])


def nearest_reference(q2_observed: np.ndarray, q2_reference: np.ndarray) -> np.ndarray:
    """Baseline assignment (n, peaks): the reference line closest in q² to each peak."""
    return np.argmin(np.abs(q2_observed[:, :, None] - q2_reference[:, None, :]), axis=2)


PREDICTED = 0  # source of candidate cells: the regression prediction; source i > 0 is noise_levels[i - 1]


def random_sources(predicted: np.ndarray, noise_levels: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """A source per entry, uniform over the predicted cell (where there is one) and the noise levels."""
    sources = rng.integers(len(noise_levels) + 1, size=len(predicted))
    missing = np.isnan(predicted[:, 0]) & (sources == PREDICTED)
    sources[missing] = rng.integers(1, len(noise_levels) + 1, size=int(missing.sum()))
    return sources


def predicted_cells(data: SystemData, regression: dict[str, RegressionModel]) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's cell predicted by its own group's network (mean) and that prediction's RMS σ (scaled units);
    NaN rows for groups without models or invalid cells."""
    cells = np.full((len(data.cells), 6), np.nan)
    uncertainty = np.full(len(data.cells), np.nan)
    for group, model in regression.items():
        rows = np.flatnonzero(data.group == group)
        if len(rows):
            prediction = model.network_prediction(data.q2[rows])
            cells[rows] = model.cells(prediction.mean)
            uncertainty[rows] = np.sqrt(np.mean(prediction.variance, axis=1))
    invalid = ~valid_cells(cells)
    cells[invalid], uncertainty[invalid] = np.nan, np.nan
    return cells, uncertainty


def candidate_cells(
    data: SystemData, predicted: tuple[np.ndarray, np.ndarray], sources: np.ndarray, noise_levels: tuple[float, ...],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The cell (n, 6) the assignment sees per entry and its uncertainty (n,): the predicted cell and σ for
    source 0 (NaN where there is none), else the true cell with fresh N(0, σ²) noise on the scaled free
    parameters and that σ, σ = ``noise_levels[source - 1]``."""
    cells = np.array(predicted[0], dtype=float, copy=True)
    uncertainty = np.array(predicted[1], dtype=float, copy=True)
    for source, sigma in enumerate(noise_levels, start=1):
        rows = sources == source
        cells[rows] = perturbed_cells(data.system, data.scaler, data.cells[rows], sigma, rng)
        uncertainty[rows] = sigma
    return cells, uncertainty


def clipped_uncertainty(uncertainty) -> np.ndarray:
    """τ as the network reads it: clipped to [10⁻³, 1] scaled units (a true cell is τ = 10⁻³)."""
    return np.clip(np.asarray(uncertainty, dtype=np.float32), 1e-3, 1.0)


@dataclass(frozen=True)
class AssignmentModel:
    """A trained assignment network of one lattice system, evaluated with numpy."""

    system: LatticeSystem
    reference: np.ndarray  # (references, 3), unique axis b for monoclinic
    epsilon_per_uncertainty: float  # Δ*'s ε = this × τ: distances measured against the cell's own uncertainty
    q2_scale: float
    n_peaks: int
    weights: dict[str, np.ndarray]

    def probabilities(self, q2_observed: np.ndarray, cells: np.ndarray, uncertainty) -> np.ndarray:
        """Class probabilities (n, peaks, references + 1) for the first ``n_peaks`` peaks (n, ≥ peaks) in cells (n, 6)
        known to ``uncertainty`` (n,) or one value, in scaled units (``SystemModels.candidates`` gives it).

        One peak list (peaks,) is shared by all cells.
        """
        cells = np.asarray(cells, dtype=float).reshape(-1, 6)
        return self.probabilities_of_lines(q2_observed, reference_q2(self.system, self.reference, cells), uncertainty)

    def probabilities_of_lines(self, q2_observed: np.ndarray, q2_reference: np.ndarray, uncertainty) -> np.ndarray:
        """``probabilities`` from the reference lines' q² (n, references) of each cell, for callers that hold
        the cells as reciprocal parameters (the indexer's chains)."""
        q2_reference = np.atleast_2d(q2_reference)
        n = len(q2_reference)
        q2 = np.broadcast_to(np.atleast_2d(q2_observed)[:, : self.n_peaks], (n, self.n_peaks))
        tau = np.broadcast_to(clipped_uncertainty(uncertainty), (n,))
        out = np.empty((n, self.n_peaks, len(self.reference) + 1), dtype=np.float32)
        for start in range(0, n, _BATCH):
            part = slice(start, start + _BATCH)
            inputs = delta_star(q2[part], q2_reference[part], self.q2_scale, self.epsilon_per_uncertainty * tau[part])
            out[part] = softmax(self.logits(inputs, np.log(tau[part])))
        return out

    def logits(self, inputs: np.ndarray, log_tau: np.ndarray) -> np.ndarray:
        """``AssignmentModule.forward`` in numpy: per-peak heads on context-mixed features, plus the evidence."""
        w = self.weights
        hidden = mlp(np.concatenate([inputs, best_other_peak(inputs)], axis=2), w, "shared.")
        hidden = hidden + hidden.mean(axis=1, keepdims=True) @ w["context.weight"].T + w["context.bias"]
        logits = np.einsum("bph,poh->bpo", hidden, w["heads_weight"], optimize=True) + w["heads_bias"]  # optimize: a BLAS matmul, 7× faster
        fit = np.log(inputs.max(axis=2)).mean(axis=1, keepdims=True)
        log_tau = np.asarray(log_tau, dtype=np.float32)[:, None]
        outside = np.exp(w["outside_distance"][None, :] - log_tau)
        distance = np.concatenate([1.0 / inputs - 1.0, outside[..., None]], axis=2)

        def weight(name: str) -> np.ndarray:
            return softplus(w[f"{name}_offset"] + w[f"{name}_slope"] * log_tau + w[f"{name}_fit"] * fit)[..., None]

        logits = logits - weight("evidence") * np.log1p(distance) - weight("precision") * distance**2
        logits[..., :-1] += weight("matched") * matched_lines(inputs)
        return logits

    def assign(self, q2_observed: np.ndarray, cells: np.ndarray, uncertainty) -> tuple[np.ndarray, np.ndarray]:
        """Most probable Miller indices (n, peaks, 3) in each cell's own axes ((000) when outside the list) and their probability."""
        cells = np.asarray(cells, dtype=float).reshape(-1, 6)
        p = self.probabilities(q2_observed, cells, uncertainty)
        best = p.argmax(axis=2)
        hkl = np.concatenate([self.reference, np.zeros((1, 3), dtype=self.reference.dtype)])[best]
        return swap_index_axes(hkl, unique_axis_swap(self.system, cells)), np.take_along_axis(p, best[..., None], 2)[..., 0]
