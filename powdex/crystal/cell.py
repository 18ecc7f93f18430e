"""Unit cells, metric tensors and the reciprocal-metric form of the powder equation.

Every powder indexing formula in powdex rests on one identity, the quadratic form
of the reciprocal metric that indexing has used since Runge (1917) and Ito (1949):

    q²(hkl) = 1/d² = A h² + B k² + C l² + D hk + E hl + F kl

with (A, B, C, D, E, F) = (G*₁₁, G*₂₂, G*₃₃, 2G*₁₂, 2G*₁₃, 2G*₂₃), G* the reciprocal
metric tensor. The six numbers are the S coefficients of the general equation divided by V² (mixed
terms with their factor 2). They
are called *reciprocal coefficients* here, always in the order
(hh, kk, ll, hk, hl, kl). The functions below are vectorised over leading axes so
that the indexer can treat thousands of trial cells at once; `Cell` is the
validated single-cell type that users see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import gemmi
import numpy as np

PARAMETER_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")
COEFFICIENT_NAMES = ("hh", "kk", "ll", "hk", "hl", "kl")


def metric_tensor(parameters: np.ndarray) -> np.ndarray:
    """Direct metric tensor G (…, 3, 3) from lattice parameters (…, 6), angles in degrees."""
    p = np.asarray(parameters, dtype=float)
    a, b, c = p[..., 0], p[..., 1], p[..., 2]
    ca, cb, cg = (np.cos(np.radians(p[..., i])) for i in (3, 4, 5))
    g = np.empty(p.shape[:-1] + (3, 3))
    g[..., 0, 0], g[..., 1, 1], g[..., 2, 2] = a * a, b * b, c * c
    g[..., 0, 1] = g[..., 1, 0] = a * b * cg
    g[..., 0, 2] = g[..., 2, 0] = a * c * cb
    g[..., 1, 2] = g[..., 2, 1] = b * c * ca
    return g


def parameters_from_metric(g: np.ndarray) -> np.ndarray:
    """Lattice parameters (…, 6) from a metric tensor (…, 3, 3); NaN where not positive definite."""
    g = np.asarray(g, dtype=float)
    diag = np.stack([g[..., 0, 0], g[..., 1, 1], g[..., 2, 2]], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lengths = np.sqrt(diag)
        cos = np.stack(
            [
                g[..., 1, 2] / (lengths[..., 1] * lengths[..., 2]),
                g[..., 0, 2] / (lengths[..., 0] * lengths[..., 2]),
                g[..., 0, 1] / (lengths[..., 0] * lengths[..., 1]),
            ],
            axis=-1,
        )
        angles = np.degrees(np.arccos(cos))
    out = np.concatenate([lengths, angles], axis=-1)
    out[~_positive_definite(g)] = np.nan
    return out


def _positive_definite(g: np.ndarray) -> np.ndarray:
    # Sylvester's criterion on the leading minors; cheap and vectorised.
    m1 = g[..., 0, 0]
    m2 = g[..., 0, 0] * g[..., 1, 1] - g[..., 0, 1] ** 2
    m3 = np.linalg.det(g)
    return (m1 > 0) & (m2 > 0) & (m3 > 0)


def coefficients_from_reciprocal_metric(gstar: np.ndarray) -> np.ndarray:
    gstar = np.asarray(gstar, dtype=float)
    return np.stack(
        [
            gstar[..., 0, 0],
            gstar[..., 1, 1],
            gstar[..., 2, 2],
            2 * gstar[..., 0, 1],
            2 * gstar[..., 0, 2],
            2 * gstar[..., 1, 2],
        ],
        axis=-1,
    )


def reciprocal_metric_from_coefficients(coefficients: np.ndarray) -> np.ndarray:
    x = np.asarray(coefficients, dtype=float)
    g = np.empty(x.shape[:-1] + (3, 3))
    g[..., 0, 0], g[..., 1, 1], g[..., 2, 2] = x[..., 0], x[..., 1], x[..., 2]
    g[..., 0, 1] = g[..., 1, 0] = x[..., 3] / 2
    g[..., 0, 2] = g[..., 2, 0] = x[..., 4] / 2
    g[..., 1, 2] = g[..., 2, 1] = x[..., 5] / 2
    return g


def reciprocal_coefficients(parameters: np.ndarray) -> np.ndarray:
    """The six reciprocal coefficients (…, 6) of lattice parameters (…, 6)."""
    return coefficients_from_reciprocal_metric(np.linalg.inv(metric_tensor(parameters)))


def parameters_from_coefficients(coefficients: np.ndarray) -> np.ndarray:
    """Lattice parameters (…, 6) of reciprocal coefficients (…, 6); NaN rows where no lattice exists."""
    gstar = reciprocal_metric_from_coefficients(coefficients)
    ok = _positive_definite(gstar)
    safe = np.where(ok[..., None, None], gstar, np.eye(3))
    params = parameters_from_metric(np.linalg.inv(safe))
    params[~ok] = np.nan
    return params


def miller_terms(hkl: np.ndarray) -> np.ndarray:
    """(h², k², l², hk, hl, kl) of Miller indices (…, 3): q² = miller_terms(hkl) @ coefficients."""
    h = np.asarray(hkl, dtype=float)
    hh, kk, ll = h[..., 0], h[..., 1], h[..., 2]
    return np.stack([hh * hh, kk * kk, ll * ll, hh * kk, hh * ll, kk * ll], axis=-1)


def volume(parameters: np.ndarray) -> np.ndarray:
    """Cell volume (…) of lattice parameters (…, 6)."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.linalg.det(metric_tensor(parameters)))


