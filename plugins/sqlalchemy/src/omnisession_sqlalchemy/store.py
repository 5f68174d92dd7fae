"""``SQLStore``: the omnisession contract on SQLite, PostgreSQL and MySQL/MariaDB.

Transactions
    Every contract write is one transaction. SQLite writes start with
    ``BEGIN IMMEDIATE`` (the database write lock is taken up front, so two
    processes never deadlock upgrading a read lock) and run in WAL mode with a
    busy timeout; PostgreSQL and MySQL lock the session row (``FOR UPDATE`` or
    the upsert itself) before touching its events, so concurrent appends, pops
    and first writes serialise per session and never per database. On
    PostgreSQL ``append_event``, ``update_state`` and ``add_items`` are each ONE
    statement (a conditional ``UPDATE`` or an upsert feeding data-modifying
    ``WITH`` clauses), sent without ``BEGIN``/``COMMIT``.

Event loops and threads
    SQLAlchemy's async engines bind pooled connections to the event loop that
    opened them, and ``Runner.run_sync`` drives sessions from a fresh loop in a
    worker thread. The store therefore keeps one engine per running event loop,
    created on first use in that loop and disposed by :meth:`SQLStore.aclose`
    (engines of loops that have since closed are dropped without I/O). An
    in-memory SQLite database exists only on its one connection, so it is
    shared by every loop behind a lock that works across threads.

Failures
    A lost connection, a refused connect or a timeout raises
    ``BackendUnavailable`` with the driver's error chained. A failure before
    ``COMMIT`` was sent is retried once on a fresh connection (nothing can have
    been committed), as is a deadlock the engine rolled back; a failure during
    ``COMMIT`` is never retried, since the write may have committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import sqlite3
import threading
import zlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from omnisession.backend import (
    ValidatingStore,
    decode_cursor,
    dumps,
    encode_cursor,
    loads,
    loads_all,
)
from omnisession.errors import (
    AlreadyExists,
    BackendUnavailable,
    IncompatibleSchema,
    OmnisessionError,
    SessionNotFound,
    StaleSession,
)
from omnisession.model import (
    Appended,
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    now,
)
from omnisession.store import Capability
from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from .executor import (
    Executor,
    MySQLExecutor,
    PGExecutor,
    SAExecutor,
    SQLiteExecutor,
    ThreadSQLiteExecutor,
    run_to_end,
)
from .leases import Lease, Leases
from .schema import SCHEMA_VERSION, Tables, make_tables
from .sql import Features, Statements
from .urls import EngineSpec, engine_url

__all__ = ["SQLStore", "open_sql_store"]

T = TypeVar("T")

_RETRIES_AFTER_DISCONNECT = 1
_RETRIES_AFTER_DEADLOCK = 8
_CAS_ROUNDS = 16
_DEADLOCK_SQLSTATES = {"40P01", "40001"}
_MYSQL_DEADLOCK_CODES = {1213}
_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}

try:
    _VERSION = version("omnisession-sqlalchemy")
except PackageNotFoundError:  # running from a source tree
    _VERSION = "0+unknown"


@functools.lru_cache(maxsize=4096)  # the same few keys are hashed on every call
def _digest(*parts: str) -> str:
    return hashlib.sha256(_storable(dumps(list(parts))).encode("utf-8")).hexdigest()


def _storable(text: str) -> str:
    """JSON text every driver can send: lone surrogates escaped as ``\\udxxx``.

    The core encoder keeps non-ASCII characters as they are; a string with a
    lone surrogate is valid JSON data but not valid UTF-8, so it is re-encoded
    with escapes, which decode back to the very same string.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(loads(text), ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text


def _scope_rows(scope_hash: str, values: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name, value in values.items():
        name_text = _storable(dumps(name))
        rows.append(
            {
                "scope": scope_hash,
                "nh": hashlib.sha256(name_text.encode("utf-8")).hexdigest(),
                "name": name_text,
                "value": _storable(dumps(value)),
            }
        )
    # A fixed lock order, so two writers of the same keys cannot deadlock.
    rows.sort(key=lambda row: row["nh"])
    return rows


class _CrossLoopLock:
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
class _LoopEngine:
    """The engine one event loop uses, its leased connections, and whether the
    store disposes it."""

    engine: AsyncEngine
    owned: bool
    leases: Leases
    reader_leases: Leases  # the same pool, in autocommit where one needs no BEGIN
    write_lock: asyncio.Lock | None = None
    shared_lock: _CrossLoopLock | None = None
    finaliser: AsyncGenerator[None, None] | None = None

    async def reset(self) -> None:
        """Drop every pooled and leased connection (after a disconnect)."""
        await self.leases.drop()
        await self.reader_leases.drop()
        await self.engine.dispose()

    def abandon(self) -> None:
        """Let go of everything without I/O: the loop that owns it is gone."""
        self.leases.abandon()
        self.reader_leases.abandon()
        if self.owned:
            self.engine.sync_engine.dispose(close=False)

    async def close(self) -> None:
        await self.leases.drop()
        await self.reader_leases.drop()
        if self.owned:
            await self.engine.dispose()


async def _dispose_when_loop_ends(loop_engine: _LoopEngine) -> AsyncGenerator[None, None]:
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


def _start_finaliser(loop_engine: _LoopEngine) -> AsyncGenerator[None, None]:
    finaliser = _dispose_when_loop_ends(loop_engine)
    step = finaliser.__anext__()  # registers it with the running loop's asyncgen hooks
    with contextlib.suppress(StopIteration):
        step.send(None)  # runs up to the bare ``yield``, without awaiting
    return finaliser


class SQLStore(ValidatingStore):
    """The omnisession store on a SQL database through a SQLAlchemy async engine.

    ``SQLStore("postgresql://user@host/db")`` (or any URL :func:`open_sql_store`
    takes), or ``SQLStore(engine)`` with an ``AsyncEngine`` you created: the
    store then uses that engine on the first event loop that calls it and
    engines of its own (same URL) on other loops, and leaves disposing yours
    to you. ``options`` are those of :data:`omnisession_sqlalchemy.urls.STORE_OPTIONS`.

    Nothing is connected until the first call, which also creates the tables
    if they are missing (safe when several processes start at once) and
    refuses a database whose schema is newer than this code
    (``IncompatibleSchema``). Arguments are checked by :class:`ValidatingStore`
    before any connection is touched; the methods here are its hooks.
    """

    capabilities = frozenset(
        {
            Capability.BASE,
            Capability.PERSISTENT,
            Capability.CROSS_PROCESS,
            Capability.LARGE_ENTRIES,
        }
    )

    def __init__(self, engine: AsyncEngine | str | URL, **options: Any) -> None:
        self._given: AsyncEngine | None = None
        if isinstance(engine, AsyncEngine):
            self._given = engine
            url = engine.url
            if url.get_backend_name() == "mariadb":
                url = url.set(drivername="mysql+" + (url.get_driver_name() or "asyncmy"))
            self._spec: EngineSpec = engine_url(url, **options)
        else:
            self._spec = engine_url(engine, **options)
        opts = self._spec.options
        synchronous = str(opts.get("synchronous", "NORMAL")).upper()
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(
                f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}"
            )
        self._synchronous = synchronous
        self._tables: Tables = make_tables(
            str(opts.get("table_prefix", "omnisession_")), opts.get("schema")
        )
        self._family = self._spec.family
        self._lock = threading.Lock()
        self._engines: dict[asyncio.AbstractEventLoop, _LoopEngine] = {}
        self._shared: _LoopEngine | None = None  # in-memory SQLite: one engine, every loop
        self._given_used = False
        self._closed = False
        # asyncpg and asyncmy: statements skip SQLAlchemy's statement layer
        # (see executor.py); their errors are then caught as they are
        self._driver = self._spec.url.get_driver_name()
        self._db_errors: tuple[type[BaseException], ...] = (
            sa.exc.SQLAlchemyError,
            sqlite3.Error,
            OSError,
            TimeoutError,
        )
        self._integrity_errors: tuple[type[BaseException], ...] = (
            sa.exc.IntegrityError,
            sqlite3.IntegrityError,
        )
        if self._driver == "asyncpg":
            import asyncpg  # type: ignore[import-untyped,unused-ignore]

            self._db_errors += (
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,
            )
            self._integrity_errors += (asyncpg.IntegrityConstraintViolationError,)
        elif self._driver == "asyncmy":
            import asyncmy.errors  # type: ignore[import-untyped,unused-ignore]

            self._db_errors += (asyncmy.errors.MySQLError,)
            self._integrity_errors += (asyncmy.errors.IntegrityError,)
        self._dialect: sa.Dialect | None = None  # of the first engine: disconnect codes
        self._ready = False
        self._sql: Statements | None = None

    def __repr__(self) -> str:
        return f"SQLStore({self._spec.url.render_as_string(hide_password=True)!r})"

    # -- engines per event loop -------------------------------------------------

    def _create_engine(self) -> AsyncEngine:
        opts = self._spec.options
        kwargs: dict[str, Any] = {"echo": bool(opts.get("echo", False))}
        connect_timeout = float(opts.get("connect_timeout", 10.0))
        driver = self._spec.url.get_driver_name()
        application_name = str(opts.get("application_name", "omnisession"))
        if self._family == "sqlite":
            kwargs["isolation_level"] = "AUTOCOMMIT"  # the store sends BEGIN/COMMIT itself
            # ...and always ends what it began (ROLLBACK on any error), so a
            # connection needs no rollback when it goes back to the pool
            kwargs["pool_reset_on_return"] = None
            kwargs["connect_args"] = {"timeout": float(opts.get("busy_timeout", 30.0))}
            if self._spec.in_memory:
                kwargs["poolclass"] = StaticPool
        elif driver == "asyncpg":
            kwargs["connect_args"] = {
                "timeout": connect_timeout,
                "server_settings": {"application_name": application_name},
            }
        elif driver.startswith("psycopg"):
            kwargs["connect_args"] = {
                "connect_timeout": max(1, round(connect_timeout)),
                "application_name": application_name,
            }
        else:  # asyncmy, aiomysql
            kwargs["connect_args"] = {"connect_timeout": max(1, round(connect_timeout))}
            kwargs["pool_recycle"] = 3600
            # The store ends every transaction it begins (COMMIT, or ROLLBACK
            # on any error), so the pool's own reset would only add a
            # ROLLBACK round trip to every operation.
            kwargs["pool_reset_on_return"] = None
            if driver == "asyncmy":  # reads need no BEGIN; writes send BEGIN themselves
                kwargs["isolation_level"] = "AUTOCOMMIT"
        if not self._spec.in_memory:
            for name in ("pool_size", "max_overflow", "pool_timeout", "pool_recycle"):
                if name in opts:
                    kwargs[name] = opts[name]
            kwargs["pool_pre_ping"] = bool(opts.get("pool_pre_ping", False))
        engine = create_async_engine(self._spec.url, **kwargs)
        if self._family == "sqlite":
            self._configure_sqlite(engine)
        return engine

    def _configure_sqlite(self, engine: AsyncEngine) -> None:
        busy_ms = int(float(self._spec.options.get("busy_timeout", 30.0)) * 1000)
        in_memory = self._spec.in_memory
        synchronous = self._synchronous

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.close()

        sa_event.listen(engine.sync_engine, "connect", on_connect)

    def _reader_of(self, engine: AsyncEngine, owned: bool) -> AsyncEngine:
        if self._family == "sqlite" or (owned and self._driver == "asyncmy"):
            return engine  # already in autocommit: the store sends BEGIN itself
        if self._family == "postgresql" or self._driver == "asyncmy":
            # A single-statement read needs no BEGIN/ROLLBACK round trips.
            return engine.execution_options(isolation_level="AUTOCOMMIT")
        return engine

    def _leases_of(
        self, engine: AsyncEngine, owned: bool, in_memory: bool
    ) -> tuple[Leases, Leases]:
        """Leases of ``engine`` and of its autocommit variant (one object if the same)."""
        # an in-memory database is one connection, shared by every loop: never held
        keep = 0 if in_memory else int(self._spec.options.get("pool_size", 5))
        recycle = float(getattr(engine.sync_engine.pool, "_recycle", -1))
        options: dict[str, Any] = {
            "keep": keep,
            "recycle": recycle if recycle >= 0 else None,
            "cancel_breaks": self._family != "sqlite",
        }
        leases = Leases(engine, **options)
        reader = self._reader_of(engine, owned)
        return leases, leases if reader is engine else Leases(reader, **options)

    def _loop_engine(self) -> _LoopEngine:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise BackendUnavailable(f"{self!r} was closed; open a new store")
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
            in_memory = self._family == "sqlite" and (
                self._spec.in_memory or engine.url.database in (None, "", ":memory:")
            )
            if self._dialect is None:
                self._dialect = engine.dialect
            current = _LoopEngine(engine, owned, *self._leases_of(engine, owned, in_memory))
            if not in_memory:  # in-memory data lives as long as the store
                current.finaliser = _start_finaliser(current)
            if in_memory:
                current.shared_lock = _CrossLoopLock()
                self._shared = current
            elif self._family == "sqlite":
                current.write_lock = asyncio.Lock()
            self._engines[loop] = current
            return current

    async def aclose(self) -> None:
        """Dispose every engine the store created; the store is unusable afterwards."""
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

    # -- running a transaction --------------------------------------------------

    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        cause = getattr(exc, "orig", None) or exc
        where = self._spec.url.render_as_string(hide_password=True)
        hint = (
            "check that it is running and reachable, then retry"
            if self._is_disconnect(exc) or isinstance(exc, sa.exc.OperationalError)
            else "check the URL, the database user's privileges and the server's log"
        )
        return BackendUnavailable(
            f"the {self._family} database at {where} failed: {type(cause).__name__}: {cause}; "
            f"{hint}"
        )

    def _is_disconnect(self, exc: BaseException) -> bool:
        if isinstance(exc, sa.exc.DBAPIError):
            return bool(exc.connection_invalidated)
        if isinstance(exc, OSError | TimeoutError):
            return True
        if self._driver == "asyncmy":
            return self._dialect is not None and self._dialect.is_disconnect(exc, None, None)  # type: ignore[arg-type]
        if self._driver == "asyncpg":
            import asyncpg  # type: ignore[import-untyped,unused-ignore]

            broken = (  # the connection is gone or its protocol state is unusable
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,
                asyncpg.PostgresConnectionError,
            )
            if isinstance(exc, broken):
                return True
            # 57P01 admin shutdown (pg_terminate_backend), 57P02, 57P03 ...
            return str(getattr(exc, "sqlstate", "") or "").startswith("57P")
        return False

    def _is_deadlock(self, exc: BaseException) -> bool:
        orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if code in _DEADLOCK_SQLSTATES:
            return True
        args = getattr(orig, "args", ())
        return bool(self._family == "mysql" and args and args[0] in _MYSQL_DEADLOCK_CODES)

    async def _run(
        self,
        op: Callable[[Executor], Awaitable[T]],
        *,
        write: bool = True,
        single: bool = False,
    ) -> T:
        """Run ``op`` in one transaction, after making sure the schema is there.

        ``single``: ``op`` is one statement, atomic on its own; PostgreSQL runs
        it without ``BEGIN``/``COMMIT`` round trips.
        """
        if not self._ready:
            await self._prepare()
        return await self._transaction(op, write=write, single=single)

    async def _transaction(
        self,
        op: Callable[[Executor], Awaitable[T]] | None = None,
        *,
        write: bool,
        schema_op: Callable[[AsyncConnection], Awaitable[T]] | None = None,
        single: bool = False,
    ) -> T:
        """One transaction on a leased connection, retried only when nothing committed.

        ``op`` gets an :class:`Executor`; ``schema_op`` (DDL) the SQLAlchemy
        connection itself. A disconnect before ``COMMIT`` was sent is retried
        once on a fresh connection, a deadlock the engine rolled back a few
        times; anything else, and any failure during ``COMMIT``, raises.
        """
        disconnects = deadlocks = 0
        while True:
            loop_engine = self._loop_engine()
            committing = False
            try:
                async with self._serialised(loop_engine, write):
                    autocommit = self._autocommit(write, single)
                    leases = loop_engine.reader_leases if autocommit else loop_engine.leases
                    async with leases.lease() as lease:
                        conn = lease.conn
                        if self._family == "sqlite":
                            return await self._sqlite_transaction(lease, op, schema_op, write)
                        if schema_op is not None:
                            result = await schema_op(conn)
                        elif self._driver == "asyncmy":
                            assert op is not None
                            return await self._asyncmy_op(lease, op, write)
                        elif autocommit and self._driver == "asyncpg":
                            if write:  # it commits by itself: once sent, no retry
                                committing = True
                            result = await self._asyncpg_op(lease, op)
                        else:
                            assert op is not None
                            result = await op(SAExecutor(conn, self._statements(conn)))
                        committing = True
                        if not autocommit:
                            await conn.commit()
                        return result
            except OmnisessionError:
                raise
            except self._db_errors as exc:
                if getattr(exc, "_omnisession_committing", False):
                    committing = True
                disconnected = self._is_disconnect(exc)
                if disconnected:
                    # what SQLAlchemy does when it sees a disconnect itself: drop
                    # the pooled connections too, likely dead as well
                    await loop_engine.reset()
                if (
                    (not committing or single)  # a deadlocked statement was rolled back
                    and self._is_deadlock(exc)
                    and deadlocks < _RETRIES_AFTER_DEADLOCK
                ):
                    deadlocks += 1
                    continue
                if not committing and disconnected and disconnects < _RETRIES_AFTER_DISCONNECT:
                    disconnects += 1
                    continue
                raise self._unavailable(exc) from exc

    def _autocommit(self, write: bool, single: bool) -> bool:
        """Whether the operation runs on a connection in autocommit mode."""
        if self._driver == "asyncmy":
            return True  # reads are one round trip; writes send BEGIN themselves
        if self._family == "postgresql":
            return not write or single
        return not write

    async def _asyncpg_op(self, lease: Lease, op: Callable[[Executor], Awaitable[T]] | None) -> T:
        """One statement outside a transaction, straight on the asyncpg connection."""
        assert op is not None
        try:
            return await op(PGExecutor(await lease.driver(), self._statements(lease.conn)))
        except self._db_errors as exc:
            if self._is_disconnect(exc):
                Leases.mark_broken(exc)
            raise

    async def _asyncmy_op(
        self, lease: Lease, op: Callable[[Executor], Awaitable[T]], write: bool
    ) -> T:
        """``op`` straight on the asyncmy connection (autocommit): a read is its
        statements alone, a write is ``BEGIN`` (sent with its first statement),
        its statements, then ``COMMIT``."""
        raw: Any = await lease.driver()
        executor = MySQLExecutor(raw, self._statements(lease.conn), begin_pending=write)
        try:
            result = await op(executor)
        except Exception as exc:
            if isinstance(exc, self._db_errors) and self._is_disconnect(exc):
                Leases.mark_broken(exc)
            elif write and not executor.begin_pending:
                try:
                    await raw.rollback()
                except self._db_errors:
                    Leases.mark_broken(exc)
            raise
        if not write or executor.begin_pending:  # nothing written: nothing to commit
            return result
        try:
            await raw.commit()
        except self._db_errors as exc:
            exc._omnisession_committing = True  # type: ignore[attr-defined]
            Leases.mark_broken(exc)  # its state is unknown: another connection next time
            raise
        return result

    async def _sqlite_transaction(
        self,
        lease: Lease,
        op: Callable[[Executor], Awaitable[T]] | None,
        schema_op: Callable[[AsyncConnection], Awaitable[T]] | None,
        write: bool,
    ) -> T:
        conn = lease.conn
        sql = self._statements(conn)
        aioconn: Any = await lease.driver()
        in_thread = getattr(aioconn, "_execute", None)
        if op is not None and in_thread is not None:
            # The whole transaction in one call to aiosqlite's worker thread. It
            # runs to its end there even if the caller is cancelled meanwhile,
            # so no transaction is ever left open on a pooled connection.
            return cast(T, await in_thread(self._sqlite_in_thread, aioconn, op, sql, write))

        async def body() -> T:
            if schema_op is not None:
                return await schema_op(conn)
            assert op is not None
            return await op(SQLiteExecutor(aioconn, sql))

        if not write:  # reads are single statements or need no snapshot: no BEGIN/COMMIT
            return await body()
        try:
            await aioconn.execute("BEGIN IMMEDIATE")
            result = await body()
        except BaseException:
            # Also on cancellation: the connection goes back to the pool, with
            # no reset, so the transaction must end here. aiosqlite runs calls
            # in order, so this ROLLBACK follows a BEGIN still in flight.
            try:
                await asyncio.shield(aioconn.execute("ROLLBACK"))
            except sqlite3.OperationalError as exc:
                if "no transaction is active" not in str(exc):
                    await conn.invalidate()
            raise
        try:
            await aioconn.execute("COMMIT")
        except sqlite3.Error as exc:
            exc._omnisession_committing = True  # type: ignore[attr-defined]
            raise
        return result

    @staticmethod
    def _sqlite_in_thread(
        aioconn: Any, op: Callable[[Executor], Coroutine[Any, Any, T]], sql: Statements, write: bool
    ) -> T:
        db = aioconn._conn  # the sqlite3 connection; this is its own thread
        if not write:
            return run_to_end(op(ThreadSQLiteExecutor(db, sql)))
        db.execute("BEGIN IMMEDIATE")
        try:
            result = run_to_end(op(ThreadSQLiteExecutor(db, sql)))
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            exc._omnisession_committing = True  # type: ignore[attr-defined]
            raise
        return result

    @asynccontextmanager
    async def _serialised(self, loop_engine: _LoopEngine, write: bool) -> AsyncIterator[None]:
        if loop_engine.shared_lock is not None:
            async with loop_engine.shared_lock.hold():
                yield
        elif write and loop_engine.write_lock is not None:
            # One SQLite writer per loop at a time: the others wait here, not
            # in SQLite's sleeping busy handler.
            async with loop_engine.write_lock:
                yield
        else:
            yield

    # -- schema ---------------------------------------------------------------

    async def _prepare(self) -> None:
        """Create the tables if missing and check the schema version."""
        found = await self._transaction(schema_op=self._read_version, write=False)
        if found is None:
            await self._transaction(schema_op=self._create_schema, write=True)
            found = await self._transaction(schema_op=self._read_version, write=False)
        if found is None:  # pragma: no cover - created just above
            raise IncompatibleSchema("the omnisession schema version row is missing")
        if found > SCHEMA_VERSION:
            where = self._spec.url.render_as_string(hide_password=True)
            raise IncompatibleSchema(
                f"the database at {where} holds omnisession schema version {found}, "
                f"newer than version {SCHEMA_VERSION} that omnisession-sqlalchemy {_VERSION} "
                "understands; upgrade omnisession-sqlalchemy (pip install -U "
                "omnisession-sqlalchemy) in every process that uses this database"
            )
        self._ready = True

    def _statements(self, conn: AsyncConnection) -> Statements:
        if self._sql is None:
            dialect = conn.dialect
            mariadb = bool(getattr(dialect, "is_mariadb", False))
            server = tuple(dialect.server_version_info or ())
            if self._family == "postgresql":
                features = Features("postgresql", returning=True, delete_returning=True)
            elif self._family == "sqlite":
                if sqlite3.sqlite_version_info < (3, 35):
                    raise BackendUnavailable(
                        f"SQLite {sqlite3.sqlite_version} is too old: the store needs 3.35 or "
                        "newer (RETURNING); use a Python built with a newer SQLite"
                    )
                features = Features("sqlite", returning=True, delete_returning=True)
            else:
                features = Features(
                    "mysql",
                    returning=False,
                    delete_returning=mariadb and server >= (10, 5),
                    mariadb=mariadb,
                )
            self._sql = Statements(self._tables, dialect, features)
        return self._sql

    async def _read_version(self, conn: AsyncConnection) -> int | None:
        sql = self._statements(conn)
        table = self._tables.version

        def exists(sync_conn: sa.Connection) -> bool:
            return sa.inspect(sync_conn).has_table(table.name, schema=table.schema)

        if not await conn.run_sync(exists):
            return None
        row = (await conn.execute(sql.read_version)).first()
        return None if row is None else int(row[0])

    async def _create_schema(self, conn: AsyncConnection) -> None:
        sql = self._statements(conn)
        schema = self._tables.metadata.schema
        lock_name = f"omnisession-schema:{schema or ''}:{self._tables.sessions.name}"
        mysql_lock = "omni_" + hashlib.sha256(lock_name.encode()).hexdigest()[:40]
        if self._family == "postgresql":
            key = zlib.crc32(lock_name.encode()) - 2**31
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            exists = sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s")
            if schema and (await conn.execute(exists, {"s": schema})).first() is None:
                # only when missing: CREATE SCHEMA needs a privilege a user of a
                # schema made for it may not have, even with IF NOT EXISTS
                quoted = conn.dialect.identifier_preparer.quote_schema(schema)
                await conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        elif self._family == "mysql":
            got = (
                await conn.execute(sa.text("SELECT GET_LOCK(:n, 60)"), {"n": mysql_lock})
            ).scalar()
            if got != 1:
                raise BackendUnavailable(
                    "timed out waiting for another process creating the omnisession tables"
                )
        try:
            await conn.run_sync(self._tables.metadata.create_all)
            if (await conn.execute(sql.read_version)).first() is None:
                await conn.execute(
                    sql.insert_version,
                    {"v": SCHEMA_VERSION, "by": f"omnisession-sqlalchemy {_VERSION}"},
                )
        finally:
            if self._family == "mysql":
                await conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": mysql_lock})

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _ids(key: SessionKey) -> dict[str, str]:
        return {
            "h": _digest(key.app_name, key.user_id, key.session_id),
            "ah": _digest(key.app_name),
            "uh": _digest(key.app_name, key.user_id),
        }

    @staticmethod
    async def _write_scopes(x: Executor, ids: Mapping[str, str], delta: StateDelta) -> None:
        if delta.app:
            await x.many(x.sql.upsert_app, _scope_rows(ids["ah"], delta.app))
        if delta.user:
            await x.many(x.sql.upsert_user, _scope_rows(ids["uh"], delta.user))

    @staticmethod
    def _scope_dict(rows: Sequence[tuple[Any, ...]]) -> JSONObject:
        return {loads(name): loads(value) for name, value in rows}

    # -- reads ----------------------------------------------------------------

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        """One statement: the session row, both scopes and the wanted events."""
        params: dict[str, Any] = self._ids(key)
        if last:
            params["last"] = last
        if since is not None:
            params["since"] = since

        async def op(x: Executor) -> list[tuple[Any, ...]]:
            return await x.all(x.sql.get_session(last != 0, bool(last), since is not None), params)

        rows = await self._run(op, write=False)
        session: tuple[Any, ...] | None = None
        app: JSONObject = {}
        user: JSONObject = {}
        events: list[Event] = []
        for kind, n, f1, f2, body, name in rows:
            if kind == 0:
                session = (n, f1, f2, body)
            elif kind == 1:
                app[loads(name)] = loads(body)
            elif kind == 2:
                user[loads(name)] = loads(body)
            elif since is None or f1 >= since:
                events.append(Event(int(n), float(f1), loads(body)))
        if session is None:
            return None
        events.sort(key=lambda item: item.seq)
        revision, created_at, updated_at, state = session
        return SessionRecord(
            key=key,
            state=merge_state(loads(state), app, user),
            events=events,
            created_at=float(created_at),
            updated_at=float(updated_at),
            revision=int(revision),
        )

    async def _list_sessions(
        self, app_name: str, user_id: str | None, size: int, cursor: str | None
    ) -> Page:
        """Sessions of an app (or one user), oldest ``updated_at`` first, by index range."""
        params: dict[str, Any] = {"ah": _digest(app_name), "n": size + 1}
        if user_id is not None:
            params["uh"] = _digest(app_name, user_id)
        if cursor:
            updated, row_id = decode_cursor(cursor, 2)
            if not isinstance(updated, int | float) or not isinstance(row_id, int):
                raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")
            params["cu"], params["ci"] = float(updated), row_id

        Rows = list[tuple[Any, ...]]

        async def op(x: Executor) -> tuple[Rows, JSONObject, dict[str, JSONObject]]:
            rows = await x.all(x.sql.list_sessions(user_id is not None, bool(cursor)), params)
            if not rows:
                return rows, {}, {}
            app = self._scope_dict(await x.all(x.sql.app_scope, params))
            # columns: id, app_name, user_id, session_id, revision, state, created, updated
            user_hashes = sorted({_digest(app_name, row[2]) for row in rows[:size]})
            users: dict[str, JSONObject] = {}
            for user_hash, name, value in await x.all(x.sql.user_scopes, {"uhs": user_hashes}):
                users.setdefault(user_hash, {})[loads(name)] = loads(value)
            return rows, app, users

        rows, app, users = await self._run(op, write=False)
        records = [
            SessionRecord(
                key=SessionKey(row_app, row_user, row_session),
                state=merge_state(loads(state), app, users.get(_digest(app_name, row_user), {})),
                events=[],
                created_at=float(created_at),
                updated_at=float(updated_at),
                revision=int(revision),
            )
            for _, row_app, row_user, row_session, revision, state, created_at, updated_at in rows[
                :size
            ]
        ]
        next_cursor = None
        if len(rows) > size:
            last_row = rows[size - 1]
            next_cursor = encode_cursor(float(last_row[7]), int(last_row[0]))
        return Page(records, next_cursor)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        """One statement: an index range scan of the newest ``limit`` events."""
        params: dict[str, Any] = {"h": _digest(key.app_name, key.user_id, key.session_id)}
        if limit is not None:
            params["n"] = limit

        async def op(x: Executor) -> list[tuple[Any, ...]]:
            return await x.all(x.sql.get_items(limit is not None), params)

        rows = await self._run(op, write=False)
        if limit is not None:
            rows.reverse()
        return loads_all([row[0] for row in rows])

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        params = {"uh": _digest(app_name, user_id)}

        async def op(x: Executor) -> JSONObject:
            return self._scope_dict(await x.all(x.sql.user_scope, params))

        return await self._run(op, write=False)

    async def _get_app_state(self, app_name: str) -> JSONObject:
        params = {"ah": _digest(app_name)}

        async def op(x: Executor) -> JSONObject:
            return self._scope_dict(await x.all(x.sql.app_scope, params))

        return await self._run(op, write=False)

    # -- writes ---------------------------------------------------------------

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        """INSERT the row (a duplicate key is ``AlreadyExists``), upsert scopes, read them."""
        session_state = _storable(dumps(delta.session))
        ids = self._ids(key)

        async def op(x: Executor) -> tuple[float, list[tuple[Any, ...]]]:
            stamp = now()
            try:
                await x.run(
                    x.sql.create_session,
                    {
                        **ids,
                        "app": key.app_name,
                        "user": key.user_id,
                        "sid": key.session_id,
                        "state": session_state,
                        "now": stamp,
                    },
                )
            except self._integrity_errors as exc:
                raise AlreadyExists(key) from exc
            await self._write_scopes(x, ids, delta)
            return stamp, await x.all(x.sql.both_scopes, ids)

        stamp, scopes = await self._run(op)
        app = {loads(name): loads(value) for kind, name, value in scopes if kind == 1}
        user = {loads(name): loads(value) for kind, name, value in scopes if kind == 2}
        return SessionRecord(
            key=key,
            state=merge_state(loads(session_state), app, user),
            events=[],
            created_at=stamp,
            updated_at=stamp,
            revision=1,
        )

    async def _delete_session(self, key: SessionKey) -> None:
        """Lock the row, delete its events and it; app and user state stay."""
        ids = self._ids(key)

        async def op(x: Executor) -> None:
            row = await x.first(x.sql.lock_session(False), ids)
            if row is None:
                return
            await x.run(x.sql.delete_events, {"id": row[0]})
            await x.run(x.sql.delete_session, {"id": row[0]})

        await self._run(op)

    async def _apply(
        self,
        key: SessionKey,
        delta: StateDelta,
        expected_revision: int | None,
        event: tuple[float, str] | None,
    ) -> tuple[int, int]:
        """The shared write of append_event and update_state: ``(seq, revision)``.

        Statements: lock the session row; update it (revision, next_seq,
        merged session state); insert the event; upsert each touched scope.
        """
        ids = self._ids(key)
        with_state = bool(delta.session)
        if self._family == "postgresql":
            done = await self._apply_pg(key, ids, delta, expected_revision, event)
            if done is not None:
                return done

        async def op(x: Executor) -> tuple[int, int]:
            row = await x.first(x.sql.lock_session(with_state), ids)
            if row is None:
                raise SessionNotFound(key)
            session_pk, current, next_seq = row[0], int(row[1]), int(row[2])
            if expected_revision is not None and expected_revision != current:
                raise StaleSession(key, expected_revision, current)
            params: dict[str, Any] = {
                "id": session_pk,
                "rev": current + 1,
                "ns": next_seq + 1 if event else next_seq,
                "now": now(),
            }
            if with_state:
                merged = loads(row[3])
                merged.update(delta.session)
                params["state"] = _storable(dumps(merged))
            await x.run(x.sql.update_session(with_state), params)
            if event is not None:
                await x.run(
                    x.sql.insert_event,
                    {"sid": session_pk, "seq": next_seq, "ts": event[0], "data": event[1]},
                )
            await self._write_scopes(x, ids, delta)
            return next_seq, current + 1

        return await self._run(op)

    async def _apply_pg(
        self,
        key: SessionKey,
        ids: Mapping[str, str],
        delta: StateDelta,
        expected_revision: int | None,
        event: tuple[float, str] | None,
    ) -> tuple[int, int] | None:
        """PostgreSQL: the write of :meth:`_apply` as ONE compare-and-set statement.

        Without session state to merge, the statement is conditional on
        ``expected_revision`` (if any) and is the whole write. With session
        state, the state is read first and the statement is conditional on the
        revision read; if another writer got in between, it is read again.
        ``None`` after too many such rounds: the caller then takes the row lock.
        """
        params: dict[str, Any] = {"h": ids["h"], "now": now(), "inc": 1 if event else 0}
        if event is not None:
            params["ts"], params["data"] = event
        for name, scope, values in (("a", "ah", delta.app), ("u", "uh", delta.user)):
            rows = _scope_rows(ids[scope], values)
            if rows:
                params[scope] = ids[scope]
                params[f"{name}_nh"] = [row["nh"] for row in rows]
                params[f"{name}_name"] = [row["name"] for row in rows]
                params[f"{name}_value"] = [row["value"] for row in rows]
        with_state = bool(delta.session)
        cas = with_state or expected_revision is not None

        async def read(x: Executor) -> tuple[Any, ...] | None:
            return await x.first(x.sql.session_head, params)

        async def write(x: Executor) -> tuple[Any, ...] | None:
            stmt = x.sql.apply_pg(
                event is not None, with_state, cas, bool(delta.app), bool(delta.user)
            )
            return await x.first(stmt, params)

        for _ in range(_CAS_ROUNDS):
            if expected_revision is not None:
                params["exp"] = expected_revision
            if with_state:
                head = await self._run(read, write=False)
                if head is None:
                    raise SessionNotFound(key)
                if expected_revision is not None and int(head[0]) != expected_revision:
                    raise StaleSession(key, expected_revision, int(head[0]))
                params["exp"] = int(head[0])
                merged = loads(head[1])
                merged.update(delta.session)
                params["state"] = _storable(dumps(merged))
            done = await self._run(write, single=True)
            if done is not None:
                return int(done[0]), int(done[1])
            head = await self._run(read, write=False)
            if head is None:
                raise SessionNotFound(key)
            if expected_revision is not None:
                raise StaleSession(key, expected_revision, int(head[0]))
        return None

    async def _append_event(
        self,
        key: SessionKey,
        entry: str,
        delta: StateDelta,
        timestamp: float,
        expected_revision: int | None,
    ) -> Appended:
        """One transaction: the event, the revision and every scope of ``delta``."""
        event = (timestamp, _storable(entry))
        seq, revision = await self._apply(key, delta, expected_revision, event)
        return Appended(seq=seq, revision=revision, timestamp=timestamp)

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        """One transaction: every scope of ``delta`` and the revision, no event."""
        _, revision = await self._apply(key, delta, expected_revision, None)
        return revision

    async def _add_items(self, key: SessionKey, entries: list[str]) -> None:
        """One transaction: an upsert that creates or bumps the session, reserving
        ``len(items)`` sequence numbers, then one multi-row insert of the items.

        On PostgreSQL both are one statement; on MySQL the insert reads the
        reserved numbers itself (see :meth:`Statements.add_items_mysql`).
        Concurrent first writes all succeed: the upsert never fails on an
        existing row, and it holds the session row lock until commit.
        """
        texts = [_storable(text) for text in entries]
        ids = self._ids(key)
        count = len(texts)

        async def op(x: Executor) -> None:
            stamp = now()
            params = {
                **ids,
                "app": key.app_name,
                "user": key.user_id,
                "sid": key.session_id,
                "n": count,
                "now": stamp,
            }
            if x.sql.f.family == "postgresql":
                await x.run(x.sql.add_items_pg, {**params, "ts": stamp, "datas": texts})
                return
            if x.sql.f.family == "mysql":
                await x.run(x.sql.reserve_seqs, params)
                items = {f"d{index}": text for index, text in enumerate(texts)}
                await x.run(x.sql.add_items_mysql(count), {**params, **items})
                return
            if x.sql.f.returning:
                row = await x.first(x.sql.reserve_seqs, params)
            else:
                await x.run(x.sql.reserve_seqs, params)
                row = await x.first(x.sql.lock_session(False), ids)
            assert row is not None
            session_pk, first = row[0], int(row[-1]) - count
            await x.many(
                x.sql.insert_event,
                [
                    {"sid": session_pk, "seq": first + index, "ts": stamp, "data": text}
                    for index, text in enumerate(texts)
                ],
            )

        await self._run(op, single=self._family == "postgresql")

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        """Lock the session row, delete its newest event returning it, bump the revision.

        The row lock makes concurrent pops (any process) take turns, so each
        item is returned once and no pop comes back empty while items remain.
        """
        ids = self._ids(key)

        async def op(x: Executor) -> str | None:
            row = await x.first(x.sql.lock_session(False), ids)
            if row is None:
                return None
            session_pk = row[0]
            text: str | None
            if x.sql.f.delete_returning:
                popped = await x.first(x.sql.pop_newest, {"id": session_pk})
                text = None if popped is None else popped[0]
            else:
                newest = await x.first(x.sql.newest_event, {"id": session_pk})
                text = None if newest is None else newest[1]
                if newest is not None:
                    await x.run(x.sql.delete_event, {"id": session_pk, "seq": newest[0]})
            if text is not None:
                await x.run(x.sql.bump_by_id, {"id": session_pk, "now": now()})
            return text

        text = await self._run(op)
        if text is None:
            return None
        result: JSONObject = loads(text)
        return result

    async def _clear_session(self, key: SessionKey) -> None:
        """Bump the revision (locking the row), then delete every event."""
        params = {"h": _digest(key.app_name, key.user_id, key.session_id)}

        async def op(x: Executor) -> None:
            if await x.run(x.sql.bump_by_key, {**params, "now": now()}):
                await x.run(x.sql.delete_events_by_key, params)

        await self._run(op)


def open_sql_store(url: str, **options: Any) -> SQLStore:
    """Factory for ``sqlite://``, ``postgresql://``, ``mysql://``, ``mariadb://`` URLs.

    Connecting is lazy: this does no I/O.
    """
    return SQLStore(url, **options)
