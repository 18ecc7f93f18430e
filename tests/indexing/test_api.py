"""The public Python API: powdex.index, IndexingResult's document, search methods by name, the deadline,
the settings fingerprint, and inputs the search must take or warn about."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

import powdex
from powdex.crystal import BravaisLattice, Cell, LatticeSystem, same_lattice
from powdex.indexing import (
    Deadline,
    IndexingConfig,
    IndexingResult,
    IndexingSearch,
    settings_fingerprint,
)
from powdex.indexing.methods import register_method, unregister_method
from powdex.indexing.result import RESULT_SCHEMA_VERSION, ResultFileError
from powdex.peaks import PeakList

SILICON_A = 5.431194


def silicon_q2(lines: int) -> np.ndarray:
    """q² (Å⁻²) of silicon's first lines: h, k, l all odd, or all even with h + k + l divisible by 4."""
    sums = sorted({h * h + k * k + l * l for h, k, l in itertools.product(range(12), repeat=3)
                   if h + k + l > 0 and h % 2 == k % 2 == l % 2 and (h % 2 or (h + k + l) % 4 == 0)})
    return np.array(sums[:lines]) / SILICON_A**2


def test_q2_lines_beyond_cu_ka1_reach_are_indexed_without_a_wavelength():
    """Silicon's first 20 calibrant lines reach q² = 2.7 Å⁻², past what Cu Kα1 can see (1.69 Å⁻²): with q²
    input and no wavelength, none applies, and the cell is found."""
    q2 = silicon_q2(20)
    assert q2[-1] > 4 / 1.5406**2
    peaks = PeakList.from_values(q2, units="q2")
    result = powdex.index(peaks, config=IndexingConfig(systems="cubic", time_limit=20))
    assert result.best.bravais is BravaisLattice.cF
    assert same_lattice(result.best.cell, Cell(SILICON_A, SILICON_A, SILICON_A), "F", "F", 1e-4)
    assert any("without a wavelength" in note for note in result.notes)


def test_two_peaks_are_indexed_with_a_warning_that_they_decide_nothing():
    peaks = PeakList.from_values(silicon_q2(2), units="q2")
    result = powdex.index(peaks, config=IndexingConfig(time_limit=5))
    assert any("2 peaks cannot decide a cell" in note for note in result.notes)


def test_a_result_document_round_trips_and_carries_its_schema_version(tmp_path):
    peaks = PeakList.from_values(silicon_q2(12), units="q2")
    result = powdex.index(peaks, config=IndexingConfig(systems="cubic,tetragonal", time_limit=20))
    document = result.to_dict()
    assert document["schema_version"] == RESULT_SCHEMA_VERSION
    assert document["settings"]["indexing"]["systems"] == ["cubic", "tetragonal"]
    result.save(tmp_path / "si.json")
    again = IndexingResult.load(tmp_path / "si.json")
    assert again.to_dict() == json.loads((tmp_path / "si.json").read_text())
    assert again.best.bravais is result.best.bravais and again.best.cell.a == pytest.approx(result.best.cell.a)
    assert again.best.figures == result.best.figures
    assert again.best.space_groups == result.best.space_groups
    np.testing.assert_array_equal(again.best.hkl, result.best.hkl)
    np.testing.assert_array_equal(again.peaks.q2, peaks.q2)
    newer = document | {"schema_version": RESULT_SCHEMA_VERSION + 1}
    with pytest.raises(ResultFileError, match="newer than this powdex reads"):
        IndexingResult.from_dict(newer)


class ExactCubic:
    """A toy search method: proposes one cubic cell from the first line taken as (111), then (100)."""

    def __init__(self):
        self.calls = []

    def search(self, search, system, search_pass):
        self.calls.append((system, search_pass))
        if system is not LatticeSystem.CUBIC:
            return []
        out = []
        for bravais, first in ((BravaisLattice.cF, 3), (BravaisLattice.cP, 1)):
            cand = search.polished(bravais, np.array([search.obs.q2[0] / first]))
            if cand is not None:
                out.append(cand)
        search.count_trials("toy", 2)
        return out


