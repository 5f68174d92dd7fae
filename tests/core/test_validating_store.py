"""ValidatingStore: every argument of every public method is checked before any hook runs.

The store under test records each hook call and stores nothing, so "nothing
reached a hook" is exactly "nothing reached the engine": a backend built on
ValidatingStore gets the same error for the same bad input, before any I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from omnisession import (
    AlreadyExists,
    Event,
    EventPage,
    InvalidEntry,
    InvalidKey,
    JSONObject,
    Page,
    SessionKey,
    SessionNotFound,
    SessionRecord,
    SessionStore,
    StateDelta,
    Unsupported,
)
from omnisession.backend import ValidatingStore
from omnisession.checks import MAX_COUNT, MAX_TIMESTAMP, MIN_TIMESTAMP, encode_cursor
from omnisession.memory import MemoryStore
from omnisession.store import LifecycleStore
from omnisession.writes import Committed, Creation, NewEvent, Write

KEY = SessionKey("app", "user", "session")
OTHER = SessionKey("app", "user", "other")


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


AT_LIMIT = {"v": nested(99)}  # the object itself is level 1: 100 deep
OVER_LIMIT = {"v": nested(100)}  # 101 deep
STORED_EVENT = Event(seq=1, timestamp=1.0, data={"i": 1})


class Recording(ValidatingStore):
    """Records each hook call and its arguments; stores nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _record(self, hook: str, *args: Any) -> None:
        self.calls.append((hook, args))

    async def _write(self, write: Write) -> Committed:
        self._record("_write", write)
        return Committed(revision=2, first_seq=1 if write.events else None)

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        self._record("_get_session", key, last, since)
        return None

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        self._record("_list_sessions", app_name, user_id, page_size, cursor)
        return Page([], None)

    async def _delete_session(self, key: SessionKey) -> None:
        self._record("_delete_session", key)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        self._record("_get_items", key, limit)
        return []

    async def _get_events(
        self, key: SessionKey, after: int | None, before: int | None, limit: int, oldest: bool
    ) -> list[Event]:
        self._record("_get_events", key, after, before, limit, oldest)
        return []

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        self._record("_pop_item", key)
        return None

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        self._record("_get_user_state", app_name, user_id)
        return {}

    async def _get_app_state(self, app_name: str) -> JSONObject:
        self._record("_get_app_state", app_name)
        return {}

    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        self._record("_delete_idle", keys, updated_before)
        return 0

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        self._record("_erase", app_name, user_id)
        return 0

    async def _list_apps(self) -> list[str]:
        self._record("_list_apps")
        return ["b", "a"]

    async def _update_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        self._record("_update_scope", app_name, user_id, values)


Call = Callable[[Any], Awaitable[Any]]

#: Ids every id check refuses: empty, NUL, lone surrogates, too long, not a str.
BAD_IDS: list[Any] = ["", "a\x00b", "\ud800", "half \udfff", "x" * 1025, 5, b"bytes"]


def _id_calls(bad: Any) -> list[Call]:
    """Every public method taking a bare app name or user id, given ``bad`` in each."""
    return [
        lambda s: s.list_sessions(bad),
        lambda s: s.list_sessions("app", bad),
        lambda s: s.get_user_state(bad, "u"),
        lambda s: s.get_user_state("app", bad),
        lambda s: s.get_app_state(bad),
        lambda s: s.purge_sessions(bad, 1.0),
        lambda s: s.purge_sessions("app", 1.0, user_id=bad),
        lambda s: s.erase_user(bad, "u"),
        lambda s: s.erase_user("app", bad),
        lambda s: s.erase_app(bad),
        lambda s: s.update_app_state(bad, {"k": 1}),
        lambda s: s.update_user_state(bad, "u", {"k": 1}),
        lambda s: s.update_user_state("app", bad, {"k": 1}),
    ]


