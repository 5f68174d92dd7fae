"""Copying a session to a new key: ``fork_session`` (``Capability.LIFECYCLE``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from omnisession import AlreadyExists, SessionNotFound, SessionStore

from ..harness import ConformanceBase, case
from ._support import LIFECYCLE, event_tuple, lifecycle, loaded, session_scope

_FORK = (
    "look at _fork_session (default: one _get_session of the source, then a Creation.ONLY "
    "_write with the events' own seq/timestamp/delta and base_state)"
)


class ForkCases(ConformanceBase):
    """``fork_session``: whole or up to an event, atomically, with the state as of it."""

    async def _source(self, store: SessionStore) -> Any:
        key = self.key("source")
        await store.create_session(key, {"s": 0, "base": True, "app:a": 1, "user:u": 1})
        await store.append_event(key, {"i": 1}, state_delta={"s": 1}, timestamp=101.0)
        await store.append_event(key, {"i": 2}, timestamp=102.0)
        await store.append_event(
            key, {"i": 3}, state_delta={"s": 3, "k": "v", "user:u": 3}, timestamp=103.0
        )
        await store.append_event(key, {"i": 4}, state_delta={"s": 4}, timestamp=99.0)
        await store.update_state(key, {"late": True})
        return key

    @case(LIFECYCLE, hint=_FORK + "; a whole fork takes the source's CURRENT session state")
    async def fork_copies_the_whole_session(self, store: SessionStore) -> None:
        """A whole fork copies every event (seq, timestamp, payload, delta) and the state."""
        source = await self._source(store)
        target = self.key("copy")
        forked = await lifecycle(store).fork_session(source, target)
        original = await loaded(store, source)
        copy = await loaded(store, target)
        assert forked.key == target and forked.events == []
        assert [event_tuple(e) for e in copy.events] == [event_tuple(e) for e in original.events]
        assert copy.state == original.state
        assert session_scope(copy.state) == {"s": 4, "base": True, "k": "v", "late": True}
        assert forked.state == copy.state
        appended = await store.append_event(target, {"i": 5})
        assert appended.seq > original.events[-1].seq, "the fork's next seq must follow its copy"
        assert [e.data for e in (await loaded(store, source)).events] == [
            e.data for e in original.events
        ], "writing to the fork changed the source"

    @case(
        LIFECYCLE,
        hint=_FORK + "; the state as of event N is base_state (the state before the first "
        "event) plus the session keys of each kept event's recorded delta",
    )
    async def fork_up_to_an_event_copies_the_state_as_of_it(self, store: SessionStore) -> None:
        """fork up_to=N copies the events <= N and the session state as it was at N."""
        source = await self._source(store)
        events = (await loaded(store, source)).events
        target = self.key("at-3")
        await lifecycle(store).fork_session(source, target, up_to=events[2].seq)
        copy = await loaded(store, target)
        assert [event_tuple(e) for e in copy.events] == [event_tuple(e) for e in events[:3]]
        assert session_scope(copy.state) == {"s": 3, "base": True, "k": "v"}
        first = self.key("at-1")
        await lifecycle(store).fork_session(source, first, up_to=events[0].seq)
        assert session_scope((await loaded(store, first)).state) == {"s": 1, "base": True}
        none = self.key("at-0")
        await lifecycle(store).fork_session(source, none, up_to=0)
        empty = await loaded(store, none)
        assert empty.events == []
        assert session_scope(empty.state) == {"s": 0, "base": True}
        newest = self.key("at-newest")
        await lifecycle(store).fork_session(source, newest, up_to=events[-1].seq)
        assert session_scope((await loaded(store, newest)).state) == session_scope(
            (await loaded(store, source)).state
        ), "a fork up to the newest event is a whole fork"

    @case(LIFECYCLE, hint=_FORK + ": app: and user: scopes are shared by key, never copied")
    async def fork_shares_scopes_instead_of_copying_them(self, store: SessionStore) -> None:
        """A fork to another user sees that user's user: scope, not the source's."""
        source = await self._source(store)
        other = self.key("theirs", "u2")
        await store.create_session(self.key("mine", "u2"), {"user:u": "two"})
        await lifecycle(store).fork_session(source, other)
        copy = await loaded(store, other)
        assert copy.state["user:u"] == "two"
        assert copy.state["app:a"] == 1
        assert await store.get_user_state(source.app_name, "u1") == {"u": 3}

    @case(LIFECYCLE, hint=_FORK + ": Creation.ONLY refuses a taken key before writing")
    async def fork_refuses_a_taken_target_and_a_missing_source(self, store: SessionStore) -> None:
        """AlreadyExists for a taken target (left untouched), SessionNotFound for no source."""
        source = await self._source(store)
        taken = self.key("taken")
        await store.add_items(taken, [{"mine": True}])
        with pytest.raises(AlreadyExists):
            await lifecycle(store).fork_session(source, taken)
        assert await store.get_items(taken) == [{"mine": True}]
        with pytest.raises(AlreadyExists):
            await lifecycle(store).fork_session(source, source)
        ghost, target = self.key("ghost"), self.key("never")
        with pytest.raises(SessionNotFound):
            await lifecycle(store).fork_session(ghost, target)
        assert await store.get_session(target) is None

    @case(
        LIFECYCLE,
        hint=_FORK + ": the source must be read in ONE consistent read (events and state of "
        "the same revision)",
    )
    async def fork_racing_appends_copies_a_consistent_prefix(self, store: SessionStore) -> None:
        """Forks racing appends each copy a prefix of the history with the matching state."""
        await self._fork_race([store])

    @case(LIFECYCLE, second=True, hint=_FORK + ", across connections")
    async def fork_racing_appends_across_instances(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """The same race through two instances on one engine."""
        await self._fork_race([store, second])

    async def _fork_race(self, writers: list[SessionStore]) -> None:
        source = self.key("busy")
        pad = "x" * 2000
        await writers[0].create_session(source, {"n": -1})
        for n in range(3):
            await writers[0].append_event(source, {"n": n, "pad": pad}, state_delta={"n": n})
        targets = [self.key(f"fork-{i}") for i in range(6)]

        async def append(n: int) -> None:
            store = writers[n % len(writers)]
            await store.append_event(source, {"n": n, "pad": pad}, state_delta={"n": n})

        async def fork(i: int) -> None:
            store = writers[i % len(writers)]
            await lifecycle(store).fork_session(source, targets[i])

        jobs: list[Any] = [append(n) for n in range(3, 23)]
        for i in range(len(targets)):
            jobs.insert(i * 4, fork(i))
        await asyncio.gather(*jobs)
        full = await loaded(writers[0], source)
        history = [event_tuple(e) for e in full.events]
        assert len(history) == 23
        for target in targets:
            copy = await loaded(writers[-1], target)
            copied = [event_tuple(e) for e in copy.events]
            assert copied == history[: len(copied)], f"{target} is not a prefix of the source"
            assert all(e.data["pad"] == pad for e in copy.events), "a torn event was copied"
            expected = copy.events[-1].data["n"] if copy.events else -1
            assert copy.state["n"] == expected, (
                f"{target}: state n={copy.state['n']} does not match its last copied event "
                f"n={expected}"
            )
