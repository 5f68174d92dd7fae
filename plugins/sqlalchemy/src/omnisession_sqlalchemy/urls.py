"""From the URL a user writes to a SQLAlchemy async engine URL plus store options.

Users write plain URLs (``sqlite:///chat.db``, ``postgresql://user@host/db``,
``mysql://root@host/db``, ``mariadb://...``); the async driver is chosen here
(aiosqlite, asyncpg, asyncmy). Explicit drivers (``postgresql+asyncpg://``,
``postgresql+psycopg://``, ``mysql+aiomysql://``) are accepted as written.

Query parameters the store understands are removed from the URL before it
reaches the driver; every other parameter is passed through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["STORE_OPTIONS", "EngineSpec", "engine_url"]

_DEFAULT_DRIVER = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mysql": "asyncmy"}
_ASYNC_DRIVERS = {
    "sqlite": {"aiosqlite"},
    "postgresql": {"asyncpg", "psycopg", "psycopg_async"},
    "mysql": {"asyncmy", "aiomysql"},
}
_FAMILY = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}

#: Options the store reads from the URL query or from keyword arguments.
STORE_OPTIONS: dict[str, type] = {
    "schema": str,  # PostgreSQL schema / MySQL database holding the tables
    "table_prefix": str,  # prefix of every table name, default "omnisession_"
    "busy_timeout": float,  # SQLite: seconds to wait for another writer (default 30)
    "connect_timeout": float,  # seconds to wait for a connection (default 10)
    "pool_size": int,
    "max_overflow": int,
    "pool_timeout": float,
    "pool_recycle": int,
    "pool_pre_ping": bool,
    "echo": bool,
    "synchronous": str,  # SQLite PRAGMA synchronous, default NORMAL (WAL)
    "application_name": str,  # PostgreSQL application_name, default "omnisession"
}


@dataclass(frozen=True)
class EngineSpec:
    """A resolved URL: the engine URL, the database family and the store options."""

    url: URL
    family: str  # "sqlite" | "postgresql" | "mysql"
    options: dict[str, Any]

    @property
    def in_memory(self) -> bool:
        """A private in-memory SQLite database (``sqlite://``)."""
        return self.family == "sqlite" and self.url.database in (None, "", ":memory:")


def _convert(name: str, raw: Any) -> Any:
    kind = STORE_OPTIONS[name]
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"option {name}={raw!r} must be true or false")
    try:
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"option {name}={raw!r} must be a {kind.__name__}") from exc


def engine_url(url: str | URL, **options: Any) -> EngineSpec:
    """Resolve ``url`` (as a user writes it) into an async engine URL and options.

    ``options`` override query parameters of the same name. Unknown keyword
    options raise ``TypeError``; an unsupported driver raises ``ValueError``
    naming the accepted ones.
    """
    unknown = sorted(set(options) - set(STORE_OPTIONS))
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for the SQL store; accepted: {sorted(STORE_OPTIONS)}"
        )
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"{url!r} is not a database URL: {exc}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    family = _FAMILY.get(backend.lower())
    if family is None:
        raise ValueError(
            f"{parsed.drivername!r} is not a SQL scheme this store handles; "
            "use sqlite://, postgresql://, mysql:// or mariadb://"
        )
    if not driver:
        driver = _DEFAULT_DRIVER[family]
    if driver not in _ASYNC_DRIVERS[family]:
        accepted = ", ".join(f"{backend}+{name}" for name in sorted(_ASYNC_DRIVERS[family]))
        raise ValueError(
            f"driver {driver!r} is not an async driver for {backend}; use {backend}:// "
            f"(default {_DEFAULT_DRIVER[family]}) or one of {accepted}"
        )
    if backend == "postgres":
        backend = "postgresql"
    query = dict(parsed.query)
    store_options: dict[str, Any] = {}
    for name in list(query):
        if name in STORE_OPTIONS:
            value = query.pop(name)
            store_options[name] = _convert(name, value[-1] if isinstance(value, tuple) else value)
    for name, value in options.items():
        store_options[name] = _convert(name, value)
    if family == "mysql" and "charset" not in query:
        query["charset"] = "utf8mb4"
    if family == "sqlite" and store_options.get("schema"):
        raise ValueError(
            "option schema is for PostgreSQL and MySQL; SQLite has one schema per file"
        )
    resolved = parsed.set(drivername=f"{backend}+{driver}", query=query)
    return EngineSpec(resolved, family, store_options)
