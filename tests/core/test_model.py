"""The data model: keys, scope splitting, strict JSON."""

from __future__ import annotations

import math

import pytest
from omnisession import InvalidEntry, InvalidKey, SessionKey, merge_state, split_state
from omnisession.backend import decode_cursor, encode_cursor, encode_entries, encode_entry


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
        (("a", "u", "x" * 2000), "under 1024"),
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
    with pytest.raises(InvalidEntry, match="sequence of dicts"):
        encode_entries({"not": "a list"})  # type: ignore[arg-type]


def test_cursor_round_trips_and_rejects_forgeries() -> None:
    cursor = encode_cursor(1.5, "user/ü", "s:1")
    assert decode_cursor(cursor, 3) == [1.5, "user/ü", "s:1"]
    for forged in ["%%%", encode_cursor(1, 2), "e30"]:
        with pytest.raises(ValueError, match="invalid cursor"):
            decode_cursor(forged, 3)
