"""Autograde a folder of submitted labs offline: a grade table and feedback for every student.

`make grade SUBMISSIONS=dir` takes one folder per student, holding that student's notebooks:

    dir/<student>/<lab>.ipynb             (or dir/<student>/<lab>/<lab>.ipynb, nbgrader's layout)

A submission may be what the student has: the copy they worked in (``my-labs/<lab>.ipynb``, made
from ``labs/``) or the nbgrader release copy. A working copy carries no grading metadata, so its
answer cells are matched to the release copy's by their cell ids (the ids ``make labs`` and
``make assignments`` both keep from ``solutions/``) and graded there; a notebook none of whose
answer cells match is refused with a message naming what to submit, and one whose answers are
the reference solution's word for word is graded and flagged.

and writes, beside the course (``course/`` unless ``--course``):

    grades/grades.csv                     one row per student, lab and graded cell
    grades/totals.csv                     one row per student and lab (``problem`` says why a
                                          submission could not be graded: empty, corrupt, not
                                          a notebook; it scores 0 and the rest are graded)
    grades/feedback/<student>/<lab>.html  the student's notebook as graded: each check's points and
                                          its message (passed, or why not), never the hidden
                                          test or the reference code

Each submission runs top to bottom in a fresh kernel with nbgrader (``nbgrader autograde``): a
cell that raises is recorded as failing and the cells after it still run, so a broken notebook
is graded rather than lost. Test cells are restored from the source version first, so a student
cannot edit them, and hidden tests are put back. Written answers are left for a person:
``needs_manual_grade`` is true on their rows until someone grades them in nbgrader's formgrader.
Points given by hand there are kept: running this again re-runs the autograded cells and reports
the manual points (a manual score overrides the autograder's on that cell, as in nbgrader).

Usage: python scripts/grade.py SUBMISSIONS [--course DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from assignments import HIDDEN, SOLUTION, build, nbgrader  # noqa: E402

FIELDS = ["student", "lab", "cell", "kind", "score", "max_score", "needs_manual_grade", "graded_by"]
SUBMIT_HINT = ("submit the notebook you worked in (my-labs/{lab}.ipynb, or the release copy course/release/{lab}/"
               "{lab}.ipynb), saved from JupyterLab")


def _kind(grade_id: str) -> str:
    if grade_id.startswith("predict-"):
        return "prediction"
    return "written" if grade_id.endswith("-explain") else "autograded"


def _cell_order(source: Path) -> dict[str, int]:
    """Graded cells' ids in the order the notebook has them (the table follows the lab)."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
           if c.metadata.get("nbgrader", {}).get("grade")]
    return {g: i for i, g in enumerate(ids)}


def unreadable(path: Path) -> str | None:
    """Why a submitted file cannot be graded as a notebook (None when it can)."""
    import nbformat

    if path.stat().st_size == 0:
        return "the file is empty"
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # noqa: BLE001 - any reader or schema error: not a notebook we can run
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        return f"not a readable Jupyter notebook ({type(e).__name__}: {first})"
    if not any(c.cell_type == "code" for c in nb.cells):
        return "the notebook has no code cells"
    return None


def _answer_cells(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def as_release(nb, lab: str, course: Path):
    """A submission as nbgrader grades it: ``(notebook, problem, note)``.

    A notebook with nbgrader's cell metadata (a release or source copy) is graded as it is. A
    student's working copy has none: each answer cell of the release copy takes the source of the
    submitted cell with the same id. With no such cell, ``problem`` says what to submit."""
    import nbformat

    if any(c.metadata.get("nbgrader") for c in nb.cells):
        return nb, None, None
    release = nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)
    submitted = {c.get("id"): c for c in nb.cells}
    answers = _answer_cells(release)
    matched = 0
    for cell in answers:
        mine = submitted.get(cell.get("id"))
        if mine is not None and mine.cell_type == cell.cell_type:
            cell.source = mine.source
            matched += 1
    if not matched:
        return None, (f"this is not a copy of {lab}: none of its cells is one of the lab's {len(answers)} answer "
                      f"cells (matched by cell id); " + SUBMIT_HINT.format(lab=lab)), None
    note = None
    if matched < len(answers):
        note = f"{len(answers) - matched} of {len(answers)} answer cells were missing and graded as blank"
    return release, None, note