def test_a_registered_search_method_is_named_in_the_config_and_run_by_the_search():
    toy = ExactCubic()
    register_method("exact-cubic", toy)
    try:
        peaks = PeakList.from_values(silicon_q2(12), units="q2")
        result = powdex.index(peaks, config=IndexingConfig(method="exact-cubic", systems="cubic,tetragonal"))
    finally:
        unregister_method("exact-cubic")
    assert result.best.bravais is BravaisLattice.cF and result.best.cell.a == pytest.approx(SILICON_A, rel=1e-5)
    # The decisive cubic cell ends the search before the tetragonal system, after a local search around its
    # tI description (its least distortion in the systems searched).
    assert result.trials == 2 + IndexingConfig().local_trials
    assert toy.calls == [(LatticeSystem.CUBIC, 0)]
    with pytest.raises(ValueError, match="unknown search method 'exact-cubic'"):
        IndexingConfig(method="exact-cubic")


def test_the_deadline_counts_down_and_a_search_past_it_says_it_stopped():
    deadline = Deadline.after(1000)
    assert 999 < deadline.remaining() <= 1000 and not deadline.expired()
    assert Deadline.after(-1).expired() and Deadline.after(-1).remaining() == 0
    # A triclinic search cannot settle within a tenth of a second.
    cell = Cell(7.1, 8.3, 9.7, 81.0, 76.0, 69.0)
    q2 = np.sort(np.unique(np.round(cell.q2(np.array(list(itertools.product(range(-3, 4), repeat=3)))[1:]), 6)))
    peaks = PeakList.from_values(q2[q2 > 0][:20], units="q2")
    result = powdex.index(peaks, config=IndexingConfig(systems="triclinic", method="classical", time_limit=0.1))
    assert any("stopped at its time limit" in note for note in result.notes)


def test_a_stage_larger_than_a_block_runs_every_trial_in_blocks(monkeypatch):
    import powdex.indexing.svd_index as svd_index

    monkeypatch.setattr(svd_index, "RANDOM_BLOCK", 16)
    peaks = PeakList.from_values(silicon_q2(12), units="q2")
    svd = IndexingSearch(peaks).svd_index(BravaisLattice.oP)
    drawn = []
    draw = svd.random_parameters
    monkeypatch.setattr(svd, "random_parameters", lambda n, volumes: drawn.append(n) or draw(n, volumes))
    batch = svd.run_random(40, (100.0, 200.0))
    assert batch.n_trials == 40 and drawn == [16, 16, 8]


def test_a_new_setting_with_its_default_keeps_the_fingerprint_and_a_changed_one_does_not():
    class WithNewSetting(IndexingConfig):
        new_option: float = 1.5

    assert settings_fingerprint(WithNewSetting()) == settings_fingerprint(IndexingConfig())
    assert settings_fingerprint(WithNewSetting(time_limit=30)) == settings_fingerprint(IndexingConfig(time_limit=30))
    assert settings_fingerprint(WithNewSetting(new_option=2.0)) != settings_fingerprint(IndexingConfig())
    assert settings_fingerprint(IndexingConfig(seed=1)) != settings_fingerprint(IndexingConfig())


def test_import_powdex_loads_no_search_until_one_is_asked_for():
    probe = ("import sys, powdex; heavy = [m for m in ('powdex.indexing.search', 'powdex.models', 'scipy.stats', "
             "'sqlalchemy', 'matplotlib') if m in sys.modules]; print(heavy); powdex.index; "
             "print('powdex.indexing.search' in sys.modules)")
    lines = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")
    assert lines[:2] == ["[]", "True"]


def test_the_sub_cell_check_of_a_cell_with_long_axes_enumerates_no_huge_grid():
    """A polished cell is not bounded in volume: two 2000 Å axes would make the sub-cell check enumerate
    ten million Miller indices and their (peaks × reflections) distances; it is skipped instead."""
    from powdex.indexing.search import MAX_SUBCELL_GRID, _reflections_at_peaks

    two_theta = np.linspace(2.0, 9.0, 20)
    huge = Cell(5.0, 2000.0, 2000.0, 90.0, 95.0, 90.0)
    assert _reflections_at_peaks(huge, two_theta, 0.459, 0.06) is None
    hkl, peak = _reflections_at_peaks(Cell(5.0, 9.0, 11.0, 90.0, 95.0, 90.0), two_theta, 0.459, 0.06)
    assert len(hkl) == len(peak) and len(hkl) < MAX_SUBCELL_GRID
