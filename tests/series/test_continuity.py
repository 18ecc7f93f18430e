"""Equivalent minima along a series are mapped onto the continuous branch, not drawn as transitions."""

import pytest

from powdex.refinement.rietveld import PhaseResult
from powdex.series.continuity import make_continuous
from powdex.series.refinement import SeriesEntry


def phase(name: str, a: float, b: float, c: float, group: str = "P m m m", fraction: float = 1.0) -> PhaseResult:
    return PhaseResult(name, group, [a, b, c, 90.0, 90.0, 90.0], [1e-4, 2e-4, 3e-4, None, None, None],
                       a * b * c, fraction, None, 0.05)


def entries(cells: list[list[PhaseResult]]) -> list[SeriesEntry]:
    return [SeriesEntry(f"scan_{k}", k, "rietveld", None, phases, ["seeded"] if k else [])  # type: ignore[arg-type]
            for k, phases in enumerate(cells)]


def test_a_and_b_exchanged_in_a_pseudo_tetragonal_cell_are_mapped_back_not_flagged_as_a_jump():
    cells = [[phase("O", 4.000 + 0.001 * k, 4.010 + 0.001 * k, 6.0)] for k in range(5)]
    cells[3] = [phase("O", 4.013, 4.003, 6.0)]  # the refinement landed with a and b exchanged
    series = entries(cells)
    make_continuous(series, jump_fraction=0.001)
    assert [e.phases[0].cell[:3] for e in series] == [[4.000 + 0.001 * k, 4.010 + 0.001 * k, 6.0] for k in range(5)]
    assert series[3].phases[0].cell_esd[:2] == [2e-4, 1e-4]  # each esd follows its axis
    assert series[3].flags == ["seeded", "axes_swapped"]
    assert not any("cell_jump" in e.flags for e in series)


def test_two_phases_with_their_labels_exchanged_are_mapped_back_with_their_fractions():
    cells = [[phase("A", 4.00, 4.02, 6.0, fraction=0.3 + 0.1 * k), phase("B", 5.00, 5.03, 7.0, fraction=0.7 - 0.1 * k)]
             for k in range(4)]
    cells[2] = [phase("A", 5.00, 5.03, 7.0, fraction=0.5), phase("B", 4.00, 4.02, 6.0, fraction=0.5)]
    cells[3] = [phase("A", 5.03, 5.00, 7.0, fraction=0.4), phase("B", 4.00, 4.02, 6.0, fraction=0.6)]
    series = entries(cells)
    make_continuous(series, jump_fraction=0.001)
    for entry in series:
        assert [p.name for p in entry.phases] == ["A", "B"]
        assert entry.phases[0].cell[:3] == [4.00, 4.02, 6.0] and entry.phases[1].cell[:3] == [5.00, 5.03, 7.0]
    assert series[3].phases[0].weight_fraction == pytest.approx(0.6)
    assert series[2].flags == ["seeded", "phases_swapped"]
    assert series[3].flags == ["seeded", "phases_swapped", "axes_swapped"]


def test_a_real_jump_stays_flagged_and_a_tetragonal_cell_is_never_permuted():
    cells = [[phase("T", 4.0, 4.0, 4.16, group="P 4/m m m")], [phase("T", 4.0, 4.0, 4.16, group="P 4/m m m")],
             [phase("T", 4.16, 4.16, 4.0, group="P 4/m m m")]]
    series = entries(cells)
    make_continuous(series, jump_fraction=0.005)
    assert series[2].phases[0].cell[:3] == [4.16, 4.16, 4.0]
    assert series[2].flags == ["seeded", "cell_jump"]
