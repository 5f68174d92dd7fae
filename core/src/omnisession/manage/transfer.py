"""Export, import and copy: streamed, bounded in memory, idempotent and resumable.

Everything here uses the public store contract only:

* reading: ``list_apps`` (where the store can), ``list_sessions`` page by
  page, ``get_session(key, last=1)`` for a session's state and newest seq,
  ``get_events(oldest_first=True)`` page by page, ``get_app_state`` /
  ``get_user_state``;
* writing (the target must declare ``Capability.LIFECYCLE``):
  ``import_session`` per batch of events, ``update_app_state`` /
  ``update_user_state`` with only the keys whose value differs.

Memory holds one page of sessions and one page (or batch) of events per
session in flight (a copy works on ``concurrency`` sessions at once, 4 by
default), whatever the size of the store or the length of a history.

Idempotent and resumable: a session the target already holds gets only the
events newer than its newest (``import_session``'s own rule), and a scope only
the keys that differ, so importing a file twice, or copying twice, writes
nothing the second time, and re-running an interrupted copy or import writes
exactly what is missing. Sources are expected to be quiet meanwhile: state
changed in a session the target already holds is not copied again.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO, cast

from ..backend import ValidatingStore, encode_cursor
from ..errors import OmnisessionError, Unsupported
from ..model import Event, JSONObject, SessionKey, SessionRecord, split_state
from ..store import Capability, SessionStore
from . import format as fmt
from .progress import Progress

__all__ = [
    "AppCount",
    "AppsRequired",
    "CopyReport",
    "CountMismatch",
    "ExportReport",
    "ImportReport",
    "Verification",
    "copy_store",
    "count_events",
    "export_store",
    "import_file",
    "import_lines",
    "iter_export_lines",
    "resolve_apps",
    "verify_copy",
]

#: Sessions per listing page, events per history page (both at most 10,000).
DEFAULT_PAGE_SIZE = 500
#: An import writes a session's events in batches of at most this many events ...
DEFAULT_BATCH_EVENTS = 500
#: ... and at most about this many bytes of JSON.
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024
#: How many sessions a copy (and its count check) works on at once: reads and writes of
#: one session wait on the engines, so a few in flight keep both busy.
DEFAULT_CONCURRENCY = 4
#: How many user ids an export or copy remembers to write each user scope once; past
#: it the memory is cleared (a scope may then be written twice, which is harmless).
_SEEN_USERS_LIMIT = 100_000


class AppsRequired(Unsupported):
    """The source cannot list its apps: name them (``--app``)."""


class CountMismatch(OmnisessionError):
    """The copy's final count check found the target short of (or past) the source."""

    def __init__(self, verification: Verification) -> None:
        super().__init__(verification.describe())
        self.verification = verification


# -- reports -------------------------------------------------------------------------------


@dataclass
class ExportReport:
    """What an export wrote."""

    apps: int = 0
    users: int = 0
    sessions: int = 0
    events: int = 0


@dataclass
class ImportReport:
    """What an import read from the file and what it actually wrote."""

    apps: int = 0
    users: int = 0
    sessions: int = 0
    events: int = 0
    scopes_written: int = 0
    """App and user scopes that got at least one key (0 on a repeated import)."""
    sessions_written: int = 0
    """Sessions created, or extended with missing events."""
    events_written: int = 0


@dataclass(frozen=True)
class AppCount:
    """Sessions and events of one app, in the source and among the same keys in the target."""

    app: str
    source_sessions: int
    source_events: int
    target_sessions: int
    target_events: int

    @property
    def ok(self) -> bool:
        return (self.source_sessions, self.source_events) == (
            self.target_sessions,
            self.target_events,
        )


