"""Every public function's example runs and prints what its docstring says (so none can rot).

The examples are the reference pages' "Example" sections (scripts/postprocess_reference.py
renders them); here they run as doctests with ``ml`` imported, in static mode (an explorer
draws its figure once instead of opening widgets).
"""

from __future__ import annotations

import doctest
import importlib
import inspect

import matplotlib
import pytest

import mlsyslab as ml

matplotlib.use("Agg")


def _documented_objects():
    """The objects with a page in the API reference: the entries of _quarto.yml's quartodoc."""
    from tests.test_site import CONFIG, _resolve

    for section in CONFIG["quartodoc"]["sections"]:
        for entry in section["contents"]:
            name = entry if isinstance(entry, str) else entry["name"]
            obj, attr = _resolve("mlsyslab." + name)
            if attr:
                yield name, obj


OBJECTS = dict(_documented_objects())
FUNCTIONS = {n: o for n, o in OBJECTS.items() if inspect.isfunction(inspect.unwrap(o)) or callable(o)
             and not inspect.isclass(o)}


def test_every_documented_function_has_an_example():
    missing = [n for n, o in FUNCTIONS.items() if ">>> " not in (inspect.getdoc(o) or "")]
    assert not missing, f"no example in the docstring of: {missing}"


def _modules():
    import pkgutil

    yield "mlsyslab"
    for info in pkgutil.walk_packages(ml.__path__, "mlsyslab."):
        if info.name != "mlsyslab.__main__":        # importing it runs the command line
            yield info.name


@pytest.mark.parametrize("module_name", sorted(_modules()))
def test_examples_run_as_written(module_name, monkeypatch):
    """Every ``>>>`` line anywhere in the package (modules, functions, classes, methods)."""
    import matplotlib.pyplot as plt

    monkeypatch.setenv("MLSYSLAB_STATIC", "1")
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(module, module_name, globs={**vars(module), "ml": ml}):
        if test.examples and (test.name == module_name or test.name.startswith(module_name + ".")):
            runner.run(test)
    plt.close("all")
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{module_name}: {result.failed} of {result.attempted} example lines differ"
