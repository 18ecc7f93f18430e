import numpy as np
import pytest

from powdex.peaks import CU_KA1, PeakInputError, d_to_q2, read_peaks, two_theta_to_q2


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path, **kwargs):
    with pytest.raises(PeakInputError) as error:
        read_peaks(path, **kwargs)
    return str(error.value)


# --- text files -----------------------------------------------------------


def test_text_with_comments_separators_and_wavelength_comment(tmp_path):
    path = write(
        tmp_path,
        "peaks.txt",
        "# Si standard\n"
        "# wavelength: 1.5406\n"
        "\n"
        "28.442, 100   # strongest\n"
        "47.30;55\n"
        "56.12\t30 ! trailing comment\n",
    )
    peaks = read_peaks(path)
    assert peaks.wavelength == pytest.approx(1.5406)
    np.testing.assert_allclose(peaks.two_theta, [28.442, 47.30, 56.12])
    np.testing.assert_allclose(peaks.intensity, [100, 55, 30])
    np.testing.assert_allclose(peaks.q2, two_theta_to_q2([28.442, 47.30, 56.12], CU_KA1))
    assert peaks.source == str(path)


def test_lambda_comment_sets_wavelength(tmp_path):
    path = write(tmp_path, "mo.dat", "# lambda = 0.7093 A\n13.0\n20.0\n")
    assert read_peaks(path).wavelength == pytest.approx(0.7093)


def test_caller_wavelength_beats_comment(tmp_path):
    path = write(tmp_path, "peaks.txt", "# wavelength: 0.7093\n13.0\n")
    assert read_peaks(path, wavelength=1.0).wavelength == 1.0


def test_prose_mentioning_wavelength_is_just_a_comment(tmp_path):
    path = write(tmp_path, "peaks.txt", "# recorded at the Cu wavelength\n0.1\n")
    assert read_peaks(path, units="q2").wavelength is None


def test_unreadable_wavelength_comment_is_an_error(tmp_path):
    path = write(tmp_path, "peaks.txt", "0.1\n# wavelength: copper\n")
    message = f"{path}:2: cannot read a positive wavelength from comment 'wavelength: copper'"
    assert error_of(path, units="q2") == message


def test_contradicting_wavelength_comments_are_an_error(tmp_path):
    path = write(tmp_path, "peaks.txt", "# wavelength: 1.5406\n# lambda = 0.7093\n30\n")
    assert error_of(path) == f"{path}:2: wavelength 0.7093 contradicts 1.5406 given on line 1"


@pytest.mark.parametrize(
    "header, units",
    [("2theta,intensity", "2theta"), ("2th I", "2theta"), ("tth", "2theta"), ("two_theta;I", "2theta"),
     ("d I", "d"), ("q2 I", "q2"), ("q^2,I", "q2"), ("1/d2", "q2")],
)
def test_header_decides_units(tmp_path, header, units):
    values = {"2theta": [28.442, 47.3], "d": [3.1356, 1.9202], "q2": [0.1017, 0.2712]}[units]
    path = write(tmp_path, "peaks.csv", f"# comment first is fine\n{header}\n{values[0]}\n{values[1]}\n")
    peaks = read_peaks(path, wavelength=CU_KA1)
    expected = {"2theta": lambda v: two_theta_to_q2(v, CU_KA1), "d": d_to_q2, "q2": np.asarray}[units](values)
    np.testing.assert_allclose(peaks.q2, expected)


def test_caller_units_override_header(tmp_path):
    path = write(tmp_path, "peaks.csv", "2theta,I\n3.1356,1\n")
    np.testing.assert_allclose(read_peaks(path, units="d").d, [3.1356])


def test_units_default_to_two_theta(tmp_path):
    path = write(tmp_path, "peaks.xy", "position intensity\n28.442 10\n")
    peaks = read_peaks(path, wavelength=CU_KA1)
    np.testing.assert_allclose(peaks.two_theta, [28.442])