def _reference_copy(nb, course: Path, lab: str) -> bool:
    """Whether every exercise's answer cell holds the reference solution, word for word."""
    import re

    import nbformat

    source = nbformat.read(course / "source" / lab / f"{lab}.ipynb", as_version=4)
    submitted = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    refs = {}
    for c in _answer_cells(source):
        grade_id = c.metadata["nbgrader"]["grade_id"]
        m = re.search(re.escape(SOLUTION[0]) + r"\n(.*?)\n" + re.escape(SOLUTION[1]), c.source, re.S)
        if grade_id.endswith("-answer") and m:
            refs[grade_id] = m.group(1).strip()
    return bool(refs) and all(ref in submitted.get(g, "") for g, ref in refs.items())


def collect(submissions: Path, course: Path, labs: set[str],
            problems: list[dict] | None = None) -> dict[str, set[str]]:
    """Copy every student's notebooks into the course's ``submitted/`` folder; lab -> students.

    A submission that is empty, corrupt or not a notebook is not copied: it is reported in
    ``problems`` (student, lab, problem) and the rest of the class is graded."""
    found: dict[str, set[str]] = {}
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise SystemExit(f"{submissions} holds no student folders (expected {submissions}/<student>/<lab>.ipynb)")
    for student in students:
        for nb in sorted(student.rglob("*.ipynb")):
            lab = nb.stem
            if ".ipynb_checkpoints" in nb.parts:
                continue
            if lab not in labs:
                print(f"skipping {nb}: no lab is called {lab!r} (labs: {', '.join(sorted(labs))})", file=sys.stderr)
                continue
            import nbformat

            why = unreadable(nb)
            graded = note = None
            if not why:
                graded, why, note = as_release(nbformat.read(nb, as_version=4), lab, course)
            if why:
                print(f"cannot grade {nb}: {why}", file=sys.stderr)
                if problems is not None:
                    problems.append({"student": student.name, "lab": lab, "problem": why})
                continue
            if problems is not None and _reference_copy(graded, course, lab):
                note = "every exercise's answer cell contains the reference solution, word for word"
            if note and problems is not None:
                problems.append({"student": student.name, "lab": lab, "problem": note, "graded": True})
            dst = course / "submitted" / student.name / lab / f"{lab}.ipynb"
            dst.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(graded, dst)
            found.setdefault(lab, set()).add(student.name)
    return found


def grade(submissions: Path, course: Path, out: Path) -> list[dict]:
    """Autograde, generate feedback and write the tables; returns the rows of grades.csv."""
    from nbgrader.api import Gradebook

    course, out = course.resolve(), out.resolve()
    labs = {p.stem for p in (ROOT / "solutions").glob("*.ipynb")}
    missing = [lab for lab in labs if not (course / "release" / lab).exists()]
    if missing or not (course / "gradebook.db").exists():
        build(course, sorted(labs))
    if (course / "submitted").exists():
        shutil.rmtree(course / "submitted")
    problems: list[dict] = []
    found = collect(submissions, course, labs, problems)
    from mlsyslab.progress import bar

    with bar(len(found), "grading", "lab") as pbar:
        for lab in sorted(found):        # every student of a lab in one nbgrader run
            pbar.set_postfix_str(f"{lab}: {len(found[lab])} student(s)")
            nbgrader(course, "autograde", lab, "--create", "--force")
            pbar.update(1)

    rows = []
    with Gradebook("sqlite:///" + str(course / "gradebook.db")) as gb:
        for lab, students in sorted(found.items()):
            order = _cell_order(course / "source" / lab / f"{lab}.ipynb")
            for student in sorted(students):
                sub = gb.find_submission_notebook(lab, lab, student)
                for g in sorted(sub.grades, key=lambda g: order.get(g.name, len(order))):
                    rows.append({"student": student, "lab": lab, "cell": g.name, "kind": _kind(g.name),
                                 **_score(g), "max_score": g.max_score})
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    totals: dict[tuple, dict] = {}
    for r in rows:
        t = totals.setdefault((r["student"], r["lab"]), {"student": r["student"], "lab": r["lab"], "score": 0.0,
                                                         "max_score": 0.0, "awaiting_manual_points": 0.0})
        t["max_score"] += r["max_score"]
        if r["needs_manual_grade"]:
            t["awaiting_manual_points"] += r["max_score"]
        else:
            t["score"] += r["score"]
    for prob in problems:       # an ungradable submission scores 0 of the lab's points, and says why
        if prob.get("graded"):  # graded, with a note for the instructor
            totals[(prob["student"], prob["lab"])]["problem"] = prob["problem"]
            continue
        if (prob["student"], prob["lab"]) not in totals:
            max_score = _lab_points(course, prob["lab"])
            totals[(prob["student"], prob["lab"])] = {"student": prob["student"], "lab": prob["lab"], "score": 0.0,
                                                      "max_score": max_score, "awaiting_manual_points": 0.0}
        totals[(prob["student"], prob["lab"])]["problem"] = prob["problem"]
    with open(out / "totals.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["student", "lab", "score", "max_score", "awaiting_manual_points",
                                           "problem"])
        w.writeheader()
        w.writerows({"problem": "", **t} for t in totals.values())
    by_cell = {(r["student"], r["lab"], r["cell"]): r for r in rows}
    for lab, students in found.items():
        for student in students:
            graded = course / "autograded" / student / lab / f"{lab}.ipynb"
            if graded.exists():
                dst = out / "feedback" / student / f"{lab}.html"
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(feedback_html(graded, {c: r for (s_, l_, c), r in by_cell.items()
                                                      if s_ == student and l_ == lab}, lab),
                               encoding="utf-8")
    for prob in problems:           # the student still gets feedback: what was wrong with the file
        if prob.get("graded"):
            continue
        import html as _html

        dst = out / "feedback" / prob["student"] / f"{prob['lab']}.html"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(f"<!doctype html><title>{prob['lab']}: not graded</title><h1>{prob['lab']}: not graded</h1>"
                       f"<p>Your submission could not be graded: {_html.escape(prob['problem'])}.</p>"
                       f"<p>Submit the notebook as saved by JupyterLab (File, Save Notebook), not a copy or an "
                       f"export.</p>\n", encoding="utf-8")
    return rows


