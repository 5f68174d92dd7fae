"""ADKServiceStore on ADK's real VertexAiSessionService, offline.

The service's API client is an in-process fake of the Agent Engine Sessions
API (``vertex_fake``); everything between the store and that client is ADK's
own code. The whole store suite runs against it, and the cases the API cannot
keep are recorded with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.adk.sessions.session import Session
from google.genai.errors import ClientError, ServerError
from omnisession import (
    BackendUnavailable,
    Capability,
    InvalidEntry,
    SessionKey,
    SessionStore,
    Unsupported,
    open_store,
)
from omnisession.adk_store import META_KEY, ADKServiceStore, HashedIds, PlainIds
from omnisession_conformance import StoreConformance

from . import run_async
from .vertex_fake import FakeAgentEngine, OfflineVertexAiSessionService

PER_SESSION_STATE = (
    "the Agent Engine API keeps state per session (appendEvent merges stateDelta into "
    "that session's sessionState only), so app: and user: state are not shared between "
    "sessions and get_user_state/get_app_state only see one session's copy"
)

NO_CONDITIONAL_WRITE = (
    "the Agent Engine API has no conditional write (no etag or revision on appendEvent) "
    "and ADK's VertexAiSessionService no stale-writer check, so two services on one engine"
)


class TestADKVertexAI(StoreConformance):
    """VertexAiSessionService on a fake engine; the second store is a second service
    (its own client) on the same engine."""

    known_failures = {
        "state_scopes_shared_across_sessions_and_users": PER_SESSION_STATE,
        "delete_is_idempotent_and_keeps_app_and_user_state": PER_SESSION_STATE
        + "; deleting a session deletes its app: and user: keys with it",
        "list_sessions_oldest_update_first": PER_SESSION_STATE
        + " (the case expects a user: key written in one session to show in the merged "
        "state of the user's other sessions)",
        "appends_across_instances_lose_and_duplicate_nothing": NO_CONDITIONAL_WRITE
        + " commit on the same revision: no entry is lost or duplicated, but two entries "
        "get the same seq",
        "pops_across_instances_return_each_item_once": NO_CONDITIONAL_WRITE
        + " both pop the same newest item",
        "replace_racing_appends_across_instances": NO_CONDITIONAL_WRITE
        + " both commit: an append through the other service can land on the replaced "
        "revision",
    }

    async def store(self) -> AsyncIterator[SessionStore]:
        self.engine = FakeAgentEngine()
        async with ADKServiceStore(OfflineVertexAiSessionService(self.engine)) as store:
            yield store

    async def second_store(self, store: SessionStore) -> AsyncIterator[SessionStore]:
        async with ADKServiceStore(OfflineVertexAiSessionService(self.engine)) as other:
            yield other


def _store(engine: FakeAgentEngine) -> ADKServiceStore:
    return ADKServiceStore(OfflineVertexAiSessionService(engine))


def test_declares_persistence_but_not_local_guarantees() -> None:
    store = _store(FakeAgentEngine())
    assert store.capabilities == {Capability.BASE, Capability.REPLACE, Capability.PERSISTENT}
    assert isinstance(store.ids, HashedIds)


@run_async
async def test_any_key_becomes_a_valid_vertex_session_id_and_lists_back() -> None:
    engine = FakeAgentEngine()
    store = _store(engine)
    key = SessionKey("my app", "user/1", "thread: ünïcode {1} " + "x" * 300)
    await store.create_session(key, {"topic": "t"})
    await store.append_event(key, {"role": "user", "content": "hi"})
    # The engine holds one session, under an id the API accepts.
    listed = await engine.client().sessions.list(name="reasoningEngines/4242", config={})
    names = [session.name async for session in listed]
    assert len(names) == 1 and names[0].rsplit("/", 1)[1].startswith("os")
    page = await store.list_sessions("my app", "user/1")
    assert [record.key for record in page.sessions] == [key]
    assert page.sessions[0].state == {"topic": "t"}
    # Another app's sessions share the engine but are not listed for this one.
    await store.create_session(SessionKey("other app", "user/1", key.session_id))
    assert [r.key for r in (await store.list_sessions("my app")).sessions] == [key]


@run_async
async def test_history_round_trips_through_the_api_wire() -> None:
    store = _store(FakeAgentEngine())
    key = SessionKey("app", "u", "s")
    await store.create_session(key)
    payload = {"big": 2**70, "text": "🙂", "nested": [{"a": None}]}
    await store.append_event(key, payload, state_delta={"step": 1, "temp:scratch": 1})
    await store.add_items(key, [{"i": 1}, {"i": 2}])
    assert await store.pop_item(key) == {"i": 2}
    record = await store.get_session(key)
    assert record is not None
    assert [event.data for event in record.events] == [payload, {"i": 1}]
    assert record.state == {"step": 1}
    assert META_KEY not in record.state


@run_async
async def test_a_server_error_surfaces_as_backend_unavailable_and_writes_nothing() -> None:
    engine = FakeAgentEngine()
    store = _store(engine)
    key = SessionKey("app", "u", "s")
    await store.create_session(key)
    engine.fail_next(
        ServerError(503, {"error": {"code": 503, "status": "UNAVAILABLE"}}),
        "sessions.events.append",
    )
    with pytest.raises(BackendUnavailable) as caught:
        await store.append_event(key, {"i": 1})
    assert isinstance(caught.value.__cause__, ServerError)
    engine.fail_next(ConnectionResetError("connection reset by peer"))
    with pytest.raises(BackendUnavailable):
        await store.get_session(key)
    assert await store.get_items(key) == []
    await store.append_event(key, {"i": 2})
    assert await store.get_items(key) == [{"i": 2}]


@run_async
async def test_a_refused_request_is_invalid_entry_and_writes_nothing() -> None:
    engine = FakeAgentEngine()
    store = _store(engine)
    key = SessionKey("app", "u", "s")
    await store.create_session(key)
    engine.fail_next(
        ClientError(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}),
        "sessions.events.append",
    )
    with pytest.raises(InvalidEntry, match="nothing was written") as caught:
        await store.append_event(key, {"i": 1})
    assert isinstance(caught.value.__cause__, ClientError)
    assert await store.get_items(key) == []


@run_async
async def test_get_user_state_falls_back_to_a_session_of_the_user() -> None:
    # ADK's VertexAiSessionService.get_user_state raises NotImplementedError.
    store = _store(FakeAgentEngine())
    await store.create_session(SessionKey("app", "ada", "s"), {"user:name": "Ada"})
    assert await store.get_user_state("app", "ada") == {"name": "Ada"}
    assert await store.get_user_state("app", "bob") == {}


@run_async
async def test_a_session_written_by_adk_directly_reads_as_entries() -> None:
    engine = FakeAgentEngine()
    service = OfflineVertexAiSessionService(engine)
    store = ADKServiceStore(service, ids=_AdkIds())
    adk_session = await service.create_session(app_name="app", user_id="u", session_id="native")
    from google.adk.events.event import Event as ADKEvent

    await service.append_event(adk_session, ADKEvent(author="user", invocation_id="i"))
    key = SessionKey("app", "u", "native")
    record = await store.get_session(key)
    assert record is not None and record.revision == 0
    assert [(e.seq, e.data["author"]) for e in record.events] == [(1, "user")]
    await store.append_event(key, {"i": 1})
    assert await store.get_items(key) == [record.events[0].data, {"i": 1}]
    assert [e.seq for e in (await store.get_events(key)).events] == [1, 2]


def test_ids_url_option_picks_how_keys_are_spelled(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.adk.sessions.vertex_ai_session_service as vertex

    def offline(
        project: str | None, location: str | None, engine: str, **_: Any
    ) -> OfflineVertexAiSessionService:
        return OfflineVertexAiSessionService(FakeAgentEngine(), engine)

    monkeypatch.setattr(vertex, "VertexAiSessionService", offline)
    plain = open_store("adk+vertexai://p/l/4242?ids=plain")
    assert isinstance(plain, ADKServiceStore) and isinstance(plain.ids, PlainIds)
    assert plain.ids.app_anchor("app") is None  # no shared scopes on the Agent Engine
    hashed = open_store("adk+vertexai://p/l/4242")
    assert isinstance(hashed, ADKServiceStore) and isinstance(hashed.ids, HashedIds)


@run_async
async def test_erase_deletes_a_users_sessions_as_the_engine_keeps_no_scope() -> None:
    engine = FakeAgentEngine()
    store = _store(engine)
    mine = [SessionKey("app", "ada", "s1"), SessionKey("app", "ada", "s2")]
    kept = [SessionKey("app", "bob", "s1"), SessionKey("other", "ada", "s1")]
    for key in mine + kept:
        await store.create_session(key, {"user:name": key.user_id})
    assert await store.erase_user("app", "ada") == 2
    assert await store.erase_user("app", "ada") == 0  # idempotent
    for key in mine:
        assert await store.get_session(key) is None
    for key in kept:
        assert await store.get_session(key) is not None
    assert await store.get_user_state("app", "ada") == {}
    assert await store.erase_app("app") == 1
    assert await store.get_session(kept[1]) is not None, "another app's sessions stay"
    with pytest.raises(Unsupported, match="no apps"):
        await store.list_apps()
    with pytest.raises(Unsupported, match="per session"):
        await store.update_app_state("app", {"k": 1})


class _AdkIds:
    """Ids as ADK spells them (no hashing), for sessions ADK created itself."""

    def to_service(self, key: SessionKey) -> tuple[str, str, str]:
        return key.app_name, key.user_id, key.session_id

    def user_to_service(self, user_id: str) -> str:
        return user_id

    def from_service(self, app_name: str, session: Session) -> SessionKey | None:
        return SessionKey(app_name, session.user_id, session.id)

    def app_anchor(self, app_name: str) -> tuple[str, str, str] | None:
        return None


def test_adk_vertexai_url_names_project_location_and_engine() -> None:
    try:
        import agentplatform  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"google-adk\[gcp\]"):
            open_store("adk+vertexai://my-project/us-central1/4242")
    else:
        store = open_store("adk+vertexai://my-project/us-central1/4242")
        assert isinstance(store, ADKServiceStore)
        service = store.service
        assert (service._project, service._location, service._agent_engine_id) == (  # type: ignore[attr-defined]
            "my-project",
            "us-central1",
            "4242",
        )
    for bad in ["adk+vertexai://p/l", "adk+vertexai://p/l/e/x", "adk+vertexai://p/l/"]:
        with pytest.raises(ValueError, match="PROJECT/LOCATION/AGENT_ENGINE_ID"):
            open_store(bad)
