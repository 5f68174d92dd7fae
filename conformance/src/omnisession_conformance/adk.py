"""Bridge-level conformance for :class:`omnisession.adk.OmniSessionService`.

:class:`ADKServiceConformance` checks, over any store, what a Google ADK user
relies on: the ``BaseSessionService`` contract of google-adk 2.x (scoped
state, ``GetSessionConfig``, partial and ``temp:`` handling, idempotent
re-append, stale-writer detection, exact event round-trips) and the real
``google.adk.runners.Runner`` keeping conversations through the service. The
model is :class:`~omnisession.adk_testing.ScriptedLlm`, an offline ``BaseLlm``
returning canned responses: no network, no API key (it is re-exported here).

Bind it like any suite::

    class TestMyBackendADK(ADKServiceConformance):
        async def store(self):
            async with open_store("mydb://...") as store:
                yield store
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session
from google.adk.tools.tool_context import ToolContext
from google.genai import types
from omnisession import Capability, SessionStore
from omnisession.adk import OmniSessionService
from omnisession.adk_testing import ScriptedLlm, call, reply, user_message

from .harness import ConformanceBase, case

__all__ = [
    "ADKServiceConformance",
    "ScriptedLlm",
    "call",
    "reply",
    "rich_event",
    "user_message",
]

BASE = Capability.BASE


# -- helpers (the offline model lives in omnisession.adk_testing) ---------------


def remember_name(name: str, tool_context: ToolContext) -> dict[str, Any]:
    """Remember the user's name for every later conversation (a user-scoped write)."""
    tool_context.state["user:name"] = name
    tool_context.state["last_tool"] = "remember_name"
    return {"remembered": name}


def rich_event(**overrides: Any) -> Event:
    """An event using every kind of field a backend must round-trip exactly.

    Inline bytes (not UTF-8), a thought signature, function calls and
    responses with nested ``None``, actions with scoped state (``None``
    values included), artifact deltas, transfer and escalation, grounding and
    citation metadata, usage metadata, custom metadata, a workflow output,
    long-running tool ids (a set), branch and node info.
    """
    fields: dict[str, Any] = {
        "invocation_id": "inv-rich",
        "author": "assistant",
        "branch": "root.assistant",
        "content": types.Content(
            role="model",
            parts=[
                types.Part(text="héllo — 你好 🙂", thought_signature=b"\x00sig\xff"),
                types.Part(inline_data=types.Blob(mime_type="image/png", data=bytes(range(256)))),
                types.Part(
                    function_call=types.FunctionCall(
                        id="call-1", name="lookup", args={"q": "x", "none": None, "n": [1, 2.5]}
                    )
                ),
                types.Part(
                    function_response=types.FunctionResponse(
                        id="call-1", name="lookup", response={"result": {"deep": [None, {}]}}
                    )
                ),
            ],
        ),
        "actions": EventActions(
            state_delta={"k": {"nested": [1, None]}, "gone": None, "user:u": 1, "app:a": "x"},
            artifact_delta={"report.txt": 2},
            transfer_to_agent="helper",
            escalate=True,
            skip_summarization=True,
        ),
        "grounding_metadata": types.GroundingMetadata(
            web_search_queries=["omnisession"],
            grounding_chunks=[
                types.GroundingChunk(web=types.GroundingChunkWeb(uri="https://x.test", title="X"))
            ],
            grounding_supports=[
                types.GroundingSupport(
                    segment=types.Segment(start_index=0, end_index=5, text="héllo"),
                    grounding_chunk_indices=[0],
                    confidence_scores=[0.5],
                )
            ],
        ),
        "citation_metadata": types.CitationMetadata(
            citations=[types.Citation(uri="https://c.test", start_index=1, end_index=3)]
        ),
        "usage_metadata": types.GenerateContentResponseUsageMetadata(
            prompt_token_count=10, candidates_token_count=5, total_token_count=15
        ),
        "custom_metadata": {"trace": {"id": 7, "tags": ["a", None]}},
        "output": {"answer": 42, "items": [None, "x"]},
        "long_running_tool_ids": {"call-9", "call-1"},
        "turn_complete": True,
        "finish_reason": types.FinishReason.STOP,
        "model_version": "scripted-1",
    }
    fields.update(overrides)
    return Event(**fields)


