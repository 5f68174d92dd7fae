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
from .backend import ValidatingStore, decode_cursor, encode_cursor
from .errors import AlreadyExists, SessionNotFound, StaleSession
from .model import (
    Appended,
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    now,
)
from .store import Capability

__all__ = ["MemoryStore", "open_memory_store"]


@dataclass
class _Session:
    created_at: float
    updated_at: float
    revision: int = 1
    next_seq: int = 1
    state: JSONObject = field(default_factory=dict)
    # (seq, timestamp, json text), ordered by seq
    events: list[tuple[int, float, str]] = field(default_factory=list)


@dataclass
class _Engine:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: dict[SessionKey, _Session] = field(default_factory=dict)
    app_state: dict[str, JSONObject] = field(default_factory=dict)
    user_state: dict[object, JSONObject] = field(default_factory=dict)


_named_engines: dict[str, _Engine] = {}
_named_lock = threading.Lock()


def _engine_named(name: str) -> _Engine:
    with _named_lock:
        return _named_engines.setdefault(name, _Engine())


class MemoryStore(ValidatingStore):
    """The reference implementation of :class:`~omnisession.SessionStore`.

    :class:`~omnisession.backend.ValidatingStore` checks and encodes the
    arguments; each hook below is one critical section under the engine's lock.
    """

    capabilities = frozenset({Capability.BASE, Capability.LARGE_ENTRIES})

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
            rows = [row for row in rows if row[1] >= since] if since is not None else list(rows)
            record = self._record(key, session)
        record.events.extend(Event(seq, ts, _json.loads(text)) for seq, ts, text in rows)
        return record

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        after = tuple(decode_cursor(cursor, 3)) if cursor else None
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
            records = [self._record(key, session) for *_, key, session in chunk[:page_size]]
        next_cursor = encode_cursor(*chunk[page_size - 1][:3]) if len(chunk) > page_size else None
        return Page(records, next_cursor)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None:
                return []
            rows = session.events if limit is None else session.events[-limit:]
            texts = [text for _, _, text in rows]
        return [_json.loads(text) for text in texts]

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        with self._engine.lock:
            return dict(self._engine.user_state.get(self._user_scope(app_name, user_id), {}))

    async def _get_app_state(self, app_name: str) -> JSONObject:
        with self._engine.lock:
            return dict(self._engine.app_state.get(app_name, {}))

    # -- writes ------------------------------------------------------------

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        delta = _owned(delta)
        with self._engine.lock:
            if key in self._engine.sessions:
                raise AlreadyExists(key)
            stamp = now()
            session = _Session(created_at=stamp, updated_at=stamp, state=delta.session)
            self._engine.sessions[key] = session
            self._apply_scopes(key, delta)
            return self._record(key, session)

    async def _delete_session(self, key: SessionKey) -> None:
        with self._engine.lock:
            self._engine.sessions.pop(key, None)

    async def _append_event(
        self,
        key: SessionKey,
        entry: str,
        delta: StateDelta,
        timestamp: float,
        expected_revision: int | None,
    ) -> Appended:
        delta = _owned(delta)
        with self._engine.lock:
            session = self._changed(key, expected_revision, delta)
            seq = session.next_seq
            session.events.append((seq, timestamp, entry))
            session.next_seq += 1
            return Appended(seq=seq, revision=session.revision, timestamp=timestamp)

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        delta = _owned(delta)
        with self._engine.lock:
            return self._changed(key, expected_revision, delta).revision

    async def _add_items(self, key: SessionKey, entries: list[str]) -> None:
        with self._engine.lock:
            stamp = now()
            session = self._engine.sessions.get(key)
            if session is None:
                session = self._engine.sessions[key] = _Session(created_at=stamp, updated_at=stamp)
            for entry in entries:
                session.events.append((session.next_seq, stamp, entry))
                session.next_seq += 1
            session.revision += 1
            session.updated_at = max(session.updated_at, stamp)

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None or not session.events:
                return None
            _, _, text = session.events.pop()
            session.revision += 1
            session.updated_at = max(session.updated_at, now())
        result: JSONObject = _json.loads(text)
        return result

    async def _clear_session(self, key: SessionKey) -> None:
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None:
                return
            session.events.clear()
            session.revision += 1
            session.updated_at = max(session.updated_at, now())

    # -- helpers (called with the lock held) --------------------------------

    def _changed(
        self, key: SessionKey, expected_revision: int | None, delta: StateDelta
    ) -> _Session:
        """Check the session exists at ``expected_revision``, then bump it and apply ``delta``."""
        session = self._engine.sessions.get(key)
        if session is None:
            raise SessionNotFound(key)
        if expected_revision is not None and expected_revision != session.revision:
            raise StaleSession(key, expected_revision, session.revision)
        session.revision += 1
        session.updated_at = max(session.updated_at, now())
        session.state.update(delta.session)
        self._apply_scopes(key, delta)
        return session

    def _apply_scopes(self, key: SessionKey, delta: StateDelta) -> None:
        if delta.app:
            self._engine.app_state.setdefault(key.app_name, {}).update(delta.app)
        if delta.user:
            scope = self._user_scope(key.app_name, key.user_id)
            self._engine.user_state.setdefault(scope, {}).update(delta.user)

    def _user_scope(self, app_name: str, user_id: str) -> object:
        """The engine's key of a user scope: a tuple, so no two (app, user) pairs collide."""
        return (app_name, user_id)

    def _record(self, key: SessionKey, session: _Session) -> SessionRecord:
        state = merge_state(
            session.state,
            self._engine.app_state.get(key.app_name, {}),
            self._engine.user_state.get(self._user_scope(key.app_name, key.user_id), {}),
        )
        return SessionRecord(
            key=key,
            state=_json.loads(_json.dumps(state)),
            events=[],
            created_at=session.created_at,
            updated_at=session.updated_at,
            revision=session.revision,
        )


def _owned(delta: StateDelta) -> StateDelta:
    """A deep copy of ``delta``, so callers can't alias the stored values."""
    if not delta:
        return delta
    copied = _json.loads(_json.dumps([delta.app, delta.user, delta.session]))
    return StateDelta(app=copied[0], user=copied[1], session=copied[2])


def open_memory_store(url: str, **options: Any) -> MemoryStore:
    """Factory for ``memory://`` and ``memory://NAME``."""
    if options:
        raise TypeError(f"memory:// takes no options, got {sorted(options)}")
    parts = urlsplit(url)
    return MemoryStore(name=(parts.netloc + parts.path).strip("/") or None)
