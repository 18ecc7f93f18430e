"""Augmentation of the training entries: perturbed cells and resampled observable peak lists.

Everything is set up from training entries only. Cells are perturbed in scaled
space (``Scaler``) on the free parameters of the lattice system (cubic a;
tetragonal / hexagonal a, c; rhombohedral a, α; orthorhombic a, b, c;
monoclinic a, b, c and the oblique angle; triclinic all six) by one of three
methods with σ = 0.2: ``random`` (independent normal, used for cubic),
``covariance`` (multivariate normal with σ² × the training covariance) and
``svd`` (normal noise of σ × the component spread along the training set's
singular vectors, used for every other system).

Peak lists are resampled from the non-absent peaks recomputed for the perturbed
cell: the first peak is drawn from the empirical distribution of the first
observable peak's position in list 1, and each later non-absent peak is
accepted with probability ρ(Δq²) = [1 − exp(−r0 Δq²)]^r1 of its distance to the
last accepted peak. ρ is fitted to exactly that process observed in the
training entries: for every observable peak, each following list-1 peak up to
the next observable one is a trial at its distance, a success if it is
observable. (Counted as the fraction of list-2 neighbours that are list-1
neighbours, the statistic would fall with Δq², while ρ must rise from 0 to 1, so
the trials are counted from list 1.)
The trial fractions are binned in 100 log-spaced bins from 10⁻⁴ to 10^−1.75.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from powdex.training.diffraction import PEAK_LIST_LENGTH

SIGMA = 0.2
MAX_AUGMENTATIONS = 10
BIN_EDGES = np.logspace(-4, -1.75, 101)
_SAME_PEAK_RTOL = 1e-9


def acceptance(delta_q2: np.ndarray, r0: float, r1: float) -> np.ndarray:
    """ρ(Δq²) = [1 − exp(−r0 Δq²)]^r1."""
    return (1.0 - np.exp(-r0 * np.asarray(delta_q2))) ** r1


def acceptance_trials(allowed_q2: list[np.ndarray], observable_q2: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(Δq², accepted) of every trial of the sequential acceptance process seen in real peak lists."""
    deltas, accepted = [], []
    for allowed, observed in zip(allowed_q2, observable_q2):
        seen = _observed_mask(allowed, observed)
        positions = np.flatnonzero(seen)
        for current, following in zip(positions[:-1], positions[1:]):
            deltas.append(allowed[current + 1 : following + 1] - allowed[current])
            trial = np.zeros(following - current, dtype=bool)
            trial[-1] = True
            accepted.append(trial)
    if not deltas:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(deltas), np.concatenate(accepted)


def _observed_mask(allowed: np.ndarray, observed: np.ndarray) -> np.ndarray:
    index = np.clip(np.searchsorted(allowed, observed), 0, max(len(allowed) - 1, 0))
    hit = np.isclose(allowed[index], observed, rtol=_SAME_PEAK_RTOL, atol=0) if len(allowed) else np.zeros(0, bool)
    mask = np.zeros(len(allowed), dtype=bool)
    mask[index[hit]] = True
    return mask


def fit_acceptance(delta_q2: np.ndarray, accepted: np.ndarray) -> tuple[float, float]:
    """Fit (r0, r1) to the accepted fraction in the 100 log bins, weighting bins by their trial count."""
    which = np.digitize(delta_q2, BIN_EDGES) - 1
    inside = (which >= 0) & (which < len(BIN_EDGES) - 1)
    counts = np.bincount(which[inside], minlength=len(BIN_EDGES) - 1)
    hits = np.bincount(which[inside], weights=accepted[inside].astype(float), minlength=len(BIN_EDGES) - 1)
    used = counts > 0
    if used.sum() < 3:
        # Too few filled bins to determine two parameters (a lattice system of a few training entries, whose
        # exact two-point fit may lie at a bound the fit never reaches): ρ ≡ 1.
        return 1.0, 0.0
    centres = np.sqrt(BIN_EDGES[:-1] * BIN_EDGES[1:])[used]
    fraction = hits[used] / counts[used]
    # Fit log r0 so that r0 stays positive and its scale (≈ 1/Δq² at ρ = ½) is well conditioned.
    guess = np.log(1.0 / np.median(delta_q2[inside][accepted[inside]])) if accepted[inside].any() else np.log(100.0)
    with warnings.catch_warnings():
        # Few filled bins (small lattice systems) leave the parameter covariance undefined; it is not used.
        warnings.simplefilter("ignore", OptimizeWarning)
        (log_r0, r1), _ = curve_fit(
            lambda d, lr0, r1: acceptance(d, np.exp(lr0), r1),
            centres,
            fraction,
            p0=(guess, 1.0),
            sigma=1.0 / np.sqrt(counts[used]),
            bounds=([-5.0, 1e-3], [20.0, 100.0]),
        )
    return float(np.exp(log_r0)), float(r1)


