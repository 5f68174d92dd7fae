"""``redis://``, ``rediss://``, ``unix://`` and ``redis+cluster://`` stores.

:class:`~omnisession.backend.ValidatingStore` checks and encodes every
argument before any I/O; :class:`RedisStore` implements its storage hooks,
one job per module: reads (:mod:`.reads`), writes (:mod:`.writing`),
lifecycle (:mod:`.lifecycle`), conformance probes (:mod:`.probes`), on the
shared :mod:`.base`. Every write is one ``EVALSHA`` of a Lua script
(:mod:`.scripts`); every call is bounded by ``command_timeout`` and its
driver errors mapped once (:mod:`.calls`, :mod:`.errors`).
"""

from __future__ import annotations

from typing import Any

from omnisession.backend import parse_options

from .connect import connection_for
from .lifecycle import LifecycleHooks
from .options import OPTIONS
from .probes import ConformanceProbes
from .reads import ReadHooks

__all__ = ["RedisStore", "open_redis_store"]


class RedisStore(ConformanceProbes, LifecycleHooks, ReadHooks):
    """A :class:`~omnisession.store.LifecycleStore` on Redis or Redis Cluster.

    Open it with :func:`omnisession.open_store` (or :func:`open_redis_store`);
    connecting is lazy. ``ttl``, ``user_ttl`` and ``app_ttl`` are sliding
    expiries in seconds, refreshed by every write to a session (of that user,
    of that app). ``persistent`` only declares the capability: set it when the
    server persists (AOF or RDB) so data survives a restart.
    """


def open_redis_store(url: str, **options: Any) -> RedisStore:
    """Factory for every scheme of this plugin (see the README for URLs and options).

    Options come from the URL query or keyword arguments (keywords win) and
    are checked against :data:`~omnisession_redis.options.OPTIONS` before any
    I/O: an unknown one raises ``InvalidOption`` naming the valid ones.
    """
    parsed = parse_options(OPTIONS, url, options, backend="redis")
    return RedisStore(connection_for(parsed.url, parsed.options), parsed.options)
