"""One SQLAlchemy engine per running event loop, and the connections it leases.

SQLAlchemy's async engines bind pooled connections to the event loop that
opened them, and ``Runner.run_sync`` drives sessions from a fresh loop in a
worker thread. A store therefore keeps one engine per running event loop,
created on first use in that loop and disposed when that loop is shut down
(``asyncio.run`` closes the async generator that waits for it) or by
:meth:`LoopEngines.aclose`; engines of loops that have since closed are let go
without I/O. An in-memory SQLite database exists only on its one connection,
so it is shared by every loop behind a lock that works across threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from omnisession.errors import BackendUnavailable
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

from .leases import Leases, Settle
from .options import MYSQL, POSTGRESQL, SQLITE
from .urls import EngineSpec


def _terminate_asyncpg(connection: Any) -> None:
    connection.terminate()


def _close_asyncmy(connection: Any) -> None:
    connection.close()


#: How to drop a driver connection at once, without waiting for a (stalled) server.
_FORCE_CLOSE: dict[str, Callable[[Any], None]] = {
    "asyncpg": _terminate_asyncpg,
    "asyncmy": _close_asyncmy,
}

#: MySQL's error for KILL of a connection that has already ended.
_ER_NO_SUCH_THREAD = 1094
#: The longest pause between two looks at MySQL's process list while a killed
#: connection ends (seconds); the first is 1 ms, doubled each time.
_PROCESS_LIST_PAUSE_CAP = 0.05


async def _settle_asyncpg(
    connection: Any, _engine: AsyncEngine, _drop: Callable[[], Awaitable[None]]
) -> bool:
    """A cancelled asyncpg call asks the server to cancel its statement, and the
    connection's next statement waits until the server has answered: by then the
    statement is over (cancelled, or finished before the request arrived). Its
    ``ROLLBACK`` ends whatever the cancelled write left open."""
    await connection.execute("ROLLBACK")
    return True


async def _settle_asyncmy(
    connection: Any, engine: AsyncEngine, drop: Callable[[], Awaitable[None]]
) -> bool:
    """asyncmy cannot tell where in the protocol a cancelled call left its connection,
    so it is closed; but the server still runs a statement it has read (or one
    waiting for a row lock). So the server connection is killed from another one,
    which interrupts a lock wait and rolls back an open transaction, and waited for
    until it has left the process list."""
    thread_id = int(connection.thread_id())
    await drop()
    async with engine.connect() as other:
        driver: Any = (await other.get_raw_connection()).driver_connection
        async with driver.cursor() as cursor:
            try:
                await cursor.execute(f"KILL CONNECTION {thread_id}")
            except Exception as exc:
                if not exc.args or exc.args[0] != _ER_NO_SUCH_THREAD:
                    raise
            pause = 0.001
            while True:
                await cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                    (thread_id,),
                )
                (count,) = await cursor.fetchone()
                if not count:
                    return False
                await asyncio.sleep(pause)
                pause = min(2 * pause, _PROCESS_LIST_PAUSE_CAP)


#: How to wait until the server is done with a write cancelled in flight (leases.py).
_SETTLE: dict[str, Settle] = {"asyncpg": _settle_asyncpg, "asyncmy": _settle_asyncmy}

__all__ = ["CrossLoopLock", "LoopEngine", "LoopEngines"]


class CrossLoopLock:
    """A mutex usable from any event loop and thread, without blocking a loop.

    Tasks of one loop queue on that loop's ``asyncio.Lock``; only the one at
    the head waits for the process-wide ``threading.Lock``, in an executor
    thread when another loop holds it.
    """

    def __init__(self) -> None:
        self._thread_lock = threading.Lock()
        self._guard = threading.Lock()
        self._loop_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._loop_locks.get(loop)
            if lock is None:
                for other in [other for other in self._loop_locks if other.is_closed()]:
                    del self._loop_locks[other]
                lock = self._loop_locks[loop] = asyncio.Lock()
            return lock

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._loop_lock():
            if not self._thread_lock.acquire(blocking=False):
                waiter = asyncio.get_running_loop().run_in_executor(None, self._thread_lock.acquire)
                try:
                    await asyncio.shield(waiter)
                except asyncio.CancelledError:
                    waiter.add_done_callback(lambda _: self._thread_lock.release())
                    raise
            try:
                yield
            finally:
                self._thread_lock.release()


@dataclass
class LoopEngine:
    """The engine one event loop uses, its leased connections, and whether the
    store disposes it."""

    engine: AsyncEngine
    owned: bool
    leases: Leases
    reader_leases: Leases  # the same pool, in autocommit where one needs no BEGIN
    write_lock: asyncio.Lock | None = None
    shared_lock: CrossLoopLock | None = None
    finaliser: AsyncGenerator[None, None] | None = None
    close_timeout: float | None = None
    """How long closing may wait for the server (the store's command timeout)."""

    @property
    def in_doubt(self) -> bool:
        """Whether a write cancelled in flight on this loop's connections may still be
        running on the server (see :mod:`omnisession_sqlalchemy.leases`)."""
        return self.leases.in_doubt or self.reader_leases.in_doubt

    async def settled(self) -> None:
        """Return once the server is done with every such write."""
        await self.leases.settled()
        await self.reader_leases.settled()

    async def reset(self) -> None:
        """Drop every pooled and leased connection (after a disconnect)."""
        await self.leases.drop(force=True)
        await self.reader_leases.drop(force=True)
        await self.engine.dispose()

    def abandon(self) -> None:
        """Let go of everything without I/O: the loop that owns it is gone."""
        self.leases.abandon()
        self.reader_leases.abandon()
        if self.owned:
            self.engine.sync_engine.dispose(close=False)

    async def close(self) -> None:
        """Close the connections gracefully; after ``close_timeout`` seconds (a stalled
        server) let go of the rest without waiting."""
        try:
            async with asyncio.timeout(self.close_timeout):
                await self.settled()
                await self.leases.drop(force=False)
                await self.reader_leases.drop(force=False)
                if self.owned:
                    await self.engine.dispose()
        except TimeoutError:
            # drop the rest at once (no waiting on the server), pooled ones unclosed
            await self.leases.drop(force=True)
            await self.reader_leases.drop(force=True)
            if self.owned:
                self.engine.sync_engine.dispose(close=False)


async def _dispose_when_loop_ends(loop_engine: LoopEngine) -> AsyncGenerator[None, None]:
    """Suspended for the life of an event loop; closes ``loop_engine`` in that loop.

    ``asyncio.run`` (and ``asyncio.Runner.close``) close every async generator
    first iterated in their loop before closing it, so the connections of a
    ``Runner.run_sync`` worker loop are closed properly there, not left to the
    garbage collector after the loop is gone.
    """
    try:
        yield
    finally:
        await loop_engine.close()


def _start_finaliser(loop_engine: LoopEngine) -> AsyncGenerator[None, None]:
    finaliser = _dispose_when_loop_ends(loop_engine)
    step = finaliser.__anext__()  # registers it with the running loop's asyncgen hooks
    with contextlib.suppress(StopIteration):
        step.send(None)  # runs up to the bare ``yield``, without awaiting
    return finaliser


class LoopEngines:
    """The engines of one store: one per running event loop.

    ``given``, an engine the caller created, serves the first loop that asks
    and is never disposed here; other loops get engines of their own, made
    from ``spec``. ``owner`` names the store in errors.
    """

    def __init__(self, spec: EngineSpec, given: AsyncEngine | None, owner: str) -> None:
        self._spec = spec
        self._family = spec.family
        self._driver = spec.driver
        self.owner = owner
        self._given = given
        self._given_used = False
        self._lock = threading.Lock()
        self._engines: dict[asyncio.AbstractEventLoop, LoopEngine] = {}
        self._shared: LoopEngine | None = None  # in-memory SQLite: one engine, every loop
        self._closed = False

    def _connect_args(self) -> dict[str, Any]:
        """What each new connection of the driver is opened with.

        No driver-level statement timeout: every call of the store is bounded as a
        whole by ``command_timeout`` (transactions.Database.run), and closing by
        :meth:`LoopEngine.close`; a second timer per statement would only cost time.
        """
        options = self._spec.options
        if self._family == SQLITE:
            return {"timeout": options.busy_timeout}
        connect_timeout = options.connect_timeout
        if self._driver == "asyncpg":
            args: dict[str, Any] = {
                "timeout": connect_timeout,
                "server_settings": {"application_name": options.application_name},
            }
            if options.statement_cache_size is not None:
                args["statement_cache_size"] = options.statement_cache_size
                args["prepared_statement_cache_size"] = options.statement_cache_size
            return args
        if self._driver.startswith("psycopg"):
            return {
                "connect_timeout": max(1, round(connect_timeout)),
                "application_name": options.application_name,
            }
        if self._driver == "asyncmy":
            return {"connect_timeout": connect_timeout}
        return {"connect_timeout": max(1, round(connect_timeout))}  # aiomysql

    def _create_engine(self) -> AsyncEngine:
        options = self._spec.options
        kwargs: dict[str, Any] = {"echo": options.echo, "connect_args": self._connect_args()}
        if self._family == SQLITE:
            kwargs["isolation_level"] = "AUTOCOMMIT"  # the store sends BEGIN/COMMIT itself
            # ...and always ends what it began (ROLLBACK on any error), so a
            # connection needs no rollback when it goes back to the pool
            kwargs["pool_reset_on_return"] = None
            if self._spec.in_memory:
                kwargs["poolclass"] = StaticPool
        elif self._family == MYSQL:
            kwargs["pool_recycle"] = 3600
            # The store ends every transaction it begins (COMMIT, or ROLLBACK
            # on any error), so the pool's own reset would only add a
            # ROLLBACK round trip to every operation.
            kwargs["pool_reset_on_return"] = None
            if self._driver == "asyncmy":  # reads need no BEGIN; writes send BEGIN themselves
                kwargs["isolation_level"] = "AUTOCOMMIT"
        if not self._spec.in_memory:
            kwargs["pool_size"] = options.pool_size
            kwargs["max_overflow"] = options.max_overflow
            kwargs["pool_timeout"] = options.pool_timeout
            kwargs["pool_pre_ping"] = options.pool_pre_ping
            if options.pool_recycle is not None:
                kwargs["pool_recycle"] = options.pool_recycle
        engine = create_async_engine(self._spec.url, **kwargs)
        if self._family == SQLITE:
            self._configure_sqlite(engine)
        return engine

    def schema_engine(self) -> AsyncEngine:
        """An engine of one unpooled connection without the command timeout, for a
        migration (it runs once and may legitimately take minutes); dispose it after."""
        kwargs: dict[str, Any] = {
            "echo": self._spec.options.echo,
            "connect_args": self._connect_args(),
            "poolclass": NullPool,
        }
        if self._family == SQLITE or self._driver == "asyncmy":
            kwargs["isolation_level"] = "AUTOCOMMIT"  # the migration sends BEGIN itself
        engine = create_async_engine(self._spec.url, **kwargs)
        if self._family == SQLITE:
            self._configure_sqlite(engine)
        return engine

    def _configure_sqlite(self, engine: AsyncEngine) -> None:
        busy_ms = int(self._spec.options.busy_timeout * 1000)
        in_memory = self._spec.in_memory
        synchronous = self._spec.options.synchronous

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not in_memory:
                # The file was made a WAL database when the store first opened it
                # (sqlite_files.prepare): reading the mode takes no lock, while
                # setting it takes one SQLite does not wait for under the busy
                # handler, so it is set only if someone switched the file back.
                cursor.execute("PRAGMA journal_mode")
                if str(cursor.fetchone()[0]).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.close()

        sa_event.listen(engine.sync_engine, "connect", on_connect)

    def _reader_of(self, engine: AsyncEngine, owned: bool) -> AsyncEngine:
        if self._family == SQLITE or (owned and self._driver == "asyncmy"):
            return engine  # already in autocommit: the store sends BEGIN itself
        if self._family == POSTGRESQL or self._driver == "asyncmy":
            # Reads need no BEGIN/ROLLBACK round trips; with asyncpg, writes send
            # their own BEGIN/COMMIT on these connections too.
            return engine.execution_options(isolation_level="AUTOCOMMIT")
        return engine

    def _leases_of(
        self, engine: AsyncEngine, owned: bool, in_memory: bool
    ) -> tuple[Leases, Leases]:
        """Leases of ``engine`` and of its autocommit variant (one object if the same)."""
        # an in-memory database is one connection, shared by every loop: never held
        keep = 0 if in_memory else self._spec.options.pool_size
        recycle = float(getattr(engine.sync_engine.pool, "_recycle", -1))
        options: dict[str, Any] = {
            "keep": keep,
            "recycle": recycle if recycle >= 0 else None,
            "cancel_breaks": self._family != SQLITE,
            "force_close": _FORCE_CLOSE.get(self._driver),
            "settle": _SETTLE.get(self._driver),
            "settle_timeout": self._spec.options.command_timeout,
        }
        leases = Leases(engine, **options)
        reader = self._reader_of(engine, owned)
        return leases, leases if reader is engine else Leases(reader, **options)

    def current(self) -> LoopEngine:
        """The engine of the running event loop, created on first use there."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise BackendUnavailable(f"{self.owner} was closed; open a new store")
            if self._shared is not None:
                return self._shared
            current = self._engines.get(loop)
            if current is not None:
                return current
            for other in [other for other in self._engines if other.is_closed()]:
                self._engines.pop(other).abandon()
            if self._given is not None and not self._given_used:
                self._given_used = True
                engine, owned = self._given, False
            else:
                engine, owned = self._create_engine(), True
            in_memory = self._family == SQLITE and (
                self._spec.in_memory or engine.url.database in (None, "", ":memory:")
            )
            current = LoopEngine(engine, owned, *self._leases_of(engine, owned, in_memory))
            current.close_timeout = self._spec.options.command_timeout
            if not in_memory:  # in-memory data lives as long as the store
                current.finaliser = _start_finaliser(current)
            if in_memory:
                current.shared_lock = CrossLoopLock()
                self._shared = current
            elif self._family == SQLITE:
                current.write_lock = asyncio.Lock()
            self._engines[loop] = current
            return current

    async def aclose(self) -> None:
        """Dispose every engine created here; no engine is handed out afterwards."""
        with self._lock:
            self._closed = True
            engines = list(self._engines.items())
            self._engines.clear()
            self._shared = None
        running = asyncio.get_running_loop()
        for loop, loop_engine in engines:
            if loop is running or self._spec.in_memory:
                await loop_engine.close()
            else:  # another loop's connections cannot be closed from here
                loop_engine.abandon()
