"""Moving off Google ADK's own session services (issue 13, done-when).

ADK 2.x's own ``Runner`` on its own ``DatabaseSessionService`` (a SQLite
file) or ``SqliteSessionService``, with an offline scripted model, holds a
conversation with a tool call and state in every scope; ``copy_store``
copies it through the ``adk+`` URL into an omnisession store (SQLite,
PostgreSQL, ...); the conversation continues through ADK's real ``Runner``
on :class:`~omnisession.adk.OmniSessionService`, and the model is sent every
earlier turn, with the state the tool wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.runners import Runner
from google.adk.tools.tool_context import ToolContext
from omnisession import open_store
from omnisession.adk import OmniSessionService
from omnisession.adk_store import ADKServiceStore
from omnisession.adk_testing import ScriptedLlm, call, reply, user_message
from omnisession.manage import copy_store

pytestmark = pytest.mark.asyncio

APP = "travel"


def remember_name(name: str, tool_context: ToolContext) -> dict[str, Any]:
    """Remember the user's name."""
    tool_context.state["user:name"] = name
    tool_context.state["app:greetings"] = 1
    tool_context.state["topic"] = "introductions"
    return {"remembered": name}


def _agent(model: ScriptedLlm) -> LlmAgent:
    return LlmAgent(
        name="helper",
        model=model,
        tools=[remember_name],
        instruction="The user is called {user:name?}.",
    )


async def _run(runner: Runner, user: str, session: str, text: str) -> list[Any]:
    return [
        event
        async for event in runner.run_async(
            user_id=user, session_id=session, new_message=user_message(text)
        )
    ]


@pytest.mark.parametrize("service_kind", ["database", "sqlite", "memory"])
async def test_an_adk_conversation_continues_after_the_copy(
    service_kind: str, target_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "adk.db"
    if service_kind == "database":
        from google.adk.sessions.database_session_service import DatabaseSessionService

        service: Any = DatabaseSessionService(f"sqlite+aiosqlite:///{path}")
        source_url = f"adk+db://sqlite+aiosqlite:///{path}"
    elif service_kind == "sqlite":
        from google.adk.sessions.sqlite_session_service import SqliteSessionService

        service = SqliteSessionService(str(path))
        source_url = f"adk+sqlite:///{path}"
    else:  # lives only in this process: wrapped directly, before it goes away
        from google.adk.sessions.in_memory_session_service import InMemorySessionService

        service = InMemorySessionService()
        source_url = ""

    model = ScriptedLlm(
        script=[call("remember_name", name="Ada"), reply("Nice to meet you, Ada."), reply("Sure.")]
    )
    runner = Runner(app_name=APP, agent=_agent(model), session_service=service)
    await service.create_session(app_name=APP, user_id="ada", session_id="trip", state={"k": 1})
    await _run(runner, "ada", "trip", "Call me Ada")
    await _run(runner, "ada", "trip", "Plan a trip to Oslo")
    original = await service.get_session(app_name=APP, user_id="ada", session_id="trip")
    assert original is not None and len(original.events) == 6
    if source_url:
        await service.close()

    opened = open_store(source_url) if source_url else ADKServiceStore(service)
    async with opened as source, open_store(target_url) as target:
        report = await copy_store(source, target, apps=[APP])
        assert report.sessions == 1 and report.events_written == 6
        assert report.verification is not None and report.verification.ok
        again = await copy_store(source, target, apps=[APP])
        assert (again.sessions_written, again.events_written, again.scopes_written) == (0, 0, 0)

        moved = OmniSessionService(target)
        copied = await moved.get_session(app_name=APP, user_id="ada", session_id="trip")
        assert copied is not None
        assert [event.model_dump() for event in copied.events] == [
            event.model_dump() for event in original.events
        ]
        assert copied.state == {
            key: value for key, value in original.state.items() if not key.startswith("temp:")
        }

        follow_up = ScriptedLlm(script=[reply("Yes, Ada: Oslo.")])
        runner = Runner(app_name=APP, agent=_agent(follow_up), session_service=moved)
        events = await _run(runner, "ada", "trip", "Do you remember me?")
        assert events[-1].content.parts[0].text == "Yes, Ada: Oslo."
        assert follow_up.texts() == [
            "Call me Ada",
            "Nice to meet you, Ada.",
            "Plan a trip to Oslo",
            "Sure.",
            "Do you remember me?",
        ]
        instruction = str(follow_up.requests[-1].config.system_instruction)
        assert "The user is called Ada." in instruction
        after = await moved.get_session(app_name=APP, user_id="ada", session_id="trip")
        assert after is not None and len(after.events) == 8
