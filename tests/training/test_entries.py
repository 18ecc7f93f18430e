"""Synthetic entries: absences, reindexing, observability rules, deterministic resumable builds."""

from dataclasses import replace

import gemmi
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from powdex.crystal import Cell, systematically_absent
from powdex.models.window import WAVELENGTH
from powdex.peaks import q2_to_two_theta, two_theta_to_q2
from powdex.training import (
    build_synthetic,
    entries_from_table,
    entries_to_table,
    entry_from_structure,
    read_lattice_system,
)
from powdex.training.build import write_by_lattice_system
from powdex.training.diffraction import DiffractionLines, diffraction_from_peaks
from powdex.training.entry import write_entry_table
from powdex.training.synthetic import COMPONENTS, entry_rng, random_structure


def _p21c_entry():
    structure = random_structure(entry_rng(3, 0), gemmi.SpaceGroup("P 1 21/c 1"), COMPONENTS["organic"])
    # a longest, b shortest: reindexing to a ≤ b ≤ c must move every axis.
    structure = replace(structure, cell=Cell(12.0, 6.0, 8.0, 90, 104, 90))
    return entry_from_structure(structure, "synthetic", "p21c", "C")


def test_p21c_reindexed_keeps_every_observable_q2_and_the_absences():
    entry = _p21c_entry()
    a, b, c = entry.reindexed_cell[:3]
    assert a <= b <= c
    assert entry.reindexed_space_group_symbol != entry.space_group_symbol
    reindexed = Cell.from_parameters(entry.reindexed_cell)
    assert len(entry.observable_q2) > 20
    np.testing.assert_allclose(reindexed.q2(entry.observable_hkl_reindexed), entry.observable_q2, rtol=1e-10)
    np.testing.assert_allclose(reindexed.q2(entry.allowed_hkl_reindexed), entry.allowed_q2, rtol=1e-10)
    assert not systematically_absent(entry.reindexed_space_group_symbol, entry.allowed_hkl_reindexed).any()
    assert not systematically_absent("P 1 21/c 1", entry.allowed_hkl).any()
    # 0k0 with k odd and h0l with l odd are absent in P 21/c: none of their positions is a peak.
    conventional = Cell.from_parameters(entry.conventional_cell)
    for hkl in ([0, 1, 0], [0, 3, 0], [0, 0, 1], [1, 0, 1], [2, 0, 1]):
        assert not np.any(np.isclose(entry.allowed_q2, conventional.q2(np.array(hkl)), rtol=1e-9))
    assert np.any(np.isclose(entry.allowed_q2, conventional.q2(np.array([0, 2, 0])), rtol=1e-9))


def _peaks_at(two_theta, heights):
    q2 = two_theta_to_q2(two_theta, WAVELENGTH)
    hkl = np.arange(3 * len(q2)).reshape(-1, 3)
    return DiffractionLines(q2, hkl, np.asarray(heights, dtype=float))


def test_observability_rules_on_a_hand_made_pattern():
    peaks = _peaks_at(
        [10.0, 10.05, 20.0, 20.09, 30.0, 40.0],
        # overlapped by a stronger peak · shoulder of a stronger peak · too weak
        [100.0, 30.0, 100.0, 5.0, 1e-4, 50.0],
    )
    result = diffraction_from_peaks(peaks)
    assert len(result.allowed) == 6
    np.testing.assert_allclose(q2_to_two_theta(result.observable.q2, WAVELENGTH), [10.0, 20.0, 40.0])
    assert np.isclose(np.sqrt(np.sum(result.pattern.astype(float) ** 2)), 1.0, rtol=1e-5)


def test_two_overlapping_peaks_keep_only_the_stronger_whichever_comes_first():
    result = diffraction_from_peaks(_peaks_at([15.0, 15.04], [20.0, 60.0]))
    np.testing.assert_allclose(q2_to_two_theta(result.observable.q2, WAVELENGTH), [15.04])


def test_entries_survive_the_parquet_round_trip(tmp_path):
    entry = _p21c_entry()
    write_entry_table(entries_to_table([entry]), tmp_path / "e.parquet")
    (back,) = entries_from_table(pq.read_table(tmp_path / "e.parquet"))
    np.testing.assert_array_equal(back.observable_hkl_reindexed, entry.observable_hkl_reindexed)
    np.testing.assert_array_equal(back.allowed_q2, entry.allowed_q2)  # targets stay exact
    np.testing.assert_allclose(back.reindexing_matrix, entry.reindexing_matrix)
    np.testing.assert_allclose(back.observable_intensity, entry.observable_intensity, rtol=1e-6)
    # float16 pattern: three significant digits are kept.
    np.testing.assert_allclose(back.pattern, entry.pattern, rtol=1e-3, atol=1e-7)
    assert back.r_factor is None and back.space_group_symbol == entry.space_group_symbol


def test_reading_selected_columns_skips_the_rest_and_fills_missing_ones(tmp_path):
    entry = _p21c_entry()
    write_by_lattice_system(entries_to_table([entry]), tmp_path, "a")
    with_index = entries_to_table([entry]).append_column("entry_index", pa.array([7], pa.int64()))
    write_by_lattice_system(with_index, tmp_path, "b")
    table = read_lattice_system(tmp_path, "monoclinic", columns=["lattice_system", "entry_index"])
    assert table.column_names == ["lattice_system", "entry_index"]
    assert table["entry_index"].to_pylist() == [None, 7]  # a.parquet (a CIF import, say) has no entry index
    (without_pattern,) = entries_from_table(entries_to_table([entry]).drop_columns(["pattern"]))
    assert without_pattern.pattern is None and "pattern" not in entries_to_table([without_pattern]).column_names


def _all_entries(path):
    tables = [read_lattice_system(path, s) for s in ("cubic", "tetragonal", "hexagonal", "rhombohedral", "orthorhombic", "monoclinic", "triclinic")]
    rows = {}
    for t in tables:
        if t is not None:
            for i, row in zip(t["entry_index"].to_pylist(), t.drop(["entry_index"]).to_pylist()):
                rows[i] = row
    return rows


def test_builds_are_the_same_on_one_or_two_processes_and_after_resume(tmp_path):
    build_synthetic(tmp_path / "serial", 24, seed=5, workers=1, chunk_size=8)
    build_synthetic(tmp_path / "resumed", 12, seed=5, workers=2, chunk_size=8)
    progress = []
    written = build_synthetic(tmp_path / "resumed", 24, seed=5, workers=2, chunk_size=8, on_progress=lambda n, resumed: progress.append((n, resumed)))
    assert sum(written.values()) == 24 - 8  # chunk 0 was finished and is kept
    assert progress[0] == (8, True) and sorted(progress[1:]) == [(8, False), (8, False)]
    serial, resumed = _all_entries(tmp_path / "serial"), _all_entries(tmp_path / "resumed")
    assert sorted(serial) == list(range(24))
    assert serial == resumed
