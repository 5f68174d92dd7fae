"""Running store operations: one transaction each, on a leased connection.

Every store write is one transaction. SQLite writes start with
``BEGIN IMMEDIATE`` (the database write lock is taken up front, so two
processes never deadlock upgrading a read lock) and run in WAL mode with a busy
timeout; PostgreSQL and MySQL lock the session row (``FOR UPDATE`` or the
upsert itself) before touching its events, so concurrent writers serialise per
session, never per database. With the default drivers the connections are in
autocommit mode and a transaction is begun and ended by the statements here:
a read is its statement alone, a single-statement write on PostgreSQL needs no
``BEGIN``/``COMMIT`` at all, and MySQL sends ``BEGIN`` with a write's first
statement.

Failures go through the one mapping of :mod:`omnisession_sqlalchemy.failures`.
A connection lost before ``COMMIT`` was sent is retried once on a fresh
connection (nothing can have been committed), as is a deadlock or
serialization failure the engine rolled back (a few times, after a short
randomised pause that grows with each retry); a failure during
``COMMIT`` is never retried, since the write may have committed. A write
cancelled while the server works on it is settled before the store's next call
(:mod:`omnisession_sqlalchemy.leases`). On
PostgreSQL and MySQL every call, connecting and retrying included, is bounded
by ``command_timeout``. The first call creates the schema if it is missing,
migrates an older one and refuses a newer one
(:mod:`omnisession_sqlalchemy.migrations`).
"""

from __future__ import annotations

import asyncio
import enum
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from omnisession.errors import OmnisessionError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import failures, migrations, sqlite_files
from .engines import LoopEngine, LoopEngines
from .executor import (
    AsyncpgExecutor,
    Executor,
    MySQLExecutor,
    SQLAlchemyExecutor,
    SQLiteExecutor,
    ThreadSQLiteExecutor,
    run_to_end,
)
from .failures import Retry
from .leases import Lease, Leases
from .options import SQLITE
from .schema import SCHEMA_VERSION, Tables
from .sql import Statements
from .urls import EngineSpec

__all__ = ["Access", "Database"]

T = TypeVar("T")
Operation = Callable[[Executor], Coroutine[Any, Any, T]]

_RETRIES_AFTER_DISCONNECT = 1
_RETRIES_AFTER_CONFLICT = 8
#: The longest pause before retrying a rolled-back deadlock (seconds); the pause
#: doubles from 2 ms with each retry, with jitter, so that the transactions that
#: deadlocked do not meet again in the same order (8 retries wait 0.5 s at most).
_CONFLICT_PAUSE_CAP = 0.25


def _conflict_pause(conflicts: int) -> float:
    """How long to wait before retry number ``conflicts + 1`` of a deadlocked transaction."""
    longest: float = min(_CONFLICT_PAUSE_CAP, 0.002 * 2.0**conflicts)
    return random.uniform(0.5, 1.0) * longest


class Access(enum.Enum):
    """How an operation uses the database."""

    READ = "read"
    """Reads only; each statement is consistent on its own (no transaction)."""
    STATEMENT = "statement"
    """One write statement, atomic by itself (PostgreSQL: no BEGIN/COMMIT around it)."""
    TRANSACTION = "transaction"
    """Writes in one transaction."""
    SNAPSHOT = "snapshot"
    """Writes in one transaction whose statements all see one snapshot (REPEATABLE READ):
    a concurrent change to a row it touches makes the engine roll it back, and it is
    run again."""

    @property
    def writes(self) -> bool:
        return self is not Access.READ


class _MigrationNeeded(Exception):
    """The schema is older than this code: migrate, outside the command timeout."""


def _committing(exc: BaseException) -> BaseException:
    """Flag ``exc`` as raised while the write may have committed: it is never retried."""
    exc._omnisession_committing = True  # type: ignore[attr-defined]
    return exc


