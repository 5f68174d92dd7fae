"""ADKServiceStore behaviour beyond the suite: URLs and options, ids, errors, ADK's own
sessions read as entries, the lifecycle operations ADK's API allows and refuses."""

from __future__ import annotations

import datetime
import gc
import json
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.errors import StaleSessionError
from google.adk.events.event import Event as ADKEvent
from google.adk.events.event_actions import EventActions
from google.adk.runners import Runner
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.adk.tools.tool_context import ToolContext
from omnisession import (
    AlreadyExists,
    BackendError,
    BackendRejected,
    BackendUnavailable,
    Capability,
    EntryTooLarge,
    Event,
    InvalidEntry,
    InvalidOption,
    SessionKey,
    SessionNotFound,
    StaleSession,
    Unsupported,
    open_store,
)
from omnisession._adk_events import decode_event
from omnisession._builtin import ADK_CAPABILITIES, ADK_OPTIONAL_CAPABILITIES
from omnisession.adk_store import META_KEY, ADKServiceStore, PlainIds
from omnisession.adk_store._errors import map_error
from omnisession.adk_store._records import METADATA_KEY
from omnisession.adk_testing import ScriptedLlm, call, reply, user_message
from omnisession.memory import MemoryStore
from omnisession.plugins import registry

from . import run_async

KEY = SessionKey("app", "u", "s")


def _db_url(path: Path) -> str:
    return f"adk+db://sqlite+aiosqlite:///{path}"


# -- URLs, options, capabilities -----------------------------------------------------------


@run_async
async def test_adk_memory_name_shares_one_service_and_bare_url_is_private() -> None:
    name = uuid.uuid4().hex
    async with (
        open_store(f"adk+memory://{name}") as first,
        open_store(f"adk+memory://{name}") as second,
        open_store("adk+memory://") as private,
    ):
        await first.add_items(KEY, [{"i": 1}])
        assert await second.get_items(KEY) == [{"i": 1}]
        assert await private.get_items(KEY) == []


