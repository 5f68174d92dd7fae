"""The ``adk+...`` URL schemes: the ADK service each one opens, as an :class:`ADKServiceStore`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService

from ._store import ADKServiceStore

_named_services: dict[str, BaseSessionService] = {}
_named_lock = threading.Lock()


def open_adk_store(url: str, **options: Any) -> ADKServiceStore:
    """Factory for the ``adk+...`` schemes.

    * ``adk+memory://`` -- a private ``InMemorySessionService``;
      ``adk+memory://NAME`` -- the process-wide one called NAME (stores opened
      with the same NAME share it).
    * ``adk+sqlite:///relative.db``, ``adk+sqlite:////abs/path.db`` --
      ``SqliteSessionService`` (SQLAlchemy's path convention).
    * ``adk+db://<SQLAlchemy URL>`` -- ``DatabaseSessionService``, e.g.
      ``adk+db://sqlite+aiosqlite:///chat.db``; ``options`` go to
      ``create_async_engine``.
    * ``adk+vertexai://PROJECT/LOCATION/AGENT_ENGINE_ID`` --
      ``VertexAiSessionService`` (needs ``google-adk[gcp]`` and Google Cloud
      credentials); option ``express_mode_api_key``.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(f"{url!r} is not a store URL; write it as adk+memory://, adk+db://...")
    service: BaseSessionService
    if scheme == "adk+memory":
        _no_options(scheme, options)
        name = rest.strip("/")
        if not name:
            return ADKServiceStore(InMemorySessionService())
        with _named_lock:
            service = _named_services.setdefault(name, InMemorySessionService())
        return ADKServiceStore(service)
    if scheme == "adk+sqlite":
        _no_options(scheme, options)
        from google.adk.sessions.sqlite_session_service import SqliteSessionService

        if not rest.strip("/"):
            raise ValueError(f"{url!r} names no database file; write adk+sqlite:///chat.db")
        service = SqliteSessionService("sqlite://" + rest)
        return ADKServiceStore(service, owns_service=True)
    if scheme == "adk+db":
        if "://" not in rest:
            raise ValueError(
                f"{url!r}: put a SQLAlchemy async URL after adk+db://, "
                "e.g. adk+db://sqlite+aiosqlite:///chat.db"
            )
        from google.adk.sessions.database_session_service import DatabaseSessionService

        service = DatabaseSessionService(rest, **options)
        return ADKServiceStore(service, owns_service=True)
    if scheme == "adk+vertexai":
        project, location, engine = _vertex_parts(url)
        extra = dict(options)
        api_key = extra.pop("express_mode_api_key", None)
        _no_options(scheme, extra)
        from google.adk.sessions.vertex_ai_session_service import VertexAiSessionService

        service = VertexAiSessionService(
            project or None, location or None, engine, express_mode_api_key=api_key
        )
        return ADKServiceStore(service, owns_service=True)
    raise ValueError(
        f"{url!r}: unknown ADK scheme {scheme!r}; "
        "use adk+memory, adk+sqlite, adk+db or adk+vertexai"
    )


def _vertex_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    segments = [unquote(parts.netloc)] + [unquote(s) for s in parts.path.split("/")[1:]]
    if len(segments) != 3 or not segments[2]:
        raise ValueError(
            f"{url!r}: write adk+vertexai://PROJECT/LOCATION/AGENT_ENGINE_ID "
            "(PROJECT and LOCATION may be empty in express mode: adk+vertexai:////ENGINE_ID)"
        )
    return segments[0], segments[1], segments[2]


def _no_options(scheme: str, options: Mapping[str, Any]) -> None:
    if options:
        raise TypeError(f"{scheme}:// takes no options, got {sorted(options)}")
