"""DICVOL06 and TREOR90 input files: written, read back, told apart by content, and refused with one line."""

from dataclasses import replace

import numpy as np
import pytest

from powdex.peaks import CU_KA1, PeakInputError, PeakList, read_peaks
from powdex.peaks.program_files import DICVOL, TREOR, dicvol_text, program_format, treor_text

SILICON_2THETA = [28.443, 47.303, 56.123, 69.131, 76.377, 88.032]


@pytest.fixture
def silicon():
    peaks = PeakList.from_values(SILICON_2THETA, units="2theta", wavelength=1.540593)
    return replace(peaks, two_theta_sigma=np.array([0.004, 0.006, 0.005, 0.01, 0.008, 0.02]))


def test_a_dicvol_file_round_trips_positions_wavelength_and_each_sigma(tmp_path, silicon):
    path = tmp_path / "si.dat"  # DICVOL files carry no suffix of their own: told by content
    path.write_text(dicvol_text(silicon, "silicon"))
    assert program_format(path.read_text()) == DICVOL
    back = read_peaks(path)
    assert back.two_theta == pytest.approx(silicon.two_theta, abs=1e-4)
    assert back.two_theta_sigma == pytest.approx(silicon.two_theta_sigma)
    assert back.wavelength == pytest.approx(1.540593) and not back.wavelength_assumed
    # The first N: the σ column follows its peaks.
    assert read_peaks(path, n_peaks=3).two_theta_sigma == pytest.approx([0.004, 0.006, 0.005])
    # What powdex index reads: a peak list, not a measured pattern.
    from powdex.patterns import read_peak_input

    assert read_peak_input(path).two_theta_sigma == pytest.approx(silicon.two_theta_sigma)


def test_a_treor_file_round_trips_positions_and_wavelength(tmp_path, silicon):
    path = tmp_path / "si.tre"
    path.write_text(treor_text(silicon, "silicon"))
    assert program_format(path.read_text()) == TREOR
    back = read_peaks(path)
    assert back.two_theta == pytest.approx(silicon.two_theta, abs=1e-4)
    assert back.wavelength == pytest.approx(1.540593)
    assert back.two_theta_sigma is None  # TREOR90 has no error per line


def test_dicvol_d_spacings_with_one_error_and_the_default_wavelength(tmp_path):
    d = [3.1356, 1.9201, 1.6375]
    path = tmp_path / "si_d.dat"
    path.write_text("silicon d\n3 3 1 0 0 0 0 0\n25 25 25 0 2500 90 125\n0 0 0 0\n0.02 10 0 0 0 0\n"
                    + "\n".join(f"{v}" for v in d) + "\n")
    peaks = read_peaks(path)
    assert peaks.d == pytest.approx(d)
    assert peaks.two_theta_sigma == pytest.approx([0.02] * 3)  # EPS: one error for every line
    assert peaks.wavelength == CU_KA1 and peaks.wavelength_assumed
    assert any("WAVE 0" in note for note in peaks.notes)


def test_treor_without_wave_assumes_copper_and_says_so(tmp_path):
    path = tmp_path / "t.tre"
    path.write_text("title\n28.443\n47.303\n56.123\n\nMERIT=10,\nEND*\n")
    peaks = read_peaks(path)
    assert peaks.wavelength == CU_KA1 and peaks.wavelength_assumed
    assert peaks.notes and "Cu Kα1" in peaks.notes[0]


@pytest.mark.parametrize("text, message", [
    ("t\n3 2 1 1 1 1 1 1\n25 25 25 0 2500 90 125\n1.5406 0 0 0\n1 10 0 0 0 0\n28.44 0.01\n47.30 abc\n56.12 0.01\n",
     r"f\.dat:7: a line's position and error: '47\.30 abc' is not numbers"),
    ("t\n4 2 1 1 1 1 1 1\n25 25 25 0 2500 90 125\n1.5406 0 0 0\n0 10 0 0 0 0\n28.44\n47.30\n56.12\n",
     r"f\.dat:2: N = 4 lines for the search, but the file lists 3"),
    ("t\n3 5 1 1 1 1 1 1\n25 25 25 0 2500 90 125\n1.5406 0 0 0\n0 10 0 0 0 0\n28.44\n47.30\n56.12\n",
     r"f\.dat:2: ITYPE 5"),
    ("t\n28.44\n47.30\n47.30\n\nWAVE=1.5406,\nEND*\n", r"f\.dat:4: duplicate peak \(same position as line 3\)"),
])
def test_a_malformed_file_is_refused_with_one_line_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "f.dat"
    path.write_text(text)
    with pytest.raises(PeakInputError, match=message) as error:
        read_peaks(path)
    assert "\n" not in str(error.value)


def test_powdex_peaks_writes_a_dicvol_file_that_reads_back_with_each_sigma(tmp_path):
    from typer.testing import CliRunner

    from powdex.cli.main import app

    out = tmp_path / "picked.dic"
    result = CliRunner().invoke(app, ["peaks", "tests/data/patterns/XRD-918-16_10.xrdml", "--n-peaks", "8",
                                      "--format", "dicvol", "--out", str(out)])
    assert result.exit_code == 0, result.output
    back = read_peaks(out)
    text_out = tmp_path / "picked.txt"
    CliRunner().invoke(app, ["peaks", "tests/data/patterns/XRD-918-16_10.xrdml", "--n-peaks", "8",
                             "--out", str(text_out)])
    columns = np.loadtxt(text_out, comments="#", skiprows=3)
    assert back.two_theta == pytest.approx(columns[:, 0], abs=1e-4)
    assert back.two_theta_sigma == pytest.approx(columns[:, 2], rel=0.05, abs=1e-4)
