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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import _json
from .backend import (
    StoreBase,
    check_key,
    check_last,
    check_limit,
    check_page_size,
    check_scope_id,
    decode_cursor,
    encode_cursor,
    encode_entries,
    encode_entry,
    encode_state_delta,
)
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


class MemoryStore(StoreBase):
    """The reference implementation of :class:`~omnisession.SessionStore`."""

    capabilities = frozenset({Capability.BASE, Capability.LARGE_ENTRIES})

    def __init__(self, name: str | None = None) -> None:
        self._engine = _Engine() if not name else _engine_named(name)

    # -- reads -------------------------------------------------------------

    async def get_session(
        self, key: SessionKey, *, last: int | None = None, since: float | None = None
    ) -> SessionRecord | None:
        check_key(key)
        check_last(last)
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

    async def list_sessions(
        self,
        app_name: str,
        user_id: str | None = None,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        check_scope_id("app_name", app_name)
        if user_id is not None:
            check_scope_id("user_id", user_id)
        size = check_page_size(page_size)
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
            chunk = matches[start : start + size + 1]
            records = [self._record(key, session) for *_, key, session in chunk[:size]]
        next_cursor = encode_cursor(*chunk[size - 1][:3]) if len(chunk) > size else None
        return Page(records, next_cursor)

    async def get_items(self, key: SessionKey, limit: int | None = None) -> list[JSONObject]:
        check_key(key)
        check_limit(limit)
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None or limit == 0:
                return []
            rows = session.events if limit is None else session.events[-limit:]
            texts = [text for _, _, text in rows]
        return [_json.loads(text) for text in texts]

    async def get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        check_scope_id("app_name", app_name)
        check_scope_id("user_id", user_id)
        with self._engine.lock:
            return dict(self._engine.user_state.get(self._user_scope(app_name, user_id), {}))

    async def get_app_state(self, app_name: str) -> JSONObject:
        check_scope_id("app_name", app_name)
        with self._engine.lock:
            return dict(self._engine.app_state.get(app_name, {}))

    # -- writes ------------------------------------------------------------

    async def create_session(
        self, key: SessionKey, state: Mapping[str, Any] | None = None
    ) -> SessionRecord:
        check_key(key)
        delta = _owned_delta(state)
        with self._engine.lock:
            if key in self._engine.sessions:
                raise AlreadyExists(key)
            stamp = now()
            session = _Session(created_at=stamp, updated_at=stamp, state=delta.session)
            self._engine.sessions[key] = session
            self._apply_scopes(key, delta)
            return self._record(key, session)

    async def delete_session(self, key: SessionKey) -> None:
        check_key(key)
        with self._engine.lock:
            self._engine.sessions.pop(key, None)

    async def append_event(
        self,
        key: SessionKey,
        data: JSONObject,
        *,
        state_delta: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        expected_revision: int | None = None,
    ) -> Appended:
        check_key(key)
        text = encode_entry(data)
        delta = _owned_delta(state_delta)
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None:
                raise SessionNotFound(key)
            if expected_revision is not None and expected_revision != session.revision:
                raise StaleSession(key, expected_revision, session.revision)
            stamp = now() if timestamp is None else float(timestamp)
            seq = session.next_seq
            session.events.append((seq, stamp, text))
            session.next_seq += 1
            session.revision += 1
            session.updated_at = max(session.updated_at, now())
            session.state.update(delta.session)
            self._apply_scopes(key, delta)
            return Appended(seq=seq, revision=session.revision, timestamp=stamp)

    async def update_state(
        self,
        key: SessionKey,
        state_delta: Mapping[str, Any],
        *,
        expected_revision: int | None = None,
    ) -> int:
        check_key(key)
        delta = _owned_delta(state_delta)
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None:
                raise SessionNotFound(key)
            if expected_revision is not None and expected_revision != session.revision:
                raise StaleSession(key, expected_revision, session.revision)
            session.revision += 1
            session.updated_at = max(session.updated_at, now())
            session.state.update(delta.session)
            self._apply_scopes(key, delta)
            return session.revision

    async def add_items(self, key: SessionKey, items: Sequence[JSONObject]) -> None:
        check_key(key)
        texts = encode_entries(items)
        if not texts:
            return
        with self._engine.lock:
            stamp = now()
            session = self._engine.sessions.get(key)
            if session is None:
                session = self._engine.sessions[key] = _Session(created_at=stamp, updated_at=stamp)
            for text in texts:
                session.events.append((session.next_seq, stamp, text))
                session.next_seq += 1
            session.revision += 1
            session.updated_at = max(session.updated_at, stamp)

    async def pop_item(self, key: SessionKey) -> JSONObject | None:
        check_key(key)
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None or not session.events:
                return None
            _, _, text = session.events.pop()
            session.revision += 1
            session.updated_at = max(session.updated_at, now())
        result: JSONObject = _json.loads(text)
        return result

    async def clear_session(self, key: SessionKey) -> None:
        check_key(key)
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is None:
                return
            session.events.clear()
            session.revision += 1
            session.updated_at = max(session.updated_at, now())

    # -- helpers (called with the lock held) --------------------------------

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


def _owned_delta(state: Mapping[str, Any] | None) -> StateDelta:
    """The delta split by scope, checked as JSON and deep-copied, so callers can't alias it."""
    delta = encode_state_delta(state)
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
