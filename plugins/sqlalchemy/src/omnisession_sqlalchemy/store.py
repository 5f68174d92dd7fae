"""``SQLStore``: the omnisession contract on SQLite, PostgreSQL and MySQL/MariaDB.

:class:`SQLStore` implements the storage hooks of core's
:class:`~omnisession.backend.ValidatingStore`, which checks every argument
before any I/O. The reads are here, each one statement; the writes are in
:mod:`omnisession_sqlalchemy.writing` (the write primitive, pop, delete) and
:mod:`omnisession_sqlalchemy.lifecycle` (create, fork, purge, erase, scopes).
:mod:`omnisession_sqlalchemy.transactions` runs each as one transaction on a
connection of the running event loop's engine
(:mod:`omnisession_sqlalchemy.engines`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from omnisession.backend import (
    ValidatingStore,
    decode_cursor,
    dumps,
    encode_cursor,
    loads,
    loads_all,
)
from omnisession.model import (
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    now,
)
from omnisession.writes import Committed, Write
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import lifecycle, writing
from .engines import LoopEngines
from .executor import Executor, Row
from .ids import SessionIds, app_hash, user_hash
from .options import CAPABILITIES, OPTIONAL_CAPABILITIES, SQLITE
from .schema import Tables, make_tables
from .transactions import Access, Database
from .urls import EngineSpec, engine_spec_of, engine_url, require_driver

__all__ = ["SQLStore", "open_sql_store"]

_SESSION, _APP_KEY, _USER_KEY, _EVENT = 0, 1, 2, 3


def _scope(rows: Sequence[Row]) -> JSONObject:
    return {loads(name): loads(value) for name, value in rows}


#: The table of ADK's ``DatabaseSessionService`` and the columns that tell it is its.
_ADK_SESSIONS = "sessions"
_ADK_SESSION_COLUMNS = frozenset({"app_name", "user_id", "id", "state", "update_time"})


class SQLStore(ValidatingStore):
    """The omnisession store on a SQL database through a SQLAlchemy async engine.

    ``SQLStore("postgresql://user@host/db")`` (or any URL :func:`open_sql_store`
    takes), or ``SQLStore(engine)`` with an ``AsyncEngine`` you created: the
    store then uses that engine on the first event loop that calls it and
    engines of its own (same URL) on other loops, and leaves disposing yours
    to you. ``options`` are those of
    :data:`omnisession_sqlalchemy.options.OPTIONS`.

    Nothing is connected until the first call, which also creates the tables
    if they are missing, migrates those of an older version (both safe when
    several processes start at once) and refuses a database whose schema is
    newer than this code (``IncompatibleSchema``).
    """

    def __init__(self, engine: AsyncEngine | str | URL, **options: Any) -> None:
        given: AsyncEngine | None = None
        if isinstance(engine, AsyncEngine):
            given = engine
            self._spec: EngineSpec = engine_spec_of(engine.url, options)
        else:
            self._spec = engine_url(engine, **options)
            require_driver(self._spec)
        # every optional capability needs data that outlives the store: not sqlite://
        self.capabilities = CAPABILITIES
        if not self._spec.in_memory:
            self.capabilities = CAPABILITIES | frozenset(OPTIONAL_CAPABILITIES)
        self._tables: Tables = make_tables(
            self._spec.options.table_prefix, self._spec.options.schema
        )
        self._engines = LoopEngines(self._spec, given, repr(self))
        self._db = Database(self._spec, self._tables, self._engines)

    def __repr__(self) -> str:
        return f"SQLStore({self._spec.where!r})"

    async def aclose(self) -> None:
        """Dispose every engine the store created; the store is unusable afterwards."""
        await self._engines.aclose()

    # -- reads: one statement each ---------------------------------------------------------

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        """One statement: the session row, both scopes and the wanted events."""
        params: dict[str, Any] = SessionIds.of(key).lookup()
        if last:
            params["last"] = last
        if since is not None:
            params["since"] = since
        shape = (last != 0, bool(last), since is not None)

        async def operation(executor: Executor) -> list[Row]:
            return await executor.rows(executor.statements.get_session(*shape), params)

        session: Row | None = None
        app: JSONObject = {}
        user: JSONObject = {}
        newest: list[Row] = []
        for row in await self._db.run(operation, Access.READ):
            kind = row[0]
            if kind == _EVENT:
                if since is None or row[2] >= since:
                    newest.append(row)
            elif kind == _SESSION:
                session = row
            elif kind == _APP_KEY:
                app[loads(row[5])] = loads(row[4])
            else:
                user[loads(row[5])] = loads(row[4])
        if session is None:
            return None
        newest.sort(key=lambda row: int(row[1]))
        events = [
            Event(int(row[1]), float(row[2]), data, None if row[5] is None else loads(row[5]))
            for row, data in zip(newest, loads_all([row[4] for row in newest]), strict=True)
        ]
        _, revision, created_at, updated, state, base = session
        return SessionRecord(
            key=key,
            state=merge_state(loads(state), app, user),
            events=events,
            created_at=float(created_at),
            updated_at=float(updated),
            revision=int(revision),
            base_state=None if base is None else loads(base),
        )

    async def _get_events(
        self,
        key: SessionKey,
        after: int | None,
        before: int | None,
        limit: int,
        oldest_first: bool,
    ) -> list[Event]:
        """One statement: an index range scan of (session_pk, seq) between the bounds."""
        params: dict[str, Any] = {"key_hash": SessionIds.of(key).key_hash, "limit": limit}
        if after is not None:
            params["after_seq"] = after
        if before is not None:
            params["before_seq"] = before
        shape = (after is not None, before is not None, oldest_first)

        async def operation(executor: Executor) -> list[Row]:
            return await executor.rows(executor.statements.get_events(*shape), params)

        rows = await self._db.run(operation, Access.READ)
        if not oldest_first:
            rows.reverse()
        return [
            Event(int(seq), float(stamp), data, None if delta is None else loads(delta))
            for (seq, stamp, _, delta), data in zip(
                rows, loads_all([row[2] for row in rows]), strict=True
            )
        ]

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        """Sessions of an app (or one user), oldest ``updated_at`` first, by index range."""
        params: dict[str, Any] = {"app_hash": app_hash(app_name), "limit": page_size + 1}
        if user_id is not None:
            params["user_hash"] = user_hash(app_name, user_id)
        if cursor:
            params["after_updated_at"], params["after_id"] = decode_cursor(cursor, float, int)
        shape = (user_id is not None, bool(cursor))

        async def operation(executor: Executor) -> tuple[list[Row], list[Row], list[Row]]:
            statements = executor.statements
            rows = await executor.rows(statements.list_sessions(*shape), params)
            if not rows:
                return rows, [], []
            # columns: id, app_name, user_id, session_id, revision, state, created, updated
            users = sorted({user_hash(app_name, row[2]) for row in rows[:page_size]})
            return (
                rows,
                await executor.rows(statements.app_scope, params),
                await executor.rows(statements.user_scopes, {"user_hashes": users}),
            )

        rows, app_rows, user_rows = await self._db.run(operation, Access.READ)
        app = _scope(app_rows)
        users: dict[str, JSONObject] = {}
        for owner, name, value in user_rows:
            users.setdefault(owner, {})[loads(name)] = loads(value)
        records = [
            SessionRecord(
                key=SessionKey(row_app, row_user, row_session),
                state=merge_state(loads(state), app, users.get(user_hash(app_name, row_user), {})),
                events=[],
                created_at=float(created_at),
                updated_at=float(updated_at),
                revision=int(revision),
            )
            for _, row_app, row_user, row_session, revision, state, created_at, updated_at in rows[
                :page_size
            ]
        ]
        next_cursor = None
        if len(rows) > page_size:
            last_row = rows[page_size - 1]
            next_cursor = encode_cursor(float(last_row[7]), int(last_row[0]))
        return Page(records, next_cursor)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        """One statement: an index range scan of the newest ``limit`` events."""
        params: dict[str, Any] = {"key_hash": SessionIds.of(key).key_hash}
        if limit is not None:
            params["limit"] = limit

        async def operation(executor: Executor) -> list[Row]:
            return await executor.rows(executor.statements.get_items(limit is not None), params)

        rows = await self._db.run(operation, Access.READ)
        if limit is not None:
            rows.reverse()
        return loads_all([row[0] for row in rows])

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        params = {"user_hash": user_hash(app_name, user_id)}

        async def operation(executor: Executor) -> list[Row]:
            return await executor.rows(executor.statements.user_scope, params)

        return _scope(await self._db.run(operation, Access.READ))

    async def _get_app_state(self, app_name: str) -> JSONObject:
        params = {"app_hash": app_hash(app_name)}

        async def operation(executor: Executor) -> list[Row]:
            return await executor.rows(executor.statements.app_scope, params)

        return _scope(await self._db.run(operation, Access.READ))

    async def _list_apps(self) -> list[str]:
        return await lifecycle.list_apps(self._db)

    async def count_adk_sessions(self) -> int:
        """How many sessions Google ADK's own ``DatabaseSessionService`` keeps in this
        server database; 0 when its tables are not there.

        ``OmniSessionService`` asks before its first operation on a URL it opened, so
        a database ADK's service already used is not hidden behind new, empty
        omnisession tables (it stops with the command that copies them). ADK's
        service writes its ``sessions`` table where the URL's connection lands: the
        database (MySQL) or the default schema (PostgreSQL). A store given
        ``?schema=`` (a URL ADK could not have been given) or on SQLite (the service
        reads a SQLite file itself, before opening it) has nothing to check.
        """
        if self._spec.family == SQLITE or self._spec.options.schema:
            return 0

        async def count(connection: AsyncConnection) -> int:
            def adk_columns(sync: Connection) -> set[str]:
                inspector = sa.inspect(sync)
                if not inspector.has_table(_ADK_SESSIONS):
                    return set()
                return {column["name"] for column in inspector.get_columns(_ADK_SESSIONS)}

            if not await connection.run_sync(adk_columns) >= _ADK_SESSION_COLUMNS:
                return 0
            counted = await connection.exec_driver_sql(f"SELECT COUNT(*) FROM {_ADK_SESSIONS}")
            return int(counted.scalar_one())

        return await self._db.beside_the_schema(count)

    # -- writes --------------------------------------------------------------------------

    async def _write(self, write: Write) -> Committed:
        return await writing.write(self._db, write)

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        text = await writing.pop_item(self._db, key, now())
        if text is None:
            return None
        item: JSONObject = loads(text)
        return item

    async def _delete_session(self, key: SessionKey) -> None:
        await writing.delete_session(self._db, key)

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        stamp = now()
        scopes = await lifecycle.create_session(self._db, key, delta, stamp)
        state: JSONObject = loads(dumps(delta.session))  # the caller's values stay theirs
        return self._new_record(key, state, state, scopes, stamp)

    async def _fork_session(
        self, source: SessionKey, target: SessionKey, up_to: int | None
    ) -> SessionRecord:
        stamp = now()
        state, base, scopes = await lifecycle.fork_session(self._db, source, target, up_to, stamp)
        return self._new_record(
            target, loads(state), None if base is None else loads(base), scopes, stamp
        )

    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        return await lifecycle.delete_idle(self._db, keys, updated_before)

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        return await lifecycle.erase(self._db, app_name, user_id)

    async def _update_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        await lifecycle.update_scope(self._db, app_name, user_id, values)

    @staticmethod
    def _new_record(
        key: SessionKey,
        state: JSONObject,
        base: JSONObject | None,
        scopes: Sequence[Row],
        stamp: float,
    ) -> SessionRecord:
        """A session just created (revision 1, no events) with its scopes as read."""
        app = _scope([(name, value) for kind, name, value in scopes if kind == _APP_KEY])
        user = _scope([(name, value) for kind, name, value in scopes if kind == _USER_KEY])
        return SessionRecord(
            key=key,
            state=merge_state(state, app, user),
            events=[],
            created_at=stamp,
            updated_at=stamp,
            revision=1,
            base_state=None if base is None else dict(base),
        )


def open_sql_store(url: str, **options: Any) -> SQLStore:
    """Factory for ``sqlite://``, ``postgresql://``, ``mysql://``, ``mariadb://`` URLs.

    Connecting is lazy: this does no I/O. ``InvalidOption`` for an unknown or
    misspelt option, ``MissingDriver`` (an ``ImportError``) naming the extra to
    install when the URL's driver is missing.
    """
    return SQLStore(url, **options)
