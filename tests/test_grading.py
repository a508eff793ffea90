"""The instructor kit: release a lab with nbgrader, grade submissions offline, with exact points.

One lab (the fastest, Lab 2) is built into a temporary course and students submit: the solved
source, the blank release copy, the solved notebook with one wrong exercise, one whose exercise
cell raises, a student's own working copy (``labs/`` filled in, no nbgrader metadata), the
solved notebook of ``solutions/``, an unrelated notebook, and three files that are not
notebooks. Grading them runs nbgrader for real; a grade given by hand is then set and the class
graded again.
"""

import csv
import sys
from pathlib import Path

import nbformat
import pytest

import mlsyslab as ml
from mlsyslab.course.grading import check_answer, check_prediction

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import assignments  # noqa: E402
import grade  # noqa: E402

LAB = "02_kv_wall"


def _grades(rows, student):
    return {r["cell"]: r for r in rows if r["student"] == student}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("course")
    course, subs, out = base / "course", base / "submissions", base / "grades"
    assignments.build(course, [LAB])
    source = nbformat.read(course / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    release = nbformat.read(course / "release" / LAB / f"{LAB}.ipynb", as_version=4)

    def submit(student, nb):
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / f"{LAB}.ipynb")

    def edit(cell_id, fn):
        nb = nbformat.from_dict(source)
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == cell_id)
        cell.source = fn(cell.source)
        return nb

    submit("solved", source)
    worked = nbformat.read(ROOT / "labs" / f"{LAB}.ipynb", as_version=4)     # what make lab opens
    solved_cells = {c.get("id"): c for c in nbformat.read(ROOT / "solutions" / f"{LAB}.ipynb", as_version=4).cells}
    for cell in worked.cells:                     # the student does the work in their own copy
        ref = solved_cells.get(cell.get("id"))
        if ref is not None and set(ref.metadata.get("tags", [])) & {"solution", "prediction"}:
            cell.source = "\n".join(line for line in ref.source.splitlines() if not line.startswith("#|"))
    submit("working-copy", worked)
    submit("solution-file", nbformat.read(ROOT / "solutions" / f"{LAB}.ipynb", as_version=4))
    submit("stranger", nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")]))
    submit("blank", release)
    submit("one-wrong", edit("ex2-answer", lambda s: s + "\nex2_batch = ex2_batch * 3   # a slip"))
    submit("raises", edit("ex1-answer", lambda s: s.replace("### BEGIN SOLUTION",
                                                            "raise RuntimeError('a bug')\n### BEGIN SOLUTION")))
    for student, content in (("empty", b""), ("corrupt", b'{"cells": [ truncated'), ("binary", b"\x89PNG\r\n")):
        (subs / student).mkdir(parents=True)
        (subs / student / f"{LAB}.ipynb").write_bytes(content)
    rows = grade.grade(subs, course, out)
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(course / "gradebook.db")) as gb:   # a grader marks one answer
        written = next(g for g in gb.find_submission_notebook(LAB, LAB, "solved").grades
                       if g.name.endswith("-explain"))
        written.manual_score = 1.5
        gb.db.commit()
        marked = written.name
    regraded = grade.grade(subs, course, out)
    return {"rows": rows, "regraded": regraded, "marked": marked, "course": course, "out": out,
            "source": source, "release": release}


def test_the_release_hides_solutions_and_hidden_tests_but_keeps_the_names():
    nb = nbformat.read(ROOT / "solutions" / f"{LAB}.ipynb", as_version=4)
    src, rubric = assignments.source_version(nb, LAB)
    text = "\n".join(c.source for c in src.cells)
    assert text.count("### BEGIN HIDDEN TESTS") == 3 and "check_prediction('my_chain_gb', my_chain_gb)" in text
    assert "Worked answer" in rubric
    n_pred, n_ex, total = _rubric_counts(rubric)
    assert n_ex == 3 and n_pred >= 6
    assert total == (n_pred * assignments.PREDICTION_POINTS + n_ex * assignments.EXERCISE_POINTS
                     + 3 * assignments.WRITTEN_POINTS)    # three written answers


def _rubric_counts(rubric):
    import re

    m = re.search(r"(\d+) predictions, (\d+) exercises; (\d+) points in all", rubric)
    return tuple(int(g) for g in m.groups())


def _lab_rubric():
    nb = nbformat.read(ROOT / "solutions" / f"{LAB}.ipynb", as_version=4)
    return _rubric_counts(assignments.source_version(nb, LAB)[1])


def test_solved_notebook_scores_full_marks(graded):
    rows = _grades(graded["rows"], "solved")
    auto = [r for r in rows.values() if r["kind"] != "written"]
    n_pred, n_ex, _ = _lab_rubric()
    assert len(auto) == n_pred + n_ex and all(r["score"] == r["max_score"] for r in auto)
    written = [r for r in rows.values() if r["kind"] == "written"]
    assert len(written) == 3 and all(r["needs_manual_grade"] and r["score"] is None for r in written)


def test_blank_copy_scores_zero_on_everything_autograded(graded):
    rows = _grades(graded["rows"], "blank")
    assert all(r["score"] == 0 for r in rows.values() if r["kind"] != "written")
    release = "\n".join(c.source for c in graded["release"].cells)
    assert "BEGIN HIDDEN TESTS" not in release and "BEGIN SOLUTION" not in release
    assert "ex2_batch = ..." in release and "my_chain_gb = ..." in release


def test_one_wrong_exercise_loses_exactly_its_points(graded):
    solved, wrong = _grades(graded["rows"], "solved"), _grades(graded["rows"], "one-wrong")
    lost = {c: solved[c]["score"] - wrong[c]["score"] for c in solved if solved[c]["kind"] != "written"}
    assert lost == {c: (assignments.EXERCISE_POINTS if c == "ex2" else 0) for c in lost}