def _key_calls(bad: Any) -> list[Call]:
    """Every public method taking a key, given something that is not a SessionKey."""
    return [
        lambda s: s.create_session(bad),
        lambda s: s.get_session(bad),
        lambda s: s.delete_session(bad),
        lambda s: s.append_event(bad, {}),
        lambda s: s.update_state(bad, {"x": 1}),
        lambda s: s.get_items(bad),
        lambda s: s.add_items(bad, [{}]),
        lambda s: s.pop_item(bad),
        lambda s: s.clear_session(bad),
        lambda s: s.get_events(bad),
        lambda s: s.replace_events(bad, 0, [], expected_revision=1),
        lambda s: s.fork_session(bad, KEY),
        lambda s: s.fork_session(KEY, bad),
        lambda s: s.import_session(bad, [], state={}, created_at=1.0, updated_at=1.0),
    ]


def _payload_calls(payload: Any, value: Any = None) -> list[Call]:
    """Every public method writing a payload or state: ``payload`` where a payload goes,
    ``value`` (default: ``payload``) where a state value goes."""
    value = payload if value is None else value
    return [
        lambda s: s.append_event(KEY, payload),
        lambda s: s.append_event(KEY, {}, state_delta={"x": value}),
        lambda s: s.append_event(KEY, {}, state_delta={"app:x": value}),
        lambda s: s.add_items(KEY, [{"ok": 1}, payload]),
        lambda s: s.create_session(KEY, {"user:x": value}),
        lambda s: s.update_state(KEY, {"x": value}),
        lambda s: s.replace_events(KEY, 0, [payload], expected_revision=1),
        lambda s: s.update_app_state("app", {"x": value}),
        lambda s: s.update_user_state("app", "u", {"x": value}),
        lambda s: s.import_session(
            KEY, [Event(1, 1.0, payload)], state={}, created_at=1.0, updated_at=1.0
        ),
        lambda s: s.import_session(KEY, [], state={"x": value}, created_at=1.0, updated_at=1.0),
        lambda s: s.import_session(
            KEY, [Event(1, 1.0, {}, {"x": value})], state={}, created_at=1.0, updated_at=1.0
        ),
    ]


_NOT_JSON: list[Any] = [
    {"x": {1, 2}},
    {"x": b"bytes"},
    {"x": math.nan},
    {"x": math.inf},
    {"x": (1, 2)},
    {1: "int key"},
    {"x": [{"y": {None: 1}}]},
    {"x": object()},
]

BIG = 2**63
HUGE = 2**1100

