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
from collections.abc import AsyncIterator
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
    ) -> None:
        self.engine = engine
        self.keep = keep
        self.recycle = recycle
        self.cancel_breaks = cancel_breaks
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
                await self._discard(lease.conn)
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
                await self._discard(conn)
                return
        if len(self._idle) < self.keep:
            self._idle.append(lease)
        else:
            await conn.close()

    @staticmethod
    async def _discard(conn: AsyncConnection) -> None:
        try:
            await conn.invalidate()
        finally:
            await conn.close()

    def abandon(self) -> None:
        """Terminate the idle connections without I/O: their event loop is closed.

        (``Runner.run_sync`` in a worker thread leaves its loop without
        shutting down async generators, so :meth:`drop` never ran there.)
        """
        idle, self._idle = self._idle, []
        for lease in idle:
            with contextlib.suppress(Exception):
                lease.conn.sync_connection.invalidate()  # type: ignore[union-attr]

    async def drop(self) -> None:
        """Close the idle connections (after a disconnect, or when the loop ends)."""
        idle, self._idle = self._idle, []
        for lease in idle:
            await self._discard(lease.conn)
