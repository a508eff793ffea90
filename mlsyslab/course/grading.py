"""Checks that autograded lab cells call: an answer against the reference, a prediction made.

The instructor kit (``make assignments``, ``make grade``; see ``instructors.qmd``) inserts test
cells into each lab. A visible test says whether the answer is there and of the right kind; a
hidden one compares it with the reference solution, recomputed in the same notebook, within a
tolerance wide enough for any correct route (a bisection, a closed form, a coarser scan) and too
narrow for a wrong one. Predictions are graded for being made, never for being right.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers

__all__ = ["check_answer", "check_prediction", "quietly", "DEFAULT_REL_TOLERANCE"]

DEFAULT_REL_TOLERANCE = 0.02
"""Relative tolerance of a hidden test: 2%, for answers reached by a different but correct route."""


def _magnitude(value):
    """A plain float from a number, a 0-d array or a pint quantity (its magnitude)."""
    mag = getattr(value, "magnitude", value)
    try:
        return float(mag)
    except (TypeError, ValueError):
        return None


def check_prediction(name: str, value) -> None:
    """Pass when a prediction was written (anything but ``...`` or None); say what to do if not.

    Parameters
    ----------
    name : str
        The prediction's variable name, used in the message.
    value : object
        The prediction as written.

    Returns
    -------
    None
        Raises ``AssertionError`` asking for a prediction where none was written.

    Examples
    --------
    >>> from mlsyslab.course import check_prediction
    >>> check_prediction("guess_ms", 40)
    """
    if value is Ellipsis or value is None:
        raise AssertionError(f"{name} is still '...': write your prediction before running the reveal")


def check_answer(name: str, value, reference=None, *, rel: float = DEFAULT_REL_TOLERANCE,
                 abs_tol: float = 0.0) -> None:
    """Check an exercise's answer.

    Without ``reference``: the answer exists and is a finite number, a quantity or a name. With
    it: numbers must satisfy ``|value - reference| <= max(rel * |reference|, abs_tol)`` (pint
    quantities are compared in the reference's unit); names (strings) must match, ignoring case
    and surrounding spaces. A reference that is not a finite number raises ``ValueError`` (no
    answer is within a tolerance of NaN, and a comparison with it would pass every answer).

    Parameters
    ----------
    name : str
        The answer's variable name, used in the message.
    value : number, Quantity or str
        The student's answer.
    reference : number, Quantity or str, optional
        The right answer; without it only the answer's presence and form are checked.
    rel : float
        Relative tolerance.
    abs_tol : float
        Absolute tolerance (in the reference's unit).

    Returns
    -------
    None
        Raises ``AssertionError`` with what is wrong and what to do.

    Examples
    --------
    >>> from mlsyslab.course import check_answer
    >>> check_answer("itl_ms", 10.1, reference=10.0, rel=0.02)
    """
    if value is Ellipsis or value is None:
        raise AssertionError(f"{name} is not computed yet: replace '...' with your answer")
    if isinstance(value, str):
        if reference is not None and value.strip().lower() != str(reference).strip().lower():
            raise AssertionError(f"{name} = {value!r} is not the answer")
        return
    if hasattr(value, "to") and hasattr(reference, "units"):
        try:
            value = value.to(reference.units)
        except Exception:  # noqa: BLE001 - any pint error means the wrong dimension
            raise AssertionError(f"{name} is in the wrong unit ({value.units}); the answer is in "
                                 f"{reference.units}") from None
    mag = _magnitude(value)
    if mag is None or isinstance(value, bool) or not (isinstance(mag, numbers.Real) and math.isfinite(mag)):
        raise AssertionError(f"{name} should be a finite number; got {value!r}")
    if reference is None:
        return
    ref = _magnitude(reference)
    if ref is None:
        raise AssertionError(f"the reference for {name} is not a number ({reference!r})")
    if not math.isfinite(ref):   # every answer would pass a NaN comparison: a bug in the lab
        raise ValueError(f"the reference answer for {name} is {ref}, not a finite number: the lab computes it "
                         f"from an infeasible configuration; this is a bug in the lab, not in the answer "
                         f"(tell the instructor)")
    if abs(mag - ref) > max(rel * abs(ref), abs_tol):
        raise AssertionError(f"{name} = {mag:.4g} is not within {rel:.0%} of the answer")


@contextlib.contextmanager
def quietly():
    """Run a reference solution without printing or displaying anything (inside IPython or not).

    Returns
    -------
    context manager
        A ``with`` block inside which nothing is printed or displayed.

    Examples
    --------
    >>> from mlsyslab.course import quietly
    >>> with quietly():
    ...     print("hidden")
    ...
    """
    try:
        from IPython.utils.capture import capture_output
    except ImportError:  # pragma: no cover - outside Jupyter
        with contextlib.redirect_stdout(io.StringIO()):
            yield
        return
    with capture_output():
        yield
