"""What the store can promise on each known ADK session service (its ``Capability`` set).

Every set is :data:`~omnisession._builtin.ADK_CAPABILITIES` (what every ``adk+``
store declares) plus a subset of the keys of
:data:`~omnisession._builtin.ADK_OPTIONAL_CAPABILITIES`.
"""

from __future__ import annotations

from google.adk.sessions.base_session_service import BaseSessionService

from .._builtin import ADK_CAPABILITIES
from ..store import Capability
from ._upstream import ServiceKind, service_kind, sqlite_path

__all__ = ["capabilities_of", "has_shared_scopes", "is_vertex"]

_IN_MEMORY = ("", ":memory:")


def capabilities_of(service: BaseSessionService) -> frozenset[Capability]:
    """What :class:`~omnisession.adk_store.ADKServiceStore` can promise on ``service``.

    ``LARGE_ENTRIES`` on the three local services (measured by the store suite);
    ``PERSISTENT`` on a SQLite file, a database server and Vertex AI.
    ``CROSS_PROCESS`` and ``LIFECYCLE`` are never declared (see the package doc).
    """
    declared = set(ADK_CAPABILITIES)
    kind = service_kind(service)
    if kind is ServiceKind.IN_MEMORY:
        declared.add(Capability.LARGE_ENTRIES)
    elif kind is ServiceKind.DATABASE:
        declared.add(Capability.LARGE_ENTRIES)
        url = getattr(getattr(service, "db_engine", None), "url", None)
        if url is not None and (
            url.get_backend_name() != "sqlite" or url.database not in (*_IN_MEMORY, None)
        ):
            declared.add(Capability.PERSISTENT)
    elif kind is ServiceKind.SQLITE:
        declared.add(Capability.LARGE_ENTRIES)
        path = sqlite_path(service)
        if path is not None and path not in _IN_MEMORY:
            declared.add(Capability.PERSISTENT)
    elif kind is ServiceKind.VERTEX_AI:
        declared.add(Capability.PERSISTENT)
    return frozenset(declared)


def is_vertex(service: BaseSessionService) -> bool:
    return service_kind(service) is ServiceKind.VERTEX_AI


def has_shared_scopes(service: BaseSessionService) -> bool:
    """Whether ``app:`` / ``user:`` state is shared between sessions (ADK's contract).

    The Vertex AI Agent Engine keeps state per session: its ``app:`` and
    ``user:`` keys live and die with each session.
    """
    return not is_vertex(service)
