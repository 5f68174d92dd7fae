"""An omnisession store on top of any Google ADK ``BaseSessionService``.

This is the other direction of the ADK bridge: ``omnisession.adk`` lets ADK's
``Runner`` use any omnisession store, and :class:`ADKServiceStore` lets every
omnisession user (the OpenAI Agents bridge, the CLI, the conformance suite)
keep sessions in an existing ADK service -- ADK's own ``InMemorySessionService``,
``DatabaseSessionService``, ``SqliteSessionService``, ``VertexAiSessionService``
or a community one::

    store = ADKServiceStore(VertexAiSessionService(project, location, engine_id))
    store = omnisession.open_store("adk+vertexai://PROJECT/LOCATION/ENGINE_ID")
    store = omnisession.open_store("adk+db://postgresql+asyncpg://user@host/db")
    store = omnisession.open_store("adk+sqlite:///sessions.db")   # SqliteSessionService
    store = omnisession.open_store("adk+memory://")                # InMemorySessionService

How the contract is mapped onto ADK's API
-----------------------------------------
Every write is ONE ``service.append_event`` of one ADK ``Event`` (author
``omnisession``), so it is as atomic as the service's own append:

* the entries (one for ``append_event``, all of them for ``add_items``) travel
  as JSON text in ``event.custom_metadata["omnisession"]``, so payloads
  round-trip exactly whatever the service does to JSON (big ints, key order);
* ``state_delta`` travels in ``event.actions.state_delta``: ``app:`` / ``user:``
  keys go to the service's app and user scopes, ``temp:`` keys are dropped;
* the session's bookkeeping (``revision``, next ``seq``, ``created_at``) lives in
  the reserved session-state key ``__omnisession__``, written by the same delta,
  hidden from :attr:`SessionRecord.state` and refused in callers' state;
* ADK services have no way to delete an event, so ``pop_item`` appends a
  tombstone naming the popped ``seq`` and ``clear_session`` a marker hiding
  every older entry; reads skip both. ``update_state`` is an event without
  entries. Reads fetch the newest events and widen the window only while
  tombstones hide entries, so ``last=N`` costs what the service charges for
  ``num_recent_events`` (N plus hidden events), never the whole history.
* the ADK event's ``timestamp`` is the write's commit time, made strictly
  increasing per session (at least the previous update time plus 1 us, and
  never earlier than the caller's ``timestamp``). Services that order by
  timestamp (Database, Sqlite, Vertex AI) therefore keep append order, and
  stale-writer markers change on every write. ``append_event``'s
  ``timestamp`` (the time of the call when the caller gives none) is kept
  with the entry and is what :attr:`Event.timestamp` reports (``add_items``
  entries report the commit time); ``since`` uses the service's
  ``after_timestamp`` as a pre-filter and filters exactly.
  (An entry stamped in the future therefore moves the session's
  ``updated_at`` to that time.)

Concurrency: writes to one session are serialised per service object and event
loop by an asyncio lock (two stores wrapping the same service object share it),
then each write is a compare-and-set where the service offers one: the write
hands the service the session it just read, and a service that detects stale
writers (``DatabaseSessionService`` through its storage marker,
``SqliteSessionService`` through ``last_update_time``) raises
``StaleSessionError``, upon which the write is retried (or, with
``expected_revision``, reported as :class:`~omnisession.errors.StaleSession`).
``expected_revision`` is therefore exact within one process and only as good as
the service's stale-writer check across processes.

What each ADK service keeps -- the declared ``Capability`` set, and what the
conformance suites (store, ADK bridge, OpenAI bridge) measured through this
store in ``tests/adk_store``, where every failing case is an expected failure
carrying this reason:

``InMemorySessionService``
    base, large_entries. Passes every case, including the cross-instance ones
    for two stores on one service object (the service does no I/O, so each
    call is atomic within the event loop). Not persistent; not thread-safe
    (ADK's own limit).
``DatabaseSessionService`` (measured on SQLite + aiosqlite)
    base, large_entries, persistent (unless the URL is an in-memory SQLite).
    Fails two cross-instance cases: two services (engines) on one SQLite file
    both pass ADK's stale-marker check, because its read and its write are
    separate statements and SQLite takes no lock before the write, so racing
    writers through different services reuse one revision -- appends get
    duplicate ``seq`` (nothing lost or duplicated) and two pops return the same
    item. Within one service everything holds. Hence not cross_process. (On
    PostgreSQL/MySQL ADK reads the marker ``FOR UPDATE``; not measured here.)
    Two services creating the tables of a new database concurrently fail
    ("table ... already exists"): call ``prepare_tables()`` at start-up.
``SqliteSessionService``
    base, large_entries, persistent (file). The same two cross-instance
    failures, for the same reason (its ``last_update_time`` check).
``VertexAiSessionService`` (measured offline on a fake of the Agent Engine API)
    base, persistent. The API keeps state per session -- ``appendEvent`` merges
    ``stateDelta`` into that session's ``sessionState`` -- so ``app:`` /
    ``user:`` state is not shared between sessions (3 store cases, 5 ADK bridge
    cases); it has no conditional write and ADK no stale-writer check, so the
    two cross-instance cases fail as above. ``get_session`` lists the whole
    event history on every read (ADK applies ``num_recent_events`` client-side),
    so reads grow with history. Session ids must be short ``[A-Za-z0-9_-]``
    strings and the engine ignores ``app_name``: this store hashes the whole
    key into the id (:class:`HashedIds`). Large entries are not declared: the
    API's request size limit was not measured. The API stores state as a
    protobuf ``Struct``, whose numbers are doubles: integer state values past
    2**53 lose precision there (entries are unaffected: they travel as text).
any other service
    base only, until measured: bind ``StoreConformance`` to it and pass the
    measured ``capabilities``.

``get_app_state`` has no ADK counterpart. The store creates one bookkeeping
session per app, ``(app_name, "~", "~")`` (user and session ids starting with
``~`` are escaped, so no key maps there; ``list_sessions`` hides it), and reads
the app scope from its merged state, so app state stays readable after the
app's last session is deleted. Where there is no such session (an app whose
sessions were all created by something else) the app scope is read from the
app's most recently updated session. ``get_user_state`` uses the service's
``get_user_state`` and falls back the same way where the service raises
``NotImplementedError`` (Vertex AI, which has no shared scopes and so no
bookkeeping session). Sessions and events written to the service by anything
but this store (e.g. an ADK ``Runner`` using the service directly) are listed,
but their events are not entries and are skipped.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import math
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event as ADKEvent
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.sessions.session import Session as ADKSession

from . import _json
from .backend import ValidatingStore, decode_cursor, encode_cursor
from .errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidEntry,
    InvalidKey,
    OmnisessionError,
    SessionNotFound,
    StaleSession,
)
from .model import (
    APP_PREFIX,
    USER_PREFIX,
    Appended,
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    now,
)
from .store import Capability

__all__ = [
    "META_KEY",
    "ADKServiceStore",
    "HashedIds",
    "PlainIds",
    "ServiceIds",
    "capabilities_of",
    "open_adk_store",
]

META_KEY = "__omnisession__"
"""The reserved session-state key holding revision, next seq and creation time."""

_METADATA_KEY = "omnisession"
_AUTHOR = "omnisession"
_MAX_RETRIES = 64
_WINDOW_SLACK = 16
# ``since`` pre-filter slack: services round timestamps to microseconds.
_SINCE_SLACK = 1e-3


# -- ids ------------------------------------------------------------------


class ServiceIds(Protocol):
    """How a :class:`SessionKey` is spelled in a service, injectively.

    ``to_service`` gives the ``(app_name, user_id, session_id)`` passed to the
    service and ``user_to_service`` the user id alone (for user-state reads and
    listings); ``from_service`` maps a session the service listed for
    ``app_name`` back to its key, or ``None`` when it is not one of this
    store's sessions of that app. Every session this store creates carries its
    key in its bookkeeping state, which ``from_service`` may use.
    ``app_anchor`` names the bookkeeping session that keeps an app's state
    readable (see :class:`ADKServiceStore`), or ``None`` where the service
    has no shared app state to read.
    """

    def to_service(self, key: SessionKey) -> tuple[str, str, str]: ...

    def user_to_service(self, user_id: str) -> str: ...

    def from_service(self, app_name: str, session: ADKSession) -> SessionKey | None: ...

    def app_anchor(self, app_name: str) -> tuple[str, str, str] | None: ...


def _escape(ident: str, *, strip_safe: bool) -> str:
    if ident.startswith("~") or (strip_safe and ident != ident.strip()):
        return "~" + ident.encode("utf-8").hex()
    return ident


def _unescape(ident: str) -> str | None:
    if not ident.startswith("~"):
        return ident
    try:
        return bytes.fromhex(ident[1:]).decode("utf-8") or None
    except (ValueError, UnicodeDecodeError):
        return None


class PlainIds:
    """Ids passed through, except a few a service would alter or that are reserved.

    ADK's in-memory and SQLite services ``strip()`` session ids, so ``" a"`` and
    ``"a"`` would collide: such session ids are stored as ``~`` plus their
    UTF-8 hex. Ids starting with ``~`` (session or user) are stored the same
    way, which keeps the mapping injective and leaves the bare ``~`` free for
    the per-app bookkeeping session ``(app_name, "~", "~")``. Every other id is
    stored as itself, so ADK tools show the sessions under their own names.
    """

    def to_service(self, key: SessionKey) -> tuple[str, str, str]:
        return (
            key.app_name,
            self.user_to_service(key.user_id),
            _escape(key.session_id, strip_safe=True),
        )

    def user_to_service(self, user_id: str) -> str:
        return _escape(user_id, strip_safe=False)

    def from_service(self, app_name: str, session: ADKSession) -> SessionKey | None:
        user, sid = _unescape(session.user_id), _unescape(session.id)
        if user is None or sid is None:
            return None
        try:
            return SessionKey(app_name, user, sid)
        except InvalidKey:
            return None

    def app_anchor(self, app_name: str) -> tuple[str, str, str] | None:
        return app_name, "~", "~"


class HashedIds:
    """The whole key hashed into one short ``[a-z0-9]`` session id.

    For services whose ids are restricted and global: the Vertex AI Agent
    Engine keeps every app's and every user's sessions in one namespace,
    ignores ``app_name`` and accepts only short ``[A-Za-z0-9_-]`` ids. The id
    is ``os`` plus 40 hex digits of the SHA-256 of ``[app_name, user_id,
    session_id]`` (160 bits: distinct keys do not collide in practice); the key
    itself is read back from the session's bookkeeping state.
    """

    def to_service(self, key: SessionKey) -> tuple[str, str, str]:
        text = _json.dumps([key.app_name, key.user_id, key.session_id]).encode("utf-8")
        return key.app_name, key.user_id, "os" + hashlib.sha256(text).hexdigest()[:40]

    def user_to_service(self, user_id: str) -> str:
        return user_id

    def app_anchor(self, app_name: str) -> tuple[str, str, str] | None:
        # The Agent Engine has no app scope: an anchor would only see itself.
        return None

    def from_service(self, app_name: str, session: ADKSession) -> SessionKey | None:
        raw = session.state.get(META_KEY)
        stored = raw.get("key") if isinstance(raw, dict) else None
        if not (isinstance(stored, list) and len(stored) == 3 and stored[0] == app_name):
            return None
        try:
            key = SessionKey(*stored)
        except (InvalidKey, TypeError):
            return None
        if key.user_id != session.user_id or self.to_service(key)[2] != session.id:
            return None
        return key


# -- capabilities -----------------------------------------------------------


def capabilities_of(service: BaseSessionService) -> frozenset[Capability]:
    """What :class:`ADKServiceStore` can promise on ``service`` (see module doc)."""
    base = {Capability.BASE}
    if isinstance(service, InMemorySessionService):
        return frozenset(base | {Capability.LARGE_ENTRIES})
    kind = type(service).__mro__
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in kind}
    if "google.adk.sessions.database_session_service.DatabaseSessionService" in names:
        base.add(Capability.LARGE_ENTRIES)
        engine = getattr(service, "db_engine", None)
        database = getattr(getattr(engine, "url", None), "database", None)
        if database not in (None, "", ":memory:"):
            base.add(Capability.PERSISTENT)
    elif "google.adk.sessions.sqlite_session_service.SqliteSessionService" in names:
        base.add(Capability.LARGE_ENTRIES)
        if getattr(service, "_db_path", "") not in ("", ":memory:"):
            base.add(Capability.PERSISTENT)
    elif "google.adk.sessions.vertex_ai_session_service.VertexAiSessionService" in names:
        base.add(Capability.PERSISTENT)
    return frozenset(base)


def _is_vertex(service: BaseSessionService) -> bool:
    return any(
        cls.__qualname__ == "VertexAiSessionService"
        and cls.__module__ == "google.adk.sessions.vertex_ai_session_service"
        for cls in type(service).__mro__
    )


# -- error translation --------------------------------------------------------


def _unavailable_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError, OSError]
    try:
        from google.genai import errors as genai_errors

        found.append(genai_errors.APIError)
    except ImportError:  # pragma: no cover - google-genai ships with google-adk
        pass
    try:
        import sqlalchemy.exc

        found.append(sqlalchemy.exc.DBAPIError)
    except ImportError:
        pass
    try:
        import sqlite3

        found.append(sqlite3.Error)
    except ImportError:  # pragma: no cover
        pass
    return tuple(found)


_UNAVAILABLE = _unavailable_types()


def _status_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


@contextlib.contextmanager
def _translated(key: object, service: BaseSessionService) -> Iterator[None]:
    """Map the service's exceptions onto omnisession's, chaining the original."""
    try:
        yield
    except OmnisessionError:
        raise
    except AlreadyExistsError as exc:
        raise AlreadyExists(key) from exc
    except SessionNotFoundError as exc:
        raise SessionNotFound(key) from exc
    except _UNAVAILABLE as exc:
        code = _status_code(exc)
        if code == 409:
            raise AlreadyExists(key) from exc
        if code == 404:
            raise SessionNotFound(key) from exc
        if code in (400, 413):
            raise InvalidEntry(
                f"{type(service).__name__} refused the request for session {key} "
                f"({exc}); nothing was written"
            ) from exc
        raise BackendUnavailable(
            f"{type(service).__name__} failed for session {key}: "
            f"{type(exc).__name__}: {exc}; check the service is reachable and retry"
        ) from exc


# -- the record an ADK event carries ------------------------------------------


@dataclass
class _Record:
    rev: int
    entries: list[tuple[int, float, JSONObject]] = field(default_factory=list)
    popped: list[int] = field(default_factory=list)
    clear: int | None = None


def _record_text(
    rev: int,
    entries: Sequence[tuple[int, float, str]] = (),
    popped: Sequence[int] = (),
    clear: int | None = None,
) -> str:
    # Entry payloads are already-encoded JSON text; splice them in rather than
    # decode and re-encode them (a payload may be 1 MiB).
    parts = [f'{{"v":1,"rev":{rev}']
    if entries:
        parts.append(
            ',"e":['
            + ",".join(f"[{seq},{_json.dumps(ts)},{text}]" for seq, ts, text in entries)
            + "]"
        )
    if popped:
        parts.append(',"pop":' + _json.dumps(list(popped)))
    if clear is not None:
        parts.append(f',"clear":{clear}')
    parts.append("}")
    return "".join(parts)


def _decode_record(event: ADKEvent) -> _Record | None:
    metadata = event.custom_metadata
    if not metadata:
        return None
    text = metadata.get(_METADATA_KEY)
    if not isinstance(text, str):
        return None
    try:
        raw = _json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("v") != 1:
        return None
    return _Record(
        rev=int(raw.get("rev", 0)),
        entries=[(int(seq), float(ts), data) for seq, ts, data in raw.get("e", ())],
        popped=[int(seq) for seq in raw.get("pop", ())],
        clear=raw.get("clear"),
    )


@dataclass(frozen=True)
class _Meta:
    rev: int
    next_seq: int
    created_at: float

    def as_state(self, key: SessionKey) -> JSONObject:
        return {
            "rev": self.rev,
            "next": self.next_seq,
            "created": self.created_at,
            "key": [key.app_name, key.user_id, key.session_id],
        }


def _meta_of(session: ADKSession) -> _Meta:
    raw = session.state.get(META_KEY)
    if isinstance(raw, dict):
        try:
            return _Meta(int(raw["rev"]), int(raw["next"]), float(raw["created"]))
        except (KeyError, TypeError, ValueError):
            pass
    # A session created by something else: no entries of ours yet.
    return _Meta(0, 1, session.last_update_time)


def _scope_of(session: ADKSession, prefix: str) -> JSONObject:
    """One scope of a session's merged state, un-prefixed and copied."""
    scope = {k[len(prefix) :]: v for k, v in session.state.items() if k.startswith(prefix)}
    copied: JSONObject = _json.loads(_json.dumps(scope, what="stored state"))
    return copied


