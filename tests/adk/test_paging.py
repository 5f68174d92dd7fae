"""Paging for ADK users: ``list_sessions(page_size=, page_token=)`` and ``list_events``.

ADK's ``list_sessions`` returns every session of an app at once, and
``get_session`` a whole history; both grow without bound. The service adds a
page of sessions with a token for the next page (one store query per page),
and ``list_events(app_name, user_id, session_id, ...)``, the name ADK's
original session API gave it: the newest page first, each page oldest event
first, each page reading only its own events from the store.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import ListSessionsResponse
from google.genai import types
from omnisession import SessionKey
from omnisession.adk import ListEventsResponse, ListSessionsPage, OmniSessionService

pytestmark = pytest.mark.asyncio


class CountingStore:
    """Counts list_sessions calls and the events get_events hands out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.listings = 0
        self.events_read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def list_sessions(self, *args: Any, **options: Any) -> Any:
        self.listings += 1
        return await self.inner.list_sessions(*args, **options)

    async def get_events(self, key: SessionKey, **options: Any) -> Any:
        page = await self.inner.get_events(key, **options)
        self.events_read += len(page.events)
        return page


def _event(index: int) -> Event:
    return Event(
        invocation_id=f"inv-{index}",
        author="user" if index % 2 == 0 else "assistant",
        content=types.Content(role="user", parts=[types.Part(text=f"message {index}")]),
        actions=EventActions(state_delta={"n": index}),
    )


def _texts(events: list[Event]) -> list[str]:
    return [p.text for e in events if e.content for p in e.content.parts or [] if p.text]


async def test_sessions_come_a_page_at_a_time_in_listing_order(target_store: Any) -> None:
    counting = CountingStore(target_store)
    service = OmniSessionService(counting)
    for index in range(25):
        await service.create_session(
            app_name="app", user_id=f"u{index % 2}", session_id=f"s{index:02d}", state={"i": index}
        )
    everything = await service.list_sessions(app_name="app")
    assert isinstance(everything, ListSessionsResponse) and everything.next_page_token is None
    assert len(everything.sessions) == 25

    counting.listings = 0
    pages: list[ListSessionsPage] = []
    token: str | None = None
    while True:
        page = await service.list_sessions(app_name="app", page_size=10, page_token=token)
        pages.append(page)
        token = page.next_page_token
        if token is None:
            break
    assert [len(page.sessions) for page in pages] == [10, 10, 5]
    assert counting.listings == 3, "one store query per page"
    paged = [session for page in pages for session in page.sessions]
    assert [s.id for s in paged] == [s.id for s in everything.sessions]
    assert all(s.events == [] for s in paged)
    assert paged[0].state == {"i": int(paged[0].id[1:])}

    mine = await service.list_sessions(app_name="app", user_id="u1", page_size=100)
    assert [s.id for s in mine.sessions] == [f"s{i:02d}" for i in range(1, 25, 2)]
    assert mine.next_page_token is None
    with pytest.raises(ValueError):
        await service.list_sessions(app_name="app", page_size=10, page_token="forged")
    with pytest.raises(ValueError):
        await service.list_sessions(app_name="app", page_size=0)


async def test_list_events_pages_backwards_from_the_newest(target_store: Any) -> None:
    counting = CountingStore(target_store)
    service = OmniSessionService(counting)
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    appended = [await service.append_event(session, _event(index)) for index in range(25)]

    counting.events_read = 0
    pages: list[ListEventsResponse] = []
    token: str | None = None
    while True:
        page = await service.list_events(
            app_name="app", user_id="u", session_id="s", page_size=10, page_token=token
        )
        pages.append(page)
        token = page.next_page_token
        if token is None:
            break
    assert [_texts(page.events) for page in pages] == [
        [f"message {i}" for i in range(15, 25)],
        [f"message {i}" for i in range(5, 15)],
        [f"message {i}" for i in range(5)],
    ]
    assert counting.events_read == 25, "each page reads its own events only"
    newest_first = [event for page in reversed(pages) for event in page.events]
    assert newest_first == appended, "events come back exactly as appended"

    forwards = await service.list_events(
        app_name="app", user_id="u", session_id="s", page_size=20, oldest_first=True
    )
    assert _texts(forwards.events) == [f"message {i}" for i in range(20)]
    rest = await service.list_events(
        app_name="app",
        user_id="u",
        session_id="s",
        page_size=20,
        oldest_first=True,
        page_token=forwards.next_page_token,
    )
    assert _texts(rest.events) == [f"message {i}" for i in range(20, 25)]
    assert rest.next_page_token is None
    with pytest.raises(ValueError):  # a backwards token used forwards
        await service.list_events(
            app_name="app",
            user_id="u",
            session_id="s",
            oldest_first=True,
            page_token=pages[0].next_page_token,
        )


async def test_list_events_defaults_and_missing_sessions(service: OmniSessionService) -> None:
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    for index in range(3):
        await service.append_event(session, _event(index))
    page = await service.list_events(app_name="app", user_id="u", session_id="s")
    assert _texts(page.events) == ["message 0", "message 1", "message 2"]
    assert page.next_page_token is None
    missing = await service.list_events(app_name="app", user_id="u", session_id="nope")
    assert missing == ListEventsResponse()
    with pytest.raises(ValueError):
        await service.list_events(app_name="app", user_id="u", session_id="s", page_token="x")
