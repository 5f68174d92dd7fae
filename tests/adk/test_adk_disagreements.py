"""Where ADK's own session services disagree, the way OmniSessionService goes (README table).

* Whitespace around a session id: trimmed (as ``InMemorySessionService`` and
  ``SqliteSessionService`` do; ``DatabaseSessionService`` keeps it), unless a
  session is stored under the padded id itself, which then stays reachable.
* Order of events: the order they were appended, always. ``InMemorySessionService``
  agrees; ``SqliteSessionService`` sorts by timestamp and breaks ties by append
  order; ``DatabaseSessionService`` sorts by timestamp and breaks ties by event
  id, which reorders a conversation whose events share a timestamp.
* Two different events with the same id: both stored (as in memory); the SQL
  services refuse the second with a database integrity error.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import GetSessionConfig
from google.genai import types
from omnisession import SessionKey
from omnisession.adk import OmniSessionService, encode_event

pytestmark = pytest.mark.asyncio


def _event(text: str, **fields: Any) -> Event:
    return Event(
        invocation_id=fields.pop("invocation_id", "inv"),
        author="user",
        content=types.Content(role="user", parts=[types.Part(text=text)]),
        **fields,
    )


def _texts(events: list[Event]) -> list[str]:
    return [p.text for e in events if e.content for p in e.content.parts or [] if p.text]


async def _texts_of(service: OmniSessionService, session_id: str, **config: Any) -> list[str]:
    loaded = await service.get_session(
        app_name="app",
        user_id="u",
        session_id=session_id,
        config=GetSessionConfig(**config) if config else None,
    )
    assert loaded is not None
    return _texts(loaded.events)


async def test_whitespace_around_a_session_id_is_trimmed(service: OmniSessionService) -> None:
    """Padded ids name the trimmed session: create, get, delete; a blank id means none."""
    created = await service.create_session(app_name="app", user_id="u", session_id="  s1\t")
    assert created.id == "s1"
    fetched = await service.get_session(app_name="app", user_id="u", session_id=" s1 ")
    assert fetched is not None and fetched.id == "s1"
    with pytest.raises(AlreadyExistsError):
        await service.create_session(app_name="app", user_id="u", session_id="s1  ")
    blank = await service.create_session(app_name="app", user_id="u", session_id="   ")
    assert blank.id.strip() and blank.id != "   "
    assert await service.get_session(app_name="app", user_id="u", session_id="   ") is None
    await service.delete_session(app_name="app", user_id="u", session_id="\ts1 ")
    assert await service.get_session(app_name="app", user_id="u", session_id="s1") is None
    listed = (await service.list_sessions(app_name="app", user_id="u")).sessions
    assert [s.id for s in listed] == [blank.id]


async def test_a_session_stored_under_a_padded_id_stays_reachable(
    service: OmniSessionService,
) -> None:
    """A padded id another tool stored verbatim (ADK's DatabaseSessionService keeps them,
    and a copy carries them over) is found under that very id; the trimmed id is another."""
    store = service.store
    padded, trimmed = SessionKey("app", "u", " legacy "), SessionKey("app", "u", "legacy")
    await store.create_session(padded, {"from": "database service"})
    await store.append_event(padded, encode_event(_event("old turn")))
    loaded = await service.get_session(app_name="app", user_id="u", session_id=" legacy ")
    assert loaded is not None and loaded.id == " legacy "
    assert _texts(loaded.events) == ["old turn"]
    await service.append_event(loaded, _event("new turn"))
    assert await _texts_of(service, " legacy ") == ["old turn", "new turn"]
    assert await service.get_session(app_name="app", user_id="u", session_id="legacy") is None
    await store.create_session(trimmed, {"from": "bridge"})
    other = await service.get_session(app_name="app", user_id="u", session_id="legacy")
    assert other is not None and other.state == {"from": "bridge"}
    page = await service.list_events(app_name="app", user_id="u", session_id=" legacy ")
    assert _texts(page.events) == ["old turn", "new turn"]


async def test_events_sharing_a_timestamp_keep_their_append_order(
    service: OmniSessionService,
) -> None:
    """Tied timestamps: read back in append order (not by id), also for num_recent_events."""
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    for event_id in ("event_z", "event_m", "event_a"):
        await service.append_event(session, _event(event_id, id=event_id, timestamp=100.0))
    assert await _texts_of(service, "s") == ["event_z", "event_m", "event_a"]
    assert await _texts_of(service, "s", num_recent_events=2) == ["event_m", "event_a"]


async def test_events_keep_their_append_order_when_timestamps_go_backwards(
    service: OmniSessionService,
) -> None:
    """A clock step back (or an imported turn) never reorders a conversation;
    after_timestamp selects by time and keeps that order."""
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    for text, stamp in (("first", 300.0), ("second", 100.0), ("third", 200.0)):
        await service.append_event(session, _event(text, timestamp=stamp))
    assert await _texts_of(service, "s") == ["first", "second", "third"]
    assert await _texts_of(service, "s", after_timestamp=200.0) == ["first", "third"]
    assert await _texts_of(service, "s", num_recent_events=1) == ["third"]


async def test_two_different_events_with_one_id_are_both_kept(service: OmniSessionService) -> None:
    """Equal re-deliveries are deduplicated; different events sharing an id are not."""
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    first = _event("first", id="shared")
    await service.append_event(session, first)
    await service.append_event(session, first.model_copy(deep=True))  # a re-delivery
    await service.append_event(session, _event("second", id="shared"))
    assert await _texts_of(service, "s") == ["first", "second"]