def _public_state(session: ADKSession) -> JSONObject:
    state = {k: v for k, v in session.state.items() if k != META_KEY}
    copied: JSONObject = _json.loads(_json.dumps(state, what="stored state"))
    return copied


def _prefixed_delta(delta: StateDelta) -> JSONObject:
    """``delta`` (checked, ``temp:`` dropped) as a fresh flat ADK state delta."""
    if META_KEY in delta.session:
        raise InvalidEntry(
            f"state key {META_KEY!r} is reserved for omnisession's bookkeeping; rename it"
        )
    flat: JSONObject = dict(delta.session)
    flat.update({APP_PREFIX + k: v for k, v in delta.app.items()})
    flat.update({USER_PREFIX + k: v for k, v in delta.user.items()})
    # A private copy: in-memory services keep the values they are given.
    copied: JSONObject = _json.loads(_json.dumps(flat, what="state"))
    return copied


def _to_micros(timestamp: float) -> int:
    return math.ceil(round(timestamp * 1_000_000, 3))


def _commit_time(session: ADKSession, floor: float | None) -> float:
    """A commit time later than the session's last update and not before ``floor``."""
    micros = max(_to_micros(now()), _to_micros(session.last_update_time) + 1)
    if floor is not None:
        micros = max(micros, _to_micros(floor))
    return micros / 1_000_000


