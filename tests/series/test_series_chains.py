"""Interleaved chains: a phase that appears in one chain is carried into the other, the fit kept by
an information criterion; each task reports what it cost, and the critical path follows from it."""

import json

import pytest

from powdex.refinement.plan import RefinementPlan
from powdex.series.refinement import (
    SeriesRefinementResult,
    TaskTiming,
    fits_of,
    makespan,
    phase_found,
    refine_series,
)
from tests.series.conftest import DATA, TWO_PHASE_PLAN, coexistence_series


def two_phase_plan(folder, cubic_a: float = 4.04) -> RefinementPlan:
    (folder / "plan.toml").write_text(TWO_PHASE_PLAN)
    (folder / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text())
    cif = (DATA / "cubic.cif").read_text()
    (folder / "cubic.cif").write_text(cif.replace("4.0400", f"{cubic_a:.4f}"))
    return RefinementPlan.from_toml(folder / "plan.toml")


def cubic(entry):
    return next(p for p in entry.result.phases if p.name == "C")


def test_a_phase_found_in_one_chain_is_carried_into_the_other(tmp_path, monkeypatch):
    import powdex.series.refinement as module

    # The cubic phase appears at pattern 2 (11 % by weight) and grows (22 % at pattern 3).
    patterns, truth = coexistence_series(4, 2, 9, step=0.04, drift=0.0005)
    plan = two_phase_plan(tmp_path)
    (tmp_path / "astray").mkdir()
    # Chain 1 looks for the cubic phase 3 % away from its cell, beyond any peak width: it misses it.
    astray = fits_of(two_phase_plan(tmp_path / "astray", cubic_a=4.04 * 0.97))
    real = module.refine_pattern
    missed = {}

    def chain_1_misses_the_phase(fits, settings, data, position, previous, executor=None, **options):
        if position == 3 and previous is not None and previous.position == 1:  # chain 1's own fit of pattern 3
            missed["entry"] = real(astray, settings, data, position, previous, executor, **options)
            return missed["entry"]
        return real(fits, settings, data, position, previous, executor, **options)

    monkeypatch.setattr(module, "refine_pattern", chain_1_misses_the_phase)
    result = refine_series(patterns, plan, chains=2, new_phase_peaks=None, out=tmp_path / "out")
    own, neighbour = missed["entry"], result.entries[2]
    assert phase_found(cubic(neighbour), neighbour.result) and not phase_found(cubic(own), own.result)
    # The miss costs too little Rwp for the Rwp rule alone to catch.
    assert own.result.statistics.rwp < 1.5 * neighbour.result.statistics.rwp

    third = result.entries[3]
    assert third.seeded_from == "scan_002.xye" and "rejoined" in third.flags
    assert phase_found(cubic(third), third.result)
    found = cubic(third)
    assert abs(found.weight_fraction - truth[3][3]) < 3 * found.weight_fraction_esd  # 0.202(9) against 0.222
    assert third.result.statistics.gof < 1.1
    assert third.result.statistics.information_criterion() < own.result.statistics.information_criterion()
    # Only the pattern that lacked the phase was refitted.
    assert ["rejoined" in e.flags for e in result.entries] == [False, False, False, True]
    records = sorted(p.name for p in (tmp_path / "out" / "journal" / "records").glob("rejoin*.json"))
    assert records == ["rejoin%3Ascan_003.xye.json"]
    assert json.loads((tmp_path / "out" / "journal" / "records" / records[0]).read_text())["seeded_from"] == \
        "scan_002.xye"
    # Each chain and the refit report their CPU seconds; the refit started as soon as both chains were in.
    kinds = [(t.kind, t.stage, t.label, t.fitted) for t in result.timings]
    assert kinds == [("chain", 0, "chain 0", 2), ("chain", 0, "chain 1", 2), ("rejoin", 0, "scan_003.xye", 1),
                     ("driver", 1, "driver", 0)]
    assert all(t.cpu_seconds > 0 for t in result.timings if t.kind != "driver")


