"""Writes the bad-input corpus: files a new user might hand to powdex, each
with the one-line error it must give (``expected.json``: file name ->
[command, fragment of the error line]).  Run from this folder to regenerate;
the files are committed, so the tests never depend on this script's output
changing."""

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
EXPECTED: dict[str, list[str]] = {}

SILICON = ["28.440", "47.300", "56.120", "69.130", "76.380", "88.030", "94.950", "106.710"]


def text(name: str, content: str | bytes, fragment: str, command: str = "index") -> None:
    path = HERE / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    EXPECTED[name] = [command, fragment]


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


# -- text peak lists ----------------------------------------------------------
text("empty.txt", "", "empty.txt: no data")
text("only_comments.txt", lines("# peaks to come", "! nothing yet"), "only_comments.txt: no data")
text("only_header.txt", lines("2theta intensity"), "only_header.txt: no data")
text("word_in_data.txt", lines("2theta", "28.44", "47.30", "peak", "69.13"), "word_in_data.txt:4: non-numeric value 'peak'")
text("unit_suffix.txt", lines("28.44deg 100", "47.30deg 50"), "unit_suffix.txt:1: non-numeric value '28.44deg'")
text("decimal_comma.txt", lines("28,44 100", "47,30 50", "56,12 30"), "decimal_comma.txt:1: '28,44' looks like a decimal comma")
text("decimal_comma_one_column.txt", lines("28,44", "47,30", "56,12"), "decimal_comma_one_column.txt:1: '28,44' looks like a decimal comma")
text("second_header.txt", lines("2theta I", "28.44 100", "2theta I", "47.30 50"), "second_header.txt:3: non-numeric value '2theta'")
text("nan_position.txt", lines("28.44", "nan", "56.12"), "nan_position.txt:2: non-finite 2θ nan")
text("inf_position.txt", lines("28.44", "inf", "56.12"), "inf_position.txt:2: non-finite 2θ inf")
text("negative_two_theta.txt", lines("28.44", "-47.30", "56.12"), "negative_two_theta.txt:2: 2θ -47.3 outside (0, 180)")
text("zero_two_theta.txt", lines("0", "28.44", "47.30"), "zero_two_theta.txt:1: 2θ 0 outside (0, 180)")
text("two_theta_over_180.txt", lines("28.44", "47.30", "185.2"), "two_theta_over_180.txt:3: 2θ 185.2 outside (0, 180)")
text("duplicate_peak.txt", lines("28.44", "47.30", "47.30", "56.12"), "duplicate_peak.txt:3: duplicate peak (same position as line 2)")
text("negative_intensity.txt", lines("28.44 100", "47.30 -5", "56.12 30"), "negative_intensity.txt:2: negative intensity -5")
text("nan_intensity.txt", lines("28.44 100", "47.30 nan", "56.12 30"), "nan_intensity.txt:2: non-finite intensity nan")
text("missing_intensity.txt", lines("28.44 100", "47.30", "56.12 30"), "missing_intensity.txt:2: 1 columns, but line 1 has 2")
text("latin1.txt", "# Messung bei 25 \xb0C\n28.44\n47.30\n".encode("latin-1"), "latin1.txt: not a text file (not valid UTF-8)")
text("binary_garbage.txt", bytes(range(256)) * 4, "binary_garbage.txt: not a text file")
text("utf16.txt", lines("28.44", "47.30", "56.12").encode("utf-16"), "utf16.txt: not a text file")
text("wavelength_empty.txt", lines("# wavelength:", *SILICON), "wavelength_empty.txt:1: cannot read a positive wavelength")
text("wavelength_negative.txt", lines("# wavelength = -1.54", *SILICON), "wavelength_negative.txt:1: cannot read a positive wavelength")
text("wavelength_zero.txt", lines("# lambda: 0", *SILICON), "wavelength_zero.txt:1: cannot read a positive wavelength")
text("wavelength_word.txt", lines("# wavelength: copper", *SILICON), "wavelength_word.txt:1: cannot read a positive wavelength")
text("wavelength_twice.txt", lines("# wavelength: 1.5406", "# wavelength: 0.7093", *SILICON), "wavelength_twice.txt:2: wavelength 0.7093 contradicts 1.5406")
text("d_spacings_no_header.txt", lines("3.1355", "1.9201", "1.6375", "1.3577", "1.2459", "1.1086"), "d_spacings_no_header.txt: read as 2theta (no --units, no header), positions 1.1086 to 3.1355 decrease down the file as d-spacings do")
text("q2_no_header.txt", lines("0.1017", "0.2712", "0.3729", "0.5424", "0.6442", "0.8136"), "q2_no_header.txt: read as 2theta (no --units, no header), positions 0.1017 to 0.8136 would all be below 2° 2θ")
text("d_header_zero.txt", lines("d", "3.1355", "0", "1.6375"), "d_header_zero.txt:3: zero d-spacing")
text("q2_header_negative.txt", lines("q2", "0.1017", "-0.2712", "0.3729"), "q2_header_negative.txt:3: negative q² -0.2712")
text("crlf_word.txt", "2theta\r\n28.44\r\n47.30\r\nn/a\r\n", "crlf_word.txt:4: non-numeric value 'n/a'")
text("one_peak.txt", lines("28.44 100"), "one_peak.txt: 1 peak, but")
text("tabs_and_words.csv", "2theta,intensity\n28.44,100\n47.30,fifty\n", "tabs_and_words.csv:3: non-numeric value 'fifty' in column 2")
text("semicolon_words.dat", "28.44;100\n47.30;50;x\n", "semicolon_words.dat:2: non-numeric value 'x' in column 3")
text("hex_number.xy", lines("28.44", "0x2f", "56.12"), "hex_number.xy:2: non-numeric value '0x2f'")
text("fortran_double.txt", lines("28.44", "4.730D+01", "56.12"), "fortran_double.txt:2: non-numeric value '4.730D+01'")
text("thousands_separator.txt", lines("28.44 1,520", "47.30 980"), "thousands_separator.txt:2: 2 columns, but line 1 has 3")

