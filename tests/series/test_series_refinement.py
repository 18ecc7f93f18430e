"""The Rietveld series: sequential seeding fails at a cell jump (tetragonal → metrically
cubic), the ensemble fallback recovers it; results are journaled and a rerun resumes."""

import json

import pytest

from powdex.refinement.errors import RefinementError
from powdex.series.refinement import order_patterns, refine_series
from tests.series.conftest import transition_series

COUNT, TRANSITION = 10, 6


@pytest.fixture(scope="module")
def series():
    return transition_series(COUNT, TRANSITION, step=0.04)


@pytest.mark.slow
def test_sequential_fails_at_transition_and_ensemble_recovers(series, plan, tmp_path):
    patterns, truth = series
    plain = refine_series(patterns, plan, fallback=False)
    at_transition = plain.entries[TRANSITION]
    assert at_transition.result.statistics.gof > 3.0
    assert abs(at_transition.phases[0].cell[2] - truth[TRANSITION][1]) > 0.01

    rescued = refine_series(patterns, plan, fallback=True, ensemble_starts=6, out=tmp_path / "out")
    for entry, (a, c) in zip(rescued.entries, truth):
        phase = entry.phases[0]
        assert entry.result.statistics.gof < 1.1
        if entry.position < TRANSITION:
            # 3 esd: of twelve normal deviates, one beyond 2 esd is likely (0.43), beyond 3 is not (0.03).
            assert abs(phase.cell[0] - a) < 3 * phase.cell_esd[0]
            assert abs(phase.cell[2] - c) < 3 * phase.cell_esd[2]
        else:
            # Metrically cubic: (h00) and (00l) coincide, the a–c split is a width, not a shift, so
            # least-squares esds understate how far a and c may part; the cell is within 0.03 %.
            assert abs(phase.cell[0] - a) < 1.2e-3 and abs(phase.cell[2] - c) < 1.2e-3
    flagged = [e.position for e in rescued.entries if "ensemble" in e.flags]
    assert flagged == [TRANSITION]
    assert "cell_jump" in rescued.entries[TRANSITION].flags

    # A rerun reads every pattern from the journal: identical results, nothing refitted.
    records = sorted((tmp_path / "out" / "journal" / "records").glob("*.json"))
    assert len(records) == COUNT
    stamps = [r.stat().st_mtime_ns for r in records]
    again = refine_series(patterns, plan, fallback=True, ensemble_starts=6, out=tmp_path / "out")
    assert [r.stat().st_mtime_ns for r in records] == stamps
    assert [e.result.statistics.rwp for e in again.entries] == [e.result.statistics.rwp for e in rescued.entries]


def test_resume_after_interruption_refits_only_the_rest(series, plan, tmp_path):
    patterns, _ = series
    first = refine_series(patterns[:3], plan, out=tmp_path / "out")
    records = tmp_path / "out" / "journal" / "records"
    (records / "scan_002.xye.json").unlink()
    kept = (records / "scan_001.xye.json").stat().st_mtime_ns
    again = refine_series(patterns[:3], plan, out=tmp_path / "out")
    assert (records / "scan_001.xye.json").stat().st_mtime_ns == kept
    assert json.loads((records / "scan_002.xye.json").read_text())["name"] == "scan_002.xye"
    assert again.entries[2].result.statistics.rwp == pytest.approx(first.entries[2].result.statistics.rwp)


def test_order_by_file_number_and_reverse(series, plan):
    patterns, _ = series
    shuffled = [patterns[2], patterns[0], patterns[1]]
    assert [p.source for p in order_patterns(shuffled)] == ["scan_000.xye", "scan_001.xye", "scan_002.xye"]
    backward = refine_series(shuffled, plan, reverse=True)
    assert [e.name for e in backward.entries] == ["scan_002.xye", "scan_001.xye", "scan_000.xye"]
    assert backward.entries[0].flags == [] and backward.entries[1].flags[0] == "seeded"


