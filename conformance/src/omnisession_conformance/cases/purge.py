"""Retention: ``purge_sessions`` deletes idle sessions (``Capability.LIFECYCLE``).

A session's ``updated_at`` is the timestamp of its newest ``append_event``,
so the cases make sessions "idle" by appending with an old timestamp.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from omnisession import SessionKey, SessionNotFound, SessionStore

from ..harness import ConformanceBase, case
from ._support import LIFECYCLE, lifecycle

IDLE, CUTOFF, FRESH = 1_000.0, 2_000.0, 3_000.0
_PURGE = (
    "look at _delete_idle(keys, updated_before): each session must be deleted only if its "
    "updated_at is still < updated_before, checked in the same atomic step as the delete"
)


async def _session(store: SessionStore, key: SessionKey, stamp: float, **state: Any) -> None:
    await store.create_session(key, state or None)
    await store.append_event(key, {"at": stamp}, timestamp=stamp)


class PurgeCases(ConformanceBase):
    """``purge_sessions``: only idle sessions go, in batches, never one just written to."""

    @case(LIFECYCLE, hint=_PURGE + "; updated_at must be the newest event's timestamp")
    async def purge_deletes_only_sessions_idle_before_the_cutoff(self, store: SessionStore) -> None:
        """Sessions with updated_at < cutoff go; the rest, app/user state and other apps stay."""
        idle = [self.key(f"idle-{i}") for i in range(4)]
        fresh = [self.key(f"fresh-{i}") for i in range(2)]
        at_cutoff = self.key("at-cutoff")
        for i, key in enumerate(idle):
            await _session(store, key, IDLE + i, **{"app:a": 1, "user:u": i})
        for key in fresh:
            await _session(store, key, FRESH)
        await _session(store, at_cutoff, CUTOFF)
        elsewhere = self.key("idle", app_name=self.app("-other"))
        await _session(store, elsewhere, IDLE)
        deleted = await lifecycle(store).purge_sessions(self.app_name, CUTOFF)
        assert deleted == len(idle)
        for key in idle:
            assert await store.get_session(key) is None
            assert await store.get_items(key) == []
        remaining = await store.list_sessions(self.app_name)
        assert sorted(r.key for r in remaining.sessions) == sorted([*fresh, at_cutoff])
        assert await store.get_session(elsewhere) is not None
        assert await store.get_app_state(self.app_name) == {"a": 1}
        assert await store.get_user_state(self.app_name, "u1") == {"u": 3}
        assert await lifecycle(store).purge_sessions(self.app_name, CUTOFF) == 0

    @case(LIFECYCLE, hint=_PURGE + "; the loop lists a batch, deletes it, and lists again")
    async def purge_works_in_batches(self, store: SessionStore) -> None:
        """A batch size smaller than the number of idle sessions still deletes them all."""
        idle = [self.key(f"idle-{i}", f"user-{i % 3}") for i in range(7)]
        for i, key in enumerate(idle):
            await _session(store, key, IDLE + i)
        keep = self.key("keep")
        await _session(store, keep, FRESH)
        assert await lifecycle(store).purge_sessions(self.app_name, CUTOFF, batch_size=2) == 7
        assert [r.key for r in (await store.list_sessions(self.app_name)).sessions] == [keep]
        for size in (0, 10_001):
            with pytest.raises(ValueError):
                await lifecycle(store).purge_sessions(self.app_name, CUTOFF, batch_size=size)

    @case(LIFECYCLE, hint=_PURGE + "; the listing must be filtered by user_id")
    async def purge_of_one_user_keeps_the_others(self, store: SessionStore) -> None:
        """purge_sessions(user_id=...) deletes only that user's idle sessions."""
        alice = [self.key(f"a{i}", "alice") for i in range(3)]
        bob = [self.key(f"b{i}", "bob") for i in range(2)]
        for key in alice + bob:
            await _session(store, key, IDLE)
        deleted = await lifecycle(store).purge_sessions(self.app_name, CUTOFF, user_id="alice")
        assert deleted == 3
        left = (await store.list_sessions(self.app_name)).sessions
        assert sorted(r.key for r in left) == sorted(bob)

    async def _purge_race(self, writers: list[SessionStore]) -> None:
        keys = [self.key(f"s{i:02d}") for i in range(16)]
        for key in keys:
            await _session(writers[0], key, IDLE)

        async def write(i: int) -> Any:
            store = writers[i % len(writers)]
            return await store.append_event(keys[i], {"late": i}, timestamp=FRESH)

        async def purge() -> int:
            return await lifecycle(writers[-1]).purge_sessions(self.app_name, CUTOFF, batch_size=3)

        jobs: list[Any] = [write(i) for i in range(len(keys))]
        jobs.insert(len(keys) // 2, purge())
        results = await asyncio.gather(*jobs, return_exceptions=True)
        deleted = results.pop(len(keys) // 2)
        assert isinstance(deleted, int), repr(deleted)
        gone = 0
        for i, (key, result) in enumerate(zip(keys, results, strict=True)):
            record = await writers[0].get_session(key)
            if isinstance(result, SessionNotFound):
                assert record is None, f"{key}: the write failed but the session survived"
                gone += 1
            else:
                assert not isinstance(result, BaseException), repr(result)
                assert record is not None, (
                    f"{key} was written to after the cutoff (seq {result.seq}) and purged "
                    "anyway: a silently lost write"
                )
                assert record.events[-1].data == {"late": i}
        assert gone == deleted, f"purge reported {deleted} deletions, {gone} sessions are gone"

    @case(LIFECYCLE, hint=_PURGE)
    async def purge_racing_writes_never_loses_a_write(self, store: SessionStore) -> None:
        """A write racing the purge survives, or fails with SessionNotFound: never lost."""
        await self._purge_race([store])

    @case(LIFECYCLE, second=True, hint=_PURGE + ", across connections")
    async def purge_racing_writes_across_instances(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """The same race through two instances on one engine."""
        await self._purge_race([store, second])
