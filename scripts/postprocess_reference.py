"""Finish quartodoc's pages for Quarto: a title on every page, no dead anchors.

quartodoc writes each page with its object's name as a level-one heading and no front matter, so
Quarto shows an empty title block, takes the browser-tab title from the file name and indexes
the page for search without a title; and it links class attributes in a summary table to
anchors it never writes. This script, run by `make reference` after `quartodoc build`:

- gives every page front matter with a ``title`` (``serve()``, ``ServingResult``,
  ``engine.serving``) and a ``description`` (the docstring's summary line), and turns the
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


def _title(anchor: str) -> tuple[str, str, object]:
    """(title, summary, object) of the documented object named by its anchor ``mlsyslab.x.y``."""
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
        title = anchor.removeprefix("mlsyslab.")     # as the signatures name it; fits the sidebar
    elif inspect.isclass(obj):
        title = parts[-1]
    else:
        title = f"{parts[-1]}()"
    return title, summary, obj


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
        body = MODULE_POINTER.sub("", body)      # the summary table: each row links the page
    elif m:
        title, summary, obj = _title(m.group("anchor"))
        body = text[:m.start()] + f"[]{{#{m.group('anchor')}}}\n" + text[m.end():]
        body = _document(body, obj, summary, path.parent)
    else:  # pragma: no cover - a page quartodoc did not write
        return
    body = fence_doctests(body)
    ids = set(ANCHOR_ALL(body))
    body = LINK.sub(lambda k: k.group(0) if k.group("target") in ids else f"`{k.group('text')}`", body)
    # the description stands alone under the title: a pointer to "the module docstring" is dropped
    summary = MODULE_POINTER.sub("", summary)
    front = f"---\ntitle: {_yaml(title)}\ndescription: {_yaml(summary)}\n---\n\n"
    path.write_text(front + body, encoding="utf-8")


MODULE_POINTER = re.compile(r"[;,:]?\s*\(?see (?:the )?module(?:'s)? docstring\)?", re.I)
"""A summary's pointer to its module, which a description or an index row does without."""
SIGNATURE = re.compile(r"^```python\n.*?^```\n", re.M | re.S)
PRIVATE_ARGUMENT = re.compile(r"^\s+_\w+=[^\n]*,\n", re.M)


def _document(body: str, obj, summary: str, folder: Path) -> str:
    """A function's or a result's page: its sections generated from the declarations.

    quartodoc's Parameters, Returns and Examples sections are replaced by tables built from the
    signature, the parameter declarations (`mlsyslab.params`) and the docstring; a dataclass
    gets a table of its fields with their units; the summary line, which the page's description
    already shows, is not printed a second time; private arguments leave the signature; "the
    module docstring" links to the module's page.
    """
    import dataclasses

    if inspect.ismodule(obj):
        # quartodoc prints the module's name as a code chip, then its summary, which the title
        # and the description already show
        head = re.match(r"(\[\]\{#[^}]+\}\n)\n?`[\w.]+`\n", body)
        if head:
            rest = body[head.end():].lstrip("\n").split("\n\n", 1)
            if summary and _plain(rest[0]) == _plain(summary):
                rest = rest[1:]
            body = head.group(1) + "\n" + "\n\n".join(rest)
    sig = SIGNATURE.search(body)
    if sig:
        block = PRIVATE_ARGUMENT.sub("", sig.group(0))
        rest = body[sig.end():]
        first = rest.lstrip("\n").split("\n\n", 1)
        if summary and _plain(first[0]) == _plain(summary):
            rest = "\n" + (first[1] if len(first) > 1 else "")
        body = body[:sig.start()] + block + rest
    generated = ""
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        generated = fields_section(obj) + example_section(obj)
    elif callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj):
        generated = parameters_section(obj) + returns_section(obj, folder) + example_section(obj)
    if generated:
        body = SECTION.sub("", body)
        body = body.replace("## Attributes\n", "## Properties\n")
        at = re.search(r"^## ", body, re.M)
        body = (body[:at.start()] + generated + body[at.start():]) if at else body.rstrip() + "\n\n" + generated
    module = getattr(obj, "__module__", None) if not inspect.ismodule(obj) else None
    page = f"{module.removeprefix('mlsyslab.')}.qmd" if module else None
    if page and (folder / page).exists():
        body = re.sub(r"(?:the )?module(?:'s)? docstring", f"[the module's page]({page})", body)
    return body


