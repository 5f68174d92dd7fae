"""What the store can promise on each known ADK session service (its ``Capability`` set)."""

from __future__ import annotations

from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService

from ..store import Capability


def capabilities_of(service: BaseSessionService) -> frozenset[Capability]:
    """What :class:`ADKServiceStore` can promise on ``service`` (see the package doc)."""
    base = {Capability.BASE}
    if isinstance(service, InMemorySessionService):
        return frozenset(base | {Capability.LARGE_ENTRIES})
    kind = type(service).__mro__
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in kind}
    if "google.adk.sessions.database_session_service.DatabaseSessionService" in names:
        base.add(Capability.LARGE_ENTRIES)
        engine = getattr(service, "db_engine", None)
        database = getattr(getattr(engine, "url", None), "database", None)
        if database not in (None, "", ":memory:"):
            base.add(Capability.PERSISTENT)
    elif "google.adk.sessions.sqlite_session_service.SqliteSessionService" in names:
        base.add(Capability.LARGE_ENTRIES)
        if getattr(service, "_db_path", "") not in ("", ":memory:"):
            base.add(Capability.PERSISTENT)
    elif "google.adk.sessions.vertex_ai_session_service.VertexAiSessionService" in names:
        base.add(Capability.PERSISTENT)
    return frozenset(base)


def is_vertex(service: BaseSessionService) -> bool:
    return any(
        cls.__qualname__ == "VertexAiSessionService"
        and cls.__module__ == "google.adk.sessions.vertex_ai_session_service"
        for cls in type(service).__mro__
    )
