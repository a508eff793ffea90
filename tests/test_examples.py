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


@pytest.mark.parametrize("name", sorted(n for n, o in OBJECTS.items() if ">>> " in (inspect.getdoc(o) or "")))
def test_example_runs_as_written(name, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("MLSYSLAB_STATIC", "1")
    obj = OBJECTS[name]
    module = importlib.import_module(getattr(obj, "__module__", "mlsyslab"))
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(obj, name, module=module, globs={**vars(module), "ml": ml}):
        runner.run(test)
    plt.close("all")
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0, f"{name}: {result.failed} of {result.attempted} example lines differ"
