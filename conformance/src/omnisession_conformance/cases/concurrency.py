"""Atomicity under concurrency, in one instance and across instances."""

from __future__ import annotations

import asyncio

import pytest
from omnisession import (
    Capability,
    SessionStore,
    StaleSession,
)

from ..harness import ConformanceBase, case
from ._support import BASE, pop_many, scopes_agree


class ConcurrencyCases(ConformanceBase):
    """Atomicity under concurrency, in one instance and across instances."""

    @case(
        BASE,
        hint=("look at _write: the revision check and the write must be one atomic step"),
    )
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

    @case(
        BASE,
        hint=("look at _write: seq allocation and the insert must be atomic; a batch is one write"),
    )
    async def concurrent_appends_lose_and_duplicate_nothing(self, store: SessionStore) -> None:
        """100 concurrent appends to one session: none lost, none duplicated, batches contiguous."""
        await self._concurrent_appends([store])

    @case(
        BASE,
        hint=(
            "look at _write with Creation.IF_MISSING: two creators of one session must not fail "
            "or duplicate"
        ),
    )
    async def concurrent_first_writes_all_succeed(self, store: SessionStore) -> None:
        """50 concurrent add_items to a new session all succeed."""
        await self._concurrent_first_writes([store])

    @case(
        BASE,
        hint=("look at _pop_item: read-then-delete must be one atomic step"),
    )
    async def concurrent_pops_return_each_item_once(self, store: SessionStore) -> None:
        """50 concurrent pop_item calls return 50 distinct items."""
        await self._concurrent_pops([store])

    @case(
        BASE,
        second=True,
        hint=("look at _write across connections: a transaction, a lock or a server-side script"),
    )
    async def appends_across_instances_lose_and_duplicate_nothing(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Concurrent appends through two instances on one engine: none lost or duplicated."""
        await self._concurrent_appends([store, second])

    @case(
        BASE,
        second=True,
        hint=(
            "look at _write with Creation.IF_MISSING across connections (an upsert, not check-"
            "then-insert)"
        ),
    )
    async def first_writes_across_instances_all_succeed(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Concurrent first writes through two instances all succeed."""
        await self._concurrent_first_writes([store, second])

    @case(
        BASE,
        second=True,
        hint=("look at _pop_item across connections: a row lock, a conditional delete or a script"),
    )
    async def pops_across_instances_return_each_item_once(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Concurrent pops through two instances return each item at most once."""
        await self._concurrent_pops([store, second])

    @case(
        BASE,
        second=True,
        hint=("the revision must live in the engine, not in the store object"),
    )
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

    @case(
        Capability.CROSS_PROCESS,
        second=True,
        hint=("connections and locks must be per event loop; atomicity must come from the engine"),
    )
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
            asyncio.to_thread(lambda: asyncio.run(pop_many(second, key, 45))),
            pop_many(store, key, 45),
        )
        values = [pair for batch in popped for pair in batch]
        assert len(values) == len(set(values)) == 90, "an item was popped twice or lost"

    @case(
        BASE,
        hint=(
            "look at _write: the event and every scope of its delta must commit as one "
            "step, in the same order for every writer"
        ),
    )
    async def concurrent_writes_keep_every_scope_consistent(self, store: SessionStore) -> None:
        """Concurrent appends setting session, user: and app: state agree with the newest event."""
        await scopes_agree(self, [store])
