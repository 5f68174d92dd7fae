"""The strict JSON codec every backend stores payloads with.

What a user relies on: whatever a store accepted reads back, exactly, from
any caller (an agent runner, a web handler several hundred frames deep); the
text handed to a driver is always valid UTF-8; a value that cannot round-trip
is refused before anything is written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from omnisession import InvalidEntry
from omnisession.backend import MAX_DEPTH, dumps, loads, loads_all

T = TypeVar("T")


def nested(depth: int, leaf: Any = 0) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _stack_depth() -> int:
    frame = sys._getframe()
    depth = 0
    while frame is not None:
        depth, frame = depth + 1, frame.f_back  # type: ignore[assignment]
    return depth


def from_depth(depth: int, work: Callable[[], T]) -> T:
    """``work()`` called with the stack ``depth`` frames deep."""
    if _stack_depth() >= depth:
        return work()
    return from_depth(depth, work)


#: Near the interpreter's recursion limit: deeper than any real caller.
DEEP = sys.getrecursionlimit() - 40


def test_loads_reads_back_what_dumps_wrote() -> None:
    value = {"text": "héllo 😀", "n": 2**70, "f": 0.1, "nested": [None, True, {}], "": -0.0}
    assert loads(dumps(value)) == value
    assert loads(dumps(value).encode()) == value
    assert loads(' {"a": 1} ') == {"a": 1}  # text not written by dumps still decodes


@pytest.mark.parametrize(
    "value",
    ["cut \ud83d", "\udc00 low first", {"\ud800key": ["\udfff", {"deep": "\udbff"}]}],
    ids=["high", "low", "keys and nested"],
)
def test_lone_surrogates_round_trip_and_the_text_is_utf8(value: Any) -> None:
    text = dumps(value)
    text.encode("utf-8")  # what every driver sends: never a UnicodeEncodeError
    assert "\\ud" in text.lower()  # escaped, not dropped or replaced
    assert loads(text) == value
    assert loads(text.encode("utf-8")) == value


def test_ordinary_unicode_stays_readable_in_the_text() -> None:
    assert dumps({"t": "é🙂"}) == '{"t":"é🙂"}'


@pytest.mark.parametrize(
    "bad",
    [{"x": float("nan")}, {"x": {1, 2}}, {1: "k"}, {"x": (1,)}, {"x": b"b"}, {"a": [{None: 1}]}],
    ids=["nan", "set", "int key", "tuple", "bytes", "nested None key"],
)
def test_values_that_would_not_round_trip_are_invalid_entries(bad: Any) -> None:
    with pytest.raises(InvalidEntry, match="not storable JSON"):
        dumps(bad, what="the payload")


def test_nesting_is_limited_to_100_levels() -> None:
    assert MAX_DEPTH == 100
    assert loads(dumps(nested(100))) == nested(100)
    assert loads(dumps({"v": nested(99)})) == {"v": nested(99)}
    for over in (nested(101), {"v": nested(100)}, [{"a": nested(99)}]):
        with pytest.raises(InvalidEntry, match="nested at most 100 levels"):
            dumps(over)


def test_a_value_written_from_a_shallow_stack_reads_back_from_a_deep_one() -> None:
    value = {"v": nested(99)}
    text = dumps(value)
    assert from_depth(DEEP, lambda: loads(text)) == value
    assert from_depth(DEEP, lambda: loads_all([text, text])) == [value, value]


def test_a_value_at_the_limit_is_written_from_a_deep_stack_too() -> None:
    value = {"v": nested(99)}
    assert from_depth(DEEP, lambda: dumps(value)) == dumps(value)
    half = {"v": nested(99, "cut \ud83d")}  # the escaping path too
    assert loads(from_depth(DEEP, lambda: dumps(half))) == half


def test_legacy_text_nested_990_deep_still_reads_from_a_deep_stack() -> None:
    # Written before the limit existed: deeper than any stack but a fresh one holds.
    text = "[" * 990 + '"leaf"' + "]" * 990
    for value in (from_depth(DEEP, lambda: loads(text)), loads(text)):
        depth = 0
        while isinstance(value, list):  # not ==: comparing 990 levels recurses too
            (value,) = value
            depth += 1
        assert (depth, value) == (990, "leaf")


def test_deep_over_limit_values_are_invalid_entries_not_recursion_errors() -> None:
    with pytest.raises(InvalidEntry):
        dumps(nested(100_000))
    with pytest.raises(InvalidEntry):
        from_depth(DEEP, lambda: dumps(nested(5_000)))


@pytest.mark.parametrize("text", ['{"a": 1} x', "", "{", "[1,"])
def test_loads_rejects_anything_but_one_json_value(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(text)


def test_loads_all_decodes_many_texts_in_order() -> None:
    values = [{"i": index, "s": "x" * index} for index in range(50)]
    assert loads_all([dumps(value) for value in values]) == values
    assert loads_all([]) == []


def test_loads_all_does_not_merge_or_split_corrupt_texts() -> None:
    """A stored text that is two values, or half of one, is an error, never a shifted list."""
    with pytest.raises(json.JSONDecodeError):
        loads_all(['{"a": 1}', "1,2"])
    with pytest.raises(json.JSONDecodeError):
        loads_all(['{"a": [1', "2]}"])
