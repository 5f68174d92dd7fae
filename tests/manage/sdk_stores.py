"""The OpenAI Agents SDK's own session stores, created in tests by the SDK itself.

Each :class:`SDKStore` names one SDK store (a ``SQLiteSession`` file, a
``SQLAlchemySession`` on SQLite or PostgreSQL, ``RedisSession`` keys), opens
the SDK's own session objects on it, gives the omnisession URL that reads
it, and removes everything afterwards (unique table names / key prefix on
the shared servers).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PG_URL = os.environ.get("OMNISESSION_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OMNISESSION_TEST_MARIADB", "mysql://root@127.0.0.1:3306")
REDIS_URL = os.environ.get("OMNISESSION_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class SDKStore:
    """One SDK store: ``session(id)`` opens the SDK's session on it; ``url`` reads it."""

    name: str
    url: str
    open_session: Callable[[str], Any]
    opened: list[Any] = field(default_factory=list)

    def session(self, session_id: str) -> Any:
        session = self.open_session(session_id)
        self.opened.append(session)
        return session

    async def close(self) -> None:
        for session in self.opened:
            closing = session.close()
            if closing is not None and hasattr(closing, "__await__"):
                await closing
        self.opened.clear()


@asynccontextmanager
async def sqlite_session_file(tmp_path: Path, **tables: str) -> AsyncIterator[SDKStore]:
    from agents import SQLiteSession

    path = tmp_path / "sdk.db"
    query = "&".join(f"{name}={value}" for name, value in tables.items())
    store = SDKStore(
        "sqlite",
        f"openai+sqlite:///{path}" + (f"?{query}" if query else ""),
        lambda session_id: SQLiteSession(session_id, str(path), **tables),
    )
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def sqlalchemy_sqlite(tmp_path: Path) -> AsyncIterator[SDKStore]:
    from agents.extensions.memory import SQLAlchemySession
    from sqlalchemy.ext.asyncio import create_async_engine

    path = tmp_path / "sdk-sqlalchemy.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    store = SDKStore(
        "sqlalchemy-sqlite",
        f"openai+sqlite:///{path}",
        lambda session_id: SQLAlchemySession(session_id, engine=engine, create_tables=True),
    )
    try:
        yield store
    finally:
        store.opened.clear()  # SQLAlchemySession has no close(); the engine is disposed
        await engine.dispose()


@asynccontextmanager
async def sqlalchemy_postgres() -> AsyncIterator[SDKStore]:
    from agents.extensions.memory import SQLAlchemySession
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    prefix = f"t{uuid.uuid4().hex[:16]}"
    sessions, messages = f"{prefix}_sessions", f"{prefix}_messages"
    engine = create_async_engine(PG_URL.replace("postgresql://", "postgresql+asyncpg://", 1))
    location = PG_URL.split("://", 1)[1]
    store = SDKStore(
        "sqlalchemy-postgresql",
        f"openai+postgresql://{location}?sessions_table={sessions}&messages_table={messages}",
        lambda session_id: SQLAlchemySession(
            session_id,
            engine=engine,
            create_tables=True,
            sessions_table=sessions,
            messages_table=messages,
        ),
    )
    try:
        yield store
    finally:
        store.opened.clear()
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP TABLE IF EXISTS "{messages}"'))
            await connection.execute(text(f'DROP TABLE IF EXISTS "{sessions}"'))
        await engine.dispose()


@asynccontextmanager
async def sqlalchemy_mariadb() -> AsyncIterator[SDKStore]:
    """``SQLAlchemySession`` on MariaDB, in a fresh database. The SDK cannot create its
    tables there (``VARCHAR requires a length on dialect mysql``), so they are created
    here, in its layout, as a migration would."""
    from agents.extensions.memory import SQLAlchemySession
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    database = f"t_{uuid.uuid4().hex}"
    server = MARIADB_URL.split("://", 1)[1].rstrip("/")
    admin = create_async_engine(f"mysql+asyncmy://{server}/")
    async with admin.begin() as connection:
        await connection.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    engine = create_async_engine(f"mysql+asyncmy://{server}/{database}")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TABLE agent_sessions (session_id VARCHAR(255) PRIMARY KEY, "
                "created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, "
                "updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )
        )
        await connection.execute(
            text(
                "CREATE TABLE agent_messages (id INTEGER PRIMARY KEY AUTO_INCREMENT, "
                "session_id VARCHAR(255) NOT NULL, message_data TEXT NOT NULL, "
                "created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, "
                "INDEX (session_id, created_at))"
            )
        )
    store = SDKStore(
        "sqlalchemy-mariadb",
        f"openai+mariadb://{server}/{database}",
        lambda session_id: SQLAlchemySession(session_id, engine=engine),
    )
    try:
        yield store
    finally:
        store.opened.clear()
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
        await admin.dispose()


@asynccontextmanager
async def redis_session_keys() -> AsyncIterator[SDKStore]:
    from agents.extensions.memory import RedisSession
    from redis.asyncio import Redis

    prefix = f"t_{uuid.uuid4().hex}:agents"
    location = REDIS_URL.split("://", 1)[1]
    store = SDKStore(
        "redis",
        f"openai+redis://{location}?key_prefix={prefix}",
        lambda session_id: RedisSession.from_url(session_id, url=REDIS_URL, key_prefix=prefix),
    )
    try:
        yield store
    finally:
        await store.close()
        client = Redis.from_url(REDIS_URL)
        try:
            names = [name async for name in client.scan_iter(match=f"{prefix}:*", count=1000)]
            if names:
                await client.delete(*names)
        finally:
            await client.aclose()


SDK_STORES = [
    pytest.param("sqlite", id="SQLiteSession"),
    pytest.param("sqlalchemy-sqlite", id="SQLAlchemySession-sqlite"),
    pytest.param(
        "sqlalchemy-postgresql", id="SQLAlchemySession-postgresql", marks=pytest.mark.postgres
    ),
    pytest.param("sqlalchemy-mariadb", id="SQLAlchemySession-mariadb", marks=pytest.mark.mariadb),
    pytest.param("redis", id="RedisSession", marks=pytest.mark.redis),
]


def sdk_store(name: str, tmp_path: Path) -> Any:
    """The context manager of the SDK store called ``name``."""
    if name == "sqlite":
        return sqlite_session_file(tmp_path)
    if name == "sqlalchemy-sqlite":
        return sqlalchemy_sqlite(tmp_path)
    if name == "sqlalchemy-postgresql":
        return sqlalchemy_postgres()
    if name == "sqlalchemy-mariadb":
        return sqlalchemy_mariadb()
    if name == "redis":
        return redis_session_keys()
    raise ValueError(name)
