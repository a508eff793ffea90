"""Move every control of every lab's explorer and check that each figure draws without an error.

Usage: python scripts/check_explorers.py [name ...]

Runs each solution notebook's code in this process with `mlsyslab.course.lab.explore` replaced by a
recorder, then calls every recorded ``plot`` function at each dropdown value and at the minimum,
middle and maximum of each slider (all combinations). A student moving the sliders in JupyterLab
meets these figures; nbval only sees the defaults. About 15 s on two cores; `make test` runs it.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
from IPython.display import display  # noqa: E402

import mlsyslab.course as course  # noqa: E402
import mlsyslab.course.lab as lab  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def control_values(spec) -> list:
    """The values a check visits: every option of a dropdown, the ends and middle of a slider."""
    if lab.is_dropdown(spec):
        return list(spec)
    lo, hi, step = spec
    if all(isinstance(v, int) for v in spec):
        return sorted({lo, lo + (hi - lo) // step // 2 * step, hi})
    return [lo, (lo + hi) / 2, hi]


def explorers(path: Path) -> list:
    """Run a notebook's code cells here and return the (plot, controls) of each explorer."""
    calls = []
    original = lab.explore
    # the labs import it from the layer (``from mlsyslab.course import explore``) or the module
    lab.explore = course.explore = lambda plot, *, defaults=None, **controls: calls.append((plot, controls))
    try:
        namespace = {"display": display}
        with contextlib.redirect_stdout(io.StringIO()):   # the lab's own printout is not the check's
            cells = nbformat.read(path, as_version=4).cells
            for cell in cells:
                if cell.cell_type == "code":
                    exec(compile(cell.source, f"{path.name}", "exec"), namespace)
                    plt.close("all")
    finally:
        lab.explore = course.explore = original
    return calls


def main(names: list[str]) -> int:
    os.environ["MLSYSLAB_STATIC"] = "1"
    failures = 0
    paths = sorted((ROOT / "solutions").glob("*.ipynb"))
    for path in (p for p in paths if not names or any(n in p.name for n in names)):
        os.chdir(path.parent)
        found = explorers(path)
        if not found and "explore(" in path.read_text(encoding="utf-8"):
            failures += 1
            print(f"FAIL {path.name}: it calls explore() but the check caught no explorer")
        for plot, controls in found:
            grid = {name: control_values(spec) for name, spec in controls.items()}
            combos = list(itertools.product(*grid.values()))
            for combo in combos:
                values = dict(zip(grid, combo))
                try:
                    plot(**values)
                except Exception as error:  # report every failing combination, then fail
                    failures += 1
                    print(f"FAIL {path.name} {plot.__name__}({values}): {type(error).__name__}: {error}")
                plt.close("all")
            print(f"{path.name}: {plot.__name__} drew {len(combos)} combinations of {', '.join(grid)}")
    print("every explorer draws at every visited setting" if not failures else f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
