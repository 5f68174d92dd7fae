"""Isolation for running test suites (``omnisession-conformance`` included) on shared servers.

Each helper is an async context manager yielding a store URL that nothing else
uses, and removes everything under it afterwards, so tests can run in
parallel (pytest-xdist) against one PostgreSQL or MariaDB server and leave
nothing behind::

    from omnisession_sqlalchemy.testing import isolated_url

    async with isolated_url("postgresql://app@db/test") as url:   # a fresh schema
        async with open_store(url) as store:
            ...
    # the schema is dropped here

* SQLite: a new file in a new temporary directory (the directory is removed);
* PostgreSQL: a new schema (``?schema=t_<uuid>``, created by the store on first
  use), dropped with ``CASCADE``;
* MySQL/MariaDB: a new database created here with ``CHARACTER SET utf8mb4``,
  dropped afterwards.

The server URL needs a user allowed to create and drop schemas (databases).
Options of the server URL (``?pool_size=3``) are kept; extra ``options`` are
added to the yielded URL.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from .options import MYSQL, POSTGRESQL, SQLITE
from .urls import engine_url

__all__ = [
    "isolated_url",
    "mysql_database_url",
    "postgresql_schema_url",
    "sqlite_file_url",
    "sqlite_memory_url",
]


def _with_options(url: str, options: dict[str, Any]) -> str:
    if not options:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(options)


def _name() -> str:
    return f"t_{uuid.uuid4().hex}"


@asynccontextmanager
async def sqlite_file_url(**options: Any) -> AsyncIterator[str]:
    """A new SQLite file in its own temporary directory, removed afterwards."""
    directory = tempfile.mkdtemp(prefix="omnisession-sqlite-")
    try:
        yield _with_options(f"sqlite:///{directory}/store.db", options)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def sqlite_memory_url(**options: Any) -> AsyncIterator[str]:
    """A private in-memory database: each store opened on it is a database of its own."""
    yield _with_options("sqlite://", options)


async def _admin(server: URL, statement: str) -> None:
    """Run one statement on its own connection (no pool, nothing left open)."""
    engine = create_async_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@asynccontextmanager
async def postgresql_schema_url(server_url: str, **options: Any) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema (the store creates it on first use), dropped afterwards."""
    schema = _name()
    spec = engine_url(server_url)
    try:
        yield _with_options(server_url, {"schema": schema, **options})
    finally:
        await _admin(spec.url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@asynccontextmanager
async def mysql_database_url(server_url: str, **options: Any) -> AsyncIterator[str]:
    """A fresh MySQL/MariaDB database created here, dropped afterwards."""
    database = _name()
    spec = engine_url(server_url)
    await _admin(spec.url, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    try:
        location = make_url(server_url).set(database=database)
        yield _with_options(location.render_as_string(hide_password=False), options)
    finally:
        await _admin(spec.url, f"DROP DATABASE IF EXISTS `{database}`")


@asynccontextmanager
async def isolated_url(server_url: str | None = None, **options: Any) -> AsyncIterator[str]:
    """The isolation that fits ``server_url``'s database (a SQLite file when ``None``)."""
    if server_url is None:
        async with sqlite_file_url(**options) as url:
            yield url
        return
    spec = engine_url(server_url)
    if spec.family == SQLITE:
        factory = sqlite_memory_url if spec.in_memory else sqlite_file_url
        async with factory(**options) as url:
            yield url
    elif spec.family == POSTGRESQL:
        async with postgresql_schema_url(server_url, **options) as url:
            yield url
    else:
        assert spec.family == MYSQL
        async with mysql_database_url(server_url, **options) as url:
            yield url
