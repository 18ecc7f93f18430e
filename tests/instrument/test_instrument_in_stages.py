"""A calibrated instrument used by every stage: the peak search takes its widths and its Kα doublet,
indexing scores candidates on positions corrected for its zero and displacement with peaks weighted by
its FWHM, and the CLI's --instrument reaches all three."""

import itertools
import subprocess
import sys

import numpy as np
import pytest

import powdex
from powdex.crystal import Cell
from powdex.indexing import IndexingConfig
from powdex.indexing.observations import Observations
from powdex.instrument import Instrument, corrected_two_theta, peak_shift, write_instrument
from powdex.patterns import search_peaks
from powdex.patterns.simulate import simulate_pattern
from powdex.peaks import PeakInputError, PeakList, q2_to_two_theta

LAB = Instrument(wavelengths=(1.5405929, 1.5444274), ratio=0.5, zero=0.06, displacement=-0.18, U=0.004, V=-0.002,
                 W=0.003, X=0.01, Y=0.005, source="lab")
A = 5.4311


def cubic_two_theta(lines: int, wavelength: float) -> np.ndarray:
    sums = sorted({h * h + k * k + l * l for h, k, l in itertools.product(range(8), repeat=3) if h + k + l > 0})
    return q2_to_two_theta(np.array(sums[:lines]) / A**2, wavelength)


def test_corrected_positions_invert_the_shift():
    bragg = np.linspace(10, 140, 27)
    assert corrected_two_theta(LAB, bragg + peak_shift(LAB, bragg)) == pytest.approx(bragg, abs=1e-9)


def test_fwhm_is_the_gaussian_or_lorentzian_alone_when_the_other_vanishes():
    gaussian = Instrument(wavelengths=(1.54,), U=0.004, V=-0.002, W=0.003)
    lorentzian = Instrument(wavelengths=(1.54,), X=0.02, Y=0.01)
    at = np.array([20.0, 80.0, 140.0])
    assert gaussian.fwhm(at) == pytest.approx(gaussian.gaussian_fwhm(at))
    assert lorentzian.fwhm(at) == pytest.approx(lorentzian.lorentzian_fwhm(at))
    # Mixed, Γ lies between the larger part and the sum of both.
    mixed = LAB.fwhm(at)
    assert np.all(mixed > np.maximum(LAB.gaussian_fwhm(at), LAB.lorentzian_fwhm(at)))
    assert np.all(mixed < LAB.gaussian_fwhm(at) + LAB.lorentzian_fwhm(at))


def test_observations_take_the_instrument_shift_off_and_weight_by_its_width():
    bragg = cubic_two_theta(12, LAB.wavelengths[0])
    peaks = PeakList.from_values(bragg + peak_shift(LAB, bragg), units="2theta", wavelength=LAB.wavelengths[0])
    plain = Observations.from_peaks(peaks)
    corrected = Observations.from_peaks(peaks, LAB)
    assert np.all(plain.weight == 1.0)
    assert corrected.two_theta == pytest.approx(bragg, abs=1e-8)
    widths = LAB.fwhm(bragg)
    assert corrected.weight == pytest.approx(np.median(widths) / widths)
    assert corrected.weight[0] > corrected.weight[-1]  # the broad high-angle line counts less
    assert "corrected for the instrument lab" in corrected.notes[0]
    as_d = Observations.from_peaks(PeakList.from_values(1 / np.sqrt(plain.q2), units="d"), LAB)
    assert np.all(as_d.weight == 1.0) and "used as they are" in as_d.notes[0]


def test_indexing_with_the_instrument_finds_the_cell_its_shifts_hide():
    """A displaced lab sample: shifts of −0.12° at low angle to −0.03° at high angle, beyond what a fit with no
    zero shift tolerates.  Without the instrument the cubic cell is not found; with it, exactly."""
    bragg = cubic_two_theta(16, LAB.wavelengths[0])
    peaks = PeakList.from_values(bragg + peak_shift(LAB, bragg), units="2theta", wavelength=LAB.wavelengths[0])
    config = IndexingConfig(systems=("cubic",), time_limit=3, seed=0)

    def cubic_a(result):
        return [c.cell.a for c in result.candidates if c.figures.m >= 20]

    assert not any(abs(a - A) < 1e-3 for a in cubic_a(powdex.index(peaks, config=config)))
    found = powdex.index(peaks, config=config, instrument=LAB)
    assert found.candidates[0].cell.a == pytest.approx(A, abs=2e-4)


