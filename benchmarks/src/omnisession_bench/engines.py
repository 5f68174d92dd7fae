"""The frameworks' own session stores on the engine a bench URL names.

``omnisession bench URL --compare`` runs the peers on the same engine as
omnisession, in the same run, each in its own namespace so that no two
implementations share tables or keys:

========== ===================================================================
engine      peers
========== ===================================================================
sqlite      OpenAI ``SQLiteSession``, ``AsyncSQLiteSession`` (aiosqlite),
            ``AdvancedSQLiteSession`` (branching and usage tables on top of
            ``SQLiteSession``), ``SQLAlchemySession`` (aiosqlite);
            ADK ``SqliteSessionService``, ``DatabaseSessionService`` (aiosqlite).
            One file per peer, in a temporary directory next to the
            omnisession database.
postgresql  ``SQLAlchemySession`` and ``DatabaseSessionService`` (asyncpg), in a
            schema of their own created for the run and dropped after it.
mysql       ``SQLAlchemySession`` and ``DatabaseSessionService`` (asyncmy), in a
            database of their own created for the run and dropped after it.
redis       OpenAI ``RedisSession`` and ADK ``RedisSessionService``
            (``google.adk.integrations.redis``), each under a key prefix of its
            own, deleted after the run.
memory      ADK ``InMemorySessionService``.
========== ===================================================================

The SDK's SQLite sessions get one object per session id (``SQLiteSession``
serialises every object on a file through one in-process lock, and
``AsyncSQLiteSession`` holds one connection per object), as an application
keeps one session object per conversation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .subjects import (
    ADKSubject,
    OpenAISubject,
    database_service_filler,
    in_memory_filler,
    redis_service_filler,
    sqlite_service_filler,
)

__all__ = ["Peers", "engine_of", "make_peers", "redact"]


def engine_of(url: str) -> str:
    """The engine family of a store URL: sqlite, postgresql, mysql, redis, memory, ..."""
    scheme = urlsplit(url).scheme.lower().split("+")[0]
    return {
        "postgres": "postgresql",
        "mariadb": "mysql",
        "rediss": "redis",
        "unix": "redis",
    }.get(scheme, scheme)


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


@dataclass
class Peers:
    """The peer subjects for one engine and how to tear them down."""

    engine: str
    openai: list[OpenAISubject] = field(default_factory=list)
    adk: list[ADKSubject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close every peer, then drop what the run created (files, schema, keys)."""
        subjects: list[OpenAISubject | ADKSubject] = [*self.openai, *self.adk]
        for subject in subjects:
            try:
                await subject.close()
            except Exception as exc:  # cleanup must go on
                self.notes.append(f"closing {subject.name} failed: {exc}")
        for cleanup in reversed(self.cleanups):
            try:
                await cleanup()
            except Exception as exc:
                self.notes.append(f"cleanup failed: {exc}")


async def make_peers(url: str, run_id: str, *, batch: int) -> Peers:
    """The frameworks' own stores on the engine of ``url`` (see the module docstring)."""
    engine = engine_of(url)
    peers = Peers(engine)
    if engine == "sqlite":
        await _sqlite_peers(url, peers, batch)
    elif engine in ("postgresql", "mysql"):
        await _server_sql_peers(url, engine, run_id, peers, batch)
    elif engine == "redis":
        await _redis_peers(url, run_id, peers)
    elif engine == "memory":
        from google.adk.sessions import InMemorySessionService

        service = InMemorySessionService()
        peers.adk.append(
            ADKSubject(
                "InMemorySessionService",
                service,
                in_memory_filler(service),
                peer=True,
                close=_noop,
            )
        )
    else:
        peers.notes.append(f"no framework store runs on {engine}://; nothing to compare")
    return peers


async def _noop() -> None:
    return None


def _sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL, ``None`` for an in-memory database."""
    rest = url.split("://", 1)[1]
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def _peer_directory(path: str) -> str:
    """A fresh directory for the peers' files, next to the omnisession database."""
    return tempfile.mkdtemp(
        prefix="omnisession-bench-peers-", dir=os.path.dirname(os.path.abspath(path))
    )


