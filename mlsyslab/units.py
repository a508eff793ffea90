"""One unit registry for the whole package, and the checks at its boundaries.

Every public function accepts either a plain number (read in a documented default unit) or a
`pint.Quantity`; a quantity of the wrong dimension raises `UnitError`, which names
the dimension that was expected. Results are quantities of this registry, so a student can write
``result.itl.to("ms")``.

Project units are given *their own dimensions* so they can never convert into each other:
``token``, ``request``, ``query``, ``flop`` and ``USD`` are base units. ``5 flop`` cannot become
``5 USD``, and ``tokens / s`` cannot be added to ``1 / s``.

Stock pint defines ``bit = []`` (dimensionless), so ``1 byte/s + 1/s`` silently gives
``1.125 byte/s`` and a ``GB`` would convert to a plain number. This registry is pint's own
``default_en.txt`` with one change, ``bit = [information]``, so bytes are bytes.
"""

from __future__ import annotations

import math
import numbers
import sys
from importlib import resources

import numpy as np

from .errors import UnitError, ValueRangeError

_REGISTRY = None


def registry():
    """The package's one unit registry, built on first use (pint costs ~0.15 s to load)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _build()
    return _REGISTRY


def __getattr__(name):  # PEP 562: ``units.ureg`` and ``units.Q_`` build the registry lazily
    if name == "ureg":
        return registry()
    if name == "Q_":
        return registry().Quantity
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_quantity(value) -> bool:
    pint = sys.modules.get("pint")          # no quantity can exist before pint is imported
    return pint is not None and isinstance(value, pint.Quantity)


def _build():
    import pint

    files = resources.files("pint")
    text = files.joinpath("default_en.txt").read_text(encoding="utf-8")
    text = text.replace("@import constants_en.txt",
                        files.joinpath("constants_en.txt").read_text(encoding="utf-8"), 1)
    if "bit = []" not in text:  # pragma: no cover - a pint release changed its definitions
        raise ImportError("pint's default_en.txt no longer defines 'bit = []'; update mlsyslab.units")
    ureg = pint.UnitRegistry(None, cache_folder=None)
    ureg.load_definitions(text.replace("bit = []", "bit = [information]", 1).splitlines())
    ureg.define("token = [token] = tok")
    ureg.define("request = [request] = req")
    ureg.define("query = [query]")
    ureg.define("flop = [flop]")
    ureg.define("USD = [currency] = usd = dollar")
    ureg.formatter.default_format = "~P"
    pint.set_application_registry(ureg)
    return ureg


__all__ = ["ureg", "Q_", "registry", "magnitude", "quantity", "parse_quantity_text",  # noqa: F822
           "split_list_text"]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?"
_UNIT = r"(?:1\s*/\s*)?[A-Za-z_%µ][A-Za-z0-9_%µ]*(?:\s*(?:\*\*|\^)\s*-?\d)?(?:\s*[/*·]\s*[A-Za-z_%µ][A-Za-z0-9_%µ]*(?:\s*(?:\*\*|\^)\s*-?\d)?)*"
_QUANTITY_TEXT = None


def parse_quantity_text(text: str, unit: str, name: str):
    """A quantity read from text: one number with an optional unit, in ``unit`` when none is given.

    Accepted: ``"60"``, ``"60 GB"``, ``"1.5e3 ms"``, ``"2 token/s"``.

    Text is never evaluated: no arithmetic (``"10/0"``, ``"2**9**9"``), no separators inside a
    number (``"1,5"`` is neither 1.5 nor 15), nothing after the unit (``"2 3"``). Anything else
    raises `UnitError` saying what a number may look like.
    """
    import re

    global _QUANTITY_TEXT
    if _QUANTITY_TEXT is None:
        _QUANTITY_TEXT = re.compile(rf"^\s*({_NUMBER})\s*({_UNIT})?\s*$")
    expected = (f"one number, optionally with a unit of {_describe(unit)}" if unit else "one number")
    if not isinstance(text, str) or len(text) > 64:
        raise UnitError(f"{name}: expected {expected}; got a text of {len(str(text))} characters")
    if "," in text or ";" in text:
        raise UnitError(f"{name}: expected {expected}; got {text!r} (a list or a separator: write one "
                        f"number, with a dot for decimals)")
    m = _QUANTITY_TEXT.match(text)
    example = f"'60' or '60 {unit}'" if unit else "'60'"
    if not m:
        raise UnitError(f"{name}: expected {expected}, such as {example}; got {text!r} (text is read, "
                        f"never evaluated)")
    number, unit_text = float(m.group(1)), (m.group(2) or "").strip()
    if not math.isfinite(number):
        raise UnitError(f"{name}: {text!r} is too large for a number")
    ureg = registry()
    if not unit_text:
        return ureg.Quantity(number, unit) if unit else ureg.Quantity(number)
    import pint

    try:
        units = ureg.parse_units(unit_text.replace("^", "**"))
    except (pint.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError, AttributeError,
            TypeError, AssertionError):
        raise UnitError(f"{name}: {unit_text!r} is not a unit (in {text!r}); expected {expected}") from None
    return ureg.Quantity(number, units)


def split_list_text(text: str, name: str) -> list[str]:
    """The items of a comma-separated list (``"1,5,25"``), for parameters that take a list."""
    items = [part.strip() for part in str(text).split(",")]
    if not items or any(not part for part in items):
        raise UnitError(f"{name}: expected a comma-separated list of numbers (such as '1,5,25'); got {text!r}")
    if len(items) > 10_000:
        raise UnitError(f"{name}: at most 10,000 values in one list; got {len(items):,}")
    return items


def _describe(unit: str) -> str:
    ureg = registry()
    dim = ureg.parse_units(unit).dimensionality if unit else ureg.dimensionless.dimensionality
    return f"{unit} ({dim})" if str(dim) != "dimensionless" else "a plain number"


def magnitude(value, unit: str, name: str, *, minimum: float | None = None,
              strictly_positive: bool = False, integer: bool = False):
    """Return ``value`` as a float (or float array) expressed in ``unit``.

    Plain numbers are read as already being in ``unit``. Quantities are converted; one of the
    wrong dimension raises `UnitError` naming the expected dimension. Range checks raise
    `ValueRangeError` saying what is allowed.
    """
    if isinstance(value, (numbers.Number, np.ndarray, list, tuple)) and not _is_quantity(value):
        mag = value
    elif _is_quantity(value):
        import pint

        try:
            mag = value.to(unit).magnitude if unit else value.to("dimensionless").magnitude
        except pint.DimensionalityError:
            raise UnitError(
                f"{name} must be in units of {_describe(unit)}; got {value:~P} "
                f"({value.dimensionality})"
            ) from None
    elif isinstance(value, str):
        parsed = parse_quantity_text(value, unit, name)
        return magnitude(parsed, unit, name, minimum=minimum,
                         strictly_positive=strictly_positive, integer=integer)
    else:
        raise UnitError(f"{name} must be a number or a quantity of {_describe(unit)}; got {type(value).__name__}")
    arr = np.asarray(mag, dtype=float)
    if np.any(np.isnan(arr)):
        raise ValueRangeError(f"{name} must be a number, got NaN")
    if strictly_positive and np.any(arr <= 0):
        raise ValueRangeError(f"{name} must be greater than zero; got {_first_bad(arr, arr <= 0)}")
    if minimum is not None and np.any(arr < minimum):
        raise ValueRangeError(f"{name} must be at least {minimum:g}; got {_first_bad(arr, arr < minimum)}")
    if integer and np.any(arr != np.round(arr)):
        raise ValueRangeError(f"{name} must be a whole number; got {_first_bad(arr, arr != np.round(arr))}")
    return arr if arr.ndim else float(arr)


def _first_bad(arr: np.ndarray, mask: np.ndarray) -> str:
    return f"{np.atleast_1d(arr)[np.atleast_1d(mask)][0]:g}"


def quantity(mag, unit: str):
    """Wrap a float or array as a quantity of this registry (0-d arrays become floats)."""
    if isinstance(mag, np.ndarray) and mag.ndim == 0:
        mag = float(mag)
    return registry().Quantity(mag, unit)
