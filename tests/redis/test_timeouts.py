"""Bounded waiting: a stalled server fails every call within ``command_timeout``.

The server is one of our own (``omnisession_redis.testing.LocalServer``, or a
one-node ``LocalCluster``), stalled with SIGSTOP as a frozen host or a network
partition would: connections stay open and nothing answers. Reads and writes
raise ``BackendUnavailable`` once the bound has passed (today's default 15 s;
1 s here), and the same store object works again after SIGCONT.

The elapsed time is checked against the bound plus a generous grace: that is
the property under test, not a race papered over (the bound is enforced by
``asyncio.timeout``, so only scheduling noise adds to it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from omnisession import BackendUnavailable, SessionKey, open_store
from omnisession_redis.testing import LocalCluster, LocalServer, servers_available

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not servers_available(), reason="needs redis-server and redis-cli"),
]

BOUND = 1.0
GRACE = 5.0  # scheduling noise on a loaded 2-core machine, far below a hang
HANG_GUARD = 60.0
KEY = SessionKey("stall", "u", "s")


@contextmanager
def stallable(kind: str) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A private single node or one-node cluster: its URL, pause() and resume()."""
    if kind == "single":
        with LocalServer() as server:
            yield server.url, server.pause, server.resume
    else:
        with LocalCluster(1) as cluster:
            node = cluster.servers[0]
            yield cluster.url, node.pause, node.resume


async def bounded_failure(call: Callable[[], Awaitable[Any]]) -> BackendUnavailable:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        await asyncio.wait_for(call(), HANG_GUARD)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND + GRACE, f"the call took {elapsed:.1f}s, the bound is {BOUND}s"
    assert info.value.transient and info.value.__cause__ is not None
    return info.value


@pytest.mark.parametrize("kind", ["single", "cluster"])
def test_a_stalled_server_fails_reads_and_writes_within_the_bound_then_recovers(
    kind: str,
) -> None:
    async def scenario(pause: Callable[[], None], resume: Callable[[], None], url: str) -> None:
        async with open_store(url, command_timeout=BOUND) as store:
            await store.create_session(KEY, {"s": 0})
            await store.add_items(KEY, [{"i": 0}])
            calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                ("get_items", lambda: store.get_items(KEY)),
                ("get_session", lambda: store.get_session(KEY)),
                ("get_events", lambda: store.get_events(KEY)),
                ("list_sessions", lambda: store.list_sessions(KEY.app_name)),
                ("append_event", lambda: store.append_event(KEY, {"i": 1})),
                ("add_items", lambda: store.add_items(KEY, [{"i": 2}])),
                ("update_state", lambda: store.update_state(KEY, {"s": 1})),
                ("pop_item", lambda: store.pop_item(KEY)),
                ("erase_user", lambda: store.erase_user(KEY.app_name, "nobody")),
            ]
            pause()
            try:
                for name, call in calls:
                    error = await bounded_failure(call)
                    assert f"command_timeout={BOUND:g}s" in str(error), (name, error)
            finally:
                resume()
            # The same store object works again, and no late reply of a cancelled
            # command is ever read as the answer to a new one.
            items = await store.get_items(KEY)
            record = await store.get_session(KEY)
            assert record is not None and [e.data for e in record.events] == items
            appended = await store.append_event(KEY, {"after": "resume"})
            assert (await store.get_items(KEY, limit=1)) == [{"after": "resume"}]
            assert appended.revision == (await store.get_session(KEY, last=0)).revision  # type: ignore[union-attr]

    with stallable(kind) as (url, pause, resume):
        asyncio.run(scenario(pause, resume, url))


def test_the_first_connection_to_a_stalled_server_is_bounded_too() -> None:
    """No connection yet: connecting (and, on a cluster, loading the slot map) counts."""

    async def scenario(url: str) -> None:
        async with open_store(url, command_timeout=BOUND) as store:
            await bounded_failure(lambda: store.get_items(KEY))
            await bounded_failure(lambda: store.add_items(KEY, [{"i": 1}]))

    for kind in ("single", "cluster"):
        with stallable(kind) as (url, pause, resume):
            pause()
            try:
                asyncio.run(scenario(url))
            finally:
                resume()
