"""The SQL backend's options and capabilities, declared once as data.

Importable without SQLAlchemy or any driver: :mod:`omnisession_sqlalchemy.plugin`
hands :data:`OPTIONS` and the capabilities to core's ``Backend`` (``omnisession
backends`` lists them), and the store reads a URL with core's ``parse_options``
and the same tuple, so an unknown or misspelt option (``?pool_sise=5``,
``?busy_timout=5``) raises ``InvalidOption`` naming the valid ones before any
I/O. :data:`FAMILIES` says which database each option applies to; one given
for another database is refused the same way.
"""

from __future__ import annotations

from omnisession.options import Option
from omnisession.store import Capability

__all__ = [
    "CAPABILITIES",
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "FAMILIES",
    "MYSQL",
    "OPTIONAL_CAPABILITIES",
    "OPTIONS",
    "PASS_THROUGH",
    "POSTGRESQL",
    "SQLITE",
]

SQLITE, POSTGRESQL, MYSQL = "sqlite", "postgresql", "mysql"
_ALL = frozenset({SQLITE, POSTGRESQL, MYSQL})
_SERVERS = frozenset({POSTGRESQL, MYSQL})

CAPABILITIES = frozenset(
    {Capability.BASE, Capability.LARGE_ENTRIES, Capability.REPLACE, Capability.LIFECYCLE}
)
"""What every SQL store declares."""

OPTIONAL_CAPABILITIES = {
    Capability.PERSISTENT: "a SQLite file or a server URL (not sqlite:// in memory)",
    Capability.CROSS_PROCESS: "a SQLite file or a server URL (not sqlite:// in memory)",
}
"""What a SQL store declares in some configurations, and how to get it."""

DEFAULT_COMMAND_TIMEOUT = 15.0
"""Seconds. Under the ~30 s request timeout of typical web front ends, so a stalled
database fails the request with a clear error instead of the proxy killing it; far
above the time any one operation of this store normally takes (milliseconds)."""

DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds to open one connection (within the command timeout)."""

_TLS_PG = "PostgreSQL only, passed to asyncpg: "
_TLS_MYSQL = "MySQL/MariaDB only, passed to the driver: "
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

OPTIONS: tuple[Option, ...] = (
    Option(
        "schema",
        str,
        None,
        "PostgreSQL schema (created if missing) or MySQL database holding the tables; "
        "default: the connection's own",
    ),
    Option(
        "table_prefix",
        str,
        "omnisession_",
        "prefix of every table name (several stores in one database)",
    ),
    Option(
        "command_timeout",
        float,
        DEFAULT_COMMAND_TIMEOUT,
        "PostgreSQL/MySQL: the longest one call may take, in seconds, connecting and "
        "retrying included, before it raises BackendUnavailable (a stalled or "
        "unreachable server)",
        minimum=0.01,
    ),
    Option(
        "connect_timeout",
        float,
        DEFAULT_CONNECT_TIMEOUT,
        "PostgreSQL/MySQL: seconds to wait for a new connection",
        minimum=0.01,
    ),
    Option(
        "busy_timeout",
        float,
        30.0,
        "SQLite: seconds a writer waits for another connection's write lock",
        minimum=0,
    ),
    Option(
        "synchronous",
        str,
        "NORMAL",
        "SQLite PRAGMA synchronous; NORMAL (in WAL mode) loses no committed write on a "
        "process crash, only on power loss",
        choices=("OFF", "NORMAL", "FULL", "EXTRA"),
    ),
    Option(
        "pool_size",
        int,
        5,
        "connections each event loop keeps open (ignored by sqlite:// in memory)",
        minimum=1,
    ),
    Option(
        "max_overflow",
        int,
        10,
        "connections opened beyond pool_size under load, closed after use",
        minimum=0,
    ),
    Option(
        "pool_timeout",
        float,
        30.0,
        "seconds to wait for a free connection when all are in use (on a server, "
        "within command_timeout)",
        minimum=0,
    ),
    Option(
        "pool_recycle",
        float,
        None,
        "seconds after which a connection is replaced; default: never (MySQL: 3600, "
        "under the server's wait_timeout)",
        minimum=0,
    ),
    Option(
        "pool_pre_ping",
        bool,
        False,
        "test each connection with a round trip before use (a dropped connection is "
        "retried anyway)",
    ),
    Option("echo", bool, False, "log every statement SQLAlchemy sends (SQLAlchemy echo)"),
    Option(
        "application_name",
        str,
        "omnisession",
        "PostgreSQL application_name (shows in pg_stat_activity)",
    ),
    Option(
        "statement_cache_size",
        int,
        None,
        "PostgreSQL: prepared statements asyncpg caches per connection (default 100); "
        "0 behind PgBouncer in transaction mode",
        minimum=0,
    ),
    Option(
        "ssl",
        str,
        None,
        _TLS_PG + "TLS mode (libpq's sslmode values)",
        choices=_SSL_MODES,
    ),
    Option("sslmode", str, None, _TLS_PG + "the same as ssl, libpq's spelling", choices=_SSL_MODES),
    Option(
        "charset",
        str,
        "utf8mb4",
        "MySQL/MariaDB connection character set (utf8mb4 stores every unicode character)",
    ),
    Option("ssl_ca", str, None, _TLS_MYSQL + "file of CA certificates to verify the server with"),
    Option("ssl_cert", str, None, _TLS_MYSQL + "client certificate file (mutual TLS)"),
    Option("ssl_key", str, None, _TLS_MYSQL + "client private key file (mutual TLS)"),
    Option("ssl_check_hostname", bool, None, _TLS_MYSQL + "check the certificate's host name"),
)

FAMILIES: dict[str, frozenset[str]] = {
    "schema": _SERVERS,
    "table_prefix": _ALL,
    "command_timeout": _SERVERS,
    "connect_timeout": _SERVERS,
    "busy_timeout": frozenset({SQLITE}),
    "synchronous": frozenset({SQLITE}),
    "pool_size": _ALL,
    "max_overflow": _ALL,
    "pool_timeout": _ALL,
    "pool_recycle": _ALL,
    "pool_pre_ping": _ALL,
    "echo": _ALL,
    "application_name": frozenset({POSTGRESQL}),
    "statement_cache_size": frozenset({POSTGRESQL}),
    "ssl": frozenset({POSTGRESQL}),
    "sslmode": frozenset({POSTGRESQL}),
    "charset": frozenset({MYSQL}),
    "ssl_ca": frozenset({MYSQL}),
    "ssl_cert": frozenset({MYSQL}),
    "ssl_key": frozenset({MYSQL}),
    "ssl_check_hostname": frozenset({MYSQL}),
}
"""The database families each option applies to."""

PASS_THROUGH = frozenset(
    {"ssl", "sslmode", "charset", "ssl_ca", "ssl_cert", "ssl_key", "ssl_check_hostname"}
)
"""Options handed to the driver in the engine URL's query (the rest configure the store)."""
