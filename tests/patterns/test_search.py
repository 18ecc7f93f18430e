"""Peak search on synthetic Kα1+Kα2 patterns and on real files; picked peak lists."""

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from powdex.cli.peaks import peaks as peaks_command
from powdex.crystal import Cell
from powdex.patterns import (
    Pattern,
    peaks_from_pattern,
    read_pattern,
    read_peak_input,
    search_peaks,
)
from powdex.patterns.radiation import ANODES, W_L_ALPHA1
from powdex.patterns.search import strip_kalpha2
from powdex.patterns.simulate import simulate_pattern
from powdex.peaks import PeakInputError, read_peaks
from powdex.peaks.io import is_scan
from powdex.peaks.units import q2_to_two_theta

CU = ANODES["Cu"]


def kalpha2_of(two_theta):
    return np.degrees(2 * np.arcsin(np.sin(np.radians(two_theta) / 2) * CU.k_alpha2 / CU.k_alpha1))


@pytest.mark.parametrize("seed", [0, 1])
def test_doublet_pattern_gives_its_kalpha1_lines_and_no_kalpha2_ghosts(seed):
    simulated = simulate_pattern(Cell(4.5937, 4.5937, 2.9587), noise=0.02, seed=seed)  # rutile-like cell
    found = search_peaks(simulated.pattern)
    strong = simulated.line_height >= 0.01 * simulated.line_height.max()
    for line in simulated.line_two_theta[strong]:
        assert np.min(np.abs(found.two_theta - line)) <= 0.01, line
    # No pick sits at the Kα2 position of a line unless a Kα1 line is there too ...
    fwhm = simulated.line_fwhm.min()
    distance_to_kalpha1 = np.min(np.abs(found.two_theta[:, None] - simulated.line_two_theta[None, :]), axis=1)
    distance_to_kalpha2 = np.min(np.abs(found.two_theta[:, None] - kalpha2_of(simulated.line_two_theta)[None, :]), axis=1)
    assert not np.any((distance_to_kalpha2 < 0.3 * fwhm) & (distance_to_kalpha1 > 0.5 * fwhm))
    # ... and every pick above 0.5 % of the strongest is a Kα1 line.
    visible = found.height >= 0.005 * simulated.line_height.max()
    assert np.all(distance_to_kalpha1[visible] <= 0.5 * fwhm)
    assert found.kalpha2_stripped


def test_a_kalpha1_only_pattern_is_not_stripped_of_a_kalpha2_it_does_not_have(tmp_path):
    two_theta = np.arange(10, 90, 0.02)
    lines = [28.443, 47.304, 56.124, 69.132, 76.380, 88.033]  # silicon, Cu Kα1 only
    heights = [1000, 600, 350, 90, 130, 160]
    counts = 200 + 0.5 * two_theta + sum(h * np.exp(-0.5 * ((two_theta - p) / 0.04) ** 2) for p, h in zip(lines, heights))
    path = tmp_path / "silicon.xy"
    np.savetxt(path, np.column_stack([two_theta, np.random.default_rng(0).poisson(counts)]), fmt="%.3f %d",
               header="wavelength: 1.5406")
    pattern = read_pattern(path)
    assert pattern.ratio == 0.5  # a Cu Kα1 wavelength brings an assumed Kα2 ...
    found = search_peaks(pattern)
    assert found.kalpha2 == "absent"  # ... that the strong peaks do not show
    assert found.notes[0].startswith("no Kα2 seen beside the strong peaks")
    np.testing.assert_allclose(found.two_theta[:3], lines[:3], atol=0.005)
    np.testing.assert_allclose(found.two_theta, lines, atol=0.02)  # weak lines, Poisson counts
    assert peaks_from_pattern(pattern).wavelength == 1.5406


def replica_of(two_theta, wavelength):
    return np.degrees(2 * np.arcsin(np.sin(np.radians(two_theta) / 2) * wavelength / CU.k_alpha1))


