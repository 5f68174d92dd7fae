"""The tables, their indexes and the schema version.

Identifiers (app name, user id, session id, state key names) may be up to
1024 characters of any unicode; MySQL cannot index that and compares text
case- and trailing-space-insensitively. So every lookup goes through a
SHA-256 hex digest of the JSON-encoded identifiers (``key_hash``,
``app_hash``, ``user_hash``, ``name_hash``), compared as plain ASCII, while the
identifiers themselves are stored in full next to it.

Version history (``SCHEMA_VERSION``; :mod:`omnisession_sqlalchemy.migrations`
upgrades a database in place):

1. sessions, events keyed by (session_pk, seq), app_state, user_state, schema_version.
2. events.delta (the state delta each event recorded, JSON text, NULL for none);
   sessions.base_state (the session state before its first event, NULL where
   unknown: sessions that had events before the upgrade); the scope tables
   name their owner (app_state.app_name; user_state.app_hash, app_name,
   user_id, indexed by app_hash) so ``list_apps`` and ``erase_app`` find
   scopes that have no session. MySQL/MariaDB tables are utf8mb4/utf8mb4_bin
   InnoDB under ``mariadb://`` URLs too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = ["MYSQL_TABLE_OPTIONS", "SCHEMA_VERSION", "Tables", "make_tables"]

SCHEMA_VERSION = 2
"""The schema version this code writes and understands."""

_HASH = sa.String(64).with_variant(
    mysql.VARCHAR(64, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)
_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY is the rowid
_TIME: sa.Double[float] = sa.Double()

MYSQL_TABLE_OPTIONS = {"engine": "InnoDB", "charset": "utf8mb4", "collate": "utf8mb4_bin"}
"""The table options every MySQL/MariaDB table gets (whatever the database's default)."""

# SQLAlchemy reads table options with the dialect's name as prefix: under a
# mariadb:// URL the dialect is "mariadb", and mysql_* options are ignored.
_TABLE_OPTIONS: dict[str, Any] = {
    f"{dialect}_{name}": value
    for dialect in ("mysql", "mariadb")
    for name, value in MYSQL_TABLE_OPTIONS.items()
}


@dataclass(frozen=True)
class Tables:
    """The store's tables in one ``MetaData`` (one set per schema and prefix)."""

    metadata: sa.MetaData
    sessions: sa.Table
    events: sa.Table
    app_state: sa.Table
    user_state: sa.Table
    version: sa.Table
    prefix: str

    @property
    def schema(self) -> str | None:
        return self.metadata.schema


def make_tables(prefix: str = "omnisession_", schema: str | None = None) -> Tables:
    """Define the tables named ``<prefix>sessions`` etc. in ``schema``."""
    metadata = sa.MetaData(schema=schema)
    sessions = sa.Table(
        f"{prefix}sessions",
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("key_hash", _HASH, nullable=False, unique=True),
        sa.Column("app_hash", _HASH, nullable=False),
        sa.Column("user_hash", _HASH, nullable=False),
        sa.Column("app_name", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("next_seq", sa.BigInteger, nullable=False),
        sa.Column("state", _TEXT, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("base_state", _TEXT, nullable=True),  # v2
        sa.Index(f"{prefix}sessions_app", "app_hash", "updated_at", "id"),
        sa.Index(f"{prefix}sessions_user", "user_hash", "updated_at", "id"),
        **_TABLE_OPTIONS,
    )
    events = sa.Table(
        f"{prefix}events",
        metadata,
        sa.Column("session_pk", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", _TIME, nullable=False),
        sa.Column("data", _TEXT, nullable=False),
        sa.Column("delta", _TEXT, nullable=True),  # v2
        **_TABLE_OPTIONS,
    )
    app_state = sa.Table(
        f"{prefix}app_state",
        metadata,
        sa.Column("app_hash", _HASH, primary_key=True),
        sa.Column("name_hash", _HASH, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("value", _TEXT, nullable=False),
        sa.Column("app_name", sa.Text, nullable=True),  # v2
        **_TABLE_OPTIONS,
    )
    user_state = sa.Table(
        f"{prefix}user_state",
        metadata,
        sa.Column("user_hash", _HASH, primary_key=True),
        sa.Column("name_hash", _HASH, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("value", _TEXT, nullable=False),
        sa.Column("app_hash", _HASH, nullable=True),  # v2
        sa.Column("app_name", sa.Text, nullable=True),  # v2
        sa.Column("user_id", sa.Text, nullable=True),  # v2
        sa.Index(f"{prefix}user_state_app", "app_hash"),  # v2
        **_TABLE_OPTIONS,
    )
    version = sa.Table(
        f"{prefix}schema_version",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("written_by", sa.Text, nullable=False),
        **_TABLE_OPTIONS,
    )
    return Tables(metadata, sessions, events, app_state, user_state, version, prefix)
