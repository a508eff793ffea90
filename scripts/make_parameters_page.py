"""Write parameters.qmd: what every public parameter accepts, from mlsyslab.params (one source).

Run by `make reference`; a test fails when the page is stale.
"""

from pathlib import Path

from mlsyslab.params import parameter_table

PAGE = Path(__file__).resolve().parents[1] / "parameters.qmd"
HEAD = """---
title: "What each parameter accepts"
description: "Every public parameter of mlsyslab: its kind, unit and allowed range, as the package checks it."
---

Generated from `mlsyslab/params.py` by `make reference`: the same declarations check every public
function's arguments, build the command line's flags and `--help`, and write this table. A number
is read in the unit shown; a pint quantity or a string such as `"60 GB"` converts from any unit of
the same dimension. NaN and infinities are refused everywhere. A bad value raises the package's
own error naming the parameter, what was given and what is allowed; the command line prints that
one line and exits with status 2.

"""


def render() -> str:
    return HEAD + parameter_table() + "\n"


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")
