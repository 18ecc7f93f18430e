"""Unit-cell regression at runtime (section 2.2), numpy only: variance network plus random forest per group.

Both models map the scaled q² of the first ``n_peaks`` observable peaks to the
scaled free cell parameters of their group. The network gives per parameter a
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
from powdex.training.scaling import Scaler

PEAKS = {LatticeSystem.CUBIC: 10}
DEFAULT_PEAKS = 20


def peaks_used(system: LatticeSystem) -> int:
    """Observable peaks the models read: 10 for cubic (one parameter), 20 otherwise."""
    return PEAKS.get(system, DEFAULT_PEAKS)


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
        """Scaled first ``n_peaks`` q² (n, n_peaks) of peak lists (n, ≥ n_peaks) or one list."""
        q2 = np.atleast_2d(np.asarray(q2, dtype=float))
        if q2.shape[1] < self.n_peaks:
            raise ValueError(f"the {self.system.value} models need {self.n_peaks} peaks, got {q2.shape[1]}")
        return self.scaler.scale_q2(q2[:, : self.n_peaks]).astype(np.float32)

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
        """Up to ``count`` candidate cells (Å, degrees) for one peak list and the uncertainty of each (scaled units):
        half drawn from the network's normal N(μ, β / (α − 1)), uncertain by its RMS σ, half the predictions of
        randomly chosen trees, uncertain by the RMS spread of the trees; invalid cells are dropped."""
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