def test_a_submission_that_raises_is_still_graded(graded):
    rows = _grades(graded["rows"], "raises")
    assert rows["ex1"]["score"] == 0
    assert rows["ex2"]["score"] == rows["ex3"]["score"] == assignments.EXERCISE_POINTS   # later cells ran
    assert all(rows[f"predict-{k}-made"]["score"] == 1 for k in range(1, 7))
    html = (graded["out"] / "feedback" / "raises" / f"{LAB}.html").read_text(encoding="utf-8")
    assert "RuntimeError" in html


def test_tables_and_feedback_for_every_student(graded):
    out = graded["out"]
    with open(out / "totals.csv", encoding="utf-8") as fh:
        totals = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(totals) == {"solved", "blank", "one-wrong", "raises", "empty", "corrupt", "binary",
                           "working-copy", "solution-file", "stranger"}
    for bad in ("empty", "corrupt", "binary"):      # reported for that student, the rest graded
        assert float(totals[bad]["score"]) == 0 and totals[bad]["problem"]
        assert float(totals[bad]["max_score"]) == float(totals["solved"]["max_score"])
    assert "empty" in totals["empty"]["problem"] and "notebook" in totals["corrupt"]["problem"]
    assert not totals["blank"]["problem"]
    # every other student here pasted the reference: flagged for the instructor, still graded
    assert "reference solution" in totals["solved"]["problem"] and float(totals["solved"]["score"]) > 0
    # the tables are the second run's: one written answer of "solved" got 1.5 of its points by hand
    assert float(totals["solved"]["score"]) + float(totals["solved"]["awaiting_manual_points"]) == \
        _lab_rubric()[2] - (assignments.WRITTEN_POINTS - 1.5)
    assert float(totals["blank"]["score"]) == 0
    for student in totals:
        assert (out / "feedback" / student / f"{LAB}.html").exists()


def test_a_reference_that_is_not_finite_is_a_bug_in_the_lab_not_full_marks():
    for bad in (float("nan"), float("inf"), ml.Q_(float("nan"), "s")):
        with pytest.raises(ValueError, match="bug in the lab"):
            check_answer("x", 1.0, bad)


def test_checks_say_what_is_wrong_without_giving_the_answer():
    check_answer("x", 1.01, 1.0)                                 # within 2%
    check_answer("x", ml.Q_(1000, "ms"), ml.Q_(1, "s"))          # units converted
    check_answer("x", " H200 tp8 ", "h200 tp8")                 # names forgive case and spaces
    with pytest.raises(AssertionError, match="not within 2%") as err:
        check_answer("x", 1.5, 1.0)
    assert "1.0" not in str(err.value).replace("1.5", "")
    with pytest.raises(AssertionError, match="replace '...'"):
        check_answer("x", ...)
    with pytest.raises(AssertionError, match="finite number"):
        check_answer("x", float("nan"))
    with pytest.raises(AssertionError, match="wrong unit"):
        check_answer("x", ml.Q_(1, "GB"), ml.Q_(1, "s"))
    with pytest.raises(AssertionError, match="write your prediction"):
        check_prediction("my_x", ...)
    check_prediction("my_x", "a guess in words counts too")


def test_a_students_working_copy_is_graded_by_cell_id(graded):
    rows = _grades(graded["rows"], "working-copy")
    auto = [r for r in rows.values() if r["kind"] != "written"]
    n_pred, n_ex, _ = _lab_rubric()
    assert len(auto) == n_pred + n_ex and all(r["score"] == r["max_score"] for r in auto)


def test_a_solution_is_graded_and_flagged_and_a_stranger_is_refused_with_what_to_submit(graded):
    with open(graded["out"] / "totals.csv", encoding="utf-8") as fh:
        totals = {r["student"]: r for r in csv.DictReader(fh)}
    assert "reference solution" in totals["solution-file"]["problem"]
    assert float(totals["solution-file"]["score"]) > 0
    assert float(totals["stranger"]["score"]) == 0 and "my-labs" in totals["stranger"]["problem"]
    html = (graded["out"] / "feedback" / "stranger" / f"{LAB}.html").read_text(encoding="utf-8")
    assert "my-labs" in html


def test_feedback_says_what_passed_and_never_shows_the_hidden_test_or_the_reference(graded):
    for student in ("solved", "one-wrong", "raises", "working-copy"):
        html = (graded["out"] / "feedback" / student / f"{LAB}.html").read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in html and "_reference" not in html
        assert "passed" in html
    wrong = (graded["out"] / "feedback" / "one-wrong" / f"{LAB}.html").read_text(encoding="utf-8")
    assert "not passed" in wrong and "is not within 2%" in wrong
    solved_src = nbformat.read(ROOT / "solutions" / f"{LAB}.ipynb", as_version=4)
    reference = next(c.source for c in solved_src.cells if "solution" in c.metadata.get("tags", [])
                     and c.cell_type == "code")
    body = [line for line in reference.splitlines() if line.strip() and not line.startswith("#")]
    blank = (graded["out"] / "feedback" / "blank" / f"{LAB}.html").read_text(encoding="utf-8")
    import html as _html

    assert not any(_html.escape(line.strip()) in blank for line in body if len(line.strip()) > 30)


def test_points_given_by_hand_survive_grading_again(graded):
    row = _grades(graded["regraded"], "solved")[graded["marked"]]
    assert row["score"] == 1.5 and row["graded_by"] == "hand" and not row["needs_manual_grade"]
    others = [r for c, r in _grades(graded["regraded"], "solved").items() if c != graded["marked"]]
    assert all(r["score"] == r["max_score"] for r in others if r["kind"] != "written")