@dataclass
class Verification:
    """The count check at the end of a copy."""

    apps: list[AppCount] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    """Up to 10 sessions that differ, described."""

    @property
    def ok(self) -> bool:
        return all(app.ok for app in self.apps)

    def describe(self) -> str:
        lines = []
        for app in self.apps:
            if app.ok:
                continue
            lines.append(
                f"app {app.app!r}: source has {app.source_sessions} sessions / "
                f"{app.source_events} events, target {app.target_sessions} / "
                f"{app.target_events}"
            )
        if not lines:
            return "every app has the same sessions and events in source and target"
        lines.extend(f"  {text}" for text in self.differing)
        lines.append(
            "re-run the same copy to write what is missing (it resumes); if the counts still "
            "differ, the source changed meanwhile or the target already held other events "
            "under these keys"
        )
        return "count check failed:\n" + "\n".join(lines)


@dataclass
class CopyReport:
    """What a copy read, what it wrote, and its count check."""

    apps: list[str] = field(default_factory=list)
    users: int = 0
    sessions: int = 0
    """Sessions of the source the copy went through."""
    sessions_written: int = 0
    """Sessions created in the target, or extended with missing events."""
    events_written: int = 0
    scopes_written: int = 0
    seconds: float = 0.0
    verification: Verification | None = None


# -- reading a store ----------------------------------------------------------------------


async def resolve_apps(store: SessionStore, apps: Sequence[str] | None) -> list[str]:
    """``apps`` if given, else every app of the store; :class:`AppsRequired` if it cannot list."""
    if apps:
        return list(dict.fromkeys(apps))
    list_apps = getattr(store, "list_apps", None)
    if list_apps is None:
        raise AppsRequired(_apps_message(store, "has no list_apps()"))
    try:
        names: list[str] = await list_apps()
    except NotImplementedError as exc:  # Unsupported included
        raise AppsRequired(_apps_message(store, str(exc))) from exc
    return names


def _apps_message(store: SessionStore, why: str) -> str:
    return (
        f"cannot list the apps of this {type(store).__name__} ({why}); "
        "name the app(s) to work on with --app APP (app_name= in Python)"
    )


async def iter_session_keys(
    store: SessionStore, app: str, user: str | None, page_size: int = DEFAULT_PAGE_SIZE
) -> AsyncIterator[SessionKey]:
    """Every session key of an app (or one user), a listing page at a time."""
    cursor: str | None = None
    while True:
        page = await store.list_sessions(app, user, page_size=page_size, cursor=cursor)
        for record in page.sessions:
            yield record.key
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def iter_event_pages(
    store: SessionStore, key: SessionKey, after: int = 0, page_size: int = DEFAULT_PAGE_SIZE
) -> AsyncIterator[list[Event]]:
    """The session's events with ``seq > after``, oldest first, a page at a time."""
    cursor = _cursor_after(store, after)
    while True:
        page = await store.get_events(key, cursor=cursor, page_size=page_size, oldest_first=True)
        events = [event for event in page.events if event.seq > after] if after else page.events
        if events:
            yield events
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _cursor_after(store: SessionStore, seq: int) -> str | None:
    """A ``get_events(oldest_first=True)`` cursor starting after ``seq``, where known.

    The cursor of :meth:`ValidatingStore.get_events` is core's own; a store
    that overrides ``get_events`` may use another, so it is paged from the
    start (and the older events skipped) instead.
    """
    if seq <= 0:
        return None
    if isinstance(store, ValidatingStore) and (
        type(store).get_events is ValidatingStore.get_events
    ):
        return encode_cursor("after", seq)
    return None


async def count_events(store: SessionStore, key: SessionKey) -> int:
    """How many events the session holds (0 if missing), paging through them."""
    total = 0
    async for events in iter_event_pages(store, key, page_size=1000):
        total += len(events)
    return total


