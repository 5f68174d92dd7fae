"""Export, import and copy: exact, idempotent, resumable, streamed; on every target engine."""

from __future__ import annotations

import asyncio
import gc
import gzip
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from omnisession import Event, SessionKey, open_store
from omnisession.manage import (
    AppsRequired,
    CountMismatch,
    FormatError,
    copy_store,
    export_store,
    import_file,
    import_lines,
    iter_export_lines,
    verify_copy,
)

from .data import APPS, populate, revisions, snapshot

pytestmark = pytest.mark.asyncio


async def _exported(store: Any, **kwargs: Any) -> list[str]:
    return [line async for line in iter_export_lines(store, **kwargs)]


async def test_export_then_import_reproduces_everything(target_url: str, memory_url: str) -> None:
    async with open_store(memory_url) as source, open_store(target_url) as target:
        await populate(source)
        buffer = io.StringIO()
        exported = await export_store(source, buffer)
        assert (exported.apps, exported.users, exported.sessions, exported.events) == (2, 4, 8, 20)

        buffer.seek(0)
        first = await import_file(target, buffer)
        assert (first.sessions_written, first.events_written) == (8, 20)
        assert await snapshot(target) == await snapshot(source)

        before = await revisions(target)
        buffer.seek(0)
        again = await import_file(target, buffer)
        assert (again.sessions_written, again.events_written, again.scopes_written) == (0, 0, 0)
        assert (again.sessions, again.events) == (8, 20)
        assert await revisions(target) == before
        assert await snapshot(target) == await snapshot(source)


async def test_an_interrupted_import_resumes_with_only_what_is_missing(
    target_url: str, memory_url: str
) -> None:
    async with open_store(memory_url) as source, open_store(target_url) as target:
        await populate(source, sessions_per_user=2, events=6)
        lines = await _exported(source)
        # Cut the file in the middle of a session's events (and with tiny batches, so
        # part of that session is written): the import reports the truncation.
        cut = next(i for i, line in enumerate(lines) if '"seq":4' in line) + 1
        with pytest.raises(FormatError, match="truncated"):
            await import_lines(target, lines[:cut], batch_events=2)
        partial = await target.get_session(SessionKey("support", "ada", "thread-0"))
        assert partial is not None and [e.seq for e in partial.events] == [1, 2, 3, 4]

        resumed = await import_lines(target, lines, batch_events=2)
        # the file's first app ("sales app/β", 2 events) and 4 events of ada's were there
        assert resumed.events_written == resumed.events - 2 - 4
        assert await snapshot(target) == await snapshot(source)


async def test_copy_writes_everything_then_nothing(target_url: str, memory_url: str) -> None:
    async with open_store(memory_url) as source, open_store(target_url) as target:
        await populate(source)
        report = await copy_store(source, target, page_size=3)
        assert report.apps == sorted(APPS)
        assert (report.sessions, report.sessions_written, report.events_written) == (8, 8, 20)
        assert report.verification is not None and report.verification.ok
        assert await snapshot(target) == await snapshot(source)

        before = await revisions(target)
        second = await copy_store(source, target)
        assert (second.sessions_written, second.events_written, second.scopes_written) == (0, 0, 0)
        assert await revisions(target) == before


class Killed(Exception):
    """The copy's process died here."""


