"""Running store operations: one transaction each, on a leased connection.

Every contract write is one transaction. SQLite writes start with
``BEGIN IMMEDIATE`` (the database write lock is taken up front, so two
processes never deadlock upgrading a read lock) and run in WAL mode with a busy
timeout; PostgreSQL and MySQL lock the session row (``FOR UPDATE`` or the
upsert itself) before touching its events, so concurrent writers serialise per
session, never per database. Single-statement operations on PostgreSQL run
without ``BEGIN``/``COMMIT``; on MySQL (asyncmy) connections are in
autocommit mode, so a read is one round trip and a write sends ``BEGIN`` with
its first statement.

A lost connection, a refused connect or a timeout raises ``BackendUnavailable``
with the driver's error chained. A failure before ``COMMIT`` was sent is retried
once on a fresh connection (nothing can have been committed), as is a deadlock
the engine rolled back; a failure during ``COMMIT`` is never retried, since the
write may have committed. The first operation creates the schema if it is
missing and refuses one newer than this code (``IncompatibleSchema``).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from omnisession.errors import (
    BackendUnavailable,
    IncompatibleSchema,
    OmnisessionError,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from .engines import LoopEngine, LoopEngines
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
from .schema import SCHEMA_VERSION, Tables
from .sql import Features, Statements
from .urls import EngineSpec

__all__ = ["Database"]

T = TypeVar("T")

_RETRIES_AFTER_DISCONNECT = 1
_RETRIES_AFTER_DEADLOCK = 8
_DEADLOCK_SQLSTATES = {"40P01", "40001"}
_MYSQL_DEADLOCK_CODES = {1213}

try:
    _VERSION = version("omnisession-sqlalchemy")
except PackageNotFoundError:  # running from a source tree
    _VERSION = "0+unknown"


class Database:
    """The tables of one store, reached through the engines of each event loop."""

    def __init__(self, spec: EngineSpec, tables: Tables, engines: LoopEngines) -> None:
        self._spec = spec
        self._family = spec.family
        self._tables = tables
        self._engines = engines
        # asyncpg and asyncmy: statements skip SQLAlchemy's statement layer
        # (see executor.py); their errors are then caught as they are
        self._driver = spec.url.get_driver_name()
        self._db_errors: tuple[type[BaseException], ...] = (
            sa.exc.SQLAlchemyError,
            sqlite3.Error,
            OSError,
            TimeoutError,
        )
        #: what a duplicate key raises, whichever layer sent the statement
        self.integrity_errors: tuple[type[BaseException], ...] = (
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
            self.integrity_errors += (asyncpg.IntegrityConstraintViolationError,)
        elif self._driver == "asyncmy":
            import asyncmy.errors  # type: ignore[import-untyped,unused-ignore]

            self._db_errors += (asyncmy.errors.MySQLError,)
            self.integrity_errors += (asyncmy.errors.IntegrityError,)
        self._ready = False
        self._sql: Statements | None = None

    @property
    def sql(self) -> Statements | None:
        """The statements, once the first connection told which engine this is."""
        return self._sql

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
            dialect = self._engines.dialect
            return dialect is not None and dialect.is_disconnect(exc, None, None)  # type: ignore[arg-type]
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

    async def run(
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
            loop_engine = self._engines.current()
            committing = False
            try:
                async with self._serialised(loop_engine, write):
                    autocommit = self._autocommit(write, single)
                    leases = loop_engine.reader_leases if autocommit else loop_engine.leases
                    async with leases.lease() as lease:
                        try:
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
                                assert op is not None
                                result = await op(
                                    PGExecutor(await lease.driver(), self._statements(conn))
                                )
                            else:
                                assert op is not None
                                result = await op(SAExecutor(conn, self._statements(conn)))
                            committing = True
                            if not autocommit:
                                await conn.commit()
                            return result
                        except self._db_errors as exc:
                            if self._is_disconnect(exc):  # not given back to the lease list
                                Leases.mark_broken(exc)
                            raise
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
            lost = isinstance(exc, self._db_errors) and self._is_disconnect(exc)
            if write and not executor.begin_pending and not lost:
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
    async def _serialised(self, loop_engine: LoopEngine, write: bool) -> AsyncIterator[None]:
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
