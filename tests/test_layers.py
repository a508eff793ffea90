"""The package's folders are its layers, and each layer imports only the layers below it.

catalog < engine < economics, course, measure < planning < cli, with the root's base modules (units,
params, errors, report, progress) below them all. Read from the import statements themselves (every
``import`` and ``from ... import`` in every module, function-level ones included), so a new
arrow back up fails here the day it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlsyslab as ml

PACKAGE = Path(ml.__file__).parent

RANK = {"base": 0, "catalog": 1, "engine": 2, "economics": 3, "course": 3, "measure": 3, "planning": 4, "cli": 5}
BASE = {"units", "params", "errors", "report", "progress"}


def _layer(module: str) -> str:
    """The layer of a module named ``mlsyslab.x[.y]``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "top"                      # mlsyslab/__init__.py: the curated API, above all
    head = parts[1]
    if head in BASE:
        return "base"
    if head in ("cli", "__main__"):
        return "cli"
    return head


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of an mlsyslab module in a file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module) for the mlsyslab imports of ``source``, a module of ``package``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or node.level and not node.module:
                # ``from .. import units``: each name is a module
                out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, t) for line, t in out if t == "mlsyslab" or t.startswith("mlsyslab.")]


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_module_lives_in_a_layer():
    for path in MODULES:
        layer = _layer(_module_name(path))
        assert layer in RANK or layer == "top", f"{path.relative_to(PACKAGE)} is in no layer"


def test_the_layers_are_the_folders():
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert folders == ["catalog", "course", "economics", "engine", "measure", "planning"]
    flat = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__", "__main__", "cli", "errors", "params", "progress", "report", "units"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_layer_imports_only_the_layers_below_it(path):
    here = _layer(_module_name(path))
    if here == "top":
        return
    for line, target in _imports(path):
        there = _layer(target)
        if there == here:
            continue                      # inside one layer
        assert there != "top", f"{path.name}:{line} imports the package root"
        assert RANK[there] < RANK[here], (
            f"{path.relative_to(PACKAGE)}:{line} imports {target} ({there}), which is not below "
            f"{here} (catalog < engine < economics, course, measure < planning < cli)")


def test_no_module_imports_another_modules_private_names():
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("mlsyslab")):
                for alias in node.names:
                    assert not alias.name.startswith("_") or alias.name == "__version__", (
                        f"{path.relative_to(PACKAGE)}:{node.lineno} imports the private {alias.name}")


def test_the_checker_resolves_every_form_of_import():
    """The rule can fail: relative, parent, bare and function-level imports are all seen."""
    source = ("from .load import load\nfrom ..planning.plan import plan\nfrom .. import units\n"
              "import mlsyslab.economics.tco\ndef f():\n    from ..course import lab\n")
    found = sorted(t for _, t in _imports_in(source, "mlsyslab.engine"))
    assert found == ["mlsyslab.course", "mlsyslab.economics.tco", "mlsyslab.engine.load",
                     "mlsyslab.planning.plan", "mlsyslab.units"]
    upward = [t for t in found if _layer(t) not in ("engine", "base", "catalog")]
    assert upward == ["mlsyslab.course", "mlsyslab.economics.tco", "mlsyslab.planning.plan"]


def test_each_layer_reexports_its_public_names_and_the_api_is_unchanged():
    import importlib

    for layer in ("catalog", "engine", "economics", "planning", "course", "measure"):
        pkg = importlib.import_module(f"mlsyslab.{layer}")
        assert pkg.__doc__ and pkg.__all__
        for name in pkg.__all__:
            assert hasattr(pkg, name), f"mlsyslab.{layer} lists {name} but has none"
    for name in ml.__all__:
        assert getattr(ml, name) is not None