def test_missing_wavelength_for_two_theta(tmp_path):
    path = write(tmp_path, "peaks.txt", "28.442\n47.3\n")
    assert error_of(path) == (
        f"{path}: positions are 2θ but no wavelength was given (use --wavelength or a '# wavelength:' comment)"
    )


def test_default_wavelength_is_an_explicit_opt_in(tmp_path):
    path = write(tmp_path, "peaks.txt", "28.442\n")
    assert read_peaks(path, default_wavelength=CU_KA1).wavelength == CU_KA1
    commented = write(tmp_path, "commented.txt", "# wavelength: 0.7093\n13.0\n")
    assert read_peaks(commented, default_wavelength=CU_KA1).wavelength == pytest.approx(0.7093)


def test_first_n_peaks_by_position_not_file_order(tmp_path):
    path = write(tmp_path, "peaks.txt", "q2\n0.5\n0.1\n0.4\n0.2\n0.3\n")
    np.testing.assert_allclose(read_peaks(path, n_peaks=3).q2, [0.1, 0.2, 0.3])
    assert len(read_peaks(path, n_peaks=None)) == 5


def test_reader_keeps_twenty_by_default(tmp_path):
    path = write(tmp_path, "peaks.txt", "d\n" + "\n".join(str(5.0 - 0.1 * i) for i in range(30)))
    peaks = read_peaks(path)
    assert len(peaks) == 20
    assert peaks.d[0] == pytest.approx(5.0)


def test_extra_numeric_columns_are_ignored(tmp_path):
    path = write(tmp_path, "peaks.txt", "0.1 10 0.5\n0.2 20 0.7\n")
    np.testing.assert_allclose(read_peaks(path, units="q2").intensity, [10, 20])


@pytest.mark.parametrize(
    "text, message",
    [
        ("q2\n0.1\n0.2\n0.3\n0.4\n0.5\nabc\n", "{path}:7: non-numeric value 'abc' in column 1"),
        ("d\n2.0\n1.5\n-1.2\n", "{path}:4: negative d-spacing -1.2"),
        ("2theta\n10\n20\n30\n181.2\n", "{path}:5: 2θ 181.2 outside (0, 180)"),
        ("2theta\n10\n0\n", "{path}:3: 2θ 0 outside (0, 180)"),
        ("d\n2.0\n0.0\n", "{path}:3: zero d-spacing"),
        ("q2\n0.1\nnan\n", "{path}:3: non-finite q² nan"),
        ("q2\n0.1\n-inf\n", "{path}:3: non-finite q² -inf"),
        ("q2 I\n0.1 5\n0.2 7 tail\n", "{path}:3: non-numeric value 'tail' in column 3"),
        ("0.1 1\n0.2\n", "{path}:2: 1 columns, but line 1 has 2"),
        ("0.1 1\n0.2 -4\n", "{path}:2: negative intensity -4"),
        ("2theta\n0.1\nq2\n", "{path}:3: non-numeric value 'q2' in column 1"),
        ("# only a comment\n\n", "{path}: no data (the file is empty or holds only comments)"),
        ("", "{path}: no data (the file is empty or holds only comments)"),
        ("d\n3.0\n2.0\n1.0\n4.0\n5.0\n6.0\n7.0\n2.0\n", "{path}:9: duplicate peak (same position as line 3)"),
    ],
)
def test_bad_text_names_file_line_and_problem(tmp_path, text, message):
    path = write(tmp_path, "peaks.txt", text)
    assert error_of(path, wavelength=CU_KA1) == message.format(path=path)


def test_duplicate_of_previous_line(tmp_path):
    path = write(tmp_path, "peaks.txt", "q2\n" + "".join(f"{0.1 * i}\n" for i in range(1, 8)) + "0.7000000001\n")
    assert error_of(path) == f"{path}:9: duplicate peak (same position as line 8)"


