"""One redis-py client per running event loop, and its teardown.

redis-py's asyncio connections belong to the event loop that opened them, so
a store keeps one client per running loop, created on first use: a store
works from ``asyncio.run`` in any thread, as ``Runner.run_sync`` needs. On a
cluster it also bounds the operations in flight per client. Clients of loops
that have since closed are let go by closing their sockets directly, since
they can no longer be awaited.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

__all__ = ["LoopClients"]

_UNBOUNDED: AbstractAsyncContextManager[None] = nullcontext()


def _abandon(client: Any) -> None:
    """Close the sockets of a client whose event loop is closed (it cannot be awaited).

    ``Runner.run_sync`` leaves one such client per call. Its transports can no
    longer schedule their own close, so the sockets are closed directly (this
    reaches into asyncio and redis-py internals, each step guarded), instead of
    waiting for the garbage collector.
    """
    connections: list[Any] = []
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        connections += list(getattr(pool, "_available_connections", []))
        connections += list(getattr(pool, "_in_use_connections", []))
    manager = getattr(client, "nodes_manager", None)
    if manager is not None:
        nodes = list(getattr(manager, "nodes_cache", {}).values())
        nodes += list(getattr(manager, "startup_nodes", {}).values())
        for node in nodes:
            connections += list(getattr(node, "_connections", []))
        if hasattr(client, "_initialize"):
            client._initialize = True  # a discarded cluster client: no "unclosed" warning
    for connection in connections:
        writer = getattr(connection, "_writer", None)
        if writer is None:
            continue
        transport = getattr(writer, "transport", None)
        sock = getattr(transport, "_sock", None)
        try:
            if isinstance(sock, socket.socket):
                sock.close()
                transport._sock = None  # type: ignore[union-attr]
                transport._closing = True  # type: ignore[union-attr]
            connection._writer = None
            connection._reader = None
        except (OSError, AttributeError, RuntimeError):
            pass


class _Entry:
    """A loop's client and whether it is ready (a cluster client knows its slot map)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.ready = False
        self.lock: asyncio.Lock | None = None
        self.permits: asyncio.Semaphore | None = None


class LoopClients:
    """A redis-py client per running event loop, made on first use in that loop.

    A cluster client is initialised (slot map loaded) once, before its first
    command: redis-py lets concurrent first commands race the initialisation
    and send them to the wrong nodes, which then fail on ``MOVED``.
    """

    def __init__(self, make: Callable[[], Any], cluster: bool, limit: int | None = None) -> None:
        self._make = make
        self._cluster = cluster
        self._limit = limit
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, _Entry] = {}

    def _entry(self) -> _Entry:
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._by_loop.get(loop)
            if entry is None:
                for dead in [other for other in self._by_loop if other.is_closed()]:
                    _abandon(self._by_loop.pop(dead).client)
                entry = self._by_loop[loop] = _Entry(self._make())
                entry.ready = not self._cluster
            return entry

    def permit(self) -> AbstractAsyncContextManager[Any]:
        """Bound the operations in flight on this loop's client (``None``: unbounded).

        redis-py's cluster client fails a command at once (``MaxConnectionsError``)
        when a node's pool is exhausted instead of waiting for a connection, so a
        cluster store admits at most ``max_connections // 3`` operations at a time
        (one operation uses up to three connections at once).
        """
        if self._limit is None:
            return _UNBOUNDED
        entry = self._entry()
        if entry.permits is None:
            entry.permits = asyncio.Semaphore(self._limit)
        return entry.permits

    async def get(self) -> Any:
        """The running loop's client, ready for commands."""
        entry = self._entry()
        if not entry.ready:
            if entry.lock is None:
                entry.lock = asyncio.Lock()
            async with entry.lock:
                if not entry.ready:
                    await entry.client.initialize()
                    entry.ready = True
        return entry.client

    async def aclose(self, seconds: float) -> None:
        """Close every client; one that does not close within ``seconds`` is abandoned."""
        with self._lock:
            entries = dict(self._by_loop)
            self._by_loop.clear()
        current = asyncio.get_running_loop()
        for loop, entry in entries.items():
            client = entry.client
            if loop is current:
                try:
                    async with asyncio.timeout(seconds):
                        await client.aclose()
                except Exception:  # closing a broken or stalled connection must not fail
                    _abandon(client)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            else:
                _abandon(client)
