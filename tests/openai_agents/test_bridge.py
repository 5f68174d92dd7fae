"""OmniSession specifics: construction, ownership, sharing, state, templates and fidelity.

The conformance suite (test_conformance.py) checks the Session semantics on
every backend; these tests cover what only the bridge decides, on the
SQLite file backend a user starts with (``sqlite:///chat.db``) and on
``memory://``.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from agents import Agent, RunConfig, RunContextWrapper, Runner, SQLiteSession
from agents.memory import Session, SessionSettings
from agents.testing import ScriptedModel, assistant_message
from omnisession import (
    Backend,
    InvalidEntry,
    InvalidKey,
    OmnisessionError,
    SessionKey,
    SessionNotFound,
    UnknownBackend,
    open_store,
)
from omnisession.memory import MemoryStore
from omnisession.openai_agents import (
    MissingStateKey,
    OmniSession,
    SessionClosed,
    render_state_template,
    state_instructions,
)
from omnisession.plugins import registry

pytestmark = pytest.mark.asyncio

RUN = RunConfig(tracing_disabled=True)


def texts(items: Any) -> list[str]:
    """The user/assistant texts of a list of items."""
    found: list[str] = []
    for item in items:
        content = item.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            found.extend(part["text"] for part in content if "text" in part)
    return found


def chat_agent(*replies: str, **options: Any) -> tuple[Agent[Any], ScriptedModel]:
    model = ScriptedModel([[assistant_message(reply)] for reply in replies])
    return Agent(name="assistant", model=model, **options), model


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a temporary directory, so ``sqlite:///chat.db`` lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Any]:
    async with open_store(f"sqlite:///{tmp_path}/shared.db") as store:
        yield store


# -- construction and placement ---------------------------------------------------


async def test_session_from_url_persists_to_the_sqlite_file(in_tmp: Path) -> None:
    agent, model = chat_agent("Hello!", "You said hi.")
    async with OmniSession("user-42", url="sqlite:///chat.db") as session:
        await Runner.run(agent, "Hi", session=session, run_config=RUN)
    assert (in_tmp / "chat.db").is_file()
    async with OmniSession("user-42", url="sqlite:///chat.db") as reopened:
        assert texts(await reopened.get_items()) == ["Hi", "Hello!"]
        await Runner.run(agent, "What did I say?", session=reopened, run_config=RUN)
    assert model.last_call is not None
    assert texts(model.last_call.input) == ["Hi", "Hello!", "What did I say?"]


async def test_defaults_place_each_thread_as_its_own_user() -> None:
    store = MemoryStore()
    plain = OmniSession("user-42", store)
    assert plain.key == SessionKey("default", "user-42", "user-42")
    assert (plain.app_name, plain.user_id, plain.session_id) == ("default", "user-42", "user-42")
    other = OmniSession("user-7", store)
    await plain.update_state({"user:name": "Ada"})
    # user: state never leaks between threads placed by default.
    assert await other.get_state() == {}

    first = OmniSession("t1", store, app_name="shop", user_id="ada")
    second = OmniSession("t2", store, app_name="shop", user_id="ada")
    await first.update_state({"user:name": "Ada"})
    await second.add_items([{"role": "user", "content": "hi"}])
    assert await second.get_state() == {"user:name": "Ada"}
    page = await store.list_sessions("shop", "ada")
    assert sorted(record.key.session_id for record in page.sessions) == ["t1", "t2"]


async def test_is_an_agents_session_with_settings() -> None:
    store = MemoryStore()
    session = OmniSession("s", store)
    assert isinstance(session, Session)
    assert session.session_settings == SessionSettings()
    coerced = OmniSession("s", store, session_settings={"limit": 5})
    assert coerced.session_settings == SessionSettings(limit=5)
    given = SessionSettings(limit=3)
    assert OmniSession("s", store, session_settings=given).session_settings == given


async def test_constructor_rejects_ambiguous_or_invalid_arguments() -> None:
    store = MemoryStore()
    with pytest.raises(TypeError, match=r"exactly one of store= .* or url="):
        OmniSession("s")
    with pytest.raises(TypeError, match="exactly one of"):
        OmniSession("s", store, url="memory://")
    with pytest.raises(TypeError, match=r"url='memory://'"):
        OmniSession("s", "memory://")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store_options= only applies with url="):
        OmniSession("s", store, store_options={"ttl": 1})
    with pytest.raises(InvalidKey, match="session_id must not be empty"):
        OmniSession("", url="memory://")
    with pytest.raises(InvalidKey, match="user_id"):
        OmniSession("s", store, user_id="")
    with pytest.raises(UnknownBackend, match="nosuchdb"):
        OmniSession("s", url="nosuchdb://x")


# -- ownership and closing ------------------------------------------------------------


class ClosingProbeStore(MemoryStore):
    """The reference store, counting how often it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


