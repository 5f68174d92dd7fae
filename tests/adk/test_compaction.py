"""ADK's event compaction and partial session loads, through the real Runner, on every target.

An ``App`` with ``EventsCompactionConfig`` makes the Runner summarise older
turns into one compaction event after an invocation (sliding window), or when
the prompt grows past a token threshold; later prompts carry the summary
instead of the turns. The compaction event must come back from storage
exactly as the Runner appended it. ``RunConfig(get_session_config=
GetSessionConfig(num_recent_events=N))`` makes each turn load only the newest
N events: the store is asked for (and returns) N events per turn however long
the history grows, which is counted here, event by event.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig
from google.adk.apps import App
from google.adk.apps.app import EventsCompactionConfig
from google.adk.apps.llm_event_summarizer import LlmEventSummarizer
from google.adk.events.event import Event
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session
from google.genai import types
from omnisession import SessionKey
from omnisession.adk import OmniSessionService, encode_event
from omnisession.adk_testing import ScriptedLlm, reply, user_message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:.*EXPERIMENTAL.*:UserWarning"),
]


class CountingStore:
    """A store that counts every event it hands out (get_session, get_events, get_items)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.events_read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_session(self, key: SessionKey, **options: Any) -> Any:
        record = await self.inner.get_session(key, **options)
        self.events_read += len(record.events) if record is not None else 0
        return record

    async def get_events(self, key: SessionKey, **options: Any) -> Any:
        page = await self.inner.get_events(key, **options)
        self.events_read += len(page.events)
        return page

    async def get_items(self, key: SessionKey, limit: int | None = None) -> Any:
        items = await self.inner.get_items(key, limit)
        self.events_read += len(items)
        return items