def test_order_by_csv_and_missing_metadata(series, tmp_path):
    patterns, _ = series
    listing = tmp_path / "order.csv"
    listing.write_text("scan_001.xye\nscan_000.xye\n")
    assert [p.source for p in order_patterns(patterns[:2], listing)] == ["scan_001.xye", "scan_000.xye"]
    with pytest.raises(RefinementError, match="order.csv: does not list scan_002.xye"):
        order_patterns(patterns[:3], listing)
    with pytest.raises(RefinementError, match="scan_000.xye: no 'temperature'"):
        order_patterns(patterns[:2], "temperature")


@pytest.mark.slow
def test_ensemble_on_worker_processes_matches_in_process(series, plan):
    from powdex.optim.executors import LocalProcesses

    patterns, _ = series
    window = patterns[TRANSITION - 1: TRANSITION + 1]
    here = refine_series(window, plan, ensemble_starts=4)
    there = refine_series(window, plan, ensemble_starts=4, executor=LocalProcesses(workers=2))
    assert [e.flags for e in there.entries] == [e.flags for e in here.entries]
    assert [e.result.statistics.rwp for e in there.entries] == pytest.approx(
        [e.result.statistics.rwp for e in here.entries], rel=1e-9)


@pytest.mark.slow
def test_two_phase_coexistence_weight_fractions(tmp_path):
    from powdex.refinement.plan import RefinementPlan
    from tests.series.conftest import DATA, TWO_PHASE_PLAN, coexistence_series

    (tmp_path / "plan.toml").write_text(TWO_PHASE_PLAN)
    for name in ("tetragonal.cif", "cubic.cif"):
        (tmp_path / name).write_text((DATA / name).read_text())
    patterns, truth = coexistence_series(12, 4, 8)
    result = refine_series(patterns, RefinementPlan.from_toml(tmp_path / "plan.toml"), ensemble_starts=4)
    for entry, (_, _, _, cubic_fraction) in zip(result.entries, truth):
        cubic = next(p for p in entry.phases if p.name == "C")
        assert entry.result.statistics.gof < 1.1
        assert abs(cubic.weight_fraction - cubic_fraction) < 0.02
    assert "at_bound" not in {flag for entry in result.entries for flag in entry.flags}


def test_interleaved_chains_seed_from_k_minus_chains_and_give_the_same_results_on_worker_processes(series, plan):
    from powdex.optim.executors import LocalProcesses

    patterns, truth = series
    here = refine_series(patterns[:4], plan, chains=2)
    assert [e.seeded_from for e in here.entries] == [None, None, "scan_000.xye", "scan_001.xye"]
    for entry, (a, c) in zip(here.entries, truth):
        assert entry.result.statistics.gof < 1.1
        assert abs(entry.phases[0].cell[0] - a) < 3 * entry.phases[0].cell_esd[0]
        assert abs(entry.phases[0].cell[2] - c) < 3 * entry.phases[0].cell_esd[2]
    there = refine_series(patterns[:4], plan, chains=2, executor=LocalProcesses(workers=2))
    assert [e.to_dict() for e in there.entries] == [e.to_dict() for e in here.entries]


def test_a_pattern_whose_chain_went_astray_is_refitted_from_its_neighbour_of_the_other_chain(
        series, plan, tmp_path, monkeypatch):
    from dataclasses import replace

    import powdex.series.refinement as module

    real = module.refine_pattern

    def astray_at_3(fits, settings, data, position, previous, executor=None, **options):
        entry = real(fits, settings, data, position, previous, executor, **options)
        if position == 3 and previous is not None and previous.position == 1:  # chain 1's own fit of pattern 3
            statistics = entry.result.statistics
            entry.result = replace(entry.result, statistics=replace(
                statistics, rwp=5 * statistics.rwp, reduced_chi2=25 * statistics.reduced_chi2))
        return entry

    monkeypatch.setattr(module, "refine_pattern", astray_at_3)
    patterns, _ = series
    result = refine_series(patterns[:4], plan, chains=2, out=tmp_path / "out")
    third = result.entries[3]
    assert third.seeded_from == "scan_002.xye" and "rejoined" in third.flags
    assert third.result.statistics.gof < 1.1
    assert [e.seeded_from for e in result.entries[:3]] == [None, None, "scan_000.xye"]
    record = tmp_path / "out" / "journal" / "records" / "rejoin%3Ascan_003.xye.json"
    stamp = record.stat().st_mtime_ns
    again = refine_series(patterns[:4], plan, chains=2, out=tmp_path / "out")
    assert record.stat().st_mtime_ns == stamp and again.entries[3].to_dict() == third.to_dict()