class _SeenUsers:
    """The users whose scope was already written, with a bounded memory."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def first_time(self, app: str, user: str) -> bool:
        if (app, user) in self._seen:
            return False
        if len(self._seen) >= _SEEN_USERS_LIMIT:
            self._seen.clear()
        self._seen.add((app, user))
        return True


def _session_scope(record: SessionRecord) -> JSONObject:
    return split_state(record.state).session


def _newest_seq(record: SessionRecord | None) -> int:
    return record.events[-1].seq if record is not None and record.events else 0


# -- export ----------------------------------------------------------------------------------


async def iter_export_lines(
    store: SessionStore,
    *,
    apps: Sequence[str] | None = None,
    user: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    report: ExportReport | None = None,
    progress: Progress | None = None,
    exported_at: float | None = None,
) -> AsyncIterator[str]:
    """The lines of an export of ``store`` (without newlines), produced as they are read.

    ``apps`` limits it to those apps (default: every app the store lists);
    ``user`` to one user of each. ``report`` (if given) is filled in as lines
    are produced.
    """
    from .. import __version__

    report = ExportReport() if report is None else report
    progress = Progress() if progress is None else progress
    names = await resolve_apps(store, apps)
    stamp = time.time() if exported_at is None else exported_at
    yield fmt.header_line(exported_at=stamp, producer=__version__)
    seen = _SeenUsers()
    for app in names:
        total = await _count_sessions(store, app, user, page_size) if progress.wants_total else None
        progress.begin(f"export {app}", total)
        try:
            yield fmt.app_line(app, await store.get_app_state(app))
            report.apps += 1
            if user is not None:
                yield fmt.user_line(app, user, await store.get_user_state(app, user))
                report.users += 1
                seen.first_time(app, user)
            async for key in iter_session_keys(store, app, user, page_size):
                record = await store.get_session(key, last=0)
                if record is None:  # deleted since it was listed
                    continue
                if seen.first_time(app, key.user_id):
                    yield fmt.user_line(
                        app, key.user_id, await store.get_user_state(app, key.user_id)
                    )
                    report.users += 1
                yield fmt.session_line(
                    key,
                    state=_session_scope(record),
                    base_state=record.base_state,
                    created_at=record.created_at,
                    updated_at=record.updated_at,
                )
                report.sessions += 1
                async for events in iter_event_pages(store, key, page_size=page_size):
                    for event in events:
                        yield fmt.event_line(event)
                    report.events += len(events)
                    progress.update(events=len(events))
                progress.update(sessions=1)
        finally:
            progress.end()
    yield fmt.end_line(
        apps=report.apps, users=report.users, sessions=report.sessions, events=report.events
    )


async def export_store(
    store: SessionStore,
    destination: str | Path | TextIO,
    *,
    apps: Sequence[str] | None = None,
    user: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: Progress | None = None,
) -> ExportReport:
    """Write an export of ``store`` to a file (``.gz``: gzip-compressed) or a text stream."""
    report = ExportReport()
    with _open_text(destination, "w") as out:
        async for line in iter_export_lines(
            store, apps=apps, user=user, page_size=page_size, report=report, progress=progress
        ):
            out.write(line)
            out.write("\n")
        out.flush()
    return report


async def _count_sessions(store: SessionStore, app: str, user: str | None, page_size: int) -> int:
    total = 0
    async for _ in iter_session_keys(store, app, user, max(page_size, 1000)):
        total += 1
    return total


# -- import ----------------------------------------------------------------------------------


async def _sync_scope(store: SessionStore, app: str, user: str | None, wanted: JSONObject) -> int:
    """Write the keys of ``wanted`` whose value the scope does not hold yet; 1 if any, else 0."""
    if not wanted:
        return 0
    current = await (store.get_app_state(app) if user is None else store.get_user_state(app, user))
    missing = object()
    changed = {k: v for k, v in wanted.items() if current.get(k, missing) != v}
    if not changed:
        return 0
    lifecycle = _lifecycle(store, "write app and user state")
    if user is None:
        await lifecycle.update_app_state(app, changed)
    else:
        await lifecycle.update_user_state(app, user, changed)
    return 1


def _lifecycle(store: SessionStore, what: str) -> Any:
    """``store`` if it can take imports (``Capability.LIFECYCLE``), else a clear ``Unsupported``."""
    capabilities: frozenset[Capability] = getattr(store, "capabilities", frozenset())
    if Capability.LIFECYCLE not in capabilities or not hasattr(store, "import_session"):
        raise Unsupported(
            f"{_name(store)} cannot {what}: writing sessions with their own history needs a "
            "store with the 'lifecycle' capability (see `omnisession backends`)"
        )
    return store


def _name(store: SessionStore) -> str:
    described = getattr(store, "describe", None)
    return described if isinstance(described, str) else type(store).__name__


class _SessionImport:
    """One session of an import: its line, the target's newest seq, a batch of events."""

    def __init__(
        self, store: SessionStore, line: fmt.SessionLine, newest: int | None, batch_bytes: int
    ) -> None:
        self.store = store
        self.line = line
        self.newest = newest  # None: the target does not hold the session
        self.batch: list[Event] = []
        self.size = 0
        self.batch_bytes = batch_bytes
        self.previous_seq = 0
        self.written = 0
        self.changed = False

    def add(self, event: Event, size: int) -> None:
        if event.seq <= self.previous_seq:
            raise fmt.FormatError(
                f"event seq {event.seq} of session {self.line.key} comes after seq "
                f"{self.previous_seq}: events must be in increasing seq order"
            )
        self.previous_seq = event.seq
        if self.newest is not None and event.seq <= self.newest:
            return  # the target holds it already
        self.batch.append(event)
        self.size += size

    def full(self, batch_events: int) -> bool:
        return len(self.batch) >= batch_events or self.size >= self.batch_bytes

    async def flush(self, *, final: bool = False) -> None:
        create = self.newest is None and final
        if not self.batch and not create:
            return
        line = self.line
        self.changed = True
        self.written += await _lifecycle(self.store, "import sessions").import_session(
            line.key,
            self.batch,
            state=line.state,
            created_at=line.created_at,
            updated_at=line.updated_at,
            base_state=line.base_state,
        )
        if self.newest is None:
            self.newest = 0  # created now
        if self.batch:
            self.newest = self.batch[-1].seq
        self.batch = []
        self.size = 0


