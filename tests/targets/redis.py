"""Redis targets: the machine's server on 127.0.0.1:6379 and a private 3-master cluster.

Isolation comes from ``omnisession_redis.testing``: every test gets its own key
prefix (``?prefix=t_<hex>``) whose keys are all deleted afterwards. The
single-node target runs with ``ttl`` (a day, so nothing expires during a test)
so the suite's TTL cases run there; the cluster target, without it, runs the
CLUSTER cases. The cluster is started lazily, once per test process
(pytest-xdist workers each get their own), from the machine's ``redis-server``
on free loopback ports, and torn down when the process exits.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from omnisession_redis import testing
from omnisession_redis.testing import LocalCluster, delete_prefix, free_port

from . import Target

__all__ = [
    "REDIS_URL",
    "TARGETS",
    "cluster_url",
    "delete_prefix",
    "free_port",
    "local_cluster",
    "redis_url",
]

REDIS_URL = os.environ.get("OMNISESSION_REDIS_URL", "redis://127.0.0.1:6379/0")
TTL = 86_400


def local_cluster() -> LocalCluster:
    """This test process's cluster (skips the test when redis-server is missing)."""
    if not testing.servers_available():
        pytest.skip("redis-server and redis-cli are needed to start a Redis Cluster")
    return testing.local_cluster()


@asynccontextmanager
async def redis_url() -> AsyncIterator[str]:
    """A fresh prefix of the machine's Redis, deleted afterwards."""
    async with testing.isolated_url(REDIS_URL) as url:
        yield url


@asynccontextmanager
async def cluster_url() -> AsyncIterator[str]:
    """A fresh prefix of this process's cluster, deleted afterwards."""
    async with testing.isolated_url(local_cluster().url) as url:
        yield url


@asynccontextmanager
async def _redis_ttl_url() -> AsyncIterator[str]:
    async with redis_url() as url:
        yield f"{url}&ttl={TTL}"


TARGETS = [
    Target("redis", _redis_ttl_url, marks=(pytest.mark.redis,)),
    Target("redis-cluster", cluster_url, marks=(pytest.mark.redis,)),
]
