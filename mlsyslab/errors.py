"""Exception classes. The CLI turns each into one line on stderr and exit status 2."""

from __future__ import annotations

__all__ = [
    "MlsyslabError",
    "UnknownNameError",
    "UnitError",
    "ValueRangeError",
    "InfeasibleError",
    "CatalogError",
    "EngineError",
]


class MlsyslabError(ValueError):
    """Base class of every error this package raises on purpose."""


class UnknownNameError(MlsyslabError, KeyError):
    """A catalog lookup found no entry; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0] if self.args else ""


class UnitError(MlsyslabError):
    """A quantity has the wrong dimension, or a string is not a quantity."""


class ValueRangeError(MlsyslabError):
    """A value is outside what the model allows (negative batch, zero bandwidth, ...)."""


class InfeasibleError(MlsyslabError):
    """A configuration does not fit in memory (or meets no SLO) and cannot be costed."""


class CatalogError(MlsyslabError):
    """A catalog data file is malformed: a missing field, a missing source, a bad value."""


class EngineError(MlsyslabError):
    """A real serving engine is not installed, did not start, or a measurement against it failed."""
