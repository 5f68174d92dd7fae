"""From the URL a user writes to a SQLAlchemy async engine URL plus store options.

Users write plain URLs (``sqlite:///chat.db``, ``postgresql://user@host/db``,
``mysql://root@host/db``, ``mariadb://...``); the async driver is chosen here
(aiosqlite, asyncpg, asyncmy). Explicit drivers (``postgresql+asyncpg://``,
``postgresql+psycopg://``, ``mysql+aiomysql://``) are accepted as written.

Options are read once, by core's ``parse_options`` with the declarations of
:mod:`omnisession_sqlalchemy.options`: an unknown or misspelt one, or one for
another database, raises ``InvalidOption`` before any I/O. The few that the
driver reads itself (TLS settings, MySQL's charset) are put back in the engine
URL's query; nothing else reaches the driver.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from omnisession.errors import InvalidOption, PluginLoadError
from omnisession.options import parse_options
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .options import FAMILIES, MYSQL, OPTIONS, PASS_THROUGH, POSTGRESQL, SQLITE

__all__ = [
    "EngineSpec",
    "MissingDriver",
    "StoreOptions",
    "engine_spec_of",
    "engine_url",
    "require_driver",
]

_DEFAULT_DRIVER = {SQLITE: "aiosqlite", POSTGRESQL: "asyncpg", MYSQL: "asyncmy"}
_ASYNC_DRIVERS = {
    SQLITE: {"aiosqlite"},
    POSTGRESQL: {"asyncpg", "psycopg", "psycopg_async"},
    MYSQL: {"asyncmy", "aiomysql"},
}
_FAMILY = {
    "sqlite": SQLITE,
    "postgresql": POSTGRESQL,
    "postgres": POSTGRESQL,
    "mysql": MYSQL,
    "mariadb": MYSQL,
}
#: driver -> (module to import, what to install)
_INSTALL = {
    "aiosqlite": ("aiosqlite", 'pip install "omnisession-sqlalchemy"'),
    "asyncpg": ("asyncpg", 'pip install "omnisession-sqlalchemy[postgresql]"'),
    "asyncmy": ("asyncmy", 'pip install "omnisession-sqlalchemy[mysql]"'),
    "psycopg": ("psycopg", 'pip install "psycopg[binary]"'),
    "psycopg_async": ("psycopg", 'pip install "psycopg[binary]"'),
    "aiomysql": ("aiomysql", "pip install aiomysql"),
}
_FAMILY_NAMES = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL", MYSQL: "MySQL/MariaDB"}


class MissingDriver(PluginLoadError, ModuleNotFoundError):
    """The database driver a URL needs is not installed; the message names what to install."""


@dataclass(frozen=True)
class StoreOptions:
    """The store's own options, typed (see :data:`omnisession_sqlalchemy.options.OPTIONS`)."""

    schema: str | None
    table_prefix: str
    command_timeout: float | None
    """``None`` on SQLite, which waits ``busy_timeout`` for locks instead."""
    connect_timeout: float
    busy_timeout: float
    synchronous: str
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: float | None
    pool_pre_ping: bool
    echo: bool
    application_name: str
    statement_cache_size: int | None


@dataclass(frozen=True)
class EngineSpec:
    """A resolved URL: the engine URL, the database family, its driver and the options."""

    url: URL
    family: str
    """``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (MySQL and MariaDB)."""
    options: StoreOptions

    @property
    def driver(self) -> str:
        return self.url.get_driver_name()

    @property
    def in_memory(self) -> bool:
        """A private in-memory SQLite database (``sqlite://``)."""
        return self.family == SQLITE and self.url.database in (None, "", ":memory:")

    @property
    def where(self) -> str:
        """The database, for messages (password hidden)."""
        return self.url.render_as_string(hide_password=True)

    @property
    def product(self) -> str:
        """The database's name for messages: SQLite, PostgreSQL or MySQL/MariaDB."""
        return _FAMILY_NAMES[self.family]


def _parse(url: str | URL) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise InvalidOption(f"{url!r} is not a database URL: {exc}") from exc


