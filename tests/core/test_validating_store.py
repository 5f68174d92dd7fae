"""ValidatingStore: every argument is checked and encoded before any hook runs."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from omnisession import (
    Appended,
    InvalidEntry,
    InvalidKey,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    SessionStore,
    StateDelta,
)
from omnisession.backend import ValidatingStore
from omnisession.memory import MemoryStore

KEY = SessionKey("app", "user", "session")


class Recording(ValidatingStore):
    """Records each hook call and its arguments; stores nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        self.calls.append(("_create_session", (key, delta)))
        return SessionRecord(key, {}, [], 0.0, 0.0, 1)

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        self.calls.append(("_get_session", (key, last, since)))
        return None

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        self.calls.append(("_list_sessions", (app_name, user_id, page_size, cursor)))
        return Page([], None)

    async def _append_event(
        self,
        key: SessionKey,
        entry: str,
        delta: StateDelta,
        timestamp: float,
        expected_revision: int | None,
    ) -> Appended:
        self.calls.append(("_append_event", (key, entry, delta, timestamp, expected_revision)))
        return Appended(seq=1, revision=2, timestamp=timestamp)

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        self.calls.append(("_update_state", (key, delta, expected_revision)))
        return 2

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        self.calls.append(("_get_items", (key, limit)))
        return []

    async def _add_items(self, key: SessionKey, entries: list[str]) -> None:
        self.calls.append(("_add_items", (key, entries)))


BAD_CALLS: list[tuple[Callable[[Any], Awaitable[Any]], type[Exception], str]] = [
    (lambda s: s.get_session(("app", "user", "s")), InvalidKey, "expected a SessionKey"),
    (lambda s: s.get_session(KEY, last=-1), ValueError, "last must be >= 0"),
    (lambda s: s.get_session(KEY, last="3"), TypeError, "last must be an int"),
    (lambda s: s.get_session(KEY, since="1.5"), TypeError, "since must be POSIX seconds"),
    (lambda s: s.list_sessions(""), InvalidKey, "app_name"),
    (lambda s: s.list_sessions("app", "u\x00"), InvalidKey, "NUL"),
    (lambda s: s.list_sessions("app", page_size=0), ValueError, "page_size"),
    (lambda s: s.create_session(KEY, {"x": object()}), InvalidEntry, "state"),
    (lambda s: s.append_event(KEY, {"x": {1, 2}}), InvalidEntry, "event payload"),
    (lambda s: s.append_event(KEY, ["not", "a", "dict"]), InvalidEntry, "event payload"),
    (lambda s: s.append_event(KEY, {}, state_delta={"x": math.nan}), InvalidEntry, "state"),
    (lambda s: s.append_event(KEY, {}, timestamp="now"), TypeError, "timestamp"),
    (lambda s: s.append_event(KEY, {}, timestamp=math.inf), ValueError, "finite"),
    (lambda s: s.append_event(KEY, {}, expected_revision="1"), TypeError, "expected_revision"),
    (lambda s: s.update_state(KEY, {"x": 1}, expected_revision=True), TypeError, "expected_rev"),
    (lambda s: s.get_items(KEY, limit=-1), ValueError, "must be >= 0"),
    (lambda s: s.add_items(KEY, [{"ok": 1}, {"bad": b"x"}]), InvalidEntry, "item 1"),
    (lambda s: s.add_items(KEY, {"not": "a list"}), InvalidEntry, "sequence of dicts"),
    (lambda s: s.pop_item("app/user/session"), InvalidKey, "expected a SessionKey"),
    (lambda s: s.clear_session(None), InvalidKey, "expected a SessionKey"),
    (lambda s: s.delete_session(None), InvalidKey, "expected a SessionKey"),
    (lambda s: s.get_user_state("app", ""), InvalidKey, "user_id"),
    (lambda s: s.get_app_state(None), InvalidKey, "app_name"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_input_fails_before_any_hook(
    call: Callable[[Any], Awaitable[Any]], error: type[Exception], message: str
) -> None:
    store = Recording()
    with pytest.raises(error, match=message):
        asyncio.run(call(store))  # type: ignore[arg-type]
    assert store.calls == []


def test_hooks_get_encoded_arguments() -> None:
    store = Recording()

    async def calls() -> None:
        await store.create_session(KEY, {"s": 1, "app:a": 2, "user:u": 3, "temp:t": 4})
        await store.append_event(KEY, {"b": "ü"}, state_delta={"x": None}, timestamp=5)
        await store.update_state(KEY, {"app:a": 1}, expected_revision=3)
        await store.get_session(KEY, last=2, since=7)
        await store.list_sessions("app", cursor="")
        await store.add_items(KEY, [{"i": 1}, {"i": 2}])
        await store.get_items(KEY, limit=3)

    asyncio.run(calls())
    assert store.calls == [
        ("_create_session", (KEY, StateDelta(app={"a": 2}, user={"u": 3}, session={"s": 1}))),
        ("_append_event", (KEY, '{"b":"ü"}', StateDelta(session={"x": None}), 5.0, None)),
        ("_update_state", (KEY, StateDelta(app={"a": 1}), 3)),
        ("_get_session", (KEY, 2, 7.0)),
        ("_list_sessions", ("app", None, 100, None)),
        ("_add_items", (KEY, ['{"i":1}', '{"i":2}'])),
        ("_get_items", (KEY, 3)),
    ]
    timestamp = store.calls[1][1][3]
    assert isinstance(timestamp, float) and type(store.calls[3][1][2]) is float


def test_defaults_and_shortcuts() -> None:
    store = Recording()

    async def calls() -> None:
        appended = await store.append_event(KEY, {})
        assert abs(appended.timestamp - time.time()) < 60
        assert await store.get_items(KEY, limit=0) == []
        await store.add_items(KEY, [])
        assert await store.get_session(KEY, since=math.nan) is None

    asyncio.run(calls())
    assert [name for name, _ in store.calls] == ["_append_event", "_get_session"]
    assert store.calls[1][1] == (KEY, 0, None)  # no timestamp is >= NaN


def test_a_missing_hook_says_which() -> None:
    store = Recording()
    with pytest.raises(NotImplementedError, match=r"Recording does not implement _pop_item\(\)"):
        asyncio.run(store.pop_item(KEY))


def test_the_base_keeps_the_protocol() -> None:
    assert isinstance(Recording(), SessionStore)
    assert isinstance(MemoryStore(), ValidatingStore)
