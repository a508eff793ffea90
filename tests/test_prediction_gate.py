"""The prediction gate: under "Run All" with every prediction left blank, no output before a
reveal shows its answer.

Each student copy in ``labs/`` is executed top to bottom in a fresh kernel, as a student who
presses "Run All" without predicting would run it (this is also the test that every cell of
every student copy runs without an error). A first cell, added only here, records the answer
behind every `reveal` and `choose` as the lab computes it, and makes each figure's text (title,
axis labels, tick labels, legend, annotations) part of its output. Then, for every reveal, all
the output shown up to and including the reveal's cell (text, Markdown, HTML tables, figure
text) is searched for the answer in each format the labs print numbers in: 3 and 4
significant figures, with or without thousands separators, a whole number as written, and a
fraction as a percentage. An exercise's answer is blank in a student copy (the student computes
it); its value is read from the reveal line stored in the solved notebook.

Limits, stated: a number is searched only where its written form has at least two significant
digits (a "2" would match every "2,000-token prompt"), and not at 2 significant figures (a "15"
would match every "15%" of an unrelated table); a derived answer (a ratio of two numbers shown
separately) is not searched, so each lab puts its predictions before the cells that show the
parts, and that order is reviewed by hand; a categorical answer (`choose`) is
searched as a bold phrase or a "... wins/is cheapest" sentence, since its options legitimately
appear in the question; and a picture's meaning (the tallest bar) is not read, only its text.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import nbformat
import pytest

from mlsyslab.course.lab import fmt

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))

HARNESS = r'''
import json as _json
import matplotlib.text as _mtext
from matplotlib.figure import Figure as _Figure
import mlsyslab.course as _course
import mlsyslab.course.lab as _lab

_GATE_LEDGER = []
_GATE_CELL = {"id": None}

def _note_cell(info):
    _GATE_CELL["id"] = getattr(info, "cell_id", None) or info.raw_cell

get_ipython().events.register("pre_run_cell", _note_cell)

def _figure_text(fig, p, cycle):
    texts = [t.get_text() for t in fig.findobj(_mtext.Text) if t.get_visible()]
    p.text("\n".join(t for t in texts if t and t.strip()))

get_ipython().display_formatter.formatters["text/plain"].for_type(_Figure, _figure_text)

def _recording(fn, kind):
    def wrapped(guess, answer, **kw):
        out = fn(guess, answer, **kw)
        value = getattr(out, "computed", None) if kind == "reveal" else getattr(out, "answer", "")
        if kind == "choose" and answer is not Ellipsis and answer is not None:
            value = str(answer)
        _GATE_LEDGER.append({"kind": kind, "cell": _GATE_CELL["id"], "what": out.what,
                             "value": value, "unit": getattr(out, "unit", "")})
        return out
    return wrapped

_course.reveal = _lab.reveal = _recording(_lab.reveal, "reveal")
_course.choose = _lab.choose = _recording(_lab.choose, "choose")
'''
DUMP = "print('GATE-LEDGER ' + _json.dumps(_GATE_LEDGER, default=float))"


def _texts(cell) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            data = o.get("data", {})
            for mime in ("text/markdown", "text/plain", "text/latex"):
                if mime in data:
                    out.append(data[mime])
            if "text/html" in data:
                out.append(re.sub(r"<[^>]+>", " ", data["text/html"]))
    return out


def _significant(s: str) -> int:
    return len(re.sub(r"\D", "", s).lstrip("0"))


def number_forms(value: float, unit: str = "") -> set[str]:
    """The ways a lab writes ``value``: 3 or 4 significant figures with or without separators, a
    whole number as written, a fraction as a percentage (2 or 3 figures)."""
    forms = set()
    for digits in (3, 4):
        s = fmt(value, digits=digits)
        forms |= {s, s.replace(",", "")}
    if float(value).is_integer():
        forms |= {f"{int(value):,}", str(int(value))}
    plain = {f for f in forms if _significant(f.rstrip("0") if "." in f and f[-1].isdigit() else f) >= 2}
    if not unit and 0 < abs(value) < 1:          # a fraction is also printed as a percentage
        for digits in (2, 3):
            p = fmt(abs(value) * 100, digits=digits)
            if _significant(p) >= 2:
                plain |= {p + "%", p + " %"}
    return plain


def _found(form: str, text: str) -> bool:
    tail = r"(?![\d]|[.,]\d)" + ("" if form.endswith(("%", "x")) else r"(?!\s?%)")
    return re.search(r"(?<![\d.,])" + re.escape(form) + tail, text) is not None


def _solution_answers() -> dict[str, list[str]]:
    """cell id -> the answers printed by the reveal lines of that cell in the solved notebook."""
    answers: dict[str, list[str]] = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for c in nb.cells:
            for t in _texts(c):
                found = re.findall(r"(?:the model (?:computes|says)|the measurement shows) \*\*(.+?)\*\*", t)
                if found:
                    answers.setdefault(c.get("id"), []).extend(found)
    return answers


def _first_number(text: str) -> float | None:
    m = re.search(r"-?[\d,]*\.?\d+", text.replace("\\$", ""))
    return float(m.group(0).replace(",", "")) if m else None


def run_blank(path: Path, tmp: Path):
    """Execute a student copy as it is (every prediction blank); return the notebook and ledger."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(HARNESS, id="gate-harness"))
    nb.cells.append(nbformat.v4.new_code_cell(DUMP, id="gate-dump"))
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [(i, o.ename, o.evalue) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.output_type == "error"]
    ledger_text = "".join(_texts(nb.cells[-1]))
    ledger = json.loads(ledger_text.split("GATE-LEDGER ", 1)[1]) if "GATE-LEDGER " in ledger_text else []
    return nb, ledger, errors


