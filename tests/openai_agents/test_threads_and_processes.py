"""OmniSession from synchronous code: Runner.run_sync on worker threads, and new processes.

``Runner.run_sync`` drives the run on the calling thread's own default event
loop, so a store shared by threads is used from several loops at once; and a
conversation written by one process must continue in the next.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from agents import Agent, RunConfig, Runner
from agents.testing import ScriptedModel, assistant_message
from omnisession import SessionStore, open_store
from omnisession.openai_agents import OmniSession

RUN = RunConfig(tracing_disabled=True)
T = TypeVar("T")


def texts(items: Any) -> list[str]:
    return [
        item["content"] if isinstance(item["content"], str) else item["content"][0]["text"]
        for item in items
    ]


def on_own_thread_loop(function: Callable[[], T]) -> T:
    """Run ``function`` on this worker thread, then close the loop run_sync left open."""
    try:
        return function()
    finally:
        policy = asyncio.get_event_loop_policy()
        policy.get_event_loop().close()
        policy.set_event_loop(None)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/threads.db"
    opened = open_store(url)
    yield opened
    asyncio.run(opened.aclose())


def test_run_sync_from_worker_threads_sharing_one_store(store: SessionStore) -> None:
    # First use on the main thread's (short-lived) loop, then from four others.
    asyncio.run(OmniSession("setup", store).update_state({"app:greeting": "hi"}))

    def converse(index: int) -> list[str]:
        model = ScriptedModel([[assistant_message(f"A{index}")], [assistant_message("B")]])
        agent = Agent(name="assistant", model=model)
        session = OmniSession(f"thread-{index}", store)

        def two_turns() -> None:
            Runner.run_sync(agent, f"q{index}", session=session, run_config=RUN)
            Runner.run_sync(agent, "again", session=session, run_config=RUN)

        on_own_thread_loop(two_turns)
        assert model.last_call is not None
        return texts(model.last_call.input)

    with ThreadPoolExecutor(max_workers=4) as pool:
        seen = list(pool.map(converse, range(4)))
    assert seen == [[f"q{i}", f"A{i}", "again"] for i in range(4)]

    async def check() -> None:
        for index in range(4):
            items = await OmniSession(f"thread-{index}", store).get_items()
            assert texts(items) == [f"q{index}", f"A{index}", "again", "B"]
        assert await OmniSession("any", store).get_state() == {"app:greeting": "hi"}

    asyncio.run(check())


def test_one_session_continues_across_threads(store: SessionStore) -> None:
    model = ScriptedModel([[assistant_message("Noted: 7.")], [assistant_message("7.")]])
    agent = Agent(name="assistant", model=model)
    session = OmniSession("thread", store)

    def ask(text: str) -> Any:
        return on_own_thread_loop(
            lambda: Runner.run_sync(agent, text, session=session, run_config=RUN)
        )

    for text in ("Remember 7.", "Which number?"):
        with ThreadPoolExecutor(max_workers=1) as pool:  # a new thread for each turn
            pool.submit(ask, text).result()
    assert model.last_call is not None
    assert texts(model.last_call.input) == ["Remember 7.", "Noted: 7.", "Which number?"]


_TURN_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from agents import Agent, RunConfig, Runner
    from agents.testing import ScriptedModel, assistant_message
    from omnisession.openai_agents import OmniSession

    url, text, reply = sys.argv[1:4]

    async def main():
        model = ScriptedModel([[assistant_message(reply)]])
        agent = Agent(name="assistant", model=model)
        async with OmniSession("thread", url=url, user_id="ada") as session:
            await Runner.run(agent, text, session=session,
                             run_config=RunConfig(tracing_disabled=True))
            sent = [item["content"] if isinstance(item["content"], str)
                    else item["content"][0]["text"] for item in model.last_call.input]
            print(json.dumps({"sent": sent, "state": await session.get_state()}))

    asyncio.run(main())
    """
)


def run_turn(url: str, text: str, reply: str) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", _TURN_SCRIPT, url, text, reply],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_history_and_state_survive_a_new_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"

    async def first_turn() -> None:
        model = ScriptedModel([[assistant_message("Hello Ada.")]])
        agent = Agent(name="assistant", model=model)
        async with OmniSession("thread", url=url, user_id="ada") as session:
            await session.update_state({"user:name": "Ada"})
            await Runner.run(agent, "first", session=session, run_config=RUN)

    asyncio.run(first_turn())
    second = run_turn(url, "second", "Welcome back.")
    assert second == {"sent": ["first", "Hello Ada.", "second"], "state": {"user:name": "Ada"}}
