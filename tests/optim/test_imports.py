"""powdex.optim is generic: it imports no other powdex subpackage (only the
base errors and output files), and its modules import each other without cycles."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import powdex.optim

MODULES = sorted(f"powdex.optim.{info.name}" for info in pkgutil.iter_modules(powdex.optim.__path__))
FOLDER = Path(powdex.optim.__file__).parent


def test_optim_modules_import_nothing_else_of_powdex():
    assert "powdex.optim.minimizers" in MODULES and len(MODULES) > 10
    probe = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('powdex.') and not m.startswith('powdex.optim'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["powdex.errors", "powdex.files"]


def optim_imports(module: str) -> set[str]:
    """The powdex.optim modules ``module`` imports anywhere in its code (functions included)."""
    tree = ast.parse((FOLDER / f"{module.rsplit('.', 1)[1]}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("powdex.optim."))
        elif isinstance(node, ast.ImportFrom) and node.module == "powdex.optim":
            for alias in node.names:  # a submodule, or a name the package exports lazily
                target = alias.name if f"powdex.optim.{alias.name}" in MODULES else powdex.optim._EXPORTS[alias.name]
                found.add(f"powdex.optim.{target}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("powdex.optim."):
            found.add(node.module)
    return found - {module}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_optim_modules_import_each_other_without_cycles():
    graph = {module: optim_imports(module) for module in MODULES}
    assert "powdex.optim.testfunctions" in graph["powdex.optim.loading"]
    assert import_cycles(graph) == []