def _plain(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def ANCHOR_ALL(text: str) -> list[str]:  # noqa: N802 - reads like the regex it wraps
    return [m.group("id") for m in ANCHOR.finditer(text)]


# --- sections generated from the declarations ----------------------------------------------------

SECTION = re.compile(r"^## (?P<name>Parameters|Returns|Examples|Attributes(?= \{))(?: \{[^}\n]*\})?\s*\n(?P<body>.*?)(?=^#{1,3} |\Z)",
                     re.M | re.S)

# What a name means wherever it recurs: the objects a function takes whole (numbers and names are
# declared in mlsyslab.params, with their help) and the fields many results share. A docstring's
# own Parameters or Attributes entry always wins.
COMMON_MEANINGS = {
    "model": "What to serve: a catalog key such as ``\"llama-3-70b\"``, a `Model`, or a whole `Deployment`.",
    "hardware": "The accelerator: a catalog key such as ``\"h100-sxm\"`` or an `Accelerator` (leave out with a Deployment).",
    "slo": "The latency targets, an `SLO`.",
    "efficiency": "Sustained fractions of peak, an `Efficiency`; the calibrated ones by default (`calibrated_efficiency`).",
    "deployment": "A model on a replica of accelerators, a `Deployment`.",
    "seed": "Random seed: the same seed gives the same draw.",
    "feasible": "True where the configuration fits and meets what it must; an infeasible entry is never costed and says why in ``reason``.",
    "reason": "Why an entry is infeasible (None where it is feasible).",
    "ttft_s": "Mean time to first token.",
    "itl_s": "Mean inter-token latency (the time between two output tokens of a request).",
    "e2e_s": "Mean end-to-end latency of a request, to its last token.",
    "gpus": "GPUs in all.",
    "replicas": "Replicas, each a copy of the model on its own GPUs.",
    "load": "One replica's `LoadResult` at its share of the traffic.",
    "policy": "The policy, by name.",
}
"""What a recurring name means (the generator's fallback after the docstring and the declaration)."""


def _rst_to_md(text: str) -> str:
    """Docstring text as one Markdown table cell: one line, single backticks, pipes escaped."""
    text = " ".join(line.strip() for line in text.strip().splitlines())
    return text.replace("``", "`").replace("|", "\\|")


def _docstring_sections(obj) -> dict:
    """The numpy sections of ``obj``'s docstring: {'parameters': {name: (annotation, text)}, ...}."""
    import logging

    import griffe

    out = {"parameters": {}, "returns": [], "examples": ""}
    doc = inspect.getdoc(obj) or ""
    logging.getLogger("griffe").setLevel(logging.ERROR)
    for section in griffe.Docstring(doc, parser="numpy").parse():
        kind = section.kind.value
        if kind in ("parameters", "attributes", "other parameters"):
            for p in section.value:
                ann = p.annotation if isinstance(p.annotation, str) else str(p.annotation or "")
                out["parameters"].setdefault(p.name, (ann, p.description))
        elif kind == "returns":
            out["returns"] = [(str(r.annotation or ""), r.description) for r in section.value]
    m = re.search(r"^Examples\n-{4,}\n(?P<body>.*?)(?=^\w[^\n]*\n-{4,}\n|\Z)", doc, re.M | re.S)
    if m:
        out["examples"] = m.group("body").strip()
    return out


def _declared(fn) -> dict:
    from mlsyslab.params import PARAMETERS

    declared = dict(getattr(fn, "__mlsyslab_params__", {}))
    return {name: (declared.get(name), PARAMETERS.get(name)) for name in inspect.signature(fn).parameters}


def _help(spec) -> str:
    return spec.help[0].upper() + spec.help[1:] + "." if spec is not None and spec.help else ""


def parameter_meaning(name: str, documented: dict, *specs) -> str:
    """What a parameter means: its docstring entry, else a declaration's help, else the common text."""
    if name in documented and documented[name][1].strip():
        return _rst_to_md(documented[name][1])
    for spec in specs:
        if _help(spec):
            return _help(spec)
    return _rst_to_md(COMMON_MEANINGS.get(name, ""))


def field_meaning(name: str, documented: dict) -> str:
    """What a result's field means: its Attributes entry, else the common text, else the declaration's help."""
    from mlsyslab.params import PARAMETERS

    if name in documented and documented[name][1].strip():
        return _rst_to_md(documented[name][1])
    return _rst_to_md(COMMON_MEANINGS.get(name, "")) or _help(PARAMETERS.get(name))


def _default(p: inspect.Parameter) -> str:
    if p.default is inspect.Parameter.empty:
        return "_required_"
    return "`" + repr(p.default).replace("|", "\\|") + "`"


def parameters_section(fn) -> str:
    """A table of every parameter of ``fn``: what it accepts, its default and its meaning."""
    doc = _docstring_sections(fn)["parameters"]
    declared = _declared(fn)
    rows = ["| Parameter | Accepts | Default | Meaning |", "|---|---|---|---|"]
    for name, p in inspect.signature(fn).parameters.items():
        if name.startswith("_") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        own, shared = declared[name]
        spec = own or None
        if spec is not None:
            accepts = spec.describe() + (", or None" if spec.optional else "")
        elif name in doc and doc[name][0]:
            accepts = doc[name][0]
        else:
            ann = p.annotation
            accepts = "" if ann is inspect.Parameter.empty else str(ann).strip("'")
        meaning = parameter_meaning(name, doc, own, shared)
        rows.append(f"| `{name}` | {_rst_to_md(accepts)} | {_default(p)} | {meaning} |")
    if len(rows) == 2:
        return ""
    note = ("Numbers are read in the unit shown; a pint quantity or a string such as `\"60 GB\"` converts "
            "from any unit of the same dimension ([what each parameter accepts](../parameters.qmd)).")
    return "## Parameters {.doc-section .doc-section-parameters}\n\n" + "\n".join(rows) + "\n\n" + note + "\n\n"


def _page_of(name: str, folder: Path) -> str | None:
    hits = sorted(folder.glob(f"*.{name}.qmd"))
    return hits[0].name if hits else None


def returns_section(fn, folder: Path) -> str:
    """What ``fn`` returns: its annotation, linked to the class's page, and the docstring's words."""
    returned = inspect.signature(fn).return_annotation
    documented = _docstring_sections(fn)["returns"]
    text = documented[0][1] if documented and documented[0][1] else ""
    if returned is inspect.Signature.empty:
        returned = documented[0][0] if documented else ""
    returned = str(returned).strip("'")
    if not returned and not text:
        return ""
    page = _page_of(returned, folder) if returned.isidentifier() else None
    kind = f"[`{returned}`]({page})" if page else (f"`{returned}`" if returned else "")
    if not text and page:
        cls = getattr(import_module("mlsyslab"), returned, None)
        text = (inspect.getdoc(cls) or "").strip().splitlines()[0] if cls is not None else ""
    line = f"{kind}: {_rst_to_md(text)}" if kind and text else (kind or _rst_to_md(text))
    return "## Returns {.doc-section .doc-section-returns}\n\n" + line + "\n\n"


def fields_section(cls) -> str:
    """A table of a frozen dataclass's fields: type, unit and meaning."""
    import dataclasses

    from mlsyslab.params import PARAMETERS
    from mlsyslab.report import field_unit

    doc = _docstring_sections(cls)["parameters"]
    rows = ["| Field | Type | Unit | Meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name.startswith("_"):
            continue
        meaning = field_meaning(f.name, doc)
        unit = field_unit(f.name) or (PARAMETERS[f.name].unit if f.name in PARAMETERS else "")
        ann = str(f.type).strip("'").replace("|", "or")
        rows.append(f"| `{f.name}` | `{ann}` | {unit} | {meaning} |")
    return "## Fields {.doc-section .doc-section-fields}\n\n" + "\n".join(rows) + "\n\n"


def _doctest_blocks(text: str) -> list[str]:
    """A doctest as Markdown: its code (prompts removed) and its printed output, in fences."""
    code, output, blocks = [], [], []

    def flush():
        if code:
            blocks.append("```python\n" + "\n".join(code) + "\n```")
        if output:
            blocks.append("```\n" + "\n".join(output) + "\n```")
        code.clear()
        output.clear()

    for line in text.splitlines():
        if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
            if output:
                flush()
            code.append(line[4:])
        elif line.strip():
            output.append(line)
        else:
            flush()
    flush()
    return blocks


def example_section(obj) -> str:
    """The docstring's doctest as code and its printed output (the tests run it)."""
    text = _docstring_sections(obj)["examples"]
    if not text:
        return ""
    blocks = _doctest_blocks(text)
    blocks[0] = blocks[0].replace("```python\n", "```python\nimport mlsyslab as ml\n\n", 1)
    return "## Example {.doc-section .doc-section-example}\n\n" + "\n\n".join(blocks) + "\n\n"


def fence_doctests(body: str) -> str:
    """A doctest in prose (a module's docstring) as code, not as Markdown's nested quotes."""
    out, run, fenced = [], [], False
    for line in body.split("\n") + [""]:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and (run or line.startswith(">>> ")) and line.strip():
            run.append(line)
            continue
        if run:
            out += ["\n\n".join(_doctest_blocks("\n".join(run))), ""]
            run = []
        out.append(line)
    return "\n".join(out[:-1])

def main(folder: str = "reference") -> None:
    for path in sorted(Path(folder).glob("*.qmd")):
        process(path)


if __name__ == "__main__":
    main(*sys.argv[1:])
