"""The ``adk+...`` URL schemes: the ADK service each one opens, as an :class:`ADKServiceStore`.

Options are read with core's :func:`~omnisession.options.parse_options` against
:data:`~omnisession._builtin.ADK_OPTIONS`, the same declarations
``omnisession backends`` lists; an option meant for another ``adk+`` scheme is
refused the same way as an unknown one, before any I/O.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import unquote, urlsplit

from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService

from .._builtin import ADK_OPTION_SCHEMES, ADK_OPTIONS, ADK_SCHEMES
from ..errors import BackendRejected, InvalidOption
from ..options import parse_options
from ._capabilities import has_shared_scopes
from ._ids import HashedIds, PlainIds, ServiceIds
from ._store import ADKServiceStore

__all__ = ["open_adk_store"]

_named_services: dict[str, BaseSessionService] = {}
_named_lock = threading.Lock()
_ENGINE_OPTIONS = ("pool_size", "max_overflow", "pool_timeout", "pool_recycle", "echo")


def open_adk_store(url: str, **options: Any) -> ADKServiceStore:
    """Factory for the ``adk+...`` schemes.

    * ``adk+memory://`` -- a private ``InMemorySessionService``;
      ``adk+memory://NAME`` -- the process-wide one called NAME (stores opened
      with the same NAME share it).
    * ``adk+sqlite:///relative.db``, ``adk+sqlite:////abs/path.db`` --
      ``SqliteSessionService`` (SQLAlchemy's path convention).
    * ``adk+db://<SQLAlchemy async URL>`` -- ``DatabaseSessionService``, e.g.
      ``adk+db://sqlite+aiosqlite:///chat.db``; options ``pool_size``,
      ``max_overflow``, ``pool_timeout``, ``pool_recycle``, ``echo`` go to
      its engine. The URL's query is read as these options.
    * ``adk+vertexai://PROJECT/LOCATION/AGENT_ENGINE_ID`` --
      ``VertexAiSessionService`` (needs ``google-adk[gcp]`` and Google Cloud
      credentials); option ``express_mode_api_key``.

    Every scheme takes ``ids=plain|hashed`` (see ``omnisession backends``).
    """
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ADK_SCHEMES:
        raise ValueError(
            f"{url!r}: not an ADK store URL; use {', '.join(s + '://' for s in ADK_SCHEMES)}"
        )
    parsed = parse_options(ADK_OPTIONS, url, options, backend=scheme)
    for name in sorted(parsed.given):
        if scheme not in ADK_OPTION_SCHEMES[name]:
            raise InvalidOption(
                f"{scheme} option {name!r} applies to {', '.join(ADK_OPTION_SCHEMES[name])} "
                "only; remove it"
            )
    rest = parsed.url.partition("://")[2]
    values = parsed.options
    service: BaseSessionService
    owns = True
    if scheme == "adk+memory":
        name = rest.strip("/")
        owns = False
        if not name:
            service = InMemorySessionService()
        else:
            with _named_lock:
                service = _named_services.setdefault(name, InMemorySessionService())
    elif scheme == "adk+sqlite":
        if not rest.strip("/"):
            raise ValueError(f"{url!r} names no database file; write adk+sqlite:///chat.db")
        from google.adk.sessions.sqlite_session_service import SqliteSessionService

        try:
            service = SqliteSessionService("sqlite://" + rest)
        except RuntimeError as exc:  # an old schema, or a file SQLite cannot read
            raise BackendRejected(f"adk+sqlite cannot use {rest!r}: {exc}") from exc
    elif scheme == "adk+db":
        if "://" not in rest:
            raise ValueError(
                f"{url!r}: put a SQLAlchemy async URL after adk+db://, "
                "e.g. adk+db://sqlite+aiosqlite:///chat.db"
            )
        from google.adk.sessions.database_session_service import DatabaseSessionService

        engine = {name: values[name] for name in _ENGINE_OPTIONS if values[name] is not None}
        service = DatabaseSessionService(rest, **engine)
    else:
        project, location, engine_id = _vertex_parts(parsed.url)
        from google.adk.sessions.vertex_ai_session_service import VertexAiSessionService

        service = VertexAiSessionService(
            project or None,
            location or None,
            engine_id,
            express_mode_api_key=values["express_mode_api_key"],
        )
    return ADKServiceStore(service, ids=_ids(values["ids"], service), owns_service=owns)


def _ids(choice: str | None, service: BaseSessionService) -> ServiceIds | None:
    shared = has_shared_scopes(service)
    if choice == "hashed":
        return HashedIds()
    if choice == "plain":
        return PlainIds(anchors=shared)
    return None


def _vertex_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    segments = [unquote(parts.netloc)] + [unquote(s) for s in parts.path.split("/")[1:]]
    if len(segments) != 3 or not segments[2]:
        raise ValueError(
            f"{url!r}: write adk+vertexai://PROJECT/LOCATION/AGENT_ENGINE_ID "
            "(PROJECT and LOCATION may be empty in express mode: adk+vertexai:////ENGINE_ID)"
        )
    return segments[0], segments[1], segments[2]
