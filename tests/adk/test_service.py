"""OmniSessionService beyond the conformance suite: encoding, construction, odd inputs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.adk.errors import StaleSessionError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.session import Session
from google.genai import types
from omnisession import InvalidEntry, SessionKey, open_store
from omnisession.adk import OmniSessionService, decode_event, encode_event
from omnisession.adk_testing import ScriptedLlm, reply, user_message
from omnisession.memory import MemoryStore
from omnisession_conformance.adk import rich_event


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _event(text: str, **fields: Any) -> Event:
    return Event(
        invocation_id="inv",
        author="user",
        content=types.Content(role="user", parts=[types.Part(text=text)]),
        **fields,
    )


# -- encoding ------------------------------------------------------------------


def _corpus() -> list[Event]:
    """Events of every shape ADK produces, plus the rich one of the suite."""
    return [
        rich_event(),
        rich_event(long_running_tool_ids=None, output=None, branch=None),
        _event("plain"),
        _event("partial", partial=True),
        Event(author="agent", actions=EventActions(state_delta={"a": 1}, end_of_agent=True)),
        Event(
            author="agent",
            content=types.Content(
                role="model",
                parts=[
                    types.Part(text="thinking", thought=True),
                    types.Part(
                        executable_code=types.ExecutableCode(
                            code="print(1)", language=types.Language.PYTHON
                        )
                    ),
                    types.Part(
                        code_execution_result=types.CodeExecutionResult(
                            outcome=types.Outcome.OUTCOME_OK, output="1"
                        )
                    ),
                    types.Part(file_data=types.FileData(file_uri="gs://b/o", mime_type="text/x")),
                ],
            ),
            error_code="E1",
            error_message="boom",
            interrupted=True,
        ),
    ]


def test_decoding_matches_model_validate_exactly() -> None:
    """The fast decoder builds exactly what Event.model_validate builds, for every shape."""
    for event in _corpus():
        data = encode_event(event)
        fast = decode_event(data)
        reference = Event.model_validate(data)
        assert type(fast) is Event
        assert fast == reference == event
        assert fast.model_dump() == event.model_dump()
        assert encode_event(fast) == data


def test_decoding_keeps_adk_behaviour_for_legacy_payloads() -> None:
    """Payloads written by others (camelCase keys, shorthand kwargs) decode as ADK decodes them."""
    event = rich_event()
    by_alias = event.model_dump(mode="json", exclude_none=True, by_alias=True)
    assert decode_event(by_alias) == Event.model_validate(by_alias) == event
    convenience = {"author": "user", "message": "hello", "state": {"k": 1}}
    decoded = decode_event(convenience)
    expected = Event.model_validate(convenience)
    assert decoded.content == expected.content
    assert decoded.actions.state_delta == {"k": 1}


def test_unserialisable_state_is_refused_in_strict_mode_before_anything_is_written() -> None:
    """strict_state=True: a state value that is not JSON gives InvalidEntry, nothing changes."""

    async def scenario() -> None:
        service = OmniSessionService("memory://", strict_state=True)
        session = await service.create_session(app_name="app", user_id="u")
        with pytest.raises(InvalidEntry):
            await service.append_event(
                session, _event("x", actions=EventActions(state_delta={"bad": object()}))
            )
        stored = await service.get_session(app_name="app", user_id="u", session_id=session.id)
        assert stored is not None and stored.events == [] and stored.state == {}
        await service.append_event(session, _event("fine"))  # still current
        with pytest.raises(InvalidEntry):
            await service.create_session(app_name="app", user_id="u", state={"f": print})
        listed = await service.list_sessions(app_name="app")
        assert [s.id for s in listed.sessions] == [session.id]

    run(scenario())


def test_rich_state_values_are_stored_as_adk_database_service_stores_them() -> None:
    """datetimes, bytes and pydantic models in state become JSON, as DatabaseSessionService does."""
    import datetime

    async def scenario() -> None:
        service = OmniSessionService("memory://")
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
        session = await service.create_session(
            app_name="app", user_id="u", state={"when": when, "part": types.Part(text="t")}
        )
        assert session.state["when"] == "2026-01-02T03:04:05Z"
        assert types.Part.model_validate(session.state["part"]) == types.Part(text="t")

    run(scenario())


# -- construction and lifecycle --------------------------------------------------


def test_url_constructor_owns_the_store_and_a_given_store_is_left_open() -> None:
    async def scenario() -> None:
        async with OmniSessionService("memory://") as owned:
            await owned.create_session(app_name="app", user_id="u", session_id="s")
        store = MemoryStore()
        async with OmniSessionService(store) as borrowed:
            await borrowed.create_session(app_name="app", user_id="u", session_id="s")
        # The caller's store is still usable after the service is closed.
        assert await store.get_session(SessionKey("app", "u", "s")) is not None
        assert OmniSessionService(uri="memory://", agents_dir="/x").store is not None

    run(scenario())


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), (("memory://",), {"uri": "memory://"}), ((MemoryStore(),), {"pool_size": 3})],
)
def test_constructor_misuse_is_a_clear_type_error(args: tuple[Any, ...], kwargs: Any) -> None:
    with pytest.raises(TypeError):
        OmniSessionService(*args, **kwargs)


def test_unknown_scheme_names_the_installed_ones() -> None:
    from omnisession import UnknownBackend

    with pytest.raises(UnknownBackend, match="memory"):
        OmniSessionService("nosuchengine://x")


# -- session objects the service did not load ------------------------------------


def test_hand_built_session_object_appends_like_in_adk() -> None:
    """A hand-built Session (no storage marker) appends while current, is refused if stale."""

    async def scenario() -> None:
        service = OmniSessionService("memory://")
        created = await service.create_session(app_name="app", user_id="u", session_id="s")
        hand_built = Session(id="s", app_name="app", user_id="u", last_update_time=0.0)
        first = _event("first")
        await service.append_event(hand_built, first)
        assert hand_built._storage_update_marker is not None  # now tracked like any other
        await service.append_event(hand_built, _event("second"))
        # ``created`` is stale now; an unmarked object with old events too.
        with pytest.raises(StaleSessionError):
            await service.append_event(created, _event("stale"))
        behind = Session(id="s", app_name="app", user_id="u", events=[first])
        with pytest.raises(StaleSessionError):
            await service.append_event(behind, _event("behind"))
        ghost = Session(id="ghost", app_name="app", user_id="u")
        with pytest.raises(SessionNotFoundError):
            await service.append_event(ghost, _event("x"))
        stored = await service.get_session(app_name="app", user_id="u", session_id="s")
        assert stored is not None and len(stored.events) == 2
        assert stored.events[0].id == first.id

    run(scenario())


def test_marker_of_another_service_is_checked_against_storage() -> None:
    """A session carrying a foreign (non-revision) marker is treated like a hand-built one."""

    async def scenario() -> None:
        service = OmniSessionService("memory://")
        session = await service.create_session(app_name="app", user_id="u")
        session._storage_update_marker = "2026-01-01T00:00:00.000000"
        await service.append_event(session, _event("ok"))
        assert session._storage_update_marker is not None
        assert session._storage_update_marker.isdigit()

    run(scenario())


# -- the Runner, end to end, in a second process -----------------------------------

_TURN_ONE = """
import asyncio, sys
from google.adk.agents import LlmAgent
from google.adk.runners import Runner
from omnisession.adk import OmniSessionService
from omnisession.adk_testing import ScriptedLlm, reply, user_message