def _score(g) -> dict:
    """A graded cell's score and who gave it: a grader's points override the autograder's."""
    if g.manual_score is not None:
        return {"score": g.manual_score, "needs_manual_grade": False, "graded_by": "hand"}
    if g.auto_score is None:
        return {"score": None, "needs_manual_grade": True, "graded_by": ""}
    return {"score": g.auto_score, "needs_manual_grade": False, "graded_by": "autograder"}


def feedback_html(graded: Path, scores: dict[str, dict], lab: str) -> str:
    """The graded notebook as a page for the student: each check's points and message.

    A test cell shows its visible lines and one line of outcome (passed, or the assertion's
    message); the hidden checks, which recompute the reference solution, and any traceback
    through them are never shown."""
    import re

    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(graded, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        row = scores.get(grade_id)
        if not meta.get("grade") or row is None:
            continue
        points = (f"{row['score']:g} of {row['max_score']:g} points" if row["score"] is not None
                  else f"{row['max_score']:g} points, awaiting a grader")
        if cell.cell_type == "code" and not meta.get("solution"):
            cell.source = re.sub(re.escape(HIDDEN[0]) + r".*?" + re.escape(HIDDEN[1]),
                                 "# (hidden checks against the reference solution)", cell.source, flags=re.S)
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                message = f"✘ not passed ({points}): {errors[0].ename}: {errors[0].evalue}"
            else:
                message = f"✔ passed ({points})"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=message + "\n")]
        else:
            cell.source += f"\n\n*[{points}]*" if cell.cell_type == "markdown" else f"\n# [{points}]"
    nb.metadata["title"] = f"{lab}: feedback"
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return body


def _lab_points(course: Path, lab: str) -> float:
    """A lab's total points, read from its source notebook's graded cells."""
    import nbformat

    nb = nbformat.read(course / "source" / lab / f"{lab}.ipynb", as_version=4)
    return float(sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("submissions", help="a folder with one folder of notebooks per student")
    ap.add_argument("--course", default=str(ROOT / "course"), help="the nbgrader course directory")
    ap.add_argument("--out", default=str(ROOT / "grades"), help="where the tables and feedback go")
    args = ap.parse_args(argv)
    sub = Path(args.submissions)
    if not sub.is_dir():
        print(f"grade: {sub} is not a folder (give SUBMISSIONS=<folder of student folders>)", file=sys.stderr)
        return 2
    rows = grade(sub, Path(args.course), Path(args.out))
    students = sorted({r["student"] for r in rows})
    print(f"graded {len(students)} student(s), {len(rows)} graded cells: {args.out}/grades.csv, "
          f"{args.out}/totals.csv, {args.out}/feedback/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