def test_peak_search_uses_the_instruments_widths():
    """Lines narrower than half the instrument's FWHM are not the sample's: with an instrument twice as broad
    as the pattern's lines, they are all refused, and the positions' σ use the instrument's width."""
    simulated = simulate_pattern(Cell(A, A, A), two_theta_range=(20, 80), seed=3, noise=0.01)
    pattern = simulated.pattern
    plain = search_peaks(pattern)
    assert len(plain) >= 10
    broad = Instrument(wavelengths=pattern.wavelengths, ratio=pattern.ratio, W=0.25**2, source="broad")
    refused = search_peaks(pattern, instrument=broad)
    assert len(refused) == 0
    assert any("the instrument's FWHM less their width error" in note for note in refused.notes)
    matching = Instrument(wavelengths=pattern.wavelengths, ratio=pattern.ratio, U=0.004, V=-0.002, W=0.003,
                          source="matching")
    guided = search_peaks(pattern, instrument=matching)
    assert len(guided) == len(plain)
    assert any("instrument matching" in note for note in guided.notes)


def with_spikes(pattern, centres, fraction, height, instrument):
    """``pattern`` plus single Gaussian bumps ``fraction`` × the instrument's FWHM wide (no Kα2: spikes, not lines)."""
    from dataclasses import replace

    y = pattern.intensity.copy()
    for centre in centres:
        width = fraction * float(instrument.fwhm(centre))
        y += height * np.exp(-4 * np.log(2) * ((pattern.two_theta - centre) / width) ** 2)
    return replace(pattern, intensity=y)


def test_spikes_narrower_than_the_instrument_are_not_picked():
    """Bumps 0.3–0.6 × the instrument's FWHM, as strong as a mid-size line, pass the pattern's own width test
    (smoothing widens them to about 0.7 × the lines' width) with the echoes Kα2 stripping makes of them; with
    the instrument none of them is picked, and every true line still is."""
    simulated = simulate_pattern(Cell(A, A, A), two_theta_range=(20, 80), seed=3, noise=0.01)
    pattern = simulated.pattern
    instrument = Instrument(wavelengths=pattern.wavelengths, ratio=pattern.ratio, U=0.004, V=-0.002, W=0.003,
                            source="matching")
    spikes = np.array([35.0, 44.0, 67.0])  # clear of the silicon lines

    def picked(search):
        true = np.array([np.min(np.abs(simulated.line_two_theta - t)) < 0.03 for t in search.two_theta])
        return search.two_theta[true], search.two_theta[~true]

    for fraction in (0.3, 0.6):
        spiked = with_spikes(pattern, spikes, fraction, 1500.0, instrument)
        plain_true, plain_spurious = picked(search_peaks(spiked))
        assert all(np.min(np.abs(plain_spurious - s)) < 0.01 for s in spikes), fraction
        guided = search_peaks(spiked, instrument=instrument)
        guided_true, guided_spurious = picked(guided)
        assert guided_spurious.size == 0, (fraction, guided_spurious)
        np.testing.assert_allclose(guided_true, plain_true)
        assert any("the instrument's FWHM less their width error" in note for note in guided.notes)


def test_the_instruments_calibrated_kalpha2_ratio_is_stripped_with():
    """A file that states Kα2/Kα1 0.3 where the tube gives 0.5 leaves a fifth of every line at its Kα2 position,
    and those residues are picked; the instrument of the same tube, with its calibrated 0.5, strips them."""
    from dataclasses import replace

    simulated = simulate_pattern(Cell(A, A, A), two_theta_range=(20, 80), seed=3, noise=0.01)
    wrong = replace(simulated.pattern, ratio=0.3)
    instrument = Instrument(wavelengths=simulated.pattern.wavelengths, ratio=0.5, U=0.004, V=-0.002, W=0.003,
                            source="calibrated")

    def spurious(search):
        return sum(np.min(np.abs(simulated.line_two_theta - t)) >= 0.03 for t in search.two_theta)

    assert spurious(search_peaks(wrong)) >= 3
    guided = search_peaks(wrong, instrument=instrument)
    assert spurious(guided) == 0
    np.testing.assert_allclose(guided.two_theta, search_peaks(simulated.pattern).two_theta)
    assert "Kα2/Kα1 ratio 0.5 from the instrument calibrated (the file's: 0.3)" in guided.notes


