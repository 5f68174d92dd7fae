"""Importing an exported session: ``import_session`` (``Capability.LIFECYCLE``)."""

from __future__ import annotations

import pytest
from omnisession import Event, InvalidEntry, SessionStore

from ..harness import ConformanceBase, case
from ._support import LIFECYCLE, event_tuple, lifecycle, loaded, session_scope

_IMPORT = (
    "look at _write with Creation.ONLY, events with their own seq/timestamp/delta, "
    "created_at, updated_at and base_state"
)

EVENTS = [
    Event(3, 100.0, {"i": 1, "text": "héllo 🙂"}, {"s": 1}),
    Event(7, 250.0, {"i": 2}, None),
    Event(8, 150.0, {"i": 3}, {"s": 2, "user:u": 1}),
    Event(12, 300.0, {"i": 4}, {"k": "v"}),
]


class ImportCases(ConformanceBase):
    """``import_session``: exact, idempotent, resumable."""

    async def _import(self, store: SessionStore, events: list[Event]) -> int:
        return await lifecycle(store).import_session(
            self.key(),
            events,
            state={"s": 2, "k": "v"},
            base_state={"s": 0},
            created_at=50.0,
            updated_at=400.0,
        )

    @case(LIFECYCLE, hint=_IMPORT)
    async def import_session_creates_the_session_exactly(self, store: SessionStore) -> None:
        """An import keeps each event's seq, timestamp, payload and delta, and the times."""
        assert await self._import(store, EVENTS) == 4
        record = await loaded(store, self.key())
        assert [event_tuple(e) for e in record.events] == [event_tuple(e) for e in EVENTS]
        assert session_scope(record.state) == {"s": 2, "k": "v"}
        assert "user:u" not in record.state, "an imported delta is recorded, not applied"
        assert (record.created_at, record.updated_at) == (50.0, 400.0)
        listed = (await store.list_sessions(self.app_name)).sessions
        assert [(r.key, r.updated_at) for r in listed] == [(self.key(), 400.0)]
        appended = await store.append_event(self.key(), {"i": 5}, timestamp=500.0)
        assert appended.seq > 12, "the next seq must follow the imported ones"
        fork = self.key("fork")
        await lifecycle(store).fork_session(self.key(), fork, up_to=3)
        assert session_scope((await loaded(store, fork)).state) == {"s": 1}, (
            "the imported base_state is the state before the first event"
        )

    @case(LIFECYCLE, hint=_IMPORT + "; a second import compares seqs and writes nothing")
    async def reimporting_a_session_writes_nothing(self, store: SessionStore) -> None:
        """Importing the same session twice writes nothing the second time."""
        await self._import(store, EVENTS)
        before = await loaded(store, self.key())
        assert await self._import(store, EVENTS) == 0
        after = await loaded(store, self.key())
        assert after.revision == before.revision
        assert [event_tuple(e) for e in after.events] == [event_tuple(e) for e in before.events]
        assert after.updated_at == before.updated_at

    @case(LIFECYCLE, hint=_IMPORT + "; a resumed import appends only the events it lacks")
    async def import_resumes_after_a_partial_import(self, store: SessionStore) -> None:
        """After an interrupted import, importing again appends only what is missing."""
        assert await self._import(store, EVENTS[:2]) == 2
        assert await self._import(store, EVENTS) == 2
        record = await loaded(store, self.key())
        assert [event_tuple(e) for e in record.events] == [event_tuple(e) for e in EVENTS]
        assert await self._import(store, EVENTS[2:]) == 0

    @case(LIFECYCLE, hint="core checks imported events and state before any I/O")
    async def bad_imports_are_rejected_and_nothing_written(self, store: SessionStore) -> None:
        """Events out of order, app:/user: keys in state or a non-Event raise before writing."""
        key = self.key()
        with pytest.raises(ValueError):
            await self._import(store, [EVENTS[1], EVENTS[0]])
        with pytest.raises(ValueError):
            await self._import(store, [EVENTS[0], EVENTS[0]])
        with pytest.raises(InvalidEntry):
            await self._import(store, [{"seq": 1}])  # type: ignore[list-item]
        with pytest.raises(InvalidEntry):
            await lifecycle(store).import_session(
                key, EVENTS, state={"app:a": 1}, created_at=1.0, updated_at=2.0
            )
        with pytest.raises(ValueError):
            await lifecycle(store).import_session(
                key, EVENTS, state={}, created_at=1.0, updated_at=float("inf")
            )
        assert await store.get_session(key) is None
