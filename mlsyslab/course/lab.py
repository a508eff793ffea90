"""Lab helpers: predict-then-compute, explorers, and sentences rendered from computed numbers.

- `reveal` puts a student's written-down guess beside the computed answer: both with
  units, the ratio, whether it is within a factor of 2, and a hint on the physics of the gap.
  A guess may be a number, a quantity or a string with a unit (``"50 ms"``); one left as
  ``...`` gets a request to predict first, and the answer is never shown before a guess.
- `choose` does the same for a categorical prediction (one of a few options).
- `predicted` is the prediction gate: ``if predicted(my_guess): ...`` shows what follows (a
  table, a figure, a sentence that states the answer) only once the guess is written, and
  otherwise says what is held back. Computing cells keep their results in variables; what
  states an answer is shown after its reveal, behind the gate. ``make test`` runs every student
  copy with blank predictions and fails if any output before a reveal contains its answer.
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

__all__ = ["reveal", "Reveal", "choose", "Choice", "predicted", "explore", "is_dropdown", "say", "fmt", "table", "static_mode"]


def static_mode() -> bool:
    """True when widgets cannot run (headless execution, the rendered site)."""
    return os.environ.get("MLSYSLAB_STATIC", "") not in ("", "0", "false", "no")


def fmt(q, unit: str | None = None, digits: int = 3) -> str:
    """A number or quantity with ``digits`` significant figures and thousands separators.

    Parameters
    ----------
    q : number or Quantity
        The value.
    unit : str, optional
        Convert a quantity to this unit first.
    digits : int
        Significant figures.

    Returns
    -------
    str
        The number, with its unit where it has one.

    Examples
    --------
    >>> from mlsyslab.course import fmt
    >>> from mlsyslab.units import quantity
    >>> fmt(1234567.8), fmt(quantity(0.01234, "s"), "ms")
    ('1,234,568', '12.3 ms')
    """
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
    """Display ``text`` as Markdown (numbers in it should come from f-string expressions).

    Dollar signs are escaped, so two amounts in one sentence are never typeset as math in
    JupyterLab or on the site (write math in a Markdown cell instead).

    Parameters
    ----------
    text : str
        Markdown; its numbers should come from f-string expressions.

    Returns
    -------
    IPython.display.Markdown
        The text, displayed in a notebook.

    Examples
    --------
    >>> from mlsyslab.course import say
    >>> say(f"A batch of {2 ** 5} sequences.")
    <IPython.core.display.Markdown object>
    """
    import IPython.display

    IPython.display.display(IPython.display.Markdown(escape_dollars(text)))


def escape_dollars(text: str) -> str:
    """Escape every dollar sign not yet escaped: Markdown renderers read a pair of them as math."""
    import re

    return re.sub(r"(?<!\\)\$", r"\\$", text)


@dataclass(frozen=True)
class Reveal:
    """A guess set beside the computed answer (or a request to predict first, with no answer).

    How the guess is judged depends on the answer's kind: ``exact`` (a whole number such as a
    tensor-parallel degree or a count: right or wrong, and by how much); ``signed`` (an answer
    that may be negative, such as a saving: the sign is judged first, zero is a valid guess);
    otherwise a positive quantity, judged by the factor between guess and answer.
    """

    what: str
    guess: float | None
    computed: float
    unit: str
    hint: str
    problem: str | None = None      # why the guess could not be compared (the answer stays hidden)
    exact: bool = False
    signed: bool = False
    measured: bool = False          # the answer is a measurement, not the model's

    @property
    def ratio(self) -> float | None:
        if self.guess is None or self.computed == 0:
            return None
        return self.guess / self.computed

    @property
    def within_2x(self) -> bool | None:
        r = self.ratio
        return None if r is None else bool(0.5 <= r <= 2.0)

    @property
    def right(self) -> bool | None:
        """Whether the guess counts as close: equal for an exact answer, else within a factor of 2."""
        if self.guess is None:
            return None
        if self.exact:
            return bool(self.guess == self.computed)
        if self.signed and self.computed == 0:
            return bool(self.guess == 0)
        return self.within_2x

    def _unit_slip(self) -> str | None:
        """If the guess is right in another unit of the same kind, say so."""
        if self.ratio is None or self.ratio <= 0:
            return None
        if not self.unit:
            if 0 < abs(self.computed) <= 1 and 0.5 <= self.ratio / 100 <= 2.0:
                return "it looks like a percentage: the answer is asked as a fraction (0.5 means 50%)"
            return None
        from ..units import registry

        ureg = registry()
        try:
            ureg.Quantity(1.0, self.unit)
        except Exception:  # noqa: BLE001 - a unit pint does not know: no suggestion
            return None
        for other in ("s", "ms", "us", "min", "h", "B", "kB", "MB", "GB", "TB", "USD", "token", "%"):
            try:
                factor = float(ureg.Quantity(1.0, other).to(self.unit).magnitude)
            except Exception:  # noqa: BLE001 - not the same dimension
                continue
            if other == self.unit or factor in (0.0, 1.0):
                continue
            if 0.5 <= self.ratio * factor <= 2.0:
                return (f"your number looks right in {other}: the answer is asked in {self.unit} "
                        f"(write \"{fmt(self.guess)} {other}\" to let it convert)")
        return None

    def _slip(self) -> str | None:
        """A slip of form rather than physics: another unit, a percentage, an inverted ratio, a power of ten."""
        unit = self._unit_slip()
        if unit:
            return f"The unit, not the physics: {unit}."
        r = self.ratio
        if r is None or r <= 0 or self.exact:
            return None
        if not self.unit and abs(self.computed) > 1.5 and 0.5 <= self.guess * self.computed <= 2.0:
            return ("Upside down? Your number is close to one over the answer: check which quantity the "
                    "question puts on top of the ratio.")
        k = round(np.log10(r))
        if abs(k) >= 1 and 0.9 <= r / 10.0 ** k <= 1.12:
            return (f"The scale, not the physics: your number is about 10^{k:+d} times the answer, so the "
                    f"digits are close; check a thousand against a million, or a unit prefix.")
        return None

    def _show(self, x: float) -> str:
        """A number as the answer is written: whole numbers as whole numbers."""
        if self.exact and float(x).is_integer():
            return f"{int(x):,} {self.unit}".strip()
        return fmt(x, self.unit)

    def _verdict(self) -> str:
        r = self.ratio
        if self.exact:
            diff = self.guess - self.computed
            if diff == 0:
                return "right"
            return f"{'too high' if diff > 0 else 'too low'} by {self._show(abs(diff))}"
        if self.signed:
            if self.computed == 0:
                return "right" if self.guess == 0 else "the answer is no change at all"
            if self.guess == 0:
                return f"the answer is not zero: it is {'a gain' if self.computed > 0 else 'a loss'}"
            if r < 0:
                return "the wrong sign"
        if self.within_2x:
            return f"within a factor of 2 (your guess is {fmt(r, digits=2)}x the answer)"
        return f"{fmt(r, digits=2)}x too high" if r > 1 else f"{fmt(1 / r, digits=2)}x too low"

    def _text(self, bold: str = "") -> str:
        b = bold
        unit = self.unit or "the units asked"
        if self.problem:
            return f"✍️ {self.what}: {self.problem} (the answer stays hidden until you predict)."
        if self.guess is None:
            return (f"✍️ {self.what}: write your prediction first. Replace the `...` with a number in "
                    f"{unit} (or a quantity such as `\"50 ms\"`), run that cell, then run this one. "
                    f"The answer appears once you have predicted.")
        answer = f"{b}{self._show(self.computed)}{b}"
        source = "the measurement shows" if self.measured else "the model computes"
        line = (f"{self.what}: you guessed {self._show(self.guess)}, {source} {answer}: "
                f"{self._verdict()}.")
        if not self.right:
            slip = self._slip()
            if slip:
                line += f" {slip}"
        if self.hint:
            line += f" {'Why' if self.right else 'Hint'}: {self.hint}"
        return line

    def __repr__(self) -> str:
        return self._text()

    def _repr_markdown_(self) -> str:
        return escape_dollars(self._text("**"))


def _magnitude_in(value, unit: str):
    if isinstance(value, str):
        from ..units import registry

        value = registry().Quantity(value)
        if not isinstance(value, pint.Quantity):
            return float(value)
    if isinstance(value, pint.Quantity):
        if value.unitless and unit:
            return float(value.magnitude)
        return float(value.to(unit).magnitude) if unit else float(value.to("").magnitude)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(type(value).__name__)
    return float(value)


_GUESS_ERRORS = (TypeError, ValueError, AttributeError, pint.UndefinedUnitError, pint.DimensionalityError,
                 pint.errors.DefinitionSyntaxError)


def reveal(guess, computed, *, unit: str = "", what: str = "Prediction", hint: str = "",
           exact: bool = False, signed: bool = False, measured: bool = False) -> Reveal:
    """Compare a guess with the computed answer; the answer is never shown before a guess.

    ``guess`` is a number in ``unit``, a quantity, or a string such as ``"50 ms"`` (converted to
    ``unit``); ``computed`` a quantity or a number in ``unit``. ``exact=True`` for a whole-number
    answer (a count, a parallel degree), judged right or wrong; ``signed=True`` where the answer
    may be negative (a saving that may be a loss), so zero and negative guesses are compared by
    sign. Otherwise the answer is a positive quantity and a zero or negative guess is refused.

    Nothing that could give the answer away is shown without a usable guess: a guess left as
    ``...`` gets a request to predict first; a guess that is not a number, is not finite, or is
    zero or negative for a positive quantity says why; an answer still to compute (an exercise)
    or of the wrong type says so. None of them raises. When a wrong guess is right in another
    unit, as a percentage, upside down or at another power of ten, the line says so.
    Returns a `Reveal` that displays as one Markdown line.

    Parameters
    ----------
    guess : number, Quantity or str
        The prediction, written before the answer was computed (``...`` if none).
    computed : number or Quantity
        The answer the package computes.
    unit : str
        The unit both are compared in.
    what : str
        What was predicted, for the message.
    hint : str
        A line shown after the comparison.
    exact : bool
        A whole-number answer, judged right or wrong.
    signed : bool
        An answer that may be negative, compared by sign and difference.
    measured : bool
        The answer is a measurement (Lab 9: what a real engine printed), and the line says so.

    Returns
    -------
    Reveal
        The comparison: the guess, the answer and how far off it was, shown as a sentence.

    Examples
    --------
    >>> from mlsyslab.course import reveal
    >>> reveal(50, ml.serve("llama-3-8b", "h100-sxm", batch=32).itl, unit="ms", what="ITL at batch 32")
    ITL at batch 32: you guessed 50.0 ms, the model computes 7.07 ms: 7.1x too high.
    """
    def hidden(problem=None, comp=float("nan")):
        return Reveal(what, None, comp, unit, hint, problem, exact, signed, measured)

    if computed is Ellipsis or computed is None:       # an exercise whose answer is still to compute
        if guess is Ellipsis or guess is None:
            return hidden()
        return hidden("compute the answer in the cell above first, then run this one")
    try:
        comp = _magnitude_in(computed, unit)
    except _GUESS_ERRORS:
        kind = f"a number in {unit}" if unit else "a number"
        return hidden(f"the computed answer is a {type(computed).__name__}, not {kind}: the exercise asks "
                      f"for one number (check the cell above)")
    if guess is Ellipsis or guess is None:
        return hidden(comp=comp)
    try:
        g = _magnitude_in(guess, unit)
    except _GUESS_ERRORS:
        kind = f"a number in {unit}" if unit else "a number"
        example = f"`50` or `\"50 {unit}\"`" if unit else "`0.5`"
        return hidden(f"your guess {guess!r} is not {kind}: write it as {example}", comp)
    if not np.isfinite(g):
        return hidden(f"your guess {guess!r} is not a finite number", comp)
    if g <= 0 and not signed:
        return hidden(f"your guess {fmt(g)} is not positive, and the answer is a positive quantity: "
                      f"write a number above zero", comp)
    if exact and g != round(g):
        return hidden(f"your guess {fmt(g)} is not a whole number, and the answer is one", comp)
    return Reveal(what, g, comp, unit, hint, None, exact, signed, measured)


@dataclass(frozen=True)
class Choice:
    """A categorical prediction set beside the computed answer."""

    what: str
    guess: str | None
    answer: str
    options: tuple
    hint: str
    problem: str | None = None

    @property
    def right(self) -> bool | None:
        return None if self.guess is None else self.guess == self.answer

    def _text(self, bold: str = "") -> str:
        opts = ", ".join(f"`{o}`" for o in self.options)
        if self.problem:
            return f"✍️ {self.what}: {self.problem} (the answer stays hidden until you predict)."
        if self.guess is None:
            return f"✍️ {self.what}: choose first. Replace the `...` with one of {opts}, then run this cell again."
        verdict = "right" if self.right else "not this time"
        line = f"{self.what}: you chose {self.guess!r}; the model says {bold}{self.answer}{bold}: {verdict}."
        return line + (f" Why: {self.hint}" if self.hint else "")

    def __repr__(self) -> str:
        return self._text()

    def _repr_markdown_(self) -> str:
        return escape_dollars(self._text("**"))


def choose(guess, answer, *, options, what: str = "Prediction", hint: str = "") -> Choice:
    """Compare a categorical prediction with the computed answer, forgiving case and spacing.

    ``options`` lists the allowed answers; a guess may be one of them or its position (1, 2, ...).
    Like `reveal`, it never shows the answer before a choice and never raises.
    """
    options = tuple(str(o) for o in options)

    def norm(x):
        return " ".join(str(x).lower().replace("_", " ").replace("-", " ").split())

    if guess is Ellipsis or guess is None:
        return Choice(what, None, "", options, hint)
    if answer is Ellipsis or answer is None:
        return Choice(what, None, "", options, hint,
                      problem="compute the answer in the cell above first, then run this one")
    if str(answer) not in options:
        raise ValueError(f"the answer {answer!r} is not one of the options {options}")
    if isinstance(guess, (int, np.integer)) and not isinstance(guess, bool) and 1 <= guess <= len(options):
        guess = options[int(guess) - 1]
    match = [o for o in options if norm(o) == norm(guess)]
    if not match:
        return Choice(what, None, str(answer), options, hint,
                      problem=f"{guess!r} is not one of " + ", ".join(f"`{o}`" for o in options))
    return Choice(what, match[0], str(answer), options, hint)


def _made(guess) -> bool:
    return guess is not Ellipsis and guess is not None


def predicted(*guesses, what: str = "the results that give the answer away") -> bool:
    """The prediction gate: True once every guess is written (anything but ``...`` or None).

    Use it for what would show an answer before the student has committed to a guess::

        display(reveal(my_ttft_ms, r.ttft, unit="ms", what="TTFT"))
        if predicted(my_ttft_ms):
            print(r)

    While a guess is missing it displays one line saying what is held back and returns False, so
    "Run All" on a blank notebook never prints the answer. It never raises.
    """
    if all(_made(g) for g in guesses):
        return True
    import IPython.display

    IPython.display.display(IPython.display.Markdown(
        f"🔒 *Held back until you predict:* {what}. Write your guess above, run its cell, then run this one."))
    return False


def is_dropdown(spec) -> bool:
    """Whether an `explore` control is a dropdown: a list, or a tuple of strings (else a slider)."""
    return isinstance(spec, list) or (isinstance(spec, tuple) and bool(spec) and isinstance(spec[0], str))


def explore(plot, *, defaults: dict | None = None, **controls):
    """An interactive explorer: ``plot(**values)`` draws one figure for the current controls.

    Controls: a list (of strings or numbers), or a tuple of strings -> dropdown;
    ``(min, max, step)`` of numbers -> slider (int if all are ints). ``defaults`` sets starting
    values (else the first option or the slider's minimum). In static mode the figure is drawn once at the defaults.

    Parameters
    ----------
    plot : callable
        ``plot(**values)`` draws one figure for the current control values.
    defaults : dict, optional
        Starting values by control name.
    **controls
        One control per keyword: a list or tuple of options (a dropdown) or ``(min, max, step)``
        (a slider).

    Returns
    -------
    ipywidgets.Widget or None
        The explorer in JupyterLab; in static mode (the site, tests) the figure at the defaults.

    Examples
    --------
    >>> from mlsyslab.course import explore
    >>> explore(lambda batch: None, batch=(1, 64, 1))
    (static view at batch=1; move the controls in JupyterLab)
    """
    import matplotlib.pyplot as plt

    values = {}
    for name, spec in controls.items():
        values[name] = defaults[name] if defaults and name in defaults else spec[0]
    if static_mode():
        plot(**values)
        plt.show()
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        from ..report import wrap

        print(wrap(f"(static view at {shown}; move the controls in JupyterLab)"))
        return None

    import ipywidgets as w

    widgets = {}
    for name, spec in controls.items():
        if is_dropdown(spec):
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
