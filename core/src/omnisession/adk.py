"""Google ADK bridge: :class:`OmniSessionService`, a ``BaseSessionService`` over any store.

``google.adk.runners.Runner`` (and ``adk web`` / ``adk api_server``) keeps its
conversations in a session service. :class:`OmniSessionService` is one over
any omnisession store, so every backend (``sqlite://``, ``postgresql://``,
``redis://``, ``dynamodb://``, ...) serves ADK with the same semantics::

    from google.adk.runners import Runner
    from omnisession.adk import OmniSessionService

    service = OmniSessionService("sqlite:///sessions.db")   # or a store object
    runner = Runner(agent=agent, app_name="my-app", session_service=service)

What the service guarantees (ADK 2.x semantics, checked by
``omnisession_conformance.adk.ADKServiceConformance``):

- ``append_event`` writes the event and every scope of its state delta
  (``app:``, ``user:``, session) in ONE atomic store write; partial events are
  not stored; ``temp:`` keys are applied to the caller's session object but
  never stored; re-appending an event the session already holds (a retry)
  neither duplicates it nor applies its delta twice.
- ``last_update_time`` is the newest event's timestamp after an append (as in
  ADK's own services), so ``await service.get_session(...) == session`` right
  after an append, and ``list_sessions`` is ordered by it.
- Stale writers are detected: every session object carries the store revision
  it was read at (ADK's ``Session._storage_update_marker``), each append is
  conditional on it, and a writer holding an outdated object gets ADK's
  ``StaleSessionError`` instead of interleaving its turn into someone else's.
- A state value with no JSON form (a client object, a dataframe put in state
  by a tool) is stored as its text form with a warning naming the key, as
  ADK's ``DatabaseSessionService`` and ``SqliteSessionService`` store it, so
  the run finishes; ``strict_state=True`` refuses it with ``InvalidEntry``
  before anything is written.
- ``get_session`` reads only the events asked for (``GetSessionConfig``) and
  decodes them fast; events round-trip exactly (every ``Event`` field).
  :meth:`OmniSessionService.list_events` pages through a long history and
  ``list_sessions(page_size=...)`` through a large app.
- ADK's own errors: ``AlreadyExistsError``, ``SessionNotFoundError``,
  ``StaleSessionError``.

To let ``adk web --session_service_uri=redis://...`` use omnisession stores,
put one line in the agents directory's ``services.py`` (ADK imports it)::

    from omnisession.adk import register_with_adk; register_with_adk()
"""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, unquote, urlsplit

from ._extras import require_extra

require_extra("google.adk", needed_by="omnisession.adk", extra="adk", what="Google ADK")

from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event as AdkEvent
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session
from google.adk.sessions.state import State
from pydantic import BaseModel, Field

from ._adk_events import (
    UPSTREAM,
    decode_event,
    decode_events,
    encode_event,
    json_state,
    stored_state_delta,
)
from .errors import AlreadyExists, OmnisessionError, SessionNotFound, StaleSession
from .model import TEMP_PREFIX, JSONObject, SessionKey, SessionRecord
from .plugins import open_store, registry
from .store import SessionStore

__all__ = [
    "ExistingADKSessions",
    "ListEventsResponse",
    "ListSessionsPage",
    "OmniSessionService",
    "StaleSessionError",
    "decode_event",
    "encode_event",
    "register_with_adk",
]

_STALE_MESSAGE = (
    "session {key} was modified in storage since this session object was loaded "
    "(another writer appended to it): reload it with get_session() and retry"
)

#: Options ADK's CLI passes to every session factory that are not store options.
_ADK_CLI_OPTIONS = ("agents_dir",)
_LIST_PAGE_SIZE = 1000


class ExistingADKSessions(OmnisessionError, RuntimeError):
    """The database holds sessions written by ADK's own session service.

    Raised instead of opening an omnisession store beside them, where they
    would silently disappear from view. The message says how to copy them
    over, or how to open the database anyway.
    """


class ListSessionsPage(ListSessionsResponse):
    """One page of :meth:`OmniSessionService.list_sessions`: sessions and the next page's token.

    A ``ListSessionsResponse``, so it goes wherever ADK expects one.
    ``next_page_token`` is ``None`` on the last page.
    """

    next_page_token: str | None = None


class ListEventsResponse(BaseModel):
    """One page of :meth:`OmniSessionService.list_events` (the shape ADK's original API had).

    ``events`` are oldest first within the page; pass ``next_page_token`` back
    for the next page (``None`` when there is none).
    """

    events: list[AdkEvent] = Field(default_factory=list)
    next_page_token: str | None = None


