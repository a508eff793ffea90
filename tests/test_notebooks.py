"""Structure of the course notebooks: one source of truth, and what every lab must contain.

(nbval re-executes the notebooks and compares outputs: see `make test`.)
"""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
LABS = ["01_two_phases", "02_kv_wall", "03_nine_million_question", "04_routing", "05_under_load", "06_cost_playbook", "07_split_and_spread", "08_capstone", "09_measure_then_model"]
sys.path.insert(0, str(ROOT / "scripts"))

import make_labs  # noqa: E402


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def test_labs_are_generated_from_solutions_and_up_to_date():
    assert make_labs.main(check=True) == 0, "labs/ is out of date: run `make labs`"


def test_the_labs_exist():
    assert {p.stem for p in SOLUTIONS} == set(LABS)


@pytest.fixture(params=[p.name for p in SOLUTIONS] or ["none"])
def pair(request):
    if request.param == "none":
        pytest.skip("no notebooks yet")
    sol = nbformat.read(ROOT / "solutions" / request.param, as_version=4)
    lab = nbformat.read(ROOT / "labs" / request.param, as_version=4)
    return request.param, sol, lab


def test_student_copies_are_clean_and_hide_the_solutions(pair):
    _, sol, lab = pair
    solutions = [c for c in sol.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) >= 4
    answers = {_source(c) for c in solutions}
    for cell in lab.cells:
        assert _source(cell) not in answers, "a solution reached the student copy"
        assert "solution" not in cell.metadata.get("tags", []) or "TODO" in _source(cell) \
            or "Write your answer" in _source(cell)
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
    assert lab.metadata.kernelspec.name == "python3"
    # the student copy opens on its title, not on Quarto's front matter
    assert lab.cells[0].cell_type == "markdown" and _source(lab.cells[0]).startswith("# ")


