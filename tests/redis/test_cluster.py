"""Redis Cluster: slot layout, the cross-slot guarantee for app/user scopes, round trips.

Runs on this test process's private 3-master cluster (tests/targets/redis.py).
The guarantee under test (README, "Cluster guarantee"): a write's session part
(events, session state, revision, TTL) is one atomic script on the session's
slot; its ``user:`` and ``app:`` parts (state and listing index) are applied
afterwards by one idempotent script per scope, only if the session part
committed, each value only if the session write's clock is newer than the one
it has (so late scope scripts never undo newer values), and a failure there is
reported with the session part named as committed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

import pytest
from omnisession import BackendRejected, SessionKey, StaleSession, open_store
from omnisession.model import StateDelta, split_state
from omnisession_redis import RedisStore, scripts
from omnisession_redis.calls import Calls
from omnisession_redis.keys import KeyLayout
from redis.asyncio import Redis

from ..targets.redis import cluster_url, local_cluster
from .test_redis_store import monitor, warm_up

pytestmark = pytest.mark.redis

T = TypeVar("T")
APP = "cluster-tests"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@asynccontextmanager
async def cluster_store(**options: Any) -> AsyncIterator[tuple[RedisStore, list[Redis]]]:
    """A store on its own prefix of the cluster, and a client per master node."""
    async with cluster_url() as url, open_store(url, **options) as store:
        assert isinstance(store, RedisStore) and store.cluster
        nodes = [Redis(host="127.0.0.1", port=port) for port in local_cluster().ports]
        try:
            yield store, nodes
        finally:
            for node in nodes:
                await node.aclose()


async def keys_by_node(nodes: list[Redis], prefix: str) -> dict[str, int]:
    """Every key of ``prefix`` and the index of the master that holds it."""
    found: dict[str, int] = {}
    for index, node in enumerate(nodes):
        async for name in node.scan_iter(match=f"{prefix}:*", count=1000):
            assert name.decode() not in found
            found[name.decode()] = index
    return found


def test_a_sessions_keys_share_a_node_and_sessions_spread_over_the_cluster() -> None:
    async def scenario() -> None:
        async with cluster_store() as (store, nodes):
            layout = KeyLayout(store.prefix)
            keys = [SessionKey(APP, "{u}", f"s{i}:{{x}}") for i in range(12)]
            for i, k in enumerate(keys):
                await store.add_items(k, [{"i": i}])
                await store.update_state(k, {"s": i})
            where = await keys_by_node(nodes, store.prefix)
            used = set()
            for k in keys:
                homes = {where[name] for name in layout.session(k) if name in where}
                assert len(homes) == 1
                used |= homes
            assert len(used) >= 2, "sessions should spread over several masters"

    run(scenario())


def test_scopes_from_concurrent_sessions_all_land() -> None:
    """Concurrent writes from many sessions and users to app: and user: keys on other
    slots: every scope value and every index entry is there afterwards."""

    async def scenario() -> None:
        async with cluster_store() as (store, _):
            keys = [SessionKey(APP, f"user{i % 4}", f"s{i}") for i in range(20)]
            await asyncio.gather(*(store.create_session(k) for k in keys))
            await asyncio.gather(
                *(
                    store.append_event(
                        k, {"i": i}, state_delta={f"app:k{i}": i, f"user:k{i}": i, "s": i}
                    )
                    for i, k in enumerate(keys)
                )
            )
            assert await store.get_app_state(APP) == {f"k{i}": i for i in range(20)}
            for u in range(4):
                assert await store.get_user_state(APP, f"user{u}") == {
                    f"k{i}": i for i in range(u, 20, 4)
                }
            listed = (await store.list_sessions(APP)).sessions
            assert sorted(r.key.session_id for r in listed) == sorted(k.session_id for k in keys)
            for record in listed:
                assert record.revision == 2
                assert record.state["s"] == int(record.key.session_id[1:])
            # The index orders by the session's own updated_at.
            assert [r.updated_at for r in listed] == sorted(r.updated_at for r in listed)

    run(scenario())


def test_a_stale_write_applies_no_scope() -> None:
    async def scenario() -> None:
        async with cluster_store() as (store, _):
            k = SessionKey(APP, "u", "s")
            created = await store.create_session(k, {"app:a": 0})
            await store.append_event(k, {"i": 1})
            with pytest.raises(StaleSession):
                await store.append_event(
                    k,
                    {"i": 2},
                    state_delta={"s": 1, "user:u": 1, "app:a": 1},
                    expected_revision=created.revision,
                )
            assert await store.get_app_state(APP) == {"a": 0}
            assert await store.get_user_state(APP, "u") == {}
            record = await store.get_session(k)
            assert record is not None and [e.data for e in record.events] == [{"i": 1}]

    run(scenario())


def test_a_failed_scope_part_is_reported_with_the_committed_session_part() -> None:
    """The app scope's slot rejects the write (its key holds a wrong type): the caller
    learns the session part committed and the app part did not; re-applying the same
    values with update_state() once the slot is healthy completes the write."""

    async def scenario() -> None:
        async with cluster_store() as (store, _):
            k = SessionKey(APP, "u", "s")
            await store.create_session(k)
            app_state_key = KeyLayout(store.prefix).app(APP)[0]
            client = await store.client()
            await client.set(app_state_key, "not a hash")
            with pytest.raises(BackendRejected, match="WAS committed") as info:
                await store.append_event(k, {"i": 1}, state_delta={"s": 1, "user:u": 1, "app:a": 1})
            assert "WRONGTYPE" in str(info.value)
            assert await store.get_items(k) == [{"i": 1}]
            assert await store.get_user_state(APP, "u") == {"u": 1}
            await client.delete(app_state_key)
            await store.update_state(k, {"app:a": 1})
            record = await store.get_session(k)
            assert record is not None
            assert record.state == {"s": 1, "user:u": 1, "app:a": 1}
            assert [e.data for e in record.events] == [{"i": 1}]

    run(scenario())


def test_round_trips_one_to_the_session_node_then_one_per_scope_in_parallel() -> None:
    """MONITOR on every master: a write is one EVALSHA on the session's node, then
    one EVALSHA on the user's and the app's node; reads are one script plus
    parallel HGETALLs of the scopes, get_items one ZRANGE, a page of history one
    script."""

    async def scenario() -> None:
        name = f"crtt-{uuid.uuid4().hex[:8]}"
        async with cluster_store(client_name=name) as (store, _):
            k = SessionKey(APP, "u", "s")
            fork = SessionKey(APP, "u", "fork")
            # Warm up on the same keys: connections to each node exist, scripts are loaded.
            await warm_up(store, k, fork)
            urls = [f"redis://127.0.0.1:{port}/0" for port in local_cluster().ports]
            calls: list[tuple[str, Any]] = [
                ("create_session", lambda: store.create_session(k, {"app:a": 1})),
                (
                    "append_event",
                    lambda: store.append_event(k, {"i": 1}, state_delta={"user:u": 1}),
                ),
                ("add_items", lambda: store.add_items(k, [{"i": 2}])),
                ("get_session", lambda: store.get_session(k)),
                ("get_items", lambda: store.get_items(k, 20)),
                ("get_events", lambda: store.get_events(k, page_size=20)),
                ("fork_session", lambda: store.fork_session(k, fork)),
            ]
            counts: dict[str, list[str]] = {}
            for label, call in calls:
                async with AsyncExitStack() as stack:
                    seen = [await stack.enter_async_context(monitor(url, [name])) for url in urls]
                    await call()
                counts[label] = sorted(command for commands in seen for command in commands)
            assert counts == {
                "create_session": ["EVALSHA"] * 3,
                "append_event": ["EVALSHA"] * 3,
                "add_items": ["EVALSHA"] * 3,
                "get_session": ["EVALSHA", "HGETALL", "HGETALL"],
                "get_items": ["ZRANGE"],
                "get_events": ["EVALSHA"],
                # a consistent read on the source's node, the create on the target's,
                # then its two scope scripts
                "fork_session": ["EVALSHA"] * 4,
            }

    run(scenario())


def test_more_concurrent_operations_than_connections_all_succeed() -> None:
    """redis-py's cluster client fails at once when a node's pool is empty; the store
    queues operations instead, so a burst far larger than max_connections succeeds."""

    async def scenario() -> None:
        async with cluster_store(max_connections=6) as (store, _):
            keys = [SessionKey(APP, f"u{i % 3}", f"s{i}") for i in range(60)]
            await asyncio.gather(*(store.add_items(k, [{"i": i}]) for i, k in enumerate(keys)))
            records = await asyncio.gather(*(store.get_session(k) for k in keys))
            assert [[e.data["i"] for e in r.events] for r in records if r] == [
                [i] for i in range(60)
            ]
            listed = await store.list_sessions(APP, page_size=100)
            assert len(listed.sessions) == 60

    run(scenario())


def test_a_late_scope_script_never_undoes_a_newer_value() -> None:
    """Two writes of the same app:/user: key from sessions on different slots: their
    scope scripts may reach the scope's node in any order. Replaying the older write's
    scope script after the newer one (what a slow network does) changes nothing."""

    async def scenario() -> None:
        async with cluster_store() as (store, _):
            first, second = SessionKey(APP, "u", "one"), SessionKey(APP, "u", "two")
            await store.create_session(first)
            await store.create_session(second)
            layout = KeyLayout(store.prefix)
            client = await store.client()
            await store.append_event(first, {"i": 1}, state_delta={"user:x": 1, "app:y": 1})
            old_clock = (await client.hget(layout.session(first)[0], "k")).decode()
            await store.append_event(second, {"i": 2}, state_delta={"user:x": 2, "app:y": 2})
            # the first write's scope scripts arrive again, late
            replay = [
                (layout.user(APP, "u"), store._user_segment(first, "a", "1.0", split(1))),
                (layout.app(APP), store._app_segment(first, "a", "1.0", split(1))),
            ]
            for keys, segment in replay:
                await Calls.eval(client, scripts.SCOPE, keys, [old_clock, "0", *segment])
            assert await store.get_user_state(APP, "u") == {"x": 2}
            assert await store.get_app_state(APP) == {"y": 2}
            listed = (await store.list_sessions(APP)).sessions
            assert [r.key for r in listed] == [first, second], "the old entry score came back"

    run(scenario())


def split(value: int) -> StateDelta:
    return split_state({"user:x": value, "app:y": value})


def test_erase_and_purge_leave_no_key_behind() -> None:
    """After erase_app on a cluster, no key of the app remains on any node (scopes,
    indexes, clocks, the users set, every session's keys)."""

    async def scenario() -> None:
        async with cluster_store(ttl=3600, user_ttl=3600) as (store, nodes):
            for user in ("a", "b", "c"):
                for sid in ("s1", "s2"):
                    key = SessionKey(APP, user, sid)
                    await store.create_session(key, {"s": 1, "user:u": user, "app:v": 1})
                    await store.append_event(key, {"i": 1}, state_delta={"user:seen": True})
            await store.update_user_state(APP, "scope-only", {"k": 1})
            assert await store.purge_sessions(APP, 0.0) == 0
            assert await store.erase_user(APP, "a") == 2
            assert await store.get_user_state(APP, "a") == {}
            assert await store.erase_app(APP) == 4
            assert await keys_by_node(nodes, store.prefix) == {}
            assert APP not in await store.list_apps()

    run(scenario())
