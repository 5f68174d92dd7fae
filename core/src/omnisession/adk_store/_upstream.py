"""Everything :mod:`omnisession.adk_store` relies on in google-adk beyond its public API.

ONE adapter, guarded: each item is looked up here and nowhere else, and
``tests/adk_store/test_upstream.py`` asserts every one is still found on the
installed google-adk, so an upstream change fails that test loudly instead of
quietly changing what a store declares.

* :func:`sqlite_path`: ``SqliteSessionService._db_path`` (private), the file a
  service writes, to tell a file from ``:memory:`` (the ``PERSISTENT``
  capability). Missing: ``None``, and the store does not declare persistence.
* :func:`service_kind`: which of ADK's own services a service is, by the
  qualified names of its classes (no import of the optional ones: the
  database service needs SQLAlchemy, the Vertex AI one google-genai's client).
* :func:`app_names`: the apps a service holds, for ``list_apps`` (ADK's API
  has no list of apps): ``InMemorySessionService``'s public dicts, and the
  table names of ADK's on-disk schema (:data:`APP_TABLES`), read through the
  database service's public ``db_engine`` or the SQLite file, read-only.

The rest is public API: ``BaseSessionService`` and its methods,
``GetSessionConfig``, ``Session``, ``Event``, ``EventActions``,
``google.adk.errors.StaleSessionError`` (exported by ``google.adk.errors``),
``AlreadyExistsError``, ``SessionNotFoundError``, and the public attribute
``DatabaseSessionService.db_engine``.
"""

from __future__ import annotations

import asyncio
import enum
import os
import urllib.parse

from google.adk.sessions.base_session_service import BaseSessionService

__all__ = ["APP_TABLES", "ServiceKind", "app_names", "service_kind", "sqlite_path"]


class ServiceKind(enum.Enum):
    """Which ADK session service a store wraps (what it can promise depends on it)."""

    IN_MEMORY = "google.adk.sessions.in_memory_session_service.InMemorySessionService"
    DATABASE = "google.adk.sessions.database_session_service.DatabaseSessionService"
    SQLITE = "google.adk.sessions.sqlite_session_service.SqliteSessionService"
    VERTEX_AI = "google.adk.sessions.vertex_ai_session_service.VertexAiSessionService"
    OTHER = "another BaseSessionService"


def service_kind(service: BaseSessionService) -> ServiceKind:
    """The ADK service ``service`` is (or subclasses), :attr:`ServiceKind.OTHER` if none."""
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(service).__mro__}
    for kind in ServiceKind:
        if kind.value in names:
            return kind
    return ServiceKind.OTHER


def sqlite_path(service: BaseSessionService) -> str | None:
    """The database file of a ``SqliteSessionService`` (``""`` / ``":memory:"`` in memory);
    ``None`` when the service no longer keeps it where this adapter looks."""
    path = getattr(service, "_db_path", None)
    return path if isinstance(path, str) else None


#: The tables of ADK's database and SQLite services that name apps (the same in
#: every schema version they have written: sessions, app state, user state).
APP_TABLES = ("sessions", "app_states", "user_states")


async def app_names(service: BaseSessionService) -> set[str] | None:
    """Every app the service holds sessions or state of; ``None`` where it cannot tell.

    ADK's session API has no list of apps, so this reads what each of ADK's own
    services keeps: the public dicts of ``InMemorySessionService``; the tables
    of ``DatabaseSessionService`` (through its public ``db_engine``) and of a
    ``SqliteSessionService`` file (opened read-only). ``None`` for Vertex AI
    (the Agent Engine has no app), a SQLite service in memory, or another
    service. An app whose last session was deleted may still be listed where
    ADK keeps its (empty) state rows.
    """
    kind = service_kind(service)
    if kind is ServiceKind.IN_MEMORY:
        names: set[str] = set()
        for attribute in ("sessions", "app_state", "user_state"):
            table = getattr(service, attribute, None)
            if not isinstance(table, dict):
                return None
            # app -> {user -> {...}} (sessions, user state) or app -> {key: value}
            names.update(
                name
                for name, value in table.items()
                if isinstance(name, str)
                and (value if attribute == "app_state" else any(value.values()))
            )
        return names
    query = " UNION ".join(f"SELECT app_name FROM {table}" for table in APP_TABLES)
    if kind is ServiceKind.DATABASE:
        from sqlalchemy import text

        engine = getattr(service, "db_engine", None)
        if engine is None:
            return None
        async with engine.connect() as connection:
            rows = (await connection.execute(text(query))).all()
        return {row[0] for row in rows if isinstance(row[0], str)}
    if kind is ServiceKind.SQLITE:
        path = sqlite_path(service)
        if path is None or path in ("", ":memory:"):
            return None
        if not await asyncio.to_thread(os.path.exists, path):
            return set()  # nothing written yet
        import aiosqlite

        location = "file:" + urllib.parse.quote(path) + "?mode=ro"
        async with (
            aiosqlite.connect(location, uri=True) as connection,
            connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                f"({', '.join('?' for _ in APP_TABLES)})",
                APP_TABLES,
            ) as cursor,
        ):
            present = {row[0] for row in await cursor.fetchall()}
            if present != set(APP_TABLES):
                return set()  # a file ADK has not written to yet
            async with connection.execute(query) as cursor:
                return {row[0] for row in await cursor.fetchall() if isinstance(row[0], str)}
    return None
