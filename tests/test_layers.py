"""The layers of powdex, lowest first: a module never imports one of a higher
layer (anywhere in its code, imports inside functions included), so that each
layer can be used, tested and extended without the ones above it."""

import ast
from pathlib import Path

import powdex

PACKAGE = Path(powdex.__file__).parent

# Lowest first. Modules of one layer may import each other and anything below.
LAYERS = [
    ("powdex", "powdex.errors", "powdex.files"),
    ("powdex.crystal",),
    ("powdex.instrument",),
    ("powdex.peaks",),
    ("powdex.patterns",),
    ("powdex.optim",),
    ("powdex.models",),
    ("powdex.training",),
    ("powdex.indexing",),
    ("powdex.refinement",),
    ("powdex.series",),
    ("powdex.reports",),
    ("powdex.cli", "powdex.__main__"),
]


def layer_of(module: str) -> int:
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return {module for module in found if module == "powdex" or module.startswith("powdex.")}


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name == "powdex":
            continue  # the package's lazy public API names what each layer offers, loaded on first use
        own = layer_of(name)
        upward += [f"{name} imports {target}" for target in sorted(imported_modules(path, name))
                   if target != "powdex" and layer_of(target) > own]
    assert upward == []
