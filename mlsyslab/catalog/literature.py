"""Figures quoted from the texts the course answers, each with where it was read.

The labs set the source's numbers beside the package's computed ones to show what a text got
wrong; the numbers live in ``mlsyslab/data/literature.toml``, so no lab types them by hand.

>>> from mlsyslab.catalog.literature import quote
>>> quote("nine_million", "prose_multiplier_k8")
7.6
"""

from __future__ import annotations

from ..errors import UnknownNameError
from .reader import read_data

__all__ = ["quote", "where", "source"]

_DATA = read_data("literature.toml")


def _entry(text: str, key: str) -> dict:
    try:
        return _DATA[text]["quotes"][key]
    except KeyError:
        known = ", ".join(f"{t}.{k}" for t, d in _DATA.items() for k in d.get("quotes", {}))
        raise UnknownNameError(f"no quotation {text}.{key} (known: {known})") from None


def quote(text: str, key: str):
    """The value a text states (as the text states it, right or wrong)."""
    return _entry(text, key)["v"]


def where(text: str, key: str) -> str:
    """Where in the text the value was read."""
    return _entry(text, key)["where"]


def source(text: str) -> str:
    """The text's title and date."""
    s = _DATA[text]["source"]
    return f"{s['title']} ({s['date']})"
