"""Property-based tests of hostile ids, payloads and numbers on every backend target.

For every input, on every target of tests/targets (memory, SQLite, PostgreSQL,
MariaDB, Redis, Redis Cluster, DynamoDB, S3, ...): it either round-trips
exactly, or raises the very error core's checks raise for it (so every backend
raises the same project error for the same input, before any I/O) and nothing
is written.

Examples are bounded (a few dozen per property and backend, derandomized, no
example database) so ``make test`` stays fast and every run tries the same
inputs; the must-have inputs are pinned with ``@example``: lone surrogates,
NUL, huge ints, nesting at and over the limit, non-str keys, characters of
every Unicode plane, ids of 1024 and 1025 characters.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from omnisession import (
    Capability,
    InvalidEntry,
    InvalidKey,
    SessionKey,
    SessionStore,
    open_store,
)
from omnisession.checks import (
    check_count,
    check_page_size,
    check_since,
    check_timestamp,
    encode_entry,
    encode_state_delta,
)
from omnisession.model import check_id

from .targets import Target, all_targets

EXAMPLES = int(os.environ.get("OMNISESSION_HYPOTHESIS_EXAMPLES", "30"))
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

#: One character of each Unicode plane that has assigned or private-use code points.
EVERY_PLANE = "A\u00e9\u4f1a\U0001f642\U00020000\U00030000\U000e0001\U000f0000\U0010fffd"

TARGETS = [
    pytest.param(t, marks=[m for m in t.marks if isinstance(m, pytest.MarkDecorator)], id=t.name)
    for t in all_targets()
]

# -- strategies -----------------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()), max_size=40)
ids = st.one_of(
    any_text,
    st.text(st.characters(exclude_categories=()), min_size=1000, max_size=1100),
    st.sampled_from(["x" * 1024, "x" * 1025, "🙂" * 1024, "", "\x00", "\ud800", EVERY_PLANE]),
    st.integers(),
    st.none(),
    st.binary(max_size=4),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**2000), max_value=2**2000),
    st.floats(allow_nan=False),
    any_text,
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(any_text, children, max_size=4),
    ),
    max_leaves=12,
)
odd = st.one_of(
    st.dictionaries(
        st.one_of(st.integers(), st.none(), st.floats(allow_nan=False)), scalars, min_size=1,
        max_size=2,
    ),
    st.tuples(scalars),
    st.frozensets(st.integers(), max_size=2),
    st.binary(max_size=4),
    st.just(math.inf),
    st.just(-math.inf),
)  # fmt: skip


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


deep = st.integers(min_value=96, max_value=104).map(nested)
values = st.one_of(json_like, odd, deep)


# -- running hypothesis against one open store -------------------------------------------------


@contextlib.contextmanager
def opened(target: Target) -> Iterator[tuple[asyncio.Runner, SessionStore]]:
    """A store on a fresh isolated URL of ``target`` and the runner whose loop it lives on."""
    with asyncio.Runner() as runner:
        stack = contextlib.AsyncExitStack()
        url = runner.run(stack.enter_async_context(target.isolated_url()))
        try:
            store = runner.run(stack.enter_async_context(open_store(url, **target.options)))
            yield runner, store
        finally:
            runner.run(stack.aclose())


def same(left: Any, right: Any) -> bool:
    """Equal as JSON values, types included (``1 != 1.0 != True``, ``0.0 != -0.0``)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return left == right and math.copysign(1.0, left) == math.copysign(1.0, right)
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    return bool(left == right)


def refusal(check: Callable[[], object]) -> type[BaseException] | None:
    """The exception type core's own check raises for an input (``None``: accepted)."""
    try:
        check()
    except (TypeError, ValueError) as exc:
        return type(exc)
    return None


def _namespace() -> str:
    return f"hostile-{uuid.uuid4().hex[:12]}"