@dataclass(frozen=True)
class Cell:
    """A unit cell: lengths in Å, angles in degrees.

    Modelled on pymatgen's ``Lattice``: immutable, validated on construction, with
    the derived quantities (volume, metric tensors, reciprocal coefficients) as
    properties. Basis changes use the crystallographic convention that the rows of
    an integer matrix ``M`` give the new basis vectors in terms of the old ones
    (a' = M₀₀a + M₀₁b + M₀₂c, …), so Miller indices transform as h' = M h.
    """

    a: float
    b: float
    c: float
    alpha: float = 90.0
    beta: float = 90.0
    gamma: float = 90.0

    def __post_init__(self) -> None:
        # Plain floats, not numpy: the indexer makes thousands of cells, and numpy's per-call overhead on six
        # numbers was most of the cost of making one.
        for name in PARAMETER_NAMES:
            value = float(getattr(self, name))
            object.__setattr__(self, name, value)
            if not math.isfinite(value):
                raise ValueError(f"cell parameter {name} = {value} is not finite")
        if min(self.a, self.b, self.c) <= 0:
            raise ValueError(f"cell lengths must be positive, got {self.a}, {self.b}, {self.c}")
        if not all(0 < x < 180 for x in (self.alpha, self.beta, self.gamma)):
            raise ValueError("cell angles must lie in (0, 180) degrees")
        # With positive lengths and angles in (0°, 180°) the metric tensor is positive definite exactly when its
        # determinant, a²b²c² times this factor, is positive (Sylvester's criterion; the 2 × 2 minor is a²b² sin²γ).
        ca, cb, cg = (math.cos(math.radians(x)) for x in (self.alpha, self.beta, self.gamma))
        if not 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg > 0:
            raise ValueError(
                f"angles {self.alpha}, {self.beta}, {self.gamma} do not form a cell (zero or imaginary volume)"
            )

    @classmethod
    def from_parameters(cls, parameters) -> Cell:
        return cls(*np.asarray(parameters, dtype=float).tolist())

    @classmethod
    def from_reciprocal_coefficients(cls, coefficients) -> Cell:
        params = parameters_from_coefficients(np.asarray(coefficients, dtype=float))
        if np.isnan(params).any():
            raise ValueError(f"reciprocal coefficients {list(coefficients)} do not describe a lattice")
        return cls.from_parameters(params)

    @classmethod
    def from_metric_tensor(cls, g) -> Cell:
        params = parameters_from_metric(np.asarray(g, dtype=float))
        if np.isnan(params).any():
            raise ValueError("metric tensor is not positive definite")
        return cls.from_parameters(params)

    @classmethod
    def from_gemmi(cls, cell: gemmi.UnitCell) -> Cell:
        return cls(cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma)

    def to_gemmi(self) -> gemmi.UnitCell:
        return gemmi.UnitCell(*self.parameters)

    @property
    def parameters(self) -> np.ndarray:
        return np.array([self.a, self.b, self.c, self.alpha, self.beta, self.gamma])

    @cached_property
    def volume(self) -> float:
        return float(volume(self.parameters))

    @property
    def metric_tensor(self) -> np.ndarray:
        return metric_tensor(self.parameters)

    @property
    def reciprocal_coefficients(self) -> np.ndarray:
        return reciprocal_coefficients(self.parameters)

    @property
    def matrix(self) -> np.ndarray:
        """Cartesian basis vectors as rows (a along x, b in the xy plane), Å."""
        return np.array(self.to_gemmi().orth.mat).T

    def q2(self, hkl) -> np.ndarray:
        """q² = 1/d² (Å⁻²) of Miller indices (…, 3)."""
        return miller_terms(hkl) @ self.reciprocal_coefficients

    def d_spacing(self, hkl) -> np.ndarray:
        return 1.0 / np.sqrt(self.q2(hkl))

    def miller_indices_within(self, q2_max: float) -> tuple[np.ndarray, np.ndarray]:
        """Every Miller index (h and −h both, (000) left out) with q² ≤ ``q2_max``, and its q²."""
        # |h| = |a · q| ≤ a |q| for any cell.
        limits = np.ceil(np.sqrt(q2_max) * self.parameters[:3]).astype(int)
        grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in limits], indexing="ij"), axis=-1).reshape(-1, 3)
        q2 = self.q2(grid)
        keep = (q2 > 0) & (q2 <= q2_max)
        return grid[keep], q2[keep]

    def transformed(self, matrix) -> Cell:
        """The same lattice described in the basis whose rows are ``matrix`` @ (a, b, c)."""
        m = np.asarray(matrix, dtype=float)
        if abs(np.linalg.det(m)) < 1e-9:
            raise ValueError("basis transformation matrix is singular")
        return Cell.from_metric_tensor(m @ self.metric_tensor @ m.T)

    def __str__(self) -> str:
        return (
            f"a={self.a:.5f} b={self.b:.5f} c={self.c:.5f} "
            f"α={self.alpha:.3f} β={self.beta:.3f} γ={self.gamma:.3f} (V={self.volume:.2f} Å³)"
        )