def _text_event(text: str, *, author: str = "user", **fields: Any) -> Event:
    role = "user" if author == "user" else "model"
    return Event(
        invocation_id=fields.pop("invocation_id", "inv-1"),
        author=author,
        content=types.Content(role=role, parts=[types.Part(text=text)]),
        **fields,
    )


def _texts(session: Session) -> list[str]:
    return [
        part.text
        for event in session.events
        if event.content is not None
        for part in event.content.parts or []
        if part.text
    ]


class ADKServiceConformance(ConformanceBase):
    """``OmniSessionService`` over any store: ADK's session-service contract and the Runner."""

    def service(self, store: SessionStore) -> OmniSessionService:
        """A service on ``store`` (which the harness closes)."""
        return OmniSessionService(store)

    async def fresh(self, service: OmniSessionService, session: Session) -> Session:
        """``session`` as storage has it now."""
        loaded = await service.get_session(
            app_name=session.app_name, user_id=session.user_id, session_id=session.id
        )
        assert loaded is not None, f"session {session.id} vanished"
        return loaded

    def runner(
        self,
        service: OmniSessionService,
        script: list[LlmResponse],
        **agent_options: Any,
    ) -> tuple[Runner, ScriptedLlm]:
        """A real ADK Runner in this case's app, driving an agent on a scripted model."""
        llm = ScriptedLlm(script=script)
        agent = LlmAgent(name="assistant", model=llm, **agent_options)
        return Runner(app_name=self.app_name, agent=agent, session_service=service), llm

    async def turn(self, runner: Runner, session: Session, text: str) -> list[Event]:
        """Run one user turn to completion; the events the Runner yielded."""
        return [
            event
            async for event in runner.run_async(
                user_id=session.user_id, session_id=session.id, new_message=user_message(text)
            )
        ]

    # -- create / get / list / delete -------------------------------------------

    @case(
        BASE,
        hint=(
            "OmniSessionService.create_session -> store.create_session: split_state by "
            "prefix; temp: never stored"
        ),
    )
    async def create_session_splits_state_by_scope(self, store: SessionStore) -> None:
        """create_session stores app:/user:/session state in their scopes, never temp:."""
        service = self.service(store)
        created = await service.create_session(
            app_name=self.app_name,
            user_id="u1",
            session_id="s1",
            state={"topic": "tea", "user:name": "Ada", "app:tier": "gold", "temp:scratch": 1},
        )
        expected = {"topic": "tea", "user:name": "Ada", "app:tier": "gold"}
        assert (created.id, created.app_name, created.user_id) == ("s1", self.app_name, "u1")
        assert created.state == expected
        assert created.events == []
        assert created.last_update_time > 0
        loaded = await self.fresh(service, created)
        assert loaded.state == expected
        assert await service.get_user_state(app_name=self.app_name, user_id="u1") == {"name": "Ada"}
        other = await service.create_session(app_name=self.app_name, user_id="u2")
        assert other.state == {"app:tier": "gold"}, "app: state is shared by every user"

    @case(
        BASE,
        hint=(
            "OmniSessionService.create_session id generation; get_session must return None "
            "for a missing key"
        ),
    )
    async def create_without_id_generates_one_and_unknown_ids_read_none(
        self, store: SessionStore
    ) -> None:
        """Without a session_id each session gets a distinct id; an unknown id reads None."""
        service = self.service(store)
        first = await service.create_session(app_name=self.app_name, user_id="u1")
        second = await service.create_session(app_name=self.app_name, user_id="u1")
        assert first.id and second.id and first.id != second.id
        assert (await self.fresh(service, first)).id == first.id
        for user_id, session_id in (("u1", "nope"), ("nobody", first.id)):
            missing = await service.get_session(
                app_name=self.app_name, user_id=user_id, session_id=session_id
            )
            assert missing is None

    @case(
        BASE,
        hint=(
            "map the store's AlreadyExists to ADK's AlreadyExistsError before anything is written"
        ),
    )
    async def create_existing_raises_already_exists(self, store: SessionStore) -> None:
        """A taken session_id raises ADK's AlreadyExistsError and leaves the session as it was."""
        service = self.service(store)
        session = await service.create_session(
            app_name=self.app_name, user_id="u1", session_id="s1", state={"keep": 1}
        )
        await service.append_event(session, _text_event("hello"))
        with pytest.raises(AlreadyExistsError):
            await service.create_session(
                app_name=self.app_name, user_id="u1", session_id="s1", state={"keep": 2}
            )
        loaded = await self.fresh(service, session)
        assert loaded.state == {"keep": 1}
        assert _texts(loaded) == ["hello"]

    @case(
        BASE,
        hint=(
            "GetSessionConfig.num_recent_events -> store.get_session(last=N); 0 is none, "
            "negative ValueError"
        ),
    )
    async def get_session_num_recent_events(self, store: SessionStore) -> None:
        """num_recent_events=N is the newest N in order; 0 none; negative ValueError."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        for index in range(5):
            await service.append_event(session, _text_event(f"m{index}"))

        async def read(config: GetSessionConfig) -> Session:
            loaded = await service.get_session(
                app_name=self.app_name, user_id="u1", session_id=session.id, config=config
            )
            assert loaded is not None
            return loaded

        assert _texts(await read(GetSessionConfig(num_recent_events=2))) == ["m3", "m4"]
        assert _texts(await read(GetSessionConfig(num_recent_events=1))) == ["m4"]
        assert _texts(await read(GetSessionConfig(num_recent_events=50))) == [
            f"m{i}" for i in range(5)
        ]
        empty = await read(GetSessionConfig(num_recent_events=0))
        assert empty.events == []
        assert empty.state == session.state, "num_recent_events=0 still returns the state"
        with pytest.raises(ValueError):
            GetSessionConfig(num_recent_events=-1)
        with pytest.raises(ValueError):
            await read(GetSessionConfig.model_construct(num_recent_events=-1))

    @case(
        BASE,
        hint=(
            "GetSessionConfig.after_timestamp -> store.get_session(since=t), inclusive, with last=N"
        ),
    )
    async def get_session_after_timestamp_is_inclusive(self, store: SessionStore) -> None:
        """after_timestamp=t returns the events at or after t, combinable with num_recent_events."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        base = 1_700_000_000.0
        for index in range(5):
            await service.append_event(session, _text_event(f"m{index}", timestamp=base + index))

        async def texts(**config: Any) -> list[str]:
            loaded = await service.get_session(
                app_name=self.app_name,
                user_id="u1",
                session_id=session.id,
                config=GetSessionConfig(**config),
            )
            assert loaded is not None
            return _texts(loaded)

        assert await texts(after_timestamp=base + 2) == ["m2", "m3", "m4"]
        assert await texts(after_timestamp=base + 2.5) == ["m3", "m4"]
        assert await texts(after_timestamp=base + 10) == []
        assert await texts(after_timestamp=base + 1, num_recent_events=2) == ["m3", "m4"]

    @case(
        BASE,
        hint=(
            "OmniSessionService.list_sessions: page through store.list_sessions; no events, "
            "merged state"
        ),
    )
    async def list_sessions_oldest_update_first_without_events(self, store: SessionStore) -> None:
        """list_sessions: per user or whole app, oldest update first, merged state, no events."""
        service = self.service(store)
        s1 = await service.create_session(
            app_name=self.app_name, user_id="u1", session_id="s1", state={"n": 1}
        )
        await service.create_session(
            app_name=self.app_name, user_id="u1", session_id="s2", state={"user:name": "Ada"}
        )
        await service.create_session(
            app_name=self.app_name, user_id="u2", session_id="s3", state={"app:tier": "gold"}
        )
        await service.create_session(app_name=self.app_name + "-other", user_id="u1")
        await service.append_event(s1, _text_event("s1 is now the most recent"))

        mine = (await service.list_sessions(app_name=self.app_name, user_id="u1")).sessions
        assert [s.id for s in mine] == ["s2", "s1"]
        everyone = (await service.list_sessions(app_name=self.app_name)).sessions
        assert [(s.user_id, s.id) for s in everyone] == [("u1", "s2"), ("u2", "s3"), ("u1", "s1")]
        assert all(s.events == [] for s in everyone)
        states = {s.id: s.state for s in everyone}
        assert states == {
            "s1": {"n": 1, "user:name": "Ada", "app:tier": "gold"},
            "s2": {"user:name": "Ada", "app:tier": "gold"},
            "s3": {"app:tier": "gold"},
        }
        assert mine[1].last_update_time >= mine[0].last_update_time
        nobody = await service.list_sessions(app_name=self.app_name, user_id="nobody")
        assert nobody.sessions == []

    @case(
        BASE,
        hint="store.delete_session removes the session only; app:/user: scopes stay",
    )
    async def delete_session_keeps_user_and_app_state(self, store: SessionStore) -> None:
        """delete_session removes the session and its events, idempotently; scopes stay."""
        service = self.service(store)
        doomed = await service.create_session(
            app_name=self.app_name, user_id="u1", state={"user:name": "Ada", "app:v": 1}
        )
        kept = await service.create_session(app_name=self.app_name, user_id="u1")
        await service.append_event(doomed, _text_event("bye"))
        for _ in range(2):
            await service.delete_session(app_name=self.app_name, user_id="u1", session_id=doomed.id)
        assert (
            await service.get_session(app_name=self.app_name, user_id="u1", session_id=doomed.id)
            is None
        )
        assert (await self.fresh(service, kept)).state == {"user:name": "Ada", "app:v": 1}
        listed = await service.list_sessions(app_name=self.app_name, user_id="u1")
        assert [s.id for s in listed.sessions] == [kept.id]
        with pytest.raises(SessionNotFoundError):
            await service.append_event(doomed, _text_event("too late"))

    @case(
        BASE,
        hint="append_event must skip partial events and drop temp: keys before the store write",
    )
    async def partial_events_and_temp_state_are_never_stored(self, store: SessionStore) -> None:
        """Partial events are stored nowhere; temp: keys reach only the caller's session object."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        partial = _text_event("chunk", partial=True, actions=EventActions(state_delta={"x": 1}))
        assert await service.append_event(session, partial) is partial
        assert session.events == [] and "x" not in session.state
        assert (await self.fresh(service, session)).events == []

        event = _text_event("x", actions=EventActions(state_delta={"temp:draft": "wip", "kept": 1}))
        returned = await service.append_event(session, event)
        assert session.state["temp:draft"] == "wip"
        assert session.state["kept"] == 1
        assert returned.actions.state_delta == {"kept": 1}
        loaded = await self.fresh(service, session)
        assert loaded.state == {"kept": 1}
        assert loaded.events[0].actions.state_delta == {"kept": 1}

    @case(
        BASE,
        hint=(
            "event.actions.state_delta -> ONE store.append_event with every scope; "
            "get_user_state reads the user scope"
        ),
    )
    async def state_delta_reaches_every_scope(self, store: SessionStore) -> None:
        """One event's app:/user:/session deltas land in their scopes; get_user_state reads one."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        sibling = await service.create_session(app_name=self.app_name, user_id="u1")
        stranger = await service.create_session(app_name=self.app_name, user_id="u2")
        delta = {"app:motd": "hi", "user:lang": "fr", "step": 2, "cleared": None}
        event = _text_event("x", actions=EventActions(state_delta=delta))
        await service.append_event(session, event)
        assert session.state == delta
        assert (await self.fresh(service, session)).state == delta
        assert (await self.fresh(service, sibling)).state == {"app:motd": "hi", "user:lang": "fr"}
        assert (await self.fresh(service, stranger)).state == {"app:motd": "hi"}
        # get_user_state: the un-prefixed user scope, without holding a session.
        assert await service.get_user_state(app_name=self.app_name, user_id="u1") == {"lang": "fr"}
        assert await service.get_user_state(app_name=self.app_name, user_id="nobody") == {}

    @case(
        BASE,
        hint="the bridge's re-append check (event id already stored) before writing",
    )
    async def reappending_an_event_is_idempotent(self, store: SessionStore) -> None:
        """Re-appending an event the session holds stores nothing and re-applies no delta."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        first = _text_event("first", actions=EventActions(state_delta={"step": 1}))
        second = _text_event("second", actions=EventActions(state_delta={"step": 2}))
        await service.append_event(session, first)
        await service.append_event(session, second)
        await service.append_event(session, first)  # a retry of an old delivery
        await service.append_event(session, first.model_copy(deep=True))  # an equal copy
        assert [e.id for e in session.events] == [first.id, second.id]
        assert session.state == {"step": 2}
        loaded = await self.fresh(service, session)
        assert [e.id for e in loaded.events] == [first.id, second.id]
        assert loaded.state == {"step": 2}
        await service.append_event(session, _text_event("third"))  # still current

    @case(
        BASE,
        hint=(
            "the bridge must recognise its own committed event on retry (event id), not "
            "append twice"
        ),
    )
    async def retried_append_after_a_lost_reply_is_idempotent(self, store: SessionStore) -> None:
        """An append that committed but whose caller never learned it can be retried safely."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        before_reply = session.model_copy(deep=True)  # the caller's view if the reply is lost
        event = _text_event("once", actions=EventActions(state_delta={"count": 1}))
        await service.append_event(session, event)
        await service.append_event(before_reply, event.model_copy(deep=True))
        assert [e.id for e in before_reply.events] == [event.id]
        loaded = await self.fresh(service, session)
        assert [e.id for e in loaded.events] == [event.id]
        # The retried object is current again; a different event on the stale
        # copy would have been a real conflict.
        await service.append_event(before_reply, _text_event("next"))
        with pytest.raises(StaleSessionError):
            await service.append_event(session, _text_event("conflict"))

    @case(
        BASE,
        hint="_storage_update_marker <- SessionRecord.revision; pass it as expected_revision",
    )
    async def stale_session_object_raises_and_fresh_one_succeeds(self, store: SessionStore) -> None:
        """Two services on one store: the writer holding an outdated session is refused."""
        first_service, second_service = self.service(store), self.service(store)
        created = await first_service.create_session(app_name=self.app_name, user_id="u1")
        mine = await self.fresh(first_service, created)
        theirs = await self.fresh(second_service, created)
        await first_service.append_event(
            mine, _text_event("mine", actions=EventActions(state_delta={"owner": "me"}))
        )
        with pytest.raises(StaleSessionError):
            await second_service.append_event(
                theirs, _text_event("theirs", actions=EventActions(state_delta={"owner": "them"}))
            )
        stored = await self.fresh(first_service, created)
        assert _texts(stored) == ["mine"] and stored.state == {"owner": "me"}
        reloaded = await self.fresh(second_service, created)
        await second_service.append_event(reloaded, _text_event("theirs, after reloading"))
        assert _texts(await self.fresh(first_service, created)) == [
            "mine",
            "theirs, after reloading",
        ]

    @case(
        BASE,
        hint=(
            "the bridge's per-session revision tracking when one Session object is shared by "
            "branches"
        ),
    )
    async def concurrent_appends_through_one_session_object_all_land(
        self, store: SessionStore
    ) -> None:
        """Branches sharing one session object append concurrently: every event lands once."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        events = [
            _text_event(f"branch {i}", actions=EventActions(state_delta={f"b{i}": i}))
            for i in range(4)
        ]
        await asyncio.gather(*(service.append_event(session, event) for event in events))
        assert sorted(_texts(session)) == [f"branch {i}" for i in range(4)]
        stored = await self.fresh(service, session)
        assert _texts(stored) == _texts(session), "storage order is the session's order"
        assert stored.state == {f"b{i}": i for i in range(4)}
        await service.append_event(session, _text_event("after"))  # still current

    @case(
        BASE,
        hint=(
            "last_update_time must be the event's timestamp (the store's updated_at after "
            "append_event)"
        ),
    )
    async def append_updates_last_update_time_and_flush_loses_nothing(
        self, store: SessionStore
    ) -> None:
        """After append_event, last_update_time is the event's timestamp; flush() is harmless."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        created_at = session.last_update_time
        event = _text_event("x")
        await service.append_event(session, event)
        assert session.last_update_time == event.timestamp
        await service.flush()
        stored = await self.fresh(service, session)
        assert stored.last_update_time >= created_at
        assert stored.last_update_time == event.timestamp, (
            f"get_session reports last_update_time {stored.last_update_time}, not the "
            f"event's timestamp {event.timestamp}"
        )
        assert stored == session, "the stored session differs from the caller's own object"
        assert _texts(stored) == ["x"]

    @case(
        BASE,
        hint=(
            "Event.model_dump(mode='json') on write and Event.model_validate on read "
            "(omnisession._adk_events)"
        ),
    )
    async def events_round_trip_exactly(self, store: SessionStore) -> None:
        """Every Event field survives storage: bytes, calls, actions, grounding, metadata."""
        service = self.service(store)
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        event = rich_event()
        expected = event.model_copy(deep=True)
        await service.append_event(session, event)
        (loaded,) = (await self.fresh(service, session)).events
        assert loaded == expected
        assert loaded.model_dump() == expected.model_dump()
        assert loaded.content is not None and loaded.content.parts is not None
        blob = loaded.content.parts[1].inline_data
        assert blob is not None and blob.data == bytes(range(256))
        assert loaded.long_running_tool_ids == {"call-1", "call-9"}

    @case(
        BASE,
        hint=(
            "Runner -> get_session/append_event through the bridge; state templating reads "
            "session.state"
        ),
    )
    async def runner_second_turn_sees_the_first(self, store: SessionStore) -> None:
        """Runner: turn 2 sees turn 1; "{user_name}" comes from initial state; output_key saves."""
        service = self.service(store)
        runner, llm = self.runner(
            service,
            [reply("Hello, Ada."), reply("You said hi.")],
            instruction="Address the user as {user_name}.",
            output_key="answer",
        )
        session = await service.create_session(
            app_name=self.app_name, user_id="u1", state={"user_name": "Ada Lovelace"}
        )
        await self.turn(runner, session, "hi, I am Ada")
        await self.turn(runner, session, "what did I say?")
        assert llm.texts(-1) == ["hi, I am Ada", "Hello, Ada.", "what did I say?"]
        for request in llm.requests:
            system = request.config.system_instruction
            assert isinstance(system, str) and "Address the user as Ada Lovelace." in system
        stored = await self.fresh(service, session)
        assert _texts(stored) == ["hi, I am Ada", "Hello, Ada.", "what did I say?", "You said hi."]
        assert stored.state == {"user_name": "Ada Lovelace", "answer": "You said hi."}

    @case(
        BASE,
        hint=(
            "user: keys written by a tool go to the shared user scope, session keys stay per "
            "session"
        ),
    )
    async def runner_tool_state_reaches_later_sessions(self, store: SessionStore) -> None:
        """Runner: a tool's user: write is seen by the user's next session; session keys are not."""
        service = self.service(store)
        runner, _ = self.runner(
            service,
            [call("remember_name", name="Ada"), reply("Noted, Ada."), reply("Hello again, Ada.")],
            tools=[remember_name],
            instruction="The user's name: {user:name?}",
        )
        first = await service.create_session(app_name=self.app_name, user_id="u1")
        await self.turn(runner, first, "call me Ada")
        stored = await self.fresh(service, first)
        assert stored.state["user:name"] == "Ada"
        assert stored.state["last_tool"] == "remember_name"
        assert await service.get_user_state(app_name=self.app_name, user_id="u1") == {"name": "Ada"}
        later = await service.create_session(app_name=self.app_name, user_id="u1")
        assert later.state == {"user:name": "Ada"}
        runner2, llm2 = self.runner(
            service, [reply("Hello again, Ada.")], instruction="The user's name: {user:name?}"
        )
        await self.turn(runner2, later, "hi")
        system = llm2.requests[0].config.system_instruction
        assert isinstance(system, str) and "The user's name: Ada" in system
        other_user = await service.create_session(app_name=self.app_name, user_id="u2")
        assert "user:name" not in other_user.state

    @case(
        BASE,
        hint=(
            "rewind appends an event whose actions undo state; the bridge must store and replay it"
        ),
    )
    async def runner_rewind_hides_the_rewound_turn(self, store: SessionStore) -> None:
        """Runner.rewind_async: the rewound turn leaves the model's view and its state is undone."""
        service = self.service(store)
        runner, llm = self.runner(
            service,
            [reply("one"), reply("two"), reply("three")],
            output_key="last",
        )
        session = await service.create_session(app_name=self.app_name, user_id="u1")
        await self.turn(runner, session, "first")
        second_turn = await self.turn(runner, session, "second")
        assert (await self.fresh(service, session)).state == {"last": "two"}
        await runner.rewind_async(
            user_id="u1",
            session_id=session.id,
            rewind_before_invocation_id=second_turn[0].invocation_id,
        )
        assert (await self.fresh(service, session)).state == {"last": "one"}
        await self.turn(runner, session, "third")
        assert llm.texts(-1) == ["first", "one", "third"]

    # -- across store instances ----------------------------------------------------

    @case(
        Capability.PERSISTENT,
        second=True,
        hint=(
            "the store's persistence: a new service on a reopened store reads what the first wrote"
        ),
    )
    async def runner_continues_after_reopening(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Runner: a new service on a reopened store continues the conversation and its state."""
        service = self.service(store)
        runner, _ = self.runner(service, [reply("Nice to meet you.")], output_key="last")
        session = await service.create_session(
            app_name=self.app_name, user_id="u1", state={"user:name": "Ada"}
        )
        await self.turn(runner, session, "I am Ada")

        reopened = self.service(second)
        runner2, llm2 = self.runner(reopened, [reply("You are Ada.")], output_key="last")
        await self.turn(runner2, session, "who am I?")
        assert llm2.texts(-1) == ["I am Ada", "Nice to meet you.", "who am I?"]
        stored = await self.fresh(reopened, session)
        assert stored.state == {"user:name": "Ada", "last": "You are Ada."}

    @case(
        Capability.CROSS_PROCESS,
        second=True,
        hint="expected_revision must be checked by the engine, across store instances",
    )
    async def stale_writer_detected_across_instances(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """Two services on two store instances: a stale or racing writer gets StaleSessionError."""
        here, there = self.service(store), self.service(second)
        created = await here.create_session(app_name=self.app_name, user_id="u1")
        mine, theirs = await self.fresh(here, created), await self.fresh(there, created)
        await here.append_event(mine, _text_event("mine"))
        with pytest.raises(StaleSessionError):
            await there.append_event(theirs, _text_event("theirs"))
        reloaded = await self.fresh(there, created)
        await there.append_event(reloaded, _text_event("theirs, reloaded"))
        assert _texts(await self.fresh(here, created)) == ["mine", "theirs, reloaded"]
        # Racing appends through the two instances: one wins, the other is refused.
        a, b = await self.fresh(here, created), await self.fresh(there, created)
        results = await asyncio.gather(
            here.append_event(a, _text_event("a")),
            there.append_event(b, _text_event("b")),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(refused) == 1 and isinstance(refused[0], StaleSessionError), results
        assert len(_texts(await self.fresh(here, created))) == 3
