"""Niggli reduction, conventional standardisation and lattice comparison.

Reduction is gemmi's (Krivý–Gruber via ``gemmi.GruberVector``); conventional
standardisation is spglib's (``get_symmetry_dataset`` on a one-point lattice
returns the holohedry and the ITA-standard conventional cell). gemmi finds the
lattice point group (``find_lattice_symmetry``) but has no routine that turns a
reduced cell into the standard conventional one, and writing that by hand means
the 44 lattice characters: spglib is the reference implementation used by
pymatgen, ASE and phonopy.

Lattice comparison does not compare Niggli parameters directly: near the
boundaries of the Niggli domain (angles close to 90°) two descriptions of the
same lattice reduce to visibly different parameter sets. Instead two lattices
are the same when their volumes agree and the lengths of their shortest lattice
vectors agree, which is also what a powder pattern can tell apart.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import product

import gemmi
import numpy as np

from powdex.crystal.bravais import BravaisLattice
from powdex.crystal.cell import Cell
from powdex.crystal.lattice import LatticeSystem

# Krivý–Gruber steps allowed (gemmi's default is 100; a basis with an axis 10³ times the others' lengths, nearly in
# their plane, needs 2 000, which take 0.05 ms).
NIGGLI_ITERATIONS = 10_000


@dataclass(frozen=True)
class ReducedCell:
    """A Niggli-reduced primitive cell and the basis change from the input cell.

    ``transformation`` M (rows: new basis in terms of the input basis; fractional
    for a centred input) satisfies reduced = input.transformed(M).
    """

    cell: Cell
    transformation: np.ndarray


def niggli_reduce(cell: Cell, centring: str = "P", epsilon: float = 1e-9) -> ReducedCell:
    """Niggli-reduced primitive cell of the lattice whose (possibly centred) cell is ``cell``."""
    gruber = gemmi.GruberVector(cell.to_gemmi(), centring, True)
    # Krivý–Gruber steps change the basis by one vector at a time, so a nearly singular basis needs about as many steps
    # as its axis ratio; at its iteration limit gemmi returns a cell that is not reduced, which later steps trust (the
    # short-vector search is bounded by the reduced axes).
    if gruber.niggli_reduce(epsilon=epsilon, iteration_limit=NIGGLI_ITERATIONS) >= NIGGLI_ITERATIONS:
        raise ValueError(f"{cell} is not Niggli-reduced after {NIGGLI_ITERATIONS} Krivý–Gruber steps: a nearly "
                         "singular basis")
    op = gruber.change_of_basis
    # gemmi's Op holds the basis change as a rotation scaled by DEN; its transpose maps basis rows.
    matrix = np.array(op.rot, dtype=float).T / op.DEN
    return ReducedCell(Cell.from_gemmi(gruber.get_cell()), matrix)


@dataclass(frozen=True)
class ConventionalCell:
    bravais: BravaisLattice
    cell: Cell
    space_group_number: int


def _lattice_symmetry(cell: Cell, centring: str, length_tolerance: float):
    """spglib's symmetry dataset of the lattice (one point per primitive cell) and the primitive cell's basis change."""
    import spglib  # 50 ms of import that only lattice symmetry needs

    primitive = niggli_reduce(cell, centring)
    symprec = length_tolerance * primitive.cell.volume ** (1 / 3)
    with warnings.catch_warnings():
        # spglib ≥ 2.5 warns about its legacy error reporting on every call; a None
        # result is handled by the callers.
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = spglib.get_symmetry_dataset((primitive.cell.matrix, [[0.0, 0.0, 0.0]], [1]), symprec=symprec)
    if dataset is None:
        raise ValueError(f"spglib found no symmetry for {cell}")
    return dataset, primitive.transformation


def conventional_cell(cell: Cell, centring: str = "P", length_tolerance: float = 1e-3) -> ConventionalCell:
    """The Bravais lattice and ITA-standard conventional cell of a lattice.

    ``length_tolerance`` is spglib's ``symprec`` relative to the cube root of the
    primitive volume, so the same relative tolerance applies to any cell size.
    hR comes back in hexagonal axes.
    """
    dataset, _ = _lattice_symmetry(cell, centring, length_tolerance)
    bravais = BravaisLattice.of_space_group(dataset.number, dataset.international)
    std = np.asarray(dataset.std_lattice)
    return ConventionalCell(bravais, Cell.from_metric_tensor(std @ std.T), int(dataset.number))


# Coefficient vectors ``_short_vector_lengths`` may enumerate. A Niggli-reduced cell needs far fewer: its angles keep
# its axes from being nearly coplanar (a_i·|a*_i|, 1/sin of axis i's angle to the plane of the others, stays below
# 1.5), and L ≤ count·a_min, so its box spans at most 2·1.5·count·a_min/a_i + 1 ≤ 40 coefficients along each axis
# (64 000 vectors for 13). A larger box comes from a cell that is not reduced, or nearly singular, and would take
# gigabytes (a zone-pair cell with a 10⁵ Å axis asked for 10¹⁰).
MAX_SHORT_VECTOR_BOX = 1_000_000


def _short_vector_lengths(cell: Cell, count: int = 13) -> np.ndarray:
    """Lengths of the ``count`` shortest lattice vectors (one of each ±v pair), ascending: a lattice invariant.

    A vector of length ≤ L has coefficients |n_i| ≤ L·|a*_i|, so the box that bounds the ``count``-th length L found
    among the vectors of small coefficients and the multiples up to ``count`` of the shortest axis holds every vector
    that short, even in a long, thin cell, where the small coefficients reach only the short axes' plane and the
    multiples keep L from being the length of the long axis. Raises ValueError for a cell whose box would exceed
    ``MAX_SHORT_VECTOR_BOX`` vectors (not Niggli-reduced, or nearly singular).
    """
    g = cell.metric_tensor
    small = _vector_coefficients(2)
    shortest_axis = np.eye(3)[int(np.argmin(np.diag(g)))]
    multiples = np.arange(3, count + 1)[:, None] * shortest_axis[None, :]  # 1 and 2 times it are small vectors
    lengths = np.sort(np.sqrt(np.einsum("ni,ij,nj->n", small, g, small)))[::2]  # ±v pairs: keep one of each
    axis_lengths = np.sqrt(np.einsum("ni,ij,nj->n", multiples, g, multiples))
    limit = np.sort(np.concatenate([lengths, axis_lengths]))[count - 1]
    reach = np.ceil(limit * np.sqrt(np.diag(np.linalg.inv(g))) + 1e-9).astype(int)
    if np.all(reach <= 2):
        return lengths[:count]
    box = int(np.prod(2 * reach.astype(float) + 1))
    if box > MAX_SHORT_VECTOR_BOX:
        raise ValueError(f"{cell} is degenerate (volume {cell.volume:.4g} Å³): its {count} shortest vectors lie in a "
                         f"box of {box:.3g} coefficient vectors, more than {MAX_SHORT_VECTOR_BOX}")
    coeffs = _vector_coefficients(*reach)
    return np.sort(np.sqrt(np.einsum("ni,ij,nj->n", coeffs, g, coeffs)))[::2][:count]


@lru_cache(maxsize=64)
def _vector_coefficients(*reach: int) -> np.ndarray:
    """Non-zero integer vectors with |n_i| ≤ reach[i] (one reach for all three axes when one is given)."""
    reach = reach * 3 if len(reach) == 1 else reach
    c = np.array([v for v in product(*(range(-r, r + 1) for r in reach)) if any(v)], dtype=float)
    return c


@dataclass(frozen=True)
class LatticeSignature:
    """What identifies a lattice up to its basis: primitive volume and shortest-vector lengths."""

    volume: float
    short_vectors: np.ndarray

    def matches(self, other: LatticeSignature, rtol: float = 2e-3) -> bool:
        if abs(self.volume - other.volume) > rtol * 3 * max(self.volume, other.volume):
            return False
        # np.allclose's checks cost more than the comparison of 13 lengths, made for every pair of candidates.
        return bool(np.all(np.abs(self.short_vectors - other.short_vectors) <= rtol * np.abs(other.short_vectors)))


def lattice_signature(cell: Cell, centring: str = "P") -> LatticeSignature:
    """The signature of the lattice whose (possibly centred) cell is ``cell``; compute once, compare often."""
    reduced = niggli_reduce(cell, centring).cell
    return LatticeSignature(reduced.volume, _short_vector_lengths(reduced))


def same_lattice(
    cell: Cell,
    other: Cell,
    centring: str = "P",
    other_centring: str = "P",
    rtol: float = 2e-3,
) -> bool:
    """Whether two (possibly centred) cells describe the same lattice within ``rtol``."""
    return lattice_signature(cell, centring).matches(lattice_signature(other, other_centring), rtol)


@cache
def sublattice_bases(index: int) -> tuple[np.ndarray, ...]:
    """Integer matrices H in Hermite normal form with determinant ``index``, one per sublattice of that index.

    For a lattice with basis rows B, the rows of H·B span each of its sublattices
    of index ``index`` once; dually, the rows of H⁻ᵀ·B span each lattice that
    contains it with that index (its sub-cells), whose reflections are the
    Miller indices h (in B's reciprocal basis) with h·H⁻¹ integral.
    """
    forms = []
    for a in range(1, index + 1):
        if index % a:
            continue
        for c in range(1, index // a + 1):
            if (index // a) % c:
                continue
            f = index // (a * c)
            # Left multiplication by unimodular matrices only shifts the entries
            # below the diagonal by multiples of the diagonal entry above them.
            for b, d, e in product(range(a), range(a), range(c)):
                forms.append(np.array([[a, 0, 0], [b, c, 0], [d, e, f]], dtype=float))
    return tuple(forms)


def superlattice_index(
    cell: Cell,
    other: Cell,
    centring: str = "P",
    other_centring: str = "P",
    max_index: int = 4,
    rtol: float = 2e-3,
) -> int:
    """How ``other``'s lattice relates to ``cell``'s.

    Returns n > 1 when ``other`` is a super-cell of index n (its lattice a sublattice
    of ``cell``'s, n times the primitive volume), −n when ``other`` is a sub-cell of
    index n, 1 when they are the same lattice, and 0 when no relation of index
    ≤ ``max_index`` exists.
    """
    p1 = niggli_reduce(cell, centring).cell
    p2 = niggli_reduce(other, other_centring).cell
    ratio = p2.volume / p1.volume
    sign = 1
    if ratio < 1:
        p1, p2, ratio, sign = p2, p1, 1 / ratio, -1
    n = int(round(ratio))
    if n < 1 or n > max_index or abs(ratio - n) > rtol * 3 * n:
        return 0
    if n == 1:
        return 1 if same_lattice(p1, p2, rtol=rtol) else 0
    return sign * n if superlattice_cell(p1, p2, index=n, rtol=rtol) is not None else 0


def superlattice_cell(
    cell: Cell,
    other: Cell,
    centring: str = "P",
    other_centring: str = "P",
    index: int = 2,
    rtol: float = 2e-3,
) -> Cell | None:
    """``other``'s lattice as a sublattice of index ``index`` of ``cell``'s, in ``cell``'s metric: the primitive
    cell whose rows H·B are an integer basis change H of determinant ``index`` (a Hermite normal form,
    ``sublattice_bases``) of ``cell``'s Niggli basis B, for the first H whose lattice is ``other``'s within ``rtol``;
    None where ``other``'s lattice is no sublattice of that index of ``cell``'s.

    ``cell`` is then a sub-cell of ``other`` (every reflection of ``cell`` is one of ``other``); for a ``cell``
    fitted to a pattern, the cell returned is ``other``'s lattice fitted to the same pattern. A rock-salt cF cell of
    edge a is a sublattice of index 2 of the cP cell of edge a/2 (its points are those of a/2 · ℤ³ with an even
    coordinate sum); a tP cell is one of index 2 of the tI cell on its axes."""
    base = niggli_reduce(cell, centring).cell
    target = lattice_signature(other, other_centring)
    for form in sublattice_bases(index):
        candidate = base.transformed(form)
        if lattice_signature(candidate).matches(target, rtol):
            return candidate
    return None


def standard_setting(bravais: BravaisLattice, cell: Cell) -> tuple[Cell, np.ndarray]:
    """A conventional cell of ``bravais`` in the usual setting, and the integer matrix M to it (h' = M h).

    The setting is spglib's ITA standard for the lattice (mP and mC: unique axis
    b, β ≥ 90°, the reduced ac plane; hR: hexagonal axes, obverse), found with a
    tolerance tight enough (10⁻⁸) that a refined candidate keeps its own
    symmetry; then orthorhombic P, I, F cells are ordered a ≤ b ≤ c and oC
    a ≤ b, the centred face staying ab. aP: the Niggli-reduced cell. Every M has
    determinant +1, so hands are kept.
    """
    if bravais is BravaisLattice.aP:
        reduced = niggli_reduce(cell)
        return reduced.cell, reduced.transformation
    if bravais.lattice_system is not LatticeSystem.MONOCLINIC and bravais.axes.is_compatible(cell, 1e-9, 1e-7):
        # Already in conventional axes, which for these lattices are unique up to
        # symmetry (orthorhombic up to the order of the axes, set below).
        m = np.eye(3)
    else:
        dataset, to_primitive = _lattice_symmetry(cell, bravais.centring, 1e-8)
        found = BravaisLattice.of_space_group(dataset.number, dataset.international)
        if found is not bravais:
            raise ValueError(f"{cell} is a {found.value} lattice, not {bravais.value}")
        # spglib: (a_s b_s c_s) = (a b c) P⁻¹ with basis vectors as columns; rows here.
        m = np.linalg.inv(np.asarray(dataset.transformation_matrix, dtype=float)).T @ to_primitive
    if bravais.lattice_system is LatticeSystem.ORTHORHOMBIC:
        lengths = cell.transformed(m).parameters[:3]
        order = np.argsort(lengths[:2], kind="stable").tolist() + [2] if bravais is BravaisLattice.oC else np.argsort(lengths, kind="stable")
        permutation = np.eye(3)[list(order)]
        if np.linalg.det(permutation) < 0:
            permutation[2] *= -1
        m = permutation @ m
    rounded = np.rint(m)
    if not np.allclose(m, rounded, atol=1e-6) or round(np.linalg.det(rounded)) != 1:
        raise ValueError(f"no unimodular integer basis change takes {cell} to the standard {bravais.value} setting")
    return cell.transformed(rounded), rounded
