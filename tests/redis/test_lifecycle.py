"""What the Redis backend adds to the conformance suite's lifecycle and fidelity cases.

* A fork up to an event rebuilds the state as of it ON THE SERVER (a Lua reader
  of the recorded deltas, ``lua/json.lua``): property-tested against core's
  ``rebuild_state`` with hostile names and values, on a single node (one
  script) and on a cluster (a read script, then a create script).
* erase and purge leave no key behind; ``list_apps`` SCANs only its own prefix,
  whatever glob characters the prefix holds.
* Lone surrogates in payloads, state names and values round-trip exactly and
  never raise ``UnicodeEncodeError``; ids holding one are refused by core's
  ``check_id`` before any I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omnisession import InvalidKey, SessionKey, open_store
from omnisession.model import split_state
from omnisession.writes import rebuild_state
from omnisession_redis import RedisStore
from omnisession_redis.keys import KeyLayout
from omnisession_redis.testing import delete_prefix, new_prefix

from ..targets.redis import REDIS_URL, cluster_url, free_port, local_cluster, redis_url

pytestmark = pytest.mark.redis

T = TypeVar("T")
APP = "lifecycle-tests"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@asynccontextmanager
async def store_on(kind: str, **options: Any) -> AsyncIterator[RedisStore]:
    isolated = redis_url() if kind == "single" else cluster_url()
    async with isolated as url, open_store(url, **options) as store:
        assert isinstance(store, RedisStore)
        yield store


async def keys_of(store: RedisStore) -> list[bytes]:
    """Every key under the store's prefix, on every node."""
    client = await store.client()
    pattern = f"{store.prefix}:*"
    if not store.cluster:
        return sorted([name async for name in client.scan_iter(match=pattern)])
    found: list[bytes] = []
    for node in client.get_primaries():
        found += [name async for name in client.scan_iter(match=pattern, target_nodes=node)]
    return sorted(found)


# -- fork: the state as of an event, rebuilt by Lua ----------------------------------------

TEXT = st.text(st.characters(exclude_categories=()), max_size=6)  # surrogates included
NAMES = st.one_of(TEXT, st.sampled_from(["", '"', "\\", "a\\u0041", "{x}", "[]", "app:", "user:u"]))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.sampled_from(['"}]', "\\", "a,b:c", "\\u00e9", "{", "]"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(NAMES, children, max_size=3),
    max_leaves=6,
)
DELTAS = st.dictionaries(NAMES, VALUES, max_size=4)


async def _fork_matches_core(
    store: RedisStore, base: dict[str, Any], deltas: list[dict[str, Any]], cut: int
) -> None:
    source = SessionKey(APP, "u", new_prefix())
    await store.create_session(source, base)
    for index, delta in enumerate(deltas):
        await store.append_event(source, {"i": index}, state_delta=delta)
    original = await store.get_session(source)
    assert original is not None
    kept = original.events[:cut]
    target = SessionKey(APP, "u", new_prefix())
    up_to = kept[-1].seq if kept else 0
    forked = await store.fork_session(source, target, up_to=up_to)
    copy = await store.get_session(target)
    assert copy is not None
    if cut == len(deltas):
        expected = split_state(original.state).session
    else:
        expected = rebuild_state(original.base_state, kept)
    assert split_state(copy.state).session == expected
    assert split_state(forked.state).session == expected
    assert [(e.seq, e.data, e.state_delta) for e in copy.events] == [
        (e.seq, e.data, e.state_delta) for e in kept
    ]
    assert copy.base_state == original.base_state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.dictionaries(NAMES, VALUES, max_size=3),
    deltas=st.lists(DELTAS, min_size=1, max_size=4),
    cut=st.integers(min_value=0, max_value=4),
)
def test_a_fork_rebuilds_exactly_the_state_core_would_single_node(
    base: dict[str, Any], deltas: list[dict[str, Any]], cut: int
) -> None:
    async def scenario() -> None:
        async with store_on("single") as store:
            await _fork_matches_core(store, base, deltas, min(cut, len(deltas)))

    run(scenario())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.dictionaries(NAMES, VALUES, max_size=3),
    deltas=st.lists(DELTAS, min_size=1, max_size=4),
    cut=st.integers(min_value=0, max_value=4),
)
def test_a_fork_rebuilds_exactly_the_state_core_would_cluster(
    base: dict[str, Any], deltas: list[dict[str, Any]], cut: int
) -> None:
    local_cluster()

    async def scenario() -> None:
        async with store_on("cluster") as store:
            await _fork_matches_core(store, base, deltas, min(cut, len(deltas)))

    run(scenario())


