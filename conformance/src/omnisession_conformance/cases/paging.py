"""Paging through one session's history: ``get_events``."""

from __future__ import annotations

import pytest
from omnisession import SessionKey, SessionStore

from ..harness import ConformanceBase, case
from ._support import BASE, event_tuple, loaded

_HOOK = "look at the backend's _get_events(key, after, before, limit, oldest_first)"


async def _history(store: SessionStore, key: SessionKey, count: int) -> list[int]:
    """A session with ``count`` events ``{"i": n}``; their seqs."""
    await store.create_session(key)
    return [
        (await store.append_event(key, {"i": i}, timestamp=1000.0 + i)).seq for i in range(count)
    ]


class PagingCases(ConformanceBase):
    """``get_events``: newest page first, each page oldest first, cursors that chain."""

    @case(
        BASE,
        hint=f"{_HOOK}: with oldest_first=False it must return the `limit` NEWEST events "
        "with seq < before, in ascending seq order",
    )
    async def get_events_pages_backwards_newest_page_first(self, store: SessionStore) -> None:
        """Default paging: the newest page first, each page oldest first, down to the start."""
        key = self.key()
        seqs = await _history(store, key, 7)
        pages = []
        page = await store.get_events(key, page_size=3)
        pages.append(page)
        while page.next_cursor is not None:
            assert len(pages) < 10, "the cursors do not reach the start of the history"
            page = await store.get_events(key, page_size=3, cursor=page.next_cursor)
            pages.append(page)
        got = [[e.data["i"] for e in p.events] for p in pages]
        assert got == [[4, 5, 6], [1, 2, 3], [0]], got
        for p in pages:
            assert [e.seq for e in p.events] == sorted(e.seq for e in p.events)
        walked = [e.seq for p in reversed(pages) for e in p.events]
        assert walked == seqs, "paging skipped or repeated events"

    @case(
        BASE,
        hint=f"{_HOOK}: with oldest_first=True it must return the `limit` OLDEST events "
        "with seq > after",
    )
    async def get_events_oldest_first_walks_forwards(self, store: SessionStore) -> None:
        """oldest_first=True: the first page holds the oldest events, cursors walk forwards."""
        key = self.key()
        seqs = await _history(store, key, 6)
        first = await store.get_events(key, page_size=4, oldest_first=True)
        assert [e.data["i"] for e in first.events] == [0, 1, 2, 3]
        assert first.next_cursor is not None
        second = await store.get_events(
            key, page_size=4, oldest_first=True, cursor=first.next_cursor
        )
        assert [e.data["i"] for e in second.events] == [4, 5]
        assert second.next_cursor is None, "the last page must not hand out a cursor"
        assert [e.seq for e in first.events + second.events] == seqs

    @case(BASE, hint=f"{_HOOK}: a page exactly as long as what is left ends the walk")
    async def get_events_exact_fit_has_no_empty_last_page(self, store: SessionStore) -> None:
        """A history that fills its pages exactly ends without an empty trailing page."""
        key = self.key()
        await _history(store, key, 6)
        for oldest_first in (False, True):
            first = await store.get_events(key, page_size=3, oldest_first=oldest_first)
            assert first.next_cursor is not None
            last = await store.get_events(
                key, page_size=3, oldest_first=oldest_first, cursor=first.next_cursor
            )
            assert len(last.events) == 3 and last.next_cursor is None
        whole = await store.get_events(key, page_size=6)
        assert len(whole.events) == 6 and whole.next_cursor is None

    @case(BASE, hint=f"{_HOOK}: a missing session returns [] (never an error)")
    async def get_events_of_missing_session_is_an_empty_page(self, store: SessionStore) -> None:
        """get_events of a missing session is an empty page without a cursor, both ways."""
        key = self.key("missing")
        for oldest_first in (False, True):
            page = await store.get_events(key, oldest_first=oldest_first)
            assert (page.events, page.next_cursor) == ([], None)
        empty = self.key("empty")
        await store.create_session(empty)
        page = await store.get_events(empty)
        assert (page.events, page.next_cursor) == ([], None)

    @case(
        BASE,
        hint="core's get_events checks cursors; a backend overriding get_events must raise "
        "ValueError for a forged cursor or one of the other direction",
    )
    async def get_events_rejects_cursors_of_the_other_direction(self, store: SessionStore) -> None:
        """A cursor from the other direction, a forged one or a bad page size is ValueError."""
        key = self.key()
        await _history(store, key, 5)
        backwards = (await store.get_events(key, page_size=2)).next_cursor
        forwards = (await store.get_events(key, page_size=2, oldest_first=True)).next_cursor
        assert backwards is not None and forwards is not None
        with pytest.raises(ValueError):
            await store.get_events(key, page_size=2, cursor=backwards, oldest_first=True)
        with pytest.raises(ValueError):
            await store.get_events(key, page_size=2, cursor=forwards)
        for forged in ("not-a-cursor", "W10", "WyJiZWZvcmUiXQ"):
            with pytest.raises(ValueError):
                await store.get_events(key, cursor=forged)
        for size in (0, -1, 10_001):
            with pytest.raises(ValueError):
                await store.get_events(key, page_size=size)

    @case(
        BASE,
        hint="the events must carry the recorded state delta (Write.events[i].delta, flat "
        "keys with app:/user: prefixes, temp: dropped; None when empty) and their timestamp",
    )
    async def events_carry_seq_timestamp_data_and_state_delta(self, store: SessionStore) -> None:
        """Paged events (and get_session's) carry seq, timestamp, payload and recorded delta."""
        key = self.key()
        await store.create_session(key)
        first = await store.append_event(
            key,
            {"i": 0},
            state_delta={"s": 1, "user:u": 2, "app:a": 3, "temp:t": 4},
            timestamp=1234.5,
        )
        second = await store.append_event(key, {"i": 1}, timestamp=1200.25)
        await store.add_items(key, [{"i": 2}])
        page = await store.get_events(key)
        assert [e.seq for e in page.events][:2] == [first.seq, second.seq]
        got = [event_tuple(e) for e in page.events[:2]]
        assert got == [
            (first.seq, 1234.5, {"i": 0}, {"s": 1, "user:u": 2, "app:a": 3}),
            (second.seq, 1200.25, {"i": 1}, None),
        ], got
        assert page.events[2].data == {"i": 2} and page.events[2].state_delta is None
        record = await loaded(store, key)
        assert [event_tuple(e) for e in record.events] == [event_tuple(e) for e in page.events]

    @case(BASE, hint=f"{_HOOK}: bounds are by seq, and seqs have gaps after pop/clear")
    async def get_events_pages_over_gaps_in_the_sequence(self, store: SessionStore) -> None:
        """Popped and cleared events leave gaps; paging neither repeats nor skips an event."""
        key = self.key()
        await store.add_items(key, [{"i": i} for i in range(4)])
        await store.pop_item(key)
        await store.pop_item(key)
        await store.add_items(key, [{"i": i} for i in range(10, 15)])
        await store.pop_item(key)
        await store.add_items(key, [{"i": 20}])
        expected = [0, 1, 10, 11, 12, 13, 20]
        for oldest_first in (False, True):
            collected = []
            cursor = None
            for _ in range(10):
                page = await store.get_events(
                    key, page_size=2, cursor=cursor, oldest_first=oldest_first
                )
                collected.append([e.data["i"] for e in page.events])
                cursor = page.next_cursor
                if cursor is None:
                    break
            flat = [i for chunk in (collected if oldest_first else collected[::-1]) for i in chunk]
            assert flat == expected, (oldest_first, collected)