class _Interrupting:
    """A target that fails after ``budget`` import_session calls, like a killed copy.

    A write already sent when the copy dies still completes on the server (a
    cancelled client does not take back a COMMIT the server has received), so
    each one runs shielded in ``sent``; a test awaits them before it counts
    what the target holds.
    """

    def __init__(self, store: Any, budget: int) -> None:
        self._store = store
        self.budget = budget
        self.sent: list[asyncio.Future[int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def import_session(self, key: SessionKey, events: Sequence[Event], **kwargs: Any) -> int:
        if self.budget <= 0:
            raise Killed
        self.budget -= 1
        sent = asyncio.ensure_future(self._store.import_session(key, events, **kwargs))
        self.sent.append(sent)
        return await asyncio.shield(sent)

    async def settled(self) -> None:
        """Wait for every write the copy sent before it died."""
        await asyncio.gather(*self.sent, return_exceptions=True)


async def test_an_interrupted_copy_resumes_with_only_what_is_missing(
    target_url: str, memory_url: str
) -> None:
    async with open_store(memory_url) as source, open_store(target_url) as target:
        await populate(source, sessions_per_user=2, events=7)
        with pytest.raises(Killed):
            # pages of 3 events, 3 import calls per session: the 4th call is the first page
            # of the 2nd session, the 5th is interrupted
            await copy_store(
                source, _Interrupting(target, 4), apps=["support"], page_size=3, concurrency=1
            )
        held = await target.get_session(SessionKey("support", "ada", "thread-1"))
        assert held is not None and [event.seq for event in held.events] == [1, 2, 3]

        resumed = await copy_store(source, target, apps=["support"], page_size=3)
        assert resumed.events_written == 3 * 2 * 7 - 7 - 3
        assert resumed.verification is not None and resumed.verification.ok
        assert await snapshot(target, ("support",)) == await snapshot(source, ("support",))


async def test_the_count_check_names_what_differs(memory_url: str) -> None:
    async with open_store(memory_url) as source, open_store("memory://") as target:
        await populate(source)
        await copy_store(source, target)
        key = SessionKey("support", "bob", "thread-1")
        await target.pop_item(key)  # the target now lacks an event
        verification = await verify_copy(source, target, apps=["support"])
        assert not verification.ok
        counts = verification.apps[0]
        assert (counts.source_events, counts.target_events) == (18, 17)
        assert "'bob', 'thread-1'" in verification.differing[0]
        assert "re-run the same copy" in verification.describe()

        # a re-run writes what is missing ...
        rerun = await copy_store(source, target, apps=["support"])
        assert rerun.events_written == 1

        # ... but cannot take away what the target has on top: the check fails the copy
        await target.append_event(key, {"text": "continued in the target"})
        with pytest.raises(CountMismatch, match="count check failed") as failure:
            await copy_store(source, target, apps=["support"])
        assert failure.value.verification.apps[0].target_events == 19


async def test_one_app_and_one_user(memory_url: str) -> None:
    async with open_store(memory_url) as source, open_store("memory://") as target:
        await populate(source)
        report = await copy_store(source, target, apps=["support"], user="bob")
        assert (report.sessions, report.users) == (2, 1)
        keys = [record.key for record in (await target.list_sessions("support")).sessions]
        assert {key.user_id for key in keys} == {"bob"}
        assert await target.list_apps() == ["support"]
        lines = await _exported(source, apps=["support"], user="ada")
        assert sum('"type":"session"' in line for line in lines) == 2


async def test_an_interrupted_concurrent_copy_resumes_too(target_url: str, memory_url: str) -> None:
    async with open_store(memory_url) as source, open_store(target_url) as target:
        await populate(source, sessions_per_user=3, events=9)
        interrupting = _Interrupting(target, 10)
        with pytest.raises(Killed):
            await copy_store(source, interrupting, page_size=4, concurrency=4)
        await interrupting.settled()
        held = sum(
            len(session["events"])
            for app in (await snapshot(target)).values()
            for session in app["sessions"].values()
        )
        assert 0 < held < 3 * 3 * 9
        resumed = await copy_store(source, target, page_size=4, concurrency=4)
        assert resumed.events_written == 3 * 3 * 9 + 2 - held
        assert await snapshot(target) == await snapshot(source)


async def test_sessions_failing_together_are_all_retrieved(memory_url: str) -> None:
    """Several copies failing in one wake-up: the first failure is raised, none is left
    for asyncio to log as "Task exception was never retrieved"."""
    unretrieved: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    try:
        async with open_store(memory_url) as source, open_store("memory://") as target:
            await populate(source, sessions_per_user=3, events=2)
            with pytest.raises(Killed):
                await copy_store(source, _Interrupting(target, 0), concurrency=4)
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []


class _NoApps:
    """A source without list_apps (an adk+ store, say)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name == "list_apps":
            raise AttributeError(name)
        return getattr(self._store, name)


async def test_a_source_that_cannot_list_apps_asks_for_them(memory_url: str) -> None:
    async with open_store(memory_url) as source, open_store("memory://") as target:
        await populate(source)
        with pytest.raises(AppsRequired, match="--app"):
            await copy_store(_NoApps(source), target)
        report = await copy_store(_NoApps(source), target, apps=["support"])
        assert report.sessions == 6


class _Spy:
    """Records every read, to show a transfer never holds a whole history or listing."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in ("get_session", "get_events", "list_sessions", "get_items"):
            return attribute

        async def spied(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return await attribute(*args, **kwargs)

        return spied


async def test_memory_is_bounded_by_pages_not_by_history(memory_url: str) -> None:
    """Every read is a page: no get_session without last, no get_items, bounded page sizes."""
    async with open_store(memory_url) as store:
        key = SessionKey("support", "ada", "long")
        await store.create_session(key)
        for seq in range(1, 1201):
            await store.append_event(key, {"n": seq})
        spy = _Spy(store)
        lines = await _exported(spy, apps=["support"], page_size=100)
        assert len(lines) == 1 + 1 + 1 + 1 + 1200 + 1
        target = _Spy(open_store("memory://"))
        await copy_store(spy, target, page_size=100)
        for name, kwargs in spy.calls + target.calls:
            assert name != "get_items"
            if name == "get_session":
                assert kwargs.get("last") in (0, 1)
            else:
                assert 1 <= kwargs.get("page_size", 0) <= 1000


async def test_gzip_files_and_format_errors(tmp_path: Path, memory_url: str) -> None:
    async with open_store(memory_url) as source, open_store("memory://") as target:
        await populate(source)
        path = tmp_path / "backup.jsonl.gz"
        await export_store(source, path)
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            assert stream.readline().startswith('{"format":"omnisession-export","version":1')
        await import_file(target, path)
        assert await snapshot(target) == await snapshot(source)

        lines = await _exported(source)
        with pytest.raises(FormatError, match="newer than this omnisession"):
            await import_lines(target, [lines[0].replace('"version":1', '"version":2')])
        with pytest.raises(FormatError, match="not an omnisession-export header"):
            await import_lines(target, ['{"format":"something else"}'])
        with pytest.raises(FormatError, match="empty"):
            await import_lines(target, [])
        with pytest.raises(FormatError, match="line 2 has type 'bogus'"):
            await import_lines(target, [lines[0], '{"type":"bogus"}'])
        with pytest.raises(FormatError, match="before any session line"):
            orphan = '{"type":"event","seq":1,"timestamp":1,"data":{}}'
            await import_lines(target, [lines[0], orphan])
        session = next(line for line in lines if '"session":"thread-0"' in line)
        event = '{"type":"event","seq":5,"timestamp":1.0,"data":{},"state_delta":null}'
        with pytest.raises(FormatError, match="increasing seq order"):
            await import_lines(target, [lines[0], session, event, event])
        with pytest.raises(FormatError, match=r"line 2 .*not JSON"):
            await import_lines(target, [lines[0], "{oops"])
        with pytest.raises(FormatError, match="end line counts"):
            wrong_end = lines[-1].replace('"events":20', '"events":21')
            await import_lines(target, [*lines[:-1], wrong_end])
        with pytest.raises(FormatError, match="after the end line"):
            await import_lines(target, [*lines, lines[1]])
        with pytest.raises(FormatError, match="session_id must not be empty"):
            nameless = session.replace('"session":"thread-0"', '"session":""')
            await import_lines(target, [lines[0], nameless])


async def test_scopes_are_compared_before_writing(memory_url: str) -> None:
    async with open_store(memory_url) as source, open_store("memory://") as target:
        await source.update_app_state("support", {"a": 1, "b": {"c": 2}})
        await source.update_user_state("support", "ada", {"lang": "en"})
        await source.create_session(SessionKey("support", "ada", "s"))
        lines = await _exported(source)
        await target.update_app_state("support", {"a": 1, "kept": True})
        report = await import_lines(target, lines)
        assert report.scopes_written == 2  # app (b differs) and user
        assert await target.get_app_state("support") == {"a": 1, "b": {"c": 2}, "kept": True}
        again = await import_lines(target, lines)
        assert again.scopes_written == 0
