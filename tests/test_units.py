import numpy as np
import pint
import pytest

import mlsyslab as ml
from mlsyslab.units import magnitude


def test_project_units_have_their_own_dimensions():
    for a, b in [("token", "USD"), ("flop", "USD"), ("request", "query"), ("byte", "1")]:
        with pytest.raises(pint.DimensionalityError):
            ml.Q_(5, a).to(b)


def test_bytes_are_not_dimensionless():
    # stock pint would silently give 1.125 byte/s here
    with pytest.raises(pint.DimensionalityError):
        _ = ml.Q_(1, "byte/s") + ml.Q_(1, "1/s")
    assert ml.Q_(1, "GB").to("byte").magnitude == 1e9
    assert ml.Q_(1, "GiB").to("byte").magnitude == 2**30


def test_ms_is_millisecond_not_megasiemens():
    assert ml.Q_(3, "ms").to("s").magnitude == pytest.approx(0.003)


def test_plain_numbers_are_read_in_the_default_unit():
    assert magnitude(60, "GB", "pool") == 60
    assert magnitude("60", "GB", "pool") == 60
    assert magnitude(ml.Q_(60, "GiB"), "GB", "pool") == pytest.approx(64.424509)
    assert magnitude("2 kilotoken", "token", "prompt") == 2000
    np.testing.assert_array_equal(magnitude([1, 2], "token", "x"), [1.0, 2.0])


@pytest.mark.parametrize("value, fragment", [
    (ml.Q_(2, "s"), "prompt must be in units of token ([token]); got 2 s ([time])"),
    ("60 parsecs of token", "text is read, never evaluated"),
    ("10/0", "text is read, never evaluated"),
    ("2**9**9**9", "text is read, never evaluated"),
    ("1,5", "a list or a separator"),
    ("2 3", "text is read, never evaluated"),
    ("1e999", "too large"),
    ("3 parsec", "must be in units of token"),
    (object(), "must be a number or a quantity"),
])
def test_wrong_units_name_the_expected_dimension(value, fragment):
    with pytest.raises(ml.UnitError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        magnitude(value, "token", "prompt")


@pytest.mark.parametrize("kwargs, fragment", [
    ({"strictly_positive": True}, "greater than zero"),
    ({"minimum": 1}, "at least 1"),
    ({"integer": True}, "whole number"),
])
def test_range_errors_say_what_is_allowed(kwargs, fragment):
    with pytest.raises(ml.ValueRangeError, match=fragment):
        magnitude(-0.5, "token", "batch", **kwargs)


def test_nan_is_rejected():
    with pytest.raises(ml.ValueRangeError, match="NaN"):
        magnitude(float("nan"), "token", "batch")
