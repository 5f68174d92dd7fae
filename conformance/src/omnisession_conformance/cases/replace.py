"""Replacing the history from an event on: ``replace_events`` (``Capability.REPLACE``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from omnisession import SessionKey, SessionNotFound, SessionStore, StaleSession

from ..harness import ConformanceBase, case
from ._support import REPLACE, lifecycle, loaded, revision_of

_WRITE = (
    "look at _write with truncate_from set: the revision check, the truncation and the "
    "append must be ONE atomic operation"
)


async def _seeded(store: SessionStore, key: SessionKey, count: int) -> list[int]:
    await store.create_session(key, {"s": "kept"})
    seqs = []
    for i in range(count):
        seqs.append((await store.append_event(key, {"i": i})).seq)
    return seqs


class ReplaceCases(ConformanceBase):
    """``replace_events``: atomic, conditional on the revision, never losing an append."""

    @case(REPLACE, hint=_WRITE)
    async def replace_events_replaces_the_history_from_an_event_on(
        self, store: SessionStore
    ) -> None:
        """replace_events(from_seq=N) swaps the events with seq >= N for the new items."""
        key = self.key()
        seqs = await _seeded(store, key, 5)
        before = await loaded(store, key)
        revision = await lifecycle(store).replace_events(
            key, seqs[3], [{"summary": 1}, {"summary": 2}], expected_revision=before.revision
        )
        after = await loaded(store, key)
        assert [e.data for e in after.events] == [
            {"i": 0},
            {"i": 1},
            {"i": 2},
            {"summary": 1},
            {"summary": 2},
        ]
        assert revision == after.revision > before.revision
        assert after.state == before.state, "replace_events must not change the state"
        assert await store.get_items(key) == [e.data for e in after.events]

    @case(REPLACE, hint=_WRITE + "; new items take the next numbers, never a reused one")
    async def replaced_items_get_new_sequence_numbers(self, store: SessionStore) -> None:
        """Replacing items gives them new seqs above every seq the session ever had."""
        key = self.key()
        seqs = await _seeded(store, key, 4)
        revision = await revision_of(store, key)
        await lifecycle(store).replace_events(
            key, seqs[2], [{"n": 1}, {"n": 2}], expected_revision=revision
        )
        after = await loaded(store, key)
        new = [e.seq for e in after.events[2:]]
        assert [e.seq for e in after.events[:2]] == seqs[:2]
        assert new == sorted(set(new)) and new[0] > seqs[-1], (seqs, new)
        appended = await store.append_event(key, {"n": 3})
        assert appended.seq > new[-1]

    @case(REPLACE, hint=_WRITE + ": compare expected_revision before changing anything")
    async def stale_replace_raises_and_changes_nothing(self, store: SessionStore) -> None:
        """A replace with an outdated expected_revision raises StaleSession and writes nothing."""
        key = self.key()
        seqs = await _seeded(store, key, 3)
        old = await revision_of(store, key)
        await store.append_event(key, {"i": 3})
        before = await loaded(store, key)
        with pytest.raises(StaleSession):
            await lifecycle(store).replace_events(
                key, seqs[0], [{"summary": 1}], expected_revision=old
            )
        after = await loaded(store, key)
        assert [e.data for e in after.events] == [e.data for e in before.events]
        assert after.revision == before.revision
        with pytest.raises(SessionNotFound):
            await lifecycle(store).replace_events(
                self.key("ghost"), 0, [{"x": 1}], expected_revision=1
            )
        assert await store.get_session(self.key("ghost")) is None

    @case(
        REPLACE,
        second=True,
        hint=_WRITE + ": the revision check must refuse the write before the truncation "
        "touches the newer event (one transaction may not both delete and refuse it)",
    )
    async def stale_replace_covering_another_instances_append_changes_nothing(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """An append through another instance lands in the replaced range: StaleSession."""
        key = self.key()
        seqs = await _seeded(store, key, 3)
        revision = await revision_of(store, key)
        await second.append_event(key, {"i": 3})
        before = await loaded(store, key)
        with pytest.raises(StaleSession):
            await lifecycle(store).replace_events(
                key, seqs[1], [{"summary": 1}], expected_revision=revision
            )
        after = await loaded(store, key)
        assert [e.data for e in after.events] == [{"i": i} for i in range(4)]
        assert after.revision == before.revision

    @case(REPLACE, hint=_WRITE + "; truncate_from=0 deletes every event")
    async def replace_from_zero_replaces_the_whole_history(self, store: SessionStore) -> None:
        """from_seq 0 replaces every event; the session and its state stay."""
        key = self.key()
        await _seeded(store, key, 3)
        revision = await revision_of(store, key)
        await lifecycle(store).replace_events(key, 0, [{"all": True}], expected_revision=revision)
        after = await loaded(store, key)
        assert [e.data for e in after.events] == [{"all": True}]
        assert after.state == {"s": "kept"}

    @case(REPLACE, hint=_WRITE + "; with no events the write only truncates")
    async def replace_with_no_items_only_truncates(self, store: SessionStore) -> None:
        """An empty items list deletes the events from N on and appends nothing."""
        key = self.key()
        seqs = await _seeded(store, key, 4)
        revision = await revision_of(store, key)
        new_revision = await lifecycle(store).replace_events(
            key, seqs[1], [], expected_revision=revision
        )
        after = await loaded(store, key)
        assert [e.data for e in after.events] == [{"i": 0}]
        assert new_revision == after.revision > revision

    async def _replace_race(self, writers: list[SessionStore], rounds: int = 4) -> None:
        outcomes = set()
        for round_ in range(rounds):
            key = self.key(f"race-{round_}")
            seqs = await _seeded(writers[0], key, 6)
            revision = await revision_of(writers[0], key)
            appends = 12
            # The replace goes out at a different point of the burst each round,
            # so both outcomes (it wins, or an append makes it stale) occur.
            position = round_ * appends // max(rounds - 1, 1)

            async def append(key: SessionKey, n: int) -> Any:
                store = writers[n % len(writers)]
                return await store.append_event(key, {"append": n})

            jobs = [append(key, n) for n in range(appends)]
            jobs.insert(
                position,
                lifecycle(writers[-1]).replace_events(
                    key, seqs[3], [{"summary": round_}], expected_revision=revision
                ),
            )
            results = await asyncio.gather(*jobs, return_exceptions=True)
            replaced = results.pop(position)
            failed = [r for r in results if isinstance(r, BaseException)]
            assert not failed, f"appends racing a replace failed: {failed!r}"
            items = await writers[0].get_items(key)
            appended = [item["append"] for item in items if "append" in item]
            assert sorted(appended) == list(range(appends)), (
                f"an append was lost or duplicated by a racing replace: {items}"
            )
            if isinstance(replaced, StaleSession):
                outcomes.add("stale")
                assert items[:6] == [{"i": i} for i in range(6)], items
                assert {"summary": round_} not in items
            else:
                assert not isinstance(replaced, BaseException), repr(replaced)
                outcomes.add("replaced")
                # It won: every append landed after the replacement.
                assert items[:4] == [{"i": 0}, {"i": 1}, {"i": 2}, {"summary": round_}], items
                assert len(items) == 4 + appends, items
            record = await loaded(writers[0], key)
            numbers = [e.seq for e in record.events]
            assert numbers == sorted(set(numbers)), numbers
        assert outcomes, "no round ran"

    @case(
        REPLACE,
        hint=_WRITE + ": an append committed before the replace must make it stale, one "
        "committed after it lands after the new items",
    )
    async def replace_racing_appends_never_loses_an_append(self, store: SessionStore) -> None:
        """A replace racing appends: each append lands after it or makes it stale; none lost."""
        await self._replace_race([store])

    @case(REPLACE, second=True, hint=_WRITE + " across connections (a transaction or a script)")
    async def replace_racing_appends_across_instances(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """The same race through two instances on one engine: no append is ever lost."""
        await self._replace_race([store, second])