class RecordingService(OmniSessionService):
    """Keeps every event it committed, as the Runner's session object holds it."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.committed: list[Event] = []

    async def append_event(self, session: Session, event: Event) -> Event:
        result: Event = await super().append_event(session, event)
        if not event.partial:
            self.committed.append(result)
        return result


def _app(agent: LlmAgent, summarizer: ScriptedLlm, **config: Any) -> App:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EventsCompactionConfig is "experimental"
        compaction = EventsCompactionConfig(summarizer=LlmEventSummarizer(llm=summarizer), **config)
    return App(name="app", root_agent=agent, events_compaction_config=compaction)


async def _turn(
    runner: Runner, session: Session, text: str, config: RunConfig | None = None
) -> None:
    async for _ in runner.run_async(
        user_id=session.user_id,
        session_id=session.id,
        new_message=user_message(text),
        run_config=config or RunConfig(),
    ):
        pass


def _compactions(events: Sequence[Event]) -> list[Event]:
    return [event for event in events if event.actions.compaction is not None]


def _assert_exact(stored: Sequence[Event], committed: Sequence[Event]) -> None:
    assert len(stored) == len(committed) > 0
    for loaded, original in zip(stored, committed, strict=True):
        assert loaded == original
        assert loaded.model_dump() == original.model_dump()
        assert encode_event(loaded) == encode_event(original)


async def _stored(service: OmniSessionService, session: Session) -> Session:
    loaded = await service.get_session(
        app_name=session.app_name, user_id=session.user_id, session_id=session.id
    )
    assert loaded is not None
    return loaded


async def test_sliding_window_compaction_round_trips_exactly(target_store: Any) -> None:
    """Every two turns the Runner stores a summary; it reads back exactly; prompts use it."""
    service = RecordingService(target_store)
    llm = ScriptedLlm(script=[reply(f"answer {i}") for i in range(5)])
    summarizer = ScriptedLlm(script=[reply("SUMMARY of turns 0-1"), reply("SUMMARY of 2-3")])
    app = _app(
        LlmAgent(name="assistant", model=llm), summarizer, compaction_interval=2, overlap_size=0
    )
    runner = Runner(app=app, session_service=service)
    session = await service.create_session(app_name="app", user_id="u")
    for index in range(5):
        await _turn(runner, session, f"turn {index}")

    assert llm.texts(-1) == ["SUMMARY of turns 0-1", "SUMMARY of 2-3", "turn 4"]
    stored = await _stored(service, session)
    assert len(stored.events) == 12  # five turns of two events, two summaries
    _assert_exact(_compactions(stored.events), _compactions(service.committed))
    _assert_exact(stored.events, service.committed)
    first = _compactions(stored.events)[0].actions.compaction
    assert first is not None and first.compacted_content.parts is not None
    assert first.compacted_content.parts[0].text == "SUMMARY of turns 0-1"
    assert (first.start_timestamp, first.end_timestamp) == (
        stored.events[0].timestamp,
        stored.events[3].timestamp,
    )


async def test_token_threshold_compaction_round_trips_exactly(target_store: Any) -> None:
    """A prompt over the token threshold makes the Runner append a summary itself; exact."""
    service = RecordingService(target_store)
    big = types.GenerateContentResponseUsageMetadata(prompt_token_count=50_000)
    llm = ScriptedLlm(script=[reply("short answer"), reply("long answer", usage_metadata=big)])
    llm.script.append(reply("after the summary"))
    summarizer = ScriptedLlm(script=[reply("SUMMARY so far")])
    app = _app(
        LlmAgent(name="assistant", model=llm),
        summarizer,
        token_threshold=10_000,
        event_retention_size=1,
    )
    runner = Runner(app=app, session_service=service)
    session = await service.create_session(app_name="app", user_id="u")
    await _turn(runner, session, "first")
    assert _compactions(service.committed) == []
    await _turn(runner, session, "second")
    assert len(_compactions(service.committed)) == 1
    stored = await _stored(service, session)
    _assert_exact(stored.events, service.committed)
    await _turn(runner, session, "third")
    assert llm.texts(-1) == ["SUMMARY so far", "long answer", "third"]


async def test_each_turn_reads_only_the_newest_n_events(target_store: Any) -> None:
    """num_recent_events=4: the store hands out 4 events per turn while the history grows."""
    counting = CountingStore(target_store)
    service = OmniSessionService(counting)
    turns = 12
    llm = ScriptedLlm(script=[reply(f"answer {i}") for i in range(turns)])
    runner = Runner(
        app_name="app", agent=LlmAgent(name="assistant", model=llm), session_service=service
    )
    config = RunConfig(get_session_config=GetSessionConfig(num_recent_events=4))
    session = await service.create_session(app_name="app", user_id="u")
    read_per_turn = []
    for index in range(turns):
        counting.events_read = 0
        await _turn(runner, session, f"turn {index}", config)
        read_per_turn.append(counting.events_read)
    assert read_per_turn == [0, 2] + [4] * (turns - 2)
    assert llm.texts(-1) == ["turn 9", "answer 9", "turn 10", "answer 10", "turn 11"]
    counting.events_read = 0
    stored = await _stored(service, session)
    assert len(stored.events) == counting.events_read == 2 * turns


async def test_compaction_with_partial_loads(target_store: Any) -> None:
    """Both at once: 4 events read per turn, summaries still written and read back exactly."""
    counting = CountingStore(target_store)
    service = RecordingService(counting)
    turns = 8
    llm = ScriptedLlm(script=[reply(f"answer {i}") for i in range(turns)])
    summarizer = ScriptedLlm(script=[reply(f"SUMMARY {i}") for i in range(turns)])
    app = _app(
        LlmAgent(name="assistant", model=llm), summarizer, compaction_interval=2, overlap_size=0
    )
    runner = Runner(app=app, session_service=service)
    config = RunConfig(get_session_config=GetSessionConfig(num_recent_events=4))
    session = await service.create_session(app_name="app", user_id="u")
    read_per_turn = []
    for index in range(turns):
        counting.events_read = 0
        await _turn(runner, session, f"turn {index}", config)
        read_per_turn.append(counting.events_read)
    assert read_per_turn == [0, 2] + [4] * (turns - 2)
    assert llm.texts(-1) == ["SUMMARY 2", "turn 6", "answer 6", "turn 7"]
    stored = await _stored(service, session)
    assert len(_compactions(stored.events)) == turns // 2
    _assert_exact(stored.events, service.committed)
