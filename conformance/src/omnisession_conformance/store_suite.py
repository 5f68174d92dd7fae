"""``StoreConformance``: every rule of the store contract, one case each.

Bind it to a backend::

    class TestMyStore(StoreConformance):
        async def store(self):
            async with open_store("mydb://...") as store:   # must be empty
                yield store

        async def second_store(self, store):                # optional
            async with open_store("mydb://...") as other:   # same engine
                yield other
"""

from __future__ import annotations

import asyncio
import inspect
import math
from typing import Any

import pytest
from omnisession import (
    AlreadyExists,
    Capability,
    InvalidEntry,
    InvalidKey,
    SessionKey,
    SessionNotFound,
    SessionStore,
    StaleSession,
)

from .harness import _XFAIL_ATTR, ConformanceBase, case, cases_of

__all__ = ["HOSTILE_IDS", "StoreConformance"]

BASE = Capability.BASE

#: Ids that break naive key schemes: separators, hash tags, escapes, unicode.
HOSTILE_IDS = [
    "a:b",
    "a/b",
    "{a}",
    "a}b{",
    "%3A",
    "a%b",
    "with space",
    " leading",
    "üñíçødé-会话-🙂",
    "a\\b",
    "'quoted\"",
    "*",
    "?x=1&y=2",
    "line\nbreak",
    "..",
]

_FIDELITY_PAYLOAD: dict[str, Any] = {
    "unicode": "héllo wörld — 你好 — 🙂 — \u200b",
    "escapes": 'quote" backslash\\ newline\n tab\t nul-free',
    "nested": {"a": [1, [2, [3, {"b": None}]]], "empty_list": [], "empty_obj": {}},
    "large_ints": [2**53 + 1, 2**63 - 1, -(2**63), 2**70, -(2**80)],
    "floats": [0.1, -0.0, 1e-300, 1.5e300, 3.141592653589793, 1.0],
    "bools": [True, False],
    "none": None,
    "keys with: colons/and {braces}": "ok",
}


async def _pop_many(store: SessionStore, key: SessionKey, count: int) -> list[tuple[str, int]]:
    popped = await asyncio.gather(*(store.pop_item(key) for _ in range(count)))
    return [(item["t"], item["i"]) for item in popped if item is not None]