@pytest.mark.parametrize("scheme", ["adk+sqlite", "adk+db"])
@run_async
async def test_file_urls_persist_across_reopening(scheme: str, tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    url = f"adk+sqlite:///{path}" if scheme == "adk+sqlite" else _db_url(path)
    async with open_store(url) as store:
        await store.create_session(KEY, {"app:theme": "dark"})
        await store.append_event(KEY, {"role": "user", "content": "hi"}, state_delta={"n": 1})
    async with open_store(url) as reopened:
        record = await reopened.get_session(KEY)
        assert record is not None
        assert [event.data for event in record.events] == [{"role": "user", "content": "hi"}]
        assert record.state == {"n": 1, "app:theme": "dark"}
        assert await reopened.get_app_state("app") == {"theme": "dark"}


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("adk+memory://", {Capability.LARGE_ENTRIES}),
        ("adk+sqlite:///{dir}/a.db", {Capability.LARGE_ENTRIES, Capability.PERSISTENT}),
        (
            "adk+db://sqlite+aiosqlite:///{dir}/b.db",
            {Capability.LARGE_ENTRIES, Capability.PERSISTENT},
        ),
        ("adk+db://sqlite+aiosqlite:///:memory:", {Capability.LARGE_ENTRIES}),
    ],
)
@run_async
async def test_each_url_declares_the_backends_capabilities_and_what_its_service_keeps(
    url: str, extra: set[Capability], tmp_path: Path
) -> None:
    backend = registry().resolve("adk+memory://")
    assert backend.capabilities == ADK_CAPABILITIES == {Capability.BASE, Capability.REPLACE}
    assert dict(backend.optional_capabilities) == dict(ADK_OPTIONAL_CAPABILITIES)
    async with open_store(url.format(dir=tmp_path)) as store:
        assert store.capabilities == ADK_CAPABILITIES | extra
        assert extra <= set(backend.optional_capabilities)


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("adk+db://not-a-url", ValueError, "SQLAlchemy async URL"),
        ("adk+sqlite://", ValueError, "names no database file"),
        ("adk+db://sqlite:///sync-driver.db", ValueError, "asynchronous"),
        ("adk+vertexai://p/l", ValueError, "PROJECT/LOCATION/AGENT_ENGINE_ID"),
    ],
)
def test_bad_urls_say_what_to_write(url: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        open_store(url)


@pytest.mark.parametrize(
    ("url", "keywords", "message"),
    [
        # a typo names the closest option and lists every one
        (
            "adk+db://sqlite+aiosqlite:///x.db?pool_sise=5",
            {},
            r"'pool_sise' \(did you mean 'pool_size'\?\).*accepts: echo, "
            "express_mode_api_key, ids, max_overflow",
        ),
        ("adk+memory://", {"pool_size": 3}, "'pool_size' applies to adk\\+db only"),
        ("adk+sqlite:///x.db?echo=true", {}, "'echo' applies to adk\\+db only"),
        ("adk+memory://?ids=scrambled", {}, "ids='scrambled' must be one of plain, hashed"),
        ("adk+db://sqlite+aiosqlite:///x.db?pool_size=none", {}, "must be an integer"),
        ("adk+db://sqlite+aiosqlite:///x.db?pool_size=0", {}, "at least 1"),
        (
            "adk+db://sqlite+aiosqlite:///x.db?sslmode=require",
            {},
            "unknown adk\\+db option 'sslmode'",
        ),
    ],
)
def test_options_are_checked_before_any_io(
    url: str,
    keywords: dict[str, Any],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidOption, match=message):
        open_store(url, **keywords)
    assert list(tmp_path.iterdir()) == [], "an option error must come before any file is made"


@run_async
async def test_engine_options_reach_the_database_service(tmp_path: Path) -> None:
    store = open_store(_db_url(tmp_path / "x.db") + "?pool_recycle=30&echo=false", pool_size=2)
    assert isinstance(store, ADKServiceStore)
    assert isinstance(store.service, DatabaseSessionService)
    engine = store.service.db_engine
    assert engine.pool._recycle == 30  # type: ignore[attr-defined]
    async with store:
        await store.add_items(KEY, [{"i": 1}])


def test_listing_backends_imports_no_adk() -> None:
    code = (
        "import json, sys\n"
        "from omnisession.plugins import registry\n"
        "backend = registry().resolve('adk+vertexai://p/l/1')\n"
        "print(json.dumps([backend.name, list(backend.schemes), [o.name for o in backend.options],"
        " 'google.adk' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    name, schemes, options, imported = json.loads(out)
    assert name == "adk"
    assert set(schemes) == {"adk+memory", "adk+sqlite", "adk+db", "adk+vertexai"}
    assert "ids" in options and "pool_size" in options
    assert imported is False


# -- errors ------------------------------------------------------------------------------


@run_async
async def test_an_unopenable_database_is_rejected_not_unavailable(tmp_path: Path) -> None:
    url = _db_url(tmp_path / "missing-dir" / "x.db")
    async with open_store(url) as store:
        with pytest.raises(BackendRejected, match="retrying will not help") as caught:
            await store.create_session(KEY)
        assert caught.value.__cause__ is not None and not caught.value.transient
        del caught
    # The driver's half-opened connection is closed when collected; collect it
    # while this test's event loop still runs, not in a later test.
    gc.collect()


def _api_error(code: int) -> Exception:
    from google.genai.errors import ClientError, ServerError

    kind = ServerError if code >= 500 else ClientError
    return kind(code, {"error": {"code": code, "message": "m", "status": "S"}})


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (sqlite3.OperationalError("attempt to write a readonly database"), BackendRejected),
        (sqlite3.OperationalError("unable to open database file"), BackendRejected),
        (sqlite3.OperationalError("no such table: sessions"), BackendRejected),
        (sqlite3.DatabaseError("file is not a database"), BackendRejected),
        (sqlite3.OperationalError("database is locked"), BackendUnavailable),
        (sqlite3.OperationalError("disk I/O error"), BackendUnavailable),
        (ConnectionResetError("connection reset by peer"), BackendUnavailable),
        (TimeoutError("timed out"), BackendUnavailable),
        (PermissionError("denied"), BackendRejected),
        (lambda: _api_error(401), BackendRejected),
        (lambda: _api_error(403), BackendRejected),
        (lambda: _api_error(404), SessionNotFound),
        (lambda: _api_error(409), AlreadyExists),
        (lambda: _api_error(413), EntryTooLarge),
        (lambda: _api_error(400), InvalidEntry),
        (lambda: _api_error(429), BackendUnavailable),
        (lambda: _api_error(503), BackendUnavailable),
    ],
)
def test_one_mapping_tells_an_outage_from_a_refusal(raised: Any, expected: type) -> None:
    exc = raised() if callable(raised) else raised
    mapped = map_error(exc, InMemorySessionService(), "session x", "x")
    assert type(mapped) is expected
    if isinstance(mapped, BackendError):
        assert mapped.transient is (expected is BackendUnavailable)
        assert "InMemorySessionService" in str(mapped) and str(exc) in str(mapped)