# -- erase, purge, list_apps ------------------------------------------------------------------


def test_erase_and_purge_leave_no_key_behind_on_a_single_node() -> None:
    async def scenario() -> None:
        async with store_on("single", ttl=3600, user_ttl=3600) as store:
            for user in ("a", "b"):
                for sid in ("s1", "s2"):
                    key = SessionKey(APP, user, sid)
                    await store.create_session(key, {"s": 1, "user:u": user, "app:v": 1})
                    await store.append_event(
                        key, {"i": 1}, state_delta={"user:seen": True}, timestamp=1000.0
                    )
            await store.update_user_state(APP, "scope-only", {"k": 1})
            assert await store.purge_sessions(APP, 2000.0, user_id="b") == 2
            assert await store.erase_user(APP, "a") == 2
            assert await store.erase_app(APP) == 0
            assert await keys_of(store) == []

    run(scenario())


def test_list_apps_sees_only_its_own_prefix_whatever_its_glob_characters() -> None:
    async def scenario() -> None:
        shared = new_prefix()  # one start, so an unescaped glob of one would match the other
        globbing_prefix, other_prefix = f"{shared}*[?]", f"{shared}x[a]"
        base = REDIS_URL + ("&" if "?" in REDIS_URL else "?")
        try:
            async with (
                open_store(f"{base}prefix={globbing_prefix}") as globbing,
                open_store(f"{base}prefix={other_prefix}") as other,
            ):
                await globbing.update_app_state("mine", {"k": 1})
                await other.update_app_state("theirs", {"k": 1})
                await other.update_user_state("theirs-too", "u", {"k": 1})
                assert await globbing.list_apps() == ["mine"]  # type: ignore[attr-defined]
                assert await other.list_apps() == ["theirs", "theirs-too"]  # type: ignore[attr-defined]
        finally:
            for prefix in (globbing_prefix, other_prefix):
                await delete_prefix(REDIS_URL, prefix)

    run(scenario())


# -- lone surrogates --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["single", "cluster"])
def test_lone_surrogates_round_trip_in_payloads_state_names_and_values(kind: str) -> None:
    half = "cut \ud83d"

    async def scenario() -> None:
        async with store_on(kind) as store:
            key = SessionKey(APP, "u", "s")
            payload = {"text": half, "\udc00": [half]}
            await store.create_session(key, {"\ud800": half, "user:\udfff": half, "app:a": half})
            await store.append_event(key, payload, state_delta={"s\udbff": 1, "app:\ud800": 2})
            record = await store.get_session(key)
            assert record is not None
            assert record.events[0].data == payload
            assert record.events[0].state_delta == {"s\udbff": 1, "app:\ud800": 2}
            assert record.state == {
                "\ud800": half,
                "s\udbff": 1,
                "user:\udfff": half,
                "app:a": half,
                "app:\ud800": 2,
            }
            client = await store.client()
            state_key = KeyLayout(store.prefix).session(key)[1]
            assert "\ud800".encode("utf-8", "surrogatepass") in await client.hkeys(state_key)
            await store.fork_session(key, SessionKey(APP, "u", "fork"), up_to=0)
            fork = await store.get_session(SessionKey(APP, "u", "fork"))
            assert fork is not None and fork.state["\ud800"] == half

    run(scenario())


def test_ids_with_lone_surrogates_are_refused_before_any_io() -> None:
    """The port is closed: any I/O would raise BackendUnavailable, not InvalidKey."""

    async def scenario() -> None:
        async with open_store(f"redis://127.0.0.1:{free_port()}/0") as store:
            with pytest.raises(InvalidKey):
                await store.get_app_state("app\ud800")
            with pytest.raises(InvalidKey):
                await store.get_user_state("app", "\udfff")
            with pytest.raises(InvalidKey):
                await store.list_sessions("app", "u\ud83d")
            with pytest.raises(InvalidKey):
                await store.erase_user("app", "\ud800")  # type: ignore[attr-defined]
            with pytest.raises(InvalidKey):
                SessionKey("app", "u", "s\ud800")

    run(scenario())
