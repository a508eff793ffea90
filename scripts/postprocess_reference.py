"""Finish quartodoc's pages for Quarto: a title on every page, no dead anchors.

quartodoc writes each page with its object's name as a level-one heading and no front matter, so
Quarto shows an empty title block, takes the browser-tab title from the file name and indexes
the page for search without a title; and it links class attributes in a summary table to
anchors it never writes. This script, run by `make reference` after `quartodoc build`:

- gives every page front matter with a ``title`` (``serve()``, ``ServingResult``,
  ``mlsyslab.engine.serving``) and a ``description`` (the docstring's summary line), and turns the
  heading into an anchor so links to it still land;
- unlinks in-page links whose anchor the page does not define (they become code spans).

Usage: python scripts/postprocess_reference.py [reference-dir]
"""

from __future__ import annotations

import inspect
import re
import sys
from importlib import import_module
from pathlib import Path

HEADING = re.compile(r"^# (?P<name>[^{\n]+?) \{ #(?P<anchor>[^ }]+) \}\s*$", re.M)
ANCHOR = re.compile(r"\{[^}]*#(?P<id>[A-Za-z0-9_.:-]+)[^}]*\}")
LINK = re.compile(r"\[(?P<text>[^\]]+)\]\(#(?P<target>[^)]+)\)")


def _title(anchor: str) -> tuple[str, str]:
    """(title, summary) of the documented object named by its anchor ``mlsyslab.x.y``."""
    parts = anchor.split(".")
    # the longest importable prefix is the module: a layer re-exports a function under its
    # module's name (``mlsyslab.engine.load`` the attribute is the function ``load``)
    for n in range(len(parts), 0, -1):
        try:
            module = import_module(".".join(parts[:n]))
            break
        except ImportError:
            continue
    obj = module
    for p in parts[n:]:
        obj = getattr(obj, p)
    doc = inspect.getdoc(obj) or ""
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    if obj is module:
        title = anchor
    elif inspect.isclass(obj):
        title = parts[-1]
    else:
        title = f"{parts[-1]}()"
    return title, summary


def _yaml(text: str) -> str:
    text = text.replace("``", "").replace("`", "")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def process(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        return                                   # already processed
    m = HEADING.search(text)
    if path.name == "index.qmd":
        title, summary = "API reference", "Every public model, result and helper of mlsyslab, with its equations and parameters."
        body = re.sub(r"^# API reference \{[^}]*\}\s*\n", "", text, count=1)
    elif m:
        title, summary = _title(m.group("anchor"))
        body = text[:m.start()] + f"[]{{#{m.group('anchor')}}}\n" + text[m.end():]
    else:  # pragma: no cover - a page quartodoc did not write
        return
    ids = set(ANCHOR_ALL(body))
    body = LINK.sub(lambda k: k.group(0) if k.group("target") in ids else f"`{k.group('text')}`", body)
    front = f"---\ntitle: {_yaml(title)}\ndescription: {_yaml(summary)}\n---\n\n"
    path.write_text(front + body, encoding="utf-8")


def ANCHOR_ALL(text: str) -> list[str]:  # noqa: N802 - reads like the regex it wraps
    return [m.group("id") for m in ANCHOR.finditer(text)]


def main(folder: str = "reference") -> None:
    for path in sorted(Path(folder).glob("*.qmd")):
        process(path)


if __name__ == "__main__":
    main(*sys.argv[1:])