async def main(url):
    async with OmniSessionService(url) as service:
        agent = LlmAgent(name="assistant", model=ScriptedLlm(script=[reply("Hi Ada.")]))
        runner = Runner(app_name="app", agent=agent, session_service=service)
        await service.create_session(app_name="app", user_id="u", session_id="s")
        async for _ in runner.run_async(user_id="u", session_id="s",
                                        new_message=user_message("I am Ada")):
            pass

asyncio.run(main(sys.argv[1]))
"""


def test_conversation_continues_in_a_new_process(tmp_path: Any) -> None:
    """Turn 1 runs in another process on a SQLite file; turn 2 here sees it."""
    import subprocess
    import sys

    from google.adk.agents import LlmAgent
    from google.adk.runners import Runner

    url = f"sqlite:///{tmp_path}/sessions.db"
    try:
        open_store(url)
    except Exception as exc:  # the sqlalchemy plugin is not installed
        pytest.skip(f"no sqlite:// backend: {exc}")
    subprocess.run([sys.executable, "-c", _TURN_ONE, url], check=True, timeout=300)

    async def turn_two() -> list[str]:
        async with OmniSessionService(url) as service:
            llm = ScriptedLlm(script=[reply("You are Ada.")])
            agent = LlmAgent(name="assistant", model=llm)
            runner = Runner(app_name="app", agent=agent, session_service=service)
            async for _ in runner.run_async(
                user_id="u", session_id="s", new_message=user_message("who am I?")
            ):
                pass
            return llm.texts(-1)

    assert run(turn_two()) == ["I am Ada", "Hi Ada.", "who am I?"]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_sync_runner_run_uses_the_service_from_its_own_threads(tmp_path: Any, backend: str) -> None:
    """Runner.run (sync) drives the service from a new thread and loop per turn."""
    from google.adk.agents import LlmAgent
    from google.adk.runners import Runner

    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path}/s.db"
    try:
        service = OmniSessionService(url)
    except Exception as exc:  # the sqlalchemy plugin is not installed
        pytest.skip(f"no {backend} backend: {exc}")
    llm = ScriptedLlm(script=[reply("one"), reply("two")])
    runner = Runner(app_name="app", agent=LlmAgent(name="a", model=llm), session_service=service)
    run(service.create_session(app_name="app", user_id="u", session_id="s"))
    for text in ("first", "second"):
        events = list(runner.run(user_id="u", session_id="s", new_message=user_message(text)))
        assert events[-1].is_final_response()
    assert llm.texts(-1) == ["first", "one", "second"]
    stored = run(service.get_session(app_name="app", user_id="u", session_id="s"))
    assert stored is not None and len(stored.events) == 4
    run(service.close())


def test_corrupt_payload_raises_adk_validation_error() -> None:
    """A stored payload that is not an Event fails loudly, with pydantic's own message."""
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="timestamp"):
        decode_event({"author": "user", "timestamp": "not a number"})


def test_validate_runs_the_adk_suite_without_pytest() -> None:
    """A backend author's programmatic check: validate(factory, suite=ADKServiceConformance)."""
    from omnisession_conformance import validate
    from omnisession_conformance.adk import ADKServiceConformance

    report = validate(
        lambda: open_store("memory://adk-validate"),
        second_factory=lambda: open_store("memory://adk-validate"),
        suite=ADKServiceConformance,
        name="memory",
    )
    failed = [r for r in report.results if r.status == "failed"]
    assert not failed, report
    assert sum(r.status == "passed" for r in report.results) >= 17
