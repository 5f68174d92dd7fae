"""``last_update_time`` is the newest event's timestamp, on every storage target.

ADK's own services (and the caller's own ``Session`` object after an append)
hold the appended event's timestamp as the session's ``last_update_time``; the
store keeps that time as ``updated_at``. So a session read back right after an
append equals the object that appended, listings are ordered by the events'
times, and an imported history keeps its real times. Stale writers are told
apart by the store revision, never by these times, which may go backwards.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.adk.errors import StaleSessionError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.session import Session
from google.genai import types
from omnisession.adk import OmniSessionService

pytestmark = pytest.mark.asyncio


def _event(text: str, **fields: Any) -> Event:
    return Event(
        invocation_id=fields.pop("invocation_id", "inv"),
        author="user",
        content=types.Content(role="user", parts=[types.Part(text=text)]),
        **fields,
    )


async def _reload(service: OmniSessionService, session: Session) -> Session:
    loaded = await service.get_session(
        app_name=session.app_name, user_id=session.user_id, session_id=session.id
    )
    assert loaded is not None
    return loaded


async def test_a_session_read_right_after_an_append_equals_the_appending_object(
    service: OmniSessionService,
) -> None:
    """get_session() == session after every append: same events, state, time and marker."""
    session = await service.create_session(
        app_name="app", user_id="u", state={"topic": "tea", "user:name": "Ada"}
    )
    assert await _reload(service, session) == session
    now = time.time()
    for event in (
        _event("first"),
        _event("scoped", actions=EventActions(state_delta={"app:v": 1, "user:l": "fr", "n": 2})),
        _event("from the future", timestamp=now + 3600.5),
        _event("from the past", timestamp=now - 86_400.25),
    ):
        await service.append_event(session, event)
        assert session.last_update_time == event.timestamp
        reloaded = await _reload(service, session)
        assert reloaded.last_update_time == event.timestamp
        assert reloaded == session


async def test_listing_follows_the_newest_events_timestamp(service: OmniSessionService) -> None:
    """list_sessions orders by the newest event's time, also when that time is in the past."""
    sessions = {}
    for name in ("a", "b", "c"):
        sessions[name] = await service.create_session(app_name="app", user_id="u", session_id=name)
    # An imported turn from long ago makes c the least recently updated session,
    # and a turn stamped later than everything makes a the most recent one.
    await service.append_event(sessions["c"], _event("old", timestamp=1_600_000_000.0))
    await service.append_event(sessions["a"], _event("new", timestamp=time.time() + 60))
    listed = (await service.list_sessions(app_name="app", user_id="u")).sessions
    assert [s.id for s in listed] == ["c", "b", "a"]
    assert listed[0].last_update_time == 1_600_000_000.0
    assert [s.last_update_time for s in listed] == sorted(s.last_update_time for s in listed)


async def test_a_stale_writer_is_refused_even_when_the_winner_wrote_an_older_time(
    service: OmniSessionService,
) -> None:
    """Staleness is the revision, not the clock: an older-stamped winning event still counts."""
    created = await service.create_session(app_name="app", user_id="u")
    mine, theirs = await _reload(service, created), await _reload(service, created)
    await service.append_event(mine, _event("winner", timestamp=time.time() - 3600))
    assert mine.last_update_time < theirs.last_update_time  # time went backwards
    with pytest.raises(StaleSessionError):
        await service.append_event(theirs, _event("loser"))
    stored = await _reload(service, created)
    assert [p.text for e in stored.events if e.content for p in e.content.parts or []] == ["winner"]


async def test_session_objects_built_by_hand_are_checked_against_the_event_time(
    service: OmniSessionService,
) -> None:
    """Unmarked objects follow ADK's rule: current unless storage is newer and its newest
    event is one the object does not hold."""
    created = await service.create_session(app_name="app", user_id="u", session_id="s")
    first = _event("first", timestamp=time.time() + 10)
    await service.append_event(created, first)
    # The same history, no marker, a clock a hair behind storage's: still current.
    current = Session(
        id="s",
        app_name="app",
        user_id="u",
        events=[first],
        last_update_time=first.timestamp - 0.0001,
    )
    await service.append_event(current, _event("second", timestamp=first.timestamp + 1))
    # An object that never saw those events, older than storage: stale.
    behind = Session(id="s", app_name="app", user_id="u", last_update_time=first.timestamp - 5)
    with pytest.raises(StaleSessionError):
        await service.append_event(behind, _event("behind"))
    stored = await _reload(service, created)
    assert len(stored.events) == 2 and stored.events[0].id == first.id