def test_the_critical_path_runs_each_stage_on_the_workers_then_the_next():
    from dataclasses import replace

    assert makespan([3.0, 1.0, 1.0, 1.0], 2) == 3.0
    assert makespan([1.0, 1.0, 3.0], 2) == 4.0  # handed out in order, each to the first free worker
    assert makespan([2.0, 2.0], 1) == 4.0

    def timing(kind, stage, seconds, label=""):
        return TaskTiming(kind, stage, label, 1, seconds, seconds, seconds, 1)

    series = SeriesRefinementResult([], [timing("chain", 0, 10.0, "chain 0"), timing("chain", 0, 8.0, "chain 1"),
                                         timing("rejoin", 1, 2.0), timing("rejoin", 1, 2.0), timing("driver", 2, 0.5)])
    assert series.ideal_seconds(1) == pytest.approx(22.5)
    assert series.ideal_seconds(2) == pytest.approx(0.5 + 10.0 + 2.0)
    # A task starts only once those it was seeded from have ended: a chain's segments one after another.
    assert makespan([3.0, 1.0, 3.0, 3.0, 1.0], 2, [(), (), (0,), (2,), (1, 2)]) == pytest.approx(9.0)
    segments = SeriesRefinementResult([], [replace(t, depends=after) for t, after in zip(
        [timing("chain", 0, 3.0), timing("chain", 0, 1.0), timing("chain", 0, 3.0), timing("chain", 0, 3.0),
         timing("rejoin", 0, 1.0)], [(), (), (0,), (2,), (1, 2)])])
    assert segments.ideal_seconds(2) == pytest.approx(9.0)
    assert segments.ideal_seconds(1) == pytest.approx(11.0)


def test_a_refit_after_a_refitted_neighbour_is_recorded_apart_and_a_rerun_refits_nothing(tmp_path, monkeypatch):
    from dataclasses import replace

    import powdex.series.refinement as module
    from tests.series.conftest import PLAN, transition_series

    real = module.refine_pattern

    def chains_astray_at_2_and_3(fits, settings, data, position, previous, executor=None, **options):
        entry = real(fits, settings, data, position, previous, executor, **options)
        if position in (2, 3) and previous is not None and previous.position == position - 2:  # a chain's own fit
            factor = 5.0 if position == 2 else 25.0  # 3 is astray even beside 2's astray chain result
            statistics = entry.result.statistics
            entry.result = replace(entry.result, statistics=replace(
                statistics, rwp=factor * statistics.rwp, reduced_chi2=factor ** 2 * statistics.reduced_chi2))
        return entry

    monkeypatch.setattr(module, "refine_pattern", chains_astray_at_2_and_3)
    (tmp_path / "plan.toml").write_text(PLAN)
    (tmp_path / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text())
    plan = RefinementPlan.from_toml(tmp_path / "plan.toml")
    patterns, _ = transition_series(4, 10, step=0.04)
    result = refine_series(patterns, plan, chains=2, out=tmp_path / "out")
    # Patterns 2 and 3 are refitted at once from their chain-result neighbours; 2's refit is kept, so 3 is
    # refitted again from it, after it.
    assert [e.seeded_from for e in result.entries] == [None, None, "scan_001.xye", "scan_002.xye"]
    assert ["rejoined" in e.flags for e in result.entries] == [False, False, True, True]
    assert [(t.kind, t.label) for t in result.timings] == [
        ("chain", "chain 0"), ("chain", "chain 1"), ("rejoin", "scan_002.xye"), ("rejoin", "scan_003.xye"),
        ("rejoin", "scan_003.xye"), ("driver", "driver")]
    records = tmp_path / "out" / "journal" / "records"
    rejoins = sorted(p.name for p in records.glob("rejoin*.json"))
    assert rejoins == ["rejoin%3Ascan_002.xye.json", "rejoin%3Ascan_003.xye%3Aafter-rejoin.json",
                       "rejoin%3Ascan_003.xye.json"]
    stamps = {p: p.stat().st_mtime_ns for p in records.iterdir()}
    again = refine_series(patterns, plan, chains=2, out=tmp_path / "out")
    assert {p: p.stat().st_mtime_ns for p in records.iterdir()} == stamps
    assert [e.to_dict() for e in again.entries] == [e.to_dict() for e in result.entries]
    assert [t.kind for t in again.timings] == ["chain", "chain", "driver"]
    assert sum(t.fitted for t in again.timings) == 0


