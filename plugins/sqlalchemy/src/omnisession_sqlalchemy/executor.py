"""How a store operation sends its statements: through SQLAlchemy, or straight
to the driver of a pooled connection.

Operations are written once against :class:`Executor`. With the default
drivers (aiosqlite, asyncpg, asyncmy) the statements go straight to the
driver's connection object, skipping SQLAlchemy's statement and result
layers: on SQLite every DBAPI call of SQLAlchemy's adapter is a hop to the
connection's worker thread (cursor, execute, fetch, close: four per
statement), and on every engine those layers cost more than the round trip
itself. Other drivers (psycopg, aiomysql) go through SQLAlchemy's
``AsyncConnection``. Rows are plain tuples either way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from .sql import Statements

__all__ = [
    "Executor",
    "MySQLExecutor",
    "PGExecutor",
    "SAExecutor",
    "SQLiteExecutor",
    "ThreadSQLiteExecutor",
    "run_to_end",
]

Params = Mapping[str, Any]
T = TypeVar("T")


class Executor(Protocol):
    """The four ways an operation talks to the database."""

    sql: Statements

    async def all(self, stmt: TextClause, params: Params) -> list[tuple[Any, ...]]: ...

    async def first(self, stmt: TextClause, params: Params) -> tuple[Any, ...] | None: ...

    async def run(self, stmt: TextClause, params: Params) -> int:
        """Execute a statement returning no rows; the row count."""
        ...

    async def many(self, stmt: TextClause, rows: Sequence[Params]) -> None: ...


class SAExecutor:
    """Statements through a SQLAlchemy ``AsyncConnection``."""

    def __init__(self, conn: AsyncConnection, sql: Statements) -> None:
        self.conn = conn
        self.sql = sql

    async def all(self, stmt: TextClause, params: Params) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.conn.execute(stmt, dict(params))]

    async def first(self, stmt: TextClause, params: Params) -> tuple[Any, ...] | None:
        row = (await self.conn.execute(stmt, dict(params))).first()
        return None if row is None else tuple(row)

    async def run(self, stmt: TextClause, params: Params) -> int:
        return int((await self.conn.execute(stmt, dict(params))).rowcount)

    async def many(self, stmt: TextClause, rows: Sequence[Params]) -> None:
        await self.conn.execute(stmt, [dict(row) for row in rows])


_IN_PARAM = re.compile(r"IN :(\w+)")


def _expanded(stmt: TextClause, params: Params) -> tuple[str, dict[str, Any]]:
    """The text with list parameters expanded: ``IN :xs`` -> ``IN (:xs_0, :xs_1)``."""
    text = stmt.text
    values = dict(params)
    if "IN :" in text:

        def expand(match: re.Match[str]) -> str:
            name = match.group(1)
            items = values.pop(name)
            for index, item in enumerate(items):
                values[f"{name}_{index}"] = item
            names = ", ".join(f":{name}_{index}" for index in range(len(items)))
            return f"IN ({names or 'NULL'})"

        text = _IN_PARAM.sub(expand, text)
    return text, values


class SQLiteExecutor:
    """Statements straight through the pooled connection's aiosqlite object."""

    def __init__(self, aioconn: Any, sql: Statements) -> None:
        self.aioconn = aioconn
        self.sql = sql

    async def all(self, stmt: TextClause, params: Params) -> list[tuple[Any, ...]]:
        text, values = _expanded(stmt, params)
        return [tuple(row) for row in await self.aioconn.execute_fetchall(text, values)]

    async def first(self, stmt: TextClause, params: Params) -> tuple[Any, ...] | None:
        rows = await self.all(stmt, params)
        return rows[0] if rows else None

    async def run(self, stmt: TextClause, params: Params) -> int:
        text, values = _expanded(stmt, params)
        cursor = await self.aioconn.execute(text, values)
        return int(cursor.rowcount)

    async def many(self, stmt: TextClause, rows: Sequence[Params]) -> None:
        await self.aioconn.executemany(stmt.text, [dict(row) for row in rows])


