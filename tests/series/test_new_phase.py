"""Peaks no phase of the plan explains, and enough of them, are indexed into a proposed new phase."""

import numpy as np
import pytest

from powdex.refinement.rietveld import RietveldPhase, simulate_pattern
from powdex.refinement.structure import CrystalStructure
from powdex.series.refinement import refine_series
from tests.series.conftest import DATA


def with_unknown_phase(source: str, unknown_scale: float):
    known = RietveldPhase(CrystalStructure.from_cif(DATA / "tetragonal.cif"), "T")
    unknown = RietveldPhase(CrystalStructure.from_cif(DATA / "cubic.cif"), "N")
    values = {"T:scale": 0.05, "N:scale": unknown_scale, "bkg0": 150.0, "N:a": 5.6, "N:b": 5.6, "N:c": 5.6}
    return simulate_pattern([known, unknown], np.arange(20.0, 80.0, 0.02), seed=7, values=values, source=source)


def test_unexplained_peaks_are_indexed_into_the_missing_phase(plan, tmp_path):
    result = refine_series([with_unknown_phase("scan_000.xye", 0.03)], plan, fallback=False, out=tmp_path / "out")
    entry = result.entries[0]
    assert "new_phase" in entry.flags
    proposal = entry.proposal
    assert proposal["bravais"] == "cP" and proposal["cell"][0] == pytest.approx(5.6, abs=2e-3)
    assert len(proposal["peaks"]) >= 15 and proposal["indexed"] == len(proposal["peaks"])
    assert result.table()[0]["new_phase"].startswith("cP 5.600")
    # Recorded: a rerun reads the proposal instead of indexing again.
    record = tmp_path / "out" / "journal" / "records" / "proposal%3Ascan_000.xye.json"
    stamp = record.stat().st_mtime_ns
    again = refine_series([with_unknown_phase("scan_000.xye", 0.03)], plan, fallback=False, out=tmp_path / "out")
    assert record.stat().st_mtime_ns == stamp and again.entries[0].proposal == proposal


def test_a_well_fitted_pattern_proposes_nothing(plan):
    result = refine_series([with_unknown_phase("scan_000.xye", 0.0)], plan, fallback=False)
    assert result.entries[0].proposal is None and "new_phase" not in result.entries[0].flags