class Database:
    """The tables of one store, reached through the engines of each event loop."""

    def __init__(self, spec: EngineSpec, tables: Tables, engines: LoopEngines) -> None:
        self._spec = spec
        self._family = spec.family
        self._driver = spec.driver
        self._tables = tables
        self._engines = engines
        self._errors = failures.driver_errors(self._driver)
        self.integrity_errors = failures.integrity_errors(self._driver)
        self._ready = False
        self._statements: Statements | None = None

    @property
    def family(self) -> str:
        """``"sqlite"``, ``"postgresql"`` or ``"mysql"``."""
        return self._family

    @property
    def native(self) -> bool:
        """Statements go straight to a default driver (aiosqlite, asyncpg, asyncmy)."""
        return self._driver in ("aiosqlite", "asyncpg", "asyncmy")

    @property
    def statements(self) -> Statements | None:
        """The statements, once the first connection told which engine this is."""
        return self._statements

    async def run(self, operation: Operation[T], access: Access = Access.TRANSACTION) -> T:
        """Run ``operation`` as ``access`` says, after making sure the schema is there.

        The whole call is bounded by ``command_timeout``, the first one's schema check
        (and creation) included; only a migration runs outside the bound.
        """
        if not self._ready:
            try:
                return await self._bounded(self._first_call(operation, access))
            except _MigrationNeeded:
                await self._migrate()
                self._ready = True
        return await self._bounded(self._transaction(operation, access))

    async def _first_call(self, operation: Operation[T], access: Access) -> T:
        await self._prepare()
        return await self._transaction(operation, access)

    async def _bounded(self, work: Awaitable[T]) -> T:
        """``work`` within ``command_timeout`` (PostgreSQL, MySQL), else BackendUnavailable."""
        seconds = self._spec.options.command_timeout
        if seconds is None:
            return await work
        try:
            async with asyncio.timeout(seconds):
                return await work
        except TimeoutError as exc:
            raise failures.timed_out(self._spec, seconds) from exc

    async def beside_the_schema(self, operation: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``operation`` on a plain connection of this loop's engine, bounded by
        ``command_timeout`` and with failures mapped as every call's, but without
        creating or checking the store's tables: for looking at other tables."""
        loop_engine = self._engines.current()

        async def attempt() -> T:
            try:
                async with loop_engine.engine.connect() as connection:
                    return await operation(connection)
            except self._errors as exc:
                raise failures.describe(exc, self._spec).error(self._spec) from exc

        return await self._bounded(attempt())

    # -- one operation ---------------------------------------------------------------

    async def _transaction(self, operation: Operation[T], access: Access) -> T:
        async def attempt(lease: Lease) -> T:
            return await self._attempt(lease, operation, access)

        return await self._retrying(attempt, access, self._leases(access))

    async def _retrying(
        self,
        attempt: Callable[[Lease], Awaitable[T]],
        access: Access,
        leases_of: Callable[[LoopEngine], Leases],
    ) -> T:
        """``attempt`` on a leased connection, again after a failure that allows it."""
        lost = conflicts = 0
        while True:
            loop_engine = self._engines.current()
            if loop_engine.in_doubt:  # nothing cancelled earlier may land after this call
                await loop_engine.settled()
            try:
                async with (
                    self._serialised(loop_engine, access.writes),
                    leases_of(loop_engine).lease(writes=access.writes) as lease,
                ):
                    try:
                        return await attempt(lease)
                    except self._errors as exc:
                        if failures.describe(exc, self._spec).broken:
                            Leases.mark_broken(exc)  # not given back to the idle list
                        raise
            except OmnisessionError:
                raise
            except self._errors as exc:
                failure = failures.describe(exc, self._spec)
                if failure.reset:
                    # what SQLAlchemy does when it sees a disconnect itself: drop the
                    # pooled connections too, likely dead as well
                    await loop_engine.reset()
                committing = getattr(exc, "_omnisession_committing", False)
                if failure.retry is Retry.AGAIN and (not committing or access is Access.STATEMENT):
                    # a deadlocked or conflicting statement was rolled back
                    if conflicts == _RETRIES_AFTER_CONFLICT:
                        raise failures.retries_exhausted(
                            failure, conflicts + 1, self._spec
                        ) from exc
                    await asyncio.sleep(_conflict_pause(conflicts))
                    conflicts += 1
                    continue
                if (
                    failure.retry is Retry.RECONNECT
                    and not committing
                    and lost < _RETRIES_AFTER_DISCONNECT
                ):
                    lost += 1
                    continue
                raise failure.error(self._spec) from exc

    def _leases(self, access: Access) -> Callable[[LoopEngine], Leases]:
        """Autocommit connections for reads, and for every operation of a default
        driver (its transactions are begun here); the others for SQLAlchemy's."""
        if not access.writes or self._driver in ("asyncpg", "asyncmy"):
            return lambda loop_engine: loop_engine.reader_leases
        return lambda loop_engine: loop_engine.leases

    async def _attempt(self, lease: Lease, operation: Operation[T], access: Access) -> T:
        statements = self._statements
        assert statements is not None
        if self._family == SQLITE:
            return await self._sqlite_transaction(lease, operation, access, statements)
        if self._driver == "asyncpg":
            return await self._asyncpg_transaction(lease, operation, access, statements)
        if self._driver == "asyncmy":
            return await self._asyncmy_transaction(lease, operation, access, statements)
        connection = lease.conn
        if access is Access.SNAPSHOT:
            await connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        result = await operation(SQLAlchemyExecutor(connection, statements))
        if access.writes:
            try:
                await connection.commit()
            except self._errors as exc:
                _committing(exc)
                raise
        return result

    async def _asyncpg_transaction(
        self, lease: Lease, operation: Operation[T], access: Access, statements: Statements
    ) -> T:
        raw: Any = await lease.driver()
        executor = AsyncpgExecutor(raw, statements)
        if access is Access.READ:
            return await operation(executor)
        if access is Access.STATEMENT:
            try:
                return await operation(executor)
            except self._errors as exc:
                _committing(exc)  # a single statement commits by itself: once sent, it may have
                raise
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ" if access is Access.SNAPSHOT else "BEGIN"
        await raw.execute(begin)
        try:
            result = await operation(executor)
        except BaseException as exc:
            await self._roll_back(exc, raw.execute("ROLLBACK"))
            raise
        try:
            await raw.execute("COMMIT")
        except self._errors as exc:
            Leases.mark_broken(exc)  # its state is unknown: another connection next time
            _committing(exc)
            raise
        return result

    async def _asyncmy_transaction(
        self, lease: Lease, operation: Operation[T], access: Access, statements: Statements
    ) -> T:
        """A read is its statements alone; a write is ``BEGIN`` (sent with its first
        statement), its statements, then ``COMMIT``."""
        raw: Any = await lease.driver()
        begin = ""
        if access.writes:
            begin = "BEGIN;"
            if access is Access.SNAPSHOT:
                begin = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;BEGIN;"
        executor = MySQLExecutor(raw, statements, begin=begin)
        try:
            result = await operation(executor)
        except BaseException as exc:
            if access.writes and not executor.begin:  # BEGIN was sent: end the transaction
                await self._roll_back(exc, raw.rollback())
            raise
        if not access.writes or executor.begin:  # nothing was sent: nothing to commit
            return result
        try:
            await raw.commit()
        except self._errors as exc:
            Leases.mark_broken(exc)
            _committing(exc)
            raise
        return result

    async def _roll_back(self, exc: BaseException, rollback: Awaitable[Any]) -> None:
        """End a failed transaction; if even that fails, the connection is not reused."""
        if getattr(exc, "_omnisession_broken", False) or not isinstance(exc, Exception):
            if asyncio.iscoroutine(rollback):
                rollback.close()
            return  # a lost or cancelled connection is dropped, not rolled back
        try:
            await rollback
        except self._errors:
            Leases.mark_broken(exc)

    async def _sqlite_transaction(
        self, lease: Lease, operation: Operation[T], access: Access, statements: Statements
    ) -> T:
        aiosqlite_connection: Any = await lease.driver()
        in_thread = getattr(aiosqlite_connection, "_execute", None)
        if in_thread is not None:
            # The whole transaction in one call to aiosqlite's worker thread. It
            # runs to its end there even if the caller is cancelled meanwhile,
            # so no transaction is ever left open on a pooled connection.
            return cast(
                T,
                await in_thread(
                    self._sqlite_in_thread, aiosqlite_connection, operation, statements, access
                ),
            )
        executor = SQLiteExecutor(aiosqlite_connection, statements)
        if not access.writes:  # reads are single statements or need no snapshot
            return await operation(executor)
        try:
            await aiosqlite_connection.execute("BEGIN IMMEDIATE")
            result = await operation(executor)
        except BaseException:
            # Also on cancellation: the connection goes back to the pool, with
            # no reset, so the transaction must end here. aiosqlite runs calls
            # in order, so this ROLLBACK follows a BEGIN still in flight.
            try:
                await asyncio.shield(aiosqlite_connection.execute("ROLLBACK"))
            except sqlite3.OperationalError as exc:
                if "no transaction is active" not in str(exc):
                    await lease.conn.invalidate()
            raise
        try:
            await aiosqlite_connection.execute("COMMIT")
        except sqlite3.Error as exc:
            _committing(exc)
            raise
        return result

    @staticmethod
    def _sqlite_in_thread(
        aiosqlite_connection: Any,
        operation: Operation[T],
        statements: Statements,
        access: Access,
    ) -> T:
        database = aiosqlite_connection._conn  # the sqlite3 connection; this is its thread
        if not access.writes:
            return run_to_end(operation(ThreadSQLiteExecutor(database, statements)))
        database.execute("BEGIN IMMEDIATE")
        try:
            result = run_to_end(operation(ThreadSQLiteExecutor(database, statements)))
        except BaseException:
            if database.in_transaction:
                database.execute("ROLLBACK")
            raise
        try:
            database.execute("COMMIT")
        except sqlite3.Error as exc:
            _committing(exc)
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

    # -- the schema -----------------------------------------------------------------

    async def _prepare(self) -> None:
        """Create the tables if missing, migrate older ones, refuse newer ones."""
        if self._family == SQLITE and not self._spec.in_memory and self._spec.url.database:
            await asyncio.to_thread(
                sqlite_files.prepare, self._spec.url.database, self._spec.options.busy_timeout
            )
        found = await self._on_schema_connection(self._inspect)
        if found is None:
            await self._on_schema_connection(self._upgrade)
        elif found < SCHEMA_VERSION:
            raise _MigrationNeeded
        else:
            migrations.refuse_newer(found, self._spec.where)
        self._ready = True

    async def _inspect(self, connection: AsyncConnection) -> int | None:
        found = await migrations.read_version(connection, self._tables)
        if self._statements is None:
            features = await migrations.detect_features(connection, self._family)
            self._statements = Statements(self._tables, connection.dialect, features)
        return found

    async def _upgrade(self, connection: AsyncConnection) -> int:
        return await migrations.upgrade(connection, self._family, self._tables, self._spec.where)

    async def _migrate(self) -> None:
        """Migrate on a connection of its own, without the command timeout: a migration
        may legitimately take minutes on a large database, and runs once."""
        engine = self._engines.schema_engine()
        try:
            async with engine.connect() as connection:
                await migrations.upgrade(connection, self._family, self._tables, self._spec.where)
        except OmnisessionError:
            raise
        except self._errors as exc:
            raise failures.describe(exc, self._spec).error(self._spec) from exc
        finally:
            await engine.dispose()

    async def _on_schema_connection(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``work`` on a SQLAlchemy connection of the running loop's engine."""

        async def attempt(lease: Lease) -> T:
            return await work(lease.conn)

        return await self._retrying(
            attempt, Access.TRANSACTION, lambda loop_engine: loop_engine.leases
        )