def test_earliest_problem_is_reported_first(tmp_path):
    path = write(tmp_path, "peaks.txt", "d\n2.0\n0\n-1\n")
    assert error_of(path) == f"{path}:3: zero d-spacing"


def test_missing_file_is_one_line(tmp_path):
    path = tmp_path / "nowhere.txt"
    assert error_of(path) == f"{path}: file not found"


def test_directory_and_binary_are_one_line(tmp_path):
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a file"
    binary = tmp_path / "peaks.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    assert error_of(binary) == f"{binary}: not a text file (not valid UTF-8)"


def test_a_mistyped_first_number_is_an_error_not_a_header(tmp_path):
    # '28..44' has no letter, so it names no column: taking it for a header would drop the peak unnoticed.
    path = write(tmp_path, "peaks.txt", "28..44\n47.30\n56.12\n")
    assert error_of(path, wavelength=CU_KA1) == f"{path}:1: non-numeric value '28..44' in column 1"


def test_a_nul_byte_is_an_error_naming_its_line(tmp_path):
    path = write(tmp_path, "peaks.txt", "\x0028.44\n47.30\n56.12\n")
    assert error_of(path, wavelength=CU_KA1) == (
        f"{path}:1: control character U+0000 in the line (a corrupted or binary file?)"
    )


@pytest.mark.parametrize("statement", ["# wavelength: 1e6", "# lambda = 0.001"])
def test_an_implausible_wavelength_comment_is_an_error(tmp_path, statement):
    path = write(tmp_path, "peaks.txt", f"{statement}\n28.44\n47.30\n56.12\n")
    assert error_of(path).startswith(f"{path}:1: wavelength ")
    assert "is implausible (diffraction uses 0.01 to 20 Å)" in error_of(path)


def test_an_implausible_given_wavelength_is_an_error(tmp_path):
    path = write(tmp_path, "peaks.txt", "28.44\n47.30\n56.12\n")
    assert error_of(path, wavelength=154.06) == f"{path}: wavelength 154.06 Å is implausible (diffraction uses 0.01 to 20 Å)"


def test_a_byte_order_mark_is_skipped(tmp_path):
    path = tmp_path / "peaks.txt"
    path.write_bytes(b"\xef\xbb\xbf# silicon\nd I\n3.1355 100\n1.9201 55\n1.6375 30\n")
    peaks = read_peaks(path)
    np.testing.assert_allclose(peaks.d, [3.1355, 1.9201, 1.6375])  # the header after the comment said d
    np.testing.assert_allclose(peaks.intensity, [100, 55, 30])


def test_a_symbolic_link_loop_is_one_line(tmp_path):
    loop = tmp_path / "peaks.txt"
    loop.symlink_to(loop)
    assert error_of(loop) == f"{loop}: cannot read (Too many levels of symbolic links)"


# --- .npy -----------------------------------------------------------------


