"""The SQL backends: SQLite (file and in-memory), PostgreSQL and MariaDB.

Isolation per test: a fresh SQLite file in a temporary directory; a fresh
PostgreSQL schema named by the URL's ``schema`` parameter (dropped afterwards);
a fresh MariaDB database created here and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from . import Target

PG_URL = os.environ.get("OMNISESSION_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
# Tests open many short-lived stores: a small pool means fewer connections to set
# up per test; concurrent cases queue for a connection instead.
_SMALL_POOL = "pool_size=3&max_overflow=5"
MARIADB_URL = os.environ.get("OMNISESSION_TEST_MARIADB", "mysql://root@127.0.0.1:3306")


@asynccontextmanager
async def sqlite_file_url() -> AsyncIterator[str]:
    """A new SQLite file in its own temporary directory, removed afterwards."""
    directory = tempfile.mkdtemp(prefix="omnisession-sqlite-")
    try:
        yield f"sqlite:///{directory}/store.db"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def sqlite_memory_url() -> AsyncIterator[str]:
    """A private in-memory database: each store opened on it is its own engine."""
    yield "sqlite://"


@asynccontextmanager
async def postgres_url() -> AsyncIterator[str]:
    """A fresh schema (created by the store on first use), dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    schema = f"t_{uuid.uuid4().hex}"
    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        yield f"{PG_URL}?schema={schema}&{_SMALL_POOL}"
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@asynccontextmanager
async def mariadb_url() -> AsyncIterator[str]:
    """A fresh database created here and dropped afterwards."""
    import asyncmy
    from sqlalchemy.engine import make_url

    server = make_url(MARIADB_URL)
    database = f"t_{uuid.uuid4().hex}"

    async def admin(statement: str) -> None:
        conn = await asyncmy.connect(
            host=server.host or "127.0.0.1",
            port=server.port or 3306,
            user=server.username or "root",
            password=server.password or "",
        )
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(statement)
        finally:
            conn.close()

    await admin(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    try:
        url = server.set(database=database).render_as_string(hide_password=False)
        yield f"{url}?{_SMALL_POOL}"
    finally:
        await admin(f"DROP DATABASE IF EXISTS `{database}`")


TARGETS = [
    Target("sqlite-file", sqlite_file_url),
    Target("sqlite-memory", sqlite_memory_url, shares_engine=False),
    Target("postgresql", postgres_url, marks=(pytest.mark.postgres,)),
    Target("mariadb", mariadb_url, marks=(pytest.mark.mariadb,)),
]
