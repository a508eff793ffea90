"""Shared machinery of the two catalogs: reading TOML data files and forgiving name lookup."""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Generic, TypeVar

from ..errors import CatalogError, UnknownNameError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """Where a catalog value comes from, and when it was read."""

    id: str
    title: str
    url: str
    date: str

    def __str__(self) -> str:
        where = f" <{self.url}>" if self.url else ""
        return f"{self.title}{where} ({self.date})"


def normalise(name: str) -> str:
    """Fold case and separators: 'Llama3_8B', 'llama-3-8b' and 'LLAMA 3 8B' all become 'llama38b'.

    Dots survive between digits so that 'llama-3.1-405b' stays distinct from 'llama-31-405b'.
    """
    s = name.strip().lower()
    s = re.sub(r"(?<=\d)\.(?=\d)", "p", s)
    return re.sub(r"[^a-z0-9]", "", s)


def family_and_size(name: str) -> tuple[str, float | None]:
    """Split ``'Llama-2-70B'`` into its family ``'llama2'`` and size ``70.0`` (billions).

    The size is the last ``<number>b`` token (``8x7b`` counts 7); names without one give
    ``(normalised name, None)``.
    """
    tokens = re.split(r"[-_ /]+", name.strip().lower())
    for i in range(len(tokens) - 1, -1, -1):
        m = re.fullmatch(r"(?:\d+x)?(\d+(?:\.\d+)?)b", tokens[i])
        if m:
            return normalise("".join(tokens[:i])), float(m.group(1))
    return normalise(name), None


def read_data(filename: str) -> dict:
    text = resources.files("mlsyslab.data").joinpath(filename).read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{filename}: {exc}") from None


def read_sources(data: Mapping, filename: str) -> dict[str, Source]:
    sources = {}
    for sid, entry in data.get("sources", {}).items():
        for key in ("title", "url", "date"):
            if key not in entry:
                raise CatalogError(f"{filename}: source {sid!r} has no {key!r}")
        if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", entry["date"]):
            raise CatalogError(f"{filename}: source {sid!r} date {entry['date']!r} is not YYYY-MM")
        sources[sid] = Source(sid, entry["title"], entry["url"], entry["date"])
    return sources


class Catalog(Generic[T]):
    """A read-only mapping from canonical key to entry, with forgiving lookup.

    ``catalog["Llama3_8B"]`` finds ``llama-3-8b``; an unknown name raises
    `UnknownNameError` listing the closest keys.
    """

    def __init__(self, kind: str, entries: dict[str, T], aliases: dict[str, str]):
        self.kind = kind
        self._entries = entries
        self._index: dict[str, str] = {}
        for key in entries:
            self._index[normalise(key)] = key
        for alias, key in aliases.items():
            self._index.setdefault(normalise(alias), key)

    def keys(self) -> list[str]:
        return list(self._entries)

    def values(self) -> list[T]:
        return list(self._entries.values())

    def items(self):
        return self._entries.items()

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalise(name) in self._index

    def key(self, name: str) -> str:
        """The canonical key for ``name`` (raises `UnknownNameError`)."""
        if not isinstance(name, str):
            raise UnknownNameError(f"a {self.kind} name must be a string; got {type(name).__name__}")
        found = self._index.get(normalise(name))
        if found is not None:
            return found
        suggestions = self.suggest(name)
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self._entries)})"
        )

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The closest keys: same family first (``llama-2``), then the nearest size, then spelling."""
        fam, size = family_and_size(name)
        target = normalise(name)
        scored = []
        for alias, key in self._index.items():
            kfam, ksize = family_and_size(key)
            score = difflib.SequenceMatcher(None, target, alias).ratio()
            if fam and fam == kfam:
                score += 1.0
                if size and ksize:
                    score -= 0.3 * abs(math.log(size / ksize))
            scored.append((score, key))
        scored.sort(key=lambda x: -x[0])
        out = []
        for score, key in scored:
            if score < 0.5 or len(out) >= n:
                break
            if key not in out:
                out.append(key)
        return out

    def __getitem__(self, name: str) -> T:
        return self._entries[self.key(name)]


def resolve(value, catalog: Catalog[T], cls: type, build: Callable | None = None) -> T:
    """Accept either an object of ``cls`` or a catalog name."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        return catalog[value]
    raise UnknownNameError(
        f"expected a {catalog.kind} name or a {cls.__name__} object; got {type(value).__name__}"
    )