def leaks(nb, ledger, solution_answers) -> list[str]:
    """Every reveal whose answer appears in output shown up to its own cell."""
    by_id = {c.get("id"): i for i, c in enumerate(nb.cells)}
    by_id.update({c.source: i for i, c in enumerate(nb.cells) if c.cell_type == "code"})
    texts = [_texts(c) for c in nb.cells]
    used: dict[str, int] = {}
    found = []
    for entry in ledger:
        idx = by_id.get(entry["cell"])
        assert idx is not None, f"a reveal ran in a cell the notebook does not have ({entry})"
        cell_id = nb.cells[idx].get("id")
        k = used.get(cell_id, 0)
        used[cell_id] = k + 1
        printed = solution_answers.get(cell_id, [])
        shown = "\n".join(t for cell_texts in texts[1:idx + 1] for t in cell_texts)
        if entry["kind"] == "choose":
            answer = entry["value"] or (printed[k] if k < len(printed) else "")
            if not answer:
                continue
            a = re.escape(answer)
            pattern = (rf"\*\*{a}\*\*|{a}\W{{0,3}} (?:wins|is (?:the )?(?:cheapest|fastest|best|cheaper))"
                       rf"|(?:winner|cheapest|best|fewest)\W{{0,3}}(?:is |: ){a}")
            if re.search(pattern, shown, re.I):
                found.append(f"{entry['what']}: the choice {answer!r} is shown before its reveal "
                             f"(cell {idx})")
            continue
        value = entry["value"]
        if value is None or not math.isfinite(value):
            value = _first_number(printed[k]) if k < len(printed) else None
        if value is None or not math.isfinite(value) or value == 0:
            continue
        for form in sorted(number_forms(value, entry["unit"]), key=len, reverse=True):
            if _found(form, shown):
                where = next(i for i in range(1, idx + 1) if any(_found(form, t) for t in texts[i]))
                line = next(t for t in texts[where] if _found(form, t))
                at = re.search(r"(?<![\d.,])" + re.escape(form), line).start()
                found.append(f"{entry['what']} = {form}: shown in cell {where - 1} before its reveal in cell "
                             f"{idx - 1}: ...{line[max(0, at - 60):at + 40]!r}...")
                break
    return found


def test_number_forms_cover_what_the_labs_print():
    assert {"70.7", "70.66"} <= number_forms(70.6612, "ms") and "71" not in number_forms(70.6612, "ms")
    assert "13" in number_forms(13, "") and "2" not in number_forms(2, "")
    assert {"60%", "60.2%"} <= number_forms(0.6021, "")
    assert _found("13", "fits 13 sequences") and not _found("13", "fits 213 sequences")
    assert not _found("70.7", "70.71 ms") and _found("3,428", "says 3,428 tokens/s")
    assert not _found("15.3", "a 15.3% error") and _found("15%", "saves 15%")


@pytest.mark.parametrize("path", LABS, ids=[p.stem for p in LABS])
def test_run_all_with_blank_predictions_never_shows_an_answer_before_its_reveal(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MLSYSLAB_STATIC", "1")
    nb, ledger, errors = run_blank(path, tmp_path)
    assert not errors, f"{path.name}: cells raise under Run All: {errors}"
    assert ledger, f"{path.name}: no reveal ran"
    problems = leaks(nb, ledger, _solution_answers())
    assert not problems, f"{path.name}: answers shown before their reveal:\n  " + "\n  ".join(problems)


def test_the_gate_test_finds_a_leak_and_passes_the_gated_version(tmp_path, monkeypatch):
    """The check can fail: an answer printed before its reveal is found; behind the gate it is not."""
    monkeypatch.setenv("MLSYSLAB_STATIC", "1")
    head = ["import mlsyslab as ml\nfrom mlsyslab.course import predicted, reveal", "my_itl_ms = ..."]
    leaky = head + ["r = ml.serve('llama-3-8b', 'h100-sxm')\nprint(f'ITL {r.itl_s * 1e3:.3g} ms')",
                    "display(reveal(my_itl_ms, r.itl, unit='ms', what='ITL'))"]
    gated = head + ["r = ml.serve('llama-3-8b', 'h100-sxm')",
                    "display(reveal(my_itl_ms, r.itl, unit='ms', what='ITL'))\n"
                    "if predicted(my_itl_ms):\n    print(f'ITL {r.itl_s * 1e3:.3g} ms')"]
    found = {}
    for name, cells in (("leaky", leaky), ("gated", gated)):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        ran, ledger, errors = run_blank(path, tmp_path)
        assert not errors and len(ledger) == 1
        found[name] = leaks(ran, ledger, {})
    assert len(found["leaky"]) == 1 and "ITL" in found["leaky"][0]
    assert found["gated"] == []