class ThreadSQLiteExecutor:
    """Statements on the ``sqlite3`` connection itself, inside aiosqlite's worker thread.

    Its methods are coroutines that never suspend, so a whole operation,
    ``BEGIN IMMEDIATE`` to ``COMMIT``, runs with :func:`run_to_end` as one
    call to the worker thread: one thread hop per operation instead of one
    (or four) per statement.
    """

    def __init__(self, db: Any, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    async def all(self, stmt: TextClause, params: Params) -> list[tuple[Any, ...]]:
        text, values = _expanded(stmt, params)
        return [tuple(row) for row in self.db.execute(text, values).fetchall()]

    async def first(self, stmt: TextClause, params: Params) -> tuple[Any, ...] | None:
        rows = await self.all(stmt, params)
        return rows[0] if rows else None

    async def run(self, stmt: TextClause, params: Params) -> int:
        text, values = _expanded(stmt, params)
        return int(self.db.execute(text, values).rowcount)

    async def many(self, stmt: TextClause, rows: Sequence[Params]) -> None:
        self.db.executemany(stmt.text, [dict(row) for row in rows])


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (only awaits a ThreadSQLiteExecutor)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coro.close()
    raise RuntimeError("a store operation suspended inside a SQLite worker-thread transaction")


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=256)
def _numbered(text: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` parameters as asyncpg's ``$1, $2, ...`` and the names in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, text), tuple(names)


class PGExecutor:
    """Statements straight through the pooled connection's asyncpg object.

    Used for the operations that are one statement outside any transaction
    (reads, and the single-statement writes): asyncpg's own prepared
    statement cache, no SQLAlchemy statement and result layers.
    """

    def __init__(self, apg: Any, sql: Statements) -> None:
        self.apg = apg
        self.sql = sql

    @staticmethod
    def _args(stmt: TextClause, params: Params) -> tuple[str, list[Any]]:
        text, names = _numbered(stmt.text)
        return text, [params[name] for name in names]

    async def all(self, stmt: TextClause, params: Params) -> list[tuple[Any, ...]]:
        text, args = self._args(stmt, params)
        return [tuple(row) for row in await self.apg.fetch(text, *args)]

    async def first(self, stmt: TextClause, params: Params) -> tuple[Any, ...] | None:
        text, args = self._args(stmt, params)
        row = await self.apg.fetchrow(text, *args)
        return None if row is None else tuple(row)

    async def run(self, stmt: TextClause, params: Params) -> int:
        text, args = self._args(stmt, params)
        status = await self.apg.execute(text, *args)
        tail = str(status).rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def many(self, stmt: TextClause, rows: Sequence[Params]) -> None:
        text, names = _numbered(stmt.text)
        await self.apg.executemany(text, [[row[name] for name in names] for row in rows])


@functools.lru_cache(maxsize=256)
def _pyformat(text: str) -> str:
    """``:name`` parameters as the MySQL drivers' ``%(name)s``."""
    return _NAMED.sub(r"%(\1)s", text.replace("%", "%%"))


class MySQLExecutor:
    """Statements straight through the pooled connection's asyncmy object.

    The connection is in autocommit mode, so a read is one round trip. A
    write's transaction starts with its first statement: with
    ``begin_pending`` set, that statement is sent as ``BEGIN; <statement>``
    in one round trip (asyncmy always enables multi-statement commands).
    """

    def __init__(self, conn: Any, sql: Statements, *, begin_pending: bool = False) -> None:
        self.conn = conn
        self.sql = sql
        self.begin_pending = begin_pending

    def _args(self, stmt: TextClause, params: Params) -> tuple[str, dict[str, Any]]:
        text, values = _expanded(stmt, params)
        return _pyformat(text), values

    async def _execute(self, cursor: Any, stmt: TextClause, params: Params) -> int:
        text, values = self._args(stmt, params)
        if not self.begin_pending:
            return int(await cursor.execute(text, values))
        self.begin_pending = False
        await cursor.execute("BEGIN;" + text, values)
        await cursor.nextset()  # the statement's own result (or its error)
        return int(cursor.rowcount)

    async def all(self, stmt: TextClause, params: Params) -> list[tuple[Any, ...]]:
        async with self.conn.cursor() as cursor:
            await self._execute(cursor, stmt, params)
            return list(await cursor.fetchall())

    async def first(self, stmt: TextClause, params: Params) -> tuple[Any, ...] | None:
        rows = await self.all(stmt, params)
        return rows[0] if rows else None

    async def run(self, stmt: TextClause, params: Params) -> int:
        async with self.conn.cursor() as cursor:
            return await self._execute(cursor, stmt, params)

    async def many(self, stmt: TextClause, rows: Sequence[Params]) -> None:
        if self.begin_pending:  # a multi-row INSERT cannot carry the BEGIN
            self.begin_pending = False
            await self.conn.begin()
        async with self.conn.cursor() as cursor:
            await cursor.executemany(_pyformat(stmt.text), [dict(row) for row in rows])
