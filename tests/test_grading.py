"""The instructor kit: release a lab with nbgrader, grade submissions offline, with exact points.

One lab (the fastest, Lab 2) is built into a temporary course and four students submit: the
solved notebook, the blank student copy, the solved notebook with one wrong exercise, and a
solved notebook whose exercise cell raises. Grading them runs nbgrader for real.
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
    submit("blank", release)
    submit("one-wrong", edit("ex2-answer", lambda s: s + "\nex2_batch = ex2_batch * 3   # a slip"))
    submit("raises", edit("ex1-answer", lambda s: s.replace("### BEGIN SOLUTION",
                                                            "raise RuntimeError('a bug')\n### BEGIN SOLUTION")))
    for student, content in (("empty", b""), ("corrupt", b'{"cells": [ truncated'), ("binary", b"\x89PNG\r\n")):
        (subs / student).mkdir(parents=True)
        (subs / student / f"{LAB}.ipynb").write_bytes(content)
    rows = grade.grade(subs, course, out)
    return {"rows": rows, "course": course, "out": out, "source": source, "release": release}


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
    assert set(totals) == {"solved", "blank", "one-wrong", "raises", "empty", "corrupt", "binary"}
    for bad in ("empty", "corrupt", "binary"):      # reported for that student, the rest graded
        assert float(totals[bad]["score"]) == 0 and totals[bad]["problem"]
        assert float(totals[bad]["max_score"]) == float(totals["solved"]["max_score"])
    assert "empty" in totals["empty"]["problem"] and "notebook" in totals["corrupt"]["problem"]
    assert not totals["solved"]["problem"]
    assert float(totals["solved"]["score"]) + float(totals["solved"]["awaiting_manual_points"]) == _lab_rubric()[2]
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
