"""Each format read from a real file (known first point, count, wavelengths) and from
made-up files, and each malformed one refused with one line naming the file."""

import struct
import sys
import zipfile

import numpy as np
import pytest

from powdex.patterns import read_pattern
from powdex.patterns.formats import PatternFormat, formats
from powdex.patterns.radiation import ANODES
from powdex.peaks import PeakInputError

CU = ANODES["Cu"]


# --- real files -----------------------------------------------------------------


def test_gsas_std_xray_round_robin_file(data):
    pattern = read_pattern(data / "PBSO4.XRA", anode="Cu")
    assert len(pattern) == 6001
    assert pattern.two_theta[0] == 10.0 and pattern.two_theta[-1] == pytest.approx(160.0)
    assert pattern.intensity[:3].tolist() == [179, 147, 165]
    assert pattern.wavelengths == (CU.k_alpha1, CU.k_alpha2) and pattern.ratio == 0.5
    np.testing.assert_allclose(pattern.sigma[:3], np.sqrt([179, 147, 165]))


def test_gsas_std_with_detector_counts_neutron_file(data):
    pattern = read_pattern(data / "PBSO4.CWN", wavelength=1.909)
    assert len(pattern) == 2919 and pattern.two_theta[1] == pytest.approx(10.05)
    assert pattern.intensity[:2].tolist() == [220, 214]
    assert pattern.wavelengths == (1.909,) and pattern.ratio == 0  # 1.909 Å is no tube's Kα1


def test_xrdml_counts_and_wavelengths_from_the_file(data):
    pattern = read_pattern(data / "XRD-918-16_10.xrdml")
    assert len(pattern) == 5027
    assert pattern.two_theta[0] == pytest.approx(4.00656514) and pattern.two_theta[-1] == pytest.approx(69.99936587)
    assert pattern.intensity[0] == 1305
    assert pattern.wavelengths == (1.540598, 1.544426) and pattern.ratio == 0.5
    assert pattern.notes == ()


def test_rasx_profile_and_conditions(data):
    pattern = read_pattern(data / "TwoTheta_scan_powder.rasx")
    assert len(pattern) == 2726 and pattern.two_theta[0] == 10.0 and pattern.two_theta[-1] == 119.0
    assert pattern.intensity[0] == pytest.approx(170.55354309)
    assert pattern.wavelengths == (1.540593, 1.544414) and pattern.ratio == 0.5


def test_bruker_raw4_with_a_kalpha1_only_beam(data):
    pattern = read_pattern(data / "TwoTheta_scan_scrambled.raw")
    assert len(pattern) == 7134
    assert pattern.two_theta[0] == 10.0 and pattern.two_theta[1] - pattern.two_theta[0] == pytest.approx(0.0105203, abs=1e-7)
    assert pattern.intensity[0] == pytest.approx(283.7692, abs=1e-3)
    # The file sets Kα2 to zero: no Kα2 is assumed from the Cu Kα1 wavelength.
    assert pattern.wavelengths == (pytest.approx(1.5406),) and pattern.ratio == 0 and pattern.notes == ()


def test_brml_columns_from_the_data_views(data):
    pattern = read_pattern(data / "23-012-AG_2thomegascan_long.brml")
    assert len(pattern) == 2001 and pattern.two_theta[0] == 44.0 and pattern.two_theta[-1] == 48.0
    assert pattern.intensity[:5].tolist() == [3, 1, 1, 2, 2]
    assert pattern.wavelengths == (1.5406, 1.54439) and pattern.ratio == 0.5


def test_bruker_raw2_header_offsets_of_a_real_file(data):
    # Zincite, converted from UXD by Bruker's XCH (PyXRD's test file): the tube lines sit at 190–198.
    pattern = read_pattern(data / "pyxrd_brk_raw2.raw")
    assert len(pattern) == 7251 and pattern.two_theta[0] == 5.0 and pattern.two_theta[-1] == pytest.approx(150.0)
    assert pattern.intensity[:3].tolist() == [222, 187, 198]
    assert pattern.wavelengths == (1.5406, 1.5443) and pattern.ratio == 0.514
    assert pattern.metadata["sample"] == "ZINCITE.DAT" and pattern.metadata["k_beta"] == 1.3924