# -- ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_ids_round_trip_or_are_refused_everywhere(target: Target) -> None:
    with opened(target) as (runner, store):

        @BOUNDED
        @given(value=ids, position=st.sampled_from(["app", "user", "session"]))
        @example(value="x" * 1024, position="app")
        @example(value="🙂" * 1024, position="user")
        @example(value="x" * 1025, position="session")
        @example(value="lone \udc00 half", position="user")
        @example(value="nul\x00", position="app")
        @example(value=EVERY_PLANE, position="session")
        @example(value=" :/{}%*?", position="app")
        def check(value: Any, position: str) -> None:
            runner.run(_id_round_trip(store, value, position))

        check()


async def _id_round_trip(store: SessionStore, value: Any, position: str) -> None:
    unique = uuid.uuid4().hex
    parts = {"app": _namespace(), "user": f"u-{unique}", "session": f"s-{unique}"}
    parts[position] = value
    app, user, session = parts["app"], parts["user"], parts["session"]
    valid = refusal(lambda: check_id("id", value)) is None
    if not valid:
        with pytest.raises(InvalidKey):
            SessionKey(app, user, session)
        if position != "session":
            if value is not None:  # list_sessions(app, None) lists every user: valid
                with pytest.raises(InvalidKey):
                    await store.list_sessions(app, user)
            with pytest.raises(InvalidKey):
                await store.get_user_state(app, user)
        if position == "app":
            with pytest.raises(InvalidKey):
                await store.get_app_state(app)
            if Capability.LIFECYCLE in store.capabilities:
                with pytest.raises(InvalidKey):
                    await store.erase_app(app)  # type: ignore[attr-defined]
        return
    key = SessionKey(app, user, session)
    marker = {"id": value, "where": position}
    await store.create_session(key, {"s": value, "user:u": value, "app:a": value})
    await store.append_event(key, marker, state_delta={"t": value})
    record = await store.get_session(key)
    assert record is not None and record.key == key
    assert [e.data for e in record.events] == [marker]
    assert record.state == {"s": value, "t": value, "user:u": value, "app:a": value}
    listed = await store.list_sessions(app, user)
    assert [r.key for r in listed.sessions] == [key]
    assert await store.get_user_state(app, user) == {"u": value}
    assert (await store.get_app_state(app))["a"] == value
    await store.delete_session(key)
    assert await store.get_session(key) is None


# -- payloads and state values -----------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_payloads_round_trip_or_are_refused_with_nothing_written(target: Target) -> None:
    with opened(target) as (runner, store):
        key = SessionKey(_namespace(), "u", "payloads")
        runner.run(store.create_session(key, {"s": "before"}))

        @BOUNDED
        @given(value=values)
        @example(value="half \ud83d emoji")
        @example(value={"\udc00": "\x00", "nul\x00key": None})
        @example(value=[2**1000, -(2**1000), 10**300])
        @example(value=[1.7976931348623157e308, 5e-324, -0.0, 0.1])
        @example(value=nested(99))
        @example(value=nested(100))
        @example(value={1: "int key"})
        @example(value={"a": [{"b": {None: 1}}]})
        @example(value=EVERY_PLANE)
        @example(value={"": ""})
        def check(value: Any) -> None:
            runner.run(_payload_round_trip(store, key, value))

        check()


