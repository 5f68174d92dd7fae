"""The SDK's OpenAIResponsesCompactionSession around an OmniSession, on every target.

What we promise (README, "Use with OpenAI Agents SDK"):

- automatic compaction runs when the Runner sees only a window of the history
  (``session_settings={"limit": N}``): the compacted part is replaced, the
  older items stay, in one atomic write of the store;
- with the whole history in view, the whole history is replaced, atomically;
- a write by anyone else between the SDK's read and its replacement makes the
  replacement change nothing: no item is lost or duplicated;
- a manual ``run_compaction()`` replaces the history in one write, never
  through an empty history;
- the same holds through the SDK's ``EncryptedSession``, which also gets its
  expired envelopes reclaimed in the same write;
- a store without ``Capability.REPLACE`` behaves as the SDK's sessions
  without the hooks do;
- a store failure surfaces as the project's error and leaves the history as it was.

The model is the SDK's offline ``ScriptedModel``; the compaction endpoint is
``ScriptedCompaction`` (no network).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from agents import Agent, RunConfig, Runner
from agents.memory import OpenAIResponsesCompactionSession
from agents.testing import ScriptedModel, assistant_message
from omnisession import BackendUnavailable, Capability
from omnisession.openai_agents import OmniSession

from .conftest import ScriptedCompaction, StoreProxy

pytestmark = pytest.mark.asyncio

RUN = RunConfig(tracing_disabled=True)
SUMMARY = {"type": "compaction", "id": "cmp_1", "encrypted_content": "summary-of-the-suffix"}
SKIPPED_PARTIAL = "Skipped automatic compaction because complete stored history could not"
SKIPPED_CHANGED = "Skipped compaction replacement because the stored suffix changed"
EVERYTHING = 10_000
REPLACE = pytest.mark.needs(Capability.REPLACE)


def conversation(turns: int, start: int = 0) -> list[dict[str, Any]]:
    """``turns`` question/answer pairs: q0, a0, q1, a1, ..."""
    items: list[dict[str, Any]] = []
    for index in range(start, start + turns):
        items.append({"role": "user", "content": f"q{index}"})
        items.append({"role": "assistant", "content": f"a{index}"})
    return items


def texts(items: Any) -> list[str]:
    """A readable label per item: its text, or its type for items without one."""
    found: list[str] = []
    for item in items:
        content = item.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            found.append("".join(part.get("text", "") for part in content))
        else:
            found.append(str(item.get("type")))
    return found


def compacting(
    session: Any, client: ScriptedCompaction, **options: Any
) -> OpenAIResponsesCompactionSession:
    """The SDK's compaction wrapper, deciding to compact whenever it is asked."""
    options.setdefault("should_trigger_compaction", lambda context: True)
    return OpenAIResponsesCompactionSession("thread", session, client=cast(Any, client), **options)


async def turn(session: Any, text: str = "continue", reply: str = "done") -> ScriptedModel:
    model = ScriptedModel([[assistant_message(reply)]])
    await Runner.run(Agent(name="assistant", model=model), text, session=session, run_config=RUN)
    return model


async def stored(store: Any, session_id: str = "thread") -> list[str]:
    return texts(await OmniSession(session_id, store).get_items(EVERYTHING))


# -- automatic compaction ---------------------------------------------------------------