async def _sqlite_peers(url: str, peers: Peers, batch: int) -> None:
    from agents import SQLiteSession
    from agents.extensions.memory import (
        AdvancedSQLiteSession,
        AsyncSQLiteSession,
        SQLAlchemySession,
    )
    from google.adk.sessions import DatabaseSessionService
    from google.adk.sessions.sqlite_session_service import SqliteSessionService
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import StaticPool

    path = _sqlite_path(url)
    if path is None:
        sqlite_session_path = async_session_path = advanced_session_path = ":memory:"
        engine = create_async_engine(
            "sqlite+aiosqlite://",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
        adk_sqlite_path = ":memory:"
        adk_database_url = "sqlite+aiosqlite:///:memory:"
    else:
        directory = _peer_directory(path)

        async def remove_directory() -> None:
            shutil.rmtree(directory, ignore_errors=True)

        peers.cleanups.append(remove_directory)
        sqlite_session_path = os.path.join(directory, "openai_sqlite_session.db")
        async_session_path = os.path.join(directory, "openai_async_sqlite_session.db")
        advanced_session_path = os.path.join(directory, "openai_advanced_sqlite_session.db")
        engine = create_async_engine(
            "sqlite+aiosqlite:///" + os.path.join(directory, "openai_sqlalchemy_session.db")
        )
        adk_sqlite_path = os.path.join(directory, "adk_sqlite_session_service.db")
        adk_database_url = "sqlite+aiosqlite:///" + os.path.join(
            directory, "adk_database_session_service.db"
        )

    peers.openai.append(
        OpenAISubject(
            "SQLiteSession",
            lambda sid: SQLiteSession(sid, db_path=sqlite_session_path),
            peer=True,
            share_objects=True,
        )
    )
    peers.openai.append(
        OpenAISubject(
            "AsyncSQLiteSession",
            lambda sid: AsyncSQLiteSession(sid, db_path=async_session_path),
            peer=True,
            share_objects=True,
        )
    )
    peers.openai.append(
        OpenAISubject(
            "AdvancedSQLiteSession",
            lambda sid: AdvancedSQLiteSession(
                session_id=sid, db_path=advanced_session_path, create_tables=True
            ),
            peer=True,
            share_objects=True,
        )
    )
    peers.openai.append(
        OpenAISubject(
            "SQLAlchemySession",
            lambda sid: SQLAlchemySession(sid, engine=engine, create_tables=True),
            peer=True,
            close=engine.dispose,
        )
    )
    sqlite_service = SqliteSessionService(adk_sqlite_path)
    peers.adk.append(
        ADKSubject(
            "SqliteSessionService",
            sqlite_service,
            sqlite_service_filler(sqlite_service, batch),
            peer=True,
        )
    )
    database_service = DatabaseSessionService(adk_database_url)
    peers.adk.append(
        ADKSubject(
            "DatabaseSessionService",
            database_service,
            database_service_filler(database_service, batch),
            peer=True,
        )
    )


async def _server_sql_peers(
    url: str, engine_name: str, run_id: str, peers: Peers, batch: int
) -> None:
    from agents.extensions.memory import SQLAlchemySession
    from google.adk.sessions import DatabaseSessionService
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    base = make_url(url)
    namespace = f"omnisession_bench_{run_id}"
    engine_kwargs: dict[str, Any] = {}
    if engine_name == "postgresql":
        base = base.set(drivername="postgresql+asyncpg")
        create, drop = f"CREATE SCHEMA {namespace}", f"DROP SCHEMA IF EXISTS {namespace} CASCADE"
        peer_url = base
        engine_kwargs["connect_args"] = {"server_settings": {"search_path": namespace}}
    else:
        base = base.set(drivername="mysql+asyncmy")
        create, drop = f"CREATE DATABASE {namespace}", f"DROP DATABASE IF EXISTS {namespace}"
        peer_url = base.set(database=namespace)
    admin = create_async_engine(base)
    async with admin.begin() as conn:
        await conn.execute(text(create))

    async def drop_namespace() -> None:
        async with admin.begin() as conn:
            await conn.execute(text(drop))
        await admin.dispose()

    peers.cleanups.append(drop_namespace)
    rendered = peer_url.render_as_string(hide_password=False)
    engine = create_async_engine(rendered, **engine_kwargs)
    create_tables = True
    if engine_name == "mysql":
        # SQLAlchemySession declares its keys as VARCHAR without a length, which
        # MySQL/MariaDB reject ("VARCHAR requires a length"), so create_tables=True
        # fails there. Create its own tables with VARCHAR(255) keys, as a MySQL
        # user of the SDK has to, and let the sessions use them.
        probe = SQLAlchemySession("schema", engine=engine)
        for table in (probe._sessions, probe._messages):
            table.c.session_id.type.length = 255  # type: ignore[attr-defined]
        async with engine.begin() as conn:
            await conn.run_sync(probe._metadata.create_all)
        create_tables = False
        peers.notes.append(
            "SQLAlchemySession cannot create its tables on MySQL/MariaDB (VARCHAR without a "
            "length); the benchmark created them with VARCHAR(255) keys"
        )
    peers.openai.append(
        OpenAISubject(
            "SQLAlchemySession",
            lambda sid: SQLAlchemySession(sid, engine=engine, create_tables=create_tables),
            peer=True,
            close=engine.dispose,
        )
    )
    database_service = DatabaseSessionService(rendered, **engine_kwargs)
    peers.adk.append(
        ADKSubject(
            "DatabaseSessionService",
            database_service,
            database_service_filler(database_service, batch),
            peer=True,
        )
    )


async def _redis_peers(url: str, run_id: str, peers: Peers) -> None:
    import redis.asyncio as redis_asyncio
    from agents.extensions.memory import RedisSession
    from google.adk.integrations.redis import RedisSessionService, RedisSessionServiceConfig

    parts = urlsplit(url)
    if "cluster" in parts.scheme:
        peers.notes.append(
            "RedisSession and RedisSessionService need a standalone Redis; no peer on a cluster"
        )
        return
    server_url = parts._replace(query="").geturl()
    client = redis_asyncio.from_url(server_url)
    # RedisSessionService builds its own client with decode_responses=True; one like it.
    adk_client = redis_asyncio.from_url(server_url, decode_responses=True)
    prefix = f"omnisession-bench-peer:{run_id}"
    adk_prefix = f"omnisession-bench-adk:{run_id}:"

    async def delete_keys() -> None:
        for pattern in (f"{prefix}:*", f"{adk_prefix}*"):
            async for key in client.scan_iter(match=pattern, count=1000):
                await client.delete(key)
        await client.aclose()
        await adk_client.aclose()

    peers.cleanups.append(delete_keys)
    peers.openai.append(
        OpenAISubject(
            "RedisSession",
            lambda sid: RedisSession(sid, redis_client=client, key_prefix=prefix),
            peer=True,
        )
    )
    # Defaults of the service (TTL of 7 days on every key) except the key prefix.
    adk_service = RedisSessionService(
        RedisSessionServiceConfig(uri=server_url, key_prefix=adk_prefix),
        redis_client=adk_client,
    )
    peers.adk.append(
        ADKSubject(
            "RedisSessionService",
            adk_service,
            redis_service_filler(adk_service),
            peer=True,
            close=_noop,
        )
    )
