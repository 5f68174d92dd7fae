"""Registers the Redis backend with omnisession (entry point ``omnisession: redis``).

The factory is given as a string so that listing backends (``omnisession
backends``) imports neither this package's store module nor redis-py.
"""

from __future__ import annotations

from collections.abc import Callable

from omnisession.plugins import Backend, hookimpl
from omnisession.store import Capability


@hookimpl
def omnisession_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name="redis",
            schemes=("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"),
            factory="omnisession_redis.store:open_redis_store",
            capabilities=frozenset(
                {
                    Capability.BASE,
                    Capability.CROSS_PROCESS,
                    Capability.LARGE_ENTRIES,
                    Capability.TTL,
                    Capability.CLUSTER,
                    Capability.PERSISTENT,
                }
            ),
            description=(
                "Redis and Redis Cluster through redis-py's asyncio client; one Lua script per "
                "write; ttl with ?ttl=SECONDS, cluster with redis+cluster://h:p,h:p, persistent "
                "only with ?persistent=true (the server must persist)"
            ),
        )
    )
