"""Primary references: every lab cites the works its models come from, in one data file."""

import json
import re

import pytest

from mlsyslab.course import reading_list, references
from mlsyslab.errors import UnknownNameError, ValueRangeError


def test_every_lab_has_its_primary_references():
    for lab in range(1, 10):
        assert len(references(lab=lab)) >= 3, lab


def test_every_reference_is_complete_and_has_a_stable_address():
    keys = [r.key for r in references()]
    assert len(keys) == len(set(keys)) >= 25
    for r in references():
        assert r.title and r.authors and r.venue and r.used_for, r.key
        assert 1950 <= r.year <= 2026, r.key
        assert re.match(r"https://(doi\.org/10\.|arxiv\.org/abs/\d{4}\.\d{4,5}$|www\.usenix\.org/|docs\.nvidia\.com/)",
                        r.url), r.url
        assert r.labs and set(r.labs) <= set(range(1, 10)), r.key
    assert len({r.url for r in references()}) == len(keys)          # no work entered twice


def test_each_solution_prints_its_own_reading_list(root):
    for path in sorted((root / "solutions").glob("*.ipynb")):
        lab = int(path.name[:2])
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        calls = [c for c in cells if c["cell_type"] == "code" and "reading_list(" in "".join(c["source"])]
        assert len(calls) == 1 and "".join(calls[0]["source"]).strip() == f"say(reading_list({lab}))", path.name
        shown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in calls[0]["outputs"])
        assert shown.strip() == reading_list(lab).strip(), path.name


def test_bad_lookups_say_what_is_allowed():
    with pytest.raises(UnknownNameError, match="did you mean 'orca'"):
        references(key="orcaa")
    for bad in (0, 10, 2.0, True, "3"):
        with pytest.raises(ValueRangeError, match="from 1 to 9"):
            references(lab=bad)
