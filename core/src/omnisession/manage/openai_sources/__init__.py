"""Read-only sources for the OpenAI Agents SDK's own session stores, to move off them.

Each SDK session becomes an omnisession session under the key the
:class:`~omnisession.openai_agents.OmniSession` bridge uses for the same
session id -- app ``"default"``, user = the session id, unless the ``app`` /
``user`` options say otherwise -- so after ``omnisession copy`` the
conversation continues with ``OmniSession(session_id, url=NEW_STORE)``.

=====================================  ==========================================================
URL                                    reads
=====================================  ==========================================================
``openai+sqlite:///FILE``              a ``SQLiteSession`` file (``SQLiteSession(id, "FILE")``),
                                       or a ``SQLAlchemySession`` on SQLite (same tables);
                                       stdlib ``sqlite3``, nothing to install
``openai+postgresql://user@host/db``   ``SQLAlchemySession`` tables on PostgreSQL (asyncpg)
``openai+mysql://user@host/db``        ``SQLAlchemySession`` tables on MySQL / MariaDB (asyncmy)
``openai+redis://host:6379/0``         ``RedisSession`` keys (``openai+rediss://`` for TLS)
=====================================  ==========================================================

Options (URL query, e.g. ``?sessions_table=chat_sessions&app=support``) are
declared below as data: table names for the SQL stores, the key prefix for
Redis, the key mapping, and the command timeout of the network ones.

What is read: every session's items in the SDK's order, as events with the
item as payload (``seq`` = the message row's id for SQL, the 1-based list
position for Redis; a row the SDK skips as invalid JSON is skipped too, and
so is one that is not a JSON object, which the SDK never writes),
``created_at`` / ``updated_at`` of the session (the SDK's one-second
resolution; Redis keeps no per-item time, so its items carry the session's
creation time). No state: the SDK has none. Every write raises
:class:`~omnisession.errors.Unsupported` ("read-only source").
"""

from __future__ import annotations

from collections.abc import Callable

from ...options import Option
from ...plugins import Backend
from ...store import Capability

__all__ = [
    "CAPABILITIES",
    "MAPPING_OPTIONS",
    "REDIS_OPTIONS",
    "SQLITE_OPTIONS",
    "SQL_OPTIONS",
    "register_backends",
]

#: A read-only source keeps its data (it is the framework's own store), and that is all
#: it declares: it does not keep the base contract's writes.
CAPABILITIES = frozenset({Capability.PERSISTENT})

#: The command timeout of the network sources (PLAN: 15 s on every network backend).
DEFAULT_COMMAND_TIMEOUT = 15.0

MAPPING_OPTIONS = (
    Option(
        "app",
        str,
        "default",
        "the app_name every SDK session is read under (OmniSession's default app_name)",
    ),
    Option(
        "user",
        str,
        None,
        "the user_id every SDK session is read under; unset: the session id itself, as "
        "OmniSession(session_id) does without user_id",
    ),
)

_TABLE_OPTIONS = (
    Option(
        "sessions_table",
        str,
        "agent_sessions",
        "the SDK's sessions table (its sessions_table= argument)",
    ),
    Option(
        "messages_table",
        str,
        "agent_messages",
        "the SDK's messages table (its messages_table= argument)",
    ),
)

_TIMEOUT_OPTION = Option(
    "command_timeout",
    float,
    DEFAULT_COMMAND_TIMEOUT,
    "seconds any one read may take (connecting included) before BackendUnavailable",
    minimum=0.001,
)

SQLITE_OPTIONS: tuple[Option, ...] = _TABLE_OPTIONS + MAPPING_OPTIONS

SQL_OPTIONS: tuple[Option, ...] = (
    *_TABLE_OPTIONS,
    *MAPPING_OPTIONS,
    _TIMEOUT_OPTION,
    Option(
        "driver",
        str,
        None,
        "the SQLAlchemy async driver (default: asyncpg for PostgreSQL, asyncmy for MySQL)",
    ),
)

REDIS_OPTIONS: tuple[Option, ...] = (
    Option(
        "key_prefix",
        str,
        "agents:session",
        "the SDK's key prefix (RedisSession(key_prefix=...))",
    ),
    *MAPPING_OPTIONS,
    _TIMEOUT_OPTION,
)

_BACKENDS = (
    Backend(
        name="openai-sqlite",
        schemes=("openai+sqlite",),
        factory="omnisession.manage.openai_sources._sqlite:open_sqlite_source",
        capabilities=CAPABILITIES,
        options=SQLITE_OPTIONS,
        description=(
            "read-only: the OpenAI Agents SDK's SQLiteSession file (or SQLAlchemySession on "
            "SQLite), openai+sqlite:///FILE; copy it off with `omnisession copy`"
        ),
    ),
    Backend(
        name="openai-sqlalchemy",
        schemes=("openai+postgresql", "openai+mysql", "openai+mariadb"),
        factory="omnisession.manage.openai_sources._sql:open_sql_source",
        capabilities=CAPABILITIES,
        options=SQL_OPTIONS,
        description=(
            "read-only: the OpenAI Agents SDK's SQLAlchemySession tables, "
            "openai+postgresql://USER@HOST/DB or openai+mysql://... (needs SQLAlchemy and "
            "the driver: pip install 'omnisession-sqlalchemy[postgresql]' or '[mysql]')"
        ),
    ),
    Backend(
        name="openai-redis",
        schemes=("openai+redis", "openai+rediss"),
        factory="omnisession.manage.openai_sources._redis:open_redis_source",
        capabilities=CAPABILITIES,
        options=REDIS_OPTIONS,
        description=(
            "read-only: the OpenAI Agents SDK's RedisSession keys, openai+redis://HOST:PORT/DB "
            "(needs redis-py: pip install omnisession-redis)"
        ),
    ),
)


def register_backends(register: Callable[[Backend], None]) -> None:
    """Register the read-only OpenAI SDK sources (called by core's own plugin)."""
    for backend in _BACKENDS:
        register(backend)