@pytest.mark.parametrize("cell", [Cell(4.5937, 4.5937, 2.9587), Cell(5.4309, 5.4309, 5.4309)])
def test_kbeta_and_tungsten_replicas_are_set_aside_not_passed_on(cell):
    replicas = ((CU.k_beta, 0.15), (W_L_ALPHA1, 0.05))  # an unfiltered tube with tungsten on its anode
    simulated = simulate_pattern(cell, noise=0.02, tube_replicas=replicas, seed=0)
    found = search_peaks(simulated.pattern)
    lines, heights = simulated.line_two_theta, simulated.line_height
    strong = heights >= 0.1 * heights.max()
    replica_positions = np.concatenate([replica_of(lines[strong], wavelength) for wavelength, _ in replicas])
    at_replica = np.min(np.abs(found.two_theta[:, None] - replica_positions[None, :]), axis=1) <= 0.02
    on_a_line = np.min(np.abs(found.two_theta[:, None] - lines[None, :]), axis=1) <= 0.05
    assert not np.any(at_replica & ~on_a_line), found.two_theta[at_replica & ~on_a_line]
    # What was set aside are replicas of stronger sample lines, named as such ...
    assert len(found.set_aside) >= strong.sum()
    # ... or the echoes that Kα2 stripping made of them, two or four Kα2 splittings above.
    echoes = 0
    for pick in found.set_aside:
        if pick.line.endswith("strip echo"):
            echoes += 1
            assert pick.line.removesuffix(" strip echo") in ("Cu Kβ", "W Lα1")
            assert min(abs(pick.two_theta - replica_of(pick.parent_two_theta, CU.k_alpha1 * (CU.k_alpha2 / CU.k_alpha1) ** n))
                       for n in (2, 4)) <= 0.03
            continue
        wavelength = CU.k_beta if pick.line == "Cu Kβ" else W_L_ALPHA1
        assert pick.line in ("Cu Kβ", "W Lα1")
        assert abs(pick.two_theta - replica_of(pick.parent_two_theta, wavelength)) <= 0.03
    assert echoes > 0
    assert any("set aside as tube lines" in note for note in found.notes)
    # ... and the sample's lines above 1 % are all still there.
    for line in lines[heights >= 0.01 * heights.max()]:
        assert np.min(np.abs(found.two_theta - line)) <= 0.01, line


def test_a_pattern_without_tube_lines_has_nothing_set_aside():
    for cell in (Cell(8.4797, 5.3975, 6.9596), Cell(7.256, 9.451, 10.862, 90, 98.4, 90)):
        assert search_peaks(simulate_pattern(cell, noise=0.02, seed=0).pattern).set_aside == ()


def test_rachinger_strip_removes_an_exact_kalpha2_copy():
    two_theta = np.arange(20.0, 60.0, 0.01)
    kalpha1 = 1000 * np.exp(-0.5 * ((two_theta - 40.0) / 0.03) ** 2)
    kalpha2 = 500 * np.exp(-0.5 * ((two_theta - kalpha2_of(40.0)) / 0.03) ** 2)
    stripped, noise = strip_kalpha2(two_theta, kalpha1 + kalpha2, np.ones_like(two_theta), (CU.k_alpha1, CU.k_alpha2), 0.5)
    assert np.max(np.abs(stripped - kalpha1)) < 2.0  # 0.2 % of the peak, interpolation error
    assert noise[0] == 1.0 and noise[-1] == pytest.approx(np.sqrt(1 / (1 - 0.25)), rel=1e-3)  # σ² + R²σ² + R⁴σ² ...


def test_noise_bumps_on_a_flat_background_are_not_peaks():
    rng = np.random.default_rng(3)
    two_theta = np.arange(10.0, 60.0, 0.02)
    counts = rng.poisson(200, two_theta.size).astype(float)
    counts += 3000 * np.exp(-0.5 * ((two_theta - 30.0) / 0.04) ** 2)
    pattern = Pattern(two_theta, counts, np.sqrt(counts), "<flat>", wavelengths=(0.7093,))
    found = search_peaks(pattern)
    assert found.two_theta == pytest.approx([30.0], abs=0.01)


