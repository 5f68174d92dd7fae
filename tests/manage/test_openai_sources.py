"""The read-only sources for the OpenAI SDK's own stores, on stores the SDK itself wrote."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from omnisession import (
    BackendRejected,
    BackendUnavailable,
    InvalidOption,
    SessionKey,
    Unsupported,
    open_store,
)
from omnisession.manage import CountMismatch, copy_store
from omnisession.openai_agents import OmniSession
from omnisession.plugins import registry

from .sdk_stores import SDK_STORES, SDKStore, sdk_store, sqlite_session_file

pytestmark = pytest.mark.asyncio

ITEMS = [
    {"role": "user", "content": "Hi, I'm Ada 🦜"},
    {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Hello Ada!", "annotations": []}],
    },
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "lookup",
        "arguments": '{"q": "weather"}',
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
]


@pytest_asyncio.fixture(params=SDK_STORES)
async def written(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SDKStore]:
    """An SDK store holding three conversations, written by the SDK's own session class."""
    async with sdk_store(request.param, tmp_path) as store:
        first = store.session("conv-1")
        await first.add_items(ITEMS[:2])
        await first.add_items(ITEMS[2:])
        second = store.session("thread:two/β")
        await second.add_items([{"role": "user", "content": "to be popped"}])
        await second.pop_item()
        await second.add_items([{"role": "user", "content": "kept"}])
        third = store.session("conv-3")
        await third.add_items([{"role": "user", "content": f"n{n}"} for n in range(7)])
        yield store


async def test_every_sdk_session_reads_as_the_sdk_reads_it(written: SDKStore) -> None:
    async with open_store(written.url) as source:
        assert await source.list_apps() == ["default"]
        keys = []
        cursor = None
        while True:  # one session per page
            page = await source.list_sessions("default", page_size=1, cursor=cursor)
            keys.extend(record.key for record in page.sessions)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sorted(key.session_id for key in keys) == ["conv-1", "conv-3", "thread:two/β"]
        for key in keys:
            assert key == SessionKey("default", key.session_id, key.session_id)
            sdk_items = await written.session(key.session_id).get_items()
            assert await source.get_items(key) == sdk_items
            assert await source.get_items(key, limit=2) == sdk_items[-2:]
            record = await source.get_session(key)
            assert record is not None
            assert [event.data for event in record.events] == sdk_items
            assert record.state == {} and record.created_at <= record.updated_at
            newest = await source.get_session(key, last=1)
            assert newest is not None and [e.data for e in newest.events] == sdk_items[-1:]


async def test_history_pages_both_ways(written: SDKStore) -> None:
    key = SessionKey("default", "conv-3", "conv-3")
    async with open_store(written.url) as source:
        forward, cursor = [], None
        while True:
            page = await source.get_events(key, cursor=cursor, page_size=3, oldest_first=True)
            forward.extend(page.events)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        backward, cursor = [], None
        while True:
            page = await source.get_events(key, cursor=cursor, page_size=2)
            backward[:0] = page.events
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [e.data["content"] for e in forward] == [f"n{n}" for n in range(7)]
        assert forward == backward
        seqs = [event.seq for event in forward]
        assert seqs == sorted(seqs) and len(set(seqs)) == 7


async def test_a_copied_conversation_continues_in_omnisession(written: SDKStore) -> None:
    async with open_store(written.url) as source, open_store("memory://") as target:
        report = await copy_store(source, target)
        assert (report.sessions, report.events_written) == (3, 4 + 1 + 7)
        session = OmniSession("conv-1", target)
        assert await session.get_items() == ITEMS
        await session.add_items([{"role": "user", "content": "and now?"}])
        again = await copy_store(source, target, verify=False)
        assert again.events_written == 0
        # the continued session has one more event than the source: the check says so
        with pytest.raises(CountMismatch, match=r"'conv-1'.*source 4 events, target 5 events"):
            await copy_store(source, target)


async def test_the_key_mapping_follows_the_options(written: SDKStore) -> None:
    joiner = "&" if "?" in written.url else "?"
    async with open_store(f"{written.url}{joiner}app=support&user=ada") as source:
        assert await source.list_apps() == ["support"]
        page = await source.list_sessions("support", "ada")
        assert {record.key for record in page.sessions} == {
            SessionKey("support", "ada", name) for name in ("conv-1", "conv-3", "thread:two/β")
        }
        assert (await source.list_sessions("default")).sessions == []
        assert (await source.list_sessions("support", "bob")).sessions == []
        assert await source.get_session(SessionKey("support", "conv-1", "conv-1")) is None
        session = OmniSession("conv-1", source, app_name="support", user_id="ada")
        assert await session.get_items() == ITEMS
    async with open_store(written.url) as source:
        only = await source.list_sessions("default", "conv-3")
        assert [record.key.session_id for record in only.sessions] == ["conv-3"]


