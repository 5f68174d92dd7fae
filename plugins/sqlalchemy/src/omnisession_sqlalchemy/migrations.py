"""Creating the tables, and upgrading a database written by an older version in place.

The first call of a store reads ``schema_version`` (:func:`read_version`). Then:

* no tables: :func:`upgrade` creates them all, under a lock;
* an older version: :func:`upgrade` runs the migrations from it, in order,
  under the same lock;
* a newer version: ``IncompatibleSchema``, nothing touched.

The lock makes any number of processes starting at once safe: PostgreSQL
``pg_advisory_xact_lock`` (held to the end of the transaction that creates
or migrates), MySQL/MariaDB ``GET_LOCK`` (held by the connection), SQLite
``BEGIN IMMEDIATE`` (the database's write lock). Whoever gets the lock reads
the version again, so exactly one process migrates and the others find the
work done.

PostgreSQL and SQLite have transactional DDL: a migration is one
transaction, all or nothing. MySQL commits each DDL statement on its own, so
every step checks whether it is still needed (a column exists, a table is
utf8mb4 already) and the version row is updated last: an interrupted
migration is completed by the next process that opens the database.

Version 1 -> 2:

1. MySQL/MariaDB: text columns not in utf8mb4 are converted to
   utf8mb4/utf8mb4_bin (``mariadb://`` URLs used to create tables in the
   database's default character set, latin1 on a stock MariaDB);
2. new nullable columns: ``events.delta``, ``sessions.base_state``,
   ``app_state.app_name``, ``user_state.app_hash``/``app_name``/``user_id``,
   and the index ``user_state(app_hash)``;
3. backfill: ``base_state`` of sessions that never had an event is their
   state (exact); sessions with events keep NULL (unknown: version 1 did not
   record it). Scope rows get their owner's names from a session of that app
   or user; a scope whose sessions were all deleted cannot be named (version 1
   kept only a hash) and stays invisible to ``list_apps`` and ``erase_app``
   until its next write names it (``get_*_state`` and ``erase_user`` find it
   by hash as before).
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sqlalchemy as sa
from omnisession.errors import IncompatibleSchema
from sqlalchemy.ext.asyncio import AsyncConnection

from .options import MYSQL, POSTGRESQL, SQLITE
from .schema import MYSQL_TABLE_OPTIONS, SCHEMA_VERSION, Tables
from .sql import Features

__all__ = ["WRITTEN_BY", "detect_features", "read_version", "refuse_newer", "upgrade"]

log = logging.getLogger("omnisession_sqlalchemy")

try:
    _VERSION = version("omnisession-sqlalchemy")
except PackageNotFoundError:  # running from a source tree
    _VERSION = "0+unknown"

WRITTEN_BY = f"omnisession-sqlalchemy {_VERSION}"


async def read_version(connection: AsyncConnection, tables: Tables) -> int | None:
    """The schema version of the database, ``None`` when the tables do not exist."""
    table = tables.version

    def exists(sync_connection: sa.Connection) -> bool:
        return sa.inspect(sync_connection).has_table(table.name, schema=table.schema)

    if not await connection.run_sync(exists):
        return None
    row = (await connection.execute(sa.select(table.c.version).where(table.c.id == 1))).first()
    return None if row is None else int(row[0])


def refuse_newer(found: int, where: str) -> None:
    """``IncompatibleSchema`` for a database written by a newer version of this package."""
    if found > SCHEMA_VERSION:
        raise IncompatibleSchema(
            f"the database at {where} holds omnisession schema version {found}, newer than "
            f"version {SCHEMA_VERSION} that {WRITTEN_BY} understands; upgrade "
            "omnisession-sqlalchemy (pip install -U omnisession-sqlalchemy) in every process "
            "that uses this database"
        )


async def detect_features(connection: AsyncConnection, family: str) -> Features:
    """What the connected engine supports (MySQL: and the largest statement it accepts)."""
    if family == POSTGRESQL:
        return Features(POSTGRESQL, returning=True, delete_returning=True)
    if family == SQLITE:
        return Features(SQLITE, returning=True, delete_returning=True)
    dialect = connection.dialect
    mariadb = bool(getattr(dialect, "is_mariadb", False))
    server = tuple(dialect.server_version_info or ())
    packet = (await connection.execute(sa.text("SELECT @@max_allowed_packet"))).scalar()
    return Features(
        MYSQL,
        returning=False,
        delete_returning=mariadb and server >= (10, 5),
        max_packet=int(packet) if packet else None,
    )


async def upgrade(connection: AsyncConnection, family: str, tables: Tables, where: str) -> int:
    """Create the tables, or migrate them to :data:`SCHEMA_VERSION`, under the schema lock.

    Returns the version found under the lock (``0``: no tables), so the caller
    knows whether this process did the work.
    """
    async with _schema_lock(connection, family, tables):
        found = await read_version(connection, tables)
        if found is None:
            await _create(connection, family, tables)
            return 0
        refuse_newer(found, where)
        if found < SCHEMA_VERSION:
            await _migrate(connection, family, tables, found)
            log.warning(
                "omnisession-sqlalchemy migrated the schema at %s from version %d to %d",
                where,
                found,
                SCHEMA_VERSION,
            )
        return found


@asynccontextmanager
async def _schema_lock(
    connection: AsyncConnection, family: str, tables: Tables
) -> AsyncIterator[None]:
    """Hold the schema lock; on PostgreSQL and SQLite, inside one transaction that commits
    when the block ends."""
    name = f"omnisession-schema:{tables.schema or ''}:{tables.sessions.name}"
    if family == POSTGRESQL:
        key = zlib.crc32(name.encode()) - 2**31
        await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield
        await connection.commit()
    elif family == MYSQL:
        lock = "omni_" + hashlib.sha256(name.encode()).hexdigest()[:40]
        # a year: as long as another process takes to migrate (the caller bounds it;
        # MariaDB does not take MySQL's -1 for "no limit")
        got = (
            await connection.execute(sa.text("SELECT GET_LOCK(:name, 31536000)"), {"name": lock})
        ).scalar()
        if got != 1:  # pragma: no cover - only a killed lock wait returns otherwise
            raise IncompatibleSchema(f"could not take the schema lock {lock!r} (GET_LOCK)")
        try:
            yield
            if connection.in_transaction():
                await connection.commit()
        finally:
            await connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": lock})
    else:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            await connection.exec_driver_sql("ROLLBACK")
            raise
        await connection.exec_driver_sql("COMMIT")


async def _create(connection: AsyncConnection, family: str, tables: Tables) -> None:
    schema = tables.schema
    if family == POSTGRESQL and schema:
        exists = sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :schema")
        if (await connection.execute(exists, {"schema": schema})).first() is None:
            # only when missing: CREATE SCHEMA needs a privilege a user of a
            # schema made for it may not have, even with IF NOT EXISTS
            quoted = connection.dialect.identifier_preparer.quote_schema(schema)
            await connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    await connection.run_sync(tables.metadata.create_all)
    await connection.execute(
        tables.version.insert().values(id=1, version=SCHEMA_VERSION, written_by=WRITTEN_BY)
    )


async def _migrate(connection: AsyncConnection, family: str, tables: Tables, found: int) -> None:
    if found < 2:
        await _migrate_1_to_2(connection, family, tables)
    await connection.execute(
        tables.version.update()
        .where(tables.version.c.id == 1)
        .values(version=SCHEMA_VERSION, written_by=f"{WRITTEN_BY} (migrated from {found})")
    )


# -- version 1 -> 2 ------------------------------------------------------------------------

_NEW_COLUMNS = {
    "sessions": ("base_state",),
    "events": ("delta",),
    "app_state": ("app_name",),
    "user_state": ("app_hash", "app_name", "user_id"),
}


async def _migrate_1_to_2(connection: AsyncConnection, family: str, tables: Tables) -> None:
    if family == MYSQL:
        for table in tables.metadata.sorted_tables:
            await _convert_to_utf8mb4(connection, table)
    for name, columns in _NEW_COLUMNS.items():
        altered: sa.Table = getattr(tables, name)
        present = await _columns(connection, altered)
        for column in columns:
            if column not in present:
                await _add_column(connection, altered.c[column])
    index = next(iter(tables.user_state.indexes))

    def create_index(sync_connection: sa.Connection) -> None:
        index.create(sync_connection, checkfirst=True)

    await connection.run_sync(create_index)
    await _backfill(connection, tables)


async def _columns(connection: AsyncConnection, table: sa.Table) -> set[str]:
    def names(sync_connection: sa.Connection) -> set[str]:
        inspector = sa.inspect(sync_connection)
        return {column["name"] for column in inspector.get_columns(table.name, table.schema)}

    return await connection.run_sync(names)


async def _add_column(connection: AsyncConnection, column: sa.Column[Any]) -> None:
    preparer = connection.dialect.identifier_preparer
    table = preparer.format_table(column.table)
    kind = column.type.compile(dialect=connection.dialect)
    await connection.exec_driver_sql(
        f"ALTER TABLE {table} ADD COLUMN {preparer.quote(column.name)} {kind} NULL"
    )


async def _convert_to_utf8mb4(connection: AsyncConnection, table: sa.Table) -> None:
    """MySQL: make every text column of ``table`` utf8mb4/utf8mb4_bin, and it InnoDB."""
    rows = (
        await connection.execute(
            sa.text(
                "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(:schema, "
                "DATABASE()) AND TABLE_NAME = :table"
            ),
            {"schema": table.schema, "table": table.name},
        )
    ).all()
    preparer = connection.dialect.identifier_preparer
    charset, collation = MYSQL_TABLE_OPTIONS["charset"], MYSQL_TABLE_OPTIONS["collate"]
    changes = [
        f"MODIFY {preparer.quote(name)} {kind} CHARACTER SET {charset} COLLATE {collation} "
        + ("NULL" if nullable == "YES" else "NOT NULL")
        for name, kind, nullable, column_charset in rows
        if column_charset not in (None, "ascii", charset)
    ]
    if changes:
        await connection.exec_driver_sql(
            f"ALTER TABLE {preparer.format_table(table)} ENGINE={MYSQL_TABLE_OPTIONS['engine']}, "
            f"DEFAULT CHARACTER SET {charset} COLLATE {collation}, " + ", ".join(changes)
        )


async def _backfill(connection: AsyncConnection, tables: Tables) -> None:
    preparer = connection.dialect.identifier_preparer
    sessions = preparer.format_table(tables.sessions)
    app_state = preparer.format_table(tables.app_state)
    user_state = preparer.format_table(tables.user_state)
    statements = [
        # the state before the first event is known only if there never was one
        f"UPDATE {sessions} SET base_state = state WHERE next_seq = 1 AND base_state IS NULL",
        f"UPDATE {app_state} SET app_name = (SELECT MIN(s.app_name) FROM {sessions} s "
        f"WHERE s.app_hash = {app_state}.app_hash) WHERE app_name IS NULL",
    ]
    for column in ("app_hash", "app_name", "user_id"):
        statements.append(
            f"UPDATE {user_state} SET {column} = (SELECT MIN(s.{column}) FROM {sessions} s "
            f"WHERE s.user_hash = {user_state}.user_hash) WHERE {column} IS NULL"
        )
    for statement in statements:
        await connection.exec_driver_sql(statement)