def test_the_search_says_when_the_instrument_is_not_the_diffractometers():
    simulated = simulate_pattern(Cell(A, A, A), two_theta_range=(20, 80), seed=3, noise=0.01)
    pattern = simulated.pattern
    sharp = Instrument(wavelengths=pattern.wavelengths, ratio=pattern.ratio, W=0.02**2, source="sharp")
    assert any("× the FWHM of the instrument sharp: sample broadening, or the file is not this diffractometer's"
               in note for note in search_peaks(pattern, instrument=sharp).notes)
    broad = Instrument(wavelengths=pattern.wavelengths, ratio=pattern.ratio, W=0.09**2, source="broad")
    assert any("narrower than it allows" in note for note in search_peaks(pattern, instrument=broad).notes)
    matching = Instrument(wavelengths=pattern.wavelengths, ratio=pattern.ratio, U=0.004, V=-0.002, W=0.003,
                          source="matching")
    assert not any("FWHM of the instrument" in note for note in search_peaks(pattern, instrument=matching).notes)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "powdex", *args], capture_output=True, text=True, timeout=120)


def test_cli_peaks_and_index_take_the_instrument(tmp_path):
    simulated = simulate_pattern(Cell(A, A, A), two_theta_range=(20, 80), seed=3, noise=0.01)
    scan = tmp_path / "scan.xy"
    np.savetxt(scan, np.column_stack([simulated.pattern.two_theta, simulated.pattern.intensity]))
    instrument = tmp_path / "lab.instprm"
    write_instrument(Instrument(wavelengths=simulated.pattern.wavelengths, ratio=simulated.pattern.ratio,
                                U=0.004, V=-0.002, W=0.003), instrument)
    peaks = run_cli("peaks", str(scan), "--instrument", str(instrument))
    assert peaks.returncode == 0, peaks.stderr
    assert "from the instrument" in peaks.stderr and "lab.instprm: minimum widths" in peaks.stderr
    document = tmp_path / "index.json"
    indexed = run_cli("index", str(scan), "--instrument", str(instrument), "--systems", "cubic", "--time-limit", "5",
                      "--json", str(document))
    assert indexed.returncode == 0, indexed.stderr
    assert "positions corrected for the instrument" in indexed.stderr
    assert str(instrument) in document.read_text()  # the settings name the instrument file
    series = run_cli("index", str(scan), str(scan), "--out", str(tmp_path / "o"), "--instrument", str(instrument))
    assert series.returncode == 2 and "--instrument is for one pattern" in series.stderr
    missing = run_cli("index", str(scan), "--instrument", str(tmp_path / "none.prm"))
    assert missing.returncode == 2 and "none.prm: cannot read" in missing.stderr


def test_read_peak_input_takes_the_instruments_wavelengths(tmp_path):
    """A peak list that names no wavelength, and a scan whose file names none, are read at the instrument's."""
    from powdex.patterns import read_peak_input

    cobalt = Instrument(wavelengths=(1.78897, 1.79285), ratio=0.5, U=0.004, V=-0.002, W=0.003, source="co.toml")
    listed = tmp_path / "peaks.txt"
    listed.write_text("\n".join(f"{t:.4f} 100" for t in cubic_two_theta(8, 1.78897)) + "\n")
    assert read_peak_input(listed, instrument=cobalt).wavelength == 1.78897
    with pytest.raises(PeakInputError, match="no wavelength"):
        read_peak_input(listed)
    simulated = simulate_pattern(Cell(A, A, A), anode="Co", two_theta_range=(20, 100), seed=3, noise=0.01)
    scan = tmp_path / "scan.xy"
    np.savetxt(scan, np.column_stack([simulated.pattern.two_theta, simulated.pattern.intensity]))
    picked = read_peak_input(scan, instrument=cobalt)
    assert picked.wavelength == 1.78897
    assert any("from the instrument co.toml" in note for note in picked.notes)
    # the first picks are Kα1 lines of the cubic cell at the instrument's wavelength (lines under 1 % of
    # the strongest are left out of a pick, so they need not be the first lines)
    first = np.asarray(picked.two_theta)[:8]
    distance = np.abs(first[:, None] - np.asarray(simulated.line_two_theta)[None, :]).min(axis=1)
    assert len(first) == 8 and distance.max() < 0.01