def test_solutions_are_stored_executed_without_errors(pair):
    _, sol, _ = pair
    code = [c for c in sol.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", _source(c)[:80]
            text = json.dumps(out.get("data", {})) + out.get("text", "")
            assert not re.search(r"0x[0-9a-f]{8,}", text), "a memory address leaked into an output"
            assert "Warning" not in out.get("text", ""), "stderr warnings leak into the notebook"


def test_the_site_source_has_no_solution_markers_and_one_title(pair):
    _, sol, _ = pair
    for cell in sol.cells:
        text = _source(cell)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        if cell.cell_type == "markdown":
            assert not re.search(r"^# ", text, re.M), "the title comes from the front matter"


WIDTH = 92   # characters of monospaced output that fit the site's text column


def test_outputs_fit_the_site_column(pair):
    name, sol, _ = pair
    for i, cell in enumerate(sol.cells):
        for out in getattr(cell, "outputs", []):
            data = out.get("data", {})
            texts = [out.get("text", "")] if out.output_type == "stream" else []
            if "text/plain" in data and not set(data) & {"image/png", "text/markdown", "text/html"}:
                texts.append(data["text/plain"])
            for text in texts:
                for line in text.splitlines():
                    assert len(line) <= WIDTH, f"{name} cell {i}: a {len(line)}-character output line"


def test_every_lab_has_the_parts_of_a_lesson(pair):
    name, sol, _ = pair
    front = sol.cells[0]
    assert front.cell_type == "raw" and re.search(r"^title: .+", _source(front), re.M)
    text = "\n".join(_source(c) for c in sol.cells)
    for heading in ("You will learn", "Prerequisites", "## Background", "Your turn", "## Key takeaways"):
        assert heading in text, f"{name}: no '{heading}'"
    assert text.count("reveal(") >= 3, f"{name}: needs at least three predict-then-compute steps"
    assert "explore(" in text, f"{name}: needs an explorer"
    figures = sum("image/png" in o.get("data", {}) for c in sol.cells if c.cell_type == "code" for o in c.outputs)
    assert figures >= 2, f"{name}: needs at least two figures"
    assert any("headline" in c.metadata.get("tags", []) for c in sol.cells)
    assert sum("Exercise" in _source(c) for c in sol.cells if c.cell_type == "markdown") >= 2


def test_no_computed_number_is_typed_into_takeaways(pair):
    # the takeaways are rendered from code: the markdown cell that introduces them has no digits
    name, sol, _ = pair
    idx = next(i for i, c in enumerate(sol.cells) if "## Key takeaways" in _source(c))
    after = sol.cells[idx + 1]
    assert after.cell_type == "code" and "say(" in _source(after)
    prose = _source(sol.cells[idx]).split("## Key takeaways", 1)[1]
    assert not re.search(r"\d", prose), f"{name}: digits typed after 'Key takeaways'"


def test_a_student_copy_runs_live_with_widgets_and_unanswered_predictions(monkeypatch):
    """What a student gets in JupyterLab: live explorers, and '...' predictions that never raise."""
    from nbclient import NotebookClient

    monkeypatch.setenv("MLSYSLAB_STATIC", "0")
    nb = nbformat.read(ROOT / "labs" / "01_two_phases.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "labs")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    asks = [o for o in outputs if "write your prediction first" in str(o.get("data", {}))]
    assert len(asks) >= 3


def test_lab_times_are_stated_once_and_agree():
    # every header states a range inside the one README and the landing page promise
    promise = re.search(r"Each takes (\d+) to (\d+) minutes", (ROOT / "README.md").read_text()).groups()
    index = (ROOT / "index.qmd").read_text()
    assert f"{promise[0]} to {promise[1]} minutes" in index
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        header = next(_source(c) for c in nb.cells if "**Time:**" in _source(c))
        lo, hi = map(int, re.search(r"\*\*Time:\*\* (\d+)-(\d+) minutes", header).groups())
        assert int(promise[0]) <= lo <= hi <= int(promise[1]), path.name


# figures a lab's prose may type: the inputs of a question, never a result. Anything else that
# looks like a result (money, a percentage, a multiple, a quantity with a unit) must be rendered.
INPUTS = {
    "01_two_phases": {"100%"},                              # the ceiling of a utilisation
    "02_kv_wall": {"8 x", "$9M"},                           # a server's GPUs; the next lab's title
    "03_nine_million_question": {"$9M", "16x", "4 x"},      # the title; a question; a server
    "04_routing": {"1.25x", "0.1x", "80%", "95%"},          # a price list; exercise pass rates
    "05_under_load": set(),
    "06_cost_playbook": {"4x", "4 x", "3.2x"},              # the MIG example it quotes
    "07_split_and_spread": {"160ms"},                       # a quoted sentence the lab checks
    "08_capstone": {"40%", "85%", "25 ms", "0.2 GB", "2 GB"},  # quoted advice; exercise inputs
    "09_measure_then_model": {"50%"},                       # the benchmark's length spread, an input
}
RESULT = re.compile(r"(\$\s?\d[\d,.]*\s?[MBk]?|\b\d[\d,.]*\s?%|\b\d[\d,.]*\s?x\b|"
                    r"\b\d[\d,.]*\s?(ms|GB|TB|GiB|tokens/s|GPUs|TFLOP/s|W\b|kW|USD))")


def test_solution_prose_types_no_result():
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown":
                continue
            text = re.sub(r"`[^`]*`", "", _source(cell))
            text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
            text = re.sub(r"\$[^$\n]+\$", "", text)           # inline math: symbols, not results
            for m in RESULT.finditer(text):
                assert m.group(0) in INPUTS[path.stem], \
                    f"{path.name} cell {i}: '{m.group(0)}' typed into prose; render it from code or quote it"


def test_every_reference_answer_is_a_finite_number(pair):
    """A reveal whose answer is NaN or infinite (an infeasible configuration) would pass every
    guess and every graded answer: the solved notebooks must show a number at every reveal."""
    name, sol, _ = pair
    shown = []
    for cell in sol.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/markdown", "")
            shown += re.findall(r"(?:the model computes|the measurement shows) \*\*(.+?)\*\*", text)
    assert shown, f"{name}: no reveal shows its answer"
    bad = [s for s in shown if "n/a" in s or "nan" in s.lower() or "inf" in s.lower()]
    assert not bad, f"{name}: reveals without a finite answer: {bad}"
