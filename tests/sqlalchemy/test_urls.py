"""URL mapping and plugin registration of the SQL backend (no database needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from omnisession import open_store
from omnisession.plugins import registry
from omnisession_sqlalchemy import SQLStore, engine_url


@pytest.mark.parametrize(
    ("url", "drivername"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://root@127.0.0.1/test", "postgresql+asyncpg"),
        ("postgres://root@127.0.0.1/test", "postgresql+asyncpg"),
        ("postgresql+asyncpg://root@127.0.0.1/test", "postgresql+asyncpg"),
        ("postgresql+psycopg://root@127.0.0.1/test", "postgresql+psycopg"),
        ("mysql://root@127.0.0.1/test", "mysql+asyncmy"),
        ("mysql+aiomysql://root@127.0.0.1/test", "mysql+aiomysql"),
        ("mariadb://root@127.0.0.1/test", "mariadb+asyncmy"),
    ],
)
def test_plain_urls_get_an_async_driver(url: str, drivername: str) -> None:
    """Users write plain URLs; the async driver is chosen for them, explicit ones kept."""
    assert engine_url(url).url.drivername == drivername


def test_mysql_urls_default_to_utf8mb4() -> None:
    """4-byte unicode round-trips on MySQL only with the utf8mb4 connection charset."""
    assert engine_url("mysql://root@h/db").url.query["charset"] == "utf8mb4"
    assert engine_url("mysql://root@h/db?charset=utf8mb4").url.query["charset"] == "utf8mb4"


def test_store_options_are_taken_from_the_query_and_not_passed_to_the_driver() -> None:
    """?schema=...&pool_size=... configure the store; other parameters reach the driver."""
    spec = engine_url("postgresql://u@h/db?schema=tenant_1&pool_size=3&ssl=prefer")
    assert spec.options == {"schema": "tenant_1", "pool_size": 3}
    assert dict(spec.url.query) == {"ssl": "prefer"}
    assert engine_url("postgresql://u@h/db?schema=a", schema="b").options["schema"] == "b"


def test_in_memory_sqlite_is_recognised() -> None:
    assert engine_url("sqlite://").in_memory
    assert engine_url("sqlite:///:memory:").in_memory
    assert not engine_url("sqlite:///chat.db").in_memory


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+pymysql://root@h/db", "not an async driver for mysql"),
        ("sqlite+pysqlite:///x.db", "not an async driver for sqlite"),
        ("oracle://u@h/db", "sqlite://, postgresql://"),
        ("sqlite:///x.db?schema=main", "SQLite has one schema per file"),
        ("postgresql://u@h/db?pool_size=many", "pool_size='many' must be a int"),
    ],
)
def test_bad_urls_are_refused_with_a_hint(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SQLStore(url)


def test_unknown_keyword_options_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown option"):
        SQLStore("sqlite://", pool=3)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///x.db",
        "sqlite://",
        "postgresql://root@127.0.0.1/test",
        "postgresql+asyncpg://root@127.0.0.1/test",
        "mysql://root@127.0.0.1/test",
        "mariadb://root@127.0.0.1/test",
    ],
)
def test_open_store_resolves_every_sql_scheme(url: str) -> None:
    """open_store() finds the plugin through its entry point and connects lazily."""
    store = open_store(url)
    assert isinstance(store, SQLStore)
    assert registry().resolve(url).name == "sqlalchemy"


def test_listing_backends_imports_no_driver() -> None:
    """The plugin registers a lazy factory: listing backends imports no SQL code."""
    code = (
        "import sys; from omnisession.plugins import registry; "
        "assert registry().by_scheme['postgresql'].name == 'sqlalchemy'; "
        "loaded = [m for m in ('omnisession_sqlalchemy.store', 'asyncpg', 'asyncmy', 'aiosqlite') "
        "if m in sys.modules]; assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