def test_an_ensemble_runs_its_starts_as_tasks_of_their_own_and_a_rerun_fits_only_what_is_not_recorded(
        tmp_path, plan):
    """Pattern 6 turns metrically cubic: its chain hands the fallback ensemble's starts out as tasks, then
    resumes from them with the result the ensemble gives in place."""
    from powdex.series.refinement import PatternData, SeriesSettings, refine_pattern
    from tests.series.conftest import transition_series

    patterns, _ = transition_series(8, 6, step=0.04)
    out = tmp_path / "out"
    result = refine_series(patterns, plan, chains=2, ensemble_starts=4, new_phase_peaks=None, out=out)
    sixth = result.entries[6]
    assert "ensemble" in sixth.flags and "rejoined" not in sixth.flags and sixth.result.statistics.gof < 1.1
    in_place = refine_pattern(fits_of(plan), SeriesSettings(ensemble_starts=4), PatternData.of(patterns[6]), 6,
                              result.entries[4])
    assert in_place.result.to_dict() == sixth.result.to_dict()
    assert in_place.flags == ["seeded", "ensemble"]  # the series adds cell_jump (continuity) after

    timings = result.timings
    starts = [k for k, t in enumerate(timings) if t.label.startswith("scan_006.xye start")]
    assert sorted(timings[k].label for k in starts) == [f"scan_006.xye start {i}" for i in (1, 2, 3)]
    assert all(timings[k].kind == "ensemble" and timings[k].fitted == 0 for k in starts)
    # Each start waits for the chain task that handed it out; the chain resumes after all three.
    handed = {timings[k].depends for k in starts}
    assert len(handed) == 1 and timings[next(iter(handed))[0]].label == "chain 0"
    resumed = [t for t in timings if t.kind == "chain" and set(starts) <= set(t.depends)]
    assert len(resumed) == 1 and resumed[0].label == "chain 0"

    # Killed after the starts were recorded, before the resumed chain recorded its patterns: the rerun
    # fits no start again.
    records = out / "journal" / "records"
    candidates = sorted(p.name for p in records.glob("ensemble%3Ascan_006*"))
    assert candidates == [f"ensemble%3Ascan_006.xye%3A{i}.json" for i in range(4)]
    for path in records.glob("*.json"):
        if path.name.startswith(("scan_006", "scan_007", "rejoin%3Ascan_006", "rejoin%3Ascan_007")):
            path.unlink()
    stamps = {p.name: p.stat().st_mtime_ns for p in records.glob("ensemble*")}
    again = refine_series(patterns, plan, chains=2, ensemble_starts=4, new_phase_peaks=None, out=out)
    assert {p.name: p.stat().st_mtime_ns for p in records.glob("ensemble*")} == stamps
    assert [e.to_dict() for e in again.entries] == [e.to_dict() for e in result.entries]
    assert not any(t.label.startswith("scan_006.xye start") for t in again.timings)


def test_a_refit_hands_its_ensemble_out_and_resumes_from_it(tmp_path, plan, monkeypatch):
    """Chain 1's own fit of pattern 3 is made to look astray, so 3 is refitted from pattern 2; that refit
    is made to fall back to its ensemble (every Rwp counts as a jump), whose starts run as tasks of their
    own before the refit resumes with the result the ensemble gives in place."""
    from dataclasses import replace

    import powdex.series.refinement as module
    from powdex.series.refinement import PatternData
    from tests.series.conftest import transition_series

    real = module.refine_pattern

    def astray_at_3_and_every_refit_degraded(fits, settings, data, position, previous, executor=None, **options):
        if previous is not None and previous.position == position - 1:  # a refit from the other chain
            settings = replace(settings, rwp_jump=0.0)
        entry = real(fits, settings, data, position, previous, executor, **options)
        if position == 3 and previous is not None and previous.position == 1 and isinstance(entry, module.SeriesEntry):
            statistics = entry.result.statistics
            entry.result = replace(entry.result, statistics=replace(
                statistics, rwp=5 * statistics.rwp, reduced_chi2=25 * statistics.reduced_chi2))
        return entry

    monkeypatch.setattr(module, "refine_pattern", astray_at_3_and_every_refit_degraded)
    patterns, _ = transition_series(4, 10, step=0.04)
    out = tmp_path / "out"
    result = refine_series(patterns, plan, chains=2, ensemble_starts=3, new_phase_peaks=None, out=out)
    third = result.entries[3]
    assert "rejoined" in third.flags and third.seeded_from == "scan_002.xye"
    in_place = real(fits_of(plan), module.SeriesSettings(ensemble_starts=3, rwp_jump=0.0),
                    PatternData.of(patterns[3]), 3, result.entries[2])
    assert in_place.result.to_dict() == third.result.to_dict()

    rejoins = [k for k, t in enumerate(result.timings) if t.kind == "rejoin"]
    starts = [k for k, t in enumerate(result.timings) if t.label.startswith("scan_003.xye start")]
    assert len(rejoins) == 2 and len(starts) == 2
    handed, resumed = (result.timings[k] for k in rejoins)
    assert handed.fitted == 0 and resumed.fitted == 1
    assert all(result.timings[k].depends == (rejoins[0],) for k in starts)
    assert set(starts) <= set(resumed.depends)
    records = out / "journal" / "records"
    assert sorted(p.name for p in records.glob("rejoin*")) == [
        "rejoin%3Ascan_003.xye%3Aensemble%3A0.json", "rejoin%3Ascan_003.xye%3Aensemble%3A1.json",
        "rejoin%3Ascan_003.xye%3Aensemble%3A2.json", "rejoin%3Ascan_003.xye.json"]