def test_bruker_raw1_real_file(data):
    pattern = read_pattern(data / "pyxrd_brk_raw1.raw")
    assert len(pattern) == 876 and pattern.two_theta[0] == 4.98 and pattern.two_theta[-1] == pytest.approx(39.98)
    assert pattern.intensity[:3].tolist() == [665, 632, 637]
    assert pattern.wavelengths == (1.5406, 1.54443) and pattern.ratio == 0.5 and pattern.metadata["sample"] == "VINAIGRE"


def test_bruker_raw3_real_lab6_scan(data):
    # The LaB6 scan of the instrument tests (tests/data/instrument, provenance there): one range, its header at
    # 712 with 40 supplementary bytes, so the counts start at 712 + 304 + 40 = 1056 (decoded by hand with struct).
    pattern = read_pattern(data.parent / "instrument" / "LaB6_Jan2018.raw")
    assert len(pattern) == 3040 and pattern.two_theta[0] == 10.0
    assert pattern.two_theta[1] - pattern.two_theta[0] == pytest.approx(0.0197448)
    assert pattern.intensity[:3].tolist() == [7393, 7478, 7347] and pattern.intensity[-1] == 1110
    assert pattern.wavelengths == (1.5406, 1.54439) and pattern.ratio == 0.5
    assert pattern.metadata["anode"] == "Cu" and pattern.metadata["k_beta"] == 1.39222
    # Its strongest point is LaB6's 110 line (a = 4.1569 Å: 30.39° for Cu Kα1).
    assert pattern.two_theta[np.argmax(pattern.intensity)] == pytest.approx(30.396, abs=0.001)


def test_pdcif_real_gsas2cif_file_from_the_cod(data):
    # COD 1501688 (ethylammonium chloride, Bruker D8): counts on the _pd_meas_2theta_range_* grid, σ from
    # _pd_proc_ls_weight, Kα1/Kα2 with weights from the _diffrn_radiation loop.
    pattern = read_pattern(data / "COD_1501688_EtNH3Cl.cif")
    assert len(pattern) == 3728 and pattern.two_theta[0] == 8.0 and pattern.two_theta[-1] == pytest.approx(89.994)
    assert pattern.intensity[:3].tolist() == [1733, 1620, 1629] and pattern.intensity[-1] == 202
    assert pattern.sigma[0] == pytest.approx(1 / np.sqrt(0.000577))
    assert pattern.wavelengths == (1.540598, 1.54439) and pattern.ratio == pytest.approx(0.38)
    assert pattern.metadata["block"] == "1501688"


def test_pdcif_real_file_with_one_weighted_kalpha1_line(data):
    # COD 1518592 (a gold(I) isocyanide complex, Rigaku SmartLab): GSAS2CIF's wavelength loop holds
    # "CuKα1 1.540593 1.000" alone, so no Kα2 is added.
    pattern = read_pattern(data / "COD_1518592_AuY.cif")
    assert len(pattern) == 5300 and pattern.two_theta[0] == 7.01 and pattern.two_theta[-1] == pytest.approx(60.0)
    assert pattern.intensity[:3].tolist() == [10215, 10163, 10134] and pattern.intensity[-1] == 2271
    assert pattern.wavelengths == (1.540593,) and pattern.ratio == 0.0 and pattern.notes == ()


def test_pdcif_one_unweighted_line_still_gets_the_tube_kalpha2(tmp_path):
    path = tmp_path / "pattern.cif"
    path.write_text("data_p\n_diffrn_radiation_wavelength 1.540593\n"
                    "loop_\n_pd_meas_2theta_scan\n_pd_meas_counts_total\n10.0 1\n10.1 2\n10.2 3\n10.3 2\n10.4 1\n")
    pattern = read_pattern(path)
    assert pattern.wavelengths == (1.540593, pytest.approx(CU.k_alpha2)) and pattern.ratio == 0.5


def test_pdcif_points_a_refinement_left_out_keep_the_counting_sigma(tmp_path):
    # Weight 0 (an excluded region) or "." (GSAS2CIF's last point) says nothing of the measurement.
    path = tmp_path / "pattern.cif"
    path.write_text("data_p\n_diffrn_radiation_wavelength 1.5406\nloop_\n_pd_meas_2theta_scan\n_pd_meas_counts_total\n"
                    "_pd_proc_ls_weight\n10.0 400 0\n10.1 100 0.04\n10.2 900 0.0025\n10.3 100 0.01\n10.4 400 .\n")
    pattern = read_pattern(path)
    assert pattern.sigma.tolist() == [20, 5, 20, 10, 20]  # all five kept