class StoreConformance(ConformanceBase):
    """The store contract of DESIGN.md, as conformance cases."""

    # -- create / get --------------------------------------------------------

    @case(BASE)
    async def create_session_returns_empty_record(self, store: SessionStore) -> None:
        """create_session returns the record: scoped state, no events, a revision."""
        key = self.key()
        record = await store.create_session(key, {"a": 1, "app:b": 2, "user:c": 3, "temp:d": 4})
        assert record.key == key
        assert record.events == []
        assert record.state == {"a": 1, "app:b": 2, "user:c": 3}
        assert isinstance(record.revision, int)
        assert record.created_at <= record.updated_at
        loaded = await store.get_session(key)
        assert loaded is not None and loaded.state == record.state
        assert loaded.revision == record.revision

    @case(BASE)
    async def create_existing_raises_already_exists(self, store: SessionStore) -> None:
        """A second create_session of one key raises AlreadyExists and changes nothing."""
        key = self.key()
        await store.create_session(key, {"v": 1})
        with pytest.raises(AlreadyExists):
            await store.create_session(key, {"v": 2})
        loaded = await store.get_session(key)
        assert loaded is not None and loaded.state == {"v": 1}

    @case(BASE)
    async def get_missing_session_returns_none(self, store: SessionStore) -> None:
        """get_session of an unknown key returns None."""
        assert await store.get_session(self.key("nope")) is None

    @case(BASE)
    async def get_session_last_n_returns_newest_in_order(self, store: SessionStore) -> None:
        """last=N returns the newest N events oldest first; last larger than history is all."""
        key = self.key()
        await store.create_session(key)
        for i in range(10):
            await store.append_event(key, {"i": i})
        record = await store.get_session(key, last=3)
        assert record is not None
        assert [e.data["i"] for e in record.events] == [7, 8, 9]
        assert [e.seq for e in record.events] == sorted(e.seq for e in record.events)
        whole = await store.get_session(key, last=100)
        assert whole is not None and [e.data["i"] for e in whole.events] == list(range(10))

    @case(BASE)
    async def get_session_last_zero_returns_no_events(self, store: SessionStore) -> None:
        """last=0 returns the session with no events."""
        key = self.key()
        await store.create_session(key, {"x": 1})
        await store.append_event(key, {"i": 1})
        record = await store.get_session(key, last=0)
        assert record is not None and record.events == [] and record.state == {"x": 1}

    @case(BASE)
    async def get_session_negative_last_raises_value_error(self, store: SessionStore) -> None:
        """A negative last raises ValueError."""
        key = self.key()
        await store.create_session(key)
        with pytest.raises(ValueError):
            await store.get_session(key, last=-1)

    @case(BASE)
    async def get_session_since_is_inclusive(self, store: SessionStore) -> None:
        """since=t returns events with timestamp >= t, in append order."""
        key = self.key()
        await store.create_session(key)
        for i, ts in enumerate([100.0, 200.0, 300.0, 250.0]):
            await store.append_event(key, {"i": i}, timestamp=ts)
        record = await store.get_session(key, since=250.0)
        assert record is not None
        assert [e.data["i"] for e in record.events] == [2, 3]
        assert [e.timestamp for e in record.events] == [300.0, 250.0]

    # -- append ------------------------------------------------------------

    @case(BASE)
    async def append_missing_session_raises_not_found(self, store: SessionStore) -> None:
        """append_event on a missing session raises SessionNotFound and creates nothing."""
        key = self.key("ghost")
        with pytest.raises(SessionNotFound):
            await store.append_event(key, {"i": 1}, state_delta={"app:x": 1})
        assert await store.get_session(key) is None
        assert await store.get_app_state(key.app_name) == {}

    @case(BASE)
    async def append_returns_seq_revision_timestamp(self, store: SessionStore) -> None:
        """append_event returns a growing seq and revision and the event's timestamp."""
        key = self.key()
        created = await store.create_session(key)
        first = await store.append_event(key, {"i": 1}, timestamp=123.5)
        second = await store.append_event(key, {"i": 2})
        assert first.timestamp == 123.5
        assert second.seq > first.seq
        assert created.revision < first.revision < second.revision
        record = await store.get_session(key)
        assert record is not None
        assert (record.events[0].seq, record.events[0].timestamp) == (first.seq, 123.5)
        assert record.revision == second.revision

    @case(BASE)
    async def order_is_append_order_not_timestamp(self, store: SessionStore) -> None:
        """History is ordered by append sequence, even with equal or decreasing timestamps."""
        key = self.key()
        await store.create_session(key)
        stamps = [50.0, 50.0, 40.0, 30.0, 50.0, 10.0]
        for i, ts in enumerate(stamps):
            await store.append_event(key, {"i": i}, timestamp=ts)
        record = await store.get_session(key)
        assert record is not None
        assert [e.data["i"] for e in record.events] == list(range(len(stamps)))
        assert [e.timestamp for e in record.events] == stamps
        assert [item["i"] for item in await store.get_items(key)] == list(range(len(stamps)))
        assert [item["i"] for item in await store.get_items(key, limit=2)] == [4, 5]

    # -- state scopes ------------------------------------------------------

    @case(BASE)
    async def state_scopes_shared_across_sessions_and_users(self, store: SessionStore) -> None:
        """app: is shared by the app, user: by the user's sessions, plain keys by one session."""
        a1, a2 = self.key("s1", "alice"), self.key("s2", "alice")
        b1 = self.key("s1", "bob")
        for key in (a1, a2, b1):
            await store.create_session(key)
        await store.append_event(
            a1, {"i": 1}, state_delta={"app:theme": "dark", "user:name": "Alice", "topic": "x"}
        )
        s_a2 = await store.get_session(a2)
        s_b1 = await store.get_session(b1)
        assert s_a2 is not None and s_b1 is not None
        assert s_a2.state == {"app:theme": "dark", "user:name": "Alice"}
        assert s_b1.state == {"app:theme": "dark"}
        assert await store.get_user_state(a1.app_name, "alice") == {"name": "Alice"}
        assert await store.get_user_state(a1.app_name, "bob") == {}
        assert await store.get_app_state(a1.app_name) == {"theme": "dark"}
        other_app = self.key("s1", "alice", app_name=a1.app_name + "-other")
        assert (await store.create_session(other_app)).state == {}

    @case(BASE)
    async def temp_state_is_never_stored(self, store: SessionStore) -> None:
        """temp: keys are dropped by create_session, append_event and update_state."""
        key = self.key()
        await store.create_session(key, {"temp:a": 1, "keep": 1})
        await store.append_event(key, {"i": 1}, state_delta={"temp:b": 2, "app:temp:c": 3})
        await store.update_state(key, {"temp:d": 4})
        record = await store.get_session(key)
        assert record is not None
        assert record.state == {"keep": 1, "app:temp:c": 3}

    @case(BASE)
    async def none_state_value_is_stored_as_none(self, store: SessionStore) -> None:
        """A None value is stored as None, not treated as a deletion."""
        key = self.key()
        await store.create_session(key, {"a": 1, "user:b": 2})
        await store.append_event(key, {"i": 1}, state_delta={"a": None, "user:b": None})
        record = await store.get_session(key)
        assert record is not None and record.state == {"a": None, "user:b": None}

    @case(BASE)
    async def state_values_round_trip_as_json(self, store: SessionStore) -> None:
        """State values of every JSON type come back exactly."""
        key = self.key()
        value = {"n": [1, 2.5, None, True, 2**70], "s": "ü🙂"}
        await store.create_session(key, {"v": value, "user:v": value, "app:v": value})
        record = await store.get_session(key)
        assert record is not None
        assert record.state == {"v": value, "user:v": value, "app:v": value}

    @case(BASE)
    async def update_state_writes_scopes_without_an_event(self, store: SessionStore) -> None:
        """update_state applies every scope atomically, adds no event and bumps the revision."""
        key = self.key()
        created = await store.create_session(key, {"a": 1})
        revision = await store.update_state(key, {"a": 2, "user:u": 1, "app:p": 1, "temp:t": 0})
        record = await store.get_session(key)
        assert record is not None
        assert record.events == []
        assert record.state == {"a": 2, "user:u": 1, "app:p": 1}
        assert revision == record.revision > created.revision
        with pytest.raises(SessionNotFound):
            await store.update_state(self.key("ghost"), {"a": 1})
        with pytest.raises(StaleSession):
            await store.update_state(key, {"a": 3}, expected_revision=created.revision)
        assert (await store.get_session(key)).state["a"] == 2  # type: ignore[union-attr]

    # -- list ----------------------------------------------------------------

    @case(BASE)
    async def list_sessions_oldest_update_first(self, store: SessionStore) -> None:
        """list_sessions orders by updated_at, oldest first, with merged state and no events."""
        keys = [self.key(f"s{i}") for i in range(3)]
        for key in keys:
            await store.create_session(key, {"n": key.session_id})
        await store.append_event(keys[0], {"i": 1}, state_delta={"user:u": 1})
        page = await store.list_sessions(self.app_name, "u1")
        assert [r.key for r in page.sessions] == [keys[1], keys[2], keys[0]]
        assert all(r.events == [] for r in page.sessions)
        assert page.sessions[0].state == {"n": "s1", "user:u": 1}
        assert page.next_cursor is None

    @case(BASE)
    async def list_sessions_all_users_when_user_id_is_none(self, store: SessionStore) -> None:
        """user_id=None lists every user of the app and nothing of other apps."""
        mine = [self.key("s", "alice"), self.key("s", "bob"), self.key("t", "bob")]
        for key in mine:
            await store.create_session(key)
        await store.create_session(self.key("s", "alice", app_name=self.app_name + "x"))
        everyone = await store.list_sessions(self.app_name)
        assert sorted(r.key for r in everyone.sessions) == sorted(mine)
        bobs = await store.list_sessions(self.app_name, "bob")
        assert {r.key.session_id for r in bobs.sessions} == {"s", "t"}
        assert (await store.list_sessions(self.app_name, "carol")).sessions == []

    @case(BASE)
    async def list_sessions_paginates_with_cursor(self, store: SessionStore) -> None:
        """page_size and next_cursor walk every session once, in order."""
        keys = [self.key(f"s{i:02d}", f"user{i % 3}") for i in range(7)]
        for key in keys:
            await store.create_session(key)
        seen: list[SessionKey] = []
        cursor = None
        pages = 0
        while True:
            page = await store.list_sessions(self.app_name, page_size=3, cursor=cursor)
            assert len(page.sessions) <= 3
            seen.extend(r.key for r in page.sessions)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
            assert pages < 10, "pagination does not terminate"
        assert seen == keys
        with pytest.raises(ValueError):
            await store.list_sessions(self.app_name, page_size=0)

    # -- delete / clear / items ---------------------------------------------

    @case(BASE)
    async def delete_is_idempotent_and_keeps_app_and_user_state(self, store: SessionStore) -> None:
        """delete_session removes the session; twice is fine; app/user state stay."""
        key = self.key()
        await store.create_session(key, {"s": 1, "app:a": 1, "user:u": 1})
        await store.append_event(key, {"i": 1})
        await store.delete_session(key)
        await store.delete_session(key)
        await store.delete_session(self.key("never-existed"))
        assert await store.get_session(key) is None
        assert await store.get_items(key) == []
        assert await store.get_app_state(key.app_name) == {"a": 1}
        assert await store.get_user_state(key.app_name, key.user_id) == {"u": 1}
        recreated = await store.create_session(key)
        assert recreated.state == {"app:a": 1, "user:u": 1}
        assert (await store.get_session(key)).events == []  # type: ignore[union-attr]

    @case(BASE)
    async def get_items_of_missing_session_is_empty(self, store: SessionStore) -> None:
        """get_items of a missing session is [] and pop_item is None."""
        key = self.key("missing")
        assert await store.get_items(key) == []
        assert await store.get_items(key, limit=5) == []
        assert await store.pop_item(key) is None
        assert await store.get_session(key) is None

    @case(BASE)
    async def add_items_creates_session_and_keeps_order(self, store: SessionStore) -> None:
        """add_items creates the session if missing and appends in order."""
        key = self.key()
        await store.add_items(key, [{"i": 0}, {"i": 1}])
        await store.add_items(key, [{"i": 2}])
        await store.add_items(key, [])
        assert await store.get_items(key) == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert await store.get_items(key, limit=2) == [{"i": 1}, {"i": 2}]
        assert await store.get_items(key, limit=0) == []
        with pytest.raises(ValueError):
            await store.get_items(key, limit=-1)
        record = await store.get_session(key)
        assert record is not None and len(record.events) == 3

    @case(BASE)
    async def pop_item_returns_newest_then_none(self, store: SessionStore) -> None:
        """pop_item removes and returns the newest item; on empty it returns None."""
        key = self.key()
        await store.add_items(key, [{"i": 0}, {"i": 1}])
        assert await store.pop_item(key) == {"i": 1}
        assert await store.get_items(key) == [{"i": 0}]
        assert await store.pop_item(key) == {"i": 0}
        assert await store.pop_item(key) is None
        assert await store.get_session(key) is not None
        await store.add_items(key, [{"i": 2}])
        assert await store.get_items(key) == [{"i": 2}]

    @case(BASE)
    async def clear_session_removes_events_keeps_session(self, store: SessionStore) -> None:
        """clear_session removes every event and keeps the session and its state."""
        key = self.key()
        await store.create_session(key, {"s": 1})
        await store.add_items(key, [{"i": 0}, {"i": 1}])
        await store.clear_session(key)
        await store.clear_session(self.key("missing"))
        record = await store.get_session(key)
        assert record is not None and record.events == [] and record.state == {"s": 1}
        await store.add_items(key, [{"i": 2}])
        assert await store.get_items(key) == [{"i": 2}]

    # -- revisions -----------------------------------------------------------

    @case(BASE)
    async def revision_grows_with_every_write(self, store: SessionStore) -> None:
        """Every committed write to a session raises its revision."""
        key = self.key()
        revisions = [(await store.create_session(key)).revision]

        async def current() -> int:
            record = await store.get_session(key, last=0)
            assert record is not None
            return record.revision

        revisions.append((await store.append_event(key, {"i": 1})).revision)
        await store.add_items(key, [{"i": 2}])
        revisions.append(await current())
        await store.pop_item(key)
        revisions.append(await current())
        revisions.append(await store.update_state(key, {"x": 1}))
        await store.clear_session(key)
        revisions.append(await current())
        assert revisions == sorted(set(revisions)), revisions

    @case(BASE)
    async def wrong_expected_revision_raises_stale_and_writes_nothing(
        self, store: SessionStore
    ) -> None:
        """append_event with a stale expected_revision raises StaleSession, writing nothing."""
        key = self.key()
        created = await store.create_session(key)
        appended = await store.append_event(key, {"i": 1}, expected_revision=created.revision)
        with pytest.raises(StaleSession):
            await store.append_event(
                key, {"i": 2}, state_delta={"x": 1, "user:y": 1}, expected_revision=created.revision
            )
        record = await store.get_session(key)
        assert record is not None
        assert [e.data for e in record.events] == [{"i": 1}]
        assert record.state == {} and record.revision == appended.revision
        ok = await store.append_event(key, {"i": 3}, expected_revision=appended.revision)
        assert ok.revision > appended.revision

    @case(BASE)
    async def conditional_appends_race_one_winner(self, store: SessionStore) -> None:
        """20 concurrent appends expecting one revision: exactly one commits."""
        key = self.key()
        created = await store.create_session(key)
        results = await asyncio.gather(
            *(
                store.append_event(key, {"i": i}, expected_revision=created.revision)
                for i in range(20)
            ),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert all(isinstance(r, StaleSession) for r in losers), losers
        assert len(await store.get_items(key)) == 1

    # -- isolation -----------------------------------------------------------

    @case(BASE)
    async def hostile_ids_do_not_collide(self, store: SessionStore) -> None:
        """Ids with separators, braces, escapes and unicode stay distinct."""
        keys = [self.key(ident, ident) for ident in HOSTILE_IDS]
        keys += [
            self.key("c", "a:b"),
            self.key("b:c", "a"),
            SessionKey(self.app_name + ":a", "b", "c"),
            self.key("x", "a/b"),
            self.key("b/x", "a"),
        ]
        assert len(set(keys)) == len(keys)
        for index, key in enumerate(keys):
            await store.add_items(key, [{"owner": index}])
            await store.append_event(
                key, {"owner": index}, state_delta={"user:owner": index, "s": index}
            )
        for index, key in enumerate(keys):
            assert await store.get_items(key) == [{"owner": index}, {"owner": index}], key
            record = await store.get_session(key)
            assert record is not None and record.state["s"] == index, key
        # user scope: ("app", "a:b") vs ("app:a", "b") and friends
        pairs = [(self.app_name, "a:b"), (self.app_name + ":a", "b")]
        for app, user in pairs:
            await store.create_session(
                SessionKey(app, user, "scope"), {"user:who": f"{app}|{user}"}
            )
        for app, user in pairs:
            assert (await store.get_user_state(app, user)).get("who") == f"{app}|{user}"
        listed = await store.list_sessions(self.app_name, "a")
        assert {r.key.session_id for r in listed.sessions} == {"b:c", "b/x"}

    @case(BASE)
    async def empty_ids_are_rejected(self, store: SessionStore) -> None:
        """Empty ids raise InvalidKey wherever an id is taken."""
        for parts in [("", "u", "s"), ("a", "", "s"), ("a", "u", "")]:
            with pytest.raises(InvalidKey):
                SessionKey(*parts)
        with pytest.raises(InvalidKey):
            await store.list_sessions("")
        with pytest.raises(InvalidKey):
            await store.get_user_state(self.app_name, "")
        with pytest.raises(InvalidKey):
            await store.get_app_state("")

    # -- fidelity ------------------------------------------------------------

    @case(BASE)
    async def payloads_round_trip_exactly(self, store: SessionStore) -> None:
        """Unicode, nesting, large ints and floats round-trip exactly, types included."""
        key = self.key()
        await store.create_session(key)
        await store.append_event(key, _FIDELITY_PAYLOAD)
        await store.add_items(key, [_FIDELITY_PAYLOAD])
        record = await store.get_session(key)
        assert record is not None
        for got in [record.events[0].data, *(await store.get_items(key))]:
            assert got == _FIDELITY_PAYLOAD
            assert all(
                type(a) is type(b)
                for a, b in zip(got["large_ints"], _FIDELITY_PAYLOAD["large_ints"], strict=True)
            )
            assert all(type(a) is float for a in got["floats"])
            assert math.copysign(1.0, got["floats"][1]) == -1.0

    @case(BASE)
    async def returned_payloads_are_copies(self, store: SessionStore) -> None:
        """Mutating a written or returned dict never changes what is stored."""
        key = self.key()
        item = {"list": [1]}
        await store.add_items(key, [item])
        item["list"].append(2)
        got = await store.get_items(key)
        assert got == [{"list": [1]}]
        got[0]["list"].append(3)
        assert await store.get_items(key) == [{"list": [1]}]

    @case(BASE)
    async def non_json_payload_is_rejected_and_nothing_written(self, store: SessionStore) -> None:
        """A payload or state that is not JSON raises InvalidEntry before any write."""
        key = self.key()
        created = await store.create_session(key, {"s": 0})
        bad_values: list[Any] = [{1, 2}, object(), math.nan, math.inf, b"bytes", (1, 2)]
        for bad in bad_values:
            with pytest.raises(InvalidEntry):
                await store.append_event(key, {"v": bad})
            with pytest.raises(InvalidEntry):
                await store.append_event(key, {"ok": 1}, state_delta={"s": bad, "user:u": 1})
            with pytest.raises(InvalidEntry):
                await store.add_items(key, [{"ok": 1}, {"v": bad}])
            with pytest.raises(InvalidEntry):
                await store.update_state(key, {"app:a": 1, "s": bad})
        with pytest.raises(InvalidEntry):
            await store.append_event(key, {1: "int key"})  # type: ignore[dict-item]
        with pytest.raises(InvalidEntry):
            await store.append_event(key, ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(InvalidEntry):
            await store.create_session(self.key("bad-create"), {"s": {1, 2}})
        record = await store.get_session(key)
        assert record is not None
        assert record.events == [] and record.state == {"s": 0}
        assert record.revision == created.revision
        assert await store.get_user_state(key.app_name, key.user_id) == {}
        assert await store.get_app_state(key.app_name) == {}
        assert await store.get_session(self.key("bad-create")) is None

    @case(Capability.LARGE_ENTRIES)
    async def one_mebibyte_entry_round_trips(self, store: SessionStore) -> None:
        """A 1 MiB entry is stored and read back exactly."""
        key = self.key()
        await store.create_session(key)
        blob = {"blob": "x" * (1 << 20), "tail": "ü🙂"}
        await store.append_event(key, blob)
        await store.add_items(key, [blob])
        assert await store.get_items(key) == [blob, blob]
        assert await store.pop_item(key) == blob

    # -- concurrency ---------------------------------------------------------

    async def _concurrent_appends(self, stores: list[SessionStore]) -> None:
        key = self.key("busy")
        await stores[0].create_session(key)
        batches = 100

        async def write(batch: int) -> None:
            store = stores[batch % len(stores)]
            if batch % 2:
                await store.add_items(key, [{"b": batch, "i": i} for i in range(3)])
            else:
                await store.append_event(key, {"b": batch, "i": 0})

        await asyncio.gather(*(write(b) for b in range(batches)))
        items = await stores[-1].get_items(key)
        expected = sum(3 if b % 2 else 1 for b in range(batches))
        assert len(items) == expected, f"{expected - len(items)} entries lost"
        pairs = [(item["b"], item["i"]) for item in items]
        assert len(set(pairs)) == len(pairs), "entries duplicated"
        for batch in range(1, batches, 2):
            start = pairs.index((batch, 0))
            assert pairs[start : start + 3] == [(batch, 0), (batch, 1), (batch, 2)], (
                f"batch {batch} is not contiguous"
            )
        record = await stores[0].get_session(key)
        assert record is not None
        seqs = [e.seq for e in record.events]
        assert seqs == sorted(set(seqs))

    async def _concurrent_first_writes(self, stores: list[SessionStore]) -> None:
        key = self.key("fresh")
        await asyncio.gather(
            *(stores[i % len(stores)].add_items(key, [{"w": i}]) for i in range(50))
        )
        items = await stores[0].get_items(key)
        assert sorted(item["w"] for item in items) == list(range(50))

    async def _concurrent_pops(self, stores: list[SessionStore]) -> None:
        key = self.key("pops")
        await stores[0].add_items(key, [{"p": i} for i in range(50)])
        popped = await asyncio.gather(*(stores[i % len(stores)].pop_item(key) for i in range(50)))
        values = [item["p"] for item in popped if item is not None]
        assert len(values) == len(set(values)), "an item was popped twice"
        assert sorted(values) == list(range(50)), "a pop returned nothing while items remained"
        assert await stores[-1].get_items(key) == []

    @case(BASE)
    async def concurrent_appends_lose_and_duplicate_nothing(self, store: SessionStore) -> None:
        """100 concurrent appends to one session: none lost, none duplicated, batches contiguous."""
        await self._concurrent_appends([store])

    @case(BASE)
    async def concurrent_first_writes_all_succeed(self, store: SessionStore) -> None:
        """50 concurrent add_items to a new session all succeed."""
        await self._concurrent_first_writes([store])

    @case(BASE)
    async def concurrent_pops_return_each_item_once(self, store: SessionStore) -> None:
        """50 concurrent pop_item calls return 50 distinct items."""
        await self._concurrent_pops([store])

    @case(BASE, second=True)
    async def appends_across_instances_lose_and_duplicate_nothing(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Concurrent appends through two instances on one engine: none lost or duplicated."""
        await self._concurrent_appends([store, second])

    @case(BASE, second=True)
    async def first_writes_across_instances_all_succeed(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Concurrent first writes through two instances all succeed."""
        await self._concurrent_first_writes([store, second])

    @case(BASE, second=True)
    async def pops_across_instances_return_each_item_once(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Concurrent pops through two instances return each item at most once."""
        await self._concurrent_pops([store, second])

    @case(BASE, second=True)
    async def stale_revision_detected_across_instances(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """A write through one instance makes the other's revision stale."""
        key = self.key()
        created = await store.create_session(key)
        await second.append_event(key, {"by": "second"})
        with pytest.raises(StaleSession):
            await store.append_event(key, {"by": "first"}, expected_revision=created.revision)
        assert await store.get_items(key) == [{"by": "second"}]

    @case(Capability.CROSS_PROCESS, second=True)
    async def writers_on_another_thread_and_loop_stay_atomic(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Appends and pops from a second instance on another thread's event loop stay atomic.

        This is what two processes do to one engine: independent connections,
        no shared in-process lock.
        """
        key = self.key("threads")
        await store.create_session(key)

        async def burst(target: SessionStore, tag: str) -> None:
            await asyncio.gather(*(target.append_event(key, {"t": tag, "i": i}) for i in range(40)))
            await target.add_items(key, [{"t": tag, "i": i} for i in range(40, 45)])

        def in_other_thread() -> None:
            asyncio.run(burst(second, "thread"))

        await asyncio.gather(asyncio.to_thread(in_other_thread), burst(store, "main"))
        items = await store.get_items(key)
        assert len(items) == 90, f"{90 - len(items)} entries lost"
        pairs = [(item["t"], item["i"]) for item in items]
        assert len(set(pairs)) == 90, "entries duplicated"
        for tag in ("main", "thread"):
            start = pairs.index((tag, 40))
            assert pairs[start : start + 5] == [(tag, i) for i in range(40, 45)]
        popped = await asyncio.gather(
            asyncio.to_thread(lambda: asyncio.run(_pop_many(second, key, 45))),
            _pop_many(store, key, 45),
        )
        values = [pair for batch in popped for pair in batch]
        assert len(values) == len(set(values)) == 90, "an item was popped twice or lost"

    # -- persistence -----------------------------------------------------------

    @case(Capability.PERSISTENT, second=True)
    async def data_survives_reopening(self, store: SessionStore, second: SessionStore) -> None:
        """What one instance committed is there after it closes, for a new instance."""
        key = self.key()
        await store.create_session(key, {"s": 1, "app:a": 2, "user:u": 3})
        await store.append_event(key, {"i": 1}, state_delta={"s": 4})
        await store.add_items(key, [{"i": 2}])
        await store.aclose()
        record = await second.get_session(key)
        assert record is not None
        assert [e.data for e in record.events] == [{"i": 1}, {"i": 2}]
        assert record.state == {"s": 4, "app:a": 2, "user:u": 3}

    # -- checks of the binding itself (not cases) ---------------------------------

    def test_binding_yields_an_empty_store(self) -> None:
        """The store fixture must yield an empty store each time, or cases leak into each other."""
        canary = SessionKey("omnisession-conformance", "canary", "canary")

        async def check() -> None:
            for _ in range(2):
                async with self.open_store() as store:
                    assert await store.get_session(canary) is None, (
                        "the store fixture yielded a store with data from an earlier test; "
                        "it must yield an empty store"
                    )
                    assert (await store.list_sessions(canary.app_name)).sessions == []
                    await store.create_session(canary, {"app:x": 1})

        with asyncio.Runner() as runner:
            runner.run(check())

    def test_overridden_cases_declare_expected_failure(self) -> None:
        """A case test may only be overridden with @expected_failure(reason)."""
        silent = []
        for spec in cases_of(type(self)):
            test = getattr(type(self), spec.test_name)
            generated = getattr(test, "_omnisession_case_test", None) is spec
            if not generated and not getattr(test, _XFAIL_ATTR, None):
                silent.append(spec.test_name)
        assert not silent, (
            f"{silent} override conformance cases without @expected_failure(reason); "
            "a backend may only skip a case by declaring why it fails"
        )
        assert all(inspect.iscoroutinefunction(spec.function) for spec in cases_of(type(self)))
