"""Registers the SQL backends with omnisession; imports no driver.

The factory is given as a ``"module:attr"`` string and the options and
capabilities come from the driver-free :mod:`omnisession_sqlalchemy.options`,
so ``omnisession backends`` lists these schemes without importing SQLAlchemy
or any database driver.
"""

from __future__ import annotations

from collections.abc import Callable

from omnisession.plugins import Backend, hookimpl

from .options import CAPABILITIES, OPTIONAL_CAPABILITIES, OPTIONS

__all__ = ["SCHEMES", "omnisession_register_backends"]

SCHEMES = (
    "sqlite",
    "sqlite+aiosqlite",
    "postgresql",
    "postgres",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg_async",
    "mysql",
    "mysql+asyncmy",
    "mysql+aiomysql",
    "mariadb",
    "mariadb+asyncmy",
    "mariadb+aiomysql",
)


@hookimpl
def omnisession_register_backends(register: Callable[[Backend], None]) -> None:
    """Offer one backend for every SQL scheme (SQLite, PostgreSQL, MySQL/MariaDB)."""
    register(
        Backend(
            name="sqlalchemy",
            schemes=SCHEMES,
            factory="omnisession_sqlalchemy.store:open_sql_store",
            capabilities=CAPABILITIES,
            optional_capabilities=OPTIONAL_CAPABILITIES,
            options=OPTIONS,
            description=(
                "SQLite (sqlite:///file.db, sqlite:// in memory), PostgreSQL and "
                "MySQL/MariaDB through SQLAlchemy 2 async engines"
            ),
        )
    )
