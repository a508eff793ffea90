"""Autograde a folder of submitted labs offline: a grade table and feedback for every student.

`make grade SUBMISSIONS=dir` takes one folder per student, holding that student's notebooks:

    dir/<student>/<lab>.ipynb             (or dir/<student>/<lab>/<lab>.ipynb, nbgrader's layout)

and writes, beside the course (``course/`` unless ``--course``):

    grades/grades.csv                     one row per student, lab and graded cell
    grades/totals.csv                     one row per student and lab (``problem`` says why a
                                          submission could not be graded: empty, corrupt, not
                                          a notebook; it scores 0 and the rest are graded)
    grades/feedback/<student>/<lab>.html  the student's notebook as graded, with every test's output

Each submission runs top to bottom in a fresh kernel with nbgrader (``nbgrader autograde``): a
cell that raises is recorded as failing and the cells after it still run, so a broken notebook
is graded rather than lost. Test cells are restored from the source version first, so a student
cannot edit them, and hidden tests are put back. Written answers are left for a person:
``needs_manual_grade`` is true on their rows until someone grades them in nbgrader's formgrader
(then run this again to refresh the table).

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

from assignments import build, nbgrader  # noqa: E402

FIELDS = ["student", "lab", "cell", "kind", "score", "max_score", "needs_manual_grade"]


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
            why = unreadable(nb)
            if why:
                print(f"cannot grade {nb}: {why}", file=sys.stderr)
                if problems is not None:
                    problems.append({"student": student.name, "lab": lab, "problem": why})
                continue
            dst = course / "submitted" / student.name / lab / f"{lab}.ipynb"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(nb, dst)
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
    for lab in sorted(found):        # every student of a lab in one nbgrader run
        nbgrader(course, "autograde", lab, "--create", "--force")
        nbgrader(course, "generate_feedback", lab, "--force")

    rows = []
    with Gradebook("sqlite:///" + str(course / "gradebook.db")) as gb:
        for lab, students in sorted(found.items()):
            order = _cell_order(course / "source" / lab / f"{lab}.ipynb")
            for student in sorted(students):
                sub = gb.find_submission_notebook(lab, lab, student)
                for g in sorted(sub.grades, key=lambda g: order.get(g.name, len(order))):
                    rows.append({"student": student, "lab": lab, "cell": g.name, "kind": _kind(g.name),
                                 "score": None if g.needs_manual_grade else g.score,
                                 "max_score": g.max_score, "needs_manual_grade": bool(g.needs_manual_grade)})
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
    for lab, students in found.items():
        for student in students:
            html = course / "feedback" / student / lab / f"{lab}.html"
            if html.exists():
                dst = out / "feedback" / student / f"{lab}.html"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(html, dst)
    for prob in problems:           # the student still gets feedback: what was wrong with the file
        import html as _html

        dst = out / "feedback" / prob["student"] / f"{prob['lab']}.html"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(f"<!doctype html><title>{prob['lab']}: not graded</title><h1>{prob['lab']}: not graded</h1>"
                       f"<p>Your submission could not be graded: {_html.escape(prob['problem'])}.</p>"
                       f"<p>Submit the notebook as saved by JupyterLab (File, Save Notebook), not a copy or an "
                       f"export.</p>\n", encoding="utf-8")
    return rows


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
