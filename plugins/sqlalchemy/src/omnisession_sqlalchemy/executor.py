"""How a store operation sends its statements: straight to the driver of a pooled
connection, or through SQLAlchemy.

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

from .failures import StatementTooLarge
from .sql import Statements

__all__ = [
    "AsyncpgExecutor",
    "Executor",
    "MySQLExecutor",
    "Params",
    "Row",
    "SQLAlchemyExecutor",
    "SQLiteExecutor",
    "ThreadSQLiteExecutor",
    "run_to_end",
]

Params = Mapping[str, Any]
Row = tuple[Any, ...]
T = TypeVar("T")


class Executor(Protocol):
    """The ways an operation talks to the database, inside the transaction it runs in."""

    statements: Statements

    async def rows(self, statement: TextClause, params: Params) -> list[Row]: ...

    async def row(self, statement: TextClause, params: Params) -> Row | None: ...

    async def execute(self, statement: TextClause, params: Params) -> int:
        """Execute a statement returning no rows; the row count."""
        ...

    async def execute_many(self, statement: TextClause, rows: Sequence[Params]) -> None: ...

    async def insert(self, statement: TextClause, params: Params) -> int:
        """Execute an ``INSERT`` of one row; the new row's id."""
        ...


class SQLAlchemyExecutor:
    """Statements through a SQLAlchemy ``AsyncConnection`` (psycopg, aiomysql)."""


    def __init__(self, connection: AsyncConnection, statements: Statements) -> None:
        self.connection = connection
        self.statements = statements

    async def rows(self, statement: TextClause, params: Params) -> list[Row]:
        return [tuple(row) for row in await self.connection.execute(statement, dict(params))]

    async def row(self, statement: TextClause, params: Params) -> Row | None:
        found = (await self.connection.execute(statement, dict(params))).first()
        return None if found is None else tuple(found)

    async def execute(self, statement: TextClause, params: Params) -> int:
        return int((await self.connection.execute(statement, dict(params))).rowcount)

    async def execute_many(self, statement: TextClause, rows: Sequence[Params]) -> None:
        await self.connection.execute(statement, [dict(row) for row in rows])

    async def insert(self, statement: TextClause, params: Params) -> int:
        result = await self.connection.execute(statement, dict(params))
        if self.statements.features.returning:
            return int(result.scalar_one())
        return int(result.lastrowid)


_IN_PARAMETER = re.compile(r"IN :(\w+)")


def _expanded(statement: TextClause, params: Params) -> tuple[str, dict[str, Any]]:
    """The text with list parameters expanded: ``IN :xs`` -> ``IN (:xs_0, :xs_1)``."""
    text = statement.text
    values = dict(params)
    if "IN :" in text:

        def expand(match: re.Match[str]) -> str:
            name = match.group(1)
            items = values.pop(name)
            for index, item in enumerate(items):
                values[f"{name}_{index}"] = item
            names = ", ".join(f":{name}_{index}" for index in range(len(items)))
            return f"IN ({names or 'NULL'})"

        text = _IN_PARAMETER.sub(expand, text)
    return text, values


class SQLiteExecutor:
    """Statements straight through the pooled connection's aiosqlite object."""


    def __init__(self, connection: Any, statements: Statements) -> None:
        self.connection = connection
        self.statements = statements

    async def rows(self, statement: TextClause, params: Params) -> list[Row]:
        text, values = _expanded(statement, params)
        return [tuple(row) for row in await self.connection.execute_fetchall(text, values)]

    async def row(self, statement: TextClause, params: Params) -> Row | None:
        found = await self.rows(statement, params)
        return found[0] if found else None

    async def execute(self, statement: TextClause, params: Params) -> int:
        text, values = _expanded(statement, params)
        cursor = await self.connection.execute(text, values)
        return int(cursor.rowcount)

    async def execute_many(self, statement: TextClause, rows: Sequence[Params]) -> None:
        await self.connection.executemany(statement.text, [dict(row) for row in rows])

    async def insert(self, statement: TextClause, params: Params) -> int:
        found = await self.row(statement, params)  # INSERT ... RETURNING id
        assert found is not None
        return int(found[0])


class ThreadSQLiteExecutor:
    """Statements on the ``sqlite3`` connection itself, inside aiosqlite's worker thread.

    Its methods are coroutines that never suspend, so a whole operation,
    ``BEGIN IMMEDIATE`` to ``COMMIT``, runs with :func:`run_to_end` as one
    call to the worker thread: one thread hop per operation instead of one
    (or four) per statement.
    """


    def __init__(self, database: Any, statements: Statements) -> None:
        self.database = database
        self.statements = statements

    async def rows(self, statement: TextClause, params: Params) -> list[Row]:
        text, values = _expanded(statement, params)
        return [tuple(row) for row in self.database.execute(text, values).fetchall()]

    async def row(self, statement: TextClause, params: Params) -> Row | None:
        found = await self.rows(statement, params)
        return found[0] if found else None

    async def execute(self, statement: TextClause, params: Params) -> int:
        text, values = _expanded(statement, params)
        return int(self.database.execute(text, values).rowcount)

    async def execute_many(self, statement: TextClause, rows: Sequence[Params]) -> None:
        self.database.executemany(statement.text, [dict(row) for row in rows])

    async def insert(self, statement: TextClause, params: Params) -> int:
        found = await self.row(statement, params)  # INSERT ... RETURNING id
        assert found is not None
        return int(found[0])


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (only awaits a ThreadSQLiteExecutor)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coroutine.close()
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