def test_npy_one_dimensional_positions(tmp_path):
    path = tmp_path / "peaks.npy"
    np.save(path, np.array([0.3, 0.1, 0.2]))
    peaks = read_peaks(path, units="q2")
    np.testing.assert_allclose(peaks.q2, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(peaks.intensity, 1.0)


def test_npy_two_columns_with_intensity(tmp_path):
    path = tmp_path / "peaks.npy"
    np.save(path, np.array([[47.3, 55.0], [28.442, 100.0]]))
    peaks = read_peaks(path, wavelength=CU_KA1)
    np.testing.assert_allclose(peaks.two_theta, [28.442, 47.3])
    np.testing.assert_allclose(peaks.intensity, [100, 55])


def test_npy_single_column(tmp_path):
    path = tmp_path / "peaks.npy"
    np.save(path, np.array([[3.1356], [1.9202]]))
    np.testing.assert_allclose(read_peaks(path, units="d").d, [3.1356, 1.9202])


@pytest.mark.parametrize("array", [np.zeros((3, 3)), np.zeros((2, 2, 2)), np.array(5.0)])
def test_npy_wrong_shape(tmp_path, array):
    path = tmp_path / "peaks.npy"
    np.save(path, array)
    assert error_of(path, units="q2") == f"{path}: array of shape {array.shape}, expected (N,), (N, 1) or (N, 2)"


def test_npy_bad_value_names_the_row(tmp_path):
    path = tmp_path / "peaks.npy"
    np.save(path, np.array([2.0, -1.2]))
    assert error_of(path, units="d") == f"{path}[1]: negative d-spacing -1.2"


def test_npy_empty(tmp_path):
    path = tmp_path / "peaks.npy"
    np.save(path, np.zeros(0))
    assert error_of(path, units="q2") == f"{path}: no peaks"


def test_npy_that_is_not_npy(tmp_path):
    path = write(tmp_path, "peaks.npy", "28.4\n")
    assert error_of(path, units="q2").startswith(f"{path}: not a readable .npy array")


def test_npy_of_strings(tmp_path):
    path = tmp_path / "peaks.npy"
    np.save(path, np.array(["a", "b"]))
    assert error_of(path, units="q2") == f"{path}: array of <U1, expected real numbers"


# --- GSAS-II .pkslst ------------------------------------------------------

# As written by OnSavePeaks in GSASIIpwdGUI.py: a '#' header, then str() of each
# peak list [pos, flag, int, flag, sig, flag, gam, flag]; numpy >= 2 prints
# np.float64(...) wrappers and flags may be booleans or 0/1.
PKSLST = """#GSAS-II PWDR peaks list file; do not add/delete items!
[47.3012, True, 612.5, True, 2.41, False, 1.12, False]
[np.float64(28.4425), True, np.float64(1002.75), True, np.float64(1.93), False, np.float64(0.81), False]
[56.1221, 0, 350.0, 1, 2.77, 0, 1.30, 0]
"""


def test_pkslst_positions_are_two_theta_and_intensity_is_third_item(tmp_path):
    path = write(tmp_path, "si.pkslst", PKSLST)
    peaks = read_peaks(path, wavelength=CU_KA1)
    np.testing.assert_allclose(peaks.two_theta, [28.4425, 47.3012, 56.1221])
    np.testing.assert_allclose(peaks.intensity, [1002.75, 612.5, 350.0])
    assert peaks.wavelength == CU_KA1


def test_pkslst_has_no_wavelength(tmp_path):
    path = write(tmp_path, "si.pkslst", PKSLST)
    assert "no wavelength was given" in error_of(path)
    assert read_peaks(path, default_wavelength=CU_KA1).wavelength == CU_KA1


def test_pkslst_rejects_other_units(tmp_path):
    path = write(tmp_path, "si.pkslst", PKSLST)
    assert error_of(path, units="d", wavelength=CU_KA1) == f"{path}: GSAS-II peak lists hold 2θ positions, not 'd'"


NOT_A_PEAK = "expected a GSAS-II peak '[position, flag, intensity, ...]',"


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("28.44, True, 100.0", "{path}:3: " + NOT_A_PEAK + " got '28.44, True, 100.0'"),
        ("[28.44, True]", "{path}:3: " + NOT_A_PEAK + " got '[28.44, True]'"),
        ("[abc, True, 100.0, True]", "{path}:3: non-numeric value 'abc' in item 1"),
        ("[190.0, True, 100.0, True]", "{path}:3: 2θ 190 outside (0, 180)"),
    ],
)
def test_pkslst_bad_line(tmp_path, bad_line, message):
    lines = PKSLST.splitlines()
    lines[2] = bad_line
    path = write(tmp_path, "si.pkslst", "\n".join(lines) + "\n")
    assert error_of(path, wavelength=CU_KA1) == message.format(path=path)


def test_pkslst_with_only_header(tmp_path):
    path = write(tmp_path, "si.pkslst", PKSLST.splitlines()[0] + "\n")
    assert error_of(path, wavelength=CU_KA1) == f"{path}: no peaks (the file is empty or holds only comments)"