def test_ras_real_smartlab_header_with_a_cut_scan(data):
    # A real SmartLab header whose scan its source cut to 5 of 3501 points: read as it is, with a note.
    pattern = read_pattern(data / "RDE_XRD_test.ras")
    assert pattern.two_theta.tolist() == [25.0, 25.01, 25.02, 25.03, 25.04]
    assert pattern.intensity.tolist() == [13, 7, 12, 6, 3]
    assert pattern.wavelengths == (1.540593, 1.544414) and pattern.ratio == 0.5
    assert pattern.metadata["anode"] == "Cu" and pattern.metadata["k_beta"] == 1.392246
    assert pattern.notes == ("the header says 3501 points, the scan holds 5",)


def test_ras_real_miniflex_scan_with_a_shift_jis_axis_name(data):
    # A complete MiniFlex scan: its displayed axis name "2θ/θ" is Shift-JIS (the ASCII internal name
    # says TwoThetaTheta) and its point count is written "4001.0000000000".
    pattern = read_pattern(data / "Xerus_La1.75Sr0.25CuO4.ras")
    assert len(pattern) == 4001
    assert (pattern.two_theta[0], pattern.two_theta[-1]) == (5.0, 85.0)
    assert (pattern.intensity[0], pattern.intensity[-1]) == (31, 100)
    assert pattern.two_theta[np.argmax(pattern.intensity)] == 31.26 and pattern.intensity.max() == 1743
    assert pattern.wavelengths == (1.540593, 1.544414) and pattern.ratio == 0.5
    assert pattern.metadata["anode"] == "Cu" and pattern.metadata["k_beta"] == 1.39225
    assert pattern.notes == ()  # the count matches the rows


def test_nexus_nxxrd_file_holds_the_xrdml_scan(data):
    pytest.importorskip("h5py")
    # NOMAD's NeXus (NXxrd_pan) copy of the XRDML scan: same points, tube lines from NXsource.
    nexus = read_pattern(data / "XRD-918-16_10_nxxrd.hdf5")
    xrdml = read_pattern(data / "XRD-918-16_10.xrdml")
    np.testing.assert_array_equal(nexus.two_theta, xrdml.two_theta)
    np.testing.assert_array_equal(nexus.intensity, xrdml.intensity)
    assert nexus.wavelengths == (1.540598, 1.544426) and nexus.ratio == 0.5
    assert nexus.metadata["definition"] == "NXxrd_pan" and nexus.metadata["data"] == "/entry/experiment_result"


def nexus_file(path, axis_name: str, axis, units: str, *, wavelength: float | None = 0.5, errors=None):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as handle:
        entry = handle.create_group("scan")
        entry.attrs["NX_class"] = "NXentry"
        if wavelength is not None:
            monochromator = entry.create_group("instrument/monochromator")
            monochromator.attrs["NX_class"] = "NXmonochromator"
            monochromator.create_dataset("wavelength", data=wavelength).attrs["units"] = "angstrom"
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="counts", axes=[axis_name])
        data.create_dataset(axis_name, data=axis).attrs["units"] = units
        data.create_dataset("counts", data=np.array([1.0, 4.0, 9.0, 4.0, 1.0, 1.0]))
        if errors is not None:
            data.create_dataset("errors", data=errors)
    return path


def test_nexus_q_axis_in_inverse_nm_with_a_monochromator_wavelength(tmp_path):
    two_theta = np.array([10.0, 10.5, 11.0, 11.5, 12.0, 12.5])
    q_per_nm = 10 * 4 * np.pi * np.sin(np.radians(two_theta / 2)) / 0.5
    pattern = read_pattern(nexus_file(tmp_path / "q.nxs", "q", q_per_nm, "1/nm", errors=np.full(6, 2.0)))
    np.testing.assert_allclose(pattern.two_theta, two_theta)
    assert pattern.wavelengths == (0.5,) and pattern.sigma.tolist() == [2.0] * 6 and pattern.sigma_from_file


def test_nexus_q_axis_without_a_wavelength_is_refused(tmp_path):
    path = nexus_file(tmp_path / "q.h5", "Q", np.linspace(1, 2, 6), "1/angstrom", wavelength=None)
    with pytest.raises(PeakInputError, match=r"q.h5: the axis 'Q' is Q and the file gives no wavelength; give one"):
        read_pattern(path)


