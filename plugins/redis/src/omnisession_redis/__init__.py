"""Redis and Redis Cluster storage for omnisession.

Installing ``omnisession-redis`` registers ``redis://``, ``rediss://``,
``unix://``, ``redis+cluster://`` and ``rediss+cluster://`` with
:func:`omnisession.open_store`; importing this package is only needed for
:class:`RedisStore` itself.
"""

from __future__ import annotations

from .store import RedisCommandError, RedisStore, open_redis_store

__all__ = ["RedisCommandError", "RedisStore", "open_redis_store"]
