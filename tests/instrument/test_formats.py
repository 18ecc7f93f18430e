"""Instrument files: real GSAS-II and GSAS files read with the values they hold,
and every format written and read back to the same instrument."""

import math
from dataclasses import asdict
from pathlib import Path

import pytest

from powdex.errors import PowdexError
from powdex.instrument import Instrument, InstrumentFileError, read_instrument, write_instrument

DATA = Path(__file__).parents[1] / "data" / "instrument"
REAL = sorted(p for p in DATA.iterdir() if p.suffix in (".instprm", ".prm"))
GAUSS = 8 * math.log(2) / 1e4


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


def test_at_least_three_real_files_of_each_gsas_format():
    assert sum(p.suffix == ".instprm" for p in REAL) >= 3
    assert sum(p.suffix == ".prm" for p in REAL) >= 3


def test_gsasii_instprm_values_in_powdex_units():
    bnl = read_instrument(DATA / "BNL-I.instprm")
    assert bnl.wavelengths == (1.148407,) and bnl.radiation == "xray" and bnl.polarisation == 0.99
    assert bnl.U == pytest.approx(5.9840407759 * GAUSS)  # σ² in centideg² → FWHM² in deg²
    # GSAS-II's X (1/cosθ) is powdex's Y, its Y (tanθ) powdex's X, both centidegrees.
    assert bnl.Y == pytest.approx(-0.0977791308891 / 100) and bnl.X == pytest.approx(4.40147397286 / 100)
    assert bnl.S_L + bnl.H_L == pytest.approx(0.0264356231583)
    hb2a = read_instrument(DATA / "HB2A_ge113_op2112_Si_cycle866.instprm")
    assert hb2a.radiation == "neutron" and hb2a.zero == pytest.approx(-0.009602591470493875)


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


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
@pytest.mark.parametrize("suffix", [".instprm", ".prm", ".irf", ".toml"])
def test_read_write_read_gives_the_same_values(path, suffix, tmp_path):
    original = read_instrument(path)
    first = tmp_path / f"first{suffix}"
    write_instrument(original, first)
    once = read_instrument(first)
    second = tmp_path / f"second{suffix}"
    write_instrument(once, second)
    same(once, read_instrument(second))
    # The profile and the wavelengths survive every format, the zero all but FullProf's (its .pcr holds it).
    for name in ("U", "V", "W", "X", "Y", "ratio") + (("zero",) if suffix != ".irf" else ()):
        assert getattr(once, name) == pytest.approx(getattr(original, name), rel=1e-6, abs=1e-9), name
    assert once.S_L + once.H_L == pytest.approx(original.S_L + original.H_L, rel=1e-6)


def test_toml_keeps_everything(tmp_path):
    instrument = Instrument(wavelengths=(0.7093, 0.71359), ratio=0.52, geometry="debye-scherrer", zero=-0.013,
                            x_displacement=0.02, y_displacement=-0.01, mu_r=0.8, polarisation=0.95,
                            divergence_slit="variable", U=0.01, V=-0.003, W=0.002, X=0.03, Y=0.004, S_L=0.02,
                            H_L=0.015, notes=("a note",))
    instrument.save(tmp_path / "instrument.toml")
    loaded = Instrument.load(tmp_path / "instrument.toml")
    assert loaded == instrument


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
    """The layout of real .irf files (a lab Debye–Scherrer and a synchrotron file in public repositories were
    read by hand; neither may ship with powdex): GEOM, CTHM, PROF, THRG, and U V W X Y Z as bare numbers after the
    ``! U V W X Y Z`` comment.  The values here are made up."""
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
    # A synchrotron file: one wavelength, no JOBT, CTHM 0 (fully polarised perpendicular to the plane).
    synchrotron = tmp_path / "synchrotron.irf"
    synchrotron.write_text("! beamline ireso 1\nWAVE 0.8 0.8 0.0\nCTHM 0.0\nASYM 0.0 0.0\n"
                           "! U V W X Y Z\n 0.0 0.0 0.0012 0.05 0.0 0.0\n")
    beamline = read_instrument(synchrotron)
    assert beamline.wavelengths == (0.8,) and beamline.ratio == 0.0 and beamline.polarisation == 1.0
    assert beamline.W == 0.0012 and beamline.X == 0.05
    bad = tmp_path / "bad.irf"
    bad.write_text("title\nWAVE 1.54 1.54 0\nGEOM PLATE\n 0.0 0.0 0.001 0.0 0.0\n")
    with pytest.raises(InstrumentFileError, match="line 3: GEOM PLATE"):
        read_instrument(bad)
