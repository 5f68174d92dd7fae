"""Redis and Redis Cluster storage for omnisession.

Installing ``omnisession-redis`` registers ``redis://``, ``rediss://``,
``unix://``, ``redis+cluster://`` and ``rediss+cluster://`` with
:func:`omnisession.open_store`. The store module (and redis-py) is imported
only when first used, so that listing backends, which imports
``omnisession_redis.plugin``, stays cheap. ``omnisession_redis.testing`` has
the isolation helpers for running tests (and the conformance suite) on a
shared server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import RedisStore, open_redis_store

__all__ = ["RedisStore", "open_redis_store"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