#: (call, error, message) for numbers out of range or of the wrong type.
BAD_NUMBERS: list[tuple[Call, type[Exception], str]] = [
    (lambda s: s.get_session(KEY, last=-1), ValueError, "last must be >= 0"),
    (lambda s: s.get_session(KEY, last=BIG), ValueError, "at most 2\\*\\*63 - 1"),
    (lambda s: s.get_session(KEY, last=HUGE), ValueError, "last"),
    (lambda s: s.get_session(KEY, last="3"), TypeError, "last must be an int"),
    (lambda s: s.get_session(KEY, last=True), TypeError, "last must be an int"),
    (lambda s: s.get_session(KEY, last=2.0), TypeError, "last must be an int"),
    (lambda s: s.get_session(KEY, since="1.5"), TypeError, "since must be POSIX seconds"),
    (lambda s: s.get_items(KEY, limit=-1), ValueError, "limit must be >= 0"),
    (lambda s: s.get_items(KEY, limit=BIG), ValueError, "limit"),
    (lambda s: s.list_sessions("app", page_size=0), ValueError, "page_size"),
    (lambda s: s.list_sessions("app", page_size=BIG), ValueError, "page_size"),
    (lambda s: s.list_sessions("app", page_size=10_001), ValueError, "10000"),
    (lambda s: s.list_sessions("app", page_size=1.5), TypeError, "page_size"),
    (lambda s: s.list_sessions("app", cursor=3), TypeError, "cursor"),
    (lambda s: s.get_events(KEY, page_size=0), ValueError, "page_size"),
    (lambda s: s.get_events(KEY, page_size=BIG), ValueError, "page_size"),
    (lambda s: s.get_events(KEY, cursor=encode_cursor("before", BIG)), ValueError, "cursor"),
    (lambda s: s.get_events(KEY, cursor=encode_cursor("before", 1.5)), ValueError, "cursor"),
    (lambda s: s.get_events(KEY, cursor=encode_cursor("after", 3)), ValueError, "other way"),
    (
        lambda s: s.get_events(KEY, cursor=encode_cursor("before", 3), oldest_first=True),
        ValueError,
        "other way",
    ),
    (lambda s: s.get_events(KEY, cursor="%%%"), ValueError, "invalid cursor"),
    (lambda s: s.get_events(KEY, cursor="W10"), ValueError, "invalid cursor"),
    (lambda s: s.append_event(KEY, {}, timestamp=HUGE), ValueError, "year 9999"),
    (lambda s: s.append_event(KEY, {}, timestamp=-HUGE), ValueError, "year 9999"),
    (lambda s: s.append_event(KEY, {}, timestamp=1e300), ValueError, "year 9999"),
    (lambda s: s.append_event(KEY, {}, timestamp=MAX_TIMESTAMP + 1), ValueError, "year 9999"),
    (lambda s: s.append_event(KEY, {}, timestamp=math.inf), ValueError, "finite"),
    (lambda s: s.append_event(KEY, {}, timestamp=math.nan), ValueError, "finite"),
    (lambda s: s.append_event(KEY, {}, timestamp="now"), TypeError, "timestamp"),
    (lambda s: s.append_event(KEY, {}, timestamp=True), TypeError, "timestamp"),
    (lambda s: s.append_event(KEY, {}, expected_revision=BIG), ValueError, "revision"),
    (lambda s: s.append_event(KEY, {}, expected_revision=-HUGE), ValueError, "revision"),
    (lambda s: s.append_event(KEY, {}, expected_revision="1"), TypeError, "expected_revision"),
    (lambda s: s.update_state(KEY, {"x": 1}, expected_revision=True), TypeError, "expected_rev"),
    (lambda s: s.replace_events(KEY, -1, [], expected_revision=1), ValueError, "from_seq"),
    (lambda s: s.replace_events(KEY, BIG, [], expected_revision=1), ValueError, "from_seq"),
    (lambda s: s.replace_events(KEY, 0, [], expected_revision=None), TypeError, "expected_rev"),
    (lambda s: s.replace_events(KEY, None, [], expected_revision=1), TypeError, "from_seq"),
    (lambda s: s.fork_session(KEY, OTHER, up_to=-1), ValueError, "up_to"),
    (lambda s: s.fork_session(KEY, OTHER, up_to=BIG), ValueError, "up_to"),
    (lambda s: s.purge_sessions("app", math.inf), ValueError, "updated_before"),
    (lambda s: s.purge_sessions("app", math.nan), ValueError, "updated_before"),
    (lambda s: s.purge_sessions("app", HUGE), ValueError, "updated_before"),
    (lambda s: s.purge_sessions("app", -HUGE), ValueError, "updated_before"),
    (lambda s: s.purge_sessions("app", "2000"), TypeError, "updated_before"),
    (lambda s: s.purge_sessions("app", 1.0, batch_size=0), ValueError, "batch_size"),
    (lambda s: s.purge_sessions("app", 1.0, batch_size=BIG), ValueError, "batch_size"),
    (
        lambda s: s.import_session(KEY, [], state={}, created_at=HUGE, updated_at=1.0),
        ValueError,
        "created_at",
    ),
    (
        lambda s: s.import_session(KEY, [], state={}, created_at=1.0, updated_at=math.nan),
        ValueError,
        "updated_at",
    ),
    (
        lambda s: s.import_session(
            KEY, [Event(BIG, 1.0, {})], state={}, created_at=1.0, updated_at=1.0
        ),
        ValueError,
        "seq",
    ),
    (
        lambda s: s.import_session(
            KEY, [Event(1, HUGE, {})], state={}, created_at=1.0, updated_at=1.0
        ),
        ValueError,
        "timestamp",
    ),
    (
        lambda s: s.import_session(
            KEY, [Event(2, 1.0, {}), Event(1, 1.0, {})], state={}, created_at=1.0, updated_at=1.0
        ),
        ValueError,
        "increasing seq",
    ),
]