def test_kbeta_of_a_displaced_specimen_is_set_aside_with_the_instrument_only():
    """Kβ at 15 % of Kα1 on a monoclinic sample displaced by −0.3° · cos θ (zero +0.05°): without the instrument
    the replicas are predicted from shifted positions and missed, and 8 of the first 20 picks are Kβ lines or
    their strip echoes; from the instrument's Bragg angles they are set aside (at most one spurious pick is
    left), and of the first 25 sample lines above 1 % the plain search finds, none is lost.  (Farther up, in
    this crowded pattern, a sample line that coincides with a Kβ replica goes with it.)"""
    from dataclasses import replace

    from powdex.patterns.radiation import tube_lines

    tube = tube_lines("Cu")
    instrument = Instrument(wavelengths=(tube.k_alpha1, tube.k_alpha2), ratio=tube.ratio, zero=0.05,
                            displacement=-0.3, U=0.004, V=-0.002, W=0.003, source="displaced")
    simulated = simulate_pattern(Cell(7.256, 9.451, 10.862, 90, 98.4, 90), noise=0.02, seed=1,
                                 tube_replicas=((tube.k_beta, 0.15),))
    pattern = simulated.pattern
    # What the detector sees at 2θ is what diffracts at the Bragg angle the instrument shifts to 2θ.
    bragg = corrected_two_theta(instrument, pattern.two_theta)
    displaced = replace(pattern, intensity=np.interp(bragg, pattern.two_theta, pattern.intensity),
                        sigma=np.interp(bragg, pattern.two_theta, pattern.sigma))
    lines = simulated.line_two_theta + peak_shift(instrument, simulated.line_two_theta)
    widths = simulated.line_fwhm

    def spurious(search):
        first = search.two_theta[:20]
        distance = np.abs(first[:, None] - lines[None, :])
        nearest = np.argmin(distance, axis=1)
        return int(np.sum(distance[np.arange(first.size), nearest] > 0.3 * widths[nearest]))

    def found(search):
        strong = np.flatnonzero(simulated.line_height >= 0.01 * simulated.line_height.max())[:25]
        distance = np.abs(lines[strong][:, None] - search.two_theta[None, :])
        return set(strong[np.min(distance, axis=1) <= 0.3 * widths[strong]])

    plain = search_peaks(displaced)
    guided = search_peaks(displaced, instrument=instrument)
    assert not plain.set_aside and spurious(plain) >= 8
    assert sum(pick.line == "Cu Kβ" for pick in guided.set_aside) >= 30
    assert spurious(guided) <= 1
    assert found(plain) <= found(guided)


def test_a_real_lab_scan_with_its_own_diffractometers_calibration():
    """Xerus' MiniFlex 600 scan of La1.75Sr0.25CuO4 (tests/data/patterns) with the Si calibration of that
    diffractometer (tests/data/instrument): the monochromated MiniFlex has no Kβ and its lines have the
    calibration's widths, so the picks are those found without it, at the same positions."""
    from pathlib import Path

    from powdex.patterns import read_peak_input

    data = Path(__file__).parents[1] / "data"
    scan = data / "patterns" / "Xerus_La1.75Sr0.25CuO4.ras"
    plain = read_peak_input(scan)
    guided = read_peak_input(scan, instrument=powdex.Instrument.load(data / "instrument" / "Xerus_RigakuSi.instprm"))
    assert guided.n == plain.n == 19
    assert np.asarray(guided.two_theta) == pytest.approx(np.asarray(plain.two_theta), abs=0.005)