class AsyncpgExecutor:
    """Statements straight through the pooled connection's asyncpg object.

    asyncpg's own prepared statement cache, no SQLAlchemy statement and result
    layers. The connection is in autocommit mode: the transaction, when the
    operation needs one, is begun and ended by the caller.
    """


    def __init__(self, connection: Any, statements: Statements) -> None:
        self.connection = connection
        self.statements = statements

    @staticmethod
    def _arguments(statement: TextClause, params: Params) -> tuple[str, list[Any]]:
        text, names = _numbered(statement.text)
        return text, [params[name] for name in names]

    async def rows(self, statement: TextClause, params: Params) -> list[Row]:
        text, arguments = self._arguments(statement, params)
        return [tuple(row) for row in await self.connection.fetch(text, *arguments)]

    async def row(self, statement: TextClause, params: Params) -> Row | None:
        text, arguments = self._arguments(statement, params)
        found = await self.connection.fetchrow(text, *arguments)
        return None if found is None else tuple(found)

    async def execute(self, statement: TextClause, params: Params) -> int:
        text, arguments = self._arguments(statement, params)
        status = await self.connection.execute(text, *arguments)
        tail = str(status).rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def execute_many(self, statement: TextClause, rows: Sequence[Params]) -> None:
        text, names = _numbered(statement.text)
        await self.connection.executemany(text, [[row[name] for name in names] for row in rows])

    async def insert(self, statement: TextClause, params: Params) -> int:
        found = await self.row(statement, params)  # INSERT ... RETURNING id
        assert found is not None
        return int(found[0])


@functools.lru_cache(maxsize=256)
def _pyformat(text: str) -> str:
    """``:name`` parameters as the MySQL drivers' ``%(name)s``."""
    return _NAMED.sub(r"%(\1)s", text.replace("%", "%%"))


class MySQLExecutor:
    """Statements straight through the pooled connection's asyncmy object.

    The connection is in autocommit mode, so a read is one round trip. A
    write's transaction starts with its first statement: ``begin`` (``BEGIN;``)
    is sent in front of it, in the same round trip (asyncmy enables
    multi-statement commands); a text of several statements returns the rows
    of the first one that has rows, or the row count of the last.

    Every statement is measured against the server's ``max_allowed_packet``
    before it is sent: one over it raises :class:`StatementTooLarge` with
    nothing sent, so the connection stays usable (the server would drop it).
    """


    def __init__(self, connection: Any, statements: Statements, *, begin: str = "") -> None:
        self.connection = connection
        self.statements = statements
        self.begin = begin

    def _checked(self, text: str, values: dict[str, Any], cursor: Any) -> None:
        limit = self.statements.features.max_packet
        if limit is None:
            return
        # a character is at most 4 bytes of UTF-8, and escaping at most doubles an
        # ASCII one: only a statement that might be near the limit is measured exactly
        bound = 4 * len(text) + sum(
            4 * len(value) + 2 for value in values.values() if isinstance(value, str)
        )
        if bound < limit - 1024:
            return
        size = len(cursor.mogrify(_pyformat(text), values).encode("utf-8")) + 1
        if size > limit:
            raise StatementTooLarge(size, limit)

    async def _execute(self, cursor: Any, statement: TextClause, params: Params) -> None:
        text, values = _expanded(statement, params)
        self._checked(text, values, cursor)
        if self.begin:
            text, self.begin = self.begin + text, ""
        await cursor.execute(_pyformat(text), values)
        while cursor.description is None and await cursor.nextset():
            pass  # BEGIN's result, or an INSERT's before a SELECT: the rows come next

    async def rows(self, statement: TextClause, params: Params) -> list[Row]:
        async with self.connection.cursor() as cursor:
            await self._execute(cursor, statement, params)
            found = list(await cursor.fetchall())
            while await cursor.nextset():  # read every result, so the next command can go
                pass
            return found

    async def row(self, statement: TextClause, params: Params) -> Row | None:
        found = await self.rows(statement, params)
        return found[0] if found else None

    async def execute(self, statement: TextClause, params: Params) -> int:
        async with self.connection.cursor() as cursor:
            await self._execute(cursor, statement, params)
            return int(cursor.rowcount)

    async def execute_many(self, statement: TextClause, rows: Sequence[Params]) -> None:
        if self.begin:  # a batched multi-row INSERT cannot carry the BEGIN
            async with self.connection.cursor() as cursor:
                await cursor.execute(self.begin)
                while await cursor.nextset():
                    pass
            self.begin = ""
        async with self.connection.cursor() as cursor:
            for row in rows:
                self._checked(statement.text, dict(row), cursor)
            await cursor.executemany(_pyformat(statement.text), [dict(row) for row in rows])

    async def insert(self, statement: TextClause, params: Params) -> int:
        async with self.connection.cursor() as cursor:
            await self._execute(cursor, statement, params)
            return int(cursor.lastrowid)
