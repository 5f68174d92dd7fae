"""The SQL text of every statement, per database family.

Statements are written by hand (``sqlalchemy.text``) so each store operation
is exactly the statements listed in its docstring, with the upsert,
``RETURNING`` and row-lock syntax of each engine. Parameters are named
(``:key_hash``); :mod:`omnisession_sqlalchemy.executor` turns them into each
driver's style. ``IN :names`` takes a list (expanded into one parameter per
item); PostgreSQL statements take arrays instead (``= ANY(CAST(:names AS
TEXT[]))``), one parameter whatever the length.

The events of a session are always filtered by ``session_pk = (SELECT id FROM
sessions WHERE key_hash = :key_hash)``, a constant to the planner, so "the
newest N events" reads N entries of the (session_pk, seq) primary key in
``seq`` order, never the whole history (a join would leave PostgreSQL sorting
it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import TextClause

from .options import MYSQL, POSTGRESQL, SQLITE
from .schema import Tables

__all__ = ["Features", "Statements"]


@dataclass(frozen=True)
class Features:
    """What the connected engine supports."""

    family: str
    """``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (MySQL and MariaDB)."""
    returning: bool
    """``INSERT ... RETURNING`` (PostgreSQL, SQLite >= 3.35)."""
    delete_returning: bool
    """``DELETE ... RETURNING`` (those, and MariaDB >= 10.5)."""
    max_packet: int | None = None
    """MySQL/MariaDB ``max_allowed_packet``: the largest statement the server accepts."""


def _text(text: str, *lists: str) -> TextClause:
    """A statement whose ``IN :name`` parameters take lists."""
    statement = sa.text(text)
    if lists:
        statement = statement.bindparams(*(sa.bindparam(name, expanding=True) for name in lists))
    return statement


class Statements:
    """Compiled-once SQL texts for one set of tables on one dialect."""

    def __init__(self, tables: Tables, dialect: Dialect, features: Features) -> None:
        table = dialect.identifier_preparer.format_table
        self.dialect = dialect
        self.features = features
        self.sessions = table(tables.sessions)
        self.events = table(tables.events)
        self.app_state = table(tables.app_state)
        self.user_state = table(tables.user_state)
        self.for_update = "" if features.family == SQLITE else " FOR UPDATE"
        self.returning_id = " RETURNING id" if features.returning else ""

    @property
    def postgresql(self) -> bool:
        return self.features.family == POSTGRESQL

    @property
    def mysql(self) -> bool:
        return self.features.family == MYSQL

    @property
    def _session_pk(self) -> str:
        """The session's id as a scalar subquery (see the module docstring)."""
        return f"SELECT id FROM {self.sessions} WHERE key_hash = :key_hash"

    # -- reads ---------------------------------------------------------------------

    @functools.cache  # noqa: B019 - one Statements per store, a handful of variants
    def get_session(self, with_events: bool, last: bool, since: bool) -> TextClause:
        """The session row, both scopes and (optionally) events, in one statement.

        Columns ``kind, number, time, updated_at, body, extra``: kind 0 is the
        session row (revision, created_at, updated_at, state, base_state), 1 an
        app state key (value, name), 2 a user state key, 3 an event (seq, ts,
        data, delta); a missing session has no kind-0 row.
        """
        parts = [
            "SELECT 0 AS kind, revision AS number, created_at AS time, updated_at, "
            f"state AS body, base_state AS extra FROM {self.sessions} WHERE key_hash = :key_hash",
            f"SELECT 1, NULL, NULL, NULL, value, name FROM {self.app_state} "
            "WHERE app_hash = :app_hash",
            f"SELECT 2, NULL, NULL, NULL, value, name FROM {self.user_state} "
            "WHERE user_hash = :user_hash",
        ]
        if with_events:
            where = " AND e.ts >= :since" if since and not last else ""
            limit = " LIMIT :last" if last else ""
            parts.append(
                "SELECT 3, seq, ts, NULL, data, delta FROM ("
                f"SELECT e.seq, e.ts, e.data, e.delta FROM {self.events} e WHERE e.session_pk = "
                f"({self._session_pk}){where} ORDER BY e.seq DESC{limit}) newest"
            )
        return sa.text(" UNION ALL ".join(parts))

    @functools.cache  # noqa: B019
    def get_items(self, newest: bool) -> TextClause:
        """Payloads of the session: all, oldest first, or the newest ``:limit``, newest first."""
        order = "DESC LIMIT :limit" if newest else "ASC"
        return sa.text(
            f"SELECT e.data FROM {self.events} e WHERE e.session_pk = ({self._session_pk}) "
            f"ORDER BY e.seq {order}"
        )

    @functools.cache  # noqa: B019
    def get_events(self, after: bool, before: bool, oldest_first: bool) -> TextClause:
        """Up to ``:limit`` events between ``:after_seq`` and ``:before_seq`` (exclusive),
        the oldest or the newest of them: one index range scan."""
        where = " AND e.seq > :after_seq" if after else ""
        where += " AND e.seq < :before_seq" if before else ""
        order = "ASC" if oldest_first else "DESC"
        return sa.text(
            f"SELECT e.seq, e.ts, e.data, e.delta FROM {self.events} e "
            f"WHERE e.session_pk = ({self._session_pk}){where} ORDER BY e.seq {order} "
            "LIMIT :limit"
        )

    @functools.cache  # noqa: B019
    def list_sessions(self, by_user: bool, after: bool) -> TextClause:
        """A page of sessions, oldest ``updated_at`` first, from the (hash, updated_at, id)
        index; ``after``: strictly after the cursor ``(:after_updated_at, :after_id)``."""
        where = "user_hash = :user_hash" if by_user else "app_hash = :app_hash"
        if after:
            where += (
                " AND (updated_at > :after_updated_at OR "
                "(updated_at = :after_updated_at AND id > :after_id))"
            )
        return sa.text(
            "SELECT id, app_name, user_id, session_id, revision, state, created_at, updated_at "
            f"FROM {self.sessions} WHERE {where} ORDER BY updated_at, id LIMIT :limit"
        )

    @functools.cached_property
    def app_scope(self) -> TextClause:
        return sa.text(f"SELECT name, value FROM {self.app_state} WHERE app_hash = :app_hash")

    @functools.cached_property
    def user_scope(self) -> TextClause:
        return sa.text(f"SELECT name, value FROM {self.user_state} WHERE user_hash = :user_hash")

    @functools.cached_property
    def user_scopes(self) -> TextClause:
        """The user scopes of several users at once (a page of sessions)."""
        if self.postgresql:
            return sa.text(
                f"SELECT user_hash, name, value FROM {self.user_state} "
                "WHERE user_hash = ANY(CAST(:user_hashes AS TEXT[]))"
            )
        return _text(
            f"SELECT user_hash, name, value FROM {self.user_state} WHERE user_hash IN :user_hashes",
            "user_hashes",
        )

    @functools.cached_property
    def both_scopes(self) -> TextClause:
        """``(kind, name, value)``: kind 1 the app scope's keys, 2 the user scope's."""
        return sa.text(
            f"SELECT 1 AS kind, name, value FROM {self.app_state} WHERE app_hash = :app_hash "
            f"UNION ALL SELECT 2, name, value FROM {self.user_state} WHERE user_hash = :user_hash"
        )

    @functools.cached_property
    def list_apps(self) -> TextClause:
        """One name per app of each table that names apps (the caller removes duplicates)."""
        return sa.text(
            f"SELECT s.app_name FROM {self.sessions} s WHERE s.id IN "
            f"(SELECT MIN(id) FROM {self.sessions} GROUP BY app_hash) "
            f"UNION ALL SELECT MIN(app_name) FROM {self.app_state} "
            "WHERE app_name IS NOT NULL GROUP BY app_hash "
            f"UNION ALL SELECT MIN(app_name) FROM {self.user_state} "
            "WHERE app_name IS NOT NULL GROUP BY app_hash"
        )

    # -- the session row -------------------------------------------------------------

    @functools.cache  # noqa: B019
    def lock_session(self, with_state: bool) -> TextClause:
        """Read the session row, locking it until commit (SQLite: BEGIN IMMEDIATE did).

        Columns ``id, revision, next_seq[, state, base_state]``.
        """
        state = ", state, base_state" if with_state else ""
        return sa.text(
            f"SELECT id, revision, next_seq{state} FROM {self.sessions} "
            f"WHERE key_hash = :key_hash{self.for_update}"
        )

    @functools.cached_property
    def insert_session(self) -> TextClause:
        """A new session row; returns its id (``RETURNING`` or the driver's last row id)."""
        return sa.text(
            f"INSERT INTO {self.sessions} (key_hash, app_hash, user_hash, app_name, user_id, "
            "session_id, revision, next_seq, state, base_state, created_at, updated_at) VALUES "
            "(:key_hash, :app_hash, :user_hash, :app_name, :user_id, :session_id, :revision, "
            f":next_seq, :state, :base_state, :created_at, :updated_at){self.returning_id}"
        )

    @functools.cached_property
    def insert_missing_session(self) -> TextClause:
        """Insert the session row unless one exists, never failing on a concurrent creator."""
        columns, values = (
            self._new_session_columns,
            (
                "(:key_hash, :app_hash, :user_hash, :app_name, :user_id, :session_id, :revision, "
                ":next_seq, :state, :base_state, :created_at, :updated_at)"
            ),
        )
        if self.mysql:
            return sa.text(
                f"INSERT INTO {self.sessions} {columns} VALUES {values} "
                "ON DUPLICATE KEY UPDATE id = id"
            )
        return sa.text(
            f"INSERT INTO {self.sessions} {columns} VALUES {values} "
            "ON CONFLICT (key_hash) DO NOTHING"
        )

    @functools.cache  # noqa: B019
    def update_session(self, with_state: bool, with_base: bool) -> TextClause:
        state = ", state = :state" if with_state else ""
        state += ", base_state = :base_state" if with_base else ""
        return sa.text(
            f"UPDATE {self.sessions} SET revision = :revision, next_seq = :next_seq, "
            f"updated_at = :updated_at{state} WHERE id = :session_pk"
        )

    @functools.cached_property
    def bump_session(self) -> TextClause:
        return sa.text(
            f"UPDATE {self.sessions} SET revision = revision + 1, updated_at = :updated_at "
            "WHERE id = :session_pk"
        )

    @functools.cached_property
    def session_head(self) -> TextClause:
        """``revision, next_seq, state, base_state``, unlocked (a compare-and-set reads it)."""
        return sa.text(
            f"SELECT revision, next_seq, state, base_state FROM {self.sessions} "
            "WHERE key_hash = :key_hash"
        )

    @functools.cached_property
    def delete_session(self) -> TextClause:
        return sa.text(f"DELETE FROM {self.sessions} WHERE id = :session_pk")

    # -- events -----------------------------------------------------------------------

    @functools.cached_property
    def insert_event(self) -> TextClause:
        return sa.text(
            f"INSERT INTO {self.events} (session_pk, seq, ts, data, delta) "
            "VALUES (:session_pk, :seq, :timestamp, :data, :delta)"
        )

    @functools.cached_property
    def delete_events(self) -> TextClause:
        return sa.text(f"DELETE FROM {self.events} WHERE session_pk = :session_pk")

    @functools.cached_property
    def delete_events_from(self) -> TextClause:
        """Truncation: the events with ``seq >= :from_seq``."""
        return sa.text(
            f"DELETE FROM {self.events} WHERE session_pk = :session_pk AND seq >= :from_seq"
        )

    @functools.cached_property
    def pop_newest(self) -> TextClause:
        """Delete the newest event of session ``:session_pk`` returning its data (one statement)."""
        if self.mysql:
            return sa.text(
                f"DELETE FROM {self.events} WHERE session_pk = :session_pk "
                "ORDER BY seq DESC LIMIT 1 RETURNING data"
            )
        return sa.text(
            f"DELETE FROM {self.events} WHERE session_pk = :session_pk AND seq = "
            f"(SELECT MAX(seq) FROM {self.events} WHERE session_pk = :session_pk) RETURNING data"
        )

    @functools.cached_property
    def newest_event(self) -> TextClause:
        return sa.text(
            f"SELECT seq, data FROM {self.events} WHERE session_pk = :session_pk "
            "ORDER BY seq DESC LIMIT 1"
        )

    @functools.cached_property
    def delete_event(self) -> TextClause:
        return sa.text(f"DELETE FROM {self.events} WHERE session_pk = :session_pk AND seq = :seq")

    # -- PostgreSQL one-statement writes ----------------------------------------------

    @functools.cache  # noqa: B019
    def write_postgresql(
        self, event: bool, state: bool, base: bool, compare: bool, app: bool, user: bool
    ) -> TextClause:
        """PostgreSQL: append_event / update_state as ONE statement.

        A conditional ``UPDATE`` of the session row (``revision =
        :expected_revision`` when ``compare``) feeds the event ``INSERT`` and
        the scope upserts through data-modifying ``WITH`` clauses, so when the
        condition fails nothing at all is written. Returns ``(seq, revision)``,
        or no row when the session is missing or at another revision.
        """
        sets = "revision = revision + 1, next_seq = next_seq + :added, updated_at = :updated_at"
        sets += ", state = :state" if state else ""
        sets += ", base_state = :base_state" if base else ""
        where = "key_hash = :key_hash" + (" AND revision = :expected_revision" if compare else "")
        parts = [
            f"updated AS (UPDATE {self.sessions} SET {sets} WHERE {where} "
            "RETURNING id, next_seq - :added AS seq, revision)"
        ]
        if event:
            parts.append(
                f"appended AS (INSERT INTO {self.events} (session_pk, seq, ts, data, delta) "
                "SELECT id, seq, CAST(:timestamp AS DOUBLE PRECISION), CAST(:data AS TEXT), "
                "CAST(:delta AS TEXT) FROM updated)"
            )
        if app:
            parts.append(
                f"app_keys AS ({self._scope_upsert_postgresql(user=False, gate='updated')})"
            )
        if user:
            parts.append(
                f"user_keys AS ({self._scope_upsert_postgresql(user=True, gate='updated')})"
            )
        return sa.text("WITH " + ", ".join(parts) + " SELECT seq, revision FROM updated")

    def _scope_upsert_postgresql(self, *, user: bool, gate: str | None) -> str:
        """Upsert every key of one scope from array parameters (``:app_name_hashes`` ...),
        only if the ``gate`` clause returned a row."""
        kind = "user" if user else "app"
        table = self.user_state if user else self.app_state
        key = "user_hash" if user else "app_hash"
        owner = ["app_hash", "app_name", "user_id"] if user else ["app_name"]
        owner_values = ", ".join(f"CAST(:{column} AS TEXT)" for column in owner)
        source = f" FROM {gate}," if gate else " FROM"
        updates = ", ".join(f"{column} = excluded.{column}" for column in ["value", *owner])
        return (
            f"INSERT INTO {table} ({key}, name_hash, name, value, {', '.join(owner)}) "
            f"SELECT CAST(:{key} AS TEXT), item.name_hash, item.name, item.value, "
            f"{owner_values}{source} unnest(CAST(:{kind}_name_hashes AS TEXT[]), "
            f"CAST(:{kind}_names AS TEXT[]), CAST(:{kind}_values AS TEXT[])) "
            "AS item(name_hash, name, value) "
            f"ON CONFLICT ({key}, name_hash) DO UPDATE SET {updates}"
        )

    @functools.cache  # noqa: B019
    def update_scope_postgresql(self, user: bool) -> TextClause:
        """PostgreSQL: merge keys into the app or a user scope in one statement."""
        return sa.text(self._scope_upsert_postgresql(user=user, gate=None))

    # -- add_items: create or bump the session, reserving numbers ---------------------

    @property
    def _new_session_columns(self) -> str:
        return (
            "(key_hash, app_hash, user_hash, app_name, user_id, session_id, revision, "
            "next_seq, state, base_state, created_at, updated_at)"
        )

    @property
    def _new_session_values(self) -> str:
        return (
            "(:key_hash, :app_hash, :user_hash, :app_name, :user_id, :session_id, 1, "
            ":count + 1, '{}', '{}', :created_at, :updated_at)"
        )

    @functools.cached_property
    def reserve_seqs(self) -> TextClause:
        """Create the session (revision 1) or bump it, reserving ``:count`` sequence numbers.

        PostgreSQL/SQLite return ``(id, first_seq, revision)``; on MySQL the
        upsert holds the row lock and :meth:`insert_items_mysql` reads the rest.
        """
        columns, values = self._new_session_columns, self._new_session_values
        if self.mysql:
            return sa.text(
                f"INSERT INTO {self.sessions} {columns} VALUES {values} ON DUPLICATE KEY UPDATE "
                "revision = revision + 1, next_seq = next_seq + :count, "
                "updated_at = :updated_at"
            )
        return sa.text(
            f"INSERT INTO {self.sessions} AS s {columns} VALUES {values} ON CONFLICT (key_hash) "
            "DO UPDATE SET revision = s.revision + 1, next_seq = s.next_seq + :count, "
            "updated_at = :updated_at RETURNING id, next_seq - :count, revision"
        )

    @functools.cached_property
    def add_items_postgresql(self) -> TextClause:
        """PostgreSQL: :attr:`reserve_seqs` and the insert of every item in ONE statement.

        ``:datas`` and ``:timestamps`` are arrays numbered by ``WITH ORDINALITY``;
        returns ``(first_seq, revision)``.
        """
        return sa.text(
            f"WITH reserved AS (INSERT INTO {self.sessions} AS s {self._new_session_columns} "
            f"VALUES {self._new_session_values} ON CONFLICT (key_hash) DO UPDATE SET "
            "revision = s.revision + 1, next_seq = s.next_seq + :count, "
            "updated_at = :updated_at RETURNING id, next_seq - :count AS first_seq, revision), "
            f"inserted AS (INSERT INTO {self.events} (session_pk, seq, ts, data) "
            "SELECT reserved.id, reserved.first_seq + item.ordinal - 1, item.ts, item.data "
            "FROM reserved, unnest(CAST(:datas AS TEXT[]), "
            "CAST(:timestamps AS DOUBLE PRECISION[])) WITH ORDINALITY AS item(data, ts, ordinal)) "
            "SELECT first_seq, revision FROM reserved"
        )

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one text per batch size
    def insert_items_mysql(self, count: int) -> TextClause:
        """MySQL: insert ``count`` items (``:data_0``, ``:timestamp_0``...) after
        :attr:`reserve_seqs`, then read ``(first_seq, revision)``, in one round trip.

        The session's id and the numbers just reserved are read by the insert
        itself, under the row lock the upsert holds.
        """
        items = " UNION ALL ".join(
            f"SELECT {index} AS ordinal, :data_{index} AS data, :timestamp_{index} AS ts"
            for index in range(count)
        )
        return sa.text(
            f"INSERT INTO {self.events} (session_pk, seq, ts, data) "
            "SELECT s.id, s.next_seq - :count + item.ordinal, item.ts, item.data "
            f"FROM {self.sessions} s JOIN ({items}) item WHERE s.key_hash = :key_hash; "
            f"SELECT next_seq - :count, revision FROM {self.sessions} WHERE key_hash = :key_hash"
        )

    # -- scopes --------------------------------------------------------------------------

    def _upsert(self, table: str, key: str, owner: list[str]) -> TextClause:
        columns = [key, "name_hash", "name", "value", *owner]
        insert = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + column for column in columns)})"
        )
        updated = ["value", *owner]
        if self.mysql:
            sets = ", ".join(f"{column} = VALUES({column})" for column in updated)
            return sa.text(f"{insert} ON DUPLICATE KEY UPDATE {sets}")
        sets = ", ".join(f"{column} = excluded.{column}" for column in updated)
        return sa.text(f"{insert} ON CONFLICT ({key}, name_hash) DO UPDATE SET {sets}")

    @functools.cached_property
    def upsert_app(self) -> TextClause:
        return self._upsert(self.app_state, "app_hash", ["app_name"])

    @functools.cached_property
    def upsert_user(self) -> TextClause:
        return self._upsert(self.user_state, "user_hash", ["app_hash", "app_name", "user_id"])

    # -- fork ------------------------------------------------------------------------------

    @functools.cache  # noqa: B019
    def newest_seq(self, up_to: bool) -> TextClause:
        """The highest seq of session ``:session_pk`` (at most ``:up_to``), NULL if none."""
        where = " AND seq <= :up_to" if up_to else ""
        return sa.text(f"SELECT MAX(seq) FROM {self.events} WHERE session_pk = :session_pk{where}")

    @functools.cached_property
    def recorded_deltas(self) -> TextClause:
        """The recorded deltas of the events up to ``:up_to``, in order (fork at an event)."""
        return sa.text(
            f"SELECT delta FROM {self.events} WHERE session_pk = :session_pk "
            "AND seq <= :up_to AND delta IS NOT NULL ORDER BY seq"
        )

    @functools.cache  # noqa: B019
    def copy_events(self, up_to: bool) -> TextClause:
        """Copy the events of ``:source_pk`` (up to ``:up_to``) to ``:target_pk``, on the server."""
        where = " AND seq <= :up_to" if up_to else ""
        target = "CAST(:target_pk AS BIGINT)" if self.postgresql else ":target_pk"
        return sa.text(
            f"INSERT INTO {self.events} (session_pk, seq, ts, data, delta) "
            f"SELECT {target}, seq, ts, data, delta FROM {self.events} "
            f"WHERE session_pk = :source_pk{where}"
        )

    # -- erase, purge ------------------------------------------------------------------

    @staticmethod
    def _owner(by_user: bool) -> str:
        return "user_hash = :user_hash" if by_user else "app_hash = :app_hash"

    @functools.cache  # noqa: B019
    def erase_postgresql(self, by_user: bool) -> TextClause:
        """PostgreSQL: every session, its events and the scope(s) of a user or an app, in
        one statement (run in a REPEATABLE READ transaction); returns the sessions deleted."""
        owner = self._owner(by_user)
        parts = [
            f"doomed AS (DELETE FROM {self.sessions} WHERE {owner} RETURNING id)",
            f"gone_events AS (DELETE FROM {self.events} "
            "WHERE session_pk IN (SELECT id FROM doomed))",
        ]
        if by_user:
            parts.append(
                f"gone_users AS (DELETE FROM {self.user_state} WHERE user_hash = :user_hash)"
            )
        else:
            parts.append(
                f"gone_users AS (DELETE FROM {self.user_state} WHERE app_hash = :app_hash)"
            )
            parts.append(f"gone_app AS (DELETE FROM {self.app_state} WHERE app_hash = :app_hash)")
        return sa.text("WITH " + ", ".join(parts) + " SELECT COUNT(*) FROM doomed")

    @functools.cache  # noqa: B019
    def lock_owned_sessions(self, by_user: bool) -> TextClause:
        """MySQL: lock a user's or an app's sessions and the index gap after them, so no
        session of theirs can be created or written until the erase commits."""
        return sa.text(
            f"SELECT COUNT(*) FROM {self.sessions} WHERE {self._owner(by_user)} FOR UPDATE"
        )

    @functools.cache  # noqa: B019
    def delete_owned_events(self, by_user: bool) -> TextClause:
        return sa.text(
            f"DELETE FROM {self.events} WHERE session_pk IN "
            f"(SELECT id FROM {self.sessions} WHERE {self._owner(by_user)})"
        )

    @functools.cache  # noqa: B019
    def delete_owned_sessions(self, by_user: bool) -> TextClause:
        return sa.text(f"DELETE FROM {self.sessions} WHERE {self._owner(by_user)}")

    @functools.cache  # noqa: B019
    def delete_user_scopes(self, by_user: bool) -> TextClause:
        """The user scope of one user, or every user scope of the app."""
        return sa.text(f"DELETE FROM {self.user_state} WHERE {self._owner(by_user)}")

    @functools.cached_property
    def delete_app_scope(self) -> TextClause:
        return sa.text(f"DELETE FROM {self.app_state} WHERE app_hash = :app_hash")

    @functools.cached_property
    def delete_idle_sessions(self) -> TextClause:
        """Delete the sessions among ``:key_hashes`` still idle (``updated_at < :cutoff``),
        returning their ids; the row lock and the condition are one atomic step."""
        if self.postgresql:
            return sa.text(
                f"DELETE FROM {self.sessions} WHERE key_hash = ANY(CAST(:key_hashes AS TEXT[])) "
                "AND updated_at < :cutoff RETURNING id"
            )
        return _text(
            f"DELETE FROM {self.sessions} WHERE key_hash IN :key_hashes "
            "AND updated_at < :cutoff RETURNING id",
            "key_hashes",
        )

    @functools.cached_property
    def lock_idle_sessions(self) -> TextClause:
        """MySQL without DELETE ... RETURNING: lock the still idle sessions, read their ids."""
        return _text(
            f"SELECT id FROM {self.sessions} WHERE key_hash IN :key_hashes "
            f"AND updated_at < :cutoff{self.for_update}",
            "key_hashes",
        )

    @functools.cached_property
    def delete_sessions_by_id(self) -> TextClause:
        return _text(f"DELETE FROM {self.sessions} WHERE id IN :session_pks", "session_pks")

    @functools.cached_property
    def delete_events_of(self) -> TextClause:
        """The events of several sessions (by id)."""
        if self.postgresql:
            return sa.text(
                f"DELETE FROM {self.events} WHERE session_pk = ANY(CAST(:session_pks AS BIGINT[]))"
            )
        return _text(f"DELETE FROM {self.events} WHERE session_pk IN :session_pks", "session_pks")
