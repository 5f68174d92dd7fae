"""``openai+postgresql://`` / ``openai+mysql://``: ``SQLAlchemySession`` tables, read-only.

Layout (``agents/extensions/memory/sqlalchemy_session.py``)::

    agent_sessions (session_id VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL,
                    updated_at TIMESTAMP NOT NULL)
    agent_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id VARCHAR NOT NULL,
                    message_data TEXT NOT NULL, created_at TIMESTAMP NOT NULL)

Timestamps are the server's ``CURRENT_TIMESTAMP`` in a column without time
zone, read as UTC. The SDK orders a session's items by ``(created_at, id)``;
this source reads them in ``id`` order, which is the same order unless the
database server's clock went backwards between two writes. ``id`` is the seq.
(A ``SQLAlchemySession`` on SQLite has the very same tables: read it with
``openai+sqlite:///FILE``.)
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from ...backend import decode_cursor, encode_cursor, parse_options
from ...errors import BackendRejected, BackendUnavailable, PluginLoadError
from . import SQL_OPTIONS
from ._base import KeyMapping, Row, SDKSource, SessionRow, check_table_name, posix_seconds

__all__ = ["SQLAlchemySessionSource", "open_sql_source"]

_T = TypeVar("_T")

#: scheme -> (SQLAlchemy dialect, default async driver, pip extra of omnisession-sqlalchemy)
_DIALECTS = {
    "openai+postgresql": ("postgresql", "asyncpg", "postgresql"),
    "openai+mysql": ("mysql", "asyncmy", "mysql"),
    "openai+mariadb": ("mariadb", "asyncmy", "mysql"),
}


class SQLAlchemySessionSource(SDKSource):
    """The sessions of ``SQLAlchemySession`` tables on a database server, read-only."""

    def __init__(
        self,
        url: str,
        *,
        mapping: KeyMapping,
        sessions_table: str = "agent_sessions",
        messages_table: str = "agent_messages",
        command_timeout: float = 15.0,
        shown: str | None = None,
    ) -> None:
        super().__init__(mapping)
        from sqlalchemy import TIMESTAMP, Column, Integer, MetaData, String, Table, Text

        self._url = url
        self.describe = (
            f"the SQLAlchemySession tables {sessions_table}/{messages_table} of {shown or url}"
        )
        self._timeout = command_timeout
        metadata = MetaData()
        self._sessions = Table(
            sessions_table,
            metadata,
            Column("session_id", String, primary_key=True),
            Column("created_at", TIMESTAMP(timezone=False)),
            Column("updated_at", TIMESTAMP(timezone=False)),
        )
        self._messages = Table(
            messages_table,
            metadata,
            Column("id", Integer, primary_key=True),
            Column("session_id", String),
            Column("message_data", Text),
            Column("created_at", TIMESTAMP(timezone=False)),
        )
        self._names = (sessions_table, messages_table)
        self._engines: dict[asyncio.AbstractEventLoop, Any] = {}

    # -- the engine ------------------------------------------------------------------------

    def _engine(self) -> Any:
        loop = asyncio.get_running_loop()
        engine = self._engines.get(loop)
        if engine is None:
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(self._url, pool_size=4, max_overflow=4)
            self._engines[loop] = engine
        return engine

    async def _run(self, statement: Any) -> list[Any]:
        async def execute() -> list[Any]:
            async with self._engine().connect() as connection:
                result = await connection.execute(statement)
                return list(result.all())

        return await self._bounded(execute)

    async def _bounded(self, work: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await asyncio.wait_for(work(), self._timeout)
        except TimeoutError as exc:
            raise BackendUnavailable(
                f"reading {self.describe} took longer than command_timeout={self._timeout:g}s: "
                "is the server up and reachable? (raise ?command_timeout=SECONDS if it is slow)"
            ) from exc
        except Exception as exc:
            mapped = self._error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _error(self, exc: BaseException) -> Exception | None:
        """The one mapping from SQLAlchemy / driver errors to omnisession's."""
        from sqlalchemy import exc as sa_exc

        if isinstance(exc, (OSError, ConnectionError)):
            return BackendUnavailable(f"cannot reach the server of {self.describe}: {exc}")
        if not isinstance(exc, sa_exc.DBAPIError):
            return None
        text = str(exc.orig) if exc.orig is not None else str(exc)
        lowered = text.lower()
        if exc.connection_invalidated or isinstance(exc.orig, (OSError, ConnectionError)):
            return BackendUnavailable(f"lost the connection reading {self.describe}: {text}")
        if "does not exist" in lowered or "doesn't exist" in lowered or "no such table" in lowered:
            sessions, messages = self._names
            return BackendRejected(
                f"cannot read {self.describe}: {text}. Check the database and the table names "
                f"(looked for {sessions!r} and {messages!r}; pass the SDK's own as "
                "?sessions_table=...&messages_table=...)"
            )
        if "password" in lowered or "authentication" in lowered or "access denied" in lowered:
            return BackendRejected(
                f"the server refused the credentials for {self.describe}: {text}"
            )
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return BackendUnavailable(f"reading {self.describe} failed: {text}")
        return BackendRejected(f"the server refused a read of {self.describe}: {text}")

    async def aclose(self) -> None:
        engines, self._engines = self._engines, {}
        current = asyncio.get_running_loop()
        for loop, engine in engines.items():
            if loop is current:
                await engine.dispose()

    # -- engine reads ------------------------------------------------------------------------

    async def _head(self, session_id: str) -> SessionRow | None:
        from sqlalchemy import select

        table = self._sessions
        rows = await self._run(
            select(table.c.created_at, table.c.updated_at).where(table.c.session_id == session_id)
        )
        if not rows:
            return None
        return _session_row(session_id, rows[0][0], rows[0][1])

    async def _rows(
        self,
        session_id: str,
        after: int | None,
        before: int | None,
        limit: int | None,
        newest: bool,
        since: float | None,
    ) -> list[Row]:
        from sqlalchemy import select

        table = self._messages
        query = select(table.c.id, table.c.created_at, table.c.message_data).where(
            table.c.session_id == session_id
        )
        if after is not None:
            query = query.where(table.c.id > after)
        if before is not None:
            query = query.where(table.c.id < before)
        if since is not None:
            query = query.where(table.c.created_at >= _naive_utc(since))
        query = query.order_by(table.c.id.desc() if newest else table.c.id.asc())
        if limit is not None:
            query = query.limit(limit)
        found = await self._run(query)
        if newest:
            found.reverse()
        return [Row(int(seq), posix_seconds(stamp) or 0.0, text) for seq, stamp, text in found]

    async def _session_page(
        self, only: str | None, cursor: str | None, limit: int
    ) -> tuple[list[SessionRow], str | None]:
        from sqlalchemy import and_, or_, select

        table = self._sessions
        query = select(table.c.session_id, table.c.created_at, table.c.updated_at)
        if only is not None:
            query = query.where(table.c.session_id == only)
        if cursor is not None:
            stamp, last_id = decode_cursor(cursor, str, str)
            try:
                last_updated = datetime.fromisoformat(stamp)
            except ValueError:
                raise ValueError(
                    f"invalid cursor {cursor!r}: pass back a next_cursor unchanged"
                ) from None
            query = query.where(
                or_(
                    table.c.updated_at > last_updated,
                    and_(table.c.updated_at == last_updated, table.c.session_id > last_id),
                )
            )
        query = query.order_by(table.c.updated_at, table.c.session_id).limit(limit + 1)
        found = await self._run(query)
        rows = [_session_row(str(sid), created, updated) for sid, created, updated in found[:limit]]
        next_cursor = None
        if len(found) > limit:
            session_id, _, updated = found[limit - 1]
            next_cursor = encode_cursor(updated.isoformat(), str(session_id))
        return rows, next_cursor

    async def _any_session(self) -> bool:
        from sqlalchemy import select

        return bool(await self._run(select(self._sessions.c.session_id).limit(1)))