async def _payload_round_trip(store: SessionStore, key: SessionKey, value: Any) -> None:
    payload = {"v": value}
    before = await store.get_session(key)
    assert before is not None
    accepted = (
        refusal(lambda: encode_entry(payload)) is None
        and refusal(lambda: encode_state_delta({"s": value, "user:u": value})) is None
    )
    if not accepted:
        with pytest.raises(InvalidEntry):
            await store.append_event(key, payload)
        with pytest.raises(InvalidEntry):
            await store.append_event(key, {"ok": 1}, state_delta={"s": value, "user:u": value})
        with pytest.raises(InvalidEntry):
            await store.add_items(key, [{"ok": 1}, payload])
        with pytest.raises(InvalidEntry):
            await store.update_state(key, {"app:a": 1, "s": value})
        after = await store.get_session(key)
        assert after is not None
        assert after.revision == before.revision, "a refused write changed the revision"
        assert [e.seq for e in after.events] == [e.seq for e in before.events]
        assert after.state == before.state
        return
    appended = await store.append_event(key, payload, state_delta={"s": value, "user:u": value})
    await store.add_items(key, [payload])
    record = await store.get_session(key, last=2)
    assert record is not None
    got = [e.data for e in record.events]
    assert len(got) == 2 and all(same(item, payload) for item in got), (payload, got)
    assert record.events[0].seq == appended.seq
    delta = record.events[0].state_delta
    assert delta is not None and same(delta, {"s": value, "user:u": value}), delta
    assert same(record.state["s"], value) and same(record.state["user:u"], value)
    items = await store.get_items(key, limit=2)
    assert all(same(item, payload) for item in items), items
    page = await store.get_events(key, page_size=2)
    assert all(same(e.data, payload) for e in page.events)
    popped = await store.pop_item(key)
    assert same(popped, payload)


# -- numbers: counts, page sizes, timestamps, since -------------------------------------------

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**65),
    st.integers(min_value=-(2**1100), max_value=2**1100),
    st.floats(allow_nan=False),
    st.sampled_from([0, 1, 10_000, 10_001, 2**63 - 1, 2**63, 1e300, -1e300, math.inf, -math.inf]),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)


@pytest.mark.parametrize("target", TARGETS)
def test_numbers_are_accepted_exactly_as_core_checks_them(target: Target) -> None:
    with opened(target) as (runner, store):
        key = SessionKey(_namespace(), "u", "numbers")
        runner.run(store.create_session(key))
        runner.run(store.append_event(key, {"i": 0}, timestamp=100.0))
        runner.run(store.append_event(key, {"i": 1}, timestamp=200.0))

        @BOUNDED
        @given(value=numbers)
        @example(value=2**63)
        @example(value=2**63 - 1)
        @example(value=2**1100)
        @example(value=10**400)
        @example(value=-math.inf)
        @example(value=math.inf)
        @example(value=253_402_300_799.0)
        @example(value=-62_135_596_800.0)
        @example(value=True)
        def check(value: Any) -> None:
            runner.run(_numbers(store, key, value))

        check()


async def _expect(call: Any, refused: type[BaseException] | None) -> Any:
    if refused is None:
        return await call()
    with pytest.raises(refused):
        await call()
    return None


async def _numbers(store: SessionStore, key: SessionKey, value: Any) -> None:
    before = await store.get_session(key)
    assert before is not None
    record = await _expect(
        lambda: store.get_session(key, last=value), refusal(lambda: check_count("last", value))
    )
    if record is not None:
        assert len(record.events) == (2 if value is None else min(value, 2))
    items = await _expect(
        lambda: store.get_items(key, limit=value), refusal(lambda: check_count("limit", value))
    )
    if items is not None:
        assert len(items) == (2 if value is None else min(value, 2))
    size_refused = refusal(lambda: check_page_size(value))
    await _expect(lambda: store.list_sessions(key.app_name, page_size=value), size_refused)
    await _expect(lambda: store.get_events(key, page_size=value), size_refused)
    since_refused = refusal(lambda: check_since(value)) if value is not None else None
    filtered = await _expect(lambda: store.get_session(key, since=value), since_refused)
    if filtered is not None and value is not None:
        expected = [e.data for e in before.events if e.timestamp >= value]
        assert [e.data for e in filtered.events] == expected, (value, filtered.events)
    stamp_refused = refusal(lambda: check_timestamp(value))
    appended = await _expect(
        lambda: store.append_event(key, {"probe": True}, timestamp=value), stamp_refused
    )
    after = await store.get_session(key)
    assert after is not None
    if appended is None:
        assert after.revision == before.revision and len(after.events) == 2
        return
    assert after.events[-1].data == {"probe": True}
    if value is not None:
        assert after.events[-1].timestamp == float(value) and after.updated_at == float(value)
    assert await store.pop_item(key) == {"probe": True}
