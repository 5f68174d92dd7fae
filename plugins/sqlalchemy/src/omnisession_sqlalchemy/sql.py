"""The SQL text of every statement, per database family.

Statements are written by hand (``sqlalchemy.text``) so each contract write is
exactly the statements listed in the store's docstrings, with the upsert,
``RETURNING`` and row-lock syntax of each engine.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import TextClause

from .schema import Tables

__all__ = ["Features", "Statements"]


@dataclass(frozen=True)
class Features:
    """What the connected engine supports."""

    family: str  # "sqlite" | "postgresql" | "mysql"
    returning: bool  # INSERT/UPDATE ... RETURNING (PostgreSQL, SQLite >= 3.35)
    delete_returning: bool  # DELETE ... RETURNING (those, and MariaDB >= 10.5)
    mariadb: bool = False


class Statements:
    """Compiled-once SQL texts for one set of tables on one dialect."""

    def __init__(self, tables: Tables, dialect: Dialect, features: Features) -> None:
        fmt = dialect.identifier_preparer.format_table
        self.dialect = dialect
        self.f = features
        self.s = fmt(tables.sessions)
        self.e = fmt(tables.events)
        self.a = fmt(tables.app_state)
        self.u = fmt(tables.user_state)
        self.v = fmt(tables.version)
        self.greatest = "max" if features.family == "sqlite" else "GREATEST"
        self.for_update = "" if features.family == "sqlite" else " FOR UPDATE"

    # -- reads ----------------------------------------------------------------

    @property
    def _session_pk(self) -> str:
        """The session's id as a scalar subquery.

        Events are then filtered by ``session_pk = <constant>``, which every
        planner serves from the (session_pk, seq) primary key in ``seq``
        order: "the newest N" reads N index entries. (A join would leave
        PostgreSQL sorting the whole history of the session.)
        """
        return f"SELECT id FROM {self.s} WHERE key_hash = :h"

    @functools.cache  # noqa: B019 - one Statements per store, a handful of variants
    def get_session(self, with_events: bool, last: bool, since: bool) -> TextClause:
        """The session row, both scopes and (optionally) events, in one statement.

        ``kind`` 0 is the session row, 1 an app state key, 2 a user state key,
        3 an event; a missing session has no kind-0 row.
        """
        parts = [
            "SELECT 0 AS kind, revision AS n, created_at AS f1, updated_at AS f2, "
            f"state AS body, NULL AS name FROM {self.s} WHERE key_hash = :h",
            f"SELECT 1, NULL, NULL, NULL, value, name FROM {self.a} WHERE app_hash = :ah",
            f"SELECT 2, NULL, NULL, NULL, value, name FROM {self.u} WHERE user_hash = :uh",
        ]
        if with_events:
            where = " AND e.ts >= :since" if since and not last else ""
            limit = " LIMIT :last" if last else ""
            parts.append(
                "SELECT 3, seq, ts, NULL, data, NULL FROM ("
                f"SELECT e.seq, e.ts, e.data FROM {self.e} e WHERE e.session_pk = "
                f"({self._session_pk}){where} ORDER BY e.seq DESC{limit}) ev"
            )
        return sa.text(" UNION ALL ".join(parts))

    @functools.cache  # noqa: B019
    def get_items(self, limit: bool) -> TextClause:
        order = "DESC LIMIT :n" if limit else "ASC"
        return sa.text(
            f"SELECT e.data FROM {self.e} e WHERE e.session_pk = ({self._session_pk}) "
            f"ORDER BY e.seq {order}"
        )

    @functools.cache  # noqa: B019
    def list_sessions(self, by_user: bool, after: bool) -> TextClause:
        where = "user_hash = :uh" if by_user else "app_hash = :ah"
        if after:
            where += " AND (updated_at > :cu OR (updated_at = :cu AND id > :ci))"
        return sa.text(
            "SELECT id, app_name, user_id, session_id, revision, state, created_at, updated_at "
            f"FROM {self.s} WHERE {where} ORDER BY updated_at, id LIMIT :n"
        )

    @functools.cached_property
    def app_scope(self) -> TextClause:
        return sa.text(f"SELECT name, value FROM {self.a} WHERE app_hash = :ah")

    @functools.cached_property
    def user_scope(self) -> TextClause:
        return sa.text(f"SELECT name, value FROM {self.u} WHERE user_hash = :uh")

    @functools.cached_property
    def user_scopes(self) -> TextClause:
        if self.f.family == "postgresql":  # one array parameter
            return sa.text(
                f"SELECT user_hash, name, value FROM {self.u} "
                "WHERE user_hash = ANY(CAST(:uhs AS TEXT[]))"
            )
        return sa.text(
            f"SELECT user_hash, name, value FROM {self.u} WHERE user_hash IN :uhs"
        ).bindparams(sa.bindparam("uhs", expanding=True))

    @functools.cached_property
    def both_scopes(self) -> TextClause:
        return sa.text(
            f"SELECT 1 AS kind, name, value FROM {self.a} WHERE app_hash = :ah "
            f"UNION ALL SELECT 2, name, value FROM {self.u} WHERE user_hash = :uh"
        )

    # -- session rows -----------------------------------------------------------

    @functools.cache  # noqa: B019
    def lock_session(self, with_state: bool) -> TextClause:
        """Read the session row, locking it until commit (SQLite: BEGIN IMMEDIATE did)."""
        state = ", state" if with_state else ""
        return sa.text(
            f"SELECT id, revision, next_seq{state} FROM {self.s} WHERE key_hash = :h"
            f"{self.for_update}"
        )

    @functools.cached_property
    def create_session(self) -> TextClause:
        return sa.text(
            f"INSERT INTO {self.s} (key_hash, app_hash, user_hash, app_name, user_id, "
            "session_id, revision, next_seq, state, created_at, updated_at) VALUES "
            "(:h, :ah, :uh, :app, :user, :sid, 1, 1, :state, :now, :now)"
        )

    @functools.cache  # noqa: B019
    def update_session(self, with_state: bool) -> TextClause:
        state = ", state = :state" if with_state else ""
        return sa.text(
            f"UPDATE {self.s} SET revision = :rev, next_seq = :ns, "
            f"updated_at = {self.greatest}(updated_at, :now){state} WHERE id = :id"
        )

    @functools.cached_property
    def bump_by_id(self) -> TextClause:
        return sa.text(
            f"UPDATE {self.s} SET revision = revision + 1, "
            f"updated_at = {self.greatest}(updated_at, :now) WHERE id = :id"
        )

    @functools.cached_property
    def bump_by_key(self) -> TextClause:
        return sa.text(
            f"UPDATE {self.s} SET revision = revision + 1, "
            f"updated_at = {self.greatest}(updated_at, :now) WHERE key_hash = :h"
        )

    @functools.cached_property
    def reserve_seqs(self) -> TextClause:
        """Create the session or bump it, reserving ``:n`` sequence numbers.

        PostgreSQL/SQLite return ``(id, next_seq)`` directly; MySQL needs
        :attr:`lock_session` afterwards (the upsert already holds the row lock).
        """
        columns = (
            "(key_hash, app_hash, user_hash, app_name, user_id, session_id, revision, "
            "next_seq, state, created_at, updated_at)"
        )
        values = "(:h, :ah, :uh, :app, :user, :sid, 2, :n + 1, '{}', :now, :now)"
        if self.f.family == "mysql":
            return sa.text(
                f"INSERT INTO {self.s} {columns} VALUES {values} ON DUPLICATE KEY UPDATE "
                "revision = revision + 1, next_seq = next_seq + :n, "
                "updated_at = GREATEST(updated_at, :now)"
            )
        return sa.text(
            f"INSERT INTO {self.s} AS s {columns} VALUES {values} ON CONFLICT (key_hash) "
            "DO UPDATE SET revision = s.revision + 1, next_seq = s.next_seq + :n, "
            f"updated_at = {self.greatest}(s.updated_at, :now) RETURNING id, next_seq"
        )

    @functools.cache  # noqa: B019
    def apply_pg(self, event: bool, state: bool, cas: bool, app: bool, user: bool) -> TextClause:
        """PostgreSQL: append_event / update_state as ONE statement.

        A conditional ``UPDATE`` of the session row (``revision = :exp`` when
        ``cas``) feeds the event ``INSERT`` and the scope upserts, so when the
        condition fails nothing at all is written. Returns ``(seq, revision)``,
        or no row when the session is missing or at another revision.
        """
        sets = (
            "revision = revision + 1, next_seq = next_seq + :inc, "
            "updated_at = GREATEST(updated_at, :now)"
        )
        if state:
            sets += ", state = :state"
        where = "key_hash = :h" + (" AND revision = :exp" if cas else "")
        parts = [
            f"s AS (UPDATE {self.s} SET {sets} WHERE {where} "
            "RETURNING id, next_seq - :inc AS seq, revision)"
        ]
        if event:
            parts.append(
                f"ev AS (INSERT INTO {self.e} (session_pk, seq, ts, data) SELECT id, seq, "
                "CAST(:ts AS DOUBLE PRECISION), CAST(:data AS TEXT) FROM s)"
            )
        scopes = [("a", self.a, "app_hash", "ah")] if app else []
        scopes += [("u", self.u, "user_hash", "uh")] if user else []
        for name, table, column, scope in scopes:
            parts.append(
                f"{name} AS (INSERT INTO {table} ({column}, name_hash, name, value) "
                f"SELECT CAST(:{scope} AS TEXT), x.nh, x.name, x.value FROM s, "
                f"unnest(CAST(:{name}_nh AS TEXT[]), CAST(:{name}_name AS TEXT[]), "
                f"CAST(:{name}_value AS TEXT[])) AS x(nh, name, value) "
                f"ON CONFLICT ({column}, name_hash) DO UPDATE SET value = excluded.value)"
            )
        return sa.text("WITH " + ", ".join(parts) + " SELECT seq, revision FROM s")

    @functools.cached_property
    def session_head(self) -> TextClause:
        """Revision and session state, unlocked (the compare-and-set reads it)."""
        return sa.text(f"SELECT revision, state FROM {self.s} WHERE key_hash = :h")

    @functools.cached_property
    def add_items_pg(self) -> TextClause:
        """PostgreSQL: :attr:`reserve_seqs` and the insert of every item in ONE statement.

        ``:datas`` is a ``text[]`` of the items, numbered by ``WITH ORDINALITY``.
        """
        return sa.text(
            f"WITH r AS (INSERT INTO {self.s} AS s (key_hash, app_hash, user_hash, app_name, "
            "user_id, session_id, revision, next_seq, state, created_at, updated_at) VALUES "
            "(:h, :ah, :uh, :app, :user, :sid, 2, :n + 1, '{}', :now, :now) "
            "ON CONFLICT (key_hash) DO UPDATE SET revision = s.revision + 1, "
            "next_seq = s.next_seq + :n, updated_at = GREATEST(s.updated_at, :now) "
            "RETURNING id, next_seq - :n AS first) "
            f"INSERT INTO {self.e} (session_pk, seq, ts, data) "
            "SELECT r.id, r.first + d.ord - 1, :ts, d.data FROM r, "
            "unnest(CAST(:datas AS text[])) WITH ORDINALITY AS d(data, ord)"
        )

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one text per batch size
    def add_items_mysql(self, count: int) -> TextClause:
        """MySQL: insert ``count`` items (``:d0``, ``:d1``...) after :attr:`reserve_seqs`.

        The session's id and the numbers just reserved are read by the insert
        itself, under the row lock the upsert holds: no ``SELECT`` round trip.
        """
        items = " UNION ALL ".join(
            f"SELECT {index} AS k, :d{index} AS data" for index in range(count)
        )
        return sa.text(
            f"INSERT INTO {self.e} (session_pk, seq, ts, data) "
            f"SELECT s.id, s.next_seq - :n + d.k, :now, d.data FROM {self.s} s "
            f"JOIN ({items}) d WHERE s.key_hash = :h"
        )

    @functools.cached_property
    def delete_session(self) -> TextClause:
        return sa.text(f"DELETE FROM {self.s} WHERE id = :id")

    # -- events -----------------------------------------------------------------

    @functools.cached_property
    def insert_event(self) -> TextClause:
        return sa.text(
            f"INSERT INTO {self.e} (session_pk, seq, ts, data) VALUES (:sid, :seq, :ts, :data)"
        )

    @functools.cached_property
    def delete_events(self) -> TextClause:
        return sa.text(f"DELETE FROM {self.e} WHERE session_pk = :id")

    @functools.cached_property
    def delete_events_by_key(self) -> TextClause:
        return sa.text(f"DELETE FROM {self.e} WHERE session_pk = ({self._session_pk})")

    @functools.cached_property
    def pop_newest(self) -> TextClause:
        """Delete the newest event of session ``:id`` and return its data (one statement)."""
        if self.f.family == "mysql":
            return sa.text(
                f"DELETE FROM {self.e} WHERE session_pk = :id ORDER BY seq DESC LIMIT 1 "
                "RETURNING data"
            )
        return sa.text(
            f"DELETE FROM {self.e} WHERE session_pk = :id AND seq = "
            f"(SELECT MAX(seq) FROM {self.e} WHERE session_pk = :id) RETURNING data"
        )

    @functools.cached_property
    def newest_event(self) -> TextClause:
        return sa.text(
            f"SELECT seq, data FROM {self.e} WHERE session_pk = :id ORDER BY seq DESC LIMIT 1"
        )

    @functools.cached_property
    def delete_event(self) -> TextClause:
        return sa.text(f"DELETE FROM {self.e} WHERE session_pk = :id AND seq = :seq")

    # -- scopes -----------------------------------------------------------------

    def _upsert(self, table: str, scope: str) -> TextClause:
        insert = (
            f"INSERT INTO {table} ({scope}, name_hash, name, value) "
            "VALUES (:scope, :nh, :name, :value)"
        )
        if self.f.family == "mysql":
            return sa.text(f"{insert} ON DUPLICATE KEY UPDATE value = VALUES(value)")
        return sa.text(
            f"{insert} ON CONFLICT ({scope}, name_hash) DO UPDATE SET value = excluded.value"
        )

    @functools.cached_property
    def upsert_app(self) -> TextClause:
        return self._upsert(self.a, "app_hash")

    @functools.cached_property
    def upsert_user(self) -> TextClause:
        return self._upsert(self.u, "user_hash")

    # -- schema version -----------------------------------------------------------

    @functools.cached_property
    def read_version(self) -> TextClause:
        return sa.text(f"SELECT version FROM {self.v} WHERE id = 1")

    @functools.cached_property
    def insert_version(self) -> TextClause:
        return sa.text(f"INSERT INTO {self.v} (id, version, written_by) VALUES (1, :v, :by)")