def _session_row(session_id: str, created: Any, updated: Any) -> SessionRow:
    created_at = posix_seconds(created)
    updated_at = posix_seconds(updated)
    created_at = created_at if created_at is not None else (updated_at or 0.0)
    return SessionRow(session_id, created_at, updated_at if updated_at is not None else created_at)


def _naive_utc(seconds: float) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def open_sql_source(url: str, **options: Any) -> SQLAlchemySessionSource:
    """Factory for ``openai+postgresql://...``, ``openai+mysql://...``, ``openai+mariadb://...``."""
    scheme = url.partition("://")[0].lower()
    if scheme not in _DIALECTS:
        raise ValueError(f"{url!r}: use openai+postgresql://, openai+mysql:// or openai+mariadb://")
    parsed = parse_options(SQL_OPTIONS, url, options, backend=scheme)
    values = parsed.options
    dialect, default_driver, extra = _DIALECTS[scheme]
    driver = values["driver"] or default_driver
    hint = (
        f"{scheme}:// reads SQLAlchemySession tables with SQLAlchemy and the {driver} driver: "
        f"pip install 'omnisession-sqlalchemy[{extra}]' (or pip install 'sqlalchemy[asyncio]' "
        f"{driver})"
    )
    for module in ("sqlalchemy", driver):
        if importlib.util.find_spec(module) is None:
            raise PluginLoadError(f"{hint}; {module} is not installed")
    rest = parsed.url.partition("://")[2]
    location = rest.rsplit("@", 1)[-1]
    return SQLAlchemySessionSource(
        f"{dialect}+{driver}://{rest}",
        mapping=KeyMapping(values["app"], values["user"]),
        sessions_table=check_table_name(values["sessions_table"], "sessions_table", scheme),
        messages_table=check_table_name(values["messages_table"], "messages_table", scheme),
        command_timeout=values["command_timeout"],
        shown=f"{scheme}://{location}",
    )