#: (call, error, message) for everything else that is not a storable value.
BAD_VALUES: list[tuple[Call, type[Exception], str]] = [
    (lambda s: s.append_event(KEY, ["not", "a", "dict"]), InvalidEntry, "event payload"),
    (lambda s: s.add_items(KEY, {"not": "a list"}), InvalidEntry, "not a single value"),
    (lambda s: s.add_items(KEY, "text"), InvalidEntry, "a list"),
    (lambda s: s.create_session(KEY, ["a"]), InvalidEntry, "state must be a dict"),
    (lambda s: s.create_session(KEY, {1: "x"}), InvalidEntry, "must be a str"),
    (lambda s: s.update_app_state("app", None), InvalidEntry, "must be a dict"),
    (lambda s: s.update_user_state("app", "u", {1: 2}), InvalidEntry, "must be a str"),
    (
        lambda s: s.import_session(KEY, [{"i": 1}], state={}, created_at=1.0, updated_at=1.0),
        InvalidEntry,
        "must be an omnisession Event",
    ),
    (
        lambda s: s.import_session(KEY, [], state={"app:x": 1}, created_at=1.0, updated_at=1.0),
        InvalidEntry,
        "app: or user: keys",
    ),
    (
        lambda s: s.import_session(
            KEY, [], state={}, base_state={"user:x": 1}, created_at=1.0, updated_at=1.0
        ),
        InvalidEntry,
        "app: or user: keys",
    ),
    (lambda s: s.fork_session(KEY, KEY), AlreadyExists, "already exists"),
]


def _run_refused(call: Call, error: type[Exception], message: str) -> None:
    store = Recording()
    with pytest.raises(error, match=message or None) as caught:
        asyncio.run(call(store))  # type: ignore[arg-type]
    assert not isinstance(caught.value, OverflowError), "an out-of-range number overflowed"
    assert store.calls == [], f"a hook ran before the check: {store.calls}"


@pytest.mark.parametrize(
    "bad", BAD_IDS, ids=["empty", "NUL", "lone high", "lone low", "1025", "int", "bytes"]
)
def test_every_bad_id_is_refused_by_every_method_before_any_hook(bad: Any) -> None:
    # the one id check: the same id is refused the same way in a key and bare
    for parts in ((bad, "u", "s"), ("app", bad, "s"), ("app", "u", bad)):
        with pytest.raises(InvalidKey):
            SessionKey(*parts)
    for call in _id_calls(bad):
        _run_refused(call, InvalidKey, "")


@pytest.mark.parametrize("bad", [("app", "user", "s"), "app/user/s", None, 3])
def test_every_method_taking_a_key_refuses_anything_else(bad: Any) -> None:
    for call in _key_calls(bad):
        _run_refused(call, InvalidKey, "must be a SessionKey")


_NOT_JSON_IDS = ["set", "bytes", "nan", "inf", "tuple", "int key", "deep None key", "object"]


@pytest.mark.parametrize("payload", _NOT_JSON, ids=_NOT_JSON_IDS)
def test_every_write_refuses_what_is_not_storable_json_before_any_hook(payload: Any) -> None:
    for call in _payload_calls(payload):
        _run_refused(call, InvalidEntry, "not storable JSON|must be a str")


def test_nesting_100_deep_is_stored_and_101_is_invalid_entry() -> None:
    # a payload counts from its own object; a state value from its state's
    for call in _payload_calls(OVER_LIMIT, nested(100)):
        _run_refused(call, InvalidEntry, "nested at most 100 levels")
    store = Recording()

    async def writes() -> None:
        for call in _payload_calls(AT_LIMIT, nested(99)):
            # create_session reads its record back: none here, as Recording keeps nothing
            with contextlib.suppress(SessionNotFound):
                await call(store)

    asyncio.run(writes())
    hooks = [name for name, _ in store.calls]
    assert (hooks.count("_write"), hooks.count("_update_scope")) == (10, 2), hooks


