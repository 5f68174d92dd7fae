"""State values with no JSON form: stored as text with a warning (default), or refused (strict).

A tool that puts a live object (a client, a dataframe) in non-``temp:`` state
does not stop the run by default: the value is stored as its text form and a
warning names the key, which is what ADK's ``DatabaseSessionService`` and
``SqliteSessionService`` do. ``strict_state=True`` refuses such a value with
``InvalidEntry`` before anything of that event is written.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.cli.service_registry import ServiceRegistry
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.runners import Runner
from google.adk.tools.tool_context import ToolContext
from omnisession import InvalidEntry, open_store
from omnisession.adk import OmniSessionService, register_with_adk
from omnisession.adk_testing import ScriptedLlm, call, reply, user_message

pytestmark = pytest.mark.asyncio


class ApiClient:
    """A live object a tool might keep in state by mistake."""

    def __str__(self) -> str:
        return "ApiClient(base_url='https://api.test')"


class Frame:
    """A dataframe-like object: JSON cannot hold it, its text is a table."""

    def __str__(self) -> str:
        return "   a  b\n0  1  2"


def connect(tool_context: ToolContext) -> dict[str, Any]:
    """Open a client and keep it (and a table, and a plain value) in session state."""
    tool_context.state["client"] = ApiClient()
    tool_context.state["user:table"] = Frame()
    tool_context.state["rows"] = 2
    return {"connected": True}


def _runner(service: OmniSessionService, llm: ScriptedLlm) -> Runner:
    agent = LlmAgent(name="assistant", model=llm, tools=[connect])
    return Runner(app_name="app", agent=agent, session_service=service)


async def _turn(runner: Runner, session_id: str, text: str) -> list[Event]:
    return [
        event
        async for event in runner.run_async(
            user_id="u", session_id=session_id, new_message=user_message(text)
        )
    ]


async def test_a_run_finishes_and_stores_the_text_form_with_a_warning_naming_the_key(
    service: OmniSessionService, caplog: pytest.LogCaptureFixture
) -> None:
    """Default: the tool's objects are stored as their text, the run goes on, a warning says so."""
    llm = ScriptedLlm(script=[call("connect"), reply("Connected."), reply("Still here.")])
    runner = _runner(service, llm)
    session = await service.create_session(app_name="app", user_id="u")
    with caplog.at_level(logging.WARNING, logger="omnisession.adk"):
        events = await _turn(runner, session.id, "connect please")
    assert events[-1].is_final_response()
    warnings = [r.getMessage() for r in caplog.records if r.name == "omnisession.adk"]
    assert len(warnings) == 1
    assert "'client'" in warnings[0] and "'user:table'" in warnings[0]
    assert "'rows'" not in warnings[0]
    assert "strict_state=True" in warnings[0]

    stored = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert stored is not None
    assert stored.state["client"] == "ApiClient(base_url='https://api.test')"
    assert stored.state["user:table"] == "   a  b\n0  1  2"
    assert stored.state["rows"] == 2
    tool_event = next(e for e in stored.events if e.actions.state_delta)
    assert tool_event.actions.state_delta == {
        "client": "ApiClient(base_url='https://api.test')",
        "user:table": "   a  b\n0  1  2",
        "rows": 2,
    }
    # The conversation goes on from storage, and the user scope holds the text too.
    await _turn(runner, session.id, "and now?")
    assert llm.texts(-1)[-1] == "and now?"
    assert await service.get_user_state(app_name="app", user_id="u") == {
        "table": "   a  b\n0  1  2"
    }


async def test_unknown_leaves_inside_json_keep_their_structure(service: OmniSessionService) -> None:
    """As in ADK: only the unknown leaves become text; NaN becomes null, as in ADK's event JSON."""
    session = await service.create_session(
        app_name="app", user_id="u", state={"made": {"by": ApiClient(), "n": [1, float("nan")]}}
    )
    assert session.state == {"made": {"by": str(ApiClient()), "n": [1, None]}}
    event = Event(
        author="tool",
        actions=EventActions(state_delta={"cfg": {"client": ApiClient(), "retries": 3}}),
    )
    await service.append_event(session, event)
    assert session.state["cfg"]["client"] is event.actions.state_delta["cfg"]["client"]
    stored = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert stored is not None
    assert stored.state["cfg"] == {"client": str(ApiClient()), "retries": 3}
    assert stored.state["made"] == {"by": str(ApiClient()), "n": [1, None]}
    # A workflow agent's checkpoint (actions.agent_state) is stored the same way.
    checkpoint = Event(author="flow", actions=EventActions(agent_state={"step": 2, "h": Frame()}))
    await service.append_event(session, checkpoint)
    stored = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert stored is not None
    assert stored.events[-1].actions.agent_state == {"step": 2, "h": str(Frame())}


