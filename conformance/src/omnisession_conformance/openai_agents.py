"""Bridge-level conformance for :class:`omnisession.openai_agents.OmniSession`.

:class:`OpenAISessionConformance` checks, over any store, the two things an
OpenAI Agents SDK user relies on: the SDK's ``Session`` protocol semantics
(limit = newest N in order, pop, clear, fidelity of every item) and the real
``agents.Runner`` (``run``, ``run_sync``, ``run_streamed``) remembering
conversations through the session. The model is the SDK's own offline
``agents.testing.ScriptedModel``: no network, no API key.

Bind it like any suite::

    class TestMyBackendOpenAI(OpenAISessionConformance):
        async def store(self):
            async with open_store("mydb://...") as store:
                yield store
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any, cast

from agents import (
    Agent,
    RunConfig,
    Runner,
    SQLiteSession,
    ToolOutputImage,
    ToolOutputText,
    function_tool,
)
from agents.items import TResponseInputItem
from agents.testing import ScriptedModel, assistant_message, function_call
from omnisession import Capability, InvalidEntry, SessionStore, StaleSession
from omnisession.openai_agents import OmniSession, state_instructions
from openai.types.responses import ResponseReasoningItem
from openai.types.responses.response_reasoning_item import Content, Summary

from .harness import ConformanceBase, case

__all__ = ["OpenAISessionConformance"]

_RUN = RunConfig(tracing_disabled=True)


@function_tool
def lookup_weather(city: str) -> str:
    """Report the weather of a city (a deterministic tool for the scripted runs)."""
    return f"Sunny in {city}, 21°C"


@function_tool
def weather_chart(city: str) -> list[ToolOutputText | ToolOutputImage]:
    """Return a chart of a city's weather: a caption and an image (a multi-part tool output)."""
    return [
        ToolOutputText(text=f"Chart for {city}"),
        ToolOutputImage(image_url="data:image/png;base64,iVBORw0KGgo="),
    ]


def _agent(model: ScriptedModel, **options: Any) -> Agent[Any]:
    return Agent(name="assistant", model=model, **options)


def _user(text: str) -> TResponseInputItem:
    return cast(TResponseInputItem, {"role": "user", "content": text})


def _message(index: int) -> TResponseInputItem:
    return _user(f"message {index}")


def _reasoning(item_id: str = "rs_1", raw_text: str | None = None) -> ResponseReasoningItem:
    return ResponseReasoningItem(
        id=item_id,
        type="reasoning",
        summary=[Summary(text="The user wants the weather: call the tool.", type="summary_text")],
        content=None if raw_text is None else [Content(text=raw_text, type="reasoning_text")],
        encrypted_content="gAAAAB-opaque-ciphertext==",
    )


def _texts(items: Sequence[Any]) -> list[str]:
    """The user/assistant texts of ``items``, to compare conversations readably."""
    texts: list[str] = []
    for item in items:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(part["text"] for part in content if "text" in part)
    return texts


def _run_sync_on_fresh_thread_loop(agent: Agent[Any], text: str, session: OmniSession) -> Any:
    """``Runner.run_sync`` as a sync caller on a worker thread does it, then tidy the loop."""
    try:
        return Runner.run_sync(agent, text, session=session, run_config=_RUN)
    finally:
        # run_sync leaves the thread's default loop open for later calls; this
        # thread is borrowed from an executor, so close the loop it created.
        policy = asyncio.get_event_loop_policy()
        loop = policy.get_event_loop()
        loop.close()
        policy.set_event_loop(None)


