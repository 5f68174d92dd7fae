"""What the benchmark measures: omnisession and the frameworks' own stores.

Three layers, each with one omnisession subject and the peers it is compared to:

- ``store``: the omnisession store contract itself (no framework objects).
- ``openai``: OpenAI Agents ``Session`` objects: ``OmniSession`` against the
  SDK's ``SQLiteSession``, ``AsyncSQLiteSession``, ``AdvancedSQLiteSession``,
  ``SQLAlchemySession`` and ``RedisSession``.
- ``adk``: Google ADK ``BaseSessionService`` objects: ``OmniSessionService``
  against ADK's ``InMemorySessionService``, ``SqliteSessionService``,
  ``DatabaseSessionService`` and ``google.adk.integrations.redis.RedisSessionService``;
  besides the service calls, whole Runner turns (an offline model, see
  :class:`ReplyLlm`) that load the session with
  ``GetSessionConfig(num_recent_events=N)``.

Large histories are built fast: OpenAI sessions through their own
``add_items`` in large batches; ADK services by appending one real event
through the service and then bulk-copying it into the service's own storage
(its ``events`` table, its in-memory session, or the one JSON document per
session that ``RedisSessionService`` keeps), so every subject later reads
exactly the rows its own ``append_event`` writes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from omnisession import SessionKey, SessionStore

__all__ = [
    "ADKSubject",
    "OpenAISubject",
    "adk_event",
    "openai_turn",
    "redis_service_filler",
    "reply_agent",
    "rewrite_event_payload",
]


# -- payloads -----------------------------------------------------------------


def openai_turn(index: int) -> list[dict[str, Any]]:
    """One conversation turn as the OpenAI Agents Runner stores it (2 items, ~400 bytes)."""
    return [
        {
            "role": "user",
            "content": f"Question {index}: what is the weather like in Lisbon in May?",
        },
        {
            "id": f"msg_{index:010d}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [
                {
                    "type": "output_text",
                    "text": f"Answer {index}: mild, around 22 °C, with a light Atlantic breeze.",
                    "annotations": [],
                    "logprobs": [],
                }
            ],
        },
    ]


def adk_event(index: int, *, state_delta: dict[str, Any] | None = None) -> Any:
    """One ADK ``Event`` (a model reply), with an optional state delta."""
    from google.adk.events import Event, EventActions
    from google.genai import types

    return Event(
        invocation_id=f"inv-{index}",
        author="concierge",
        content=types.Content(
            role="model",
            parts=[types.Part(text=f"Answer {index}: mild, around 22 °C, with a light breeze.")],
        ),
        actions=EventActions(state_delta=state_delta or {}),
    )


def rewrite_event_payload(payload: Any, event_id: str, timestamp: float) -> Any:
    """A copy of a stored ADK event payload (dict or JSON text) with a new id and timestamp.

    Handles the event at the top level or nested one level down (a bridge may
    wrap it), so the copy decodes to a distinct event.
    """
    as_text = isinstance(payload, str | bytes)
    data = json.loads(payload) if as_text else json.loads(json.dumps(payload))
    targets = [data] + [value for value in data.values() if isinstance(value, dict)]
    for target in targets:
        if "id" in target and isinstance(target["id"], str):
            target["id"] = event_id
        if "timestamp" in target and isinstance(target["timestamp"], int | float):
            target["timestamp"] = timestamp
    return json.dumps(data, separators=(",", ":")) if as_text else data


def _past(index: int) -> float:
    """Timestamps of bulk-loaded copies: in the past, increasing with ``index``."""
    return _EPOCH + index * 1e-4


_EPOCH = time.time() - 86_400.0


# -- OpenAI Agents sessions ----------------------------------------------------


class OpenAISubject:
    """A factory of OpenAI Agents ``Session`` objects sharing one engine."""

    def __init__(
        self,
        name: str,
        make: Callable[[str], Any],
        *,
        peer: bool,
        close: Callable[[], Awaitable[None]] | None = None,
        share_objects: bool = False,
    ) -> None:
        self.name = name
        self.peer = peer
        self._make = make
        self._close = close
        self._share = share_objects
        self._objects: dict[str, Any] = {}
        self._made: list[Any] = []

    def session(self, session_id: str) -> Any:
        """A ``Session`` for ``session_id``; a new object per call unless objects are shared."""
        if self._share and session_id in self._objects:
            return self._objects[session_id]
        made = self._make(session_id)
        self._objects[session_id] = made
        self._made.append(made)
        return made

    async def close(self) -> None:
        for made in self._made:
            closer = getattr(made, "close", None)
            if closer is None:
                continue
            result = closer()
            if isinstance(result, Awaitable):
                await result
        self._made.clear()
        self._objects.clear()
        if self._close is not None:
            await self._close()


# -- ADK session services -----------------------------------------------------

Filler = Callable[[Any, Any, int, int], Awaitable[None]]
"""``fill(session, seed_event, start_index, count)`` bulk-loads ``count`` copies."""


class ADKSubject:
    """A ``BaseSessionService`` plus the way to bulk-load history into its storage."""

    def __init__(
        self,
        name: str,
        service: Any,
        fill: Filler,
        *,
        peer: bool,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.peer = peer
        self.service = service
        self._fill = fill
        self._close = close

    async def fill(self, session: Any, seed: Any, start: int, count: int) -> None:
        await self._fill(session, seed, start, count)

    async def close(self) -> None:
        if self._close is not None:
            await self._close()
            return
        closer = getattr(self.service, "close", None)
        if closer is not None:
            await closer()


def omni_adk_filler(store: SessionStore, batch: int) -> Filler:
    """Bulk-load copies of the payload ``OmniSessionService`` stored for the seed event."""

    async def fill(session: Any, seed: Any, start: int, count: int) -> None:
        key = SessionKey(session.app_name, session.user_id, session.id)
        stored = await store.get_items(key, limit=1)
        if not stored:
            raise RuntimeError("the seed event was not stored")
        template = stored[0]
        for offset in range(0, count, batch):
            chunk = [
                rewrite_event_payload(template, uuid.uuid4().hex, _past(start + i))
                for i in range(offset, min(count, offset + batch))
            ]
            await store.add_items(key, chunk)

    return fill


def in_memory_filler(service: Any) -> Filler:
    """Extend the stored session of an ``InMemorySessionService`` with event copies.

    Deep copies, so each event owns its content and actions as in a history
    the Runner built: with shallow copies every event would share one
    ``content`` object, and the service's ``copy.deepcopy`` of the session
    would copy it once for the whole history (its memo), not once per event.
    """

    async def fill(session: Any, seed: Any, start: int, count: int) -> None:
        stored = service.sessions[session.app_name][session.user_id][session.id]
        stored.events.extend(
            seed.model_copy(
                update={"id": uuid.uuid4().hex, "timestamp": _past(start + i)}, deep=True
            )
            for i in range(count)
        )

    return fill


def sqlite_service_filler(service: Any, batch: int) -> Filler:
    """Insert copies of the seed row into ``SqliteSessionService``'s ``events`` table."""

    async def fill(session: Any, seed: Any, start: int, count: int) -> None:
        async with service._get_db_connection() as db:
            cursor = await db.execute(
                "SELECT * FROM events WHERE app_name=? AND user_id=? AND session_id=? AND id=?",
                (session.app_name, session.user_id, session.id, seed.id),
            )
            row = await cursor.fetchone()
            await cursor.close()
            if row is None:
                raise RuntimeError("the seed event was not stored")
            columns = list(row.keys())
            template = dict(zip(columns, tuple(row), strict=True))
            sql = (
                f"INSERT INTO events ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            for offset in range(0, count, batch):
                rows = []
                for i in range(offset, min(count, offset + batch)):
                    copy = _copy_row(template, start + i)
                    rows.append(tuple(copy[c] for c in columns))
                await db.executemany(sql, rows)
            await db.commit()

    return fill


def database_service_filler(service: Any, batch: int) -> Filler:
    """Insert copies of the seed row into ``DatabaseSessionService``'s ``events`` table."""
    from sqlalchemy import MetaData, Table, select

    tables: dict[str, Table] = {}

    async def fill(session: Any, seed: Any, start: int, count: int) -> None:
        engine = service.db_engine
        async with engine.begin() as conn:
            if "events" not in tables:
                metadata = MetaData()
                tables["events"] = await conn.run_sync(
                    lambda sync: Table("events", metadata, autoload_with=sync)
                )
            events = tables["events"]
            result = await conn.execute(
                select(events).where(
                    events.c.app_name == session.app_name,
                    events.c.user_id == session.user_id,
                    events.c.session_id == session.id,
                    events.c.id == seed.id,
                )
            )
            row = result.mappings().one()
            template = dict(row)
            for offset in range(0, count, batch):
                rows = [
                    _copy_row(template, start + i)
                    for i in range(offset, min(count, offset + batch))
                ]
                await conn.execute(events.insert(), rows)

    return fill


def redis_service_filler(service: Any) -> Filler:
    """Extend the JSON document ``RedisSessionService`` keeps per session with event copies.

    The service stores a whole session (state and every event) as ONE JSON
    value under one key and rewrites it on every append; the copies go into
    that document's ``events`` list, next to the seed event the service wrote.
    """

    async def fill(session: Any, seed: Any, start: int, count: int) -> None:
        client = service._get_redis()
        key = service._session_key(session.app_name, session.user_id, session.id)
        raw = await client.get(key)
        if raw is None:
            raise RuntimeError("the session was not stored")
        document = json.loads(raw)
        events = document["events"]
        template = next((e for e in events if e.get("id") == seed.id), None)
        if template is None:
            raise RuntimeError("the seed event was not stored")
        events.extend(
            rewrite_event_payload(template, uuid.uuid4().hex, _past(start + i))
            for i in range(count)
        )
        ttl = service.config.ttl_seconds
        await client.set(key, json.dumps(document), ex=ttl if ttl > 0 else None)

    return fill


# -- whole ADK turns --------------------------------------------------------------


def reply_agent(name: str) -> tuple[Any, Any]:
    """An ``LlmAgent`` answering every turn offline, and its model (a :class:`ReplyLlm`)."""
    from google.adk.agents import LlmAgent

    model = _reply_llm_class()()
    return LlmAgent(name=name, model=model, instruction="Answer briefly."), model


_REPLY_LLM: Any = None


def _reply_llm_class() -> Any:
    """:class:`ReplyLlm`, defined on first use so that importing this module needs no ADK."""
    global _REPLY_LLM
    if _REPLY_LLM is not None:
        return _REPLY_LLM
    from collections.abc import AsyncGenerator

    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_request import LlmRequest
    from google.adk.models.llm_response import LlmResponse
    from google.genai import types

    class ReplyLlm(BaseLlm):
        """An offline model: one short text reply per request; remembers what it was sent.

        ``contents`` is how many contents the last request carried: the history
        the Runner rebuilt from the session it loaded, plus the new message.
        """

        model: str = "bench-offline"
        requests: int = 0
        contents: int = 0

        async def generate_content_async(
            self, llm_request: LlmRequest, stream: bool = False
        ) -> AsyncGenerator[LlmResponse, None]:
            self.requests += 1
            self.contents = len(llm_request.contents)
            yield LlmResponse(
                content=types.Content(
                    role="model", parts=[types.Part(text=f"Reply {self.requests}: noted.")]
                ),
                # as a real model reports it (ADK's metrics log a warning per turn without)
                usage_metadata=types.GenerateContentResponseUsageMetadata(
                    prompt_token_count=10 * self.contents,
                    candidates_token_count=5,
                    total_token_count=10 * self.contents + 5,
                ),
            )

    _REPLY_LLM = ReplyLlm
    return ReplyLlm


def _copy_row(template: dict[str, Any], index: int) -> dict[str, Any]:
    copy = dict(template)
    new_id = uuid.uuid4().hex
    stamp = _past(index)
    copy["id"] = new_id
    current = template.get("timestamp")
    if isinstance(current, datetime):
        base = datetime.fromtimestamp(_EPOCH, tz=current.tzinfo)
        if current.tzinfo is None:
            base = datetime.utcfromtimestamp(_EPOCH)
        copy["timestamp"] = base + timedelta(microseconds=index * 100)
    elif isinstance(current, int | float):
        copy["timestamp"] = stamp
    if "event_data" in copy and copy["event_data"] is not None:
        copy["event_data"] = rewrite_event_payload(copy["event_data"], new_id, stamp)
    return copy
