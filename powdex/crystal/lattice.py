"""The seven lattice systems and their linear forward models q²(hkl).

For every lattice system the six reciprocal coefficients are a *linear* function
of a few free parameters x (``coefficients = x @ T``, T a constant matrix), so
the forward model is ``q² = miller_terms(hkl) @ T.T @ x``: a design matrix times
x. Least squares in x is linear and the Hessian of q² in x is zero, which the
SVD-Index solver and the likelihood optimiser both exploit.

Free reciprocal parameters per system (conventional axes):

============  ===================================  ==============================
system        x                                    q²
============  ===================================  ==============================
cubic         A = 1/a²                             A(h²+k²+l²)
tetragonal    A = 1/a², C = 1/c²                   A(h²+k²) + C l²
hexagonal     A = 4/(3a²), C = 1/c²                A(h²+hk+k²) + C l²
rhombohedral  A = G*₁₁, D = 2G*₁₂ (rhomb. axes)    A(h²+k²+l²) + D(hk+hl+kl)
orthorhombic  A, B, C                              Ah² + Bk² + Cl²
monoclinic    A, B, C, E (unique axis b)           Ah² + Bk² + Cl² + E hl
triclinic     A, B, C, D, E, F                     the general equation
============  ===================================  ==============================
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from powdex.crystal.cell import Cell, miller_terms, parameters_from_coefficients


def _rows(*rows) -> np.ndarray:
    return np.array(rows, dtype=float)


# Rows: free parameter; columns: reciprocal coefficient (hh, kk, ll, hk, hl, kl).
_COEFFICIENT_MAPS = {
    "cubic": _rows([1, 1, 1, 0, 0, 0]),
    "tetragonal": _rows([1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]),
    "hexagonal": _rows([1, 1, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0]),
    "rhombohedral": _rows([1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]),
    "orthorhombic": _rows([1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]),
    "monoclinic": _rows(
        [1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0]
    ),
    "triclinic": np.eye(6),
}

# Names of the free direct-space parameters, for random cells and reports.
_FREE_PARAMETERS = {
    "cubic": ("a",),
    "tetragonal": ("a", "c"),
    "hexagonal": ("a", "c"),
    "rhombohedral": ("a", "alpha"),
    "orthorhombic": ("a", "b", "c"),
    "monoclinic": ("a", "b", "c", "beta"),
    "triclinic": ("a", "b", "c", "alpha", "beta", "gamma"),
}


class LatticeSystem(str, Enum):
    CUBIC = "cubic"
    TETRAGONAL = "tetragonal"
    HEXAGONAL = "hexagonal"
    RHOMBOHEDRAL = "rhombohedral"
    ORTHORHOMBIC = "orthorhombic"
    MONOCLINIC = "monoclinic"
    TRICLINIC = "triclinic"

    @property
    def coefficient_map(self) -> np.ndarray:
        """T (n_free, 6): reciprocal coefficients = x @ T."""
        return _COEFFICIENT_MAPS[self.value]

    @property
    def n_free(self) -> int:
        return self.coefficient_map.shape[0]

    @property
    def free_parameter_names(self) -> tuple[str, ...]:
        return _FREE_PARAMETERS[self.value]

    @property
    def symmetry_rank(self) -> int:
        """Higher for more symmetric systems; ties between candidates go to the higher rank."""
        return _SYMMETRY_RANK[self]

    def design_matrix(self, hkl) -> np.ndarray:
        """H (…, n_free) with q² = H @ x for Miller indices (…, 3)."""
        return miller_terms(hkl) @ self.coefficient_map.T

    def coefficients(self, x) -> np.ndarray:
        return np.asarray(x, dtype=float) @ self.coefficient_map

    def free_reciprocal_parameters(self, cell: Cell) -> np.ndarray:
        """x of a cell in this system's conventional axes (least-squares projection)."""
        x, *_ = np.linalg.lstsq(self.coefficient_map.T, cell.reciprocal_coefficients, rcond=None)
        return x

    def lattice_parameters(self, x) -> np.ndarray:
        """Lattice parameters (…, 6) of free reciprocal parameters (…, n_free); NaN where invalid."""
        return parameters_from_coefficients(self.coefficients(x))

    def cell(self, x) -> Cell:
        return Cell.from_reciprocal_coefficients(self.coefficients(x))

    def cell_from_free_parameters(self, values) -> Cell:
        """Cell from the direct-space free parameters (e.g. a, c for tetragonal)."""
        v = dict(zip(self.free_parameter_names, np.atleast_1d(np.asarray(values, dtype=float))))
        if len(v) != self.n_free_direct:
            raise ValueError(f"{self.value} needs {self.free_parameter_names}, got {values!r}")
        a = v["a"]
        if self is LatticeSystem.CUBIC:
            return Cell(a, a, a)
        if self is LatticeSystem.TETRAGONAL:
            return Cell(a, a, v["c"])
        if self is LatticeSystem.HEXAGONAL:
            return Cell(a, a, v["c"], 90, 90, 120)
        if self is LatticeSystem.RHOMBOHEDRAL:
            return Cell(a, a, a, v["alpha"], v["alpha"], v["alpha"])
        if self is LatticeSystem.ORTHORHOMBIC:
            return Cell(a, v["b"], v["c"])
        if self is LatticeSystem.MONOCLINIC:
            return Cell(a, v["b"], v["c"], 90, v["beta"], 90)
        return Cell(a, v["b"], v["c"], v["alpha"], v["beta"], v["gamma"])

    @property
    def n_free_direct(self) -> int:
        return len(self.free_parameter_names)

    def free_parameters(self, cell: Cell) -> np.ndarray:
        """The direct-space free parameters of a cell of this system."""
        return np.array([getattr(cell, name) for name in self.free_parameter_names])

    def is_compatible(self, cell: Cell, length_rtol: float = 1e-3, angle_tol: float = 0.05) -> bool:
        """Whether a cell obeys this system's metric constraints in conventional axes."""
        try:
            ideal = self.cell(self.free_reciprocal_parameters(cell))
        except ValueError:
            return False
        p, q = cell.parameters, ideal.parameters
        return bool(
            np.all(np.abs(p[:3] - q[:3]) <= length_rtol * q[:3])
            and np.all(np.abs(p[3:] - q[3:]) <= angle_tol)
        )


_SYMMETRY_RANK = {
    LatticeSystem.TRICLINIC: 0,
    LatticeSystem.MONOCLINIC: 1,
    LatticeSystem.ORTHORHOMBIC: 2,
    LatticeSystem.RHOMBOHEDRAL: 3,
    LatticeSystem.TETRAGONAL: 4,
    LatticeSystem.HEXAGONAL: 5,
    LatticeSystem.CUBIC: 6,
}
