"""URLs, options and plugin registration of the SQL backend (no database needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from omnisession import Capability, InvalidOption, open_store
from omnisession.errors import PluginLoadError
from omnisession.plugins import registry
from omnisession_sqlalchemy import OPTIONS, MissingDriver, SQLStore, engine_url
from omnisession_sqlalchemy.options import CAPABILITIES, FAMILIES, OPTIONAL_CAPABILITIES


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
    assert engine_url("mariadb://root@h/db").url.query["charset"] == "utf8mb4"
    assert engine_url("mysql://root@h/db?charset=utf8mb4").url.query["charset"] == "utf8mb4"


def test_store_options_are_read_and_only_driver_options_reach_the_driver() -> None:
    """?schema=...&pool_size=... configure the store; declared driver options (TLS,
    charset) are put back in the engine URL, nothing else."""
    spec = engine_url("postgresql://u@h/db?schema=tenant_1&pool_size=3&sslmode=require")
    assert (spec.options.schema, spec.options.pool_size) == ("tenant_1", 3)
    assert dict(spec.url.query) == {"ssl": "require"}
    assert engine_url("postgresql://u@h/db?schema=a", schema="b").options.schema == "b"
    mysql = engine_url("mysql://u@h/db?ssl_ca=/etc/ca%20file.pem&ssl_check_hostname=false")
    assert dict(mysql.url.query) == {
        "charset": "utf8mb4",
        "ssl_ca": "/etc/ca file.pem",
        "ssl_check_hostname": "false",
    }
    psycopg = engine_url("postgresql+psycopg://u@h/db?ssl=verify-full")
    assert dict(psycopg.url.query) == {"sslmode": "verify-full"}


def test_defaults() -> None:
    options = engine_url("postgresql://u@h/db").options
    assert options.command_timeout == 15.0
    assert options.connect_timeout == 10.0
    assert options.pool_size == 5 and options.table_prefix == "omnisession_"
    sqlite = engine_url("sqlite:///x.db").options
    assert sqlite.command_timeout is None  # SQLite waits busy_timeout for locks instead
    assert (sqlite.busy_timeout, sqlite.synchronous) == (30.0, "NORMAL")


def test_in_memory_sqlite_is_recognised() -> None:
    assert engine_url("sqlite://").in_memory
    assert engine_url("sqlite:///:memory:").in_memory
    assert not engine_url("sqlite:///chat.db").in_memory


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@h/db?pool_sise=5", "'pool_sise' (did you mean 'pool_size'?)"),
        ("sqlite:///x.db?busy_timout=5", "'busy_timout' (did you mean 'busy_timeout'?)"),
        ("postgresql://u@h/db?statement_timeout=5", "accepts: application_name"),
        ("sqlite:///x.db?schema=main", "option schema is for MySQL/MariaDB and PostgreSQL"),
        ("sqlite:///x.db?sslmode=require", "sslmode is for PostgreSQL, not SQLite"),
        ("mysql://u@h/db?busy_timeout=3", "busy_timeout is for SQLite"),
        ("postgresql://u@h/db?pool_size=many", "pool_size='many' must be an integer"),
        ("postgresql://u@h/db?pool_size=0", "pool_size='0' must be at least 1"),
        ("postgresql://u@h/db?command_timeout=soon", "command_timeout='soon' must be a number"),
        ("sqlite:///x.db?synchronous=sometimes", "must be one of OFF, NORMAL, FULL, EXTRA"),
        ("postgresql://u@h/db?ssl=maybe", "must be one of disable"),
    ],
)
def test_bad_options_are_refused_before_any_io(url: str, message: str) -> None:
    with pytest.raises(InvalidOption) as raised:
        open_store(url)
    assert message in str(raised.value), str(raised.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+pymysql://root@h/db", "not an async driver for mysql"),
        ("sqlite+pysqlite:///x.db", "not an async driver for sqlite"),
        ("oracle://u@h/db", "sqlite://, postgresql://"),
    ],
)
def test_urls_no_plugin_scheme_covers_are_refused_by_the_store_too(url: str, message: str) -> None:
    """(open_store does not route these schemes here; SQLStore(url) refuses them.)"""
    with pytest.raises(InvalidOption, match=message):
        SQLStore(url)


def test_keyword_options_are_checked_the_same_way() -> None:
    with pytest.raises(InvalidOption, match="did you mean 'pool_size'"):
        SQLStore("sqlite://", pool_sise=3)
    with pytest.raises(InvalidOption, match="unknown sqlalchemy option 'pool'"):
        SQLStore("sqlite://", pool=3)
    store = SQLStore("sqlite://", busy_timeout="5")
    assert store._spec.options.busy_timeout == 5.0


def test_options_and_capabilities_are_declared_once() -> None:
    backend = registry().by_scheme["postgresql"]
    assert backend.options == OPTIONS
    assert {option.name for option in OPTIONS} == set(FAMILIES)
    assert backend.capabilities == CAPABILITIES
    assert dict(backend.optional_capabilities) == OPTIONAL_CAPABILITIES
    assert {Capability.REPLACE, Capability.LIFECYCLE} <= CAPABILITIES
    for url, persistent in (
        ("sqlite://", False),
        ("sqlite:///x.db", True),
        ("mysql://u@h/d", True),
    ):
        declared = SQLStore(url).capabilities
        assert declared >= CAPABILITIES
        assert declared - CAPABILITIES <= set(OPTIONAL_CAPABILITIES)
        assert (Capability.PERSISTENT in declared) is persistent
        assert (Capability.CROSS_PROCESS in declared) is persistent


def test_a_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncpg/asyncmy not installed: MissingDriver (an ImportError and a project error)
    naming the extra, at open time, not a raw ModuleNotFoundError on first use."""
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    monkeypatch.setitem(sys.modules, "asyncmy", None)
    for url, extra in (
        ("postgresql://u@h/db", 'pip install "omnisession-sqlalchemy[postgresql]"'),
        ("mariadb://u@h/db", 'pip install "omnisession-sqlalchemy[mysql]"'),
    ):
        with pytest.raises(MissingDriver) as raised:
            open_store(url)
        assert extra in str(raised.value)
        assert isinstance(raised.value, ModuleNotFoundError | PluginLoadError)


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
        "backend = registry().by_scheme['postgresql']; assert backend.name == 'sqlalchemy'; "
        "assert backend.options; "
        "loaded = [m for m in ('omnisession_sqlalchemy.store', 'sqlalchemy', 'asyncpg', "
        "'asyncmy', 'aiosqlite') if m in sys.modules]; assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
