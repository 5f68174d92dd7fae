"""What the Redis backend guarantees beyond the conformance suite, on real servers.

The machine's Redis on 127.0.0.1:6379 serves most tests, each under its own key
prefix; the restart test starts its own ``redis-server`` with an append-only
file in a temporary directory. The conformance suite itself runs on the
``redis`` and ``redis-cluster`` targets in tests/test_store_conformance.py.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from omnisession import BackendUnavailable, Capability, SessionKey, StaleSession, open_store
from omnisession_redis import RedisStore
from omnisession_redis.keys import KeyLayout
from omnisession_redis.testing import LocalServer
from redis.asyncio import Redis

from ..targets.redis import REDIS_URL, free_port, redis_url

pytestmark = pytest.mark.redis

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def key(session: str = "s", user: str = "u") -> SessionKey:
    return SessionKey("redis-tests", user, session)


@asynccontextmanager
async def redis_store(**options: Any) -> AsyncIterator[tuple[RedisStore, Redis]]:
    """A store on its own prefix of the machine's Redis, and an admin client."""
    async with redis_url() as url, open_store(url, **options) as store:
        admin = Redis.from_url(REDIS_URL)
        try:
            assert isinstance(store, RedisStore)
            yield store, admin
        finally:
            await admin.aclose()


async def connections_named(admin: Redis, name: str) -> list[dict[str, Any]]:
    return [c for c in await admin.client_list() if c.get("name") == name]


# -- event loops and threads ------------------------------------------------------------


def test_one_store_serves_every_event_loop_and_thread() -> None:
    """Runner.run_sync drives sessions from a fresh loop in a worker thread: the same
    store works there, concurrently with its own loop, and keeps working afterwards."""

    async def scenario() -> None:
        async with redis_store() as (store, _):
            k = key()
            await store.create_session(k)

            def in_fresh_loop(tag: str) -> list[dict[str, Any]]:
                async def inner() -> list[dict[str, Any]]:
                    await asyncio.gather(
                        *(store.append_event(k, {"t": tag, "i": i}) for i in range(10))
                    )
                    return await store.get_items(k)

                return asyncio.run(inner())

            mine = asyncio.gather(
                *(store.append_event(k, {"t": "main", "i": i}) for i in range(10))
            )
            seen_in_thread, _ = await asyncio.gather(
                asyncio.to_thread(in_fresh_loop, "thread"), mine
            )
            assert len(seen_in_thread) >= 10
            # A second thread after the first one's loop is closed: still fine.
            await asyncio.to_thread(in_fresh_loop, "late")
            items = await store.get_items(k)
            assert sorted((i["t"], i["i"]) for i in items) == sorted(
                (t, i) for t in ("main", "thread", "late") for i in range(10)
            )
            # One run_sync-style call after another does not pile up open sockets:
            # the client of a closed loop is closed when the next loop needs one.
            opened = len(os.listdir("/proc/self/fd"))
            for n in range(6):
                await asyncio.to_thread(in_fresh_loop, f"again{n}")
            assert len(os.listdir("/proc/self/fd")) - opened <= 2

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        run(scenario())
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


# -- TTL ---------------------------------------------------------------------------------


def test_every_write_refreshes_every_ttl_and_an_expired_session_is_gone() -> None:
    """ttl/user_ttl/app_ttl: a write gives every key of the session, both index entries
    and both scopes their full TTL again; a session aged past its TTL reads as missing,
    leaves the listing and its index entry is cleaned up. (No sleeping: the store's
    conformance probe ages the keys.)"""

    async def scenario() -> None:
        async with redis_store(ttl=60, user_ttl=600, app_ttl=1200) as (store, admin):
            k = key()
            layout = KeyLayout(store.prefix)
            await store.create_session(k, {"s": 1, "user:u": 1, "app:a": 1})
            await store.append_event(k, {"i": 0}, state_delta={"x": 1})
            await store.conformance_age(k, 30)
            assert all(
                left is not None and left <= 30 for left in await store.conformance_expiries(k)
            )
            await store.append_event(k, {"i": 1}, state_delta={"user:v": 2})
            session_keys = [name for name in layout.session(k) if await admin.exists(name)]
            assert len(session_keys) == 6, "meta, state, events, times, deltas and base"
            user_state, user_index, _ = layout.user(k.app_name, k.user_id)
            app_state, app_index, _, app_users = layout.app(k.app_name)
            for name in [*session_keys, user_index, app_index]:
                assert 30_000 < await admin.pttl(name) <= 60_000, name
            assert 60_000 < await admin.pttl(user_state) <= 600_000
            assert 600_000 < await admin.pttl(app_state) <= 1_200_000
            assert 60_000 < await admin.pttl(app_users) <= 600_000
            other = key("other")
            await store.create_session(other)
            await store.conformance_age(k, 120)
            assert await store.get_session(k) is None
            assert await store.get_items(k) == []
            listed = [r.key for r in (await store.list_sessions(k.app_name)).sessions]
            assert listed == [other]
            assert await admin.zscore(app_index, KeyLayout.app_member(k)) is None
            assert await store.get_user_state(k.app_name, k.user_id) == {"u": 1, "v": 2}
            recreated = await store.create_session(k)
            assert recreated.state == {"user:u": 1, "user:v": 2, "app:a": 1}

    run(scenario())


