"""Synthetic peak lists of known cells, with the faults real peak lists have.

Used by the tests and the benchmark: a cell and its Bravais lattice give the
allowed lines; intensities are drawn from Wilson's acentric distribution
(exponential) times multiplicity and Lorentz–polarisation; lines closer than
the resolution merge into one peak; then the weakest lines go missing, the
positions get Gaussian noise and a zero shift, and an impurity line can be
added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from powdex.crystal import (
    BravaisLattice,
    Cell,
    lorentz_polarisation,
    merge_lines,
    reference_miller_indices,
    systematically_absent,
)
from powdex.peaks import CU_KA1, PeakList, q2_to_two_theta

# ° 2θ: peaks that noise brings closer than this are one peak.
COINCIDENT_PEAKS = 0.01


@dataclass(frozen=True)
class PeakListFaults:
    two_theta_noise: float = 0.01
    missing_fraction: float = 0.0
    zero_shift: float = 0.0
    impurity: bool = False
    resolution: float = 0.06


def synthetic_peaks(
    cell: Cell,
    bravais: BravaisLattice,
    n_peaks: int = 20,
    faults: PeakListFaults = PeakListFaults(),
    rng: np.random.Generator | None = None,
    wavelength: float = CU_KA1,
    max_two_theta: float = 150.0,
    space_group: str | None = None,
) -> PeakList:
    """The first ``n_peaks`` observable peaks of a cell, as a 2θ peak list;
    with ``space_group`` (a symbol in the cell's setting), without the
    reflections it forbids."""
    rng = rng or np.random.default_rng(0)
    hkl = reference_miller_indices(bravais)
    if space_group is not None:
        hkl = hkl[~systematically_absent(space_group, hkl)]
    q2 = cell.q2(hkl)
    # Multiplicity: reflections of the full sphere that share the line's q².
    tt = q2_to_two_theta(q2, wavelength)
    keep = np.isfinite(tt) & (tt <= max_two_theta)
    tt, hkl = tt[keep], hkl[keep]
    order = np.argsort(tt)
    tt = tt[order]
    intensity = rng.exponential(1.0, len(tt)) * lorentz_polarisation(tt)
    # Merge unresolved lines into one peak at the intensity-weighted position.
    position, total = merge_lines(tt, intensity, within=faults.resolution)
    n_keep = min(len(position), int(np.ceil((n_peaks + 1) / max(1 - faults.missing_fraction, 1e-9))) + 2)
    position, total = position[:n_keep], total[:n_keep]
    if faults.missing_fraction > 0:
        n_drop = int(round(faults.missing_fraction * len(position)))
        weakest = np.argsort(total)[:n_drop]
        position, total = np.delete(position, weakest), np.delete(total, weakest)
    position, total = position[:n_peaks], total[:n_peaks]
    position = position + rng.normal(0.0, faults.two_theta_noise, len(position)) + faults.zero_shift
    # Noise can push two neighbouring peaks onto each other; a diffractometer sees one.
    order = np.argsort(position)
    position, total = merge_lines(position[order], total[order], within=COINCIDENT_PEAKS)
    if faults.impurity:
        # An impurity line somewhere inside the observed range, clear of the others.
        for _ in range(100):
            extra = rng.uniform(position[0], position[-1])
            if np.min(np.abs(position - extra)) > 3 * faults.resolution:
                position = np.append(position[:-1], extra)
                total = np.append(total[:-1], np.median(total))
                break  # a pattern too crowded for a clear spot in 100 tries gets none
    order = np.argsort(position)
    return PeakList.from_values(position[order], units="2theta", wavelength=wavelength,
                                intensity=total[order] / total.max() * 100, source=f"<synthetic {bravais.value}>")