@pytest.fixture(scope="module")
def heating(tmp_path_factory):
    """The benchmark's heating series (tetragonal → cubic, both in patterns 60–69, widths doubling) and
    the fits of its two-phase plan."""
    from powdex.refinement.plan import RefinementPlan
    from powdex.series.refinement import PatternData, fits_of
    from tests.series.conftest import DATA, TWO_PHASE_PLAN_WITH_PROFILE, coexistence_series

    folder = tmp_path_factory.mktemp("heating")
    (folder / "plan.toml").write_text(TWO_PHASE_PLAN_WITH_PROFILE)
    for name in ("tetragonal.cif", "cubic.cif"):
        (folder / name).write_text((DATA / name).read_text())
    patterns, truth = coexistence_series(100, 60, 69, widening=2.0)
    return fits_of(RefinementPlan.from_toml(folder / "plan.toml")), [PatternData.of(p) for p in patterns], truth


def test_a_phase_absent_from_a_pattern_is_left_out_rather_than_found_at_a_few_esd(heating):
    """Pure tetragonal pattern 16: the cubic phase, its cell free, fits the noise where it fits best
    (2 % at over 2.5 esd); Schwarz's criterion leaves it out.  A coexistence pattern keeps both phases."""
    from powdex.series.refinement import SeriesSettings, refine_pattern

    fits, data, truth = heating
    both = fits.fit(data[16], fits.cold_start())
    cubic = next(p for p in both.phases if p.name == "C")
    assert cubic.weight_fraction > 2.5 * cubic.weight_fraction_esd and cubic.weight_fraction > 0.015
    entry = refine_pattern(fits, SeriesSettings(), data[16], 16, None)
    assert [p.weight_fraction for p in entry.phases] == [1.0, 0.0]
    assert not entry.result.parameter("C:scale").refined and "phase_absent" in entry.flags
    assert entry.result.statistics.information_criterion() < both.statistics.information_criterion()
    mixed = refine_pattern(fits, SeriesSettings(), data[65], 65, None)
    assert next(p for p in mixed.phases if p.name == "C").weight_fraction == pytest.approx(truth[65][3], abs=0.02)
    assert "phase_absent" not in mixed.flags


def test_phases_the_pattern_cannot_tell_apart_follow_the_neighbour(heating):
    """Pure cubic pattern 84: a tetragonal cell with c = a has the cubic one's lines, so the fits with either
    phase left out are alike (Schwarz's criteria within 2); the phase the neighbour found is kept, and
    against the fit with both phases, the one with fewer."""
    from powdex.series.refinement import BIC_TIE, SeriesEntry, SeriesSettings, _preferred, _seed, phase_found

    fits, data, _ = heating
    both = fits.fit(data[84], fits.cold_start())
    alone = {kept: fits.fit(data[84], _seed(both), held_out=(left,)) for kept, left in (("T", "C"), ("C", "T"))}
    tetragonal = next(p for p in alone["T"].phases if p.name == "T")
    assert tetragonal.cell[2] == pytest.approx(tetragonal.cell[0], rel=1e-3)
    criteria = [r.statistics.information_criterion() for r in alone.values()]
    assert abs(criteria[0] - criteria[1]) < BIC_TIE
    for kept, result in alone.items():
        neighbour = SeriesEntry("scan_083.xye", 83, "rietveld", result, result.phases, [])
        chosen = _preferred([both, *alone.values()], neighbour, SeriesSettings())
        assert chosen is result
        assert [p.name for p in chosen.phases if phase_found(p, chosen)] == [kept]
