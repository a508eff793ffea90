"""Lab helpers: predict-then-compute, explorers, and sentences rendered from computed numbers.

- `reveal` puts a student's written-down guess beside the computed answer: both with
  units, the ratio, whether it is within a factor of 2, and a hint on the physics of the gap.
  A guess still left as ``...`` gets a friendly request to predict first; it never raises.
- `explore` builds an ipywidgets explorer around a plotting function. Without a live
  widget front end (``MLSYSLAB_STATIC=1``, set by ``make test``, ``make run`` and the site
  build) it draws one static figure at the default values instead.
- `say` renders a Markdown sentence whose numbers come from code, so no number in a
  notebook's prose is typed by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pint

__all__ = ["reveal", "Reveal", "explore", "say", "fmt", "table", "static_mode"]


def static_mode() -> bool:
    """True when widgets cannot run (headless execution, the rendered site)."""
    return os.environ.get("MLSYSLAB_STATIC", "") not in ("", "0", "false", "no")


def fmt(q, unit: str | None = None, digits: int = 3) -> str:
    """A number or quantity with ``digits`` significant figures and thousands separators."""
    if isinstance(q, pint.Quantity):
        if unit:
            q = q.to(unit)
        mag, units = float(q.magnitude), f"{q.units:~P}"
    else:
        mag, units = float(q), (unit or "")
    if not np.isfinite(mag):
        text = "n/a"
    elif mag == 0:
        text = "0"
    else:
        decimals = max(digits - 1 - int(np.floor(np.log10(abs(mag)))), 0)
        text = f"{round(mag, decimals):,.{decimals}f}"
    return f"{text} {units}".strip()


def say(text: str):
    """Display ``text`` as Markdown (numbers in it should come from f-string expressions)."""
    import IPython.display

    IPython.display.display(IPython.display.Markdown(text))


@dataclass(frozen=True)
class Reveal:
    """A guess set beside the computed answer."""

    what: str
    guess: float | None
    computed: float
    unit: str
    hint: str

    @property
    def ratio(self) -> float | None:
        if self.guess is None or self.computed == 0:
            return None
        return self.guess / self.computed

    @property
    def within_2x(self) -> bool | None:
        r = self.ratio
        return None if r is None else bool(0.5 <= r <= 2.0)

    def _text(self, bold: str = "") -> str:
        b = bold
        answer = f"{b}{fmt(self.computed, self.unit)}{b}"
        if self.guess is None:
            return (f"✍️ {self.what}: write your prediction first. Replace the `...` with a number in "
                    f"{self.unit or 'the units asked'}, run the cell again, then run this one. "
                    f"(The computed answer is {answer}.)")
        r = self.ratio
        if r is None or not np.isfinite(r) or r <= 0:
            verdict = "cannot be compared (zero or negative)"
        elif self.within_2x:
            verdict = f"within a factor of 2 (your guess is {fmt(r, digits=2)}x the answer)"
        elif r > 1:
            verdict = f"{fmt(r, digits=2)}x too high"
        else:
            verdict = f"{fmt(1 / r, digits=2)}x too low"
        line = f"{self.what}: you guessed {fmt(self.guess, self.unit)}, the model computes {answer}: {verdict}."
        if self.hint and not self.within_2x:
            line += f" Hint: {self.hint}"
        elif self.hint:
            line += f" Why: {self.hint}"
        return line

    def __repr__(self) -> str:
        return self._text()

    def _repr_markdown_(self) -> str:
        return self._text("**")


def _magnitude_in(value, unit: str):
    if isinstance(value, pint.Quantity):
        return float(value.to(unit).magnitude) if unit else float(value.magnitude)
    return float(value)


def reveal(guess, computed, *, unit: str = "", what: str = "Prediction", hint: str = "") -> Reveal:
    """Compare a guess with the computed answer. Never raises on an unanswered (``...``) guess.

    ``guess`` is a number in ``unit`` (or a quantity); ``computed`` a quantity or a number in
    ``unit``. Returns a `Reveal` that displays as one Markdown line.
    """
    comp = _magnitude_in(computed, unit)
    if guess is Ellipsis or guess is None:
        return Reveal(what, None, comp, unit, hint)
    try:
        g = _magnitude_in(guess, unit)
    except (TypeError, ValueError, pint.DimensionalityError):
        return Reveal(what, None, comp, unit,
                      f"your guess {guess!r} is not a number in {unit or 'the units asked'}")
    return Reveal(what, g, comp, unit, hint)


def explore(plot, *, defaults: dict | None = None, **controls):
    """An interactive explorer: ``plot(**values)`` draws one figure for the current controls.

    Controls: a list or tuple of strings -> dropdown; ``(min, max, step)`` of numbers ->
    slider (int if all are ints); ``defaults`` sets starting values (else the first option or
    the slider's minimum). In static mode the figure is drawn once at the defaults.
    """
    import matplotlib.pyplot as plt

    values = {}
    for name, spec in controls.items():
        values[name] = defaults[name] if defaults and name in defaults else spec[0]
    if static_mode():
        plot(**values)
        plt.show()
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        from ._report import wrap

        print(wrap(f"(static view at {shown}; move the controls in JupyterLab)"))
        return None

    import ipywidgets as w

    widgets = {}
    for name, spec in controls.items():
        if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], str):
            widgets[name] = w.Dropdown(options=list(spec), value=values[name], description=name)
        else:
            lo, hi, step = spec
            cls = w.IntSlider if all(isinstance(v, (int, np.integer)) for v in spec) else w.FloatSlider
            widgets[name] = cls(min=lo, max=hi, step=step, value=values[name], description=name,
                                continuous_update=False)

    def _draw(**kw):
        plot(**kw)
        plt.show()

    return w.interactive(_draw, **widgets)


def table(frame, *, percent=(), decimals: int = 2, caption: str | None = None):
    """A DataFrame as a Markdown table, which fits the site's column where a printed one overflows.

    It renders the same in JupyterLab, and its text does not change between pandas releases.

    ``percent`` names the columns shown as percentages; other floats get ``decimals`` places.
    """
    from IPython.display import Markdown

    def cell(col, v):
        if frame[col].dtype.kind in "iu":
            return f"{int(v):,}"
        if isinstance(v, float):
            return f"{v:.0%}" if col in percent else f"{v:,.{decimals}f}"
        return str(v)

    index = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in frame.index]
    head = [" / ".join(n or "" for n in frame.index.names) or ""] + [str(c) for c in frame.columns]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, (_, row) in zip(index, frame.iterrows()):
        rows.append("| " + " | ".join([name] + [cell(c, row[c]) for c in frame.columns]) + " |")
    text = "\n".join(rows)
    return Markdown((f"**{caption}**\n\n" if caption else "") + text)