def test_a_bump_narrower_than_the_resolution_at_its_angle_is_not_a_peak():
    # Constant-wavelength neutron widths: twice as wide at 15° as at 60° (Caglioti U, V, W).
    rng = np.random.default_rng(5)
    two_theta = np.arange(10.0, 120.0, 0.05)
    lines = np.arange(25.0, 116.0, 6.5)
    tan = np.tan(np.radians(lines / 2))
    widths = np.sqrt(0.3 * tan**2 - 0.6 * tan + 0.6)
    clean = 300.0 + sum(5000 * np.exp(-4 * np.log(2) * ((two_theta - c) / w) ** 2) for c, w in zip(lines, widths))
    # A bump a quarter as wide as the lines there (the detection smooth widens it to about half).
    clean += 200 * np.exp(-4 * np.log(2) * ((two_theta - 14.0) / 0.2) ** 2)
    counts = rng.poisson(clean).astype(float)
    found = search_peaks(Pattern(two_theta, counts, np.sqrt(counts), "<neutron>", wavelengths=(1.909,)))
    assert np.min(np.abs(found.two_theta - 14.0)) > 1.0
    assert found.two_theta == pytest.approx(lines, abs=0.02)


def test_the_files_own_sigma_keep_low_angle_scatter_from_being_peaks(data):
    # APS 11-BM sucrose: below 3° the points carry several times the σ of those
    # at the same level further up, and the scatter there is no line.
    pattern = read_pattern(data / "sucrose_11bmb_0842_to16deg.fxye", wavelength=0.589183)
    sucrose = Cell(10.863168, 8.703946, 7.757701, 90, 102.9426, 90)
    _, q2 = sucrose.miller_indices_within(0.3)
    first_line = float(q2_to_two_theta(q2.min(), 0.589183))
    found = search_peaks(pattern)
    assert np.sum(found.two_theta < first_line - 0.02) <= 1
    assert abs(found.two_theta[found.two_theta > first_line - 0.02][0] - first_line) <= 0.02


def test_a_pattern_with_nothing_above_the_noise_is_refused():
    counts = np.random.default_rng(0).poisson(100, 500).astype(float)
    pattern = Pattern(np.arange(500) * 0.02 + 10, counts, np.sqrt(counts), "flat.xy", wavelengths=(1.0,))
    with pytest.raises(PeakInputError, match=r"^flat.xy: no peak stands 5 σ of noise above the background$"):
        search_peaks(pattern)


def test_peaks_from_pattern_notes_and_first_lines():
    simulated = simulate_pattern(Cell(5.4309, 5.4309, 5.4309), noise=0.01, seed=0)
    peaks = peaks_from_pattern(simulated.pattern, n_peaks=5)
    assert peaks.n == 5 and peaks.wavelength == CU.k_alpha1
    assert np.all(np.min(np.abs(peaks.two_theta[:, None] - simulated.line_two_theta[None, :]), axis=1) <= 0.01)
    assert peaks.notes[0].startswith("a measured pattern (8501 points, 2θ step 0.01°):")
    assert "Kα2 stripped (Rachinger 1948; λ 1.54059/1.54443 Å, ratio 0.5)" in peaks.notes
    assert peaks.notes[-2:] == ("wavelength 1.54059 Å (Kα1)", peaks.notes[-1])
    assert peaks.notes[-1].startswith("the first 5 of")


def test_unstripped_doublets_are_indexed_at_the_weighted_mean_wavelength():
    simulated = simulate_pattern(Cell(5.4309, 5.4309, 5.4309), noise=0.01, seed=0)
    peaks = peaks_from_pattern(simulated.pattern, strip=False)
    assert peaks.wavelength == pytest.approx(CU.k_alpha_mean)
    assert any("indexed at their weighted mean λ 1.54187 Å" in note for note in peaks.notes)


def test_quartz_lines_are_picked_from_the_real_xrdml_file(data):
    peaks = read_peak_input(data / "XRD-918-16_10.xrdml", n_peaks=None)
    _, q2 = Cell(4.914, 4.914, 5.405, 90, 90, 120).miller_indices_within(0.6)
    quartz = np.unique(np.round(q2_to_two_theta(q2, peaks.wavelength), 3))
    strong_quartz = [20.86, 26.64, 36.54, 39.47, 40.29, 42.45, 45.79, 50.14, 54.87, 59.96]
    for line in strong_quartz:
        assert np.min(np.abs(peaks.two_theta - line)) < 0.06, line
        assert np.min(np.abs(quartz - line)) < 0.02  # the list above is quartz's
    assert peaks.wavelength == 1.540598