def _family_and_driver(parsed: URL) -> tuple[str, str, str]:
    backend, _, driver = parsed.drivername.partition("+")
    family = _FAMILY.get(backend.lower())
    if family is None:
        raise InvalidOption(
            f"{parsed.drivername!r} is not a SQL scheme this store handles; "
            "use sqlite://, postgresql://, mysql:// or mariadb://"
        )
    driver = driver or _DEFAULT_DRIVER[family]
    if driver not in _ASYNC_DRIVERS[family]:
        accepted = ", ".join(f"{backend}+{name}" for name in sorted(_ASYNC_DRIVERS[family]))
        raise InvalidOption(
            f"driver {driver!r} is not an async driver for {backend}; use {backend}:// "
            f"(default {_DEFAULT_DRIVER[family]}) or one of {accepted}"
        )
    return family, "postgresql" if backend == "postgres" else backend.lower(), driver


def _store_options(values: dict[str, Any], family: str) -> StoreOptions:
    return StoreOptions(
        schema=values["schema"],
        table_prefix=values["table_prefix"],
        command_timeout=None if family == SQLITE else values["command_timeout"],
        connect_timeout=values["connect_timeout"],
        busy_timeout=values["busy_timeout"],
        synchronous=values["synchronous"],
        pool_size=values["pool_size"],
        max_overflow=values["max_overflow"],
        pool_timeout=values["pool_timeout"],
        pool_recycle=values["pool_recycle"],
        pool_pre_ping=values["pool_pre_ping"],
        echo=values["echo"],
        application_name=values["application_name"],
        statement_cache_size=values["statement_cache_size"],
    )


def _check_families(given: frozenset[str], family: str) -> None:
    for name in sorted(given):
        if family not in FAMILIES[name]:
            applies = " and ".join(_FAMILY_NAMES[other] for other in sorted(FAMILIES[name]))
            raise InvalidOption(
                f"sqlalchemy option {name} is for {applies}, not {_FAMILY_NAMES[family]}; "
                "remove it from the URL (see `omnisession backends`)"
            )


def engine_url(url: str | URL, **keywords: Any) -> EngineSpec:
    """Resolve ``url`` (as a user writes it) and ``keywords`` into an engine URL and options.

    Keywords win over query parameters of the same name. ``InvalidOption`` for
    an unknown option, a bad value, an option of another database or an
    unsupported driver, before any I/O.
    """
    parsed = _parse(url)
    family, backend, driver = _family_and_driver(parsed)
    options = parse_options(
        OPTIONS,
        parsed.set(query={}).render_as_string(hide_password=False),
        _query_and_keywords(parsed, keywords),
        backend="sqlalchemy",
    )
    _check_families(options.given, family)
    query: dict[str, str] = {}
    values = options.options
    for name in sorted(PASS_THROUGH & options.given):
        value = values[name]
        if value is None:
            continue
        target = name
        if name in ("ssl", "sslmode"):  # asyncpg reads ssl=, psycopg sslmode=
            target = "sslmode" if driver.startswith("psycopg") else "ssl"
        query[target] = str(value).lower() if isinstance(value, bool) else str(value)
    if family == MYSQL:
        query["charset"] = values["charset"]
    resolved = parsed.set(drivername=f"{backend}+{driver}", query=query)
    return EngineSpec(resolved, family, _store_options(values, family))


def engine_spec_of(url: URL, keywords: dict[str, Any]) -> EngineSpec:
    """The spec of an engine the caller created: its URL as it is (the caller chose
    what its driver gets), the store options from ``keywords`` alone."""
    family, _, _ = _family_and_driver(url)
    options = parse_options(OPTIONS, "sqlite://", keywords, backend="sqlalchemy")
    _check_families(options.given, family)
    return EngineSpec(url, family, _store_options(options.options, family))


def _query_and_keywords(parsed: URL, keywords: dict[str, Any]) -> dict[str, Any]:
    """The URL's query as SQLAlchemy decoded it (percent-escapes undone; the last of a
    repeated parameter), then the keywords, which win."""
    decoded: dict[str, Any] = {}
    for name, values in parsed.query.items():
        decoded[name] = values[-1] if isinstance(values, tuple) else values
    decoded.update(keywords)
    return decoded


def require_driver(spec: EngineSpec) -> None:
    """``MissingDriver`` naming what to install when the URL's driver is not importable."""
    module, command = _INSTALL[spec.driver]
    if importlib.util.find_spec(module) is None:
        raise MissingDriver(
            f"{spec.url.drivername}:// needs the {module} driver, which is not installed; "
            f"install it with `{command}`"
        )