def test_the_mapping_leaves_stale_writers_to_the_write_loop() -> None:
    stale = StaleSessionError("stale")
    assert map_error(stale, InMemorySessionService(), "session x") is stale


@run_async
async def test_reserved_bookkeeping_key_is_refused_and_nothing_written() -> None:
    store = ADKServiceStore(InMemorySessionService())
    await store.create_session(KEY)
    with pytest.raises(InvalidEntry, match="reserved"):
        await store.append_event(KEY, {"i": 1}, state_delta={META_KEY: 1})
    with pytest.raises(InvalidEntry, match="reserved"):
        await store.create_session(SessionKey("app", "u", "other"), {META_KEY: 1})
    assert await store.get_items(KEY) == []
    assert await store.get_session(SessionKey("app", "u", "other")) is None


@pytest.mark.parametrize("kind", ["sqlite", "db"])
@run_async
async def test_lone_surrogate_state_is_refused_before_io_on_persistent_services(
    kind: str, tmp_path: Path
) -> None:
    url = f"adk+sqlite:///{tmp_path}/a.db" if kind == "sqlite" else _db_url(tmp_path / "a.db")
    async with open_store(url) as store:
        await store.create_session(KEY, {"s": 1})
        before = await store.get_session(KEY)
        for write in (
            lambda: store.append_event(KEY, {"i": 1}, state_delta={"s": "cut \ud83d"}),
            lambda: store.update_state(KEY, {"user:\udc00": 1}),
            lambda: store.create_session(SessionKey("app", "u", "t"), {"app:x": "\udfff"}),
        ):
            with pytest.raises(InvalidEntry, match="lone surrogate"):
                await write()
        assert await store.get_session(KEY) == before
        assert await store.get_session(SessionKey("app", "u", "t")) is None
        # payloads keep them exactly
        await store.append_event(KEY, {"text": "cut \ud83d"})
        assert await store.get_items(KEY) == [{"text": "cut \ud83d"}]


# -- ids ------------------------------------------------------------------------------------


@run_async
async def test_sessions_keep_their_own_names_in_the_service() -> None:
    # ADK tools (adk web, a Runner on the same service) see the sessions under
    # the ids the user gave, except ids the service would strip or that start
    # with "~"; the per-app bookkeeping session is hidden from list_sessions.
    service = InMemorySessionService()
    store = ADKServiceStore(service)
    keys = [
        SessionKey("app", "ada", "thread-1"),
        SessionKey("app", "ada", " padded "),
        SessionKey("app", "~ada", "~x"),
    ]
    for key in keys:
        await store.create_session(key, {"app:seen": True})
    stored = {(s.user_id, s.id) for s in (await service.list_sessions(app_name="app")).sessions}
    assert ("ada", "thread-1") in stored
    assert PlainIds().to_service(keys[1])[1:] in stored
    assert ("~" + b"~ada".hex(), "~" + b"~x".hex()) in stored
    assert ("~", "~") in stored  # the app's bookkeeping session
    listed = await store.list_sessions("app")
    assert sorted(record.key for record in listed.sessions) == sorted(keys)


