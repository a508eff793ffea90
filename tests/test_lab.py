import pytest

import mlsyslab as ml
from mlsyslab.course import choose, explore, fmt, reveal, say


def test_reveal_compares_with_units_ratio_and_factor_of_two():
    r = reveal(100, ml.Q_(55, "ms"), unit="ms", what="TTFT", hint="prefill is compute-bound")
    assert r.ratio == pytest.approx(100 / 55) and r.within_2x
    assert "you guessed 100 ms" in repr(r) and "55.0 ms" in repr(r) and "within a factor of 2" in repr(r)
    far = reveal(ml.Q_(1, "s"), ml.Q_(10, "ms"), unit="ms")
    assert far.ratio == pytest.approx(100) and not far.within_2x and "100x too high" in repr(far)
    low = reveal(1, 10, unit="ms", hint="think about bandwidth")
    assert "10x too low" in repr(low) and "Hint: think about bandwidth" in repr(low)
    assert low._repr_markdown_().count("**") == 2


@pytest.mark.parametrize("guess", [..., None])
def test_an_unanswered_guess_asks_for_a_prediction_and_never_raises(guess):
    r = reveal(guess, ml.Q_(9.5, "ms"), unit="ms", what="ITL")
    assert r.ratio is None and r.within_2x is None
    assert "write your prediction first" in repr(r) and "in ms" in repr(r)
    assert "9.5" not in repr(r) and "9.50" not in r._repr_markdown_()    # the answer stays hidden


@pytest.mark.parametrize("guess", ["fast", "fifty", [1, 2], float("nan")])
def test_a_non_number_guess_says_why_and_hides_the_answer(guess):
    r = reveal(guess, ml.Q_(9.5, "ms"), unit="ms")
    assert r.guess is None and r.problem and "9.5" not in repr(r)
    assert "replace the" not in repr(r).lower()


def test_guesses_with_units_convert_and_unit_slips_are_named():
    assert reveal("50 ms", ml.Q_(55, "ms"), unit="ms").within_2x
    assert reveal(ml.Q_(0.05, "s"), ml.Q_(55, "ms"), unit="ms").within_2x
    slip = reveal(0.05, ml.Q_(55, "ms"), unit="ms")          # seconds typed for a ms answer
    assert not slip.within_2x and "looks right in s" in repr(slip)
    pct = reveal(60, 0.55, unit="")                            # a percentage for a fraction
    assert "fraction" in repr(pct)
    assert "unit" not in repr(reveal(3, ml.Q_(55, "ms"), unit="ms"))   # just wrong, not a unit slip


def test_discrete_answers_are_exact_and_signed_answers_judge_the_sign():
    tp = reveal(1, 2, exact=True, what="tp")
    assert tp.right is False and "too low by 1" in repr(tp) and "factor of 2" not in repr(tp)
    assert reveal(2, 2, exact=True).right and "right" in repr(reveal(2, 2, exact=True))
    assert "computes 13: too high by 17" in repr(reveal(30, 13, exact=True))
    assert reveal(1.5, 2, exact=True).problem and "2" not in repr(reveal(1.5, 2, exact=True)).split(":", 1)[1]
    loss = reveal(0.2, -0.1, signed=True, what="saving")
    assert loss.right is False and "wrong sign" in repr(loss)
    zero = reveal(0, -0.1, signed=True)
    assert zero.guess == 0 and "not zero" in repr(zero) and "-0.1" in repr(zero)
    assert reveal(-0.12, -0.1, signed=True).right


@pytest.mark.parametrize("guess", [0, -3, "0 ms", -0.5])
def test_a_zero_or_negative_guess_of_a_positive_quantity_never_reveals(guess):
    r = reveal(guess, ml.Q_(9.57, "ms"), unit="ms", what="ITL")
    assert r.guess is None and r.problem and "positive" in repr(r) and "9.57" not in repr(r)


