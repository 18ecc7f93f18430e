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

from powdex.crystal.cell import PARAMETER_NAMES, Cell, miller_terms, parameters_from_coefficients


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

    @property
    def special_cases(self) -> frozenset[LatticeSystem]:
        """The other lattice systems whose lattices are special metrics of this system's (a cubic lattice is a
        tetragonal one with c = a, a hexagonal one an orthorhombic C one with b = √3 a, a rhombohedral one a
        monoclinic C one): a cell of this system can be a lower-symmetry description of theirs."""
        return _SPECIAL_CASES[self]

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
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if len(values) != self.n_free_direct:
            raise ValueError(f"{self.value} needs {self.free_parameter_names}, got {values.tolist()!r}")
        columns = tuple(PARAMETER_NAMES.index(name) for name in self.free_parameter_names)
        return Cell.from_parameters(cells_from_free(self, columns, values)[0])

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


_SPECIAL_CASES = {
    LatticeSystem.CUBIC: frozenset(),
    LatticeSystem.HEXAGONAL: frozenset(),
    LatticeSystem.RHOMBOHEDRAL: frozenset({LatticeSystem.CUBIC}),
    LatticeSystem.TETRAGONAL: frozenset({LatticeSystem.CUBIC}),
    LatticeSystem.ORTHORHOMBIC: frozenset({LatticeSystem.CUBIC, LatticeSystem.TETRAGONAL, LatticeSystem.HEXAGONAL}),
    LatticeSystem.MONOCLINIC: frozenset({LatticeSystem.CUBIC, LatticeSystem.TETRAGONAL, LatticeSystem.HEXAGONAL,
                                         LatticeSystem.RHOMBOHEDRAL, LatticeSystem.ORTHORHOMBIC}),
    LatticeSystem.TRICLINIC: frozenset(LatticeSystem) - {LatticeSystem.TRICLINIC},
}


def free_parameter_columns(system: LatticeSystem, cell) -> tuple[int, ...]:
    """Which of (a, b, c, α, β, γ) of ``cell`` are free in its lattice system. A monoclinic cell whose axes were
    reordered (a ≤ b ≤ c, say) may have its oblique angle at α, β or γ: the column is the angle farthest from 90°."""
    match system:
        case LatticeSystem.CUBIC:
            return (0,)
        case LatticeSystem.TETRAGONAL | LatticeSystem.HEXAGONAL:
            return (0, 2)
        case LatticeSystem.RHOMBOHEDRAL:
            return (0, 3)
        case LatticeSystem.ORTHORHOMBIC:
            return (0, 1, 2)
        case LatticeSystem.MONOCLINIC:
            return (0, 1, 2, 3 + int(np.argmax(np.abs(np.asarray(cell, dtype=float)[3:] - 90.0))))
        case _:
            return (0, 1, 2, 3, 4, 5)


def cells_from_free(system: LatticeSystem, columns: tuple[int, ...], values) -> np.ndarray:
    """Full cells (n, 6) in Å and degrees from the free parameters (n, len(columns)) in ``columns`` of
    (a, b, c, α, β, γ): the other parameters are the system's (right angles, γ = 120° hexagonal, equal lengths
    and angles where the system makes them equal)."""
    values = np.asarray(values, dtype=float).reshape(-1, len(columns))
    cells = np.tile([1.0, 1.0, 1.0, 90.0, 90.0, 120.0 if system is LatticeSystem.HEXAGONAL else 90.0], (len(values), 1))
    cells[:, list(columns)] = values
    if system in (LatticeSystem.CUBIC, LatticeSystem.RHOMBOHEDRAL):
        cells[:, 1] = cells[:, 2] = cells[:, 0]
        if system is LatticeSystem.RHOMBOHEDRAL:
            cells[:, 4] = cells[:, 5] = cells[:, 3]
    elif system in (LatticeSystem.TETRAGONAL, LatticeSystem.HEXAGONAL):
        cells[:, 1] = cells[:, 0]
    return cells
