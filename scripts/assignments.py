"""Build the nbgrader course from solutions/: source versions with grading cells, then releases.

`make assignments` writes ``course/`` (an nbgrader course directory, not versioned):

    course/nbgrader_config.py         the course's configuration (stubs, timeouts, database)
    course/source/<lab>/<lab>.ipynb   the instructor's version: solutions, grading cells, hidden tests
    course/release/<lab>/<lab>.ipynb  what students get (``nbgrader generate_assignment``)
    course/rubrics/<lab>.md           points per exercise and the rubric for the written answers
    course/gradebook.db               nbgrader's record of every graded cell

From each solved notebook (the cell tags make_labs.py also reads):

- a ``prediction`` cell becomes an nbgrader solution cell (the guess is cleared, its comment
  saying what to predict stays) followed by a locked test cell worth ``PREDICTION_POINTS``:
  it passes when a prediction is made, whatever its value;
- a ``solution`` code cell becomes a solution cell (``name = ...`` kept for each answer name the
  reveal below it checks) followed by a locked test cell worth ``EXERCISE_POINTS``: a visible
  check (the answer exists and is a finite number or a name) and a hidden one that recomputes
  the reference solution in the notebook and compares within `mlsyslab.course.grading`'s tolerance;
- a ``solution`` Markdown cell (the worked answer) becomes a manually graded answer cell worth
  ``WRITTEN_POINTS``, with its rubric in ``course/rubrics/``.

Usage: python scripts/assignments.py [--course DIR] [lab ...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat

from mlsyslab.course.grading import DEFAULT_REL_TOLERANCE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from make_labs import ASSIGN, WRITTEN_PROMPT, derived_notebook, kept_cells  # noqa: E402

SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")        # nbgrader's markers, written once
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
PREDICTION_POINTS = 1
EXERCISE_POINTS = 3
WRITTEN_POINTS = 2
ANSWER = re.compile(r"(?:reveal|choose)\(\s*my_\w+\s*,\s*([A-Za-z_]\w*)")
CONFIG = '''\
# nbgrader configuration of the mlsyslab course (written by scripts/assignments.py)
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "mlsyslab"
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.ClearSolutions.code_stub = {{"python": "# YOUR ANSWER HERE"}}
c.ClearSolutions.text_stub = {written!r}
c.Execute.timeout = 300          # seconds per cell: a lab cell takes seconds
c.Execute.interrupt_on_timeout = True
c.ExecutePreprocessor.kernel_name = "python3"
'''


def _meta(grade_id: str, *, solution: bool, grade: bool, points: int = 0, locked: bool = False) -> dict:
    meta = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked,
            "schema_version": 3}
    if grade:
        meta["points"] = points
    return meta


def _test_cell(source: str, grade_id: str, points: int):
    """A locked, autograded test cell worth ``points``."""
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = _meta(grade_id, solution=False, grade=True, points=points, locked=True)
    return cell


def _names(body: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for line in body.splitlines()
                              if (m := ASSIGN.match(line)) and not line.startswith((" ", "\t"))))


def _strip_quarto(source: str) -> list[str]:
    return [line for line in source.splitlines() if not line.startswith("#|")]


def source_version(nb, lab: str):
    """The nbgrader source notebook of one solved lab, and its rubric (Markdown)."""
    out = derived_notebook(nb)
    rubric = [f"# {lab}: points and rubric", "",
              f"Predictions: {PREDICTION_POINTS} point each, for being made (never for being right). "
              f"Exercises: {EXERCISE_POINTS} points each, autograded against the reference solution. "
              f"Written answers: {WRITTEN_POINTS} points each, graded by hand with the rubric below.", ""]
    cells, n_pred, n_ex = nb.cells, 0, 0
    for i, tags, c in kept_cells(nb):
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
        if c.cell_type == "code" and "prediction" in tags:
            n_pred += 1
            lines = _strip_quarto(c.source)
            head = []
            while lines and lines[0].startswith("# "):
                head.append(lines.pop(0))
            names = _names("\n".join(lines))
            c.source = "\n".join(head + [f"{n} = ..." for n in names]
                                 + [SOLUTION[0]] + lines + [SOLUTION[1]])
            c.metadata["nbgrader"] = _meta(f"predict-{n_pred}", solution=True, grade=False)
            out.cells.append(c)
            test = "\n".join(["# A prediction earns its point for being made, whatever its value.",
                              "from mlsyslab.course.grading import check_prediction", ""]
                             + [f"check_prediction({n!r}, {n})" for n in names])
            out.cells.append(_test_cell(test, f"predict-{n_pred}-made", PREDICTION_POINTS))
            continue
        if c.cell_type == "code" and "solution" in tags:
            n_ex += 1
            lines = _strip_quarto(c.source)
            after = cells[i + 1].source if i + 1 < len(cells) else ""
            answers = ANSWER.findall(after) or _names("\n".join(lines))[-1:]
            c.source = "\n".join([f"# Exercise {n_ex}: compute {', '.join(answers)} (checked by the test below)."]
                                 + [f"{a} = ..." for a in answers]
                                 + [SOLUTION[0]] + lines + [SOLUTION[1]])
            c.metadata["nbgrader"] = _meta(f"ex{n_ex}-answer", solution=True, grade=False)
            out.cells.append(c)
            body = textwrap.indent("\n".join(lines), "        ")
            ref = ", ".join(answers)
            test = "\n".join(
                [f"# Exercise {n_ex}, {EXERCISE_POINTS} points: {', '.join(answers)} against the reference "
                 f"solution (a {DEFAULT_REL_TOLERANCE:.0%} tolerance).",
                 "from mlsyslab.course.grading import check_answer, quietly", ""]
                + [f"check_answer({a!r}, {a})" for a in answers]
                + [HIDDEN[0],
                   "def _reference():",
                   "    with quietly():",
                   body,
                   f"    return ({ref},)", "",
                   f"for _name, _mine, _ref in zip({answers!r}, ({ref},), _reference()):",
                   "    check_answer(_name, _mine, _ref)",
                   HIDDEN[1]])
            out.cells.append(_test_cell(test, f"ex{n_ex}", EXERCISE_POINTS))
            continue
        if c.cell_type == "markdown" and "solution" in tags:
            worked = re.sub(r":::.*?\n|\n:::\s*$", "", c.source, flags=re.S).strip()
            c.source = worked
            c.metadata["nbgrader"] = _meta(f"ex{n_ex}-explain", solution=True, grade=True,
                                           points=WRITTEN_POINTS)
            out.cells.append(c)
            rubric += [f"## Exercise {n_ex}, written answer ({WRITTEN_POINTS} points)", "",
                       f"- {WRITTEN_POINTS}: names the mechanism of the worked answer and supports it "
                       "with the numbers the notebook computed;",
                       "- 1: the mechanism is right but unsupported, or the numbers are right and the "
                       "mechanism missing or wrong;",
                       "- 0: blank, or contradicts the computed numbers.", "",
                       "Worked answer:", "", "> " + worked.replace("\n", "\n> "), ""]
            continue
        out.cells.append(c)
    nbformat.validator.normalize(out)
    total = n_pred * PREDICTION_POINTS + n_ex * EXERCISE_POINTS + sum(
        1 for c in out.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").endswith("-explain")
    ) * WRITTEN_POINTS
    rubric.insert(4, f"{n_pred} predictions, {n_ex} exercises; {total} points in all.\n")
    return out, "\n".join(rubric) + "\n"


def nbgrader(course: Path, *args: str) -> None:
    """Run one nbgrader command in the course directory (static explorers, no widgets)."""
    # nbgrader runs the ``alembic`` executable of its environment: put that environment first
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, MLSYSLAB_STATIC="1", PATH=path)
    cmd = [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]
    done = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def build(course: Path, labs: list[str] | None = None) -> list[str]:
    """Write the course's sources and rubrics and generate the student releases."""
    course = course.resolve()
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(
        CONFIG.format(root=str(course), db=str(course / "gradebook.db"), written=WRITTEN_PROMPT), encoding="utf-8")
    from mlsyslab.progress import bar

    built = []
    sources = [p for p in sorted((ROOT / "solutions").glob("*.ipynb")) if not labs or p.stem in labs]
    pbar = bar(len(sources), "assignments", "lab")
    for src in sources:
        lab = src.stem
        pbar.set_postfix_str(lab)
        nb, rubric = source_version(nbformat.read(src, as_version=4), lab)
        (course / "source" / lab).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, course / "source" / lab / f"{lab}.ipynb")
        (course / "rubrics").mkdir(exist_ok=True)
        (course / "rubrics" / f"{lab}.md").write_text(rubric, encoding="utf-8")
        nbgrader(course, "generate_assignment", lab, "--force", "--create")
        built.append(lab)
        pbar.update(1)
        pbar.write(f"course/release/{lab}/{lab}.ipynb <- solutions/{src.name}")
    pbar.close()
    return built


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labs", nargs="*", help="lab names (default: every lab)")
    ap.add_argument("--course", default=str(ROOT / "course"), help="the nbgrader course directory")
    args = ap.parse_args(argv)
    built = build(Path(args.course), args.labs or None)
    if not built:
        print("no lab matched", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
