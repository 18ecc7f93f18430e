"""Instrument files: real GSAS-II, GSAS and FullProf files read with the values they
hold, and every format written and read back to the same instrument."""

import math
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from powdex.errors import PowdexError
from powdex.instrument import Instrument, InstrumentFileError, read_instrument, write_instrument

DATA = Path(__file__).parents[1] / "data" / "instrument"
REAL = sorted(p for p in DATA.iterdir() if p.suffix in (".instprm", ".prm", ".irf"))
GAUSS = 8 * math.log(2) / 1e4
# GSAS's constant-wavelength profile functions and FullProf's Thompson–Cox–Hastings profile have no constant
# Lorentzian term (FullProf's Z is a Gaussian one).
NO_CONSTANT_LORENTZIAN = (".prm", ".irf")


def same(a: Instrument, b: Instrument) -> None:
    left, right = asdict(a), asdict(b)
    for key in ("source", "notes"):
        left.pop(key), right.pop(key)
    for key, value in left.items():
        if isinstance(value, float):
            assert right[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key
        elif isinstance(value, tuple):
            assert right[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert right[key] == value, key


# Unchanged copies of files in the GSAS-II source repository, whose open-source licence lets them ship
# (tests/data/instrument/PROVENANCE.md gives each one's path and commit).
FROM_GSAS_II = ("BNL-I.instprm", "BNL-II.instprm", "PDF_1m.instprm", "INST_XRY.prm", "inst_d1a.prm", "11bmb_6231.prm",
                "11bmb_0842.prm", "11bmb_8341.prm")
# Unchanged copies of CrysFML 2008's FullProf examples (LGPL-3.0-or-later, shipped with its licence text).
FROM_CRYSFML = ("crysfml_3t2-si3n4.irf", "crysfml_Studsvik.irf", "crysfml_rx_cukalpha.irf", "crysfml_rut_cukalpha.irf",
                "crysfml_LURE.irf")


def test_at_least_three_real_files_of_each_format():
    assert all((DATA / name).is_file() for name in FROM_GSAS_II + FROM_CRYSFML)
    assert sum(name.endswith(".instprm") for name in FROM_GSAS_II) >= 3
    assert sum(name.endswith(".prm") for name in FROM_GSAS_II) >= 3
    assert sum(name.endswith(".irf") for name in FROM_CRYSFML) >= 3


def test_gsasii_instprm_values_in_powdex_units():
    bnl = read_instrument(DATA / "BNL-I.instprm")
    assert bnl.wavelengths == (1.148407,) and bnl.radiation == "xray" and bnl.polarisation == 0.99
    assert bnl.U == pytest.approx(5.9840407759 * GAUSS)  # σ² in centideg² → FWHM² in deg²
    # GSAS-II's X (1/cosθ) is powdex's Y, its Y (tanθ) powdex's X, both centidegrees.
    assert bnl.Y == pytest.approx(-0.0977791308891 / 100) and bnl.X == pytest.approx(4.40147397286 / 100)
    assert bnl.S_L + bnl.H_L == pytest.approx(0.0264356231583)
    hb2a = read_instrument(DATA / "HB2A_ge113_op2112_Si_cycle866.instprm")
    assert hb2a.radiation == "neutron" and hb2a.zero == pytest.approx(-0.009602591470493875)
    # The same 2005 NSLS X3B1 profile at the other wavelength of that MC/SA exercise.
    bnl2 = read_instrument(DATA / "BNL-II.instprm")
    assert bnl2.wavelengths == (0.69968,) and (bnl2.U, bnl2.V, bnl2.W, bnl2.X, bnl2.Y) == (bnl.U, bnl.V, bnl.W, bnl.X,
                                                                                        bnl.Y)
    # NSLS-II PDF beamline area detector at 0.1665 Å, this file's keys in another order.
    pdf = read_instrument(DATA / "PDF_1m.instprm")
    assert pdf.wavelengths == (0.1665,) and pdf.polarisation == 0.99 and pdf.zero == 0.0
    assert (pdf.U, pdf.V, pdf.W) == pytest.approx((18.71740850558368 * GAUSS, 0.6003411256329596 * GAUSS,
                                                   1.1470130081855334 * GAUSS))
    assert pdf.Y == pytest.approx(0.28143034323339766 / 100) and pdf.X == pytest.approx(0.001 / 100)
    assert pdf.S_L + pdf.H_L == pytest.approx(0.0005)


def test_gsasii_constant_lorentzian_gives_gsasii_width():
    """Xerus' Si calibration of a Rigaku MiniFlex 600 has X = −4.25 centideg made up for by Z = +6.41.  At
    Si 111, 2θ = 28.44°, θ = 14.22°: cosθ = 0.969360, tanθ = 0.253410, and GSAS-II's
    γ = X / cosθ + Y tanθ + Z = −4.248746 / 0.969360 + 0.034992 · 0.253410 + 6.409063
      = −4.383044 + 0.008867 + 6.409063 = 2.034886 centideg,
    powdex's Γ_L = X tanθ + Y / cosθ + Z with its X = GSAS-II's Y / 100, Y = X / 100, Z = Z / 100."""
    import numpy as np

    miniflex = read_instrument(DATA / "Xerus_RigakuSi.instprm")
    assert miniflex.wavelengths == (1.5405, 1.5443) and miniflex.ratio == 0.5 and miniflex.polarisation == 0.7
    assert miniflex.U == pytest.approx(10.415519834319738 * GAUSS) and miniflex.W == pytest.approx(20.31326183721195
                                                                                                    * GAUSS)
    assert miniflex.Y == pytest.approx(-4.2487463400190855 / 100) and miniflex.X == pytest.approx(0.03499164102283399
                                                                                                   / 100)
    assert miniflex.Z == pytest.approx(6.409063438396537 / 100) and miniflex.notes == ()
    assert miniflex.lorentzian_fwhm(28.44) == pytest.approx(2.034886 / 100, rel=1e-6)
    # Beyond 97.4° 2θ the sum falls below zero (−4.25 / cosθ outgrows 6.41): the width is taken as 0, the line
    # a Gaussian, and no width is NaN (without Z the sum was negative everywhere and the peak search found none).
    assert miniflex.lorentzian_fwhm(97.0) > 0 and miniflex.lorentzian_fwhm(98.0) == 0.0
    at = np.linspace(5.0, 150.0, 30)
    assert np.all(np.isfinite(miniflex.fwhm(at))) and np.all(miniflex.fwhm(at) >= miniflex.gaussian_fwhm(at) * (1 - 1e-12))


def test_gsas_prm_lab_doublet_and_11bm_lab6():
    lab = read_instrument(DATA / "INST_XRY.prm")
    assert lab.wavelengths == (1.5405, 1.5443) and lab.ratio == 0.5 and lab.polarisation == 0.7
    assert (lab.U, lab.V, lab.W) == pytest.approx((2 * GAUSS, -2 * GAUSS, 5 * GAUSS))
    assert lab.S_L == lab.H_L == 0.01
    assert any("GP" in note for note in lab.notes)
    bm = read_instrument(DATA / "11bmb_8714.prm")
    assert bm.wavelengths == (0.413259,) and bm.ratio == 0.0
    assert bm.Y == pytest.approx(0.00173) and bm.S_L == bm.H_L == 0.0011
    bt1 = read_instrument(DATA / "BT1.prm")  # three profile functions: type 3 is the one read
    assert bt1.radiation == "neutron" and (bt1.S_L, bt1.H_L) == (0.04, 0.03)
    assert bt1.zero == pytest.approx(0.0004)  # 0.04 centidegrees
    # ILL D1A neutron file of GSAS-II's own tests: profile type 1 only (Gaussian), zero −0.1 centidegrees.
    d1a = read_instrument(DATA / "inst_d1a.prm")
    assert d1a.radiation == "neutron" and d1a.wavelengths == (1.909,) and d1a.ratio == 0.0
    assert d1a.zero == pytest.approx(-0.001)
    assert (d1a.U, d1a.V, d1a.W) == pytest.approx((354.031 * GAUSS, -760.404 * GAUSS, 651.592 * GAUSS))
    assert (d1a.X, d1a.Y, d1a.S_L, d1a.H_L) == (0.0, 0.0, 0.0, 0.0)
    assert any("type 1" in note for note in d1a.notes)
    # 11-BM at 0.413529 Å (the jadarite exercise): the LaB6 profile of 11bmb_8714.prm.
    jadarite = read_instrument(DATA / "11bmb_6231.prm")
    assert jadarite.wavelengths == (0.413529,) and jadarite.polarisation == 0.99
    assert jadarite.U == pytest.approx(1.163 * GAUSS) and jadarite.V == pytest.approx(-0.126 * GAUSS)
    assert jadarite.Y == pytest.approx(0.00173) and jadarite.S_L == jadarite.H_L == 0.0011
    # The same LaB6 profile with the calibrated wavelengths of the sucrose and Si + Al2O3 exercises' runs.
    for name, wavelength in (("11bmb_0842.prm", 0.589183), ("11bmb_8341.prm", 0.413011)):
        run = read_instrument(DATA / name)
        assert run.wavelengths == (wavelength,)
        same(run, replace(jadarite, wavelengths=(wavelength,)))


# What each CrysFML file says (read by hand): its radiation, WAVE λ1 λ2 ratio, CTHM (None where the radiation
# makes it meaningless), the profile U V W X Y (on a UVWXYZ line or the bare row after its comment) and ASYM S_L D_L
# (0 0 where there is no ASYM line).  None has a GEOM line.
CRYSFML_VALUES = {
    "crysfml_3t2-si3n4.irf": ("neutron", (1.2253,), 0.0, None, (0.275264, -0.393932, 0.216173, 0.0, 0.0114), (0.0, 0.0)),
    "crysfml_Studsvik.irf": ("neutron", (1.4724,), 0.0, None, (1.359297, -0.647594, 0.176295, 0.0, 0.0), (0.0, 0.0)),
    "crysfml_rx_cukalpha.irf": ("xray", (1.54056, 1.5444), 0.5, 0.7998, (0.004242, -0.002206, 0.001202, 0.025, 0.0),
                                (0.033, 0.0)),
    "crysfml_rut_cukalpha.irf": ("xray", (1.54056, 1.5444), 0.5, 0.7998, (0.006001, -0.00173, 0.000901, 0.025, 0.0),
                                 (0.066, 0.0)),
    "crysfml_LURE.irf": ("xray", (0.9627,), 0.0, 0.0, (0.0, 0.0, 0.001311, 0.129269, 0.0), (0.0, 0.0)),
}


@pytest.mark.parametrize("name", FROM_CRYSFML)
def test_fullprof_irf_values_as_written(name):
    radiation, wavelengths, ratio, cthm, profile, asymmetry = CRYSFML_VALUES[name]
    instrument = read_instrument(DATA / name)
    # No GEOM line: the doublet files are laboratory Bragg–Brentano, the one-wavelength ones Debye–Scherrer.
    assert instrument.radiation == radiation
    assert instrument.geometry == ("bragg-brentano" if len(wavelengths) == 2 else "debye-scherrer")
    assert instrument.wavelengths == wavelengths and instrument.ratio == ratio
    # FullProf's TCH U V W (deg²), X Y (deg) and FCJ S_L, D_L are powdex's as they stand.
    assert (instrument.U, instrument.V, instrument.W, instrument.X, instrument.Y) == profile
    assert (instrument.S_L, instrument.H_L) == asymmetry
    if cthm is not None:
        # FullProf's (1 + CTHM cos²2θ) / (1 + CTHM) is powdex's with the perpendicular fraction 1 / (1 + CTHM).
        assert 1 / instrument.polarisation - 1 == pytest.approx(cthm, abs=1e-12)
    else:  # the neutron files' CTHM 0 means nothing: ½, as the GSAS readers give neutron files
        assert instrument.polarisation == 0.5
    assert instrument.notes == ()  # Z is 0 in all five: nothing left unmodelled


# The geometry each real file reads with; none names one, and its provenance says whose instrument it is.
GEOMETRY_OF_REAL = {
    "INST_XRY.prm": "bragg-brentano", "Xerus_RigakuSi.instprm": "bragg-brentano",  # laboratory Cu Kα
    "crysfml_rx_cukalpha.irf": "bragg-brentano", "crysfml_rut_cukalpha.irf": "bragg-brentano",
    # synchrotron beams: capillaries at APS 11-BM and NSLS X3, an area detector at NSLS-II PDF, LURE (Orsay)
    "11bmb_0842.prm": "debye-scherrer", "11bmb_6231.prm": "debye-scherrer", "11bmb_8341.prm": "debye-scherrer",
    "11bmb_8714.prm": "debye-scherrer", "BNL-I.instprm": "debye-scherrer", "BNL-II.instprm": "debye-scherrer",
    "PDF_1m.instprm": "debye-scherrer", "crysfml_LURE.irf": "debye-scherrer",
    # neutron cans at NIST BT-1, HFIR HB-2A, ILL D1A, LLB 3T2, Studsvik
    "BT1.prm": "debye-scherrer", "HB2A_ge113_op2112_Si_cycle866.instprm": "debye-scherrer",
    "inst_d1a.prm": "debye-scherrer", "Saclay_3T2.instprm": "debye-scherrer",
    "crysfml_3t2-si3n4.irf": "debye-scherrer", "crysfml_Studsvik.irf": "debye-scherrer",
}


def test_files_without_a_geometry_read_as_gsasii_assumes_it():
    """Synchrotron and neutron instruments hold the sample in a capillary or can: read as Bragg–Brentano, their
    sample shifts would be refined as a flat plate's."""
    assert {path.name for path in REAL} == set(GEOMETRY_OF_REAL)
    assert {path.name: read_instrument(path).geometry for path in REAL} == GEOMETRY_OF_REAL


def test_a_gsas_prm_with_flat_plate_shifts_is_bragg_brentano(tmp_path):
    """shft (× cosθ) and trns (× sin2θ) are Bragg–Brentano terms: a one-wavelength file that refines them is a
    flat plate."""
    flat = Instrument(wavelengths=(0.7,), polarisation=0.95, U=0.01, W=0.002, displacement=0.03,
                      transparency=0.01)
    path = tmp_path / "flat.prm"
    write_instrument(flat, path)
    back = read_instrument(path)
    assert back.geometry == "bragg-brentano"
    assert (back.displacement, back.transparency) == pytest.approx((0.03, 0.01))


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
@pytest.mark.parametrize("suffix", [".instprm", ".prm", ".irf", ".toml"])
def test_read_write_read_gives_the_same_values(path, suffix, tmp_path):
    original = read_instrument(path)
    first = tmp_path / f"first{suffix}"
    if original.Z and suffix in NO_CONSTANT_LORENTZIAN:
        with pytest.raises(InstrumentFileError, match=f"first{suffix}: .* has no constant Lorentzian term"):
            write_instrument(original, first)
        assert not first.exists()
        return
    write_instrument(original, first)
    once = read_instrument(first)
    if suffix == path.suffix:  # a real file written in its own format reads back as the same instrument
        same(original, once)
    second = tmp_path / f"second{suffix}"
    write_instrument(once, second)
    same(once, read_instrument(second))
    # The radiation, wavelengths, polarisation and profile survive every format, the zero all but FullProf's (its
    # .pcr holds it).
    assert once.radiation == original.radiation
    assert once.wavelengths == pytest.approx(original.wavelengths, rel=1e-6)
    assert once.polarisation == pytest.approx(original.polarisation, abs=1e-5)  # GSAS .prm writes 5 decimals
    for name in ("U", "V", "W", "X", "Y", "Z", "ratio") + (("zero",) if suffix != ".irf" else ()):
        assert getattr(once, name) == pytest.approx(getattr(original, name), rel=1e-6, abs=1e-9), name
    assert once.S_L + once.H_L == pytest.approx(original.S_L + original.H_L, rel=1e-6)


def test_toml_keeps_everything(tmp_path):
    instrument = Instrument(wavelengths=(0.7093, 0.71359), ratio=0.52, geometry="debye-scherrer", zero=-0.013,
                            x_displacement=0.02, y_displacement=-0.01, mu_r=0.8, polarisation=0.95,
                            divergence_slit="variable", U=0.01, V=-0.003, W=0.002, X=0.03, Y=0.004, Z=0.005,
                            S_L=0.02, H_L=0.015, notes=("a note",))
    instrument.save(tmp_path / "instrument.toml")
    loaded = Instrument.load(tmp_path / "instrument.toml")
    assert loaded == instrument


def test_toml_written_before_the_constant_lorentzian_loads_without_it(tmp_path):
    """An instrument.toml of version 1 written before Z existed has no Z line: it loads, with no constant
    Lorentzian term, as the instrument it described."""
    instrument = Instrument(wavelengths=(1.540593, 1.544414), ratio=0.5, U=0.004, V=-0.002, W=0.003, X=0.02, Y=0.01)
    path = tmp_path / "instrument.toml"
    path.write_text("".join(line for line in instrument.to_toml().splitlines(keepends=True)
                            if not line.startswith("Z =")))
    assert "Z" not in path.read_text().split() and "version = 1" in path.read_text()
    loaded = Instrument.load(path)
    assert loaded.Z == 0.0 and replace(loaded, source="") == replace(instrument, source="")


def test_bad_files_raise_one_line_errors(tmp_path):
    tof = tmp_path / "tof.instprm"
    tof.write_text("Type:PNT\nU:1\n")
    with pytest.raises(InstrumentFileError, match="not constant-wavelength"):
        read_instrument(tof)
    broken = tmp_path / "broken.instprm"
    broken.write_text("Type:PXC\nLam:1.54\nU:abc\nV:0\nW:1\n")
    with pytest.raises(PowdexError, match="U is 'abc'"):
        read_instrument(broken)
    future = tmp_path / "instrument.toml"
    future.write_text('version = 99\nwavelengths = [1.54]\n')
    with pytest.raises(InstrumentFileError, match="version 99"):
        read_instrument(future)
    with pytest.raises(InstrumentFileError, match="unknown instrument file type"):
        read_instrument(tmp_path / "x.cif")
    irf = tmp_path / "x.irf"
    irf.write_text("title\nJOBT Xrays\nWAVE 1.54 1.54 0\n")
    with pytest.raises(InstrumentFileError, match="no UVWXY"):
        read_instrument(irf)


def test_irf_with_the_profile_row_after_its_comment(tmp_path):
    """A lab Debye–Scherrer file (one in a public repository without a licence was read by hand): the shipped
    CrysFML files' bare profile row after its ``! U V W X Y Z`` comment, with a GEOM line and a short JOBT, which
    none of them has.  The values here are made up."""
    text = "\n".join([
        "lab capillary ireso    3",
        "JOBT XR",
        "!      Profile      Shape_1     Shape_2     Shape_3",
        "PROF      7         0.0000      0.0000      0.0000",
        "!         Lambda_1    Lambda_2    Ratio",
        "WAVE       1.54056      1.54439      0.5000",
        "GEOM DEBY",
        "!       Cos(TwoThetaMonochromator)^2",
        "CTHM       0.8000",
        "!     2theta-min   step   2theta-max",
        "THRG     5.0       0.02      120.00",
        "!         S_L         S_D",
        "ASYM       0.0210      0.0150",
        "!    U-inst      V-inst      W-inst      X-inst     Y-inst     Z-inst",
        "     0.004100  -0.002300   0.003200   0.011000   0.021000    0.00000",
    ]) + "\n"
    path = tmp_path / "capillary.irf"
    path.write_text(text)
    instrument = read_instrument(path)
    assert instrument.wavelengths == (1.54056, 1.54439) and instrument.ratio == 0.5
    assert instrument.geometry == "debye-scherrer" and instrument.radiation == "xray"
    assert (instrument.U, instrument.V, instrument.W, instrument.X, instrument.Y) == (0.0041, -0.0023, 0.0032, 0.011,
                                                                                      0.021)
    assert (instrument.S_L, instrument.H_L) == (0.021, 0.015)
    # FullProf's (1 + CTHM cos²2θ) / (1 + CTHM): the perpendicular fraction is 1 / (1 + CTHM).
    assert instrument.polarisation == pytest.approx(1 / 1.8)
    written = tmp_path / "again.irf"
    write_instrument(instrument, written)
    back = read_instrument(written)
    assert back.geometry == "debye-scherrer" and back.polarisation == pytest.approx(instrument.polarisation)
    bad = tmp_path / "bad.irf"
    bad.write_text("title\nWAVE 1.54 1.54 0\nGEOM PLATE\n 0.0 0.0 0.001 0.0 0.0\n")
    with pytest.raises(InstrumentFileError, match="line 3: GEOM PLATE"):
        read_instrument(bad)


def test_neutron_irf_is_written_with_cthm_zero(tmp_path):
    """FullProf's own neutron files say ``CTHM 0.0`` ("= 0 for neutrons"); powdex's neutron instruments carry ½
    (polarisation means nothing for them), which is no reason to write a monochromator term."""
    neutron = Instrument(wavelengths=(1.5,), radiation="neutron", U=0.2, V=-0.3, W=0.15)
    path = tmp_path / "neutron.irf"
    write_instrument(neutron, path)
    assert [line.split() for line in path.read_text().splitlines() if line.startswith("CTHM")] == [["CTHM", "0.0"]]
    same(neutron, read_instrument(path))


@pytest.mark.parametrize("text, message", [
    ("title\nJOBT TOF Neutrons\nWAVE 1.2 1.2 0\nUVWXYZ 0.2 -0.4 0.2 0 0 0\n",
     "line 2: JOBT TOF Neutrons is time-of-flight"),
    ("title\nWAVE 1.2 1.2 0\nUVWXY 0.2 -0.4 0.2 0 0\nUVWXYZ 0.3 -0.4 0.2 0 0 0\n", "line 4: a second UVWXY line"),
])
def test_irf_keyword_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.irf"
    path.write_text(text)
    with pytest.raises(InstrumentFileError, match=message):
        read_instrument(path)


def test_a_constant_lorentzian_goes_only_where_a_format_holds_it(tmp_path):
    """GSAS-II's .instprm holds Z (centidegrees); GSAS's and FullProf's profiles have no constant Lorentzian term,
    and an instrument with one is refused there in one line naming the file, nothing written."""
    instrument = Instrument(wavelengths=(1.540593,), U=0.004, V=-0.002, W=0.003, X=0.02, Y=0.01, Z=0.015)
    instprm = tmp_path / "x.instprm"
    write_instrument(instrument, instprm)
    assert "Z:1.5" in instprm.read_text().splitlines()
    assert read_instrument(instprm).Z == pytest.approx(0.015, rel=1e-12)
    for suffix in NO_CONSTANT_LORENTZIAN:
        path = tmp_path / f"x{suffix}"
        with pytest.raises(InstrumentFileError) as error:
            write_instrument(instrument, path)
        message = str(error.value)
        assert message.startswith(f"{path}: ") and "no constant Lorentzian term" in message and "\n" not in message
        assert not path.exists()
    write_instrument(replace(instrument, Z=0.0), tmp_path / "zero.prm")  # Z = 0 writes exactly


def test_toml_keeps_a_measured_kbeta_ratio_and_leaves_out_one_not_measured(tmp_path):
    """The Kβ/Kα1 ratio is written where it was measured (0: a monochromator) and read back; an instrument that
    has none writes no line for it (TOML has no null) and reads back without one; a ratio outside [0, 1] is
    refused in one line naming the file."""
    for ratio in (0.0035, 0.0):
        instrument = Instrument(wavelengths=(1.540593, 1.544414), ratio=0.5, W=0.003, k_beta_ratio=ratio)
        instrument.save(tmp_path / "instrument.toml")
        assert Instrument.load(tmp_path / "instrument.toml") == instrument
    unmeasured = Instrument(wavelengths=(1.540593,), W=0.003)
    assert "k_beta_ratio" not in unmeasured.to_toml()
    assert Instrument.from_toml(unmeasured.to_toml()).k_beta_ratio is None
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\nwavelengths = [1.54]\nk_beta_ratio = 1.5\n')
    with pytest.raises(InstrumentFileError) as error:
        read_instrument(bad)
    assert str(error.value).startswith(f"{bad}: ") and "Kβ/Kα1 ratio 1.5" in str(error.value)
    assert "\n" not in str(error.value)