@pytest.mark.parametrize(
    ("call", "error", "message"), BAD_NUMBERS, ids=[m for *_, m in BAD_NUMBERS]
)
def test_numbers_out_of_range_are_value_or_type_errors_never_overflow(
    call: Call, error: type[Exception], message: str
) -> None:
    _run_refused(call, error, message)


@pytest.mark.parametrize(("call", "error", "message"), BAD_VALUES, ids=[m for *_, m in BAD_VALUES])
def test_other_bad_arguments_are_refused_before_any_hook(
    call: Call, error: type[Exception], message: str
) -> None:
    _run_refused(call, error, message)


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (math.inf, (0, None)),  # no timestamp is >= inf: the record, without events
        (math.nan, (0, None)),  # nor >= NaN
        (HUGE, (0, None)),
        (1e300, (0, None)),
        (MAX_TIMESTAMP + 1, (0, None)),
        (-math.inf, (None, None)),  # every timestamp is >= -inf: no bound
        (-HUGE, (None, None)),
        (MIN_TIMESTAMP, (None, None)),
        (MAX_TIMESTAMP, (None, MAX_TIMESTAMP)),
        (7, (None, 7.0)),
    ],
)
def test_since_of_any_number_is_a_bound_or_matches_nothing(
    since: float, expected: tuple[int | None, float | None]
) -> None:
    store = Recording()
    asyncio.run(store.get_session(KEY, since=since))
    assert store.calls == [("_get_session", (KEY, *expected))]
    if expected[1] is not None:
        assert type(store.calls[0][1][2]) is float


def test_hooks_get_checked_encoded_arguments() -> None:
    store = Recording()

    async def calls() -> None:
        await store.append_event(KEY, {"b": "ü"}, state_delta={"x": None, "temp:t": 1}, timestamp=5)
        await store.update_state(KEY, {"app:a": 1}, expected_revision=3)
        await store.get_session(KEY, last=2, since=7)
        await store.list_sessions("app", cursor="")
        await store.add_items(KEY, [{"i": 1}, {"i": 2}])
        await store.get_items(KEY, limit=3)
        await store.get_events(KEY, page_size=2)
        await store.get_events(KEY, cursor=encode_cursor("after", 4), oldest_first=True)
        await store.clear_session(KEY)
        await store.replace_events(KEY, 3, [{"r": 1}], expected_revision=9)

    asyncio.run(calls())
    names = [name for name, _ in store.calls]
    assert names == [
        "_write",
        "_write",
        "_get_session",
        "_list_sessions",
        "_write",
        "_get_items",
        "_get_events",
        "_get_events",
        "_write",
        "_write",
    ]
    append, update, _, listing, add, _, backwards, forwards, clear, replace = (
        args for _, args in store.calls
    )
    (write,) = append
    assert write.events == (NewEvent('{"b":"ü"}', 5.0, '{"x":null}'),)
    assert write.delta == StateDelta(session={"x": None})
    assert (write.updated_at, write.creation, write.expected_revision) == (
        5.0,
        Creation.NEVER,
        None,
    )
    assert update[0].delta == StateDelta(app={"a": 1}) and update[0].expected_revision == 3
    assert update[0].events == ()
    assert listing == ("app", None, 100, None)
    assert [e.data for e in add[0].events] == ['{"i":1}', '{"i":2}']
    assert add[0].creation is Creation.IF_MISSING and add[0].created_at is not None
    assert backwards == (KEY, None, None, 3, False)
    assert forwards == (KEY, 4, None, 101, True)
    assert (clear[0].truncate_from, clear[0].events) == (0, ())
    assert (replace[0].truncate_from, replace[0].expected_revision) == (3, 9)
    assert [e.data for e in replace[0].events] == ['{"r":1}']


