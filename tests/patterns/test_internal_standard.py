"""An internal standard's lines are recognised among the picks, set aside, and their zero offset measured."""

import numpy as np
import pytest
from typer.testing import CliRunner

import powdex
from powdex.cli.main import app
from powdex.crystal import Cell, same_lattice
from powdex.crystal.standards import STANDARDS
from powdex.patterns import Pattern, peaks_from_pattern, read_peak_input
from powdex.patterns.internal_standard import standard_by_name, standard_lines
from powdex.patterns.radiation import tube_lines
from powdex.patterns.simulate import pseudo_voigt, simulate_pattern
from powdex.peaks import PeakInputError
from powdex.peaks.units import q2_to_two_theta, two_theta_to_q2

SI = STANDARDS["Si"]


def test_silicon_lines_follow_its_space_group():
    # Fd-3m at Cu Kα1: 111, 220, 311, 222, 400, 331, 422. 200 is a space-group absence; 222 is allowed by the
    # space group (only the atoms' special position makes it weak), and is seen on strong sources.
    two_theta = q2_to_two_theta(SI.line_q2(float(two_theta_to_q2(90.0, 1.5406))), 1.5406)
    np.testing.assert_allclose(two_theta, [28.441, 47.301, 56.120, 58.854, 69.127, 76.372, 88.026], atol=0.001)


def test_standard_picks_found_with_their_zero_offset():
    rng = np.random.default_rng(3)
    silicon = q2_to_two_theta(SI.line_q2(float(two_theta_to_q2(60.0, 0.8))), 0.8)
    sample = np.sort(rng.uniform(5.0, 58.0, 25))
    sample = sample[np.min(np.abs(sample[:, None] - silicon[None, :]), axis=1) > 0.1]
    zero = 0.037
    picks = np.concatenate([sample, silicon]) + zero
    order = np.argsort(picks)
    found = standard_lines(picks[order], np.full(picks.size, 0.02), 0.8, SI)
    is_silicon = (np.arange(picks.size) >= sample.size)[order]
    np.testing.assert_array_equal(found.matched, is_silicon)
    assert found.zero_offset == pytest.approx(zero, abs=1e-6)
    assert found.expected == silicon.size


def test_no_standard_matches_nothing():
    picks = np.array([10.0, 17.3, 23.9, 31.7])  # no two of them fit silicon at any offset within ±0.6°
    found = standard_lines(picks, np.full(4, 0.01), 1.5406, SI)
    assert found.n_matched == 0 and found.zero_offset == 0.0


def lab_mixture(zero: float) -> tuple[Pattern, np.ndarray, np.ndarray]:
    """A lab Cu Kα1 + Kα2 pattern of a tetragonal sample with LaB6 mixed in (every LaB6 line 5000 counts high),
    every position shifted by ``zero``; and the true sample and LaB6 Kα1 lines."""
    sample = simulate_pattern(Cell(4.91, 4.91, 6.37), two_theta_range=(10.0, 80.0), seed=4)
    pattern = sample.pattern
    tube = tube_lines("Cu")
    lab6 = STANDARDS["LaB6"]
    lines = q2_to_two_theta(lab6.line_q2(float(two_theta_to_q2(79.0, tube.k_alpha1))), tube.k_alpha1)
    standard = np.zeros_like(pattern.two_theta)
    for line in lines:
        alpha2 = np.degrees(2 * np.arcsin(np.sin(np.radians(line / 2)) * tube.k_alpha2 / tube.k_alpha1))
        standard += 5000.0 * (pseudo_voigt(pattern.two_theta, line, 0.08, 0.5)
                              + tube.ratio * pseudo_voigt(pattern.two_theta, alpha2, 0.08, 0.5))
    mixed = Pattern(pattern.two_theta + zero, pattern.intensity + standard, pattern.sigma, "<sample + LaB6>",
                    wavelengths=pattern.wavelengths, ratio=pattern.ratio)
    return mixed, sample.line_two_theta, lines


def test_pattern_with_internal_standard_loses_its_lines_and_zero():
    zero = 0.06
    pattern, sample, lab6 = lab_mixture(zero)
    plain = peaks_from_pattern(pattern, n_peaks=None)
    cleaned = peaks_from_pattern(pattern, n_peaks=None, internal_standard="LaB6")
    alone = lab6[np.min(np.abs(lab6[:, None] - sample[None, :]), axis=1) > 0.3]  # not overlapping the sample's

    def near(picks, lines, within):
        return np.min(np.abs(np.asarray(picks)[:, None] - lines[None, :]), axis=0) <= within

    assert alone.size >= 6
    assert near(plain.two_theta, alone + zero, 0.02).all()  # picked without the option
    assert not near(cleaned.two_theta, alone, 0.05).any()  # set aside with it
    note = next(n for n in cleaned.notes if n.startswith("internal standard LaB6"))
    measured = float(note.split("zero offset ")[1].split("°")[0])
    assert measured == pytest.approx(zero, abs=0.01)
    # The other picks are the sample's lines with the zero offset taken off.
    strong = np.asarray(cleaned.two_theta)
    offsets = np.min(np.abs(strong[:, None] - sample[None, :]), axis=1)
    assert np.median(offsets) < 0.01


