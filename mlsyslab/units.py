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


__all__ = ["ureg", "Q_", "registry", "magnitude", "quantity"]  # noqa: F822 - ureg, Q_ are lazy


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
        import pint

        ureg = registry()
        try:
            parsed = ureg.Quantity(value)
        except (pint.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError,
                AttributeError, TypeError):
            raise UnitError(f"{name}: cannot read {value!r} as a quantity of {_describe(unit)}") from None
        if not isinstance(parsed, pint.Quantity) or parsed.unitless:
            parsed = ureg.Quantity(getattr(parsed, "magnitude", parsed), unit)  # "60" means 60 <unit>
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