async def test_bytes_reach_the_state_as_text_however_they_are_written(
    service: OmniSessionService,
) -> None:
    """Bytes in state are stored as their UTF-8 text, as ADK's DatabaseSessionService stores
    them: the same through create_session and append_event, with or without another value
    that has no JSON form in the same delta."""
    session = await service.create_session(app_name="app", user_id="u", state={"made": b"hi"})
    await service.append_event(
        session, Event(author="tool", actions=EventActions(state_delta={"plain": b"hi"}))
    )
    mixed = {"mixed": b"hi", "user:client": ApiClient()}
    await service.append_event(
        session, Event(author="tool", actions=EventActions(state_delta=mixed))
    )
    stored = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert stored is not None
    assert stored.state["made"] == stored.state["plain"] == stored.state["mixed"] == "hi"
    # The event itself is stored as ADK's JSON of it, bytes as base64: what ADK's own
    # DatabaseSessionService gives back for that event too.
    assert stored.events[0].actions.state_delta == {"plain": "aGk="}


async def test_strict_state_refuses_before_anything_is_written(target_store: Any) -> None:
    """strict_state=True: InvalidEntry naming the key; the session is as it was."""
    service = OmniSessionService(target_store, strict_state=True)
    with pytest.raises(InvalidEntry, match="'client'"):
        await service.create_session(
            app_name="app", user_id="u", session_id="s", state={"client": ApiClient(), "ok": 1}
        )
    assert await service.get_session(app_name="app", user_id="u", session_id="s") is None

    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    bad = Event(
        author="tool",
        actions=EventActions(state_delta={"client": ApiClient(), "app:x": 1, "user:y": 2}),
    )
    with pytest.raises(InvalidEntry, match="'client'"):
        await service.append_event(session, bad)
    stored = await service.get_session(app_name="app", user_id="u", session_id="s")
    assert stored is not None and stored.events == [] and stored.state == {}
    assert await service.get_user_state(app_name="app", user_id="u") == {}
    checkpoint = Event(author="flow", actions=EventActions(agent_state={"h": Frame()}))
    with pytest.raises(InvalidEntry, match="agent_state key 'h'"):
        await service.append_event(session, checkpoint)
    await service.append_event(session, Event(author="user"))  # the object is still current


async def test_strict_state_stops_a_run_at_the_tool_event(target_store: Any) -> None:
    """Through the Runner: the turn fails at the tool's event; earlier events stay stored."""
    service = OmniSessionService(target_store, strict_state=True)
    runner = _runner(service, ScriptedLlm(script=[call("connect"), reply("never")]))
    session = await service.create_session(app_name="app", user_id="u")
    with pytest.raises(InvalidEntry, match="'client'"):
        await _turn(runner, session.id, "connect please")
    stored = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    assert stored is not None
    assert len(stored.events) == 2  # the user's message and the model's function call
    assert "client" not in stored.state and "rows" not in stored.state


async def test_strict_state_for_adk_web_is_set_in_services_py() -> None:
    """register_with_adk(strict_state=True) builds strict services; default is lenient."""
    strict, lenient = ServiceRegistry(), ServiceRegistry()
    register_with_adk(strict, schemes=["memory"], strict_state=True)
    register_with_adk(lenient, schemes=["memory"])
    built = strict.create_session_service("memory://", agents_dir="/agents")
    assert isinstance(built, OmniSessionService) and built.strict_state
    other = lenient.create_session_service("memory://", agents_dir="/agents")
    assert isinstance(other, OmniSessionService) and not other.strict_state
    explicit = OmniSessionService(open_store("memory://"), strict_state=True)
    assert explicit.strict_state
