"""Generate the student notebooks in labs/ from the solved notebooks in solutions/.

solutions/ is the one source of truth. Solutions are marked by cell tags, not by markers in the
text, so the site renders the solved notebook as a clean worked tutorial. For each notebook:
- a code cell tagged ``solution`` becomes ``...`` (a line ``name = value`` keeps ``name = ...``
  so later cells still run), with a TODO comment;
- a code cell tagged ``prediction`` (a sample guess) is blanked the same way, keeping its first
  comment lines, which say what to predict and in which unit;
- a Markdown cell tagged ``solution`` becomes a prompt for the student's own answer;
- cells tagged ``solution-only`` are dropped;
- the raw front-matter cell (for Quarto) becomes the lab's title heading, which is what a
  student sees first in JupyterLab;
- outputs and execution counts are cleared; the kernelspec is normalised to python3.

labs/ is generated and tested; students work in my-labs/ (`make lab` copies each lab there once,
and no target overwrites it). If a notebook in labs/ holds someone's work (it has outputs or
execution counts), it is saved into my-labs/ before labs/ is regenerated, never lost.

Usage: python scripts/make_labs.py [--check]   (--check: exit 1 if labs/ is out of date)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")
WRITTEN_PROMPT = ("**Your explanation.** *Write your answer here: the mechanism behind the number you computed, in "
                  "two or three sentences, with the numbers from this notebook that support it.*")
"""What a student sees where a worked answer was (the rubric grades the mechanism and its numbers)."""


def _blank_code(body: str) -> str:
    names = [m.group(1) for line in body.splitlines()
             if (m := ASSIGN.match(line)) and not line.startswith((" ", "\t"))]
    if names:
        return "\n".join(f"{n} = ...  # TODO: your {'prediction' if n.startswith('my_') else 'answer'}"
                         for n in dict.fromkeys(names))
    return "...  # TODO: your code here"


def _title(raw: str) -> str | None:
    m = re.search(r"^title:\s*(.+)$", raw, re.M)
    return m.group(1).strip().strip('"') if m else None


def derived_notebook(nb):
    """An empty notebook with ``nb``'s metadata and the python3 kernelspec every copy uses."""
    out = nbformat.v4.new_notebook(metadata=dict(nb.metadata))
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return out


def kept_cells(nb):
    """Yield ``(index, tags, cell copy)`` for every cell a copy of the lab keeps: the raw front
    matter becomes the title heading, ``solution-only`` cells are dropped."""
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "solution-only" in tags:
            continue
        if i == 0 and cell.cell_type == "raw":
            title = _title(cell.source)
            if title:
                yield i, ["title"], nbformat.v4.new_markdown_cell(f"# {title}", id=cell.get("id", "title"))
            continue
        yield i, tags, nbformat.from_dict(dict(cell))


def student_version(nb):
    out = derived_notebook(nb)
    for _, tags, c in kept_cells(nb):
        if c.cell_type == "code":
            if "solution" in tags or "prediction" in tags:
                lines = [line for line in c.source.splitlines() if not line.startswith("#|")]
                keep = []
                while "prediction" in tags and lines and lines[0].startswith("# "):
                    keep.append(lines.pop(0))
                c.source = "\n".join(keep + [_blank_code("\n".join(lines))])
            c.outputs = []
            c.execution_count = None
        elif c.cell_type == "markdown" and "solution" in tags:
            c.source = WRITTEN_PROMPT
        out.cells.append(c)
    nbformat.validator.normalize(out)
    return out


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def _holds_work(path: Path) -> bool:
    """Whether a notebook in labs/ has been run and saved (outputs or execution counts)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: keep it rather than guess
        return True
    return any(c.cell_type == "code" and (c.get("outputs") or c.get("execution_count")) for c in nb.cells)


def save_work(dst: Path) -> Path:
    """Move a labs/ notebook that holds work into my-labs/, under a name that takes nothing's place."""
    import shutil
    import time

    work = ROOT / "my-labs"
    work.mkdir(exist_ok=True)
    target = work / dst.name
    if target.exists():
        target = work / f"{dst.stem}.from-labs-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
    shutil.copyfile(dst, target)
    return target


def main(check: bool = False) -> int:
    stale = []
    (ROOT / "labs").mkdir(exist_ok=True)
    for src in sorted((ROOT / "solutions").glob("*.ipynb")):
        text = render(student_version(nbformat.read(src, as_version=4)))
        dst = ROOT / "labs" / src.name
        if check:
            if not dst.exists() or dst.read_text(encoding="utf-8") != text:
                stale.append(dst.name)
        else:
            if dst.exists() and dst.read_text(encoding="utf-8") != text and _holds_work(dst):
                kept = save_work(dst)
                print(f"labs/{dst.name} held work: saved as {kept.relative_to(ROOT)} before regenerating")
            dst.write_text(text, encoding="utf-8")
            print(f"labs/{dst.name} <- solutions/{src.name}")
    extra = {p.name for p in (ROOT / "labs").glob("*.ipynb")} - {p.name for p in (ROOT / "solutions").glob("*.ipynb")}
    stale += sorted(f"{n} (no solution)" for n in extra)
    if stale:
        print("labs/ is out of date with solutions/: " + ", ".join(stale) + "; run `make labs` (it regenerates "
              "labs/; a notebook there that holds work is saved into my-labs/ first, and my-labs/, where "
              "`make lab` puts your own copies, is never overwritten)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
