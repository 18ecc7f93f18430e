"""Space-group suggestion: rank the extinction classes of a candidate cell by
how well its indexed lines fit them.

Space groups that forbid the same reflections (the same reflection
conditions) cannot be told apart by peak positions; they form one
*extinction class*, the set an extinction symbol names (P 1 21/c 1 alone;
P 1 2 1, P 1 m 1 and P 1 2/m 1 together).  The classes of a Bravais lattice
are found from gemmi's symmetry operations, over every setting whose axes
and centring are those of powdex's conventional cell (mP: all b-unique
settings, P 1 21/c 1, P 1 21/n 1, P 1 21/a 1...; oP: all six axis
permutations, so Pnma and Pbnm are different classes of one cell).

Each class is scored with the ranking evidence's own model of a peak list
(``powdex.indexing.candidate``): every resolvable line the class allows in
the observed range is seen with probability p_obs or missed with 1 − p_obs,
and an indexed peak that only forbidden reflections reach is an impurity,
which costs the log ratio of the impurity density to a well-fitting line's
(about ten nats).  So a class pays for each forbidden line it would need and
for each allowed line nobody saw; the class with the most absences that
still explains every indexed peak wins, and classes the data cannot separate
tie.  The relative probabilities assume every class equally likely a priori;
intensities are not used, so a weak allowed line missed by chance weighs
against its class like a truly absent one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import gemmi
import numpy as np

from powdex.crystal import BravaisLattice, Cell, LatticeSystem, systematically_absent
from powdex.peaks import q2_to_two_theta, two_theta_to_q2

# Reflection conditions repeat with period at most 4 (d-glides, 41 and 43 screws):
# Miller indices up to 8 tell every pair of classes apart.
_PROBE_RANGE = 8
# gemmi's table also carries a few origin-shifted duplicates from CCP4's
# syminfo ("P 21212(a)", "C 2 2 2a", "I 2 3a"): same conditions, odd names.
_SHIFTED_ORIGIN = re.compile(r"\(|\d[a-z]\)?$")


@dataclass(frozen=True)
class ExtinctionClass:
    """Space groups that forbid the same reflections, with their fit to the indexed lines."""

    space_groups: tuple[str, ...]  # short Hermann–Mauguin symbols in the cell's setting, by number
    log_likelihood: float
    probability: float  # among the classes of the cell, equal prior
    n_lines_seen: int  # allowed lines with an indexed peak
    n_lines_missed: int  # allowed lines in the observed range with none
    n_forbidden_peaks: int  # indexed peaks that only forbidden reflections reach

    @property
    def symbol(self) -> str:
        return ", ".join(self.space_groups)

    @classmethod
    def from_dict(cls, data: dict) -> ExtinctionClass:
        return cls(tuple(data["space_groups"]), float(data["log_likelihood"]), float(data["probability"]),
                   int(data["n_lines_seen"]), int(data["n_lines_missed"]), int(data["n_forbidden_peaks"]))

    def to_dict(self) -> dict:
        return {
            "space_groups": list(self.space_groups),
            "log_likelihood": self.log_likelihood,
            "probability": self.probability,
            "n_lines_seen": self.n_lines_seen,
            "n_lines_missed": self.n_lines_missed,
            "n_forbidden_peaks": self.n_forbidden_peaks,
        }


def _in_cell_setting(group: gemmi.SpaceGroup, bravais: BravaisLattice) -> bool:
    """Whether a setting of gemmi's table has the axes and centring of powdex's conventional cell."""
    if BravaisLattice.of_space_group(group.number, group.hm) is not bravais or _SHIFTED_ORIGIN.search(group.hm):
        return False
    if group.centring_type() != bravais.centring:
        return False
    if bravais.lattice_system is LatticeSystem.MONOCLINIC:
        return "b" in group.qualifier  # unique axis b: b1, b2, b3 and the -b cell choices
    if bravais is BravaisLattice.hR:
        return group.ext == "H"  # hexagonal axes, obverse
    return True


@cache
def extinction_classes(bravais: BravaisLattice) -> tuple[tuple[tuple[str, ...], gemmi.SpaceGroup], ...]:
    """The extinction classes of a Bravais lattice in powdex's conventional
    setting, as (short symbols of the member space groups, one member: all
    forbid the same reflections), ordered by the lowest space-group number in each."""
    span = np.arange(-_PROBE_RANGE, _PROBE_RANGE + 1)
    probe = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    probe = probe[np.any(probe != 0, axis=1)]
    classes: dict[bytes, list[gemmi.SpaceGroup]] = {}
    for group in gemmi.spacegroup_table():
        if _in_cell_setting(group, bravais):
            key = np.packbits(systematically_absent(group, probe)).tobytes()
            classes.setdefault(key, []).append(group)
    found = []
    for members in classes.values():
        members.sort(key=lambda g: g.number)
        names = tuple(dict.fromkeys(short_symbol(g) for g in members))  # origin choices share a name
        found.append((members[0].number, names, members[0]))
    found.sort(key=lambda item: item[:2])
    return tuple((names, member) for _, names, member in found)


def short_symbol(group: gemmi.SpaceGroup) -> str:
    """Short Hermann–Mauguin symbol (P21/c, R-3c)."""
    # gemmi writes hexagonal-axes rhombohedral groups as "H3"; crystallographers write R3.
    name = group.short_name()
    return "R" + name[1:] if group.ext == "H" else name


def reflections_in_range(cell: Cell, tt_max: float, wavelength: float) -> tuple[np.ndarray, np.ndarray]:
    """Every Miller index (h, −h both) of ``cell`` up to ``tt_max`` ° 2θ, and its 2θ."""
    hkl, q2 = cell.miller_indices_within(float(two_theta_to_q2(min(tt_max, 179.0), wavelength)))
    return hkl, q2_to_two_theta(q2, wavelength)


def suggest_space_groups(
    bravais: BravaisLattice,
    cell: Cell,
    indexed_two_theta: np.ndarray,
    wavelength: float,
    *,
    resolution: float,
    two_theta_error: float,
    impurity_fraction: float,
    detection_probability: float,
) -> tuple[ExtinctionClass, ...]:
    """The extinction classes of ``bravais`` ranked for a cell whose indexed
    peaks lie at ``indexed_two_theta`` (zero shift removed), best first.

    Reflections closer than ``resolution`` ° 2θ form one line; a peak is on a
    line within ``resolution``.  The other arguments are those of the
    ranking evidence (:class:`powdex.indexing.ScoringModel`).
    """
    peaks = np.sort(np.asarray(indexed_two_theta, dtype=float))
    if peaks.size == 0:
        return ()
    tt_max = peaks[-1] + resolution
    hkl, tt = reflections_in_range(cell, tt_max, wavelength)
    lattice_allowed = bravais.allowed(hkl)
    hkl, tt = hkl[lattice_allowed], tt[lattice_allowed]
    span = tt_max - max(peaks[0] - resolution, 0.0)
    log_line = np.log((1 - impurity_fraction) / (two_theta_error * np.sqrt(2 * np.pi)))
    forbidden_peak_cost = np.log(impurity_fraction / span) - log_line
    log_seen, log_missed = np.log(detection_probability), np.log(1 - detection_probability)
    scored = []
    for names, member in extinction_classes(bravais):
        allowed_tt = np.sort(tt[~systematically_absent(member, hkl)])
        seen = _within(_lines(allowed_tt, resolution), peaks, resolution)
        explained = _within(peaks, allowed_tt, resolution)
        n_forbidden = int(np.count_nonzero(~explained))
        log_likelihood = (seen.sum() * log_seen + (~seen).sum() * log_missed + n_forbidden * forbidden_peak_cost)
        scored.append((float(log_likelihood), names, int(seen.sum()), int((~seen).sum()), n_forbidden))
    log_l = np.array([s[0] for s in scored])
    probability = np.exp(log_l - log_l.max())
    probability /= probability.sum()
    order = sorted(range(len(scored)), key=lambda i: (-scored[i][0], i))
    return tuple(
        ExtinctionClass(scored[i][1], scored[i][0], float(probability[i]), scored[i][2], scored[i][3], scored[i][4])
        for i in order
    )


def _within(points: np.ndarray, sorted_targets: np.ndarray, distance: float) -> np.ndarray:
    """Whether each point has a target within ``distance``."""
    if sorted_targets.size == 0:
        return np.zeros(points.shape, dtype=bool)
    right = np.clip(np.searchsorted(sorted_targets, points), 0, sorted_targets.size - 1)
    left = np.clip(right - 1, 0, sorted_targets.size - 1)
    nearest = np.minimum(np.abs(sorted_targets[right] - points), np.abs(sorted_targets[left] - points))
    return nearest <= distance


def _lines(two_theta_sorted: np.ndarray, resolution: float) -> np.ndarray:
    """Mean positions of groups of reflections closer than ``resolution``."""
    if two_theta_sorted.size == 0:
        return two_theta_sorted
    group = np.concatenate([[0], np.cumsum(np.diff(two_theta_sorted) > resolution)])
    return np.bincount(group, weights=two_theta_sorted) / np.bincount(group)
