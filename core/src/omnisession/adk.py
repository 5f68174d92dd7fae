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
- Stale writers are detected: every session object carries the store revision
  it was read at (ADK's ``Session._storage_update_marker``), each append is
  conditional on it, and a writer holding an outdated object gets ADK's
  ``StaleSessionError`` instead of interleaving its turn into someone else's.
- ``get_session`` reads only the events asked for (``GetSessionConfig``) and
  decodes them fast; events round-trip exactly (every ``Event`` field).
- ADK's own errors: ``AlreadyExistsError``, ``SessionNotFoundError``,
  ``StaleSessionError``.

To let ``adk web --session_service_uri=redis://...`` use omnisession stores,
put one line in the agents directory's ``services.py`` (ADK imports it)::

    from omnisession.adk import register_with_adk; register_with_adk()
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self, cast

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
from pydantic_core import PydanticSerializationError, to_jsonable_python

from ._adk_events import decode_event, decode_events, encode_event
from .errors import AlreadyExists, InvalidEntry, SessionNotFound, StaleSession
from .model import TEMP_PREFIX, JSONObject, SessionKey, SessionRecord
from .plugins import open_store, registry
from .store import SessionStore

__all__ = [
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


# -- the service ---------------------------------------------------------------


def _key(app_name: str, user_id: str, session_id: str) -> SessionKey:
    return SessionKey(app_name, user_id, session_id)


def _marker(revision: int) -> str:
    return str(revision)


def _revision_of(session: Session) -> int | None:
    marker = session._storage_update_marker
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
    session._storage_update_marker = _marker(record.revision)
    return session


class OmniSessionService(BaseSessionService):
    """An ADK ``BaseSessionService`` over any omnisession store.

    ``OmniSessionService(store)`` uses a store you opened (you close it);
    ``OmniSessionService("redis://localhost:6379/0")`` opens the URL's store
    (connecting lazily) and closes it in :meth:`close` / ``async with``.
    ``uri=`` is the same as the positional URL, so the class can also be named
    in ADK's ``services.yaml``; remaining keyword options go to the store's
    factory.
    """

    def __init__(
        self,
        store: SessionStore | str | None = None,
        /,
        *,
        uri: str | None = None,
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
        # Unused locks vanish with their last user (weak values).
        self._locks: weakref.WeakValueDictionary[tuple[int, SessionKey], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._locks_guard = threading.Lock()
        for name in _ADK_CLI_OPTIONS:
            options.pop(name, None)
        if isinstance(target, str):
            self.store: SessionStore = open_store(target, **options)
            self._owns_store = True
        else:
            if options:
                raise TypeError(
                    f"options {sorted(options)} apply only when opening a URL, not to a store"
                )
            self.store = target
            self._owns_store = False

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
        is taken; without one, a fresh uuid is used.
        """
        key = _key(app_name, user_id, session_id or uuid.uuid4().hex)
        try:
            record = await self.store.create_session(key, _json_state(state))
        except AlreadyExists as exc:
            raise AlreadyExistsError(f"Session with id {key.session_id} already exists.") from exc
        return _to_session(record)

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
        Only those events are read from the store.
        """
        last = since = None
        if config is not None:
            last = config.num_recent_events
            if last is not None and last < 0:
                raise ValueError(f"num_recent_events must be >= 0, got {last}")
            since = config.after_timestamp
        record = await self.store.get_session(
            _key(app_name, user_id, session_id), last=last, since=since
        )
        if record is None:
            return None
        return _to_session(record, decode_events(record.events))

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        """Every session of the app (or of one user), oldest update first, without events.

        ADK's contract returns every session at once, so pages are large: one
        query per thousand sessions rather than the store's default page.
        """
        sessions: list[Session] = []
        cursor: str | None = None
        while True:
            page = await self.store.list_sessions(
                app_name, user_id, page_size=_LIST_PAGE_SIZE, cursor=cursor
            )
            sessions.extend(_to_session(record) for record in page.sessions)
            cursor = page.next_cursor
            if cursor is None:
                return ListSessionsResponse(sessions=sessions)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Delete the session and its events (idempotent); app and user state stay."""
        await self.store.delete_session(_key(app_name, user_id, session_id))

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user scope, without the ``user:`` prefix; ``{}`` if none."""
        return await self.store.get_user_state(app_name, user_id)

    # -- events ------------------------------------------------------------------

    async def append_event(self, session: Session, event: AdkEvent) -> AdkEvent:
        """Store ``event`` and its state delta in one write, then add it to ``session``.

        Partial events are returned untouched. An event ``session`` already
        holds (same id, same content) is not stored again. ``temp:`` keys are
        applied to ``session.state`` but not stored. ``StaleSessionError`` if
        the session was changed in storage since ``session`` was read,
        ``SessionNotFoundError`` if it was deleted.
        """
        if event.partial:
            return event
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
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        data = encode_event(event)
        delta: Mapping[str, Any] | None = data.get("actions", {}).get("state_delta") or None
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
            session._storage_update_marker = _marker(revision)
        session.last_update_time = event.timestamp
        return self._commit_event_to_session(session, event)

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
        hand, or from another service) is current unless storage changed
        after its ``last_update_time`` and its newest event is not the stored
        newest one. Returns ``None`` when ``event`` itself is the stored
        newest (a retry).
        """
        record = await self.store.get_session(key, last=1)
        if record is None:
            raise SessionNotFoundError(f"Session {session.id} not found.")
        newest = record.events[-1].data if record.events else None
        if newest is not None and _same_event(newest, event):
            session._storage_update_marker = _marker(record.revision)
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


def _json_state(state: Mapping[str, Any] | None) -> JSONObject | None:
    """``state`` without ``temp:`` keys, rich values (datetimes, models) made JSON as ADK does."""
    if not state:
        return None
    kept = {key: value for key, value in state.items() if not str(key).startswith(TEMP_PREFIX)}
    try:
        return cast(JSONObject, to_jsonable_python(kept))
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise InvalidEntry(
            f"session state cannot be stored as JSON ({exc}); nothing was created"
        ) from exc


def _same_event(stored: JSONObject, event: AdkEvent) -> bool:
    return stored.get("id") == event.id and decode_event(stored) == event


# -- ADK CLI service registry ---------------------------------------------------


def register_with_adk(
    service_registry: Any | None = None, *, schemes: Sequence[str] | None = None
) -> list[str]:
    """Make every installed backend's URL scheme a session service URI for ADK's CLI.

    After this, ``adk web --session_service_uri=<url>`` and ``adk
    api_server`` build an :class:`OmniSessionService` for any URL an
    installed omnisession plugin handles (``memory``, ``sqlite``,
    ``postgresql``, ``redis``, ``dynamodb``, ...), replacing ADK's built-in
    services for the schemes both know. ``schemes`` limits it to those
    schemes. Returns the schemes registered. ADK calls it for you when the
    agents directory has a ``services.py`` containing::

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
    for scheme in wanted:
        service_registry.register_session_service(scheme, _adk_factory)
    return sorted(wanted)


def _adk_factory(uri: str, **options: Any) -> OmniSessionService:
    """The factory ADK's registry calls with ``(uri, agents_dir=..., **session_db_kwargs)``."""
    return OmniSessionService(uri, **options)