# -- files of other formats --------------------------------------------------------
OTHER = "not a peak list"
text("structure.cif", lines("data_si", "_cell_length_a 5.431", "_symmetry_space_group_name_H-M 'F d -3 m'"),
     "structure.cif: no powder pattern (no _pd_meas_counts_total/_pd_proc_intensity_* loop); a structure CIF?")
text("scan.xrdml", lines('<?xml version="1.0"?>', "<xrdMeasurements>", "</xrdMeasurements>"),
     "scan.xrdml: no <xrdMeasurement><scan><dataPoints> in this XRDML file")
text("scan.raw", bytes(range(128, 256)) * 8, "scan.raw: not a Bruker RAW file (starts")
text("book.xlsx", b"PK\x03\x04\x14\x00\x06\x00", f"book.xlsx: a spreadsheet, {OTHER}")
text("scan.gsa", lines("BANK 1 4000 4000 CONST 1000 2 0 0 ESD", " 123 4 125 4 130 5"), "scan.gsa: ESD data after line 1 is not numbers as GSAS writes them")

# -- GSAS-II peak lists -------------------------------------------------------
GSAS_HEAD = "#GSAS-II PWDR peaks list file; do not add/delete items!\n"
text("gsas_empty.pkslst", GSAS_HEAD, "gsas_empty.pkslst: no peaks")
text("gsas_not_a_list.pkslst", GSAS_HEAD + "28.44 True 1520\n", "gsas_not_a_list.pkslst:2: expected a GSAS-II peak")
text("gsas_short_list.pkslst", GSAS_HEAD + "[28.44, True]\n", "gsas_short_list.pkslst:2: expected a GSAS-II peak")
text("gsas_word_position.pkslst", GSAS_HEAD + "[28.44, True, 1520.3, True]\n[peak, True, 980.0, True]\n", "gsas_word_position.pkslst:3: non-numeric value 'peak' in item 1")
text("gsas_word_intensity.pkslst", GSAS_HEAD + "[28.44, True, strong, True]\n", "gsas_word_intensity.pkslst:2: non-numeric value 'strong' in item 3")
text("gsas_negative_position.pkslst", GSAS_HEAD + "[28.44, True, 1520.3, True]\n[-47.3, True, 980.0, True]\n", "gsas_negative_position.pkslst:3: 2θ -47.3 outside (0, 180)")
text("gsas_truncated.pkslst", GSAS_HEAD + "[28.44, True, 1520.3, True]\n[47.30, True, 98", "gsas_truncated.pkslst:3: expected a GSAS-II peak")


# -- NumPy arrays ---------------------------------------------------------------
def npy(name: str, array, fragment: str) -> None:
    np.save(HERE / name, array, allow_pickle=True)
    EXPECTED[name] = ["index", fragment]


