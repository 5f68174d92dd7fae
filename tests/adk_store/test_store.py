"""ADKServiceStore behaviour beyond the suite: URLs, registration, ids, errors."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from google.adk.events.event import Event as ADKEvent
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from omnisession import (
    BackendUnavailable,
    Capability,
    InvalidEntry,
    SessionKey,
    open_store,
)
from omnisession.adk_store import META_KEY, ADKServiceStore, PlainIds

from . import run_async

KEY = SessionKey("app", "u", "s")


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
        assert first.capabilities == {Capability.BASE, Capability.LARGE_ENTRIES}


@pytest.mark.parametrize("scheme", ["adk+sqlite", "adk+db"])
@run_async
async def test_file_urls_persist_across_reopening(scheme: str, tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    url = (
        f"adk+sqlite:///{path}"
        if scheme == "adk+sqlite"
        else (f"adk+db://sqlite+aiosqlite:///{path}")
    )
    async with open_store(url) as store:
        assert Capability.PERSISTENT in store.capabilities
        await store.create_session(KEY, {"app:theme": "dark"})
        await store.append_event(KEY, {"role": "user", "content": "hi"}, state_delta={"n": 1})
    async with open_store(url) as reopened:
        record = await reopened.get_session(KEY)
        assert record is not None
        assert [event.data for event in record.events] == [{"role": "user", "content": "hi"}]
        assert record.state == {"n": 1, "app:theme": "dark"}
        assert await reopened.get_app_state("app") == {"theme": "dark"}


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("adk+db://not-a-url", ValueError, "SQLAlchemy async URL"),
        ("adk+sqlite://", ValueError, "names no database file"),
        ("adk+db://sqlite:///sync-driver.db", ValueError, "asynchronous"),
    ],
)
def test_bad_urls_say_what_to_write(url: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        open_store(url)


def test_adk_memory_takes_no_options() -> None:
    with pytest.raises(TypeError, match="takes no options"):
        open_store("adk+memory://", pool_size=3)


@run_async
async def test_unreachable_database_is_backend_unavailable(tmp_path: Path) -> None:
    url = f"adk+db://sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    async with open_store(url) as store:
        with pytest.raises(BackendUnavailable) as caught:
            await store.create_session(KEY)
        assert caught.value.__cause__ is not None
        del caught
    # The driver's half-opened connection is closed when collected; collect it
    # while this test's event loop still runs, not in a later test.
    gc.collect()


def test_listing_backends_imports_no_adk() -> None:
    code = (
        "import json, sys\n"
        "from omnisession.plugins import registry\n"
        "backend = registry().resolve('adk+vertexai://p/l/1')\n"
        "print(json.dumps([backend.name, list(backend.schemes), 'google.adk' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    name, schemes, imported = json.loads(out)
    assert name == "adk"
    assert set(schemes) == {"adk+memory", "adk+sqlite", "adk+db", "adk+vertexai"}
    assert imported is False


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
        await store.create_session(key)
    stored = {(s.user_id, s.id) for s in (await service.list_sessions(app_name="app")).sessions}
    assert ("ada", "thread-1") in stored
    assert PlainIds().to_service(keys[1])[1:] in stored
    assert ("~" + b"~ada".hex(), "~" + b"~x".hex()) in stored
    assert ("~", "~") in stored  # the app's bookkeeping session
    listed = await store.list_sessions("app")
    assert sorted(record.key for record in listed.sessions) == sorted(keys)


@run_async
async def test_events_written_by_adk_itself_are_not_items() -> None:
    service = InMemorySessionService()
    store = ADKServiceStore(service)
    native = await service.create_session(app_name="app", user_id="u", session_id="s")
    await service.append_event(native, ADKEvent(author="user", invocation_id="i"))
    record = await store.get_session(KEY)
    assert record is not None and record.events == [] and record.revision == 0
    await store.append_event(KEY, {"i": 1})
    assert await store.get_items(KEY) == [{"i": 1}]
    assert await store.pop_item(KEY) == {"i": 1}
    assert await store.pop_item(KEY) is None
