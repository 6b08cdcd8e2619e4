"""A large plan takes the fast paths of `review` (issue 23): the same output as the plain ones.

The plain paths are the judge: json.loads for the parse, str.translate over the same tables for the
terminal escapes, whatever characters a plan's strings hold.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator

import pytest

from tierstack.generator.analysis import review
from tierstack.generator.analysis.review import read
from tierstack.generator.core import errors


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """What a large plan's parse froze goes back to the collector after the test."""
    yield
    gc.unfreeze()


def _large_plan() -> str:
    change = {
        "address": "google_storage_bucket.b",
        "type": "google_storage_bucket",
        "name": "b",
        "mode": "managed",
        "change": {"actions": ["create"], "before": None, "after": {"labels": {"x": "y" * 200}}},
    }
    changes = [{**change, "address": f"google_storage_bucket.b{i}"} for i in range(read.LARGE_PLAN // 250)]
    return json.dumps({"format_version": "1.2", "planned_values": {}, "resource_changes": changes})


def test_a_large_plan_parses_as_json_loads_and_is_left_to_reference_counting(unfrozen: None) -> None:
    text = _large_plan()
    assert len(text) >= read.LARGE_PLAN
    frozen = gc.get_freeze_count()
    assert review.parse_plan(text, "plan.json") == json.loads(text)
    assert gc.get_freeze_count() > frozen + len(text) // 1000  # the plan's containers, out of the walks
    assert gc.isenabled()  # the collector runs again after the parse


def test_a_small_plan_freezes_nothing() -> None:
    frozen = gc.get_freeze_count()
    review.parse_plan(json.dumps({"format_version": "1.2", "planned_values": {}}), "plan.json")
    assert gc.get_freeze_count() == frozen


def test_a_broken_large_plan_still_says_where(unfrozen: None) -> None:
    text = _large_plan()[:-2]  # the closing ] and }
    with pytest.raises(errors.UserError, match="looks truncated"):
        review.parse_plan(text, "plan.json")
    assert gc.isenabled()


SAMPLE = [chr(c) for c in range(0x3000) if not 0xD800 <= c <= 0xDFFF] + ["\U0001f600", "\u202e\u2066"]


@pytest.mark.parametrize(
    "escape, table", [(errors.printable, errors._ESCAPES), (errors.json_printable, errors._JSON_ESCAPES)]
)
def test_the_terminal_escapes_skip_only_text_that_needs_none(escape: object, table: dict[int, str]) -> None:
    assert callable(escape)
    for char in SAMPLE:
        text = f"a{char}b"
        assert escape(text) == text.translate(table), hex(ord(char))
    mixed = "".join(SAMPLE)
    assert escape(mixed) == mixed.translate(table)
