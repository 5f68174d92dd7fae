"""Moving off the OpenAI Agents SDK's own stores (issue 13, done-when).

The SDK's own ``Runner`` with its own session class (``SQLiteSession`` file,
``SQLAlchemySession`` tables, ``RedisSession`` keys) and the SDK's offline
``ScriptedModel`` holds a conversation; ``copy_store`` copies it into an
omnisession store (SQLite, PostgreSQL, ...); the conversation then continues
through the SDK's real ``Runner`` on ``OmniSession(session_id, store)``, and
the model is sent every earlier turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from omnisession import open_store
from omnisession.manage import copy_store
from omnisession.openai_agents import OmniSession

from .sdk_stores import SDK_STORES, sdk_store

pytestmark = pytest.mark.asyncio


@function_tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"rain in {city}"


def _texts(items: Any) -> list[str]:
    """The text of every message and tool output the model was sent, in order."""
    found = []
    for item in items if isinstance(items, list) else [{"role": "user", "content": items}]:
        content = item.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            found.extend(
                part["text"] for part in content if isinstance(part, dict) and "text" in part
            )
        elif item.get("type") == "function_call_output":
            found.append(str(item.get("output")))
    return found


@pytest.mark.parametrize("source_name", SDK_STORES)
async def test_an_sdk_conversation_continues_after_the_copy(
    source_name: str, target_url: str, tmp_path: Path
) -> None:
    async with sdk_store(source_name, tmp_path) as written:
        model = ScriptedModel(
            [
                [assistant_message("Hello Ada!")],
                [function_call("weather", {"city": "Oslo"}, call_id="call-1")],
                [assistant_message("It rains in Oslo.")],
            ]
        )
        agent = Agent(name="helper", model=model, tools=[weather])
        before = written.session("conv-42")
        await Runner.run(agent, "Hi, I'm Ada", session=before)
        await Runner.run(agent, "Weather in Oslo?", session=before)
        other = written.session("someone-else")
        await Runner.run(
            Agent(name="other", model=ScriptedModel([[assistant_message("Hi!")]])),
            "Hello",
            session=other,
        )
        held = await before.get_items()
        assert _texts(held) == [
            "Hi, I'm Ada",
            "Hello Ada!",
            "Weather in Oslo?",
            "rain in Oslo",
            "It rains in Oslo.",
        ]

        async with open_store(written.url) as source, open_store(target_url) as target:
            report = await copy_store(source, target)
            assert report.apps == ["default"] and report.sessions == 2
            assert report.verification is not None and report.verification.ok
            again = await copy_store(source, target)
            assert (again.sessions_written, again.events_written) == (0, 0)

            session = OmniSession("conv-42", target)
            assert await session.get_items() == held
            follow_up = ScriptedModel([[assistant_message("You are Ada, and it rains.")]])
            result = await Runner.run(
                Agent(name="helper", model=follow_up, tools=[weather]),
                "Who am I, and what's the weather?",
                session=session,
            )
            assert result.final_output == "You are Ada, and it rains."
            assert follow_up.last_call is not None
            assert _texts(follow_up.last_call.input) == [
                *_texts(held),
                "Who am I, and what's the weather?",
            ]
            assert len(await session.get_items()) == len(held) + 2
            assert await OmniSession("someone-else", target).get_items() == (
                await other.get_items()
            )
