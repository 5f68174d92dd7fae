"""Numbers at the ends of the ranges core lets through never surface a driver error
(issue 14, case 5): counts and seqs of 2**63-1, cursors carrying the extremes of their
types, timestamps of years 1 and 9999, cutoffs at both ends."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from omnisession import Event, SessionKey, StaleSession, open_store
from omnisession.checks import MAX_COUNT, MAX_TIMESTAMP, MIN_TIMESTAMP
from omnisession.store import LifecycleStore

from ..targets.sqlalchemy import mariadb_url, postgres_url, sqlite_file_url, sqlite_memory_url

UrlFactory = Callable[[], AbstractAsyncContextManager[str]]
MIN_INT = -(2**63)


def cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(sqlite_file_url, id="sqlite-file"),
        pytest.param(sqlite_memory_url, id="sqlite-memory"),
        pytest.param(postgres_url, id="postgresql", marks=pytest.mark.postgres),
        pytest.param(mariadb_url, id="mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_values_at_the_ends_of_their_ranges(target: UrlFactory) -> None:
    async def scenario() -> None:
        async with target() as url, open_store(url) as opened:
            assert isinstance(opened, LifecycleStore)
            store = opened
            k = SessionKey("values", "u", "s")
            await store.create_session(k, {"s": 0})
            await store.append_event(k, {"at": "max"}, timestamp=MAX_TIMESTAMP)
            await store.append_event(k, {"at": "min"}, timestamp=MIN_TIMESTAMP)
            record = await store.get_session(k, last=MAX_COUNT, since=MIN_TIMESTAMP)
            assert record is not None and len(record.events) == 2
            assert record.updated_at == MIN_TIMESTAMP
            assert await store.get_items(k, MAX_COUNT) == [{"at": "max"}, {"at": "min"}]
            # cursors carrying the extremes of their types page nothing, or everything
            for forged, count in (
                (cursor("before", MAX_COUNT), 2),
                (cursor("before", MIN_INT), 0),
                (cursor("before", 0), 0),
            ):
                page = await store.get_events(k, cursor=forged, page_size=10_000)
                assert len(page.events) == count
            for forged, count in ((cursor("after", MIN_INT), 2), (cursor("after", MAX_COUNT), 0)):
                page = await store.get_events(k, cursor=forged, oldest_first=True)
                assert len(page.events) == count
            for forged in (
                cursor(1.7976931348623157e308, MAX_COUNT),
                cursor(-1.7976931348623157e308, MIN_INT),
                cursor(MIN_TIMESTAMP, 0),
            ):
                await store.list_sessions("values", cursor=forged, page_size=10_000)
            with pytest.raises(StaleSession):
                await store.update_state(k, {"s": 1}, expected_revision=MIN_INT)
            revision = (await store.get_session(k, last=0)).revision  # type: ignore[union-attr]
            # numbers at the ends of the write arguments
            await store.fork_session(k, SessionKey("values", "u", "whole"), up_to=MAX_COUNT)
            await store.fork_session(k, SessionKey("values", "u", "none"), up_to=0)
            revision = await store.replace_events(
                k, MAX_COUNT, [{"replaced": False}], expected_revision=revision
            )
            revision = await store.replace_events(
                k, 0, [{"replaced": True}], expected_revision=revision
            )
            assert await store.get_items(k) == [{"replaced": True}]
            assert await store.purge_sessions("values", MIN_TIMESTAMP) == 0
            imported = SessionKey("values", "u", "imported")
            events = [
                Event(seq, stamp, {"seq": seq})
                for seq, stamp in ((1, MIN_TIMESTAMP), (MAX_COUNT - 1, MAX_TIMESTAMP))
            ]
            written = await store.import_session(
                imported, events, state={}, created_at=MIN_TIMESTAMP, updated_at=MAX_TIMESTAMP
            )
            assert written == 2
            again = await store.get_session(imported)
            assert again is not None and [e.seq for e in again.events] == [1, MAX_COUNT - 1]
            assert again.created_at == MIN_TIMESTAMP and again.updated_at == MAX_TIMESTAMP
            # an event at 2**63-1 would leave no number for the next one: refused, unwritten
            last = SessionKey("values", "u", "last")
            with pytest.raises(ValueError, match="2\\*\\*63"):
                await store.import_session(
                    last, [Event(MAX_COUNT, 1.0, {})], state={}, created_at=1.0, updated_at=1.0
                )
            assert await store.get_session(last) is None
            # the imported session was updated at the very end of time: not idle
            assert await store.purge_sessions("values", MAX_TIMESTAMP) == 3

    asyncio.run(scenario())