def first_peak_distribution(allowed_q2: list[np.ndarray], observable_q2: list[np.ndarray]) -> np.ndarray:
    """Empirical probability of each list-1 position (0–59) being the first observable peak."""
    firsts = [int(np.argmax(m)) for m in (_observed_mask(a, o) for a, o in zip(allowed_q2, observable_q2)) if m.any()]
    counts = np.bincount(firsts, minlength=PEAK_LIST_LENGTH)[:PEAK_LIST_LENGTH].astype(float)
    return counts / counts.sum() if counts.sum() else np.eye(PEAK_LIST_LENGTH)[0]


@dataclass(frozen=True)
class PeakResampler:
    r0: float
    r1: float
    first_peak: np.ndarray  # probabilities over list-1 positions

    @classmethod
    def fit(cls, allowed_q2: list[np.ndarray], observable_q2: list[np.ndarray]) -> PeakResampler:
        r0, r1 = fit_acceptance(*acceptance_trials(allowed_q2, observable_q2))
        return cls(r0, r1, first_peak_distribution(allowed_q2, observable_q2))

    def resample(self, allowed_q2: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Positions in ``allowed_q2`` (sorted) of a resampled observable peak list."""
        if len(allowed_q2) == 0:
            return np.zeros(0, dtype=int)
        current = min(int(rng.choice(len(self.first_peak), p=self.first_peak)), len(allowed_q2) - 1)
        chosen = [current]
        draws = rng.random(len(allowed_q2))
        for candidate in range(current + 1, len(allowed_q2)):
            if len(chosen) == PEAK_LIST_LENGTH:
                break
            if draws[candidate] < acceptance(allowed_q2[candidate] - allowed_q2[current], self.r0, self.r1):
                chosen.append(candidate)
                current = candidate
        return np.array(chosen)


@dataclass(frozen=True)
class CellPerturber:
    """Perturbation of scaled free cell parameters (rows of the training matrix fix the method's statistics)."""

    method: str  # "random", "covariance" or "svd"
    covariance: np.ndarray
    basis: np.ndarray  # right singular vectors as columns
    component_std: np.ndarray

    @classmethod
    def fit(cls, scaled_free_parameters: np.ndarray, method: str) -> CellPerturber:
        x = np.asarray(scaled_free_parameters, dtype=float)
        if method not in ("random", "covariance", "svd"):
            raise ValueError(f"unknown perturbation method {method!r}")
        covariance = np.atleast_2d(np.cov(x, rowvar=False)) if len(x) > 1 else np.eye(x.shape[1])
        # Centred first: the singular vectors of raw parameters point at the mean, not along the spread.
        centred = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        return cls(method, covariance, vt.T, (centred @ vt.T).std(axis=0))

    def perturb(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.method == "random":
            return x + rng.normal(0.0, SIGMA, size=x.shape)
        if self.method == "covariance":
            return rng.multivariate_normal(x, SIGMA**2 * self.covariance)
        components = x @ self.basis
        return (components + rng.normal(0.0, SIGMA * self.component_std)) @ self.basis.T


def augmentation_counts(symbols: list[str], target_per_symbol: int) -> np.ndarray:
    """Augmentations per entry: enough to bring each Hermann–Mauguin symbol towards ``target_per_symbol``
    entries, at most MAX_AUGMENTATIONS each, none for symbols that already have that many."""
    _, inverse, counts = np.unique(np.asarray(symbols), return_inverse=True, return_counts=True)
    wanted = np.ceil(target_per_symbol / counts[inverse]).astype(int) - 1
    return np.clip(wanted, 0, MAX_AUGMENTATIONS)
