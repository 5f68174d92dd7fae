"""Registers the Redis backend with omnisession (entry point ``omnisession: redis``).

The factory is given as a string and the options and capabilities come from
driver-free modules, so listing backends (``omnisession backends``) imports
neither the store module nor redis-py.
"""

from __future__ import annotations

from collections.abc import Callable

from omnisession.plugins import Backend, hookimpl

from .capabilities import CAPABILITIES, OPTIONAL_CAPABILITIES
from .options import OPTIONS

SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


@hookimpl
def omnisession_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name="redis",
            schemes=SCHEMES,
            factory="omnisession_redis.store:open_redis_store",
            capabilities=CAPABILITIES,
            optional_capabilities=OPTIONAL_CAPABILITIES,
            options=OPTIONS,
            description=(
                "Redis 6.2+ and Redis Cluster through redis-py's asyncio client; one Lua "
                "script per write"
            ),
        )
    )
