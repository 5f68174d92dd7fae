"""The SQL backends: SQLite (file and in-memory), PostgreSQL and MariaDB.

Isolation per test comes from the plugin's own kit (``omnisession_sqlalchemy.testing``):
a fresh SQLite file in a temporary directory; a fresh PostgreSQL schema dropped
afterwards; a fresh MariaDB database created and dropped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from omnisession_sqlalchemy import engine_url
from omnisession_sqlalchemy.testing import (
    mysql_database_url,
    postgresql_schema_url,
    sqlite_file_url,
    sqlite_memory_url,
)
from sqlalchemy.ext.asyncio import create_async_engine

from . import Target

PG_URL = os.environ.get("OMNISESSION_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OMNISESSION_TEST_MARIADB", "mysql://root@127.0.0.1:3306")
# Tests open many short-lived stores: a small pool means fewer connections to set
# up per test; concurrent cases queue for a connection instead.
_SMALL_POOL = {"pool_size": 3, "max_overflow": 5}


@asynccontextmanager
async def postgres_url() -> AsyncIterator[str]:
    """A fresh schema (created by the store on first use), dropped afterwards."""
    async with postgresql_schema_url(PG_URL, **_SMALL_POOL) as url:
        yield url


@asynccontextmanager
async def mariadb_url() -> AsyncIterator[str]:
    """A fresh database created here and dropped afterwards."""
    async with mysql_database_url(MARIADB_URL, **_SMALL_POOL) as url:
        yield url


__all__ = [
    "MARIADB_URL",
    "PG_URL",
    "TARGETS",
    "admin",
    "mariadb_url",
    "postgres_url",
    "sqlite_file_url",
]

TARGETS = [
    Target("sqlite-file", sqlite_file_url),
    Target("sqlite-memory", sqlite_memory_url, shares_engine=False),
    Target("postgresql", postgres_url, marks=(pytest.mark.postgres,)),
    Target("mariadb", mariadb_url, marks=(pytest.mark.mariadb,)),
]


async def admin(url: str, *statements: str) -> list[Any]:
    """Run statements on one autocommit connection; the rows of the last."""
    spec = engine_url(url)
    engine = create_async_engine(spec.url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            result = None
            for statement in statements:
                if spec.family == "mysql":  # the driver formats with %
                    statement = statement.replace("%", "%%")
                result = await connection.exec_driver_sql(statement)
            return list(result) if result is not None and result.returns_rows else []
    finally:
        await engine.dispose()