npy("strings.npy", np.array(["28.44", "47.30"]), "strings.npy: array of <U5, expected real numbers")
npy("three_columns.npy", np.ones((5, 3)) * 30, "three_columns.npy: array of shape (5, 3), expected (N,), (N, 1) or (N, 2)")
npy("cube.npy", np.ones((2, 2, 2)), "cube.npy: array of shape (2, 2, 2)")
npy("complex.npy", np.array([28.44 + 1j, 47.3]), "complex.npy: array of complex128, expected real numbers")
npy("nan.npy", np.array([28.44, np.nan, 56.12]), "nan.npy[1]: non-finite 2θ nan")
npy("objects.npy", np.array([28.44, None], dtype=object), "objects.npy: not a readable .npy array")
npy("empty.npy", np.array([], dtype=float), "empty.npy: no peaks")
text("not_numpy.npy", b"28.44\n47.30\n", "not_numpy.npy: not a readable .npy array")
text("truncated.npy", (HERE / "nan.npy").read_bytes()[:100], "truncated.npy: not a readable .npy array")

# -- ensemble configurations (powdex optimize --config) -------------------------
text("config_empty.toml", "", "fitting: section missing", "optimize")
text("config_not_toml.toml", "fitting = {\n", "config_not_toml.toml:", "optimize")
text("config_fitting_value.toml", "fitting = 3\n", "fitting: must be a table", "optimize")
text("config_no_kind.toml", lines("[fitting]", "[fitting.minimizer]", "max_iter = 5"), "fitting.minimizer: missing 'kind'", "optimize")
text("config_unknown_kind.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "newton"'), "fitting.minimizer: unknown kind 'newton'", "optimize")
text("config_unknown_option.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "lbfgs"', "tolerance = 1e-6"), "fitting.minimizer.tolerance: unknown option", "optimize")
text("config_negative_iterations.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "lbfgs"', "max_iter = -3"), "fitting.minimizer.max_iter", "optimize")
text("config_word_for_number.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "lbfgs"', 'max_iter = "many"'), "fitting.minimizer.max_iter", "optimize")
text("config_twice_hyphen.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "lbfgs"', "max_iter = 5", "max-iter = 6"), "fitting.minimizer.max_iter: given twice", "optimize")
text("config_spa_no_inner.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "spa"'), "fitting.minimizer.minimizer", "optimize")
text("config_nlopt_unknown.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "nlopt"', 'algorithm = "LD_NEWTON"'), "fitting.minimizer.algorithm", "optimize")
text("config_latin1.toml", "# Ma\xdfst\xe4be\n[fitting]\n".encode("latin-1"), "config_latin1.toml: not a text file", "optimize")
text("config_string_count.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "lbfgs"', 'max_iter = "25"'), "fitting.minimizer.max_iter: Input should be a valid integer", "optimize")
text("config_fraction_count.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "lbfgs"', "max_iter = 2.5"), "fitting.minimizer.max_iter: Input should be a valid integer", "optimize")
text("config_infinite_threshold.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "lbfgs"', "conv_threshold = inf"), "fitting.minimizer.conv_threshold: Input should be a finite number", "optimize")
text("config_nan_point.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "points"', "points = [[0.5, 1.0], [0.5, nan]]", "[fitting.minimizer.minimizer]", 'kind = "lbfgs"'), "fitting.minimizer.points.1.1: Input should be a finite number", "optimize")
text("config_huge_design.toml", lines("[fitting]", "[fitting.minimizer]", 'kind = "sobol"', "runs = 1099511627776", "[fitting.minimizer.minimizer]", 'kind = "lbfgs"'), "fitting.minimizer: 1099511627776 runs need at least", "optimize")

# -- peak lists that used to give a wrong result without a word ---------------
text("typo_first_line.txt", lines("28..44", *SILICON[1:]), "typo_first_line.txt:1: non-numeric value '28..44' in column 1")
text("nul_first_line.txt", lines("\x00" + SILICON[0], *SILICON[1:]), "nul_first_line.txt:1: control character U+0000")
text("wavelength_in_metres.txt", lines("# wavelength: 1e6", *SILICON), "wavelength_in_metres.txt:1: wavelength 1e+06 Å is implausible")
# A byte-order mark is no data: the header after the comment is read as one, and the file indexes.
text("bom_comment_header_one_peak.txt", b"\xef\xbb\xbf" + lines("# silicon", "2theta I", "28.44 100").encode(), "bom_comment_header_one_peak.txt: 1 peak, but")

(HERE / "expected.json").write_text(json.dumps(dict(sorted(EXPECTED.items())), indent=1, ensure_ascii=False) + "\n")
print(f"{len(EXPECTED)} files")