# -- connection loss ---------------------------------------------------------------------


def test_killed_connections_raise_backend_unavailable_then_recover_losing_nothing() -> None:
    """CLIENT KILL in the middle of a burst of appends: every call either succeeds
    (and its event is stored exactly once) or raises BackendUnavailable; the next
    call reconnects; no acknowledged event is lost."""

    async def scenario() -> None:
        name = f"kill-{uuid.uuid4().hex[:8]}"
        async with redis_store(client_name=name) as (store, admin):
            k = key()
            await store.create_session(k)
            await asyncio.gather(*(store.append_event(k, {"i": i}) for i in range(10)))
            acknowledged = set(range(10))
            victims = await connections_named(admin, name)
            assert victims, "the store should hold a named connection"

            async def kill() -> int:
                killed = 0
                for conn in await connections_named(admin, name):
                    killed += await admin.client_kill_filter(_id=conn["id"])
                return killed

            async def append(i: int) -> int:
                await store.append_event(k, {"i": i})
                return i

            results = await asyncio.gather(
                *(append(i) for i in range(10, 40)), kill(), return_exceptions=True
            )
            outcomes, killed = results[:-1], results[-1]
            assert isinstance(killed, int) and killed >= 1
            failed = [r for r in outcomes if isinstance(r, BaseException)]
            assert all(isinstance(r, BackendUnavailable) for r in failed), failed
            assert all(isinstance(r.__cause__, Exception) for r in failed)
            acknowledged |= {r for r in outcomes if isinstance(r, int)}
            # Kill the idle pool too: the next call must reconnect by itself.
            await kill()
            await store.append_event(k, {"i": 99})
            acknowledged.add(99)
            stored = [item["i"] for item in await store.get_items(k)]
            assert len(stored) == len(set(stored)), "an event was stored twice"
            assert acknowledged <= set(stored), "an acknowledged event was lost"
            assert set(stored) <= acknowledged | set(range(10, 40))
            record = await store.get_session(k)
            assert record is not None and record.revision == 1 + len(stored)

    run(scenario())


def test_connection_killed_while_a_write_waits_raises_and_commits_nothing() -> None:
    """Deterministic mid-call loss: the server holds the store's EVALSHA (CLIENT PAUSE
    WRITE) and the connection is killed before it runs. The caller gets
    BackendUnavailable, nothing was committed, and the next call reconnects."""

    async def scenario() -> None:
        name = f"pause-{uuid.uuid4().hex[:8]}"
        async with redis_store(client_name=name) as (store, admin):
            k = key()
            await store.create_session(k)
            await store.append_event(k, {"i": 1})
            await store.get_items(k)  # the connection's last command is now ZRANGE
            await admin.client_pause(2000, all=False)
            try:
                pending = asyncio.create_task(store.append_event(k, {"i": 2}))
                while True:  # until the server holds our EVALSHA
                    held = [
                        c for c in await connections_named(admin, name) if c["cmd"] == "evalsha"
                    ]
                    if held:
                        break
                    assert not pending.done(), "the write was not held by CLIENT PAUSE"
                    await asyncio.sleep(0.005)
                for conn in held:
                    await admin.client_kill_filter(_id=conn["id"])
            finally:
                await admin.client_unpause()
            with pytest.raises(BackendUnavailable) as info:
                await pending
            assert info.value.__cause__ is not None
            assert await store.get_items(k) == [{"i": 1}]
            appended = await store.append_event(k, {"i": 3})
            assert (appended.seq, appended.revision) == (2, 3)

    run(scenario())


def test_unreachable_server_raises_backend_unavailable_for_every_call() -> None:
    async def scenario() -> None:
        port = free_port()
        async with open_store(f"redis://127.0.0.1:{port}/0?socket_connect_timeout=2") as store:
            k = key()
            calls: list[Awaitable[Any]] = [
                store.create_session(k),
                store.get_session(k),
                store.append_event(k, {"i": 1}),
                store.add_items(k, [{"i": 1}]),
                store.get_items(k),
                store.pop_item(k),
                store.list_sessions(k.app_name),
                store.get_app_state(k.app_name),
                store.delete_session(k),
            ]
            for call in calls:
                with pytest.raises(BackendUnavailable) as info:
                    await call
                assert info.value.__cause__ is not None

    run(scenario())