class OpenAISessionConformance(ConformanceBase):
    """``OmniSession`` over any store: the SDK's Session semantics and the real Runner."""

    def session(
        self, store: SessionStore, session_id: str = "thread-1", **options: Any
    ) -> OmniSession:
        """An :class:`OmniSession` in this case's own app namespace."""
        options.setdefault("app_name", self.app_name)
        return OmniSession(session_id, store, **options)

    # -- the Session protocol ----------------------------------------------------

    @case(
        Capability.BASE,
        hint=(
            "OmniSession.get_items -> store.get_items(limit): newest N, oldest first; "
            "session_settings.limit is the default"
        ),
    )
    async def limit_returns_newest_in_order(self, store: SessionStore) -> None:
        """get_items(limit=N) is the newest N, oldest first; session_settings.limit the default."""
        session = self.session(store)
        await session.add_items([_message(i) for i in range(6)])
        assert await session.get_items(limit=2) == [_message(4), _message(5)]
        assert await session.get_items(limit=1) == [_message(5)]
        assert await session.get_items(limit=0) == []
        assert await session.get_items(limit=100) == [_message(i) for i in range(6)]
        try:
            await session.get_items(limit=-1)
        except ValueError:
            pass
        else:
            raise AssertionError("get_items(limit=-1) must raise ValueError, not guess")
        capped = self.session(store, session_settings={"limit": 2})
        assert await capped.get_items() == [_message(4), _message(5)]
        assert await capped.get_items(limit=3) == [_message(i) for i in (3, 4, 5)]

    @case(
        Capability.BASE,
        hint="OmniSession.pop_item / clear_session -> the store's atomic pop and clear",
    )
    async def pop_item_and_clear_session(self, store: SessionStore) -> None:
        """pop_item returns the newest item each time, then None; clear empties but keeps state.

        A never-written session reads empty: no items, pop gives None, clear is a no-op.
        """
        session = self.session(store)
        assert await session.get_items() == []
        assert await session.get_items(limit=3) == []
        assert await session.pop_item() is None
        await session.clear_session()
        await session.add_items([_message(0), _message(1)])
        assert await session.pop_item() == _message(1)
        assert await session.get_items() == [_message(0)]
        assert await session.pop_item() == _message(0)
        assert await session.pop_item() is None
        await session.add_items([_message(2), _message(3)])
        await session.update_state({"topic": "weather"})
        await session.clear_session()
        assert await session.get_items() == []
        assert await session.pop_item() is None
        assert (await session.get_state())["topic"] == "weather"
        await session.add_items([_message(4)])
        assert await session.get_items() == [_message(4)]

    @case(
        Capability.BASE,
        hint="the store's _pop_item must be atomic across session objects",
    )
    async def concurrent_pops_return_each_item_once(self, store: SessionStore) -> None:
        """Two session objects popping one thread concurrently never get the same item."""
        first = self.session(store)
        second = self.session(store)
        await first.add_items([_message(i) for i in range(6)])
        popped = await asyncio.gather(*(s.pop_item() for s in [first, second] * 4))
        found = [item for item in popped if item is not None]
        assert sorted(_texts(found)) == sorted(_texts([_message(i) for i in range(6)]))
        assert await first.get_items() == []

    @case(
        Capability.BASE,
        hint=("items are stored as JSON exactly; a bad item fails the whole add_items batch first"),
    )
    async def every_item_shape_round_trips(self, store: SessionStore) -> None:
        """Every item shape round-trips in order; a non-JSON item writes nothing of its batch."""
        items: list[Any] = [
            {"role": "user", "content": 'Grüße, 世界 🌍 "quoted" \\ back\nslash'},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is in this picture?"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,iVBORw0KGgo=",
                        "detail": "auto",
                    },
                ],
            },
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "use metric units"},
            {
                "id": "rs_abc",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "thinking"}],
                "encrypted_content": "gAAAAB==",
            },
            {
                "type": "reasoning",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "x"}],
            },
            {
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup_weather",
                "arguments": '{"city":"Zürich","n":12345678901234567890}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "structured"}],
            },
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "ok", "annotations": [], "logprobs": []},
                    {"type": "refusal", "refusal": "no"},
                ],
            },
            {"type": "item_reference", "id": "msg_0"},
            {"role": "user", "content": "", "extra": {"big": 2**70, "neg": -1.5e-300, "n": None}},
        ]
        session = self.session(store)
        for batch in (items[:1], [], items[1:5], items[5:]):
            await session.add_items(copy.deepcopy(batch))
        assert await session.get_items() == items
        bad = cast(TResponseInputItem, {"role": "user", "content": object()})
        try:
            await session.add_items([_message(1), bad])
        except InvalidEntry:
            pass
        else:
            raise AssertionError("a non-JSON item must raise InvalidEntry")
        assert await session.get_items() == items
        assert await session.pop_item() == items[-1]

    @case(
        Capability.BASE,
        hint="OmniSession state helpers -> store.update_state (scopes, expected_revision)",
    )
    async def state_scopes_and_stale_writes(self, store: SessionStore) -> None:
        """update_state routes app:/user:/session keys to their scopes without adding an item.

        With ``expected_revision`` it fails if the thread changed since it was read.
        """
        mine = self.session(store, "thread-1", user_id="ada")
        await mine.update_state({"app:tier": "gold", "user:name": "Ada", "topic": "tea"})
        await mine.update_state({"topic": "coffee", "mood": None})
        assert await mine.get_items() == []
        assert await mine.get_state() == {
            "app:tier": "gold",
            "user:name": "Ada",
            "topic": "coffee",
            "mood": None,
        }
        same_user = self.session(store, "thread-2", user_id="ada")
        assert await same_user.get_state() == {"app:tier": "gold", "user:name": "Ada"}
        other_user = self.session(store, "thread-3", user_id="bob")
        assert await other_user.get_state() == {"app:tier": "gold"}
        await mine.add_items([_message(0)])
        await mine.update_state({"topic": "juice"})
        assert await mine.get_items() == [_message(0)]
        assert (await mine.get_state())["topic"] == "juice"

        record = await mine.get_record()
        assert record is not None
        await mine.add_items([_message(1)])
        try:
            await mine.update_state({"topic": "tea"}, expected_revision=record.revision)
        except StaleSession:
            pass
        else:
            raise AssertionError("a write on a stale revision must raise StaleSession")
        assert (await mine.get_state())["topic"] == "juice"
        fresh = await mine.get_record()
        assert fresh is not None
        await mine.update_state({"topic": "tea"}, expected_revision=fresh.revision)
        assert (await mine.get_state())["topic"] == "tea"

    @case(
        Capability.BASE,
        hint=(
            "update_state on a missing session must create it race-free (add_items/IF_MISSING"
            " semantics)"
        ),
    )
    async def concurrent_first_state_writes_all_land(self, store: SessionStore) -> None:
        """Many concurrent update_state calls on a thread that does not exist yet all land."""
        sessions = [self.session(store) for _ in range(8)]
        await asyncio.gather(
            *(s.update_state({f"k{i}": i, f"user:u{i}": i}) for i, s in enumerate(sessions))
        )
        state = await sessions[0].get_state()
        assert {k: v for k, v in state.items() if not k.startswith("user:")} == {
            f"k{i}": i for i in range(8)
        }
        assert {k for k in state if k.startswith("user:")} == {f"user:u{i}" for i in range(8)}
        assert await sessions[0].get_items() == []

    @case(
        Capability.BASE,
        hint="state_instructions reads the session's current state before each model call",
    )
    async def instructions_are_filled_from_state(self, store: SessionStore) -> None:
        """state_instructions renders the session's current state before each model call."""
        session = self.session(store, user_id="ada")
        await session.update_state({"user:name": "Ada", "topic": "tea"})
        model = ScriptedModel([[assistant_message("Hi Ada")], [assistant_message("Sure")]])
        template = "Help {user:name} with {topic}.{nickname?}"
        agent = _agent(model, instructions=state_instructions(template, session))
        await Runner.run(agent, "hello", session=session, run_config=_RUN)
        await session.update_state({"topic": "coffee", "nickname": " Call her Countess."})
        await Runner.run(agent, "and now?", session=session, run_config=_RUN)
        assert [call.system_instructions for call in model.calls] == [
            "Help Ada with tea.",
            "Help Ada with coffee. Call her Countess.",
        ]

    # -- the real Runner -------------------------------------------------------------

    @case(
        Capability.BASE,
        hint="Runner.run reads get_items() then add_items() the new turn; order by seq",
    )
    async def runner_turn_two_sees_turn_one(self, store: SessionStore) -> None:
        """Runner.run: turn 2's model input is turn 1's stored items plus the new message."""
        session = self.session(store)
        model = ScriptedModel([[assistant_message("Hello Ada!")], [assistant_message("Ada.")]])
        agent = _agent(model)
        first = await Runner.run(agent, "Hi, I am Ada.", session=session, run_config=_RUN)
        assert first.final_output == "Hello Ada!"
        after_turn_one = await session.get_items()
        assert _texts(after_turn_one) == ["Hi, I am Ada.", "Hello Ada!"]
        await Runner.run(agent, "What is my name?", session=session, run_config=_RUN)
        assert model.last_call is not None
        assert model.last_call.input == [*after_turn_one, _user("What is my name?")]
        assert _texts(await session.get_items()) == [
            "Hi, I am Ada.",
            "Hello Ada!",
            "What is my name?",
            "Ada.",
        ]

    @case(
        Capability.BASE,
        hint="function_call / function_call_output items must round-trip unchanged",
    )
    async def runner_tool_call_is_stored_and_replayed(self, store: SessionStore) -> None:
        """A tool-calling turn is stored item for item as in the SDK's SQLiteSession and replayed.

        The script covers every item type a function-tool run writes: structured
        user input, a reasoning item with summary, raw content and encrypted
        content (its id stripped by the SDK under ``reasoning_item_id_policy="omit"``),
        parallel function calls, a multi-part tool output (text and image) and a
        plain one, and an assistant message.
        """

        def script() -> ScriptedModel:
            return ScriptedModel(
                [
                    [
                        _reasoning("rs_9", raw_text="Two tools are needed."),
                        function_call("lookup_weather", '{"city":"Oslo"}', call_id="c9"),
                        function_call("weather_chart", {"city": "Oslo"}, call_id="c10"),
                    ],
                    [assistant_message("Sunny in Oslo. Here is the chart.", item_id="msg_9")],
                    [assistant_message("Oslo.", item_id="msg_10")],
                ]
            )

        turns: list[Any] = [
            [{"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo? 🌦"}]}],
            "Which city was it?",
        ]
        config = RunConfig(tracing_disabled=True, reasoning_item_id_policy="omit")
        tools = [lookup_weather, weather_chart]
        reference_model = script()
        reference = SQLiteSession("reference")
        try:
            agent = _agent(reference_model, tools=tools)
            for turn in turns:
                await Runner.run(agent, copy.deepcopy(turn), session=reference, run_config=config)
            expected = await reference.get_items()
        finally:
            reference.close()
        model = script()
        session = self.session(store)
        agent = _agent(model, tools=tools)
        for turn in turns:
            await Runner.run(agent, copy.deepcopy(turn), session=session, run_config=config)
        assert await session.get_items() == expected
        assert [call.input for call in model.calls] == [
            call.input for call in reference_model.calls
        ]
        stored = cast(list[dict[str, Any]], expected)
        kinds = [item.get("type", item.get("role")) for item in stored]
        assert kinds == [
            "user",
            "reasoning",
            "function_call",
            "function_call",
            "function_call_output",
            "function_call_output",
            "message",
            "user",
            "message",
        ]
        assert "id" not in stored[1] and stored[1]["content"][0]["text"] == "Two tools are needed."
        assert stored[1]["encrypted_content"] == "gAAAAB-opaque-ciphertext=="
        call, output = stored[2], stored[4]
        assert (call["name"], call["call_id"], call["arguments"]) == (
            "lookup_weather",
            "c9",
            '{"city":"Oslo"}',
        )
        assert (output["call_id"], output["output"]) == ("c9", "Sunny in Oslo, 21°C")
        assert [part["type"] for part in stored[5]["output"]] == ["input_text", "input_image"]
        # Turn 2 replays turn 1 exactly as stored.
        assert model.calls[-1].input == [*stored[:7], _user("Which city was it?")]

    @case(
        Capability.BASE,
        hint="the store must work from any event loop and thread (connections bound per loop)",
    )
    async def runner_run_sync_from_worker_thread(self, store: SessionStore) -> None:
        """Runner.run_sync on a worker thread's own loop uses a store opened on another loop."""
        session = self.session(store)
        model = ScriptedModel([[assistant_message("Noted.")], [assistant_message("Blue.")]])
        agent = _agent(model)
        result = await asyncio.to_thread(
            _run_sync_on_fresh_thread_loop, agent, "My colour is blue.", session
        )
        assert result.final_output == "Noted."
        assert _texts(await session.get_items()) == ["My colour is blue.", "Noted."]
        await asyncio.to_thread(_run_sync_on_fresh_thread_loop, agent, "My colour?", session)
        assert model.last_call is not None
        assert _texts(model.last_call.input) == ["My colour is blue.", "Noted.", "My colour?"]

    @case(
        Capability.BASE,
        hint="run_streamed saves the turn once the stream ends; nothing stored twice",
    )
    async def runner_run_streamed(self, store: SessionStore) -> None:
        """Runner.run_streamed stores the turn once streaming ends; turn 2 streams with it."""
        session = self.session(store)
        model = ScriptedModel([[assistant_message("Stream one.")], [assistant_message("Two.")]])
        agent = _agent(model)
        for text in ("First?", "Second?"):
            streamed = Runner.run_streamed(agent, text, session=session, run_config=_RUN)
            events = [event async for event in streamed.stream_events()]
            assert events
        assert model.last_call is not None and model.last_call.streamed
        assert _texts(model.last_call.input) == ["First?", "Stream one.", "Second?"]
        assert _texts(await session.get_items()) == ["First?", "Stream one.", "Second?", "Two."]

    @case(
        Capability.BASE,
        hint="pop_item removes the newest item only; the next run sends the corrected history",
    )
    async def runner_pop_item_correction(self, store: SessionStore) -> None:
        """Popping the last exchange and re-asking sends the model only the corrected history."""
        session = self.session(store)
        model = ScriptedModel(
            [
                [assistant_message("Paris.")],
                [assistant_message("Wrong city, sorry.")],
                [assistant_message("Lyon it is.")],
            ]
        )
        agent = _agent(model)
        await Runner.run(agent, "Capital of France?", session=session, run_config=_RUN)
        await Runner.run(agent, "Second city?", session=session, run_config=_RUN)
        assistant = await session.pop_item()
        question = await session.pop_item()
        assert _texts([question, assistant]) == ["Second city?", "Wrong city, sorry."]
        await Runner.run(agent, "Second-largest city of France?", session=session, run_config=_RUN)
        assert model.last_call is not None
        assert _texts(model.last_call.input) == [
            "Capital of France?",
            "Paris.",
            "Second-largest city of France?",
        ]
        assert _texts(await session.get_items())[-1] == "Lyon it is."

    @case(
        Capability.BASE,
        hint="distinct session ids must never share items",
    )
    async def runner_two_session_ids_stay_separate(self, store: SessionStore) -> None:
        """Two threads on one store, run concurrently, each see only their own history."""
        model_a = ScriptedModel([[assistant_message("A1")], [assistant_message("A2")]])
        model_b = ScriptedModel([[assistant_message("B1")], [assistant_message("B2")]])
        alpha, beta = self.session(store, "alpha"), self.session(store, "beta")
        agent_a, agent_b = _agent(model_a), _agent(model_b)
        for turn in (1, 2):
            await asyncio.gather(
                Runner.run(agent_a, f"a{turn}", session=alpha, run_config=_RUN),
                Runner.run(agent_b, f"b{turn}", session=beta, run_config=_RUN),
            )
        assert model_a.last_call is not None and model_b.last_call is not None
        assert _texts(model_a.last_call.input) == ["a1", "A1", "a2"]
        assert _texts(model_b.last_call.input) == ["b1", "B1", "b2"]
        assert _texts(await alpha.get_items()) == ["a1", "A1", "a2", "A2"]
        assert _texts(await beta.get_items()) == ["b1", "B1", "b2", "B2"]
        assert _texts([await beta.pop_item()]) == ["B2"]
        await alpha.clear_session()
        assert _texts(await beta.get_items()) == ["b1", "B1", "b2"]

    @case(
        Capability.BASE,
        hint="session_input_callback and limit shape the model input, never the stored history",
    )
    async def runner_session_input_callback_and_limit(self, store: SessionStore) -> None:
        """session_input_callback and session_settings.limit shape the model input only.

        The full history is still stored.
        """
        session = self.session(store)
        model = ScriptedModel([[assistant_message(f"R{i}")] for i in range(6)])
        agent = _agent(model)

        def keep_last_reply(
            history: list[TResponseInputItem], new: list[TResponseInputItem]
        ) -> list[TResponseInputItem]:
            return history[-1:] + new

        config = RunConfig(tracing_disabled=True, session_input_callback=keep_last_reply)
        for text in ("q0", "q1", "q2"):
            await Runner.run(agent, text, session=session, run_config=config)
        assert model.last_call is not None
        assert _texts(model.last_call.input) == ["R1", "q2"]
        assert _texts(await session.get_items()) == ["q0", "R0", "q1", "R1", "q2", "R2"]

        capped = self.session(store, "capped", session_settings={"limit": 2})
        for text in ("q0", "q1", "q2"):
            await Runner.run(agent, text, session=capped, run_config=_RUN)
        assert model.last_call is not None
        assert _texts(model.last_call.input) == ["q1", "R4", "q2"]
        assert _texts(await capped.get_items(limit=10)) == ["q0", "R3", "q1", "R4", "q2", "R5"]

    @case(
        Capability.PERSISTENT,
        second=True,
        hint="the store's persistence across instances",
    )
    async def runner_history_survives_reopen(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """A conversation written through one store instance continues through another."""
        model = ScriptedModel([[assistant_message("Remembered.")], [assistant_message("42.")]])
        agent = _agent(model)
        writer = self.session(store, user_id="ada")
        await Runner.run(agent, "The answer is 42.", session=writer, run_config=_RUN)
        await writer.update_state({"user:name": "Ada"})
        reader = self.session(second, user_id="ada")
        assert await reader.get_state() == {"user:name": "Ada"}
        await Runner.run(agent, "What is the answer?", session=reader, run_config=_RUN)
        assert model.last_call is not None
        assert _texts(model.last_call.input) == [
            "The answer is 42.",
            "Remembered.",
            "What is the answer?",
        ]
        assert await writer.get_items() == await reader.get_items()
