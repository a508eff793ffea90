"""Primary references: the papers and books each lab's models come from.

A lab's reading list is data (``mlsyslab/data/references.toml``: title, authors, venue, year, a
stable address, the labs that rest on the work and what in them it is the source of), so that a
lab, the site and an instructor's syllabus cite the same works the same way.

>>> [r.key for r in references(lab=5)][:3]
['orca', 'paged_attention', 'self_consistency']
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..catalog.reader import read_data
from ..errors import UnknownNameError, ValueRangeError

__all__ = ["Reference", "references", "reading_list", "LABS"]

LABS = range(1, 10)
"""The labs a reference may name."""


@dataclass(frozen=True)
class Reference:
    """One primary reference.

    Attributes
    ----------
    key : str
        Its name in ``references.toml``.
    title : str
        The work's title, as it gives it.
    authors : str
        Its authors, as it lists them.
    venue : str
        Where it appeared (conference, journal, publisher).
    year : int
        Year of publication.
    url : str
        A stable address (DOI, arXiv, proceedings page).
    labs : tuple of int
        The labs that rest on it.
    used_for : str
        What in those labs it is the source of.
    """

    key: str
    title: str
    authors: str
    venue: str
    year: int
    url: str
    labs: tuple
    used_for: str

    def markdown(self) -> str:
        """One line of a reading list: authors, linked title, venue and year, and why it is there."""
        where = self.venue if str(self.year) in self.venue else f"{self.venue}, {self.year}"
        return f"- {self.authors}, [*{self.title}*]({self.url}), {where}: {self.used_for}."


def _load() -> dict[str, Reference]:
    out = {}
    for key, raw in read_data("references.toml").items():
        missing = {"title", "authors", "venue", "year", "url", "labs", "for"} - set(raw)
        if missing:
            raise ValueRangeError(f"references.toml: {key!r} lacks {', '.join(sorted(missing))}")
        out[key] = Reference(key=key, title=raw["title"], authors=raw["authors"], venue=raw["venue"],
                             year=int(raw["year"]), url=raw["url"], labs=tuple(int(n) for n in raw["labs"]),
                             used_for=raw["for"])
    return out


_REFERENCES = _load()


def references(lab: int | None = None, key: str | None = None) -> list[Reference]:
    """The references of one lab (``lab=5``), one by name (``key="orca"``), or all, in file order.

    Parameters
    ----------
    lab : int, optional
        A lab number, 1 to 9.
    key : str, optional
        A reference's name in ``references.toml``.

    Returns
    -------
    list of Reference

    Examples
    --------
    >>> from mlsyslab.course import references
    >>> references(key="orca")[0].year
    2022
    """
    if key is not None:
        if key not in _REFERENCES:
            close = difflib.get_close_matches(key, list(_REFERENCES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"no reference {key!r}{hint}")
        return [_REFERENCES[key]]
    if lab is None:
        return list(_REFERENCES.values())
    if isinstance(lab, bool) or not isinstance(lab, int) or lab not in LABS:
        raise ValueRangeError(f"lab must be a whole number from {LABS[0]} to {LABS[-1]}; got {lab!r}")
    return [r for r in _REFERENCES.values() if lab in r.labs]


def reading_list(lab: int) -> str:
    """The lab's primary references as a Markdown list (for ``say`` in a notebook).

    Parameters
    ----------
    lab : int
        A lab number, 1 to 9.

    Returns
    -------
    str
        One Markdown line per reference: authors, the linked title, venue and year, and what in
        the lab it is the source of.

    Examples
    --------
    >>> from mlsyslab.course import reading_list
    >>> print(reading_list(6).splitlines()[0][:60])
    - S. Williams, A. Waterman, D. Patterson, [*Roofline: An Ins
    """
    return "\n".join(r.markdown() for r in references(lab=lab))