def test_silicon_standard_in_corundum_scan(data):
    # NIST SRM 676a corundum with 25 % SRM 640d silicon (APS 11-BM): Si 111, 311, 400 and 331 are among the
    # first 20 picks; with the option none of them is, and corundum's lines fill the list.
    name = data / "Si_Al2O3_11bmb_8341_to24deg.fxye"
    plain = read_peak_input(name, wavelength=0.413011)
    cleaned = read_peak_input(name, wavelength=0.413011, internal_standard="si")
    silicon = np.array([7.551, 14.488, 17.495, 19.079])
    assert (np.min(np.abs(np.asarray(plain.two_theta)[:, None] - silicon), axis=0) < 0.005).all()
    # Not named, the standard is recognised and the user told how to set it aside.
    assert [n for n in plain.notes if "--internal-standard" in n] == [
        "5 of these picks (7.551, 12.347, 14.488, 17.495, 19.079°) are lines of Si (NIST SRM 640e) at a zero offset "
        "of -0.0011°: where these picks index to nothing decisive, indexing searches again with them set aside; if it "
        "was mixed in as an internal standard, name it (--internal-standard Si) to set them aside from the start"]
    assert (np.min(np.abs(np.asarray(cleaned.two_theta)[:, None] - silicon), axis=0) > 0.05).all()
    assert any("internal standard Si (NIST SRM 640e)" in n for n in cleaned.notes)


def test_unknown_standard_and_peak_lists_are_refused(tmp_path):
    with pytest.raises(PeakInputError, match="unknown standard 'quartz'; known: LaB6, Si, CeO2, Al2O3"):
        standard_by_name("quartz")
    listing = tmp_path / "peaks.txt"
    listing.write_text("28.44\n47.30\n56.12\n")
    with pytest.raises(PeakInputError, match="peaks.txt: an internal standard's lines are recognised in a measured"):
        read_peak_input(listing, internal_standard="Si")


def test_cli_refuses_an_unknown_standard(tmp_path):
    listing = tmp_path / "peaks.txt"
    listing.write_text("28.44\n47.30\n56.12\n")
    result = CliRunner().invoke(app, ["index", str(listing), "--internal-standard", "NaCl"])
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        "error: --internal-standard: unknown standard 'NaCl'; known: LaB6, Si, CeO2, Al2O3"]


def test_a_standard_is_not_flagged_in_its_own_pattern_or_in_a_pure_sample(data):
    # LaB6 SRM 660c alone: every pick is LaB6, so the sample is the standard; a pure synthetic sample has none.
    lab6 = read_peak_input(data / "LaB6_660c_PDF1m.chi", wavelength=0.1665)
    sample = peaks_from_pattern(simulate_pattern(Cell(4.91, 4.91, 6.37), two_theta_range=(10.0, 80.0), seed=4).pattern)
    for peaks in (lab6, sample):
        assert not [n for n in peaks.notes if "--internal-standard" in n]
        assert peaks.standard_set_aside is None  # nothing for indexing to search again


def test_corundum_first_with_its_silicon_standard_not_named(data):
    # The Si + Al2O3 scan: corundum leaves the 5 silicon picks of 20, more than a candidate may leave, and the
    # search of all 20 finds nothing decisive. The picks read again without silicon's lines, as the option reads
    # them, index to corundum, which scores more than the first search's best on all 20 picks too.
    name = data / "Si_Al2O3_11bmb_8341_to24deg.fxye"
    peaks = read_peak_input(name, wavelength=0.413011)
    named = read_peak_input(name, wavelength=0.413011, internal_standard="Si")
    set_aside = peaks.standard_set_aside
    assert set_aside is not None and (set_aside.standard, set_aside.n_set_aside) == ("Si", 5)
    np.testing.assert_array_equal(set_aside.peaks.two_theta, named.two_theta)
    result = powdex.index(peaks, config=powdex.IndexingConfig(time_limit=8))
    best = result.candidates[0]
    assert same_lattice(best.cell, Cell(4.759, 4.759, 12.99, 90, 90, 120), best.bravais.centring, "R", rtol=5e-3)
    assert result.peaks is set_aside.peaks
    assert result.notes[0].startswith("5 of the 20 picks are lines of the certified standard Si and the search of "
                                      "all of them found nothing decisive")
    assert result.notes[0].endswith("these are the candidates of the picks without Si's lines")


def test_a_super_cell_of_the_standard_keeps_the_lines_they_share():
    # A cubic sample of twice LaB6's cell edge: LaB6's lines are its lines of even h, k, l, 5 of its first 20
    # picks. Its cell indexes them and is decisive, so they are not set aside; with a stop rule that nothing
    # passes, the search without them runs and finds the same lattice, which explains no more: the list is kept.
    edge = 2 * STANDARDS["LaB6"].cell.a
    peaks = peaks_from_pattern(simulate_pattern(Cell(edge, edge, edge), two_theta_range=(10.0, 90.0), seed=4).pattern)
    assert peaks.standard_set_aside is not None and peaks.standard_set_aside.n_set_aside == 5
    for config in (powdex.IndexingConfig(time_limit=10, systems="cubic"),
                   powdex.IndexingConfig(time_limit=10, systems="cubic", stop_m=1e6)):
        result = powdex.index(peaks, config=config)
        best = result.candidates[0]
        assert best.bravais.value == "cP" and best.cell.a == pytest.approx(edge, rel=1e-4)
        assert result.peaks is peaks and best.figures.n_unindexed == 0
    decisive = "5 of the 20 picks are lines of the certified standard LaB6: not searched again without them"
    assert [d for d in powdex.index(peaks, config=powdex.IndexingConfig(time_limit=10, systems="cubic")).details
            if d.startswith(decisive)]
    assert result.notes[-1].endswith("It is the first search's lattice: the candidates of all the picks are kept")