def persisting_server(directory: Path) -> LocalServer:
    """A redis-server of our own with an append-only file and a Unix socket in ``directory``."""
    return LocalServer(
        {
            "appendonly": "yes",
            "appendfsync": "always",
            "unixsocket": str(directory / "redis.sock"),
        },
        directory=str(directory),
        owns_directory=False,
    )


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_restarted_server_keeps_sessions_intact(tmp_path: Path) -> None:
    """A persisting server restarts under an open store: the store reconnects and
    every committed session, event, scope and revision is there, still writable."""
    with persisting_server(tmp_path) as server:

        async def scenario() -> None:
            url = f"{server.url}?persistent=true"
            async with open_store(url) as store:
                assert Capability.PERSISTENT in store.capabilities
                k = key()
                await store.create_session(k, {"s": 1, "user:u": 2, "app:a": 3})
                await store.add_items(k, [{"i": i} for i in range(5)])
                await store.pop_item(k)
                before = await store.get_session(k)
                assert before is not None
                await asyncio.to_thread(server.restart)
                try:
                    after = await store.get_session(k)
                except BackendUnavailable:
                    after = await store.get_session(k)
                assert after == before
                appended = await store.append_event(k, {"i": 9}, expected_revision=before.revision)
                assert appended.seq == 6  # seq 5 was popped; numbering never reuses it
                with pytest.raises(StaleSession):
                    await store.append_event(k, {"i": 10}, expected_revision=before.revision)
                listed = await store.list_sessions(k.app_name, k.user_id)
                assert [r.key for r in listed.sessions] == [k]

        run(scenario())


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_unix_socket_urls_reach_the_server(tmp_path: Path) -> None:
    with persisting_server(tmp_path) as server:

        async def scenario() -> None:
            socket_url = f"unix://{tmp_path / 'redis.sock'}?db=3&prefix=sock"
            async with (
                open_store(socket_url) as over_socket,
                open_store(f"redis://127.0.0.1:{server.port}/3?prefix=sock") as over_tcp,
            ):
                k = key()
                await over_socket.add_items(k, [{"via": "unix"}])
                assert await over_tcp.get_items(k) == [{"via": "unix"}]

        run(scenario())


# -- scripts and round trips -------------------------------------------------------------


@asynccontextmanager
async def monitor(admin_url: str, names: list[str]) -> AsyncIterator[list[str]]:
    """Collect the commands that connections named ``names`` send, as MONITOR sees them.

    Commands a script runs (client type ``lua``) are not round trips and are left out.
    """
    admin = Redis.from_url(admin_url)
    seen: list[str] = []
    marker = f"omnisession-monitor-end-{uuid.uuid4().hex}"
    try:
        async with admin.monitor() as mon:
            yield seen
            await admin.echo(marker)
            addresses = {c["addr"] for c in await admin.client_list() if c.get("name") in names}
            commands = []
            while True:
                info = await mon.next_command()
                if marker in info["command"]:
                    break
                commands.append(info)
            seen.extend(
                info["command"].split(" ", 1)[0].upper()
                for info in commands
                if info["client_type"] != "lua"
                and f"{info['client_address']}:{info['client_port']}" in addresses
            )
    finally:
        await admin.aclose()


async def warm_up(store: RedisStore, k: SessionKey, fork: SessionKey | None = None) -> None:
    """Run every script once on ``k``'s slots (and a fork's to ``fork``), so they are
    loaded and connections are open."""
    await store.create_session(k, {"app:w": 1, "user:w": 1})
    await store.append_event(k, {"warm": True})
    await store.update_state(k, {"w": 1})
    await store.add_items(k, [{}])
    await store.pop_item(k)
    await store.get_events(k)
    await store.update_app_state(k.app_name, {"w": 1})
    if fork is not None:
        await store.fork_session(k, fork, up_to=1)
        await store.delete_session(fork)
        await store.fork_session(k, fork)
        await store.delete_session(fork)
    await store.clear_session(k)
    await store.get_session(k)
    await store.get_items(k)
    await store.delete_session(k)


