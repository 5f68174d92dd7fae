""":class:`ADKServiceStore`: each operation of the contract as calls to an ADK session service."""

from __future__ import annotations

import bisect
import contextlib
import uuid
from collections.abc import Sequence

from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event as ADKEvent
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.sessions.session import Session as ADKSession

from .. import _json
from ..backend import ValidatingStore, decode_cursor, encode_cursor
from ..errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidKey,
    SessionNotFound,
    StaleSession,
)
from ..model import (
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
from ..store import Capability
from ._capabilities import capabilities_of, is_vertex
from ._errors import UNAVAILABLE, translated
from ._ids import HashedIds, PlainIds, ServiceIds
from ._locks import locks_for
from ._records import (
    META_KEY,
    METADATA_KEY,
    Meta,
    commit_time,
    meta_of,
    prefixed_delta,
    public_state,
    record_text,
    scope_of,
    visible_entries,
)

_AUTHOR = "omnisession"
_MAX_RETRIES = 64
_WINDOW_SLACK = 16
# ``since`` pre-filter slack: services round timestamps to microseconds.
_SINCE_SLACK = 1e-3


class ADKServiceStore(ValidatingStore):
    """An omnisession :class:`~omnisession.SessionStore` backed by an ADK session service.

    :class:`~omnisession.backend.ValidatingStore` checks and encodes the
    arguments; the hooks below map each operation onto the service (see the
    package docs).

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
        self.ids: ServiceIds = ids or (HashedIds() if is_vertex(service) else PlainIds())
        self._owns_service = owns_service
        self._locks = locks_for(service)
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
            with translated("(preparing tables)", self.service):
                try:
                    await prepare()
                except UNAVAILABLE:
                    await prepare()
        self._prepared = True

    async def _fetch(
        self, key: SessionKey, recent: int | None = None, after: float | None = None
    ) -> ADKSession | None:
        app, user, sid = self.ids.to_service(key)
        config = GetSessionConfig(num_recent_events=recent, after_timestamp=after)
        with translated(key, self.service):
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
            found, complete = visible_entries(session.events, last)
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
        meta = meta_of(session)
        return SessionRecord(
            key=key,
            state=public_state(session),
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
    ) -> tuple[Meta, int, float, JSONObject | None] | None:
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
                meta = meta_of(session)
                if expected_revision is not None and expected_revision != meta.rev:
                    raise StaleSession(key, expected_revision, meta.rev)
                commit = commit_time(session, timestamp)
                stamp = commit if timestamp is None else float(timestamp)
                first = meta.next_seq
                new_meta = Meta(meta.rev + 1, first + len(entries), meta.created_at)
                text = record_text(
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
                    custom_metadata={METADATA_KEY: text},
                    actions=EventActions(state_delta=delta),
                )
                try:
                    with translated(key, self.service):
                        await self.service.append_event(session, event)
                except StaleSessionError as exc:
                    if expected_revision is not None:
                        current = await self._fetch(key, 0)
                        actual = meta_of(current).rev if current else expected_revision + 1
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
        with translated(f"app {app_name!r}", self.service):
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
        with translated(f"user {user_id!r} of app {app_name!r}", self.service):
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
            with translated(f"app {app_name!r}", self.service):
                session = await self.service.get_session(
                    app_name=app,
                    user_id=user,
                    session_id=sid,
                    config=GetSessionConfig(num_recent_events=0),
                )
            if session is not None:
                return scope_of(session, APP_PREFIX)
        return await self._scope_from_sessions(app_name, None, APP_PREFIX)

    async def _anchor_app(self, app_name: str) -> None:
        """Create the app's bookkeeping session once, so its app state stays readable."""
        anchor = self.ids.app_anchor(app_name)
        if anchor is None or app_name in self._anchored:
            return
        app, user, sid = anchor
        with translated(f"app {app_name!r}", self.service):
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
        with translated(f"app {app_name!r}", self.service):
            response = await self.service.list_sessions(app_name=app_name, user_id=service_user)
        for session in reversed(response.sessions):
            if self.ids.from_service(app_name, session) is not None:
                return scope_of(session, prefix)
        return {}

    # -- writes ------------------------------------------------------------------

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        flat = prefixed_delta(delta)
        await self._ready()
        flat[META_KEY] = Meta(1, 1, now()).as_state(key)
        app, user, sid = self.ids.to_service(key)
        with translated(key, self.service):
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
        with translated(key, self.service):
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
            state=prefixed_delta(delta),
            expected_revision=expected_revision,
        )
        assert written is not None
        meta, seq, ts, _ = written
        return Appended(seq=seq, revision=meta.rev, timestamp=ts)

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        written = await self._write(
            key, state=prefixed_delta(delta), expected_revision=expected_revision
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
            with translated("(closing)", self.service):
                await close()