# -- the service ---------------------------------------------------------------


def _key(app_name: str, user_id: str, session_id: str) -> SessionKey:
    return SessionKey(app_name, user_id, session_id)


def _marker(revision: int) -> str:
    return str(revision)


def _revision_of(session: Session) -> int | None:
    marker = UPSTREAM.marker(session)
    if marker is None:
        return None
    try:
        return int(marker)
    except ValueError:
        # A marker written by another ADK service (e.g. a timestamp): treat the
        # session like a hand-built one and check it against storage instead.
        return None


def _to_session(record: SessionRecord, events: list[AdkEvent] | None = None) -> Session:
    session = Session(
        id=record.key.session_id,
        app_name=record.key.app_name,
        user_id=record.key.user_id,
        state=record.state,
        events=events if events is not None else [],
        last_update_time=record.updated_at,
    )
    UPSTREAM.set_marker(session, _marker(record.revision))
    return session


class OmniSessionService(BaseSessionService):
    """An ADK ``BaseSessionService`` over any omnisession store.

    ``OmniSessionService(store)`` uses a store you opened (you close it);
    ``OmniSessionService("redis://localhost:6379/0")`` opens the URL's store
    (connecting lazily) and closes it in :meth:`close` / ``async with``.
    ``uri=`` is the same as the positional URL, so the class can also be named
    in ADK's ``services.yaml``; remaining keyword options go to the store's
    factory.

    ``strict_state``: by default a state value with no JSON form (a client
    object, a dataframe) is stored as its text form with a logged warning
    naming the key, as ADK's ``DatabaseSessionService`` does, and the run
    goes on; with ``strict_state=True`` it raises ``InvalidEntry`` before
    anything is written.

    ``check_adk_tables``: when the service opens a URL itself, it first looks
    for sessions that ADK's own ``SqliteSessionService`` or
    ``DatabaseSessionService`` wrote there (a SQLite file is checked right
    away; a store offering ``count_adk_sessions()``, as the SQL plugin's
    PostgreSQL and MySQL stores do, on its first use) and
    raises :class:`ExistingADKSessions`, saying how to copy them, rather than
    opening an empty omnisession store beside them. ``False`` skips the check.
    """

    def __init__(
        self,
        store: SessionStore | str | None = None,
        /,
        *,
        uri: str | None = None,
        strict_state: bool = False,
        check_adk_tables: bool = True,
        **options: Any,
    ) -> None:
        if store is not None and uri is not None:
            raise TypeError("pass either a store (or URL) or uri=, not both")
        target = store if store is not None else uri
        if target is None:
            raise TypeError(
                "OmniSessionService needs a store or a store URL, e.g. "
                "OmniSessionService('sqlite:///sessions.db')"
            )
        self.strict_state = bool(strict_state)
        # Unused locks vanish with their last user (weak values).
        self._locks: weakref.WeakValueDictionary[tuple[int, SessionKey], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._locks_guard = threading.Lock()
        self._adk_check: Callable[[], Awaitable[Any]] | None = None
        for name in _ADK_CLI_OPTIONS:
            options.pop(name, None)
        if isinstance(target, str):
            if check_adk_tables:
                _refuse_adk_sqlite_file(target)
            self.store: SessionStore = open_store(target, **options)
            self._owns_store = True
            probe = getattr(self.store, "count_adk_sessions", None)
            if check_adk_tables and callable(probe):
                self._adk_check = probe
        else:
            if options:
                raise TypeError(
                    f"options {sorted(options)} apply only when opening a URL, not to a store"
                )
            self.store = target
            self._owns_store = False

    async def _ready(self) -> None:
        """Before the first operation: the store's check for ADK's own tables, if any."""
        probe = self._adk_check
        if probe is None:
            return
        found = await probe()
        if found:
            raise ExistingADKSessions(_existing_message(repr(self.store), int(found), None, None))
        self._adk_check = None

    # -- lifecycle -------------------------------------------------------------

    async def close(self) -> None:
        """Close the store if this service opened it (from a URL)."""
        if self._owns_store:
            await self.store.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def flush(self) -> None:
        """Nothing to flush: every append is committed before it returns."""

    # -- sessions ----------------------------------------------------------------

    async def _resolve(self, app_name: str, user_id: str, session_id: str) -> str | None:
        """The stored id a caller's ``session_id`` names; ``None`` for a blank one.

        Whitespace around an id is trimmed (as ADK's in-memory and SQLite
        services do), unless a session is stored under the padded id itself
        (written by another tool, e.g. copied from ADK's
        ``DatabaseSessionService``, which keeps ids verbatim): then that one.
        Only a padded id costs the extra lookup.
        """
        trimmed = session_id.strip()
        if trimmed == session_id:
            return session_id or None
        if not trimmed:
            return None
        padded = await self.store.get_session(_key(app_name, user_id, session_id), last=0)
        return session_id if padded is not None else trimmed

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        """Create a session; ``app:`` / ``user:`` keys of ``state`` go to their scopes.

        ``temp:`` keys are not stored. ``AlreadyExistsError`` if ``session_id``
        is taken; without one (or with a blank one) a fresh uuid is used.
        Whitespace around ``session_id`` is trimmed (see :meth:`get_session`).
        """
        await self._ready()
        stored_id = await self._resolve(app_name, user_id, session_id) if session_id else None
        key = _key(app_name, user_id, stored_id or uuid.uuid4().hex)
        try:
            record = await self.store.create_session(key, self._json_state(state))
        except AlreadyExists as exc:
            raise AlreadyExistsError(f"Session with id {key.session_id} already exists.") from exc
        return _to_session(record)

    def _json_state(self, state: Mapping[str, Any] | None) -> JSONObject | None:
        """``state`` without ``temp:`` keys, rich values made JSON as ADK makes them."""
        if not state:
            return None
        kept = {key: value for key, value in state.items() if not str(key).startswith(TEMP_PREFIX)}
        return json_state(kept, strict=self.strict_state, what="session state key", check=True)

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        """The session with merged state, or ``None``.

        ``config.num_recent_events``: the newest N events (0: none; negative:
        ``ValueError``); ``config.after_timestamp``: events at or after it.
        Only those events are read from the store. Events come in the order
        they were appended, whatever their timestamps. ``session_id`` with
        whitespace around it names the trimmed id, unless a session is stored
        under the padded id itself.
        """
        last = since = None
        if config is not None:
            last = config.num_recent_events
            if last is not None and last < 0:
                raise ValueError(f"num_recent_events must be >= 0, got {last}")
            since = config.after_timestamp
        await self._ready()
        stored_id = await self._resolve(app_name, user_id, session_id)
        if stored_id is None:
            return None
        record = await self.store.get_session(
            _key(app_name, user_id, stored_id), last=last, since=since
        )
        if record is None:
            return None
        return _to_session(record, decode_events(record.events))

    async def list_sessions(
        self,
        *,
        app_name: str,
        user_id: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> ListSessionsPage:
        """Sessions of the app (or of one user), least recently updated first, without events.

        Without ``page_size`` / ``page_token`` (ADK's call) every session is
        returned, read from the store a thousand at a time. With them, one
        page of at most ``page_size`` sessions (default 100, at most 10,000)
        and its ``next_page_token`` (``None`` on the last page): pass it back
        as ``page_token`` for the next page. Each page costs one store query
        whatever the size of the app. A forged token raises ``ValueError``.
        """
        await self._ready()
        if page_size is None and page_token is None:
            sessions: list[Session] = []
            cursor: str | None = None
            while True:
                page = await self.store.list_sessions(
                    app_name, user_id, page_size=_LIST_PAGE_SIZE, cursor=cursor
                )
                sessions.extend(_to_session(record) for record in page.sessions)
                cursor = page.next_cursor
                if cursor is None:
                    return ListSessionsPage(sessions=sessions)
        page = await self.store.list_sessions(
            app_name, user_id, page_size=page_size, cursor=page_token
        )
        return ListSessionsPage(
            sessions=[_to_session(record) for record in page.sessions],
            next_page_token=page.next_cursor,
        )

    async def list_events(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        page_size: int | None = None,
        page_token: str | None = None,
        oldest_first: bool = False,
    ) -> ListEventsResponse:
        """One page of a session's history (the name ADK's original session API gave it).

        By default the first page holds the newest ``page_size`` events
        (default 100, at most 10,000), oldest first within the page, and its
        ``next_page_token`` fetches the ones before them; ``oldest_first=True``
        walks from the first event forwards instead. Each page reads only its
        own events from the store, so its cost does not depend on the length
        of the history. A missing session gives an empty page. A forged
        token, or one from the other direction, raises ``ValueError``.
        """
        await self._ready()
        stored_id = await self._resolve(app_name, user_id, session_id)
        if stored_id is None:
            return ListEventsResponse()
        page = await self.store.get_events(
            _key(app_name, user_id, stored_id),
            cursor=page_token,
            page_size=page_size,
            oldest_first=oldest_first,
        )
        return ListEventsResponse(
            events=decode_events(page.events), next_page_token=page.next_cursor
        )

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Delete the session and its events (idempotent); app and user state stay."""
        await self._ready()
        stored_id = await self._resolve(app_name, user_id, session_id)
        if stored_id is not None:
            await self.store.delete_session(_key(app_name, user_id, stored_id))

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user scope, without the ``user:`` prefix; ``{}`` if none."""
        await self._ready()
        return await self.store.get_user_state(app_name, user_id)

    # -- events ------------------------------------------------------------------

    async def append_event(self, session: Session, event: AdkEvent) -> AdkEvent:
        """Store ``event`` and its state delta in one write, then add it to ``session``.

        Partial events are returned untouched. An event ``session`` already
        holds (same id, same content) is not stored again. ``temp:`` keys are
        applied to ``session.state`` but not stored. A state value with no
        JSON form is stored as text with a warning (``InvalidEntry`` with
        ``strict_state``). ``StaleSessionError`` if the session was changed in
        storage since ``session`` was read, ``SessionNotFoundError`` if it was
        deleted. Afterwards ``session.last_update_time`` is the event's
        timestamp, as storage has it.
        """
        if event.partial:
            return event
        await self._ready()
        key = _key(session.app_name, session.user_id, session.id)
        # Appends to one session from this service are serialised (per event
        # loop), so two branches sharing a session object never race each
        # other into a StaleSessionError; other writers still get one.
        async with self._lock_for(key):
            return await self._append_locked(key, session, event)

    def _lock_for(self, key: SessionKey) -> asyncio.Lock:
        loop_key = (id(asyncio.get_running_loop()), key)
        with self._locks_guard:
            lock = self._locks.get(loop_key)
            if lock is None:
                lock = self._locks[loop_key] = asyncio.Lock()
            return lock

    async def _append_locked(self, key: SessionKey, session: Session, event: AdkEvent) -> AdkEvent:
        if _holds(session, event):
            return event
        # ADK's order: temp: state reaches the caller's session, then leaves the event.
        UPSTREAM.apply_temp_state(self, session, event)
        event = UPSTREAM.trim_temp_state(self, event)
        data = encode_event(event, strict=self.strict_state)
        delta = stored_state_delta(event, data)
        expected = _revision_of(session)
        if expected is None:
            expected = await self._revision_for_unmarked(key, session, event)
            if expected is None:  # the event is already stored: a retried append
                return self._commit(session, event, None)
        try:
            appended = await self.store.append_event(
                key,
                data,
                state_delta=delta,
                timestamp=event.timestamp,
                expected_revision=expected,
            )
        except SessionNotFound as exc:
            raise SessionNotFoundError(f"Session {session.id} not found.") from exc
        except StaleSession as exc:
            revision = await self._stored_as_newest(key, event, exc.actual, expected)
            if revision is None:
                raise StaleSessionError(_STALE_MESSAGE.format(key=key)) from exc
            return self._commit(session, event, revision)
        return self._commit(session, event, appended.revision)

    def _commit(self, session: Session, event: AdkEvent, revision: int | None) -> AdkEvent:
        if revision is not None:
            UPSTREAM.set_marker(session, _marker(revision))
        session.last_update_time = event.timestamp
        return UPSTREAM.commit_to_session(self, session, event)

    async def _stored_as_newest(
        self, key: SessionKey, event: AdkEvent, actual: int, expected: int
    ) -> int | None:
        """After a stale write: was it *this* event that moved the revision on?

        That happens when an earlier append of the same event committed but
        its caller never learned it (a lost connection, a cancelled task) and
        now retries. Then the append is idempotent: returns the revision to
        carry on from. Anything else is a real conflict: ``None``.
        """
        if actual != expected + 1:
            return None
        record = await self.store.get_session(key, last=1)
        if record is None or record.revision != actual or not record.events:
            return None
        return actual if _same_event(record.events[-1].data, event) else None

    async def _revision_for_unmarked(
        self, key: SessionKey, session: Session, event: AdkEvent
    ) -> int | None:
        """The revision to write at for a session object this service did not load.

        Mirrors ADK's ``DatabaseSessionService``: such an object (built by
        hand, or from another service) is current unless storage was written
        after its ``last_update_time`` and its newest event is not the stored
        newest one. Storage's ``updated_at`` is, like ADK's ``update_time``,
        the timestamp of the newest appended event, so the two compare the
        same way they do in ADK. Returns ``None`` when ``event`` itself is the
        stored newest (a retry).
        """
        record = await self.store.get_session(key, last=1)
        if record is None:
            raise SessionNotFoundError(f"Session {session.id} not found.")
        newest = record.events[-1].data if record.events else None
        if newest is not None and _same_event(newest, event):
            UPSTREAM.set_marker(session, _marker(record.revision))
            return None
        if record.updated_at > session.last_update_time:
            newest_id = newest.get("id") if newest is not None else None
            held_id = session.events[-1].id if session.events else None
            if newest_id != held_id:
                raise StaleSessionError(_STALE_MESSAGE.format(key=key))
        return record.revision


class _HeldIds:
    """The ids of the events each recently used ``session.events`` list holds.

    Idempotent appends (ADK's rule: an equal event re-delivered is not stored
    twice) need to know whether a session already holds an event's id. A
    scan of the list on every append makes a long run quadratic (2.4 ms per
    append at 10,000 events); this index grows with the list instead, so an
    append costs the same at any length. A list that shrank (``rewind``) is
    indexed afresh. Only an event put into the *middle* of a list by hand,
    with the id of one appended later, could be missed.
    """

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        # id(list) -> (the list, how many of its events are indexed, their ids)
        self._by_list: dict[int, tuple[list[AdkEvent], int, set[str]]] = {}

    def may_hold(self, events: list[AdkEvent], event_id: str) -> bool:
        with self._lock:
            entry = self._by_list.pop(id(events), None)
            ids: set[str]
            if entry is None or entry[0] is not events or entry[1] > len(events):
                indexed, ids = 0, set()
            else:
                _, indexed, ids = entry
            ids.update(held.id for held in events[indexed:])
            self._by_list[id(events)] = (events, len(events), ids)  # now the newest entry
            if len(self._by_list) > self._capacity:
                del self._by_list[next(iter(self._by_list))]  # the least recently used
            return event_id in ids


_held_ids = _HeldIds()


def _holds(session: Session, event: AdkEvent) -> bool:
    """Whether ``session`` already holds ``event`` (an equal event with its id)."""
    if not _held_ids.may_hold(session.events, event.id):
        return False
    for held in reversed(session.events):
        if held.id == event.id and (held is event or held == _trimmed_copy(event)):
            return True
    return False


def _trimmed_copy(event: AdkEvent) -> AdkEvent:
    delta = event.actions.state_delta if event.actions else None
    if not delta or not any(key.startswith(State.TEMP_PREFIX) for key in delta):
        return event
    copy = event.model_copy(deep=True)
    copy.actions.state_delta = {
        key: value for key, value in delta.items() if not key.startswith(State.TEMP_PREFIX)
    }
    return copy


def _same_event(stored: JSONObject, event: AdkEvent) -> bool:
    return stored.get("id") == event.id and decode_event(stored) == event


# -- ADK's own data under a taken-over URL ------------------------------------------

_SQLITE_SCHEMES = ("sqlite", "sqlite+aiosqlite")


def _sqlite_file(url: str) -> str | None:
    """The file a ``sqlite://`` URL names (SQLAlchemy's convention), ``None`` for memory."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in _SQLITE_SCHEMES:
        return None
    path = unquote(urlsplit(url).path)
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


class _FoundADKData:
    """What ADK's own tables in a SQLite file hold: how many sessions, of which apps, by whom."""

    def __init__(self, count: int, apps: list[str], writer: str) -> None:
        self.count, self.apps, self.writer = count, apps, writer


def _adk_sessions_in_sqlite(path: str) -> _FoundADKData | None:
    """What ADK's own session tables in the SQLite file hold; ``None`` if it has none."""
    if not os.path.isfile(path):
        return None
    try:
        connection = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not {"sessions", "events"} <= tables:
            return None
        columns = {row[1] for row in connection.execute("PRAGMA table_info(sessions)")}
        if not {"app_name", "user_id", "id", "state", "update_time"} <= columns:
            return None
        event_columns = {row[1] for row in connection.execute("PRAGMA table_info(events)")}
        count = int(connection.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
        apps = [
            str(row[0])
            for row in connection.execute(
                "SELECT DISTINCT app_name FROM sessions ORDER BY app_name LIMIT ?",
                (_APPS_NAMED + 1,),
            )
        ]
    except sqlite3.Error:  # not a database, locked, ...: the store will say
        return None
    finally:
        connection.close()
    if "adk_internal_metadata" in tables or "event_data" not in event_columns:
        return _FoundADKData(count, apps, "DatabaseSessionService")
    return _FoundADKData(count, apps, "SqliteSessionService")


#: At most this many app names go into the copy command of the message.
_APPS_NAMED = 10


def _refuse_adk_sqlite_file(url: str) -> None:
    path = _sqlite_file(url)
    if path is None:
        return
    found = _adk_sessions_in_sqlite(path)
    if found is None or found.count == 0:
        return
    raise ExistingADKSessions(_existing_message(url, found.count, found, os.path.abspath(path)))


def _existing_message(where: str, count: int, found: _FoundADKData | None, path: str | None) -> str:
    plural = "session" if count == 1 else "sessions"
    if found is not None and path is not None:
        who = f"Google ADK's own {found.writer}"
        source = shlex.quote(
            f"adk+sqlite:///{path}"
            if found.writer == "SqliteSessionService"
            else f"adk+db://sqlite+aiosqlite:///{path}"
        )
        target = shlex.quote(f"sqlite:///{os.path.splitext(path)[0]}-omnisession.db")
        apps = found.apps[:_APPS_NAMED]
        named = "".join(f" --app {shlex.quote(app)}" for app in apps)
        if len(found.apps) > _APPS_NAMED:
            named += " --app ... (one --app per app)"
    else:
        who = "Google ADK's own session service"
        source = "adk+db://<the URL you gave DatabaseSessionService>"
        target = "<a new omnisession URL>"
        named = " --app <each app>"
    command = f"omnisession copy {source} {target}{named}"
    return (
        f"{where} holds {count} {plural} written by {who}, which OmniSessionService does not "
        "read: it would start an empty omnisession store beside them and they would disappear "
        f"from view. Copy them into a new database first, `{command}`, and point the service "
        "(or --session_service_uri) at that; or use another database. To open this one anyway, "
        "pass check_adk_tables=False (for adk web: register_with_adk(check_adk_tables=False) in "
        "services.py)."
    )


# -- ADK CLI service registry ---------------------------------------------------


def register_with_adk(
    service_registry: Any | None = None,
    *,
    schemes: Sequence[str] | None = None,
    strict_state: bool = False,
    check_adk_tables: bool = True,
) -> list[str]:
    """Make every installed backend's URL scheme a session service URI for ADK's CLI.

    After this, ``adk web --session_service_uri=<url>`` and ``adk
    api_server`` build an :class:`OmniSessionService` for any URL an
    installed omnisession plugin handles (``memory``, ``sqlite``,
    ``postgresql``, ``redis``, ``dynamodb``, ...), replacing ADK's built-in
    services for the schemes both know. ``schemes`` limits it to those
    schemes. ``strict_state`` and ``check_adk_tables`` go to every service
    built (see :class:`OmniSessionService`): a database that ADK's own
    service already wrote sessions to is refused with a message saying how to
    copy them, never silently hidden. Returns the schemes registered. ADK
    calls it for you when the agents directory has a ``services.py``
    containing::

        from omnisession.adk import register_with_adk; register_with_adk()
    """
    if service_registry is None:
        from google.adk.cli.service_registry import get_service_registry

        service_registry = get_service_registry()
    installed = registry().by_scheme
    wanted = list(installed) if schemes is None else [s.lower() for s in schemes]
    unknown = [scheme for scheme in wanted if scheme not in installed]
    if unknown:
        raise ValueError(
            f"no installed omnisession backend handles {unknown} "
            f"(installed: {sorted(installed)}); install its plugin first"
        )
    factory = functools.partial(
        _adk_factory, strict_state=strict_state, check_adk_tables=check_adk_tables
    )
    for scheme in wanted:
        service_registry.register_session_service(scheme, factory)
    return sorted(wanted)


def _adk_factory(
    uri: str, *, strict_state: bool = False, check_adk_tables: bool = True, **options: Any
) -> OmniSessionService:
    """The factory ADK's registry calls with ``(uri, agents_dir=..., **session_db_kwargs)``."""
    return OmniSessionService(
        uri, strict_state=strict_state, check_adk_tables=check_adk_tables, **options
    )