async def import_lines(
    store: SessionStore,
    lines: Iterable[str] | AsyncIterable[str],
    *,
    batch_events: int = DEFAULT_BATCH_EVENTS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the lines of an export into ``store``: idempotent, resumable, streamed.

    Each session is written with ``import_session`` in batches of at most
    ``batch_events`` events / ``batch_bytes`` bytes; scopes only where a value
    differs. A malformed line raises :class:`~omnisession.manage.format.FormatError`
    naming it, after everything before it was imported (fix the file and import
    it again: what is already there is not written twice). A file that ends
    without its ``end`` line is reported the same way (truncated).
    """
    report = ImportReport()
    progress = Progress() if progress is None else progress
    current: _SessionImport | None = None
    ended: fmt.EndLine | None = None
    number = 0

    async def finish_session() -> None:
        nonlocal current
        if current is None:
            return
        await current.flush(final=True)
        if current.changed:
            report.sessions_written += 1
            report.events_written += current.written
        progress.update(sessions=1)
        current = None

    progress.begin("import", None)
    try:
        async for text in _aiter(lines):
            number += 1
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            if ended is not None:
                raise fmt.FormatError(f"line {number} comes after the end line")
            record = fmt.parse_line(text, number)
            if number == 1:
                continue  # the header, checked by parse_line
            if isinstance(record, fmt.EventLine):
                if current is None:
                    raise fmt.FormatError(f"line {number}: an event line before any session line")
                current.add(record.event, len(text))
                report.events += 1
                progress.update(events=1)
                if current.full(batch_events):
                    await current.flush()
                continue
            await finish_session()
            if isinstance(record, fmt.AppLine):
                report.apps += 1
                report.scopes_written += await _sync_scope(store, record.app, None, record.state)
            elif isinstance(record, fmt.UserLine):
                report.users += 1
                report.scopes_written += await _sync_scope(
                    store, record.app, record.user, record.state
                )
            elif isinstance(record, fmt.SessionLine):
                report.sessions += 1
                existing = await store.get_session(record.key, last=1)
                newest = None if existing is None else _newest_seq(existing)
                current = _SessionImport(store, record, newest, batch_bytes)
            elif isinstance(record, fmt.EndLine):
                ended = record
            else:  # a second header
                raise fmt.FormatError(f"line {number}: a header line in the middle of the file")
        if number == 0:
            raise fmt.FormatError(f"the file is empty: no {fmt.FORMAT_NAME} header")
        await finish_session()
    finally:
        progress.end()
    if ended is None:
        raise fmt.FormatError(
            f"the file ends at line {number} without its end line: it is truncated. Everything "
            "in it was imported; import the complete file to get the rest (nothing is written "
            "twice)"
        )
    read = (report.apps, report.users, report.sessions, report.events)
    declared = (ended.apps, ended.users, ended.sessions, ended.events)
    if read != declared:
        raise fmt.FormatError(
            f"the end line counts apps/users/sessions/events {declared} but the file holds {read}: "
            "lines were lost or added; everything present was imported"
        )
    return report


async def import_file(
    store: SessionStore,
    source: str | Path | TextIO,
    *,
    batch_events: int = DEFAULT_BATCH_EVENTS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Progress | None = None,
) -> ImportReport:
    """Import an export file (``.gz``: gzip-compressed) or a text stream into ``store``."""
    with _open_text(source, "r") as stream:
        return await import_lines(
            store, stream, batch_events=batch_events, batch_bytes=batch_bytes, progress=progress
        )


async def _aiter(lines: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    if isinstance(lines, AsyncIterable):
        async for line in lines:
            yield line
    else:
        for line in lines:
            yield line


def _open_text(target: str | Path | TextIO, mode: str) -> AbstractContextManager[TextIO]:
    """A text stream for a path (``.gz`` compressed) or the stream itself (left open)."""
    if not isinstance(target, (str, Path)):
        return nullcontext(target)
    path = Path(target)
    if path.suffix == ".gz":
        raw = cast(IO[bytes], gzip.open(path, mode + "b"))  # noqa: SIM115 (wrapped, returned)
        return cast(
            AbstractContextManager[TextIO],
            io.TextIOWrapper(raw, encoding="utf-8", newline="\n"),
        )
    return cast(AbstractContextManager[TextIO], open(path, mode, encoding="utf-8", newline="\n"))


# -- copy -------------------------------------------------------------------------------------


async def copy_store(
    source: SessionStore,
    target: SessionStore,
    *,
    apps: Sequence[str] | None = None,
    user: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    verify: bool = True,
    progress: Progress | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> CopyReport:
    """Copy every session, event and scope of ``source`` (or of ``apps`` / ``user``) to ``target``.

    Streamed (a page of sessions, and a page of events per session being
    copied, in memory at a time; ``concurrency`` sessions are copied at once)
    and resumable: a session the target already holds gets only the events
    newer than its newest, so a re-run after an interruption copies what is
    missing and a second run writes nothing. With ``verify`` (the default) the
    copy ends with a count check of sessions and events per app
    (:func:`verify_copy`) and raises :class:`CountMismatch` if they differ.
    """
    started = time.perf_counter()
    progress = Progress() if progress is None else progress
    report = CopyReport(apps=await resolve_apps(source, apps))
    _lifecycle(target, "receive a copy")
    seen = _SeenUsers()
    for app in report.apps:
        total = (
            await _count_sessions(source, app, user, page_size) if progress.wants_total else None
        )
        progress.begin(f"copy {app}", total)
        try:
            report.scopes_written += await _sync_scope(
                target, app, None, await source.get_app_state(app)
            )
            if user is not None and seen.first_time(app, user):
                report.users += 1
                report.scopes_written += await _sync_scope(
                    target, app, user, await source.get_user_state(app, user)
                )

            async def scoped_keys(app: str = app) -> AsyncIterator[SessionKey]:
                """The app's session keys, each user's scope written before their first."""
                async for key in iter_session_keys(source, app, user, page_size):
                    if seen.first_time(app, key.user_id):
                        report.users += 1
                        report.scopes_written += await _sync_scope(
                            target, app, key.user_id, await source.get_user_state(app, key.user_id)
                        )
                    report.sessions += 1
                    yield key

            async def copy_one(key: SessionKey) -> None:
                written = await _copy_session(source, target, key, page_size, progress)
                if written is not None:
                    report.sessions_written += 1
                    report.events_written += written
                progress.update(sessions=1)

            await _each(scoped_keys(), copy_one, concurrency)
        finally:
            progress.end()
    report.seconds = time.perf_counter() - started
    if verify:
        report.verification = await verify_copy(
            source,
            target,
            apps=report.apps,
            user=user,
            progress=progress,
            concurrency=concurrency,
        )
        if not report.verification.ok:
            raise CountMismatch(report.verification)
    return report


async def _copy_session(
    source: SessionStore,
    target: SessionStore,
    key: SessionKey,
    page_size: int,
    progress: Progress,
) -> int | None:
    """Copy what ``target`` lacks of one session; events written, ``None`` if nothing."""
    head = await source.get_session(key, last=1)
    if head is None:  # deleted since it was listed
        return None
    there = await target.get_session(key, last=1)
    newest = _newest_seq(there)
    if there is not None and newest >= _newest_seq(head):
        return None
    importer = _lifecycle(target, "import sessions")
    state = _session_scope(head)

    async def write(events: Sequence[Event]) -> int:
        written: int = await importer.import_session(
            key,
            events,
            state=state,
            created_at=head.created_at,
            updated_at=head.updated_at,
            base_state=head.base_state,
        )
        return written

    written = 0
    created = there is not None
    async for events in iter_event_pages(source, key, newest, page_size):
        written += await write(events)
        created = True
        progress.update(events=len(events))
    if not created:  # a session without events
        written += await write(())
    return written


async def verify_copy(
    source: SessionStore,
    target: SessionStore,
    *,
    apps: Sequence[str],
    user: str | None = None,
    progress: Progress | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Verification:
    """Count, per app, the source's sessions and events and the target's under the same keys.

    Every event is paged through on both sides (there is no count operation
    in the contract), a page at a time. Sessions that differ are named (up to 10).
    """
    progress = Progress() if progress is None else progress
    result = Verification()
    for app in apps:
        progress.begin(f"verify {app}", None)
        counts = [0, 0, 0, 0]

        async def count_one(key: SessionKey, counts: list[int] = counts) -> None:
            mine = await count_events(source, key)
            theirs = None
            if await target.get_session(key, last=0) is not None:
                theirs = await count_events(target, key)
                counts[2] += 1
                counts[3] += theirs
            counts[0] += 1
            counts[1] += mine
            if theirs != mine and len(result.differing) < 10:
                held = "missing" if theirs is None else f"{theirs} events"
                result.differing.append(f"{key}: source {mine} events, target {held}")
            progress.update(sessions=1, events=mine)

        try:
            await _each(iter_session_keys(source, app, user, page_size), count_one, concurrency)
        finally:
            progress.end()
        result.apps.append(AppCount(app, *counts))
    return result


async def _each(
    keys: AsyncIterator[SessionKey],
    work: Callable[[SessionKey], Awaitable[None]],
    concurrency: int,
) -> None:
    """``work(key)`` for every key, at most ``concurrency`` at once, started in order.

    The first failure cancels the work in flight and is raised as itself (not
    wrapped in an ``ExceptionGroup``), after the others have stopped.
    """
    if concurrency <= 1:
        async for key in keys:
            await work(key)
        return
    pending: set[asyncio.Future[None]] = set()

    async def settle(when: str) -> None:
        nonlocal pending
        done, pending = await asyncio.wait(pending, return_when=when)
        # Retrieve every failure (several tasks can fail in one wake-up, and asyncio
        # logs each one never retrieved), then raise the first.
        failures = [
            asyncio.CancelledError() if task.cancelled() else task.exception() for task in done
        ]
        first = next((failure for failure in failures if failure is not None), None)
        if first is not None:
            raise first

    try:
        async for key in keys:
            if len(pending) >= concurrency:
                await settle(asyncio.FIRST_COMPLETED)
            pending.add(asyncio.ensure_future(work(key)))
        while pending:
            await settle(asyncio.FIRST_EXCEPTION)
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