@pytest.fixture
def probe_scheme() -> Iterator[list[ClosingProbeStore]]:
    """Register ``probe://`` for this test; yields every store it opened."""
    opened: list[ClosingProbeStore] = []

    def factory(url: str, **options: Any) -> ClosingProbeStore:
        opened.append(ClosingProbeStore())
        return opened[-1]

    reg = registry()
    reg.by_scheme["probe"] = Backend("probe", ("probe",), factory)
    try:
        yield opened
    finally:
        del reg.by_scheme["probe"]


async def test_url_session_owns_and_closes_its_store(
    probe_scheme: list[ClosingProbeStore],
) -> None:
    async with OmniSession("s", url="probe://") as session:
        await session.add_items([{"role": "user", "content": "hi"}])
    [store] = probe_scheme
    assert store.closed == 1
    await session.aclose()  # idempotent: the store is not closed twice
    assert store.closed == 1
    with pytest.raises(SessionClosed, match="OmniSession is closed"):
        await session.get_items()

    with pytest.raises(RuntimeError, match="boom"):
        async with OmniSession("s", url="probe://"):
            raise RuntimeError("boom")
    assert probe_scheme[1].closed == 1


async def test_session_given_a_store_leaves_it_open_for_others() -> None:
    store = ClosingProbeStore()
    async with OmniSession("a", store) as first:
        await first.add_items([{"role": "user", "content": "from a"}])
    assert store.closed == 0
    with pytest.raises(SessionClosed):
        await first.add_items([{"role": "user", "content": "late"}])
    with pytest.raises(SessionClosed):
        await first.update_state({"k": 1})
    second = OmniSession("a", store)
    assert texts(await second.get_items()) == ["from a"]
    assert isinstance(SessionClosed("x"), OmnisessionError)


async def test_many_sessions_share_one_store_concurrently(sqlite_store: Any) -> None:
    runs = []
    for index in range(12):
        agent, model = chat_agent(f"first {index}", f"second {index}")
        runs.append((OmniSession(f"thread-{index}", sqlite_store), agent, model))

    for turn in ("one", "two"):
        await asyncio.gather(
            *(
                Runner.run(agent, f"{turn} {index}", session=session, run_config=RUN)
                for index, (session, agent, _) in enumerate(runs)
            )
        )
    for index, (session, _, model) in enumerate(runs):
        assert model.last_call is not None
        assert texts(model.last_call.input) == [f"one {index}", f"first {index}", f"two {index}"]
        assert len(await session.get_items()) == 4


# -- state ------------------------------------------------------------------------------


async def test_get_state_before_the_thread_exists(sqlite_store: Any) -> None:
    ada = OmniSession("t1", sqlite_store, user_id="ada")
    await ada.update_state({"app:motd": "hello", "user:name": "Ada"})
    fresh = OmniSession("t2", sqlite_store, user_id="ada")
    assert await fresh.get_record() is None
    assert await fresh.get_state() == {"app:motd": "hello", "user:name": "Ada"}
    assert await fresh.get_items() == []


async def test_update_state_rejects_bad_input_and_writes_nothing(sqlite_store: Any) -> None:
    session = OmniSession("t", sqlite_store)
    await session.update_state({"count": 1})
    with pytest.raises(ValueError, match=r"temp: keys are never stored \(temp:scratch\)"):
        await session.update_state({"count": 2, "temp:scratch": 1})
    with pytest.raises(InvalidEntry, match="not storable JSON"):
        await session.update_state({"count": 3, "blob": object()})
    with pytest.raises(TypeError, match="takes a mapping"):
        await session.update_state([("count", 4)])  # type: ignore[arg-type]
    assert await session.get_state() == {"count": 1}
    missing = OmniSession("never-written", sqlite_store)
    with pytest.raises(SessionNotFound):
        await missing.update_state({"k": 1}, expected_revision=1)
    assert await missing.get_record() is None


