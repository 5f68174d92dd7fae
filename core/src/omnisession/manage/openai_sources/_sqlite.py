"""``openai+sqlite:///FILE``: the OpenAI Agents SDK's ``SQLiteSession`` file, read-only.

Layout (``agents/memory/sqlite_session.py``; ``SQLAlchemySession`` creates the
same tables on SQLite)::

    agent_sessions (session_id TEXT PRIMARY KEY, created_at TIMESTAMP, updated_at TIMESTAMP)
    agent_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT,
                    message_data TEXT, created_at TIMESTAMP)     -- index (session_id, id)

Timestamps are SQLite's ``CURRENT_TIMESTAMP`` text (UTC, whole seconds).
Items are in ``id`` order, which is the SDK's order, and ``id`` is the seq.
The file is opened read-only (``mode=ro``) with the standard library's
``sqlite3`` in a worker thread; one connection per store, used by one thread
at a time.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from ...backend import decode_cursor, encode_cursor, parse_options
from ...errors import BackendRejected, BackendUnavailable
from . import SQLITE_OPTIONS
from ._base import KeyMapping, Row, SDKSource, SessionRow, check_table_name, posix_seconds

__all__ = ["SQLiteSessionSource", "open_sqlite_source"]

_T = TypeVar("_T")
_NO_LIMIT = -1  # SQLite's LIMIT -1


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteSessionSource(SDKSource):
    """The sessions of a ``SQLiteSession`` file, read-only."""

    def __init__(
        self,
        path: str,
        *,
        mapping: KeyMapping,
        sessions_table: str = "agent_sessions",
        messages_table: str = "agent_messages",
    ) -> None:
        super().__init__(mapping)
        self.path = path
        self.describe = f"the SQLiteSession file {path}"
        self._sessions = _quote(sessions_table)
        self._messages = _quote(messages_table)
        self._names = (sessions_table, messages_table)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    # -- the connection ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            if not os.path.isfile(self.path):
                raise BackendRejected(
                    f"{self.describe} does not exist; check the path "
                    "(openai+sqlite:///relative.db or openai+sqlite:////absolute/path.db)"
                )
            uri = "file:" + quote(os.path.abspath(self.path)) + "?mode=ro"
            self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        return self._connection

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        def locked() -> _T:
            with self._lock:
                try:
                    return work(self._connect())
                except sqlite3.Error as exc:
                    raise self._error(exc) from exc

        return await asyncio.to_thread(locked)

    def _error(self, exc: sqlite3.Error) -> Exception:
        """The one mapping from sqlite3 errors to omnisession's."""
        text = str(exc)
        lowered = text.lower()
        if "locked" in lowered or "busy" in lowered:
            return BackendUnavailable(
                f"{self.describe} is locked by another process ({text}); retry in a moment"
            )
        if "no such table" in lowered:
            sessions, messages = self._names
            return BackendRejected(
                f"{self.describe} has no table {text.split(':', 1)[-1].strip()} "
                f"(looked for {sessions!r} and {messages!r}): is it a SQLiteSession file? "
                "If the SDK was given other table names, pass them as "
                "?sessions_table=...&messages_table=..."
            )
        if "no such column" in lowered:
            return BackendRejected(
                f"{self.describe} does not have the SQLiteSession layout ({text}); "
                "check the table names (?sessions_table=...&messages_table=...)"
            )
        return BackendRejected(f"cannot read {self.describe}: {text}")

    async def aclose(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- engine reads ----------------------------------------------------------------------

    async def _head(self, session_id: str) -> SessionRow | None:
        sql = f"SELECT created_at, updated_at FROM {self._sessions} WHERE session_id = ?"
        found = await self._run(lambda c: c.execute(sql, (session_id,)).fetchone())
        if found is None:
            return None
        return _session_row(session_id, found[0], found[1])

    async def _rows(
        self,
        session_id: str,
        after: int | None,
        before: int | None,
        limit: int | None,
        newest: bool,
        since: float | None,
    ) -> list[Row]:
        where = ["session_id = ?"]
        params: list[Any] = [session_id]
        if after is not None:
            where.append("id > ?")
            params.append(after)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        if since is not None:
            where.append("created_at >= ?")
            params.append(_sql_time(since))
        order = "DESC" if newest else "ASC"
        params.append(_NO_LIMIT if limit is None else limit)
        sql = (
            f"SELECT id, created_at, message_data FROM {self._messages} "
            f"WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT ?"
        )
        found = await self._run(lambda c: c.execute(sql, params).fetchall())
        if newest:
            found.reverse()
        return [Row(seq, posix_seconds(stamp) or 0.0, text) for seq, stamp, text in found]

    async def _session_page(
        self, only: str | None, cursor: str | None, limit: int
    ) -> tuple[list[SessionRow], str | None]:
        updated = "COALESCE(CAST(updated_at AS TEXT), '')"
        where: list[str] = []
        params: list[Any] = []
        if only is not None:
            where.append("session_id = ?")
            params.append(only)
        if cursor is not None:
            last_updated, last_id = decode_cursor(cursor, str, str)
            where.append(f"({updated} > ? OR ({updated} = ? AND session_id > ?))")
            params.extend([last_updated, last_updated, last_id])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (
            f"SELECT session_id, created_at, updated_at, {updated} FROM {self._sessions} "
            f"{clause} ORDER BY {updated}, session_id LIMIT ?"
        )
        params.append(limit + 1)
        found = await self._run(lambda c: c.execute(sql, params).fetchall())
        rows = [
            _session_row(str(session_id), created, changed)
            for session_id, created, changed, _ in found[:limit]
        ]
        next_cursor = None
        if len(found) > limit:
            session_id, _, _, sort_text = found[limit - 1]
            next_cursor = encode_cursor(sort_text, str(session_id))
        return rows, next_cursor

    async def _any_session(self) -> bool:
        sql = f"SELECT 1 FROM {self._sessions} LIMIT 1"
        return await self._run(lambda c: c.execute(sql).fetchone()) is not None


def _session_row(session_id: str, created: Any, updated: Any) -> SessionRow:
    created_at = posix_seconds(created)
    updated_at = posix_seconds(updated)
    created_at = created_at if created_at is not None else (updated_at or 0.0)
    return SessionRow(session_id, created_at, updated_at if updated_at is not None else created_at)


def _sql_time(seconds: float) -> str:
    """``CURRENT_TIMESTAMP`` text of the first whole second at or after ``seconds``: an item
    stored at second ``s`` reads as ``s.0``, so it is at or after ``seconds`` iff ``s`` is."""
    return datetime.fromtimestamp(math.ceil(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S")


def open_sqlite_source(url: str, **options: Any) -> SQLiteSessionSource:
    """Factory for ``openai+sqlite:///relative.db`` and ``openai+sqlite:////abs/path.db``."""
    parsed = parse_options(SQLITE_OPTIONS, url, options, backend="openai+sqlite")
    _, _, rest = parsed.url.partition("://")
    path = rest[1:] if rest.startswith("/") else rest
    if not path:
        raise ValueError(
            f"{url!r} names no file; write openai+sqlite:///chat.db (relative) or "
            "openai+sqlite:////var/data/chat.db (absolute), as for sqlite://"
        )
    values = parsed.options
    return SQLiteSessionSource(
        path,
        mapping=KeyMapping(values["app"], values["user"]),
        sessions_table=check_table_name(
            values["sessions_table"], "sessions_table", "openai+sqlite"
        ),
        messages_table=check_table_name(
            values["messages_table"], "messages_table", "openai+sqlite"
        ),
    )
