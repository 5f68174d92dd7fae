"""The write primitive: ``rebuild_state``, and ``Write`` -> ``Committed`` on the reference
store, step by step as :mod:`omnisession.writes` defines it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from omnisession import (
    AlreadyExists,
    Event,
    SessionKey,
    SessionNotFound,
    StaleSession,
    StateDelta,
)
from omnisession.memory import MemoryStore
from omnisession.writes import Committed, Creation, NewEvent, Write, rebuild_state

KEY = SessionKey("app", "u", "s")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- rebuild_state ------------------------------------------------------------------


def test_rebuild_state_is_the_base_plus_each_recorded_session_delta() -> None:
    events = [
        Event(1, 1.0, {}, {"s": 1, "app:a": 1}),
        Event(2, 2.0, {}),
        Event(3, 3.0, {}, {"s": 3, "k": None, "user:u": 3}),
    ]
    assert rebuild_state({"s": 0, "base": True}, events) == {"s": 3, "base": True, "k": None}
    assert rebuild_state({"s": 0}, events[:1]) == {"s": 1}
    assert rebuild_state({"s": 0}, []) == {"s": 0}


def test_rebuild_state_without_a_base_starts_empty_and_ignores_shared_scopes() -> None:
    events = [Event(1, 1.0, {}, {"app:a": 1, "user:u": 2, "temp:t": 3})]
    assert rebuild_state(None, events) == {}


def test_rebuild_state_returns_a_copy_that_aliases_nothing() -> None:
    base = {"list": [1]}
    delta = {"d": {"x": [1]}}
    state = rebuild_state(base, [Event(1, 1.0, {}, delta)])
    state["list"].append(2)
    state["d"]["x"].append(2)
    assert base == {"list": [1]} and delta == {"d": {"x": [1]}}


# -- Write -> Committed on memory:// (the reference of every backend's _write) --------------


def _write(store: MemoryStore, **fields: Any) -> Committed:
    fields.setdefault("updated_at", 50.0)
    return run(store._write(Write(KEY, **fields)))


def test_a_missing_session_is_not_found_unless_the_write_may_create_it() -> None:
    store = MemoryStore()
    with pytest.raises(SessionNotFound):
        _write(store, events=(NewEvent('{"i":1}', 1.0),))
    assert run(store.get_session(KEY)) is None
    created = _write(
        store, events=(NewEvent('{"i":1}', 1.0),), creation=Creation.IF_MISSING, created_at=40.0
    )
    assert created == Committed(revision=1, first_seq=1)  # a created session ends at 1
    record = run(store.get_session(KEY))
    assert (record.created_at, record.updated_at, record.revision) == (40.0, 50.0, 1)
    with pytest.raises(AlreadyExists):
        _write(store, creation=Creation.ONLY, created_at=1.0)


def test_a_stale_expected_revision_changes_nothing() -> None:
    store = MemoryStore()
    run(store.create_session(KEY, {"s": 1}))
    with pytest.raises(StaleSession) as caught:
        _write(store, delta=StateDelta(session={"s": 2}), expected_revision=7)
    assert (caught.value.expected, caught.value.actual) == (7, 1)
    record = run(store.get_session(KEY))
    assert (record.state, record.revision) == ({"s": 1}, 1)


def test_truncate_then_append_gives_new_numbers_past_every_one_ever_given() -> None:
    store = MemoryStore()
    run(store.add_items(KEY, [{"i": i} for i in range(4)]))  # seqs 1..4
    committed = _write(
        store, truncate_from=2, events=(NewEvent('{"r":1}', 9.0),), expected_revision=1
    )
    assert committed == Committed(revision=2, first_seq=5)
    record = run(store.get_session(KEY))
    assert [(e.seq, e.data) for e in record.events] == [(1, {"i": 0}), (5, {"r": 1})]
    assert _write(store, truncate_from=0).first_seq is None
    assert run(store.get_session(KEY)).events == []
    assert run(store.append_event(KEY, {"next": 1})).seq == 6


def test_events_with_their_own_numbers_keep_them_and_the_next_one_follows() -> None:
    store = MemoryStore()
    events = (NewEvent('{"a":1}', 1.0, '{"s":1}', seq=3), NewEvent('{"b":1}', 2.0, None, seq=10))
    _write(
        store,
        events=events,
        creation=Creation.ONLY,
        created_at=1.0,
        delta=StateDelta(session={"s": 1}),
        base_state={"s": 0},
    )
    record = run(store.get_session(KEY))
    assert [(e.seq, e.timestamp, e.state_delta) for e in record.events] == [
        (3, 1.0, {"s": 1}),
        (10, 2.0, None),
    ]
    assert record.base_state == {"s": 0} and record.state == {"s": 1}
    assert run(store.append_event(KEY, {})).seq == 11


def test_the_base_state_takes_writes_until_the_first_event_and_no_later() -> None:
    store = MemoryStore()
    run(store.create_session(KEY, {"s": 0}))
    run(store.update_state(KEY, {"s": 1, "early": True}))  # no event yet: part of the base
    run(store.append_event(KEY, {"i": 1}, state_delta={"s": 2}))
    run(store.update_state(KEY, {"late": True}))  # after the first event: not the base
    record = run(store.get_session(KEY))
    assert record.base_state == {"s": 1, "early": True}
    assert record.state == {"s": 2, "early": True, "late": True}
    # cleared, the session has had events: its base stays
    run(store.clear_session(KEY))
    run(store.update_state(KEY, {"after_clear": 1}))
    assert run(store.get_session(KEY)).base_state == {"s": 1, "early": True}


def test_updated_at_is_set_by_each_write_never_the_larger_one() -> None:
    store = MemoryStore()
    run(store.create_session(KEY))
    run(store.append_event(KEY, {}, timestamp=5000.0))
    assert run(store.get_session(KEY, last=0)).updated_at == 5000.0
    run(store.append_event(KEY, {}, timestamp=100.0))
    assert run(store.get_session(KEY, last=0)).updated_at == 100.0


def test_scopes_of_the_delta_reach_app_and_user_state_in_the_same_write() -> None:
    store = MemoryStore()
    run(store.create_session(KEY))
    _write(store, delta=StateDelta(app={"a": 1}, user={"u": 2}, session={"s": 3}))
    assert run(store.get_app_state("app")) == {"a": 1}
    assert run(store.get_user_state("app", "u")) == {"u": 2}
    assert run(store.get_session(KEY)).state == {"s": 3, "app:a": 1, "user:u": 2}
