"""``memory://``: the reference store, in-process, zero dependencies.

``memory://`` opens a private store. ``memory://NAME`` opens a store on the
process-wide engine called NAME: two stores opened with the same name share
data, which is how the conformance suite's cross-instance cases run here.

Every operation runs without awaiting under one ``threading.Lock``, so the
store is safe from any event loop and any thread (``Runner.run_sync`` calls
sessions from a worker thread's loop). Entries are stored as JSON text, so a
caller mutating a dict after writing or reading it never changes the store.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import _json
from ._builtin import MEMORY_CAPABILITIES
from .backend import ValidatingStore, decode_cursor, encode_cursor, parse_options
from .errors import AlreadyExists, SessionNotFound, StaleSession
from .model import (
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    merge_state,
    now,
)
from .writes import Committed, Creation, Write

__all__ = ["CAPABILITIES", "MemoryStore", "open_memory_store", "release_engine"]

CAPABILITIES = MEMORY_CAPABILITIES
"""What every ``memory://`` store declares (declared once, in :mod:`omnisession._builtin`)."""


@dataclass
class _Stored:
    """One event as kept: its number, time, payload text and recorded delta text."""

    seq: int
    timestamp: float
    data: str
    delta: str | None

    def event(self) -> Event:
        delta = None if self.delta is None else _json.loads(self.delta)
        return Event(self.seq, self.timestamp, _json.loads(self.data), delta)


@dataclass
class _Session:
    created_at: float
    updated_at: float
    revision: int = 0
    next_seq: int = 1
    state: JSONObject = field(default_factory=dict)
    base: JSONObject = field(default_factory=dict)
    events: list[_Stored] = field(default_factory=list)


@dataclass
class _Engine:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: dict[SessionKey, _Session] = field(default_factory=dict)
    app_state: dict[str, JSONObject] = field(default_factory=dict)
    user_state: dict[tuple[str, str], JSONObject] = field(default_factory=dict)


_named_engines: dict[str, _Engine] = {}
_named_lock = threading.Lock()


def _engine_named(name: str) -> _Engine:
    with _named_lock:
        return _named_engines.setdefault(name, _Engine())


def release_engine(name: str) -> None:
    """Forget the process-wide engine ``memory://NAME`` and its data.

    Stores already open on it keep working on the old engine; the next store
    opened with that name starts empty. Tests use it to leave nothing behind.
    """
    with _named_lock:
        _named_engines.pop(name, None)


def _copy(value: JSONObject) -> JSONObject:
    """A deep copy through JSON, so neither side can alias the other's values."""
    copied: JSONObject = _json.loads(_json.dumps(value))
    return copied


