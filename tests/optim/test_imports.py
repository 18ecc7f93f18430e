"""powdex.optim is generic: it must import no other powdex subpackage."""

import pkgutil
import subprocess
import sys

import powdex.optim

MODULES = sorted(f"powdex.optim.{info.name}" for info in pkgutil.iter_modules(powdex.optim.__path__))


def test_optim_modules_import_nothing_else_of_powdex():
    assert "powdex.optim.minimizers" in MODULES and len(MODULES) > 10
    probe = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('powdex.') and not m.startswith('powdex.optim'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
