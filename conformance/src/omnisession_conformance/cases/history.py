"""Appending, reading, popping and clearing events; revisions."""

from __future__ import annotations

import pytest
from omnisession import (
    SessionNotFound,
    SessionStore,
    StaleSession,
)

from ..harness import ConformanceBase, case
from ._support import BASE


class HistoryCases(ConformanceBase):
    """Appending, reading, popping and clearing events; revisions."""

    @case(
        BASE,
        hint=(
            "look at _write with Creation.NEVER: SessionNotFound before anything (scopes "
            "included) is written"
        ),
    )
    async def append_missing_session_raises_not_found(self, store: SessionStore) -> None:
        """append_event on a missing session raises SessionNotFound and creates nothing."""
        key = self.key("ghost")
        with pytest.raises(SessionNotFound):
            await store.append_event(key, {"i": 1}, state_delta={"app:x": 1})
        assert await store.get_session(key) is None
        assert await store.get_app_state(key.app_name) == {}

    @case(
        BASE,
        hint=("look at _write: Committed(revision, first_seq), revision + 1 per write"),
    )
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

    @case(
        BASE,
        hint=("order events by seq everywhere (_get_session, _get_items), never by timestamp"),
    )
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

    @case(
        BASE,
        hint=("look at _get_items / _pop_item: a missing session is [] / None"),
    )
    async def get_items_of_missing_session_is_empty(self, store: SessionStore) -> None:
        """get_items of a missing session is [] and pop_item is None."""
        key = self.key("missing")
        assert await store.get_items(key) == []
        assert await store.get_items(key, limit=5) == []
        assert await store.pop_item(key) is None
        assert await store.get_session(key) is None

    @case(
        BASE,
        hint=("look at _write with Creation.IF_MISSING and several events in order"),
    )
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

    @case(
        BASE,
        hint=("look at _pop_item: remove the highest seq; the session stays when it is empty"),
    )
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

    @case(
        BASE,
        hint=("look at _write with truncate_from=0 and no events; state stays"),
    )
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

    @case(
        BASE,
        hint=("every write, _pop_item included, must raise the revision"),
    )
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

    @case(
        BASE,
        hint=(
            "look at _write: compare expected_revision before writing anything (scopes included)"
        ),
    )
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