def test_slips_of_form_get_their_own_hint():
    scale = reveal(1_800, 18.0, what="cost ratio")
    assert "scale" in repr(scale) and "percentage" not in repr(scale)
    flipped = reveal(0.05, 18.0, what="cost ratio")
    assert "Upside down" in repr(flipped)
    pct = reveal(28, 0.278)
    assert "percentage" in repr(pct)


def test_an_answer_of_the_wrong_type_says_so_without_a_traceback():
    import pandas as pd

    r = reveal(3, pd.DataFrame({"x": [1, 2]}), what="Exercise 1")
    assert r.problem and "DataFrame" in repr(r) and "not a number" in repr(r)
    assert reveal(3, [1, 2]).problem and reveal(3, "fast").problem


def test_choose_forgives_case_and_spacing_and_hides_the_answer():
    opts = ["1 replica", "2 replicas"]
    assert choose("2 Replicas", "2 replicas", options=opts).right
    assert choose(2, "2 replicas", options=opts).right
    assert not choose("1 replica", "2 replicas", options=opts).right
    blank = choose(..., "2 replicas", options=opts)
    assert blank.right is None and "choose first" in repr(blank) and "model says" not in repr(blank)
    odd = choose("three", "2 replicas", options=opts)
    assert odd.problem and "model says" not in repr(odd)


def test_fmt_significant_figures():
    assert fmt(36380.4) == "36,380"
    assert fmt(0.012345) == "0.0123"
    assert fmt(ml.Q_(2.4823, "s")) == "2.48 s"
    assert fmt(ml.Q_(0.055, "s"), "ms") == "55.0 ms"
    assert fmt(float("nan")) == "n/a"


def test_explore_is_static_without_a_widget_front_end(monkeypatch, capsys):
    monkeypatch.setenv("MLSYSLAB_STATIC", "1")
    seen = {}

    def plot(model, batch):
        seen.update(model=model, batch=batch)

    assert explore(plot, model=["a", "b"], batch=(1, 64, 1), defaults={"batch": 8}) is None
    assert seen == {"model": "a", "batch": 8}
    assert "static view" in capsys.readouterr().out


def test_explore_builds_widgets_when_live(monkeypatch):
    monkeypatch.delenv("MLSYSLAB_STATIC", raising=False)
    ui = explore(lambda model, batch: None, model=["a", "b"], batch=(1, 64, 1))
    assert [type(w).__name__ for w in ui.children[:2]] == ["Dropdown", "IntSlider"]


def test_explore_makes_a_dropdown_of_a_list_of_numbers(monkeypatch):
    monkeypatch.delenv("MLSYSLAB_STATIC", raising=False)
    ui = explore(lambda tp: None, tp=[1, 2, 4, 8])
    assert type(ui.children[0]).__name__ == "Dropdown"
    assert list(ui.children[0].options) == [1, 2, 4, 8] and ui.children[0].value == 1


def test_say_displays_markdown(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    say(f"**TTFT** {fmt(ml.Q_(0.055, 's'), 'ms')}")
    assert len(shown) == 1 and isinstance(shown[0], IPython.display.Markdown)
    assert shown[0].data == "**TTFT** 55.0 ms"


def test_say_escapes_dollar_pairs_so_they_are_not_math(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    say("**$12.5M a year** on demand ... $563M")
    text = shown[0].data
    assert text.count("\\$") == 2 and "$" not in text.replace("\\$", "")


def test_every_markdown_output_in_the_solutions_is_safe_from_dollar_pairs():
    import json
    import re
    from pathlib import Path

    for nb in sorted((Path(__file__).parents[1] / "solutions").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            for out in cell.get("outputs", []):
                md = "".join(out.get("data", {}).get("text/markdown", ""))
                assert len(re.findall(r"(?<![\\\\$])\$(?=\d)", md)) < 2, f"{nb.name}: '$' pairs render as math"
