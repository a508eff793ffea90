"""Progress bars for long work, shown only where someone is watching (tqdm).

`simulate`, `plan`, `autoscale`, ``make grade`` and ``make assignments`` report progress through
`bar`. A bar appears only after ``DELAY_S`` seconds of work, so fast calls print nothing, and
only on a terminal or in a live notebook: static runs (``MLSYSLAB_STATIC=1``: the tests, the
site, ``make run``), whose stored outputs must not change from run to run, never show one.
``MLSYSLAB_PROGRESS=1`` forces bars on, ``MLSYSLAB_PROGRESS=0`` turns them off.
"""

from __future__ import annotations

import os
import sys

__all__ = ["bar", "enabled", "DELAY_S"]

DELAY_S = 2.0
"""Seconds of work before a bar appears (shorter work shows none)."""

_FALSE = ("0", "no", "false", "off")


def _in_live_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the lab kit
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def enabled() -> bool:
    """Whether progress bars are shown here (see the module docstring)."""
    forced = os.environ.get("MLSYSLAB_PROGRESS", "").strip().lower()
    if forced:
        return forced not in _FALSE
    if os.environ.get("MLSYSLAB_STATIC", "").strip().lower() not in ("",) + _FALSE:
        return False
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) or _in_live_notebook()


def bar(total: float | None, desc: str, unit: str = "it"):
    """A tqdm bar over ``total`` units (disabled where nobody watches); use it as a context manager."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled(), delay=DELAY_S, leave=False,
                mininterval=0.5, dynamic_ncols=True)
