"""The strict JSON codec every backend stores payloads with."""

from __future__ import annotations

import json

import pytest
from omnisession.backend import dumps, loads, loads_all


def test_loads_reads_back_what_dumps_wrote() -> None:
    value = {"text": "héllo 😀", "n": 2**70, "f": 0.1, "nested": [None, True, {}]}
    assert loads(dumps(value)) == value
    assert loads(dumps(value).encode()) == value
    assert loads(' {"a": 1} ') == {"a": 1}  # text not written by dumps still decodes


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