def test_defaults_and_shortcuts_skip_the_hooks() -> None:
    store = Recording()

    async def calls() -> None:
        appended = await store.append_event(KEY, {})
        assert abs(appended.timestamp - time.time()) < 60
        assert await store.get_items(KEY, limit=0) == []
        await store.add_items(KEY, [])
        assert await store.list_apps() == ["a", "b"]

    asyncio.run(calls())
    assert [name for name, _ in store.calls] == ["_write", "_list_apps"]


def test_lifecycle_hooks_a_backend_lacks_are_unsupported_naming_the_capability() -> None:
    class Bare(ValidatingStore):
        pass

    store = Bare()
    for call in (
        lambda: store.erase_user("app", "u"),
        lambda: store.erase_app("app"),
        lambda: store.list_apps(),
        lambda: store.update_app_state("app", {"k": 1}),
        lambda: store.update_user_state("app", "u", {"k": 1}),
    ):
        with pytest.raises(Unsupported, match="'lifecycle' capability"):
            asyncio.run(call())  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match=r"Bare does not implement _pop_item\(\)"):
        asyncio.run(store.pop_item(KEY))


def test_get_events_pages_from_one_hook_call_each() -> None:
    class Ten(Recording):
        async def _get_events(
            self, key: SessionKey, after: int | None, before: int | None, limit: int, oldest: bool
        ) -> list[Event]:
            await super()._get_events(key, after, before, limit, oldest)
            seqs = [s for s in range(1, 11) if (after is None or s > after)]
            seqs = [s for s in seqs if before is None or s < before]
            seqs = seqs[:limit] if oldest else seqs[-limit:]
            return [Event(s, float(s), {"s": s}) for s in seqs]

    store = Ten()

    async def walk(oldest_first: bool) -> list[list[int]]:
        pages: list[list[int]] = []
        page: EventPage | None = None
        while page is None or page.next_cursor is not None:
            cursor = None if page is None else page.next_cursor
            page = await store.get_events(
                KEY, page_size=4, cursor=cursor, oldest_first=oldest_first
            )
            pages.append([e.seq for e in page.events])
        return pages

    assert asyncio.run(walk(False)) == [[7, 8, 9, 10], [3, 4, 5, 6], [1, 2]]
    assert asyncio.run(walk(True)) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert all(name == "_get_events" for name, _ in store.calls)


def test_purge_lists_and_deletes_in_batches_until_nothing_is_idle() -> None:
    class Idle(Recording):
        def __init__(self) -> None:
            super().__init__()
            self.sessions = {SessionKey("app", "u", f"s{i}"): float(i) for i in range(5)}

        async def _list_sessions(
            self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
        ) -> Page:
            await super()._list_sessions(app_name, user_id, page_size, cursor)
            ordered = sorted(self.sessions.items(), key=lambda item: item[1])[:page_size]
            return Page([SessionRecord(k, {}, [], t, t, 1) for k, t in ordered])

        async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
            await super()._delete_idle(keys, updated_before)
            doomed = [k for k in keys if self.sessions[k] < updated_before]
            for key in doomed:
                del self.sessions[key]
            return len(doomed)

    store = Idle()
    assert asyncio.run(store.purge_sessions("app", 3.5, batch_size=2)) == 4
    assert list(store.sessions) == [SessionKey("app", "u", "s4")]
    batches = [args[0] for name, args in store.calls if name == "_delete_idle"]
    assert [len(batch) for batch in batches] == [2, 2]


def test_the_base_keeps_the_protocols() -> None:
    assert isinstance(Recording(), SessionStore)
    assert isinstance(Recording(), LifecycleStore)
    assert isinstance(MemoryStore(), ValidatingStore)


def test_bounds_are_the_documented_ones() -> None:
    assert MAX_COUNT == 2**63 - 1
    store = Recording()
    asyncio.run(store.get_session(KEY, last=MAX_COUNT))
    asyncio.run(store.get_items(KEY, limit=MAX_COUNT))
    asyncio.run(store.append_event(KEY, {}, timestamp=MIN_TIMESTAMP))
    asyncio.run(store.append_event(KEY, {}, timestamp=MAX_TIMESTAMP))
    assert [name for name, _ in store.calls] == ["_get_session", "_get_items", "_write", "_write"]
