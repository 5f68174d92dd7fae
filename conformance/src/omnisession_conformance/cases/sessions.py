"""Creating, reading, listing and deleting sessions."""

from __future__ import annotations

import pytest
from omnisession import (
    AlreadyExists,
    SessionKey,
    SessionStore,
)

from ..harness import ConformanceBase, case
from ._support import BASE


class SessionCases(ConformanceBase):
    """Creating, reading, listing and deleting sessions."""

    @case(
        BASE,
        hint=(
            "look at _create_session (default: a Creation.ONLY _write, then _get_session) and how"
            " the state is split by scope"
        ),
    )
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

    @case(
        BASE,
        hint=(
            "look at _write with Creation.ONLY: the existence check and the insert must be one "
            "atomic step"
        ),
    )
    async def create_existing_raises_already_exists(self, store: SessionStore) -> None:
        """A second create_session of one key raises AlreadyExists and changes nothing."""
        key = self.key()
        await store.create_session(key, {"v": 1})
        with pytest.raises(AlreadyExists):
            await store.create_session(key, {"v": 2})
        loaded = await store.get_session(key)
        assert loaded is not None and loaded.state == {"v": 1}

    @case(
        BASE,
        hint=("look at _get_session: a missing session is None, never an empty record"),
    )
    async def get_missing_session_returns_none(self, store: SessionStore) -> None:
        """get_session of an unknown key returns None."""
        assert await store.get_session(self.key("nope")) is None

    @case(
        BASE,
        hint=("look at _get_session with last=N: the N highest seqs, returned in ascending order"),
    )
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

    @case(
        BASE,
        hint=("look at _get_session with last=0: the record without events"),
    )
    async def get_session_last_zero_returns_no_events(self, store: SessionStore) -> None:
        """last=0 returns the session with no events."""
        key = self.key()
        await store.create_session(key, {"x": 1})
        await store.append_event(key, {"i": 1})
        record = await store.get_session(key, last=0)
        assert record is not None and record.events == [] and record.state == {"x": 1}

    @case(
        BASE,
        hint=("core's check_last; a backend overriding get_session must call it"),
    )
    async def get_session_negative_last_raises_value_error(self, store: SessionStore) -> None:
        """A negative last raises ValueError."""
        key = self.key()
        await store.create_session(key)
        with pytest.raises(ValueError):
            await store.get_session(key, last=-1)

    @case(
        BASE,
        hint=("look at _get_session with since: timestamp >= since, still in seq order"),
    )
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

    @case(
        BASE,
        hint=(
            "look at _list_sessions: order by (updated_at, user_id, session_id), no events, "
            "merged state"
        ),
    )
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

    @case(
        BASE,
        hint=("look at _list_sessions with user_id None: every user of the app, no other app"),
    )
    async def list_sessions_all_users_when_user_id_is_none(self, store: SessionStore) -> None:
        """user_id=None lists every user of the app and nothing of other apps."""
        mine = [self.key("s", "alice"), self.key("s", "bob"), self.key("t", "bob")]
        for key in mine:
            await store.create_session(key)
        await store.create_session(self.key("s", "alice", app_name=self.app("x")))
        everyone = await store.list_sessions(self.app_name)
        assert sorted(r.key for r in everyone.sessions) == sorted(mine)
        bobs = await store.list_sessions(self.app_name, "bob")
        assert {r.key.session_id for r in bobs.sessions} == {"s", "t"}
        assert (await store.list_sessions(self.app_name, "carol")).sessions == []

    @case(
        BASE,
        hint=(
            "look at _list_sessions' cursor: it must resume strictly after the last record of the"
            " page"
        ),
    )
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

    @case(
        BASE,
        hint=("look at _delete_session: the session, its events and session state, nothing else"),
    )
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

    @case(
        BASE,
        hint=(
            "_write must SET updated_at = write.updated_at (an append's own timestamp, as "
            "ADK's last_update_time), never keep the larger of old and new"
        ),
    )
    async def append_timestamp_becomes_updated_at(self, store: SessionStore) -> None:
        """append_event(timestamp=t) makes the session's updated_at exactly t, even an earlier t."""
        key = self.key()
        await store.create_session(key)
        await store.append_event(key, {"i": 1}, timestamp=5000.5)
        record = await store.get_session(key)
        assert record is not None and record.updated_at == 5000.5
        await store.append_event(key, {"i": 2}, timestamp=100.25)
        record = await store.get_session(key, last=0)
        assert record is not None, key
        assert record.updated_at == 100.25, record.updated_at
        listed = (await store.list_sessions(self.app_name)).sessions
        assert [(r.key, r.updated_at) for r in listed] == [(key, 100.25)]

    @case(
        BASE,
        hint="look at _list_sessions: order by updated_at, which an append sets to its timestamp",
    )
    async def list_sessions_follow_event_timestamps(self, store: SessionStore) -> None:
        """list_sessions orders by the updated_at the appends' timestamps set."""
        keys = [self.key(f"s{i}") for i in range(3)]
        for key, stamp in zip(keys, (300.0, 100.0, 200.0), strict=True):
            await store.create_session(key)
            await store.append_event(key, {"at": stamp}, timestamp=stamp)
        listed = (await store.list_sessions(self.app_name, page_size=2)).sessions
        assert [(r.key, r.updated_at) for r in listed] == [(keys[1], 100.0), (keys[2], 200.0)]
