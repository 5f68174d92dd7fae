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

A write cancelled in the middle of a network call (a timeout, a cancelled
task) is in doubt: the server may have received its statement and still run
it, after the caller has moved on. Closing the connection does not stop
that: a server runs the statement it already read, or one waiting for a row
lock, and commits it. So the connection of such a write is handed to the
driver's ``settle`` step in the background, which waits until the server is
done with it (committed or rolled back); :meth:`Leases.settled` waits for
every such step, and the store calls it before each operation, so nothing a
caller cancelled can land after the store's next call (a later write
included).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["Lease", "Leases", "Settle"]

Settle = Callable[[Any, AsyncEngine, Callable[[], Awaitable[None]]], Awaitable[bool]]
"""Wait until the server is done with the write a cancelled call left in flight on
a driver connection; true if the connection can be used again. A step that needs
another connection of the engine first calls the third argument, which drops the
one in doubt and gives its place in the pool back."""


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
        settle: Settle | None = None,
        settle_timeout: float | None = None,
    ) -> None:
        self.engine = engine
        self.keep = keep
        self.recycle = recycle
        self.cancel_breaks = cancel_breaks
        self.force_close = force_close
        self.settle = settle
        self.settle_timeout = settle_timeout
        self._idle: list[Lease] = []
        self._settling: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def lease(self, *, writes: bool = False) -> AsyncIterator[Lease]:
        """A connection for one operation (``writes``: one that may change data).

        The operation tells that its connection is broken by raising with
        :meth:`mark_broken` applied to the exception (or by cancellation).
        """
        lease = await self._take()
        try:
            yield lease
        except BaseException as exc:
            if getattr(exc, "_omnisession_broken", False):
                await self._discard(lease)
            elif self.cancel_breaks and not isinstance(exc, Exception):
                if writes and self.settle is not None and lease._driver is not None:
                    self._start_settling(lease, self.settle)
                else:
                    await self._discard(lease)
            else:
                await self._give_back(lease)
            raise
        await self._give_back(lease)

    @property
    def in_doubt(self) -> bool:
        """Whether a write cancelled in flight here may still be running on the server."""
        return bool(self._settling)

    async def settled(self) -> None:
        """Return once the server is done with every write cancelled in flight here."""
        while self._settling:
            await asyncio.wait(set(self._settling))

    def _start_settling(self, lease: Lease, settle: Settle) -> None:
        task = asyncio.get_running_loop().create_task(self._settle(lease, settle))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, lease: Lease, settle: Settle) -> None:
        """Settle the write in doubt on ``lease``, then reuse or drop its connection.

        Never raises but on cancellation (the loop is shutting down), so that no
        failure of this background task goes unretrieved.
        """
        dropped = False

        async def drop() -> None:
            nonlocal dropped
            dropped = True
            await self._discard(lease)

        try:
            try:
                async with asyncio.timeout(self.settle_timeout):
                    reusable = await settle(lease._driver, self.engine, drop)
            except Exception:  # the server is gone or stalled: nothing more to wait for
                reusable = False
            with contextlib.suppress(Exception):
                if reusable:
                    await self._give_back(lease)
                elif not dropped:
                    await self._discard(lease)
        except BaseException:
            if not dropped:
                self._drop_now(lease)
            raise

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
                self._drop_now(lease)
                raise

    def _drop_now(self, lease: Lease) -> None:
        """Close ``lease``'s connection without I/O (its operation was interrupted)."""
        if self.force_close is not None and lease._driver is not None:
            with contextlib.suppress(Exception):
                self.force_close(lease._driver)
        with contextlib.suppress(Exception):
            lease.conn.sync_connection.invalidate()  # type: ignore[union-attr]
