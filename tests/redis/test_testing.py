"""``omnisession_redis.testing``: every key of an isolated prefix is gone afterwards."""

from __future__ import annotations

import asyncio

import pytest
from omnisession import SessionKey, open_store
from omnisession_redis.testing import isolated_url
from redis.asyncio import Redis

from ..targets.redis import REDIS_URL, local_cluster

pytestmark = pytest.mark.redis


async def _fill(url: str) -> str:
    """Write sessions, scopes and indexes of several apps and users under ``url``."""
    async with open_store(url, ttl=3600) as store:
        for app in ("a", "b"):
            for user in ("u1", "u2"):
                key = SessionKey(app, user, "s")
                await store.create_session(key, {"s": 1, "user:u": 1, "app:a": 1})
                await store.append_event(key, {"i": 1}, state_delta={"x": 1})
        return store.prefix  # type: ignore[attr-defined, no-any-return]


async def _count(node_urls: list[str], prefix: str) -> int:
    total = 0
    for node_url in node_urls:
        client = Redis.from_url(node_url)
        try:
            total += len([name async for name in client.scan_iter(match=f"{prefix}:*")])
        finally:
            await client.aclose()
    return total


def test_an_isolated_prefix_is_deleted_on_a_single_node() -> None:
    async def scenario() -> None:
        async with isolated_url(REDIS_URL) as url:
            prefix = await _fill(url)
            assert await _count([REDIS_URL], prefix) > 0
        assert await _count([REDIS_URL], prefix) == 0

    asyncio.run(scenario())


def test_an_isolated_prefix_is_deleted_on_every_node_of_a_cluster() -> None:
    cluster = local_cluster()
    nodes = [f"redis://127.0.0.1:{port}/0" for port in cluster.ports]

    async def scenario() -> None:
        async with isolated_url(cluster.url) as url:
            prefix = await _fill(url)
            assert await _count(nodes, prefix) > 0
        assert await _count(nodes, prefix) == 0

    asyncio.run(scenario())
