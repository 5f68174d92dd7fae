"""Pooled connections kept checked out between operations.

A checkout from SQLAlchemy's async pool and its return cost about 0.1 ms
(greenlet switches, pool bookkeeping), as much as the round trip of a
newest-20 read on loopback. A :class:`Leases` keeps up to ``keep``
connections of one engine checked out, for the one event loop that uses
that engine, and hands them to operations one at a time. SQLAlchemy's pool
still opens, limits, recycles and closes the connections.

A connection goes back to the idle list only in a known-clean state: no
SQLAlchemy transaction left open (it is rolled back) and not broken by an
error, or by a cancellation in the middle of a network call (it is
invalidated, so the pool replaces it). A SQLite connection survives a
cancellation: aiosqlite finishes every call it started, in order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["Lease", "Leases"]


@dataclass(eq=False)
class Lease:
    """A connection checked out of the pool, and its driver connection once asked for."""

    conn: AsyncConnection
    since: float
    _driver: Any = None

    async def driver(self) -> Any:
        """The driver's own connection object (aiosqlite, asyncpg, asyncmy)."""
        if self._driver is None:
            self._driver = (await self.conn.get_raw_connection()).driver_connection
        return self._driver


class Leases:
    """Idle connections of ``engine``, for one event loop."""

    def __init__(
        self,
        engine: AsyncEngine,
        keep: int,
        recycle: float | None = None,
        *,
        cancel_breaks: bool = True,
        force_close: Callable[[Any], None] | None = None,
    ) -> None:
        self.engine = engine
        self.keep = keep
        self.recycle = recycle
        self.cancel_breaks = cancel_breaks
        self.force_close = force_close
        self._idle: list[Lease] = []

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Lease]:
        """A connection for one operation.

        The operation tells that its connection is broken by raising with
        :meth:`mark_broken` applied to the exception (or by cancellation).
        """
        lease = await self._take()
        try:
            yield lease
        except BaseException as exc:
            if getattr(exc, "_omnisession_broken", False) or (
                self.cancel_breaks and not isinstance(exc, Exception)
            ):
                await self._discard(lease)
            else:
                await self._give_back(lease)
            raise
        await self._give_back(lease)

    @staticmethod
    def mark_broken(exc: BaseException) -> BaseException:
        """Flag ``exc`` as one after which its connection must not be reused."""
        exc._omnisession_broken = True  # type: ignore[attr-defined]
        return exc

    async def _take(self) -> Lease:
        while self._idle:
            lease = self._idle.pop()
            if self.recycle is None or time.monotonic() - lease.since < self.recycle:
                return lease
            await lease.conn.close()  # the pool recycles it
        return Lease(await self.engine.connect(), time.monotonic())

    async def _give_back(self, lease: Lease) -> None:
        conn = lease.conn
        if conn.invalidated:
            await conn.close()
            return
        if conn.in_transaction():
            try:
                await conn.rollback()
            except Exception:
                await self._discard(lease)
                return
        if len(self._idle) < self.keep:
            self._idle.append(lease)
        else:
            await conn.close()

    async def _discard(self, lease: Lease, *, force: bool = True) -> None:
        """Drop a connection that must not be used again, without waiting for the server.

        The driver connection is closed at once first (``force``): SQLAlchemy's
        invalidation would otherwise try a graceful close, which waits on a
        stalled server.
        """
        if force and self.force_close is not None and lease._driver is not None:
            with contextlib.suppress(Exception):
                self.force_close(lease._driver)
        try:
            await lease.conn.invalidate()
        finally:
            await lease.conn.close()

    def abandon(self) -> None:
        """Terminate the idle connections without I/O: their event loop is closed.

        (``Runner.run_sync`` in a worker thread leaves its loop without
        shutting down async generators, so :meth:`drop` never ran there.)
        """
        idle, self._idle = self._idle, []
        for lease in idle:
            with contextlib.suppress(Exception):
                lease.conn.sync_connection.invalidate()  # type: ignore[union-attr]

    async def drop(self, *, force: bool) -> None:
        """Close the idle connections: at once after a disconnect (``force``), gracefully
        when the loop ends or the store is closed."""
        while self._idle:  # one at a time: if this is interrupted, the rest stay listed
            lease = self._idle.pop()
            try:
                await self._discard(lease, force=force)
            except BaseException:
                if self.force_close is not None and lease._driver is not None:
                    with contextlib.suppress(Exception):
                        self.force_close(lease._driver)
                with contextlib.suppress(Exception):
                    lease.conn.sync_connection.invalidate()  # type: ignore[union-attr]
                raise