# -- per-session locks ----------------------------------------------------------


class _Locks:
    """One asyncio lock per (event loop, session), dropped once unused."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._slots: dict[tuple[int, SessionKey], list[Any]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: SessionKey) -> AsyncIterator[None]:
        slot_key = (id(asyncio.get_running_loop()), key)
        with self._guard:
            slot = self._slots.get(slot_key)
            if slot is None:
                slot = self._slots[slot_key] = [asyncio.Lock(), 0]
            slot[1] += 1
        try:
            async with slot[0]:
                yield
        finally:
            with self._guard:
                slot[1] -= 1
                if slot[1] == 0:
                    self._slots.pop(slot_key, None)


_locks_by_service: weakref.WeakKeyDictionary[BaseSessionService, _Locks] = (
    weakref.WeakKeyDictionary()
)
_locks_guard = threading.Lock()


def _locks_for(service: BaseSessionService) -> _Locks:
    """The lock table shared by every store on ``service`` (its own one if unhashable)."""
    with _locks_guard:
        try:
            locks = _locks_by_service.get(service)
            if locks is None:
                locks = _locks_by_service[service] = _Locks()
        except TypeError:  # a service defining __eq__ without __hash__
            return _Locks()
        return locks


# -- the store --------------------------------------------------------------------


class ADKServiceStore(ValidatingStore):
    """An omnisession :class:`~omnisession.SessionStore` backed by an ADK session service.

    :class:`~omnisession.backend.ValidatingStore` checks and encodes the
    arguments; the hooks below map each operation onto the service (see the
    module docs).

    ``service`` is any ``google.adk.sessions.BaseSessionService``.
    ``capabilities`` defaults to what :func:`capabilities_of` knows the service
    keeps; pass it for a community service you have measured with the
    conformance suite. ``ids`` defaults to :class:`HashedIds` for Vertex AI
    and :class:`PlainIds` otherwise. With ``owns_service`` the service's
    ``close()`` (where it has one) is awaited by :meth:`aclose`.
    """

    def __init__(
        self,
        service: BaseSessionService,
        *,
        capabilities: frozenset[Capability] | None = None,
        ids: ServiceIds | None = None,
        owns_service: bool = False,
    ) -> None:
        if not isinstance(service, BaseSessionService):
            raise TypeError(
                f"ADKServiceStore needs a google.adk BaseSessionService, "
                f"got {type(service).__name__}"
            )
        self.service = service
        self.capabilities = (
            capabilities_of(service) if capabilities is None else frozenset(capabilities)
        )
        self.ids: ServiceIds = ids or (HashedIds() if _is_vertex(service) else PlainIds())
        self._owns_service = owns_service
        self._locks = _locks_for(service)
        self._closed = False
        self._anchored: set[str] = set()
        self._prepared = False

    def __repr__(self) -> str:
        return f"ADKServiceStore({type(self.service).__name__})"

    # -- service calls ---------------------------------------------------------

    async def _ready(self) -> None:
        """Refuse a closed store; on first use, let the service create its tables.

        ``DatabaseSessionService`` creates its tables on first use, and two
        services doing so on a new database at once make one fail ("table ...
        already exists"). The loser's second attempt finds the tables, so the
        store prepares them up front and retries once.
        """
        if self._closed:
            raise BackendUnavailable("this ADKServiceStore is closed; open a new store")
        if self._prepared:
            return
        prepare = getattr(self.service, "prepare_tables", None)
        if prepare is not None:
            with _translated("(preparing tables)", self.service):
                try:
                    await prepare()
                except _UNAVAILABLE:
                    await prepare()
        self._prepared = True

    async def _fetch(
        self, key: SessionKey, recent: int | None = None, after: float | None = None
    ) -> ADKSession | None:
        app, user, sid = self.ids.to_service(key)
        config = GetSessionConfig(num_recent_events=recent, after_timestamp=after)
        with _translated(key, self.service):
            try:
                return await self.service.get_session(
                    app_name=app, user_id=user, session_id=sid, config=config
                )
            except ValueError as exc:
                if isinstance(exc, StaleSessionError):
                    raise
                raise InvalidKey(
                    f"{type(self.service).__name__} refuses session {key}: {exc}"
                ) from exc

    async def _entries(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> tuple[ADKSession, list[tuple[int, float, JSONObject]]] | None:
        """The session and its visible entries, oldest first."""
        after = None if since is None else since - _SINCE_SLACK
        if last == 0:
            session = await self._fetch(key, 0)
            return None if session is None else (session, [])
        # A little more than asked for, so a few tombstones in the tail do not
        # cost a second round trip; widened fourfold while they hide entries.
        window = None if last is None else last + _WINDOW_SLACK
        while True:
            session = await self._fetch(key, window, after)
            if session is None:
                return None
            found, complete = _visible(session.events, last)
            if complete or window is None or len(session.events) < window:
                break
            window *= 4
        found.reverse()
        if since is not None:
            found = [entry for entry in found if entry[1] >= since]
        return session, found

    def _record(
        self, key: SessionKey, session: ADKSession, entries: Sequence[tuple[int, float, JSONObject]]
    ) -> SessionRecord:
        meta = _meta_of(session)
        return SessionRecord(
            key=key,
            state=_public_state(session),
            events=[Event(seq, ts, data) for seq, ts, data in entries],
            created_at=meta.created_at,
            updated_at=session.last_update_time,
            revision=meta.rev,
        )

    async def _write(
        self,
        key: SessionKey,
        *,
        entries: Sequence[str] = (),
        timestamp: float | None = None,
        state: JSONObject | None = None,
        expected_revision: int | None = None,
        pop: bool = False,
        clear: bool = False,
    ) -> tuple[_Meta, int, float, JSONObject | None] | None:
        """One compare-and-set write; ``None`` when ``pop`` finds nothing.

        Returns the new meta, the first entry's seq, the entries' timestamp and
        the popped payload. Raises ``SessionNotFound`` for a missing session.
        """
        await self._ready()
        async with self._locks.hold(key):
            for _attempt in range(_MAX_RETRIES):
                popped: tuple[int, float, JSONObject] | None = None
                if pop:
                    loaded = await self._entries(key, 1, None)
                    if loaded is None:
                        raise SessionNotFound(key)
                    session, newest = loaded
                    if not newest:
                        return None
                    popped = newest[-1]
                else:
                    fetched = await self._fetch(key, 0)
                    if fetched is None:
                        raise SessionNotFound(key)
                    session = fetched
                meta = _meta_of(session)
                if expected_revision is not None and expected_revision != meta.rev:
                    raise StaleSession(key, expected_revision, meta.rev)
                commit = _commit_time(session, timestamp)
                stamp = commit if timestamp is None else float(timestamp)
                first = meta.next_seq
                new_meta = _Meta(meta.rev + 1, first + len(entries), meta.created_at)
                text = _record_text(
                    new_meta.rev,
                    [(first + i, stamp, entry) for i, entry in enumerate(entries)],
                    [popped[0]] if popped else (),
                    first - 1 if clear else None,
                )
                delta = dict(state or {})
                delta[META_KEY] = new_meta.as_state(key)
                event = ADKEvent(
                    id=uuid.uuid4().hex,
                    invocation_id=_AUTHOR,
                    author=_AUTHOR,
                    timestamp=commit,
                    custom_metadata={_METADATA_KEY: text},
                    actions=EventActions(state_delta=delta),
                )
                try:
                    with _translated(key, self.service):
                        await self.service.append_event(session, event)
                except StaleSessionError as exc:
                    if expected_revision is not None:
                        current = await self._fetch(key, 0)
                        actual = _meta_of(current).rev if current else expected_revision + 1
                        raise StaleSession(key, expected_revision, actual) from exc
                    continue
                return new_meta, first, stamp, (popped[2] if popped else None)
        raise BackendUnavailable(
            f"session {key}: {_MAX_RETRIES} writes in a row lost to concurrent writers; retry"
        )

    # -- reads -------------------------------------------------------------------

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        await self._ready()
        loaded = await self._entries(key, last, since)
        if loaded is None:
            return None
        return self._record(key, *loaded)

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        after = tuple(decode_cursor(cursor, 3)) if cursor else None
        await self._ready()
        service_user = None if user_id is None else self.ids.user_to_service(user_id)
        with _translated(f"app {app_name!r}", self.service):
            response = await self.service.list_sessions(app_name=app_name, user_id=service_user)
        rows = []
        for session in response.sessions:
            key = self.ids.from_service(app_name, session)
            if key is None or (user_id is not None and key.user_id != user_id):
                continue
            rows.append((session.last_update_time, key.user_id, key.session_id, key, session))
        rows.sort(key=lambda row: row[:3])
        start = bisect.bisect_right([row[:3] for row in rows], after) if after else 0
        chunk = rows[start : start + page_size + 1]
        records = [self._record(key, session, []) for *_, key, session in chunk[:page_size]]
        next_cursor = encode_cursor(*chunk[page_size - 1][:3]) if len(chunk) > page_size else None
        return Page(records, next_cursor)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        await self._ready()
        loaded = await self._entries(key, limit, None)
        return [] if loaded is None else [data for _, _, data in loaded[1]]

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        await self._ready()
        with _translated(f"user {user_id!r} of app {app_name!r}", self.service):
            try:
                state = await self.service.get_user_state(
                    app_name=app_name, user_id=self.ids.user_to_service(user_id)
                )
            except NotImplementedError:
                return await self._scope_from_sessions(app_name, user_id, USER_PREFIX)
        copied: JSONObject = _json.loads(_json.dumps(dict(state), what="stored state"))
        return copied

    async def _get_app_state(self, app_name: str) -> JSONObject:
        await self._ready()
        anchor = self.ids.app_anchor(app_name)
        if anchor is not None:
            app, user, sid = anchor
            with _translated(f"app {app_name!r}", self.service):
                session = await self.service.get_session(
                    app_name=app,
                    user_id=user,
                    session_id=sid,
                    config=GetSessionConfig(num_recent_events=0),
                )
            if session is not None:
                return _scope_of(session, APP_PREFIX)
        return await self._scope_from_sessions(app_name, None, APP_PREFIX)

    async def _anchor_app(self, app_name: str) -> None:
        """Create the app's bookkeeping session once, so its app state stays readable."""
        anchor = self.ids.app_anchor(app_name)
        if anchor is None or app_name in self._anchored:
            return
        app, user, sid = anchor
        with _translated(f"app {app_name!r}", self.service):
            config = GetSessionConfig(num_recent_events=0)
            if (
                await self.service.get_session(
                    app_name=app, user_id=user, session_id=sid, config=config
                )
                is None
            ):
                with contextlib.suppress(AlreadyExistsError, AlreadyExists):
                    await self.service.create_session(
                        app_name=app, user_id=user, session_id=sid, state={}
                    )
        self._anchored.add(app_name)

    async def _scope_from_sessions(
        self, app_name: str, user_id: str | None, prefix: str
    ) -> JSONObject:
        """A scope read from the merged state of the newest session that shows it."""
        service_user = None if user_id is None else self.ids.user_to_service(user_id)
        with _translated(f"app {app_name!r}", self.service):
            response = await self.service.list_sessions(app_name=app_name, user_id=service_user)
        for session in reversed(response.sessions):
            if self.ids.from_service(app_name, session) is not None:
                return _scope_of(session, prefix)
        return {}

    # -- writes ------------------------------------------------------------------

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        flat = _prefixed_delta(delta)
        await self._ready()
        flat[META_KEY] = _Meta(1, 1, now()).as_state(key)
        app, user, sid = self.ids.to_service(key)
        with _translated(key, self.service):
            try:
                session = await self.service.create_session(
                    app_name=app, user_id=user, state=flat, session_id=sid
                )
            except ValueError as exc:
                raise InvalidKey(
                    f"{type(self.service).__name__} refuses session {key}: {exc}"
                ) from exc
        await self._anchor_app(key.app_name)
        return self._record(key, session, [])

    async def _delete_session(self, key: SessionKey) -> None:
        await self._ready()
        app, user, sid = self.ids.to_service(key)
        with _translated(key, self.service):
            await self.service.delete_session(app_name=app, user_id=user, session_id=sid)

    async def _append_event(
        self,
        key: SessionKey,
        entry: str,
        delta: StateDelta,
        timestamp: float,
        expected_revision: int | None,
    ) -> Appended:
        written = await self._write(
            key,
            entries=[entry],
            timestamp=timestamp,
            state=_prefixed_delta(delta),
            expected_revision=expected_revision,
        )
        assert written is not None
        meta, seq, ts, _ = written
        return Appended(seq=seq, revision=meta.rev, timestamp=ts)

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        written = await self._write(
            key, state=_prefixed_delta(delta), expected_revision=expected_revision
        )
        assert written is not None
        return written[0].rev

    async def _add_items(self, key: SessionKey, entries: list[str]) -> None:
        try:
            await self._write(key, entries=entries)
        except SessionNotFound:
            with contextlib.suppress(AlreadyExists):
                await self._create_session(key, StateDelta())
            await self._write(key, entries=entries)

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        try:
            written = await self._write(key, pop=True)
        except SessionNotFound:
            return None
        return None if written is None else written[3]

    async def _clear_session(self, key: SessionKey) -> None:
        with contextlib.suppress(SessionNotFound):
            await self._write(key, clear=True)

    async def aclose(self) -> None:
        """Close the service if this store owns it (``close()`` where it has one)."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self.service, "close", None)
        if self._owns_service and close is not None:
            with _translated("(closing)", self.service):
                await close()


def _visible(
    events: Sequence[ADKEvent], want: int | None
) -> tuple[list[tuple[int, float, JSONObject]], bool]:
    """Visible entries newest first; ``True`` when no older event can add any."""
    hidden: set[int] = set()
    found: list[tuple[int, float, JSONObject]] = []
    for event in reversed(events):
        record = _decode_record(event)
        if record is None:
            continue
        hidden.update(record.popped)
        for entry in reversed(record.entries):
            if entry[0] in hidden:
                continue
            found.append(entry)
            if want is not None and len(found) >= want:
                return found, True
        if record.clear is not None:
            return found, True
    return found, False


# -- URLs -------------------------------------------------------------------------

_named_services: dict[str, BaseSessionService] = {}
_named_lock = threading.Lock()


def open_adk_store(url: str, **options: Any) -> ADKServiceStore:
    """Factory for the ``adk+...`` schemes.

    * ``adk+memory://`` -- a private ``InMemorySessionService``;
      ``adk+memory://NAME`` -- the process-wide one called NAME (stores opened
      with the same NAME share it).
    * ``adk+sqlite:///relative.db``, ``adk+sqlite:////abs/path.db`` --
      ``SqliteSessionService`` (SQLAlchemy's path convention).
    * ``adk+db://<SQLAlchemy URL>`` -- ``DatabaseSessionService``, e.g.
      ``adk+db://sqlite+aiosqlite:///chat.db``; ``options`` go to
      ``create_async_engine``.
    * ``adk+vertexai://PROJECT/LOCATION/AGENT_ENGINE_ID`` --
      ``VertexAiSessionService`` (needs ``google-adk[gcp]`` and Google Cloud
      credentials); option ``express_mode_api_key``.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(f"{url!r} is not a store URL; write it as adk+memory://, adk+db://...")
    service: BaseSessionService
    if scheme == "adk+memory":
        _no_options(scheme, options)
        name = rest.strip("/")
        if not name:
            return ADKServiceStore(InMemorySessionService())
        with _named_lock:
            service = _named_services.setdefault(name, InMemorySessionService())
        return ADKServiceStore(service)
    if scheme == "adk+sqlite":
        _no_options(scheme, options)
        from google.adk.sessions.sqlite_session_service import SqliteSessionService

        if not rest.strip("/"):
            raise ValueError(f"{url!r} names no database file; write adk+sqlite:///chat.db")
        service = SqliteSessionService("sqlite://" + rest)
        return ADKServiceStore(service, owns_service=True)
    if scheme == "adk+db":
        if "://" not in rest:
            raise ValueError(
                f"{url!r}: put a SQLAlchemy async URL after adk+db://, "
                "e.g. adk+db://sqlite+aiosqlite:///chat.db"
            )
        from google.adk.sessions.database_session_service import DatabaseSessionService

        service = DatabaseSessionService(rest, **options)
        return ADKServiceStore(service, owns_service=True)
    if scheme == "adk+vertexai":
        project, location, engine = _vertex_parts(url)
        extra = dict(options)
        api_key = extra.pop("express_mode_api_key", None)
        _no_options(scheme, extra)
        from google.adk.sessions.vertex_ai_session_service import VertexAiSessionService

        service = VertexAiSessionService(
            project or None, location or None, engine, express_mode_api_key=api_key
        )
        return ADKServiceStore(service, owns_service=True)
    raise ValueError(
        f"{url!r}: unknown ADK scheme {scheme!r}; "
        "use adk+memory, adk+sqlite, adk+db or adk+vertexai"
    )


def _vertex_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    segments = [unquote(parts.netloc)] + [unquote(s) for s in parts.path.split("/")[1:]]
    if len(segments) != 3 or not segments[2]:
        raise ValueError(
            f"{url!r}: write adk+vertexai://PROJECT/LOCATION/AGENT_ENGINE_ID "
            "(PROJECT and LOCATION may be empty in express mode: adk+vertexai:////ENGINE_ID)"
        )
    return segments[0], segments[1], segments[2]


def _no_options(scheme: str, options: Mapping[str, Any]) -> None:
    if options:
        raise TypeError(f"{scheme}:// takes no options, got {sorted(options)}")
