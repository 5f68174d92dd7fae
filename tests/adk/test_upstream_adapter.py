"""The bridge's contact with google-adk / google-genai internals, and the public offline model.

Everything the bridge uses that is not the public API of google-adk or
google-genai goes through ``omnisession._adk_events.UPSTREAM``. The first test
fails, naming the internal, as soon as an upgrade removes one: the bridge
keeps working on its fallback (shown by the others), but slower or weaker,
and that must not go unnoticed. ``omnisession.adk_testing`` is the offline
model bridge users get without pytest or the conformance suite.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from google.adk.errors import StaleSessionError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.session import Session
from omnisession import _adk_events
from omnisession.adk import OmniSessionService, decode_event, encode_event


def test_every_upstream_internal_the_bridge_uses_is_still_there() -> None:
    missing = _adk_events.UPSTREAM.missing()
    assert missing == [], (
        f"google-adk / google-genai no longer have {missing}: the bridge now runs on its "
        "fallback (see omnisession._adk_events._Upstream); adapt the adapter to the new "
        "release, or drop the internal and accept the fallback"
    )
    assert _adk_events._decoder.fast, "the fast event decoder fell back to Event.model_validate"


def test_the_decoder_falls_back_to_model_validate_without_the_hooks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_adk_events.UPSTREAM, "genai_type_check", None)
    decoder = _adk_events._FastEventDecoder()
    event = Event(author="user", invocation_id="inv")
    assert decoder(encode_event(event)) == event == decode_event(encode_event(event))
    assert not decoder.fast


def test_without_the_storage_marker_stale_writers_are_still_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should ADK drop Session._storage_update_marker, appends fall back to ADK's time rule."""
    monkeypatch.setattr(_adk_events.UPSTREAM, "has_marker", False)

    async def scenario() -> None:
        service = OmniSessionService("memory://")
        created = await service.create_session(app_name="app", user_id="u")
        mine = await service.get_session(app_name="app", user_id="u", session_id=created.id)
        assert isinstance(mine, Session) and _adk_events.UPSTREAM.marker(mine) is None
        theirs = mine.model_copy(deep=True)
        await service.append_event(mine, Event(author="user", timestamp=mine.last_update_time + 1))
        await service.append_event(mine, Event(author="user", timestamp=mine.last_update_time + 1))
        with pytest.raises(StaleSessionError):
            await service.append_event(theirs, Event(author="user"))

    asyncio.run(scenario())


def test_without_adks_append_steps_the_bridge_runs_its_own_copies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """temp: state reaches the object but not storage; the event joins the object once."""
    monkeypatch.setattr(_adk_events.UPSTREAM, "service_steps", False)

    async def scenario() -> None:
        service = OmniSessionService("memory://")
        session = await service.create_session(app_name="app", user_id="u")
        event = Event(author="a", actions=EventActions(state_delta={"temp:t": 1, "k": 2}))
        returned = await service.append_event(session, event)
        assert session.state == {"temp:t": 1, "k": 2}
        assert returned.actions.state_delta == {"k": 2} and session.events == [returned]
        stored = await service.get_session(app_name="app", user_id="u", session_id=session.id)
        assert stored is not None and stored.state == {"k": 2}
        assert stored.events == [returned]

    asyncio.run(scenario())


_WITHOUT_PYTEST = textwrap.dedent(
    """
    import asyncio, sys
    sys.modules["pytest"] = None                   # any import of pytest now fails
    sys.modules["omnisession_conformance"] = None
    from google.adk.agents import LlmAgent
    from google.adk.runners import Runner
    from omnisession.adk import OmniSessionService
    from omnisession.adk_testing import ScriptedLlm, reply, user_message

    async def main():
        async with OmniSessionService("memory://") as service:
            agent = LlmAgent(name="a", model=ScriptedLlm(script=[reply("Hello, Ada!")]))
            runner = Runner(app_name="app", agent=agent, session_service=service)
            session = await service.create_session(app_name="app", user_id="ada")
            async for event in runner.run_async(user_id="ada", session_id=session.id,
                                                new_message=user_message("Hi!")):
                if event.is_final_response():
                    print(event.content.parts[0].text)

    asyncio.run(main())
    """
)


def test_the_offline_model_needs_neither_pytest_nor_the_conformance_suite() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYTEST],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Hello, Ada!"]