class MemoryStore(ValidatingStore):
    """The reference implementation of :class:`~omnisession.SessionStore`.

    :class:`~omnisession.backend.ValidatingStore` checks and encodes the
    arguments; each hook below is one critical section under the engine's lock.
    """

    capabilities = CAPABILITIES

    def __init__(self, name: str | None = None) -> None:
        self._engine = _Engine() if not name else _engine_named(name)

    # -- reads -------------------------------------------------------------

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None:
                return None
            rows = session.events
            if last is not None:
                rows = rows[-last:] if last else []
            rows = [row for row in rows if since is None or row.timestamp >= since]
            record = self._record(key, session)
        record.events.extend(row.event() for row in rows)
        return record

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        after = tuple(decode_cursor(cursor, float, str, str)) if cursor else None
        with self._engine.lock:
            matches = sorted(
                (
                    (session.updated_at, key.user_id, key.session_id, key, session)
                    for key, session in self._engine.sessions.items()
                    if key.app_name == app_name and (user_id is None or key.user_id == user_id)
                ),
                key=lambda row: row[:3],
            )
            start = bisect.bisect_right([row[:3] for row in matches], after) if after else 0
            chunk = matches[start : start + page_size + 1]
            records = [
                self._record(key, session, with_base=False)
                for *_, key, session in chunk[:page_size]
            ]
        next_cursor = encode_cursor(*chunk[page_size - 1][:3]) if len(chunk) > page_size else None
        return Page(records, next_cursor)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None:
                return []
            rows = session.events if limit is None else session.events[-limit:]
            texts = [row.data for row in rows]
        return _json.loads_all(texts)

    async def _get_events(
        self,
        key: SessionKey,
        after: int | None,
        before: int | None,
        limit: int,
        oldest_first: bool,
    ) -> list[Event]:
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None:
                return []
            rows = session.events
            low = 0 if after is None else bisect.bisect_right(rows, after, key=lambda r: r.seq)
            high = (
                len(rows)
                if before is None
                else bisect.bisect_left(rows, before, key=lambda r: r.seq)
            )
            window = rows[low:high]
            window = window[:limit] if oldest_first else window[-limit:]
        return [row.event() for row in window]

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        with self._engine.lock:
            return _copy(self._engine.user_state.get((app_name, user_id), {}))

    async def _get_app_state(self, app_name: str) -> JSONObject:
        with self._engine.lock:
            return _copy(self._engine.app_state.get(app_name, {}))

    async def _list_apps(self) -> list[str]:
        with self._engine.lock:
            names = {key.app_name for key in self._engine.sessions}
            names.update(self._engine.app_state)
            names.update(app for app, _ in self._engine.user_state)
        return sorted(names)

    # -- writes ------------------------------------------------------------

    async def _write(self, write: Write) -> Committed:
        """The write primitive, step by step as :mod:`omnisession.writes` defines it,
        in one critical section: nothing raises once anything has changed."""
        delta = write.delta
        # private copies, made before taking the lock: the caller's dicts stay theirs
        owned = (_copy(delta.app), _copy(delta.user), _copy(delta.session)) if delta else None
        base = _copy(write.base_state) if write.base_state is not None else None
        with self._engine.lock:
            # 1. find (or create) the session; the creation mode and expected revision
            session = self._engine.sessions.get(write.key)
            if session is None:
                if write.creation is Creation.NEVER:
                    raise SessionNotFound(write.key)
                assert write.created_at is not None
                session = _Session(created_at=write.created_at, updated_at=write.created_at)
                session.base = base if base is not None else _copy(delta.session)
                self._engine.sessions[write.key] = session
                fresh = True
            else:
                if write.creation is Creation.ONLY:
                    raise AlreadyExists(write.key)
                expected = write.expected_revision
                if expected is not None and expected != session.revision:
                    raise StaleSession(write.key, expected, session.revision)
                fresh = False
            never_had_events = session.next_seq == 1
            # 2. truncate
            if write.truncate_from is not None:
                cut = bisect.bisect_left(session.events, write.truncate_from, key=lambda r: r.seq)
                del session.events[cut:]
            # 3. append, each event with its own seq or the next; next = past the highest
            first_seq = None
            for event in write.events:
                seq = session.next_seq if event.seq is None else event.seq
                first_seq = seq if first_seq is None else first_seq
                session.events.append(_Stored(seq, event.timestamp, event.data, event.delta))
                session.next_seq = max(session.next_seq, seq + 1)
            # 4. the delta, to its three scopes (and to the base before the first event)
            if owned is not None:
                app, user, own = owned
                session.state.update(own)
                if never_had_events and not fresh and not write.events:
                    session.base.update(_copy(own))
                if app:
                    self._engine.app_state.setdefault(write.key.app_name, {}).update(app)
                if user:
                    scope = (write.key.app_name, write.key.user_id)
                    self._engine.user_state.setdefault(scope, {}).update(user)
            # 5. revision and updated_at (set, not max)
            session.revision = 1 if fresh else session.revision + 1
            session.updated_at = write.updated_at
            return Committed(session.revision, first_seq)

    async def _delete_session(self, key: SessionKey) -> None:
        with self._engine.lock:
            self._engine.sessions.pop(key, None)

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None or not session.events:
                return None
            row = session.events.pop()
            session.revision += 1
            session.updated_at = now()
        result: JSONObject = _json.loads(row.data)
        return result

    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        deleted = 0
        with self._engine.lock:
            for key in keys:
                session = self._engine.sessions.get(key)
                if session is not None and session.updated_at < updated_before:
                    del self._engine.sessions[key]
                    deleted += 1
        return deleted

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        with self._engine.lock:
            doomed = [
                key
                for key in self._engine.sessions
                if key.app_name == app_name and (user_id is None or key.user_id == user_id)
            ]
            for key in doomed:
                del self._engine.sessions[key]
            if user_id is None:
                self._engine.app_state.pop(app_name, None)
                for scope in [scope for scope in self._engine.user_state if scope[0] == app_name]:
                    del self._engine.user_state[scope]
            else:
                self._engine.user_state.pop((app_name, user_id), None)
        return len(doomed)

    async def _update_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        owned = _copy(values)
        with self._engine.lock:
            if user_id is None:
                self._engine.app_state.setdefault(app_name, {}).update(owned)
            else:
                self._engine.user_state.setdefault((app_name, user_id), {}).update(owned)

    # -- helpers (called with the lock held) --------------------------------

    def _record(
        self, key: SessionKey, session: _Session, *, with_base: bool = True
    ) -> SessionRecord:
        state = merge_state(
            session.state,
            self._engine.app_state.get(key.app_name, {}),
            self._engine.user_state.get((key.app_name, key.user_id), {}),
        )
        return SessionRecord(
            key=key,
            state=_copy(state),
            events=[],
            created_at=session.created_at,
            updated_at=session.updated_at,
            revision=session.revision,
            base_state=_copy(session.base) if with_base else None,
        )


def open_memory_store(url: str, **options: Any) -> MemoryStore:
    """Factory for ``memory://`` and ``memory://NAME`` (no options)."""
    parsed = parse_options((), url, options, backend="memory")
    parts = urlsplit(parsed.url)
    return MemoryStore(name=(parts.netloc + parts.path).strip("/") or None)