@REPLACE
async def test_automatic_compaction_over_a_history_window_replaces_only_that_window(
    target_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session = OmniSession("thread", target_store, session_settings={"limit": 4})
    await session.add_items(conversation(6))
    client = ScriptedCompaction([SUMMARY])

    with caplog.at_level(logging.WARNING):
        model = await turn(compacting(session, client))

    assert model.last_call is not None
    assert texts(model.last_call.input) == ["q4", "a4", "q5", "a5", "continue"]
    # The SDK compacts exactly what the model saw (from its first user message on),
    # in input mode, since older items stay.
    [request] = client.requests
    assert texts(request["input"]) == ["q4", "a4", "q5", "a5", "continue", "done"]
    assert SKIPPED_PARTIAL not in caplog.text
    assert await stored(target_store) == [*texts(conversation(4)), "compaction"]
    # The next turn's model sees the kept history and the summary in order.
    model = await turn(compacting(session, ScriptedCompaction([SUMMARY])), "next")
    assert model.last_call is not None
    assert texts(model.last_call.input)[-2:] == ["compaction", "next"]


@REPLACE
async def test_automatic_compaction_with_the_whole_history_in_view_replaces_it_all(
    target_store: Any,
) -> None:
    proxy = StoreProxy(target_store)
    session = OmniSession("thread", proxy)
    await session.add_items(conversation(3))
    client = ScriptedCompaction([SUMMARY])

    await turn(compacting(session, client))

    # Whole history seen and stored: the server-side chain can be compacted.
    [request] = client.requests
    assert request["previous_response_id"] == "resp-789"
    assert await stored(target_store) == ["compaction"]
    # One conditional write, never an empty history in between.
    assert "replace_events" in proxy.calls
    assert "clear_session" not in proxy.calls


@REPLACE
async def test_a_write_between_the_snapshot_and_the_replacement_makes_it_change_nothing(
    target_store: Any, other_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session = OmniSession("thread", target_store, session_settings={"limit": 4})
    await session.add_items(conversation(6))
    elsewhere = OmniSession("thread", other_store)

    async def someone_else_appends() -> None:
        await elsewhere.add_items([{"role": "user", "content": "late"}])

    client = ScriptedCompaction([SUMMARY], during=someone_else_appends)
    with caplog.at_level(logging.WARNING):
        await turn(compacting(session, client))

    assert len(client.requests) == 1
    assert SKIPPED_CHANGED in caplog.text
    # Every item once, in order: nothing lost, nothing duplicated, nothing compacted.
    assert await stored(target_store) == [*texts(conversation(6)), "continue", "done", "late"]


@REPLACE
async def test_a_stale_snapshot_replaces_nothing_and_a_fresh_one_succeeds(
    target_store: Any, other_store: Any
) -> None:
    session = OmniSession("thread", target_store)
    elsewhere = OmniSession("thread", other_store)
    await session.add_items(conversation(3))

    snapshot = await session._get_compaction_snapshot(4)
    assert snapshot is not None
    assert texts(snapshot.items) == ["a0", "q1", "a1", "q2", "a2"][-4:]
    assert snapshot.complete is False
    popped = await elsewhere.pop_item()
    assert popped == {"role": "assistant", "content": "a2"}
    assert await snapshot.replace_suffix(0, [SUMMARY]) is False
    assert await stored(target_store) == ["q0", "a0", "q1", "a1", "q2"]

    fresh = await session._get_compaction_snapshot(10)
    assert fresh is not None and fresh.complete is True
    assert texts(fresh.items) == ["q0", "a0", "q1", "a1", "q2"]
    assert await fresh.replace_suffix(2, [SUMMARY]) is True
    assert await stored(target_store) == ["q0", "a0", "compaction"]
    # A snapshot is good for one replacement: the first one changed the revision.
    assert await fresh.replace_suffix(2, [SUMMARY]) is False
    # Out of range, or a thread that does not exist: nothing to replace.
    assert await fresh.replace_suffix(5, []) is False
    missing = await OmniSession("never", target_store)._get_compaction_snapshot(3)
    assert missing is not None
    assert (missing.items, missing.complete) == ([], True)
    assert await missing.replace_suffix(0, [SUMMARY]) is False
    assert await OmniSession("never", target_store).get_items() == []


@REPLACE
async def test_manual_compaction_replaces_the_history_in_one_write(target_store: Any) -> None:
    proxy = StoreProxy(target_store)
    session = OmniSession("thread", proxy)
    await session.add_items(conversation(3))
    client = ScriptedCompaction([SUMMARY])

    await compacting(session, client, compaction_mode="input").run_compaction({"force": True})

    assert texts(client.requests[0]["input"]) == texts(conversation(3))
    assert await stored(target_store) == ["compaction"]
    assert "replace_events" in proxy.calls
    assert "clear_session" not in proxy.calls


@REPLACE
async def test_atomic_replace_creates_a_missing_thread_and_ends_at_exactly_the_items(
    target_store: Any,
) -> None:
    session = OmniSession("thread", target_store)
    assert await session._atomic_replace_items([]) is True
    assert await session.get_items() == []
    assert await session._atomic_replace_items([SUMMARY]) is True
    assert await session.get_items() == [SUMMARY]
    await session.add_items(conversation(1))
    assert await session._atomic_replace_items(conversation(1, start=7)) is True
    assert await stored(target_store) == ["q7", "a7"]


# -- stores without Capability.REPLACE: the SDK's own fallback ---------------------------


async def test_without_replace_a_window_is_not_compacted_as_the_sdk_does_without_hooks(
    target_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = StoreProxy(target_store, hide=[Capability.REPLACE])
    session = OmniSession("thread", proxy, session_settings={"limit": 4})
    await session.add_items(conversation(6))
    assert await session._get_compaction_snapshot(4) is None
    client = ScriptedCompaction([SUMMARY])

    with caplog.at_level(logging.WARNING):
        await turn(compacting(session, client))

    assert client.requests == []
    assert SKIPPED_PARTIAL in caplog.text
    assert await stored(target_store) == [*texts(conversation(6)), "continue", "done"]
    assert "replace_events" not in proxy.calls


async def test_without_replace_the_whole_history_is_compacted_by_clear_then_add(
    target_store: Any,
) -> None:
    proxy = StoreProxy(target_store, hide=[Capability.REPLACE])
    session = OmniSession("thread", proxy)
    await session.add_items(conversation(3))
    assert await session._atomic_replace_items([SUMMARY]) is False
    assert await stored(target_store) == texts(conversation(3))

    await turn(compacting(session, ScriptedCompaction([SUMMARY])))

    assert await stored(target_store) == ["compaction"]
    assert "replace_events" not in proxy.calls
    assert {"clear_session", "add_items"} <= set(proxy.calls)


async def test_a_subclass_that_transforms_items_gets_no_hooks(target_store: Any) -> None:
    class Redacting(OmniSession):
        async def add_items(self, items: list[Any]) -> None:
            await super().add_items([{**item, "content": "[redacted]"} for item in items])

    session = Redacting("thread", target_store)
    await session.add_items(conversation(1))
    # The hooks write the store directly: they would bypass the transformation.
    assert await session._get_compaction_snapshot(4) is None
    assert await session._atomic_replace_items([SUMMARY]) is False
    assert await stored(target_store) == ["[redacted]", "[redacted]"]


# -- failures ----------------------------------------------------------------------------


@REPLACE
async def test_a_store_failure_during_the_replacement_surfaces_and_keeps_the_history(
    target_store: Any,
) -> None:
    outage = BackendUnavailable("the store went away (simulated)")
    proxy = StoreProxy(target_store, fail={"replace_events": outage})
    session = OmniSession("thread", proxy, session_settings={"limit": 4})
    await session.add_items(conversation(6))

    with pytest.raises(BackendUnavailable, match="simulated"):
        await turn(compacting(session, ScriptedCompaction([SUMMARY])))

    assert await stored(target_store) == [*texts(conversation(6)), "continue", "done"]
    # Once the store is back, the next turn compacts.
    proxy.fail.clear()
    await turn(compacting(session, ScriptedCompaction([SUMMARY])), "again", "ok")
    assert await stored(target_store) == [*texts(conversation(5)), "compaction"]


@REPLACE
async def test_a_store_failure_reading_the_snapshot_surfaces_before_any_compaction(
    target_store: Any,
) -> None:
    outage = BackendUnavailable("the store went away (simulated)")
    proxy = StoreProxy(target_store, fail={"get_session": outage})
    session = OmniSession("thread", proxy, session_settings={"limit": 4})
    await session.add_items(conversation(6))
    client = ScriptedCompaction([SUMMARY])

    with pytest.raises(BackendUnavailable, match="simulated"):
        await turn(compacting(session, client))

    assert client.requests == []
    assert await stored(target_store) == [*texts(conversation(6)), "continue", "done"]


class GatedStore(StoreProxy):
    """A proxy whose ``replace_events`` waits, once it has started, until released."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        operation = super().__getattr__(name)
        if name != "replace_events":
            return operation

        async def gated(*args: Any, **kwargs: Any) -> Any:
            self.started.set()
            await self.release.wait()
            return await operation(*args, **kwargs)

        return gated


@REPLACE
async def test_a_cancelled_compaction_settles_before_the_next_write(target_store: Any) -> None:
    gate = GatedStore(target_store)
    session = OmniSession("thread", gate, session_settings={"limit": 4})
    await session.add_items(conversation(6))
    wrapper = compacting(session, ScriptedCompaction([SUMMARY]))
    run = asyncio.create_task(turn(wrapper))
    await gate.started.wait()  # the replacement is in flight

    run.cancel()
    newer = asyncio.create_task(wrapper.add_items([{"role": "user", "content": "newer"}]))
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await run
    await newer

    # The replacement the SDK had started was carried out whole (not abandoned half
    # done), and the append that came after it went after it.
    assert await stored(target_store) == [*texts(conversation(4)), "compaction", "newer"]
