"""``powdex calibrate`` on a synthetic LaB6 scan: instrument.toml and the exports read back.

The command is registered on a local Typer app, as ``powdex.cli.main`` registers it."""

import numpy as np
import typer
from typer.testing import CliRunner

from powdex.cli.calibrate import calibrate
from powdex.instrument import Instrument, read_instrument
from powdex.refinement.calibrate import STANDARDS
from powdex.refinement.synthetic import synthetic_pattern

PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.02, "H/L": 0.01, "zero": 0.02}


def app() -> typer.Typer:
    application = typer.Typer()
    application.command("calibrate")(calibrate)
    application.command("unused")(lambda: None)  # two commands: Typer keeps the command name
    return application


def test_calibrate_writes_the_instrument_and_its_exports(tmp_path):
    standard = STANDARDS["Si"]
    pattern, _, _ = synthetic_pattern(standard.cell, standard.space_group, two_theta=np.arange(20.0, 110.0, 0.02),
                                      seed=4, profile=PROFILE, peak_area=20000.0)
    scan = tmp_path / "si.xy"
    np.savetxt(scan, np.column_stack([pattern.two_theta, pattern.intensity]))
    out = tmp_path / "instrument.toml"
    result = CliRunner().invoke(app(), ["calibrate", str(scan), "--standard", "Si", "--anode", "Cu", "--out", str(out),
                                        "--export", str(tmp_path / "lab.instprm"), "--export", str(tmp_path / "lab.irf"),
                                        "--monochromator-angle", "26.6", "--refine-ratio"])
    assert result.exit_code == 0, result.output
    assert "residual width per isolated line" in result.output and "Kα2/Kα1" in result.output
    instrument = Instrument.load(out)
    assert abs(instrument.W - 0.003) < 3e-4
    assert abs(instrument.zero - 0.02) < 3e-3
    # Graphite (002) monochromator: 1 / (1 + cos²26.6°)
    assert abs(instrument.polarisation - 1 / (1 + np.cos(np.radians(26.6)) ** 2)) < 1e-12
    assert abs(read_instrument(tmp_path / "lab.instprm").W - instrument.W) < 1e-12
    assert abs(read_instrument(tmp_path / "lab.irf").U - instrument.U) < 1e-15
    assert (tmp_path / "calibration.png").exists()


def test_calibrate_refuses_an_unknown_export_suffix(tmp_path):
    scan = tmp_path / "x.xy"
    scan.write_text("20 1\n21 2\n")
    result = CliRunner().invoke(app(), ["calibrate", str(scan), "--standard", "Si", "--export", str(tmp_path / "a.cif")])
    assert result.exit_code != 0
    assert "--export" in result.output
