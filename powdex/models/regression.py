"""Unit-cell regression at runtime, numpy only: a variance network (Nix & Weigend 1994) plus a random forest
(Breiman 2001) per group.

Both models map the scaled q² of the first observable peaks to the scaled free
cell parameters of their group. They read the peaks of the training patterns'
range (2θ ≤ 60° at 1.54 Å, q² ≤ ``Q2_WINDOW``, ``powdex.models.window``), at most ``n_peaks`` of them and
at least ``min_peaks``: a small inorganic cell has only a few lines there, and a
user's list may stop early. The input is the scaled q² of each of the
``n_peaks`` slots, zero where no peak is given, followed by the slots' presence
(1 or 0), so both models know how many peaks they were given. The network gives per parameter a
mean μ and an inverse-gamma(α, β) over its variance, whose mean β / (α − 1) is
the predicted variance; the forest gives one prediction per tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from powdex.crystal import LatticeSystem
from powdex.models.cells import cells_from_scaled, valid_cells
from powdex.models.forest import Forest
from powdex.models.numpy_layers import mlp, softplus
from powdex.models.scaling import Scaler
from powdex.models.window import Q2_WINDOW, TWO_THETA_MAX, WAVELENGTH

PEAKS = {LatticeSystem.CUBIC: 10}
DEFAULT_PEAKS = 20


def peaks_used(system: LatticeSystem) -> int:
    """Observable peaks the models read at most: 10 for cubic (one parameter), 20 otherwise."""
    return PEAKS.get(system, DEFAULT_PEAKS)


def min_peaks(system: LatticeSystem) -> int:
    """Peaks the regression models need: two more than the free parameters (cubic 3 … triclinic 8)."""
    return system.n_free + 2


def peaks_read(system: LatticeSystem, q2: np.ndarray) -> np.ndarray:
    """The peaks of one ascending list (q², Å⁻²) the regression models read: those within ``Q2_WINDOW``, at most
    ``peaks_used(system)``."""
    q2 = np.asarray(q2, dtype=float).reshape(-1)
    q2 = q2[np.isfinite(q2)]
    return q2[: min(int(np.searchsorted(q2, Q2_WINDOW, side="right")), peaks_used(system))]


def enough_peaks(system: LatticeSystem, q2: np.ndarray) -> bool:
    """Whether the regression models can read a peak list: ``peaks_read`` gives at least ``min_peaks``."""
    return len(peaks_read(system, q2)) >= min_peaks(system)


def model_inputs(scaler: Scaler, q2: np.ndarray) -> np.ndarray:
    """Inputs (n, 2 × slots) of peak lists (n, slots) padded with NaN: the scaled q² (0 where absent), then the
    presence of each slot."""
    q2 = np.atleast_2d(np.asarray(q2, dtype=float))
    present = np.isfinite(q2)
    scaled = np.where(present, scaler.scale_q2(np.where(present, q2, 0.0)), 0.0)
    return np.concatenate([scaled, present], axis=1).astype(np.float32)


@dataclass(frozen=True)
class NetworkPrediction:
    mean: np.ndarray  # (n, parameters), scaled
    alpha: np.ndarray
    beta: np.ndarray

    @property
    def variance(self) -> np.ndarray:
        return self.beta / (self.alpha - 1.0)


@dataclass(frozen=True)
class RegressionModel:
    system: LatticeSystem
    group: str
    columns: tuple[int, ...]  # which of (a, b, c, α, β, γ) the outputs are
    n_peaks: int
    scaler: Scaler
    network: dict[str, np.ndarray]
    forest: Forest

    def inputs(self, q2: np.ndarray) -> np.ndarray:
        """``model_inputs`` of peak lists (n, ≤ n_peaks), NaN or missing columns where a list has fewer peaks."""
        q2 = np.atleast_2d(np.asarray(q2, dtype=float))
        if q2.shape[1] > self.n_peaks:
            raise ValueError(f"the {self.system.value} models read {self.n_peaks} peaks, got {q2.shape[1]}")
        padded = np.full((len(q2), self.n_peaks), np.nan)
        padded[:, : q2.shape[1]] = q2
        return model_inputs(self.scaler, padded)

    def network_prediction(self, q2: np.ndarray) -> NetworkPrediction:
        x = self.inputs(q2)
        return NetworkPrediction(
            mlp(x, self.network, "mean."),
            1.0 + softplus(mlp(x, self.network, "alpha.")),
            softplus(mlp(x, self.network, "beta.")) * self.network["variance_scale"],
        )

    def forest_prediction(self, q2: np.ndarray) -> np.ndarray:
        """Each tree's scaled prediction (trees, n, parameters)."""
        return self.forest.tree_predictions(self.inputs(q2))

    def cells(self, scaled: np.ndarray) -> np.ndarray:
        """Full cells (n, 6) in Å and degrees from scaled free parameters (n, parameters)."""
        return cells_from_scaled(self.system, self.scaler, self.columns, scaled)

    def candidates(self, q2: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``count`` candidate cells (Å, degrees) for one ascending peak list (q², Å⁻²; the models read
        ``peaks_read`` of it, and refuse it with ValueError if that is under ``min_peaks``) and the uncertainty of
        each (scaled units): half drawn from the network's normal N(μ, β / (α − 1)), uncertain by its RMS σ, half the predictions of
        randomly chosen trees, uncertain by the RMS spread of the trees; invalid cells are dropped."""
        q2 = peaks_read(self.system, q2)
        if len(q2) < min_peaks(self.system):
            raise ValueError(
                f"the {self.system.value} models need {min_peaks(self.system)} peaks with q² ≤ {Q2_WINDOW:.4f} Å⁻² "
                f"(2θ ≤ {TWO_THETA_MAX:g}° at {WAVELENGTH} Å), got {len(q2)}"
            )
        from_network = count - count // 2
        prediction = self.network_prediction(q2)
        sigma = np.sqrt(prediction.variance[0])
        drawn = prediction.mean[0] + sigma * rng.standard_normal((from_network, len(self.columns)))
        trees = self.forest_prediction(q2)[:, 0]
        chosen = trees[rng.integers(len(trees), size=count // 2)]
        cells = self.cells(np.concatenate([drawn, chosen]))
        uncertainty = np.concatenate([
            np.full(len(drawn), np.sqrt(np.mean(sigma**2))), np.full(len(chosen), np.sqrt(np.mean(trees.var(axis=0))))
        ])
        valid = valid_cells(cells)
        return cells[valid], uncertainty[valid]
