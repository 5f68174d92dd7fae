"""The data model: keys, scope splitting, strict JSON."""

from __future__ import annotations

import base64
import math

import pytest
from omnisession import InvalidEntry, InvalidKey, SessionKey, merge_state, split_state
from omnisession.backend import decode_cursor, encode_cursor, encode_entries, encode_entry
from omnisession.model import check_id


def test_split_state_routes_every_prefix() -> None:
    delta = split_state(
        {"app:a": 1, "user:u": 2, "temp:t": 3, "plain": 4, "app:": 5, "user:app:x": 6, "none": None}
    )
    assert delta.app == {"a": 1, "": 5}
    assert delta.user == {"u": 2, "app:x": 6}
    assert delta.session == {"plain": 4, "none": None}
    assert not split_state(None) and not split_state({"temp:only": 1})


def test_merge_is_the_inverse_of_split() -> None:
    state = {"app:a": 1, "user:u": [1], "s": {"n": None}}
    delta = split_state(state)
    assert merge_state(delta.session, delta.app, delta.user) == state


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (("", "u", "s"), "app_name must not be empty"),
        (("a", "", "s"), "user_id must not be empty"),
        (("a", "u", ""), "session_id must not be empty"),
        (("a", "u", 3), "session_id must be a str"),
        (("a", "u\x00", "s"), "NUL"),
        (("a", "u", "x" * 1025), "keep ids at most 1024"),
        (("a", "u", "half \ud83d"), "lone surrogate"),
        (("a\udc00", "u", "s"), "not valid unicode"),
        ((b"a", "u", "s"), "app_name must be a str"),
    ],
)
def test_invalid_keys_say_what_is_wrong(parts: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidKey, match=message):
        SessionKey(*parts)  # type: ignore[arg-type]


def test_keys_compare_and_order_by_their_parts() -> None:
    assert SessionKey("a:b", "c", "s") != SessionKey("a", "b:c", "s")
    assert sorted([SessionKey("b", "a", "a"), SessionKey("a", "z", "z")])[0].app_name == "a"


@pytest.mark.parametrize(
    "bad", [{"x": math.nan}, {"x": {1, 2}}, {1: "int key"}, {"x": (1,)}, {"x": b"b"}, ["list"]]
)
def test_encode_entry_rejects_what_would_not_round_trip(bad: object) -> None:
    with pytest.raises(InvalidEntry, match=r"JSON|dict"):
        encode_entry(bad)


def test_encode_entries_checks_the_whole_batch_and_names_the_item() -> None:
    with pytest.raises(InvalidEntry, match="item 1"):
        encode_entries([{"ok": 1}, {"bad": object()}])
    with pytest.raises(InvalidEntry, match="not a single value"):
        encode_entries({"not": "a list"})  # type: ignore[arg-type]


def test_the_longest_ids_are_1024_characters_of_any_plane() -> None:
    for char in ("a", "🙂", ":", " "):
        assert SessionKey(char * 1024, char * 1024, char * 1024).app_name == char * 1024


def test_cursor_round_trips_and_rejects_forgeries() -> None:
    cursor = encode_cursor(1.5, "user/ü", "s:1")
    assert decode_cursor(cursor, float, str, str) == [1.5, "user/ü", "s:1"]
    assert decode_cursor(encode_cursor(3, 4), float, int) == [3.0, 4]
    for forged in ["%%%", encode_cursor(1, 2), "e30", "", "ü", "W10"]:
        with pytest.raises(ValueError, match="invalid cursor"):
            decode_cursor(forged, float, str, str)


def _raw_cursor(json_text: str) -> str:
    return base64.urlsafe_b64encode(json_text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("json_text", "kinds"),
    [
        ("[1e400]", (float,)),  # inf once decoded
        (f"[{10**400}]", (float,)),  # a score no float holds
        ('["NaN"]', (float,)),
        ("[NaN]", (float,)),
        (f"[{2**63}]", (int,)),  # past a 64-bit seq
        (f"[{-(2**63) - 1}]", (int,)),
        ("[1.5]", (int,)),
        ("[true]", (int,)),
        ("[1]", (str,)),
        ('["a", 1]', (str,)),
        ("[" * 5000 + "]" * 5000, (int,)),  # deeper than any stack decodes
        ('{"a": 1}', (int,)),
    ],
)
def test_forged_cursor_parts_out_of_range_are_value_errors_never_overflow(
    json_text: str, kinds: tuple[type, ...]
) -> None:
    with pytest.raises(ValueError, match="invalid cursor") as caught:
        decode_cursor(_raw_cursor(json_text), *kinds)
    assert not isinstance(caught.value, OverflowError)


def test_one_id_check_serves_keys_and_scope_ids() -> None:
    for bad in ["", "a\x00", "\ud800", "x" * 1025, 3]:
        with pytest.raises(InvalidKey) as from_check:
            check_id("user_id", bad)
        with pytest.raises(InvalidKey) as from_key:
            SessionKey("app", bad, "s")  # type: ignore[arg-type]
        assert str(from_check.value) == str(from_key.value)
    assert check_id("app_name", "ok 🙂") == "ok 🙂"