def test_nexus_needs_h5py_in_one_line(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(PeakInputError, match=r"nxxrd.hdf5: a NeXus/HDF5 file; reading it needs h5py \(pip install 'powdex\[nexus\]'\)$"):
        read_pattern(data / "XRD-918-16_10_nxxrd.hdf5")


def test_hdf5_without_nxdata_is_refused(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "image.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("frame", data=np.zeros((4, 4)))
    with pytest.raises(PeakInputError, match=r"image.h5: no NXdata group with a 'signal' attribute"):
        read_pattern(path)


# --- made-up files to the published layouts ------------------------------------------


def raw_v3(counts, start=10.0, step=0.02, alpha=(1.5406, 1.54439, 0.5)) -> bytes:
    """A one-range Bruker RAW v3 file: 712-byte header, 304-byte range header, 40 supplementary bytes."""
    header = bytearray(712)
    header[:7] = b"RAW1.01"
    struct.pack_into("<i", header, 12, 1)
    header[608:610] = b"Cu"
    struct.pack_into("<5d", header, 616, 1.5418, alpha[0], alpha[1], 1.39222, alpha[2])
    block = bytearray(304 + 40)
    struct.pack_into("<2i", block, 0, 304, len(counts))
    struct.pack_into("<d", block, 16, start)
    struct.pack_into("<d", block, 176, step)
    struct.pack_into("<f", block, 212, 298.0)
    struct.pack_into("<i", block, 256, 40)
    return bytes(header + block) + np.asarray(counts, dtype="<f4").tobytes()


def test_bruker_raw3(tmp_path):
    path = tmp_path / "scan.raw"
    path.write_bytes(raw_v3([5.0, 7.0, 9.0, 8.0, 6.0, 5.0]))
    pattern = read_pattern(path)
    np.testing.assert_allclose(pattern.two_theta, 10.0 + 0.02 * np.arange(6))
    assert pattern.intensity.tolist() == [5, 7, 9, 8, 6, 5]
    assert pattern.wavelengths == (1.5406, 1.54439) and pattern.ratio == 0.5
    assert pattern.metadata["temperature_K"] == 298.0


RAS = """*RAS_DATA_START
*RAS_HEADER_START
*HW_XG_TARGET_NAME "Cu"
*HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"
*HW_XG_WAVE_LENGTH_ALPHA2 "1.544414"
*MEAS_SCAN_AXIS_X "2-Theta/Omega"
*RAS_HEADER_END
*RAS_INT_START
10.00 100 1.0
10.02 120 1.0
10.04 400 2.0
10.06 130 1.0
10.08 100 1.0
*RAS_INT_END
*RAS_DATA_END
"""


def test_ras_intensity_times_attenuation(tmp_path):
    path = tmp_path / "scan.ras"
    path.write_text(RAS, encoding="latin-1")
    pattern = read_pattern(path)
    assert pattern.intensity.tolist() == [100, 120, 800, 130, 100]
    assert pattern.wavelengths == (1.540593, 1.544414) and pattern.ratio == 0.5


def test_ras_not_a_two_theta_scan_is_refused(tmp_path):
    # The internal axis name decides, whatever the displayed (possibly Shift-JIS) name says.
    path = tmp_path / "rocking.ras"
    path.write_bytes(RAS.replace('*MEAS_SCAN_AXIS_X "2-Theta/Omega"',
                                 '*MEAS_SCAN_AXIS_X "\u03c9"\n*MEAS_SCAN_AXIS_X_INTERNAL "Omega"').encode("shift_jis"))
    with pytest.raises(PeakInputError, match=r"rocking.ras: the scan axis is 'Omega', not 2θ"):
        read_pattern(path)


PDCIF = """data_pattern
_diffrn_radiation_type 'Cu K\\a'
loop_
_diffrn_radiation_wavelength
_diffrn_radiation_wavelength_wt
1.540593 1.0
1.544414 0.5
_pd_meas_number_of_points 5
loop_
_pd_meas_2theta_scan
_pd_meas_counts_total
10.00 100(10)
10.02 121(11)
10.04 400(20)
10.06 144(12)
10.08 100(10)
"""


def test_pdcif_loop_with_standard_uncertainties(tmp_path):
    path = tmp_path / "pattern.cif"
    path.write_text(PDCIF)
    pattern = read_pattern(path)
    assert pattern.intensity.tolist() == [100, 121, 400, 144, 100]
    assert pattern.sigma.tolist() == [10, 11, 20, 12, 10] and pattern.sigma_from_file
    assert pattern.wavelengths == (1.540593, 1.544414) and pattern.ratio == 0.5


def test_pdcif_even_grid_from_range_items(tmp_path):
    path = tmp_path / "pattern.cif"
    path.write_text("data_p\n_pd_meas_2theta_range_min 5.0\n_pd_meas_2theta_range_max 5.4\n"
                    "_pd_meas_2theta_range_inc 0.1\n_diffrn_radiation_wavelength 0.7093\n"
                    "loop_\n_pd_proc_intensity_total\n1\n2\n3\n2\n1\n")
    pattern = read_pattern(path)
    np.testing.assert_allclose(pattern.two_theta, [5.0, 5.1, 5.2, 5.3, 5.4])
    assert pattern.wavelengths == (0.7093, pytest.approx(0.7093 * ANODES["Mo"].k_alpha2 / ANODES["Mo"].k_alpha1))


def test_xye_sigma_and_masked_points(tmp_path):
    path = tmp_path / "scan.xye"
    rows = [f"{10 + 0.02 * i:.2f} {100 + i} {10.0}" for i in range(8)]
    rows[3] = "10.06 nan 10.0"
    path.write_text("# wavelength: 0.7093\n" + "\n".join(rows) + "\n")
    pattern = read_pattern(path)
    assert len(pattern) == 7 and pattern.sigma_from_file and set(pattern.sigma) == {10.0}
    assert pattern.notes[0] == "1 point(s) with no finite intensity or σ left out (first at 2θ 10.06)"


def test_a_rounded_uneven_csv_grid_is_read_as_it_is(tmp_path):
    path = tmp_path / "scan.csv"
    two_theta = np.round(10 + 0.0131 * np.arange(50), 3)
    path.write_text("2theta,intensity\n" + "\n".join(f"{t},{100}" for t in two_theta))
    assert read_pattern(path, wavelength=1.0).two_theta.tolist() == two_theta.tolist()


# --- radiation ------------------------------------------------------------------------


def test_options_override_the_file_with_a_note(data):
    pattern = read_pattern(data / "XRD-918-16_10.xrdml", wavelength=1.5406)
    assert pattern.wavelengths[0] == 1.5406
    assert pattern.wavelengths[1] == pytest.approx(1.5406 * 1.544426 / 1.540598)
    assert pattern.notes == ("wavelength 1.5406 Å as given, not 1.540598 Å as the file says",)
    cobalt = read_pattern(data / "XRD-918-16_10.xrdml", anode="co")
    assert cobalt.wavelengths == (ANODES["Co"].k_alpha1, ANODES["Co"].k_alpha2)
    assert cobalt.notes == ("Co tube lines as given, not λ = 1.540598 Å as the file says",)


def test_a_tube_kalpha1_wavelength_brings_its_kalpha2_with_a_note(tmp_path):
    path = tmp_path / "scan.xy"
    path.write_text("# wavelength: 1.5406\n" + "\n".join(f"{10 + 0.02 * i:.2f} 100" for i in range(6)))
    pattern = read_pattern(path)
    assert pattern.wavelengths == (1.5406, pytest.approx(1.5406 * CU.k_alpha2 / CU.k_alpha1)) and pattern.ratio == 0.5
    assert pattern.notes[0].startswith("λ 1.5406 Å is Cu Kα1: Cu Kα2 assumed at ratio 0.5")


def test_unknown_anode(data):
    with pytest.raises(PeakInputError, match=r"^unknown anode 'W': known anodes are Cr, Fe, Co, Cu, Mo, Ag$"):
        read_pattern(data / "PBSO4.XRA", anode="W")


# --- malformed files: one line naming the file ---------------------------------------

XRDML_NO_COUNTS = (
    '<?xml version="1.0"?><xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5"><xrdMeasurement><scan>'
    '<dataPoints><positions axis="2Theta"><startPosition>10</startPosition><endPosition>20</endPosition></positions>'
    "</dataPoints></scan></xrdMeasurement></xrdMeasurements>"
)


def zipped(path, members: dict[str, str]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


MALFORMED = {
    "no_counts.xrdml": (XRDML_NO_COUNTS, "no_counts.xrdml: the scan has neither <counts> nor <intensities>"),
    "cut.xrdml": ("<?xml version='1.0'?><xrdMeasurements><xrdMeasurement>", "cut.xrdml: not well-formed XML (no element found"),
    "cut.raw": (b"RAW1.01\0" + b"\1\0\0\0" * 4 + b"\0" * 600, "cut.raw: truncated Bruker RAW file (624 bytes, needs 656)"),
    "old.raw": (b"RAW  \0\0\0" + b"\0" * 100, "old.raw: a range of 32 steps from byte 156 does not fit the file (108 bytes)"),
    "tof.gsa": ("title\nBANK 1 100 10 RALF 1000 10 1000 0.001 ALT\n", "tof.gsa:2: RALF bank is time-of-flight; powdex reads constant-wavelength 2θ banks"),
    "short.gsa": ("title\nBANK 1 4000 4000 CONST 1000 2 0 0 ESD\n     123       4     125       4\n",
                  "short.gsa:2: BANK line promises 4000 points, the file holds 2"),
    "unfinished.ras": ("*RAS_DATA_START\n*RAS_HEADER_START\n*RAS_HEADER_END\n*RAS_INT_START\n10 100\n",
                       "unfinished.ras: no *RAS_INT_START … *RAS_INT_END block, not a complete Rigaku .ras scan"),
    "structure.cif": ("data_si\n_cell_length_a 5.431\n",
                      "structure.cif: no powder pattern (no _pd_meas_counts_total/_pd_proc_intensity_* loop); a structure CIF?"),
    "grid.cif": ("data_p\n_pd_meas_2theta_range_min 5.0\n_pd_meas_2theta_range_max 9.0\n_pd_meas_2theta_range_inc 0.1\n"
                 "loop_\n_pd_proc_intensity_total\n1\n2\n3\n2\n1\n",
                 "grid.cif: block p: 5 intensities on 5–9° by 0.1° (that grid has 41 points)"),
    "decreasing.xy": ("10.0 1\n10.1 2\n10.05 3\n10.2 4\n10.3 5\n10.4 6\n", "decreasing.xy:3: 2θ 10.05 does not increase from 10.1"),
    "empty.xye": ("", "empty.xye: empty file"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_gives_one_line(tmp_path, name):
    content, message = MALFORMED[name]
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(PeakInputError) as raised:
        read_pattern(path)
    text = str(raised.value).replace(str(tmp_path) + "/", "")
    assert text.startswith(message) and "\n" not in text


@pytest.mark.parametrize(("name", "members", "message"), [
    ("empty.brml", {"Experiment0/Other.xml": "<a/>"}, "empty.brml: a zip without Experiment*/RawData*.xml, not a Bruker .brml scan"),
    ("empty.rasx", {"Data0/Other.txt": ""}, "empty.rasx: a zip without Data0/Profile0.txt, not a Rigaku .rasx scan"),
    ("words.rasx", {"Data0/Profile0.txt": "10 100 1\nten 100 1\n"}, "words.rasx!Data0/Profile0.txt:2: expected '2θ counts [attenuation]'"),
])
def test_malformed_zip_gives_one_line(tmp_path, name, members, message):
    path = zipped(tmp_path / name, members)
    with pytest.raises(PeakInputError) as raised:
        read_pattern(path)
    assert str(raised.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_a_new_format_is_one_module_and_one_registry_line(tmp_path, monkeypatch):
    from powdex.patterns import formats as registry
    from powdex.patterns.formats.common import pattern_from_columns

    def read_toy(path, source):
        values = np.array(path.read_text().split()[1:], dtype=float)
        return pattern_from_columns(1 + np.arange(values.size), values, None, source, wavelengths=(1.0,))

    toy = PatternFormat("toy", (".toy",), lambda head, path: head.startswith(b"TOY"), read_toy)
    monkeypatch.setattr(registry, "_registered", [])
    registry.register(toy)
    path = tmp_path / "scan.dat"  # a text suffix: the content decides
    path.write_text("TOY 5 6 7 8 9")
    assert read_pattern(path).intensity.tolist() == [5, 6, 7, 8, 9]
    assert formats()[0] is toy
