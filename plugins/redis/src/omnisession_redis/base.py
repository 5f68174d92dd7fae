"""What every part of :class:`~omnisession_redis.store.RedisStore` shares.

The store is assembled from one class per job (reads, writes, lifecycle,
conformance probes); each builds on :class:`RedisBase`: the settings, the key
layout, the driver calls, and the scope segments a write carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnisession.backend import ValidatingStore
from omnisession.model import SessionKey, StateDelta
from omnisession.store import Capability

from .calls import Calls
from .capabilities import store_capabilities
from .connect import Connection
from .encoding import Arg, scope_segment, state_pairs
from .keys import KeyLayout, escape
from .settings import Settings

__all__ = ["RedisBase"]


class RedisBase(ValidatingStore):
    """Settings, keys and calls of a Redis store (see :class:`~.store.RedisStore`)."""

    def __init__(self, connection: Connection, options: Mapping[str, Any]) -> None:
        self._settings = Settings.from_options(options)
        self._keys = KeyLayout(self._settings.prefix)
        self._calls = Calls(
            connection, timeout=self._settings.command_timeout, prefix=self._settings.prefix
        )
        self.location = connection.location
        self.capabilities: frozenset[Capability] = store_capabilities(
            ttl=self._settings.ttl > 0,
            persistent=self._settings.persistent,
            cluster=connection.cluster,
        )

    @property
    def prefix(self) -> str:
        """The key prefix every key of this store starts with."""
        return self._settings.prefix

    @property
    def cluster(self) -> bool:
        """True on Redis Cluster: a write's app and user scopes go in scripts of their own."""
        return self._calls.cluster

    @property
    def command_timeout(self) -> float:
        """The longest one call may take, in seconds, before ``BackendUnavailable``."""
        return self._settings.command_timeout

    async def client(self) -> Any:
        """The redis-py client of the running event loop (for diagnostics and tests)."""
        return await self._calls.client()

    async def aclose(self) -> None:
        """Close every connection; a later call reconnects."""
        await self._calls.aclose()

    # -- what a session write carries for its scopes -----------------------------------
    # Cluster: one segment per scope script (_user_segment, _app_segment); single node:
    # one scope part in the session script itself (_scope_part, _scope_keys).

    def _user_segment(
        self, key: SessionKey, mode: str, score: str, delta: StateDelta | None = None
    ) -> list[Arg]:
        settings = self._settings
        values = delta.user if delta else None
        return scope_segment(
            mode, self._keys.user_member(key), score, settings.user_ttl_ms, settings.ttl_ms, values
        )

    def _app_segment(
        self, key: SessionKey, mode: str, score: str, delta: StateDelta | None = None
    ) -> list[Arg]:
        settings = self._settings
        return scope_segment(
            mode,
            self._keys.app_member(key),
            score,
            settings.app_ttl_ms,
            settings.ttl_ms,
            delta.app if delta else None,
            register=escape(key.user_id) if delta and delta.user else "",
            users_ttl=settings.user_ttl_ms,
        )

    def _scope_part(
        self, key: SessionKey, mode: str, score: str, delta: StateDelta | None = None
    ) -> list[Arg]:
        """Single node: the scope part of a session script's arguments (see
        ``apply_scopes_here`` in ``lua/lib.lua``), for the keys of :meth:`_scope_keys`."""
        settings = self._settings
        user = delta.user if delta else None
        return [
            mode,
            score,
            settings.user_ttl_ms,
            settings.app_ttl_ms,
            settings.ttl_ms,
            settings.user_ttl_ms,
            self._keys.user_member(key),
            self._keys.app_member(key),
            escape(key.user_id) if user else "",
            *state_pairs(user or {}, "user state"),
            *state_pairs(delta.app if delta else {}, "app state"),
        ]

    def _scope_keys(self, key: SessionKey) -> list[str]:
        """Single node: the scope keys a session script also writes."""
        user_state, user_index, _ = self._keys.user(key.app_name, key.user_id)
        app_state, app_index, _, app_users = self._keys.app(key.app_name)
        return [user_state, user_index, app_state, app_index, app_users]
