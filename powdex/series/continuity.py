"""Each parameter continuous along a refined series.

A refinement can land in a minimum equivalent to its neighbour's: the a and b
axes of a pseudo-tetragonal orthorhombic cell exchanged (the same powder
pattern with h and k relabelled; a and c of a monoclinic cell with unique axis
b likewise), or two phases of the same space group with their labels
exchanged.  Drawn as found, such a pattern looks like a transition.  Here each
pattern's reported phases are mapped, in series order, onto the setting nearest
its (mapped) neighbour's: the axis permutation of the lattice system, and the
assignment of cells to phase labels among phases of one space group, that move
the cell lengths least.  A mapped pattern is flagged ``axes_swapped`` or
``phases_swapped``; ``cell_jump`` is then set where a mapped length still
moves by more than ``jump_fraction`` (relative) — a discontinuity to look at,
not an artefact of the setting.

Only the reported phases (``SeriesEntry.phases``, the table, plots and
exports) are mapped; each refinement result stays as refined, in the setting
that seeded its neighbour.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from powdex.crystal import LatticeSystem
from powdex.refinement.reflections import lattice_system_of, resolve_space_group
from powdex.refinement.rietveld import PhaseResult

# Axis permutations that leave a lattice system's metric form, and so the powder pattern, unchanged.
_PERMUTATIONS: dict[LatticeSystem, list[tuple[int, ...]]] = {LatticeSystem.ORTHORHOMBIC: list(itertools.permutations(range(3))),
                 LatticeSystem.MONOCLINIC: [(0, 1, 2), (2, 1, 0)]}


def permuted(phase: PhaseResult, order: tuple[int, ...]) -> PhaseResult:
    """``phase`` with its axes taken in ``order`` (each angle follows the axis it is opposite)."""
    index = list(order) + [3 + k for k in order]
    return replace(phase, cell=[phase.cell[k] for k in index], cell_esd=[phase.cell_esd[k] for k in index])


def _orders(phase: PhaseResult) -> list[tuple[int, ...]]:
    return _PERMUTATIONS.get(lattice_system_of(resolve_space_group(phase.space_group)), [(0, 1, 2)])


def _distance(phase: PhaseResult, reference: PhaseResult) -> float:
    now, before = np.array(phase.cell[:3]), np.array(reference.cell[:3])
    return float(np.sum(((now - before) / before) ** 2))


def _nearest_setting(phase: PhaseResult, reference: PhaseResult) -> tuple[PhaseResult, bool]:
    best = min(_orders(phase), key=lambda order: _distance(permuted(phase, order), reference))
    return permuted(phase, best), best != (0, 1, 2)


def continuous_phases(previous: list[PhaseResult], phases: list[PhaseResult]) -> tuple[list[PhaseResult], list[str]]:
    """``phases`` mapped onto the settings and labels nearest ``previous`` (same labels, same order),
    and the flags saying what was mapped."""
    by_label = {phase.name: phase for phase in previous}
    flags: list[str] = []
    # Cells of phases sharing a space group may belong to either label: try every assignment.
    groups: dict[str, list[int]] = {}
    for k, phase in enumerate(phases):
        groups.setdefault(phase.space_group, []).append(k)
    mapped = list(phases)
    for members in groups.values():
        labels = [phases[k].name for k in members]
        best_cost, best = np.inf, None
        for assignment in itertools.permutations(members):
            cost, chosen, swapped_axes = 0.0, [], False
            for label, source in zip(labels, assignment):
                candidate = replace(phases[source], name=label)
                if label in by_label:
                    candidate, swapped = _nearest_setting(candidate, by_label[label])
                    cost += _distance(candidate, by_label[label])
                    swapped_axes |= swapped
                chosen.append(candidate)
            if cost < best_cost - 1e-12:
                best_cost, best = cost, (assignment, chosen, swapped_axes)
        assert best is not None
        assignment, chosen, swapped_axes = best
        if list(assignment) != members:
            flags.append("phases_swapped")
        if swapped_axes:
            flags.append("axes_swapped")
        for k, phase in zip(members, chosen):
            mapped[k] = phase
    return mapped, sorted(set(flags), key=flags.index)


def make_continuous(entries: list, jump_fraction: float) -> None:
    """Map every entry's phases onto its mapped neighbour's branch, in series order, and set the
    ``axes_swapped``, ``phases_swapped`` and ``cell_jump`` flags from the mapped cells."""
    for k, entry in enumerate(entries):
        entry.flags = [f for f in entry.flags if f not in ("axes_swapped", "phases_swapped", "cell_jump")]
        if k == 0:
            continue
        previous = entries[k - 1].phases
        entry.phases, mapped = continuous_phases(previous, entry.phases)
        entry.flags += mapped
        before = {phase.name: np.array(phase.cell[:3]) for phase in previous}
        if any(np.any(np.abs(np.array(p.cell[:3]) - before[p.name]) > jump_fraction * before[p.name])
               for p in entry.phases if p.name in before):
            entry.flags.append("cell_jump")