# -- instructions from state ----------------------------------------------------------


async def test_render_state_template_follows_adk_rules() -> None:
    state = {"name": "Ada", "user:plan": "pro", "app:brand": "Acme", "nothing": None, "n": 3}
    assert render_state_template("Hi {name}, {user:plan} at {app:brand}.", state) == (
        "Hi Ada, pro at Acme."
    )
    assert render_state_template("{ name } x{missing?}y{nothing}z {n}", state) == "Ada xyz 3"
    kept = 'JSON {"a": 1}, {not a name}, ${name}, \\{name}, {other:name}'
    assert render_state_template(kept, state) == kept
    assert render_state_template("no braces", {}) == "no braces"


async def test_missing_template_key_names_the_key_and_stops_before_the_model() -> None:
    with pytest.raises(MissingStateKey) as caught:
        render_state_template("Hello {user_name}", {"user:name": "Ada"})
    assert caught.value.key == "user_name"
    message = str(caught.value)
    assert message.startswith("instructions template variable {user_name} is not in the state")
    assert "keys present: user:name" in message
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, OmnisessionError)

    session = OmniSession("t", MemoryStore())
    agent, model = chat_agent("never sent", instructions=state_instructions("Hi {name}", session))
    with pytest.raises(MissingStateKey, match=r"\{name\} is not in the state of session"):
        await Runner.run(agent, "hello", session=session, run_config=RUN)
    assert model.calls == ()
    # The SDK saves the turn's input before it builds the instructions:
    # pop it to retry the turn after fixing the state.
    assert texts(await session.get_items()) == ["hello"]
    assert await session.pop_item() == {"role": "user", "content": "hello"}


async def test_one_agent_serves_many_threads_through_a_resolver() -> None:
    store = MemoryStore()
    ada, bob = OmniSession("a", store), OmniSession("b", store)
    await ada.update_state({"name": "Ada"})
    await bob.update_state({"name": "Bob"})

    def pick(context: RunContextWrapper[Any]) -> OmniSession:
        session: OmniSession = context.context
        return session

    agent, model = chat_agent("1", "2", instructions=state_instructions("You help {name}.", pick))
    await Runner.run(agent, "hi", session=ada, context=ada, run_config=RUN)
    await Runner.run(agent, "hi", session=bob, context=bob, run_config=RUN)
    assert [call.system_instructions for call in model.calls] == ["You help Ada.", "You help Bob."]

    broken, _ = chat_agent("x", instructions=state_instructions("{name}", lambda ctx: "nope"))
    with pytest.raises(TypeError, match="must return an OmniSession, got str"):
        await Runner.run(broken, "hi", run_config=RUN)
    with pytest.raises(TypeError, match="OmniSession or a callable"):
        state_instructions("{name}", "ada")  # type: ignore[arg-type]


# -- fidelity ----------------------------------------------------------------------------


async def test_sanitised_input_persists_as_the_sdk_own_session_persists_it(
    sqlite_store: Any,
) -> None:
    """Replayed items carrying metadata the SDK strips are stored stripped, as by SQLiteSession."""
    turn: list[Any] = [
        {
            "id": "rs_old",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "earlier thought"}],
            "encrypted_content": "gAAAA==",
        },
        {
            "id": "msg_old",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "created_by": "server-metadata",
            "content": [{"type": "output_text", "text": "earlier answer", "annotations": []}],
        },
        {"role": "user", "content": "and now? ünïcödé ✓"},
    ]
    config = RunConfig(tracing_disabled=True, reasoning_item_id_policy="omit")

    reference = SQLiteSession("reference")
    try:
        agent, _ = chat_agent("Now this.")
        await Runner.run(agent, copy.deepcopy(turn), session=reference, run_config=config)
        expected = await reference.get_items()
    finally:
        reference.close()

    session = OmniSession("t", sqlite_store)
    agent, _ = chat_agent("Now this.")
    await Runner.run(agent, copy.deepcopy(turn), session=session, run_config=config)
    stored = await session.get_items()
    assert stored == expected
    assert "created_by" not in stored[1]
    assert [item.get("type", item.get("role")) for item in stored] == [
        "reasoning",
        "message",
        "user",
        "message",
    ]