# -- ADK's own sessions, read exactly (what `omnisession copy` moves off ADK) ----------------


def remember(city: str, tool_context: ToolContext) -> dict[str, str]:
    """Remember the user's city."""
    tool_context.state["user:city"] = city
    tool_context.state["city"] = city
    tool_context.state["temp:scratch"] = "never stored"
    return {"status": "ok"}


async def _adk_conversation(service: Any, session_id: str = "native") -> list[ADKEvent]:
    """Two turns of ADK's real Runner writing straight to ``service``; its events."""
    model = ScriptedLlm(
        script=[call("remember", city="Lyon"), reply("Noted: Lyon."), reply("Still Lyon.")]
    )
    agent = LlmAgent(name="assistant", model=model, tools=[remember])
    runner = Runner(agent=agent, app_name="app", session_service=service)
    await service.create_session(
        app_name="app", user_id="u", session_id=session_id, state={"lang": "fr"}
    )
    for text in ("I live in Lyon", "where do I live?"):
        async for _ in runner.run_async(
            user_id="u", session_id=session_id, new_message=user_message(text)
        ):
            pass
    session = await service.get_session(app_name="app", user_id="u", session_id=session_id)
    assert session is not None
    return [event for event in session.events if not event.partial]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "db"])
@run_async
async def test_a_session_adks_runner_wrote_reads_back_as_exact_entries(
    kind: str, tmp_path: Path
) -> None:
    if kind == "memory":
        service: Any = InMemorySessionService()
    elif kind == "sqlite":
        service = SqliteSessionService(str(tmp_path / "adk.db"))
    else:
        service = DatabaseSessionService(f"sqlite+aiosqlite:///{tmp_path / 'adk.db'}")
    try:
        written = await _adk_conversation(service)
        store = ADKServiceStore(service)
        key = SessionKey("app", "u", "native")
        record = await store.get_session(key)
        assert record is not None
        assert [e.seq for e in record.events] == list(range(1, len(written) + 1))
        assert [decode_event(e.data) for e in record.events] == written
        assert [e.timestamp for e in record.events] == [e.timestamp for e in written]
        deltas = [e.state_delta for e in record.events]
        assert {"user:city": "Lyon", "city": "Lyon"} in deltas
        assert all(delta is None or "temp:scratch" not in delta for delta in deltas)
        assert record.state == {"lang": "fr", "city": "Lyon", "user:city": "Lyon"}
        assert record.revision == 0 and record.base_state is None
        # the service's last update time (kept to the microsecond by the database one)
        assert record.created_at == record.updated_at
        assert record.updated_at == pytest.approx(written[-1].timestamp, abs=1e-6)
        # every read agrees: last=N, get_items, paging both ways, since
        assert [e.seq for e in (await store.get_session(key, last=2)).events] == [  # type: ignore[union-attr]
            len(written) - 1,
            len(written),
        ]
        assert await store.get_items(key) == [e.data for e in record.events]
        for oldest_first in (False, True):
            seen: list[Event] = []
            cursor = None
            while True:
                page = await store.get_events(
                    key, page_size=2, cursor=cursor, oldest_first=oldest_first
                )
                seen = seen + page.events if oldest_first else page.events + seen
                if (cursor := page.next_cursor) is None:
                    break
            assert seen == record.events
        since = written[2].timestamp
        assert (await store.get_session(key, since=since)).events == [  # type: ignore[union-attr]
            e for e in record.events if e.timestamp >= since
        ]
        listed = (await store.list_sessions("app", "u")).sessions
        assert [r.key for r in listed] == [key]
        assert await store.get_user_state("app", "u") == {"city": "Lyon"}
        # a copy through the public contract continues with the same history
        copy = MemoryStore()
        await copy.import_session(
            key,
            (await store.get_events(key, oldest_first=True, page_size=1000)).events,
            state={"lang": "fr", "city": "Lyon"},
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
        assert [decode_event(e.data) for e in (await copy.get_session(key)).events] == written  # type: ignore[union-attr]
    finally:
        if hasattr(service, "close"):
            await service.close()


@run_async
async def test_writes_to_an_adk_session_number_after_its_events_and_never_reuse_one() -> None:
    service = InMemorySessionService()
    store = ADKServiceStore(service)
    key = SessionKey("app", "u", "mixed")
    native = await service.create_session(app_name="app", user_id="u", session_id="mixed")

    async def adk_append(text: str) -> None:
        session = await service.get_session(app_name="app", user_id="u", session_id="mixed")
        assert session is not None
        await service.append_event(session, ADKEvent(author=text, invocation_id="i"))

    await service.append_event(native, ADKEvent(author="a", invocation_id="i"))
    await adk_append("b")
    appended = await store.append_event(key, {"mine": 1})
    assert (appended.seq, appended.revision) == (3, 1)
    await adk_append("c")  # ADK writes after this store
    await store.add_items(key, [{"mine": 2}])
    record = await store.get_session(key)
    assert record is not None
    shape = [(e.seq, e.data.get("author", e.data.get("mine"))) for e in record.events]
    assert shape == [(1, "a"), (2, "b"), (3, 1), (4, "c"), (5, 2)]
    assert await store.pop_item(key) == {"mine": 2}
    assert await store.pop_item(key) == record.events[3].data  # ADK's "c", hidden now
    after = await store.append_event(key, {"mine": 3})
    assert after.seq == 6, "a popped number is never given out again"
    assert [e.seq for e in (await store.get_session(key, last=3)).events] == [2, 3, 6]  # type: ignore[union-attr]
    # the pops and the append are events in the service; ADK's own view keeps them all
    raw = await service.get_session(app_name="app", user_id="u", session_id="mixed")
    assert raw is not None and len(raw.events) == 8


@run_async
async def test_events_of_an_older_omnisession_still_read() -> None:
    # Records written before this version: no "n", entries without a delta, a
    # clear marker; bookkeeping without updated_at or base state.
    service = InMemorySessionService()
    store = ADKServiceStore(service)
    session = await service.create_session(
        app_name="app",
        user_id="u",
        session_id="s",
        state={META_KEY: {"rev": 1, "next": 1, "created": 5.0, "key": ["app", "u", "s"]}},
    )

    async def old_write(record: dict[str, Any], meta: dict[str, Any]) -> None:
        meta["key"] = ["app", "u", "s"]
        text = json.dumps(record, separators=(",", ":"))
        event = ADKEvent(
            author="omnisession",
            invocation_id="omnisession",
            custom_metadata={METADATA_KEY: text},
            actions=EventActions(state_delta={META_KEY: meta}),
        )
        await service.append_event(session, event)

    await old_write(
        {"v": 1, "rev": 2, "e": [[1, 10.0, {"i": 1}], [2, 10.0, {"i": 2}]]},
        {"rev": 2, "next": 3, "created": 5.0},
    )
    await old_write({"v": 1, "rev": 3, "clear": 2}, {"rev": 3, "next": 3, "created": 5.0})
    await old_write(
        {"v": 1, "rev": 4, "e": [[3, 11.0, {"i": 3}]]}, {"rev": 4, "next": 4, "created": 5.0}
    )
    await old_write({"v": 1, "rev": 5, "pop": [3]}, {"rev": 5, "next": 4, "created": 5.0})
    await old_write(
        {"v": 1, "rev": 6, "e": [[4, 12.0, {"i": 4}]]}, {"rev": 6, "next": 5, "created": 5.0}
    )
    record = await store.get_session(KEY)
    assert record is not None
    assert [(e.seq, e.data, e.state_delta) for e in record.events] == [(4, {"i": 4}, None)]
    assert (record.revision, record.created_at) == (6, 5.0)
    assert (await store.append_event(KEY, {"i": 5})).seq == 5


# -- creations with events: one visible step ----------------------------------------------


@run_async
async def test_an_interrupted_creation_stays_invisible_and_the_next_write_completes_it() -> None:
    service = InMemorySessionService()
    store = ADKServiceStore(service)
    failing = {"on": True}
    real_append = service.append_event

    async def flaky_append(session: Any, event: ADKEvent) -> ADKEvent:
        if failing["on"]:
            raise ConnectionResetError("connection reset by peer")
        return await real_append(session, event)

    service.append_event = flaky_append  # type: ignore[method-assign]
    with pytest.raises(Exception, match="connection reset"):
        await store.add_items(KEY, [{"i": 1}])
    # the placeholder exists in the service, but no reader sees a session
    assert await service.get_session(app_name="app", user_id="u", session_id="s") is not None
    assert await store.get_session(KEY) is None
    assert (await store.list_sessions("app")).sessions == []
    assert await store.get_items(KEY) == []
    with pytest.raises(Exception, match="does not exist"):
        await store.append_event(KEY, {"i": 0})
    failing["on"] = False
    await store.add_items(KEY, [{"i": 2}])
    record = await store.get_session(KEY)
    assert record is not None and [e.data for e in record.events] == [{"i": 2}]
    assert record.revision == 1


# -- lifecycle: what ADK's API allows -------------------------------------------------------


@run_async
async def test_fork_import_purge_and_scope_updates_work_without_declaring_lifecycle() -> None:
    store = ADKServiceStore(InMemorySessionService())
    assert Capability.LIFECYCLE not in store.capabilities
    await store.create_session(KEY, {"s": 0})
    await store.append_event(KEY, {"i": 1}, state_delta={"s": 1}, timestamp=100.0)
    await store.append_event(KEY, {"i": 2}, state_delta={"s": 2}, timestamp=200.0)
    events = (await store.get_session(KEY)).events  # type: ignore[union-attr]
    fork = SessionKey("app", "u", "fork")
    forked = await store.fork_session(KEY, fork, up_to=events[0].seq)
    assert forked.state == {"s": 1}
    assert [e.data for e in (await store.get_session(fork)).events] == [{"i": 1}]  # type: ignore[union-attr]
    imported = SessionKey("app", "u", "imported")
    assert (
        await store.import_session(
            imported, events, state={"s": 2}, created_at=50.0, updated_at=200.0, base_state={"s": 0}
        )
        == 2
    )
    assert (
        await store.import_session(
            imported, events, state={"s": 2}, created_at=50.0, updated_at=200.0
        )
        == 0
    ), "importing twice writes nothing the second time"
    again = await store.get_session(imported)
    assert again is not None and [e.seq for e in again.events] == [e.seq for e in events]
    assert (again.created_at, again.updated_at, again.base_state) == (50.0, 200.0, {"s": 0})
    await store.update_app_state("app", {"theme": "dark"})
    await store.update_user_state("app", "u", {"name": "Ada"})
    assert await store.get_app_state("app") == {"theme": "dark"}
    assert await store.get_user_state("app", "u") == {"name": "Ada"}
    assert (await store.get_session(KEY, last=0)).state["user:name"] == "Ada"  # type: ignore[union-attr]
    # purge: only the sessions idle before the cutoff (the fork was written now)
    assert await store.purge_sessions("app", 1000.0) == 2
    assert [r.key for r in (await store.list_sessions("app")).sessions] == [fork]
    assert await store.get_user_state("app", "u") == {"name": "Ada"}, "purge keeps scopes"


@pytest.mark.parametrize("kind", ["memory", "sqlite", "db"])
@run_async
async def test_list_apps_reads_what_adks_local_services_keep(kind: str, tmp_path: Path) -> None:
    url = {
        "memory": "adk+memory://",
        "sqlite": f"adk+sqlite:///{tmp_path}/a.db",
        "db": _db_url(tmp_path / "a.db"),
    }[kind]
    async with open_store(url) as store:
        assert await store.list_apps() == []  # type: ignore[attr-defined]
        await store.create_session(SessionKey("zeta", "u", "s"))
        await store.add_items(SessionKey("app 🙂", "u", "s"), [{"i": 1}])
        await store.update_app_state("scope-only", {"k": 1})  # type: ignore[attr-defined]
        assert await store.list_apps() == ["app 🙂", "scope-only", "zeta"]  # type: ignore[attr-defined]
        await store.delete_session(SessionKey("zeta", "u", "s"))
        # gone, unless ADK keeps the app's (empty) state rows, as its database service does
        listed = await store.list_apps()  # type: ignore[attr-defined]
        assert listed == ["app 🙂", "scope-only"] + (["zeta"] if kind == "db" else [])
    if kind == "sqlite":  # ADK's own writes are found too, from the file alone
        service = SqliteSessionService(str(tmp_path / "a.db"))
        await service.create_session(app_name="native", user_id="u")
        assert "native" in await ADKServiceStore(service).list_apps()


@run_async
async def test_what_adks_api_cannot_do_is_unsupported_with_the_reason() -> None:
    store = ADKServiceStore(InMemorySessionService())
    await store.create_session(KEY, {"user:name": "Ada"})
    with pytest.raises(Unsupported, match="cannot delete app: or user: state"):
        await store.erase_user("app", "u")
    with pytest.raises(Unsupported, match="cannot delete app: or user: state"):
        await store.erase_app("app")
    assert await store.get_session(KEY) is not None, "a refused erase deletes nothing"


@run_async
async def test_replace_is_one_conditional_append() -> None:
    service = InMemorySessionService()
    store = ADKServiceStore(service)
    await store.add_items(KEY, [{"i": i} for i in range(4)])
    record = await store.get_session(KEY, last=0)
    assert record is not None
    raw = await service.get_session(app_name="app", user_id="u", session_id="s")
    before = len(raw.events)  # type: ignore[union-attr]
    with pytest.raises(StaleSession):
        await store.replace_events(KEY, 3, [{"x": 1}], expected_revision=record.revision - 1)
    revision = await store.replace_events(
        KEY, 3, [{"summary": 1}], expected_revision=record.revision
    )
    assert revision == record.revision + 1
    assert await store.get_items(KEY) == [{"i": 0}, {"i": 1}, {"summary": 1}]
    raw = await service.get_session(app_name="app", user_id="u", session_id="s")
    assert len(raw.events) == before + 1  # type: ignore[union-attr]


@run_async
async def test_state_adk_holds_that_is_not_json_still_reads() -> None:
    # An in-memory service keeps whatever a tool put in state, at any depth:
    # reading it never fails (a copy elsewhere checks it there).
    service = InMemorySessionService()
    deep: Any = "leaf"
    for _ in range(150):
        deep = [deep]
    when = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
    await service.create_session(
        app_name="app", user_id="u", session_id="s", state={"when": when, "deep": deep}
    )
    record = await ADKServiceStore(service).get_session(KEY)
    assert record is not None
    assert record.state["when"] == when
    assert record.state["deep"] == deep and record.state["deep"] is not deep


@run_async
async def test_an_event_adk_wrote_keeps_its_delta_as_the_bridge_records_it() -> None:
    """Bytes in a delta ADK's own service wrote are read as their UTF-8 text, as the
    bridge records them, so a fork rebuilds the state the session holds."""
    service = InMemorySessionService()
    session = await service.create_session(app_name="app", user_id="u", session_id="s")
    delta = {"blob": b"hi", "temp:x": 1}
    await service.append_event(
        session, ADKEvent(author="a", actions=EventActions(state_delta=delta))
    )
    async with ADKServiceStore(service) as store:
        page = await store.get_events(SessionKey("app", "u", "s"))
    assert [event.state_delta for event in page.events] == [{"blob": "hi"}]