def test_every_write_is_one_round_trip_and_scripts_reload_after_flush() -> None:
    """One EVALSHA per contract write, fork and page of history (counted by the
    server's MONITOR); after SCRIPT FLUSH the store reloads its scripts and keeps
    working."""

    async def scenario() -> None:
        name = f"rtt-{uuid.uuid4().hex[:8]}"
        async with redis_store(client_name=name) as (store, admin):
            k, fork = key(), key("fork")
            await warm_up(store, k, fork)
            writes: list[tuple[str, Any]] = [
                ("create_session", lambda: store.create_session(k, {"s": 1, "app:a": 1})),
                (
                    "append_event",
                    lambda: store.append_event(
                        k, {"i": 1}, state_delta={"user:u": 1, "s": 2}, expected_revision=1
                    ),
                ),
                ("update_state", lambda: store.update_state(k, {"app:b": 2})),
                ("add_items", lambda: store.add_items(k, [{"i": 2}, {"i": 3}])),
                ("pop_item", lambda: store.pop_item(k)),
                ("clear_session", lambda: store.clear_session(k)),
                ("get_session", lambda: store.get_session(k, last=5)),
                ("get_items", lambda: store.get_items(k, 20)),
                ("get_events", lambda: store.get_events(k, page_size=20)),
                ("fork_session", lambda: store.fork_session(k, fork, up_to=1)),
                ("update_app_state", lambda: store.update_app_state(k.app_name, {"a": 2})),
                ("delete_session", lambda: store.delete_session(k)),
            ]
            counts = {}
            for label, call in writes:
                async with monitor(REDIS_URL, [name]) as seen:
                    await call()
                counts[label] = seen
            assert counts == {
                "create_session": ["EVALSHA"],
                "append_event": ["EVALSHA"],
                "update_state": ["EVALSHA"],
                "add_items": ["EVALSHA"],
                "pop_item": ["EVALSHA"],
                "clear_session": ["EVALSHA"],
                "get_session": ["EVALSHA"],
                "get_items": ["ZRANGE"],
                "get_events": ["EVALSHA"],
                "fork_session": ["EVALSHA"],
                "update_app_state": ["EVALSHA"],
                "delete_session": ["EVALSHA"],
            }
            await admin.script_flush()
            await store.add_items(k, [{"after": "flush"}])
            assert await store.get_items(k) == [{"after": "flush"}]

    run(scenario())


def test_stale_write_changes_no_scope_and_no_index() -> None:
    async def scenario() -> None:
        async with redis_store() as (store, _):
            k = key()
            created = await store.create_session(k)
            await store.append_event(k, {"i": 1})
            with pytest.raises(StaleSession) as info:
                await store.append_event(
                    k,
                    {"i": 2},
                    state_delta={"s": 1, "user:u": 1, "app:a": 1},
                    expected_revision=created.revision,
                )
            assert info.value.actual == created.revision + 1
            record = await store.get_session(k)
            assert record is not None and record.state == {}
            assert [e.data for e in record.events] == [{"i": 1}]
            listed = (await store.list_sessions(k.app_name)).sessions
            assert [r.updated_at for r in listed] == [record.updated_at]

    run(scenario())


def test_since_uses_the_time_index_and_keeps_append_order() -> None:
    async def scenario() -> None:
        async with redis_store() as (store, _):
            k = key()
            await store.create_session(k)
            for i, stamp in enumerate([50.0, 10.0, 30.0, 30.0, 5.0]):
                await store.append_event(k, {"i": i}, timestamp=stamp)
            record = await store.get_session(k, since=30.0)
            assert record is not None
            assert [e.data["i"] for e in record.events] == [0, 2, 3]
            record = await store.get_session(k, since=10.0, last=3)
            assert record is not None
            assert [e.data["i"] for e in record.events] == [2, 3]
            assert await store.get_items(k, limit=2**63 - 1) == [{"i": i} for i in range(5)]

    run(scenario())


def test_listing_pages_through_ties_and_skips_deleted_sessions() -> None:
    """Equal updated_at scores page correctly (member order breaks ties)."""

    async def scenario() -> None:
        async with redis_store() as (store, admin):
            keys = [key(f"s{i:02d}", f"u{i % 2}") for i in range(9)]
            for k in keys:
                await store.create_session(k)
            layout = KeyLayout(store.prefix)
            index = layout.app("redis-tests")[1]
            # Force every score equal: ordering must fall back to the member.
            await admin.zadd(index, {KeyLayout.app_member(k): 1000.0 for k in keys})
            await store.delete_session(keys[4])
            await admin.zadd(index, {KeyLayout.app_member(keys[4]): 1000.0})  # a stale entry
            seen: list[SessionKey] = []
            cursor = None
            while True:
                page = await store.list_sessions("redis-tests", page_size=2, cursor=cursor)
                seen += [r.key for r in page.sessions]
                cursor = page.next_cursor
                if cursor is None:
                    break
            expected = sorted(
                (k for k in keys if k != keys[4]), key=lambda k: KeyLayout.app_member(k)
            )
            assert seen == expected
            assert await admin.zscore(index, KeyLayout.app_member(keys[4])) is None
            with pytest.raises(ValueError):
                await store.list_sessions("redis-tests", cursor="not-a-cursor")

    run(scenario())
