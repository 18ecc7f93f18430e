"""The top level of the ``powdex`` command: bad input is one line, a bug is a traceback."""

import subprocess
import sys

import pytest
import typer

import powdex
from powdex.cli import main as cli_main
from powdex.errors import PowdexError


def run_main_with(monkeypatch, command) -> int:
    app = typer.Typer()
    app.command("boom")(command)
    app.command("other")(lambda: None)  # two commands, so that "boom" is a subcommand
    monkeypatch.setattr(cli_main, "app", app)
    monkeypatch.setattr(sys, "argv", ["powdex", "boom"])
    with pytest.raises(SystemExit) as ended:
        cli_main.main()
    return ended.value.code


def test_a_powdex_error_that_no_command_caught_is_one_error_line_and_exit_2(monkeypatch, capsys):
    def boom() -> None:
        raise PowdexError("peaks.txt:3: non-numeric value 'x'\nsecond line never shown")

    assert run_main_with(monkeypatch, boom) == 2
    assert capsys.readouterr().err == "error: peaks.txt:3: non-numeric value 'x'\n"


def test_any_other_exception_is_a_bug_shown_with_its_traceback_and_a_request_to_report_it(monkeypatch, capsys):
    def boom() -> None:
        raise ZeroDivisionError("an internal slip")

    assert run_main_with(monkeypatch, boom) == cli_main.EXIT_BUG
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: an internal slip" in err
    assert err.strip().splitlines()[-1].startswith(f"error: an internal error in powdex {powdex.__version__}")
    assert "please report it" in err


def test_version_prints_the_package_version():
    result = subprocess.run([sys.executable, "-m", "powdex", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"powdex {powdex.__version__}"


def test_help_lists_every_command_by_the_first_line_of_its_own_help_without_importing_any():
    """``powdex --help`` reads the summaries in ``COMMANDS`` and imports no command module (nor numpy, rich's
    renderer); each summary is the command's own first help line, so the two cannot drift apart."""
    code = ("import sys; from powdex.cli.main import app; from typer.testing import CliRunner; "
            "out = CliRunner().invoke(app, ['--help']).output; "
            "print(out); print(sorted(m for m in sys.modules if m.startswith(('powdex.cli.', 'numpy', 'rich'))))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.splitlines()[-1] == "['powdex.cli.main']"
    for name, command in cli_main.COMMANDS.items():
        assert name in shown
        loaded = cli_main.load_command(name)
        assert command.summary == (loaded.help or "").strip().splitlines()[0], name
