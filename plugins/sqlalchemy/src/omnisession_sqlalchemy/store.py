"""``SQLStore``: the omnisession contract on SQLite, PostgreSQL and MySQL/MariaDB.

Each contract operation is written here once, as a function of an
:class:`~omnisession_sqlalchemy.executor.Executor`, with the statements of
:mod:`omnisession_sqlalchemy.sql`; :mod:`omnisession_sqlalchemy.transactions`
runs it as one transaction on a connection of the running event loop's engine
(:mod:`omnisession_sqlalchemy.engines`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import (
    Mapping,
    Sequence,
)
from typing import Any, TypeVar

from omnisession.backend import (
    ValidatingStore,
    decode_cursor,
    dumps,
    encode_cursor,
    loads,
    loads_all,
)
from omnisession.errors import (
    AlreadyExists,
    SessionNotFound,
    StaleSession,
)
from omnisession.model import (
    Appended,
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    now,
)
from omnisession.store import Capability
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from .engines import LoopEngines
from .executor import Executor
from .schema import Tables, make_tables
from .transactions import Database
from .urls import EngineSpec, engine_url

__all__ = ["SQLStore", "open_sql_store"]

T = TypeVar("T")

_CAS_ROUNDS = 16
_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}


@functools.lru_cache(maxsize=4096)  # the same few keys are hashed on every call
def _digest(*parts: str) -> str:
    return hashlib.sha256(_storable(dumps(list(parts))).encode("utf-8")).hexdigest()


def _storable(text: str) -> str:
    """JSON text every driver can send: lone surrogates escaped as ``\\udxxx``.

    The core encoder keeps non-ASCII characters as they are; a string with a
    lone surrogate is valid JSON data but not valid UTF-8, so it is re-encoded
    with escapes, which decode back to the very same string.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(loads(text), ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text


def _scope_rows(scope_hash: str, values: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name, value in values.items():
        name_text = _storable(dumps(name))
        rows.append(
            {
                "scope": scope_hash,
                "nh": hashlib.sha256(name_text.encode("utf-8")).hexdigest(),
                "name": name_text,
                "value": _storable(dumps(value)),
            }
        )
    # A fixed lock order, so two writers of the same keys cannot deadlock.
    rows.sort(key=lambda row: row["nh"])
    return rows


class SQLStore(ValidatingStore):
    """The omnisession store on a SQL database through a SQLAlchemy async engine.

    ``SQLStore("postgresql://user@host/db")`` (or any URL :func:`open_sql_store`
    takes), or ``SQLStore(engine)`` with an ``AsyncEngine`` you created: the
    store then uses that engine on the first event loop that calls it and
    engines of its own (same URL) on other loops, and leaves disposing yours
    to you. ``options`` are those of :data:`omnisession_sqlalchemy.urls.STORE_OPTIONS`.

    Nothing is connected until the first call, which also creates the tables
    if they are missing (safe when several processes start at once) and
    refuses a database whose schema is newer than this code
    (``IncompatibleSchema``). Arguments are checked by :class:`ValidatingStore`
    before any connection is touched; the methods here are its hooks.
    """

    capabilities = frozenset(
        {
            Capability.BASE,
            Capability.PERSISTENT,
            Capability.CROSS_PROCESS,
            Capability.LARGE_ENTRIES,
        }
    )

    def __init__(self, engine: AsyncEngine | str | URL, **options: Any) -> None:
        self._given: AsyncEngine | None = None
        if isinstance(engine, AsyncEngine):
            self._given = engine
            url = engine.url
            if url.get_backend_name() == "mariadb":
                url = url.set(drivername="mysql+" + (url.get_driver_name() or "asyncmy"))
            self._spec: EngineSpec = engine_url(url, **options)
        else:
            self._spec = engine_url(engine, **options)
        opts = self._spec.options
        synchronous = str(opts.get("synchronous", "NORMAL")).upper()
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(
                f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}"
            )
        self._tables: Tables = make_tables(
            str(opts.get("table_prefix", "omnisession_")), opts.get("schema")
        )
        self._family = self._spec.family
        self._engines = LoopEngines(self._spec, self._given, synchronous, repr(self))
        self._db = Database(self._spec, self._tables, self._engines)
        self._run = self._db.run

    def __repr__(self) -> str:
        return f"SQLStore({self._spec.url.render_as_string(hide_password=True)!r})"

    async def aclose(self) -> None:
        """Dispose every engine the store created; the store is unusable afterwards."""
        await self._engines.aclose()

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _ids(key: SessionKey) -> dict[str, str]:
        return {
            "h": _digest(key.app_name, key.user_id, key.session_id),
            "ah": _digest(key.app_name),
            "uh": _digest(key.app_name, key.user_id),
        }

    @staticmethod
    async def _write_scopes(x: Executor, ids: Mapping[str, str], delta: StateDelta) -> None:
        if delta.app:
            await x.many(x.sql.upsert_app, _scope_rows(ids["ah"], delta.app))
        if delta.user:
            await x.many(x.sql.upsert_user, _scope_rows(ids["uh"], delta.user))

    @staticmethod
    def _scope_dict(rows: Sequence[tuple[Any, ...]]) -> JSONObject:
        return {loads(name): loads(value) for name, value in rows}

    # -- reads ----------------------------------------------------------------

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        """One statement: the session row, both scopes and the wanted events."""
        params: dict[str, Any] = self._ids(key)
        if last:
            params["last"] = last
        if since is not None:
            params["since"] = since

        async def op(x: Executor) -> list[tuple[Any, ...]]:
            return await x.all(x.sql.get_session(last != 0, bool(last), since is not None), params)

        rows = await self._run(op, write=False)
        session: tuple[Any, ...] | None = None
        app: JSONObject = {}
        user: JSONObject = {}
        events: list[Event] = []
        for kind, n, f1, f2, body, name in rows:
            if kind == 0:
                session = (n, f1, f2, body)
            elif kind == 1:
                app[loads(name)] = loads(body)
            elif kind == 2:
                user[loads(name)] = loads(body)
            elif since is None or f1 >= since:
                events.append(Event(int(n), float(f1), loads(body)))
        if session is None:
            return None
        events.sort(key=lambda item: item.seq)
        revision, created_at, updated_at, state = session
        return SessionRecord(
            key=key,
            state=merge_state(loads(state), app, user),
            events=events,
            created_at=float(created_at),
            updated_at=float(updated_at),
            revision=int(revision),
        )

    async def _list_sessions(
        self, app_name: str, user_id: str | None, size: int, cursor: str | None
    ) -> Page:
        """Sessions of an app (or one user), oldest ``updated_at`` first, by index range."""
        params: dict[str, Any] = {"ah": _digest(app_name), "n": size + 1}
        if user_id is not None:
            params["uh"] = _digest(app_name, user_id)
        if cursor:
            updated, row_id = decode_cursor(cursor, 2)
            if not isinstance(updated, int | float) or not isinstance(row_id, int):
                raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")
            params["cu"], params["ci"] = float(updated), row_id

        Rows = list[tuple[Any, ...]]

        async def op(x: Executor) -> tuple[Rows, JSONObject, dict[str, JSONObject]]:
            rows = await x.all(x.sql.list_sessions(user_id is not None, bool(cursor)), params)
            if not rows:
                return rows, {}, {}
            app = self._scope_dict(await x.all(x.sql.app_scope, params))
            # columns: id, app_name, user_id, session_id, revision, state, created, updated
            user_hashes = sorted({_digest(app_name, row[2]) for row in rows[:size]})
            users: dict[str, JSONObject] = {}
            for user_hash, name, value in await x.all(x.sql.user_scopes, {"uhs": user_hashes}):
                users.setdefault(user_hash, {})[loads(name)] = loads(value)
            return rows, app, users

        rows, app, users = await self._run(op, write=False)
        records = [
            SessionRecord(
                key=SessionKey(row_app, row_user, row_session),
                state=merge_state(loads(state), app, users.get(_digest(app_name, row_user), {})),
                events=[],
                created_at=float(created_at),
                updated_at=float(updated_at),
                revision=int(revision),
            )
            for _, row_app, row_user, row_session, revision, state, created_at, updated_at in rows[
                :size
            ]
        ]
        next_cursor = None
        if len(rows) > size:
            last_row = rows[size - 1]
            next_cursor = encode_cursor(float(last_row[7]), int(last_row[0]))
        return Page(records, next_cursor)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        """One statement: an index range scan of the newest ``limit`` events."""
        params: dict[str, Any] = {"h": _digest(key.app_name, key.user_id, key.session_id)}
        if limit is not None:
            params["n"] = limit

        async def op(x: Executor) -> list[tuple[Any, ...]]:
            return await x.all(x.sql.get_items(limit is not None), params)

        rows = await self._run(op, write=False)
        if limit is not None:
            rows.reverse()
        return loads_all([row[0] for row in rows])

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        params = {"uh": _digest(app_name, user_id)}

        async def op(x: Executor) -> JSONObject:
            return self._scope_dict(await x.all(x.sql.user_scope, params))

        return await self._run(op, write=False)

    async def _get_app_state(self, app_name: str) -> JSONObject:
        params = {"ah": _digest(app_name)}

        async def op(x: Executor) -> JSONObject:
            return self._scope_dict(await x.all(x.sql.app_scope, params))

        return await self._run(op, write=False)

    # -- writes ---------------------------------------------------------------

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        """INSERT the row (a duplicate key is ``AlreadyExists``), upsert scopes, read them."""
        session_state = _storable(dumps(delta.session))
        ids = self._ids(key)

        async def op(x: Executor) -> tuple[float, list[tuple[Any, ...]]]:
            stamp = now()
            try:
                await x.run(
                    x.sql.create_session,
                    {
                        **ids,
                        "app": key.app_name,
                        "user": key.user_id,
                        "sid": key.session_id,
                        "state": session_state,
                        "now": stamp,
                    },
                )
            except self._db.integrity_errors as exc:
                raise AlreadyExists(key) from exc
            await self._write_scopes(x, ids, delta)
            return stamp, await x.all(x.sql.both_scopes, ids)

        stamp, scopes = await self._run(op)
        app = {loads(name): loads(value) for kind, name, value in scopes if kind == 1}
        user = {loads(name): loads(value) for kind, name, value in scopes if kind == 2}
        return SessionRecord(
            key=key,
            state=merge_state(loads(session_state), app, user),
            events=[],
            created_at=stamp,
            updated_at=stamp,
            revision=1,
        )

    async def _delete_session(self, key: SessionKey) -> None:
        """Lock the row, delete its events and it; app and user state stay."""
        ids = self._ids(key)

        async def op(x: Executor) -> None:
            row = await x.first(x.sql.lock_session(False), ids)
            if row is None:
                return
            await x.run(x.sql.delete_events, {"id": row[0]})
            await x.run(x.sql.delete_session, {"id": row[0]})

        await self._run(op)

    async def _apply(
        self,
        key: SessionKey,
        delta: StateDelta,
        expected_revision: int | None,
        event: tuple[float, str] | None,
    ) -> tuple[int, int]:
        """The shared write of append_event and update_state: ``(seq, revision)``.

        Statements: lock the session row; update it (revision, next_seq,
        merged session state); insert the event; upsert each touched scope.
        """
        ids = self._ids(key)
        with_state = bool(delta.session)
        if self._family == "postgresql":
            done = await self._apply_pg(key, ids, delta, expected_revision, event)
            if done is not None:
                return done

        async def op(x: Executor) -> tuple[int, int]:
            row = await x.first(x.sql.lock_session(with_state), ids)
            if row is None:
                raise SessionNotFound(key)
            session_pk, current, next_seq = row[0], int(row[1]), int(row[2])
            if expected_revision is not None and expected_revision != current:
                raise StaleSession(key, expected_revision, current)
            params: dict[str, Any] = {
                "id": session_pk,
                "rev": current + 1,
                "ns": next_seq + 1 if event else next_seq,
                "now": now(),
            }
            if with_state:
                merged = loads(row[3])
                merged.update(delta.session)
                params["state"] = _storable(dumps(merged))
            await x.run(x.sql.update_session(with_state), params)
            if event is not None:
                await x.run(
                    x.sql.insert_event,
                    {"sid": session_pk, "seq": next_seq, "ts": event[0], "data": event[1]},
                )
            await self._write_scopes(x, ids, delta)
            return next_seq, current + 1

        return await self._run(op)

    async def _apply_pg(
        self,
        key: SessionKey,
        ids: Mapping[str, str],
        delta: StateDelta,
        expected_revision: int | None,
        event: tuple[float, str] | None,
    ) -> tuple[int, int] | None:
        """PostgreSQL: the write of :meth:`_apply` as ONE compare-and-set statement.

        Without session state to merge, the statement is conditional on
        ``expected_revision`` (if any) and is the whole write. With session
        state, the state is read first and the statement is conditional on the
        revision read; if another writer got in between, it is read again.
        ``None`` after too many such rounds: the caller then takes the row lock.
        """
        params: dict[str, Any] = {"h": ids["h"], "now": now(), "inc": 1 if event else 0}
        if event is not None:
            params["ts"], params["data"] = event
        for name, scope, values in (("a", "ah", delta.app), ("u", "uh", delta.user)):
            rows = _scope_rows(ids[scope], values)
            if rows:
                params[scope] = ids[scope]
                params[f"{name}_nh"] = [row["nh"] for row in rows]
                params[f"{name}_name"] = [row["name"] for row in rows]
                params[f"{name}_value"] = [row["value"] for row in rows]
        with_state = bool(delta.session)
        cas = with_state or expected_revision is not None

        async def read(x: Executor) -> tuple[Any, ...] | None:
            return await x.first(x.sql.session_head, params)

        async def write(x: Executor) -> tuple[Any, ...] | None:
            stmt = x.sql.apply_pg(
                event is not None, with_state, cas, bool(delta.app), bool(delta.user)
            )
            return await x.first(stmt, params)

        for _ in range(_CAS_ROUNDS):
            if expected_revision is not None:
                params["exp"] = expected_revision
            if with_state:
                head = await self._run(read, write=False)
                if head is None:
                    raise SessionNotFound(key)
                if expected_revision is not None and int(head[0]) != expected_revision:
                    raise StaleSession(key, expected_revision, int(head[0]))
                params["exp"] = int(head[0])
                merged = loads(head[1])
                merged.update(delta.session)
                params["state"] = _storable(dumps(merged))
            done = await self._run(write, single=True)
            if done is not None:
                return int(done[0]), int(done[1])
            head = await self._run(read, write=False)
            if head is None:
                raise SessionNotFound(key)
            if expected_revision is not None:
                raise StaleSession(key, expected_revision, int(head[0]))
        return None

    async def _append_event(
        self,
        key: SessionKey,
        entry: str,
        delta: StateDelta,
        timestamp: float,
        expected_revision: int | None,
    ) -> Appended:
        """One transaction: the event, the revision and every scope of ``delta``."""
        event = (timestamp, _storable(entry))
        seq, revision = await self._apply(key, delta, expected_revision, event)
        return Appended(seq=seq, revision=revision, timestamp=timestamp)

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        """One transaction: every scope of ``delta`` and the revision, no event."""
        _, revision = await self._apply(key, delta, expected_revision, None)
        return revision

    async def _add_items(self, key: SessionKey, entries: list[str]) -> None:
        """One transaction: an upsert that creates or bumps the session, reserving
        ``len(items)`` sequence numbers, then one multi-row insert of the items.

        On PostgreSQL both are one statement; on MySQL the insert reads the
        reserved numbers itself (see :meth:`Statements.add_items_mysql`).
        Concurrent first writes all succeed: the upsert never fails on an
        existing row, and it holds the session row lock until commit.
        """
        texts = [_storable(text) for text in entries]
        ids = self._ids(key)
        count = len(texts)

        async def op(x: Executor) -> None:
            stamp = now()
            params = {
                **ids,
                "app": key.app_name,
                "user": key.user_id,
                "sid": key.session_id,
                "n": count,
                "now": stamp,
            }
            if x.sql.f.family == "postgresql":
                await x.run(x.sql.add_items_pg, {**params, "ts": stamp, "datas": texts})
                return
            if x.sql.f.family == "mysql":
                await x.run(x.sql.reserve_seqs, params)
                items = {f"d{index}": text for index, text in enumerate(texts)}
                await x.run(x.sql.add_items_mysql(count), {**params, **items})
                return
            if x.sql.f.returning:
                row = await x.first(x.sql.reserve_seqs, params)
            else:
                await x.run(x.sql.reserve_seqs, params)
                row = await x.first(x.sql.lock_session(False), ids)
            assert row is not None
            session_pk, first = row[0], int(row[-1]) - count
            await x.many(
                x.sql.insert_event,
                [
                    {"sid": session_pk, "seq": first + index, "ts": stamp, "data": text}
                    for index, text in enumerate(texts)
                ],
            )

        await self._run(op, single=self._family == "postgresql")

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        """Lock the session row, delete its newest event returning it, bump the revision.

        The row lock makes concurrent pops (any process) take turns, so each
        item is returned once and no pop comes back empty while items remain.
        """
        ids = self._ids(key)

        async def op(x: Executor) -> str | None:
            row = await x.first(x.sql.lock_session(False), ids)
            if row is None:
                return None
            session_pk = row[0]
            text: str | None
            if x.sql.f.delete_returning:
                popped = await x.first(x.sql.pop_newest, {"id": session_pk})
                text = None if popped is None else popped[0]
            else:
                newest = await x.first(x.sql.newest_event, {"id": session_pk})
                text = None if newest is None else newest[1]
                if newest is not None:
                    await x.run(x.sql.delete_event, {"id": session_pk, "seq": newest[0]})
            if text is not None:
                await x.run(x.sql.bump_by_id, {"id": session_pk, "now": now()})
            return text

        text = await self._run(op)
        if text is None:
            return None
        result: JSONObject = loads(text)
        return result

    async def _clear_session(self, key: SessionKey) -> None:
        """Bump the revision (locking the row), then delete every event."""
        params = {"h": _digest(key.app_name, key.user_id, key.session_id)}

        async def op(x: Executor) -> None:
            if await x.run(x.sql.bump_by_key, {**params, "now": now()}):
                await x.run(x.sql.delete_events_by_key, params)

        await self._run(op)


def open_sql_store(url: str, **options: Any) -> SQLStore:
    """Factory for ``sqlite://``, ``postgresql://``, ``mysql://``, ``mariadb://`` URLs.

    Connecting is lazy: this does no I/O.
    """
    return SQLStore(url, **options)