async def test_every_write_is_refused(written: SDKStore) -> None:
    key = SessionKey("default", "conv-1", "conv-1")
    async with open_store(written.url) as source:
        for write in (
            source.append_event(key, {"a": 1}),
            source.add_items(key, [{"a": 1}]),
            source.pop_item(key),
            source.clear_session(key),
            source.delete_session(key),
            source.update_state(key, {"a": 1}),
            source.create_session(SessionKey("default", "x", "x")),
            source.erase_user("default", "conv-1"),
            source.purge_sessions("default", 2e9),
        ):
            with pytest.raises(Unsupported, match="read-only source"):
                await write
        assert len(await source.get_items(key)) == 4


async def test_rows_that_are_not_json_objects_are_skipped_and_pages_stay_full(
    tmp_path: Path,
) -> None:
    async with sqlite_session_file(tmp_path) as written:
        session = written.session("c")
        await session.add_items([{"n": n} for n in range(6)])
        path = written.url.split(":///", 1)[1]
        with sqlite3.connect(path) as connection:
            connection.execute(
                "INSERT INTO agent_messages (session_id, message_data) VALUES ('c', '{broken')"
            )
            connection.execute(
                "INSERT INTO agent_messages (session_id, message_data) VALUES ('c', '[1]')"
            )
        await session.add_items([{"n": 6}])
        key = SessionKey("default", "c", "c")
        async with open_store(written.url) as source:
            # the SDK skips the broken row and returns the list; an event must be an object
            sdk_items = await session.get_items()
            assert [1] in sdk_items
            assert await source.get_items(key) == [item for item in sdk_items if item != [1]]
            page = await source.get_events(key, page_size=2)
            assert [event.data for event in page.events] == [{"n": 5}, {"n": 6}]
            assert page.next_cursor is not None


async def test_custom_table_names(tmp_path: Path) -> None:
    tables = {"sessions_table": "chat_sessions", "messages_table": "chat_items"}
    async with sqlite_session_file(tmp_path, **tables) as written:
        await written.session("a").add_items(ITEMS[:1])
        async with open_store(written.url) as source:
            assert await source.get_items(SessionKey("default", "a", "a")) == ITEMS[:1]
        plain = written.url.split("?", 1)[0]
        async with open_store(plain) as source:
            with pytest.raises(BackendRejected, match=r"sessions_table=.*messages_table="):
                await source.list_sessions("default")


async def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match="did you mean 'key_prefix'"):
        open_store("openai+redis://127.0.0.1:6379/0?key_prefx=x")
    with pytest.raises(InvalidOption, match="sessions_table"):
        open_store("openai+sqlite:///x.db?session_table=x")
    with pytest.raises(ValueError, match="names no file"):
        open_store("openai+sqlite://")
    async with open_store(f"openai+sqlite:///{tmp_path}/missing.db") as source:
        with pytest.raises(BackendRejected, match="does not exist"):
            await source.list_sessions("default")
    (tmp_path / "junk.db").write_bytes(b"this is not a database, not at all" * 100)
    async with open_store(f"openai+sqlite:///{tmp_path}/junk.db") as source:
        with pytest.raises(BackendRejected, match=r"junk\.db"):
            await source.list_apps()
    closed = "127.0.0.1:9"  # the discard port: nothing listens there
    for url in (
        f"openai+redis://{closed}/0?command_timeout=5",
        f"openai+postgresql://root@{closed}/test?command_timeout=5",
    ):
        async with open_store(url) as source:
            with pytest.raises(BackendUnavailable):
                await source.list_sessions("default")


async def test_the_sources_are_registered_with_their_options() -> None:
    by_scheme = registry().by_scheme
    for scheme in ("openai+sqlite", "openai+postgresql", "openai+mysql", "openai+redis"):
        backend = by_scheme[scheme]
        names = {option.name for option in backend.options}
        assert {"app", "user"} <= names
        assert "read-only" in backend.description
