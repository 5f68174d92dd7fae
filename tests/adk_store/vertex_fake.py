"""An in-process stand-in for the Vertex AI Agent Engine Sessions API.

``VertexAiSessionService`` talks to the API through the client its
``_build_api_client()`` returns (ADK's documented seam for custom clients);
:class:`OfflineVertexAiSessionService` returns a :class:`FakeAgentEngine`
client instead, so ADK's real service code runs offline, unchanged.

The fake implements the calls the service makes -- ``sessions.create / get /
list / delete`` and ``sessions.events.list / append`` -- with the behaviour of
the REST API (``v1beta1 .../reasoningEngines/*/sessions``) as far as this
project relies on it:

* everything crosses a "wire": requests and responses are JSON round-tripped,
  so nothing is shared by reference and a non-JSON value fails the call;
* a session's ``sessionState`` is per session; ``appendEvent`` merges the
  event's ``actions.stateDelta`` into it key by key (the API has no app or
  user scope) and sets the session's ``updateTime`` to the event timestamp;
* user-chosen session ids must be 1-63 characters of ``[a-z0-9-]``, starting
  with a letter (the rule of Vertex AI resource ids); a taken id is
  ``409 ALREADY_EXISTS``, a missing session ``404 NOT_FOUND``;
* events are listed in timestamp order; ``filter='timestamp>="ISO"'`` and
  ``filter='user_id="..."'`` work as in the API.

Not modelled: protobuf ``Struct`` number precision (the API keeps state numbers
as doubles; the store's payloads travel as a JSON string and are not
affected), TTLs, quotas, pagination tokens. ``fail_next(exc, call)`` makes the
next call raise ``exc``, to test how transport failures surface.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from google.adk.sessions.vertex_ai_session_service import VertexAiSessionService
from google.genai.errors import ClientError

_SESSION_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_TIMESTAMP_FILTER = re.compile(r'^timestamp>="([^"]+)"$')
_USER_FILTER = re.compile(r'^user_id="((?:[^"\\]|\\.)*)"$')


def _wire(value: Any) -> Any:
    """What arrives at the other end of an HTTP call: a JSON copy."""
    return json.loads(json.dumps(value, allow_nan=False))


def _error(code: int, status: str, message: str) -> ClientError:
    return ClientError(code, {"error": {"code": code, "message": message, "status": status}})


def _utc(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)


@dataclass
class _StoredSession:
    name: str
    user_id: str
    state: dict[str, Any]
    create_time: float
    update_time: float
    events: list[dict[str, Any]] = field(default_factory=list)

    def resource(self) -> SimpleNamespace:
        return SimpleNamespace(
            name=self.name,
            user_id=self.user_id,
            session_state=_wire(self.state),
            create_time=_utc(self.create_time),
            update_time=_utc(self.update_time),
        )


class FakeAgentEngine:
    """One Agent Engine's sessions, shared by every client made from it."""

    def __init__(self, project: str = "test-project", location: str = "us-central1") -> None:
        self.project = project
        self.location = location
        self._sessions: dict[str, _StoredSession] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1000)
        self._fail: tuple[BaseException, str | None] | None = None
        self.calls: list[str] = []

    def fail_next(self, exc: BaseException, call: str | None = None) -> None:
        """Make the next API call (the next ``call``, e.g. ``"sessions.events.append"``,
        if given) raise ``exc``: a 503, a 400, a dropped connection."""
        self._fail = (exc, call)

    def client(self) -> SimpleNamespace:
        """A client shaped like ``agentplatform.Client(...).aio``."""
        events = SimpleNamespace(list=self._list_events, append=self._append_event)
        sessions = SimpleNamespace(
            create=self._create,
            get=self._get,
            list=self._list,
            delete=self._delete,
            events=events,
        )
        return SimpleNamespace(sessions=sessions)

    # -- helpers --------------------------------------------------------------

    async def _enter(self, call: str) -> None:
        # A real call suspends its caller while the request is in flight;
        # yield to the event loop so concurrent callers interleave as they
        # would against the API (no time passes: this is not a delay).
        await asyncio.sleep(0)
        self.calls.append(call)
        if self._fail is not None and self._fail[1] in (None, call):
            exc, self._fail = self._fail[0], None
            raise exc

    def _full_name(self, name: str) -> str:
        return f"projects/{self.project}/locations/{self.location}/{name}"

    def _session(self, name: str) -> _StoredSession:
        stored = self._sessions.get(self._full_name(name))
        if stored is None:
            raise _error(404, "NOT_FOUND", f"Session {name} not found.")
        return stored

    # -- sessions ---------------------------------------------------------------

    async def _create(self, *, name: str, user_id: str, config: dict[str, Any]) -> Any:
        await self._enter("sessions.create")
        config = _wire(config)
        with self._lock:
            session_id = config.get("session_id") or f"s{next(self._ids)}"
            if not _SESSION_ID.match(session_id):
                raise _error(400, "INVALID_ARGUMENT", f"invalid session id {session_id!r}")
            full = self._full_name(f"{name}/sessions/{session_id}")
            if full in self._sessions:
                raise _error(409, "ALREADY_EXISTS", f"Session {session_id} already exists.")
            stamp = datetime.datetime.now(datetime.UTC).timestamp()
            stored = _StoredSession(
                full, _wire(user_id), config.get("session_state") or {}, stamp, stamp
            )
            self._sessions[full] = stored
            return SimpleNamespace(
                name=f"{full}/operations/1", done=True, response=stored.resource()
            )

    async def _get(self, *, name: str) -> Any:
        await self._enter("sessions.get")
        with self._lock:
            return self._session(name).resource()

    async def _list(self, *, name: str, config: dict[str, Any] | None = None) -> Any:
        await self._enter("sessions.list")
        wanted: str | None = None
        text = (config or {}).get("filter")
        if text:
            match = _USER_FILTER.match(text)
            if not match:
                raise _error(400, "INVALID_ARGUMENT", f"unsupported filter {text!r}")
            wanted = re.sub(r"\\(.)", r"\1", match.group(1))
        prefix = self._full_name(f"{name}/sessions/")
        with self._lock:
            found = [
                stored.resource()
                for full, stored in self._sessions.items()
                if full.startswith(prefix) and (wanted is None or stored.user_id == wanted)
            ]
        return _iterate(found)

    async def _delete(self, *, name: str) -> None:
        await self._enter("sessions.delete")
        with self._lock:
            stored = self._session(name)
            del self._sessions[stored.name]

    # -- events -------------------------------------------------------------------

    async def _list_events(self, *, name: str, config: dict[str, Any] | None = None) -> Any:
        await self._enter("sessions.events.list")
        after: datetime.datetime | None = None
        text = (config or {}).get("filter")
        if text:
            match = _TIMESTAMP_FILTER.match(text)
            if not match:
                raise _error(400, "INVALID_ARGUMENT", f"unsupported filter {text!r}")
            after = datetime.datetime.fromisoformat(match.group(1))
        with self._lock:
            stored = self._session(name)
            rows = sorted(stored.events, key=lambda row: row["order"])
        found = [
            SimpleNamespace(
                name=row["name"],
                author=row["author"],
                invocation_id=row["invocation_id"],
                timestamp=_utc(row["timestamp"]),
                raw_event=_wire(row["raw_event"]),
            )
            for row in rows
            if after is None or _utc(row["timestamp"]) >= after
        ]
        return _iterate(found)

    async def _append_event(
        self,
        *,
        name: str,
        author: str,
        invocation_id: str,
        timestamp: datetime.datetime,
        config: dict[str, Any],
    ) -> None:
        await self._enter("sessions.events.append")
        config = _wire(config)
        stamp = timestamp.timestamp()
        with self._lock:
            stored = self._session(name)
            event_id = str(next(self._ids))
            stored.events.append(
                {
                    "name": f"{stored.name}/events/{event_id}",
                    "author": author,
                    "invocation_id": invocation_id,
                    "timestamp": stamp,
                    "raw_event": config.get("raw_event") or {},
                    # Listed in timestamp order; ties in append order.
                    "order": (stamp, len(stored.events)),
                }
            )
            delta = (config.get("actions") or {}).get("state_delta") or {}
            stored.state.update(delta)
            stored.update_time = stamp


async def _iterate(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


class OfflineVertexAiSessionService(VertexAiSessionService):
    """ADK's ``VertexAiSessionService``, talking to a :class:`FakeAgentEngine`.

    Only the client is replaced, through ``_build_api_client`` (the override
    point ADK documents for custom clients). When ``google-adk[gcp]`` is not
    installed, ``VertexAiSessionService.__init__`` refuses to run for want of
    the real client library; the attributes it would set are then set here.
    """

    def __init__(self, engine: FakeAgentEngine, agent_engine_id: str = "4242") -> None:
        self.engine = engine
        try:
            super().__init__(engine.project, engine.location, agent_engine_id)
        except ImportError:
            self._project = engine.project
            self._location = engine.location
            self._agent_engine_id = agent_engine_id
            self._express_mode_api_key = None

    def _build_api_client(self) -> Any:
        return self.engine.client()