def test_round_robin_pbso4_picks_are_anglesite_lines(data):
    peaks = read_peak_input(data / "PBSO4.XRA", anode="Cu", n_peaks=20)
    _, q2 = Cell(8.48, 5.398, 6.958).miller_indices_within(0.5)
    lines = q2_to_two_theta(np.unique(np.round(q2, 8)), peaks.wavelength)
    assert np.all(np.min(np.abs(peaks.two_theta[:, None] - lines[None, :]), axis=1) < 0.07)


# --- telling a pattern from a peak list -----------------------------------------------


def test_rounded_and_uneven_grids_are_scans_and_peak_lists_are_not():
    rng = np.random.default_rng(0)
    rounded = np.round(5 + 0.0131 * np.arange(2000), 3)
    merged = np.concatenate([5 + 0.01 * np.arange(1000), 15.004 + 0.0123 * np.arange(1000)])
    peak_list = np.sort(rng.uniform(5, 120, 150))
    intensity = rng.uniform(1, 100, 2000)
    assert is_scan(np.column_stack([rounded, intensity]))
    assert is_scan(np.column_stack([merged, intensity]))
    assert not is_scan(np.column_stack([peak_list, intensity[:150]]))


def write_scan(path, simulated, decimals=3):
    pattern = simulated.pattern
    rows = "\n".join(f"{t:.{decimals}f} {i:.1f}" for t, i in zip(pattern.two_theta, pattern.intensity))
    path.write_text("# wavelength: 1.5406\n" + rows + "\n")


def test_read_peak_input_picks_a_text_scan_and_reads_a_peak_list(tmp_path):
    simulated = simulate_pattern(Cell(5.4309, 5.4309, 5.4309), noise=0.01, seed=2)
    scan = tmp_path / "silicon.xy"
    write_scan(scan, simulated)
    picked = read_peak_input(scan, n_peaks=6)
    assert np.all(np.min(np.abs(picked.two_theta[:, None] - simulated.line_two_theta[None, :]), axis=1) <= 0.01)
    with pytest.raises(PeakInputError, match=r"silicon.xy: a measured pattern \(8501 points\), not a peak list; pick its peaks"):
        read_peaks(scan)
    listed = tmp_path / "list.txt"
    listed.write_text("28.44 100\n47.30 55\n56.12 30\n")
    assert read_peak_input(listed, anode="Cu").wavelength == pytest.approx(CU.k_alpha_mean)
    assert read_peak_input(listed, wavelength=1.5406).notes == ()


def test_read_peak_input_without_a_wavelength_uses_the_default_and_says_so(data):
    peaks = read_peak_input(data / "PBSO4.XRA", default_wavelength=1.5406)
    assert peaks.wavelength_assumed and peaks.wavelength == 1.5406
    with pytest.raises(PeakInputError, match=r"PBSO4.XRA: the file gives no wavelength; give one \(--wavelength\)"):
        read_peak_input(data / "PBSO4.XRA")


# --- powdex peaks ---------------------------------------------------------------------------

app = typer.Typer()
app.command("peaks")(peaks_command)
app.command("other")(lambda: None)  # two commands, so "peaks" is named as on the real command line


def test_powdex_peaks_writes_a_list_that_reads_back_and_a_png(data, tmp_path):
    out, plot = tmp_path / "quartz.txt", tmp_path / "quartz.png"
    result = CliRunner().invoke(app, ["peaks", str(data / "XRD-918-16_10.xrdml"), "--out", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    reread = read_peaks(out, n_peaks=None)
    assert reread.wavelength == 1.540598 and reread.n == read_peak_input(data / "XRD-918-16_10.xrdml", n_peaks=None).n
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_powdex_peaks_refuses_a_malformed_file_in_one_line(tmp_path):
    path = tmp_path / "cut.xrdml"
    path.write_text("<?xml version='1.0'?><xrdMeasurements>")
    result = CliRunner().invoke(app, ["peaks", str(path)])
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        f"error: {path}: not well-formed XML (no element found: line 1, column 38)"]
