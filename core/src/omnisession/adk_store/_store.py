""":class:`ADKServiceStore`: each hook of the contract as calls to an ADK session service."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from google.adk.errors import StaleSessionError
from google.adk.events.event import Event as ADKEvent
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.sessions.session import Session as ADKSession

from .. import _json
from ..backend import ValidatingStore, decode_cursor, encode_cursor
from ..errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidEntry,
    InvalidKey,
    SessionNotFound,
    StaleSession,
    Unsupported,
)
from ..model import (
    APP_PREFIX,
    USER_PREFIX,
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    check_id,
    now,
    split_state,
)
from ..store import Capability
from ..writes import Committed, Creation, Write
from ._capabilities import capabilities_of, has_shared_scopes, is_vertex
from ._errors import translated
from ._ids import HashedIds, PlainIds, ServiceIds
from ._locks import locks_for
from ._records import (
    META_KEY,
    METADATA_KEY,
    Entry,
    Meta,
    Scan,
    _copied,
    commit_time,
    meta_of,
    prefixed_delta,
    public_state,
    record_text,
    scan,
    scope_of,
)
from ._upstream import ServiceKind, app_names, service_kind

__all__ = ["ADKServiceStore"]

_AUTHOR = "omnisession"
_MAX_RETRIES = 64
_WINDOW_SLACK = 16
# A window past this is the whole history (and fits every driver's LIMIT).
_MAX_WINDOW = 1 << 30
# ``since`` pre-filter slack: services keep timestamps to the microsecond.
_SINCE_SLACK = 1e-3

_NO_LIST_APPS = (
    "ADK's session service API has no list of apps, and this service keeps none this "
    "store can read (the Vertex AI Agent Engine has no apps; a SQLite service in memory "
    "or another service is not read behind its back); name the app instead "
    "(list_sessions, purge_sessions, copy --app)"
)
_NO_SCOPE_DELETE = (
    "ADK's session service API cannot delete app: or user: state (it has no call for "
    "it), so this store cannot erase a user or an app; delete their sessions with "
    "delete_session() or purge_sessions(), and the scope rows in the service's own "
    "storage (the app_states / user_states tables), or copy the data to an omnisession "
    "store first (omnisession copy)"
)
_NO_SHARED_SCOPES = (
    "this ADK service keeps app: and user: state per session (the Vertex AI Agent Engine "
    "has no app or user scope), so there is no scope to update on its own"
)


@dataclass
class _Loaded:
    """A session as read for a hook: the ADK session, its bookkeeping, its entries."""

    session: ADKSession
    meta: Meta | None
    found: Scan | None
    """``None`` for a pending session (nothing scanned)."""


def _is_ours(event: ADKEvent) -> bool:
    metadata = event.custom_metadata
    return bool(metadata) and isinstance(metadata.get(METADATA_KEY), str)  # type: ignore[union-attr]


class ADKServiceStore(ValidatingStore):
    """An omnisession :class:`~omnisession.SessionStore` backed by an ADK session service.

    :class:`~omnisession.backend.ValidatingStore` checks and encodes the
    arguments; the hooks below map each operation onto the service (see the
    package docs).

    ``service`` is any ``google.adk.sessions.BaseSessionService``.
    ``capabilities`` defaults to what :func:`capabilities_of` knows the service
    keeps; pass it for a community service you have measured with the
    conformance suite. ``ids`` defaults to :class:`HashedIds` for Vertex AI
    and :class:`PlainIds` otherwise. ``shared_scopes`` says whether ``app:`` /
    ``user:`` state is shared between sessions (ADK's contract; not on Vertex
    AI). With ``owns_service`` the service's ``close()`` (where it has one) is
    awaited by :meth:`aclose`.
    """

    def __init__(
        self,
        service: BaseSessionService,
        *,
        capabilities: frozenset[Capability] | None = None,
        ids: ServiceIds | None = None,
        owns_service: bool = False,
        shared_scopes: bool | None = None,
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
        self.shared_scopes = has_shared_scopes(service) if shared_scopes is None else shared_scopes
        self.ids: ServiceIds = ids or (
            HashedIds() if is_vertex(service) else PlainIds(anchors=self.shared_scopes)
        )
        # Vertex AI lists every event of a session whatever num_recent_events says
        # (ADK trims client-side): one full read beats widening windows.
        self._windowed = not is_vertex(service)
        # ADK's persistent services serialise state with pydantic-core (no lone surrogates).
        self._utf8_state = service_kind(service) in (ServiceKind.DATABASE, ServiceKind.SQLITE)
        self._owns_service = owns_service
        self._locks = locks_for(service)
        self._closed = False
        self._anchored: set[tuple[str, str, str]] = set()
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
            with translated("preparing its tables", self.service):
                try:
                    await prepare()
                except Exception:
                    await prepare()
        self._prepared = True

    async def _fetch(
        self, key: SessionKey, recent: int | None = None, after: float | None = None
    ) -> ADKSession | None:
        app, user, sid = self.ids.to_service(key)
        return await self._fetch_ids(app, user, sid, str(key), recent, after)

    async def _fetch_ids(
        self,
        app: str,
        user: str,
        sid: str,
        what: str,
        recent: int | None = None,
        after: float | None = None,
    ) -> ADKSession | None:
        config = GetSessionConfig(num_recent_events=recent, after_timestamp=after)
        with translated(f"session {what}", self.service, what):
            try:
                return await self.service.get_session(
                    app_name=app, user_id=user, session_id=sid, config=config
                )
            except ValueError as exc:
                if not self._vertex_refusal(exc):
                    raise
                # VertexAiSessionService checks ids itself: a session id the engine
                # cannot hold, or one that belongs to another user, is no session here.
                return None

    def _vertex_refusal(self, exc: ValueError) -> bool:
        """Whether ``exc`` is VertexAiSessionService refusing an id (a plain ValueError)."""
        return type(exc) is ValueError and is_vertex(self.service)

    async def _load(
        self,
        key: SessionKey,
        want: int | None,
        *,
        before: int | None = None,
        since: float | None = None,
        pending: bool = False,
    ) -> _Loaded | None:
        """The session and a scan of its visible entries; ``None`` if missing.

        A pending session (a creation under way) is missing unless ``pending``.
        Fetches the newest ``want`` events plus a little (so a few hidden ones do
        not cost a second round trip), widened fourfold while they cannot
        decide; a session ADK wrote itself is read whole (its entries are
        numbered from its first event). ``since`` pre-selects events with the
        service's ``after_timestamp``.
        """
        after = None if since is None else since - _SINCE_SLACK
        window: int | None = None
        if self._windowed and want is not None and after is None:
            window = 1 if want == 0 and before is None else want + _WINDOW_SLACK
            if window > _MAX_WINDOW:
                window = None
        while True:
            session = await self._fetch(key, window, after)
            if session is None:
                return None
            meta = meta_of(session)
            if meta is not None and meta.pending:
                return _Loaded(session, meta, None) if pending else None
            if meta is None and window is not None:
                window = None  # ADK's own session: its entries are numbered from the start
                continue
            events = session.events
            if after is not None:
                at_start = not any(not e.partial and not _is_ours(e) for e in events)
            else:
                at_start = window is None or len(events) < window
            found = scan(
                events,
                at_start=at_start,
                want=want,
                before=before,
                fallback_next=meta.next_seq if meta is not None else 1,
            )
            if found is not None:
                return _Loaded(session, meta, found)
            if after is not None:
                after = None  # ADK's own events need the whole history to be numbered
                window = None
            elif window is not None:
                window = window * 4 if window * 4 <= _MAX_WINDOW else None

    def _record(
        self,
        key: SessionKey,
        session: ADKSession,
        entries: list[Entry],
        *,
        with_base: bool = True,
    ) -> SessionRecord:
        meta = meta_of(session)
        if meta is None:
            created = updated = session.last_update_time
            revision, base = 0, None
        else:
            created, revision = meta.created_at, meta.rev
            updated = meta.updated_at if meta.updated_at is not None else session.last_update_time
            base = _json.loads(meta.base) if with_base and meta.base is not None else None
        return SessionRecord(
            key=key,
            state=public_state(session),
            events=[Event(e.seq, e.timestamp, e.data, e.delta) for e in entries],
            created_at=created,
            updated_at=updated,
            revision=revision,
            base_state=base,
        )

    # -- reads -------------------------------------------------------------------

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        await self._ready()
        if last == 0:
            session = await self._fetch(key, 0)
            if session is None:
                return None
            meta = meta_of(session)
            if meta is not None and meta.pending:
                return None
            return self._record(key, session, [])
        loaded = await self._load(key, last, since=since)
        if loaded is None:
            return None
        assert loaded.found is not None
        entries = loaded.found.entries[::-1]
        if since is not None:
            entries = [entry for entry in entries if entry.timestamp >= since]
        return self._record(key, loaded.session, entries)

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        after = tuple(decode_cursor(cursor, float, str, str)) if cursor else None
        await self._ready()
        rows = []
        for key, session in await self._listed(app_name, user_id):
            meta = meta_of(session)
            if meta is not None and meta.pending:
                continue
            record = self._record(key, session, [], with_base=False)
            rows.append(((record.updated_at, key.user_id, key.session_id), record))
        rows.sort(key=lambda row: row[0])
        if after is not None:
            rows = [row for row in rows if row[0] > after]
        chunk = rows[: page_size + 1]
        next_cursor = encode_cursor(*chunk[page_size - 1][0]) if len(chunk) > page_size else None
        return Page([record for _, record in chunk[:page_size]], next_cursor)

    async def _listed(
        self, app_name: str, user_id: str | None
    ) -> list[tuple[SessionKey, ADKSession]]:
        """Every session of the app (or user) the service lists that maps to a key."""
        service_user = None if user_id is None else self.ids.user_to_service(user_id)
        with translated(f"listing the sessions of app {app_name!r}", self.service):
            response = await self.service.list_sessions(app_name=app_name, user_id=service_user)
        found = []
        for session in response.sessions:
            key = self.ids.from_service(app_name, session)
            if key is not None and (user_id is None or key.user_id == user_id):
                found.append((key, session))
        return found

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        await self._ready()
        loaded = await self._load(key, limit)
        if loaded is None:
            return []
        assert loaded.found is not None
        return [entry.data for entry in reversed(loaded.found.entries)]

    async def _get_events(
        self,
        key: SessionKey,
        after: int | None,
        before: int | None,
        limit: int,
        oldest_first: bool,
    ) -> list[Event]:
        """A page of the history. ADK services read events only newest-first (or from a
        time on), so a page costs what the events from it to the newest cost: a page
        far back in a long history, or any page ``oldest_first``, reads more than
        ``limit`` events."""
        await self._ready()
        loaded = await self._load(key, None if oldest_first else limit, before=before)
        if loaded is None:
            return []
        assert loaded.found is not None
        entries = [
            entry
            for entry in reversed(loaded.found.entries)
            if (after is None or entry.seq > after) and (before is None or entry.seq < before)
        ]
        entries = entries[:limit] if oldest_first else entries[-limit:]
        return [Event(e.seq, e.timestamp, e.data, e.delta) for e in entries]

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        await self._ready()
        with translated(f"the user state of {user_id!r} in app {app_name!r}", self.service):
            try:
                state = await self.service.get_user_state(
                    app_name=app_name, user_id=self.ids.user_to_service(user_id)
                )
            except NotImplementedError:
                return await self._scope_from_sessions(app_name, user_id, USER_PREFIX)
        return _copied(dict(state))

    async def _get_app_state(self, app_name: str) -> JSONObject:
        await self._ready()
        anchor = self.ids.app_anchor(app_name)
        if anchor is not None:
            session = await self._fetch_ids(*anchor, f"(app {app_name!r})", recent=0)
            if session is not None:
                return scope_of(session, APP_PREFIX)
        return await self._scope_from_sessions(app_name, None, APP_PREFIX)

    async def _scope_from_sessions(
        self, app_name: str, user_id: str | None, prefix: str
    ) -> JSONObject:
        """A scope read from the merged state of the newest session that shows it."""
        listed = await self._listed(app_name, user_id)
        if not listed:
            return {}
        newest = max(listed, key=lambda pair: pair[1].last_update_time)[1]
        return scope_of(newest, prefix)

    # -- writes ------------------------------------------------------------------

    async def _write(self, write: Write) -> Committed:
        committed, _ = await self._commit(write)
        return committed

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        stamp = now()
        _, session = await self._commit(
            Write(key, updated_at=stamp, delta=delta, creation=Creation.ONLY, created_at=stamp)
        )
        assert session is not None
        return self._record(key, session, [])

    async def _commit(self, write: Write) -> tuple[Committed, ADKSession | None]:
        """:meth:`_write`, returning the ADK session a creation without events made."""
        key = write.key
        # refuses the reserved key (and what the service cannot store) before any I/O
        delta = prefixed_delta(write.delta, utf8_only=self._utf8_state)
        base = None
        if write.base_state is not None:
            if META_KEY in write.base_state:
                raise InvalidEntry(
                    f"state key {META_KEY!r} is reserved for omnisession's bookkeeping; rename it"
                )
            base = _json.dumps(write.base_state, what="base state")
        await self._ready()
        if write.delta.app:
            await self._ensure_anchor(self.ids.app_anchor(key.app_name))
        async with self._locks.hold(key):
            for _attempt in range(_MAX_RETRIES):
                loaded = await self._load(key, 0, pending=True)
                try:
                    if loaded is None or loaded.found is None:
                        if write.creation is Creation.NEVER:
                            raise SessionNotFound(key)
                        if loaded is None:
                            return await self._create(write, delta, base)
                        # A pending session: a creation under way elsewhere, or one that
                        # was interrupted. Complete it with this write; the service's
                        # stale-writer check decides if the other creator got there first.
                        committed = await self._complete(write, delta, base, loaded.session)
                        return committed, None
                    if write.creation is Creation.ONLY:
                        raise AlreadyExists(key)
                    old = loaded.meta.rev if loaded.meta is not None else 0
                    expected = write.expected_revision
                    if expected is not None and expected != old:
                        raise StaleSession(key, expected, old)
                    return await self._append(write, delta, loaded), None
                except AlreadyExists:
                    if write.creation is Creation.ONLY:
                        raise
                    continue  # created by someone else meanwhile: append to it
                except SessionNotFound:
                    if write.creation is Creation.NEVER:
                        raise
                    continue  # deleted (or its creation taken over) meanwhile: create it
                except StaleSessionError as exc:
                    if write.expected_revision is not None:
                        current = await self._fetch(key, 0)
                        meta = meta_of(current) if current is not None else None
                        actual = meta.rev if meta is not None else write.expected_revision + 1
                        raise StaleSession(key, write.expected_revision, actual) from exc
                    continue
        raise BackendUnavailable(
            f"session {key}: {_MAX_RETRIES} writes in a row lost to concurrent writers; retry"
        )

    async def _create(
        self, write: Write, delta: JSONObject, base: str | None
    ) -> tuple[Committed, ADKSession]:
        """Create the session for ``write``: one ``create_session`` when it carries no
        events; otherwise a pending placeholder that one ``append_event`` completes
        with everything (readers see no session until then). A placeholder whose
        completion fails stays pending, invisible, until the next creating write
        completes it: deleting it could delete another process's completed session."""
        key = write.key
        assert write.created_at is not None
        if not write.events:
            meta = Meta(1, 1, write.created_at, write.updated_at, self._base_text(write, base))
            state = dict(delta)
            state[META_KEY] = meta.as_state(key)
            session = await self._create_ids(key, state)
            return Committed(1, None), session
        placeholder = Meta(0, 1, write.created_at, write.updated_at, None, pending=True)
        session = await self._create_ids(key, {META_KEY: placeholder.as_state(key)})
        return await self._complete(write, delta, base, session), session

    def _base_text(self, write: Write, base: str | None) -> str:
        """A created session's base state: the write's own, or its session delta."""
        return base if base is not None else _json.dumps(write.delta.session, what="state")

    async def _complete(
        self, write: Write, delta: JSONObject, base: str | None, placeholder: ADKSession
    ) -> Committed:
        """Complete a pending session with the creating ``write`` (one append)."""
        if write.creation is Creation.NEVER:  # pragma: no cover - callers check
            raise SessionNotFound(write.key)
        assert write.created_at is not None
        meta = Meta(0, 1, write.created_at, write.updated_at, self._base_text(write, base))
        return await self._append(
            write, delta, _Loaded(placeholder, meta, Scan([], 1, None)), fresh=True
        )

    async def _append(
        self, write: Write, delta: JSONObject, loaded: _Loaded, *, fresh: bool = False
    ) -> Committed:
        """One ADK event carrying ``write`` to an existing (or just created) session."""
        key, session, meta = write.key, loaded.session, loaded.meta
        assert loaded.found is not None
        first = loaded.found.next_seq
        next_seq = first
        entries: list[tuple[int, float, str, str | None]] = []
        for event in write.events:
            seq = next_seq if event.seq is None else event.seq
            entries.append((seq, event.timestamp, event.data, event.delta))
            next_seq = max(next_seq, seq + 1)
        if fresh:
            assert meta is not None
            base = meta.base
        elif first == 1:
            # No event yet: the state before the first event is the current state
            # (plus this write's, when it appends none).
            state = split_state(public_state(session)).session
            if not write.events:
                state.update(write.delta.session)
            try:
                base = _json.dumps(state, what="state")
            except InvalidEntry:  # state ADK itself holds that is not JSON: base unknown
                base = None
        else:
            base = meta.base if meta is not None else None
        created = meta.created_at if meta is not None else session.last_update_time
        new_meta = Meta(
            1 if fresh else (meta.rev if meta is not None else 0) + 1,
            next_seq,
            created,
            write.updated_at,
            base,
        )
        text = record_text(new_meta.rev, next_seq, entries, cut=write.truncate_from)
        state_delta = dict(delta)
        state_delta[META_KEY] = new_meta.as_state(key)
        floor = max((event.timestamp for event in write.events), default=None)
        await self._append_event(key, session, text, state_delta, floor)
        return Committed(new_meta.rev, entries[0][0] if entries else None)

    async def _append_event(
        self,
        what: object,
        session: ADKSession,
        text: str,
        state_delta: JSONObject,
        floor: float | None,
    ) -> None:
        event = ADKEvent(
            id=uuid.uuid4().hex,
            invocation_id=_AUTHOR,
            author=_AUTHOR,
            timestamp=commit_time(session, floor),
            custom_metadata={METADATA_KEY: text},
            actions=EventActions(state_delta=state_delta),
        )
        with translated(f"session {what}", self.service, what):
            await self.service.append_event(session, event)

    async def _create_ids(self, key: SessionKey, state: JSONObject) -> ADKSession:
        app, user, sid = self.ids.to_service(key)
        with translated(f"session {key}", self.service, key):
            try:
                return await self.service.create_session(
                    app_name=app, user_id=user, state=state, session_id=sid
                )
            except ValueError as exc:
                if not self._vertex_refusal(exc):
                    raise
                raise InvalidKey(
                    f"{type(self.service).__name__} refuses session {key}: {exc}; open the "
                    "store with ids=hashed to store any key"
                ) from exc

    async def _delete_ids(self, ids: tuple[str, str, str], what: str) -> None:
        app, user, sid = ids
        with translated(f"deleting session {what}", self.service):
            try:
                await self.service.delete_session(app_name=app, user_id=user, session_id=sid)
            except ValueError as exc:
                if not self._vertex_refusal(exc):
                    raise
                # an id Vertex AI cannot hold, or a session of another user: none here

    async def _delete_session(self, key: SessionKey) -> None:
        await self._ready()
        await self._delete_ids(self.ids.to_service(key), str(key))

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        await self._ready()
        async with self._locks.hold(key):
            for _attempt in range(_MAX_RETRIES):
                loaded = await self._load(key, 1)
                if loaded is None:
                    return None
                assert loaded.found is not None
                if not loaded.found.entries:
                    return None
                newest, meta, session = loaded.found.entries[0], loaded.meta, loaded.session
                rev = (meta.rev if meta is not None else 0) + 1
                next_seq = loaded.found.next_seq
                new_meta = Meta(
                    rev,
                    next_seq,
                    meta.created_at if meta is not None else session.last_update_time,
                    now(),
                    meta.base if meta is not None else None,
                )
                text = record_text(rev, next_seq, popped=[newest.seq])
                try:
                    await self._append_event(
                        key, session, text, {META_KEY: new_meta.as_state(key)}, None
                    )
                except StaleSessionError:
                    continue
                except SessionNotFound:  # deleted meanwhile: nothing to pop
                    return None
                return newest.data
        raise BackendUnavailable(
            f"session {key}: {_MAX_RETRIES} pops in a row lost to concurrent writers; retry"
        )

    # -- lifecycle -----------------------------------------------------------------

    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        """Delete each idle session; under the store's lock, so no write through a store
        on this service object slips in between the check and the delete (a writer in
        another process can: ADK's API has no conditional delete)."""
        await self._ready()
        deleted = 0
        for key in keys:
            async with self._locks.hold(key):
                session = await self._fetch(key, 1 if self._windowed else None)
                if session is None:
                    continue
                meta = meta_of(session)
                if meta is not None and meta.pending:
                    continue
                updated = self._record(key, session, [], with_base=False).updated_at
                newest = next((e for e in reversed(session.events) if not e.partial), None)
                if newest is not None and not _is_ours(newest):
                    updated = max(updated, newest.timestamp)  # ADK wrote to it after us
                if updated >= updated_before:
                    continue
                await self._delete_ids(self.ids.to_service(key), str(key))
                deleted += 1
        return deleted

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        if self.shared_scopes:
            raise Unsupported(f"{self!r} cannot erase: {_NO_SCOPE_DELETE}")
        # No shared scope: a user's (an app's) state lives and dies with its sessions.
        await self._ready()
        deleted = 0
        for key, session in await self._listed(app_name, user_id):
            async with self._locks.hold(key):
                await self._delete_ids(self.ids.to_service(key), str(key))
            meta = meta_of(session)
            deleted += 0 if meta is not None and meta.pending else 1
        return deleted

    async def _list_apps(self) -> list[str]:
        """The apps ADK's own local services hold (read through the guarded adapter)."""
        await self._ready()
        with translated("listing apps", self.service):
            names = await app_names(self.service)
        if names is None:
            raise Unsupported(f"{self!r} cannot list apps: {_NO_LIST_APPS}")
        listed = []
        for name in names:
            with contextlib.suppress(InvalidKey):  # an app no key can name (e.g. "")
                listed.append(check_id("app_name", name))
        return sorted(listed)

    async def _update_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        if not self.shared_scopes:
            raise Unsupported(f"{self!r} cannot update scope state: {_NO_SHARED_SCOPES}")
        if user_id is None:
            anchor, prefix = self.ids.app_anchor(app_name), APP_PREFIX
        else:
            user_anchor = getattr(self.ids, "user_anchor", None)
            anchor = user_anchor(app_name, user_id) if user_anchor is not None else None
            prefix = USER_PREFIX
        if anchor is None:
            raise Unsupported(
                f"{self!r} cannot update scope state: its ids ({type(self.ids).__name__}) "
                "name no bookkeeping session to write it through"
            )
        if not values:
            return
        delta: JSONObject = _json.loads(
            _json.dumps({prefix + name: value for name, value in values.items()}, what="state")
        )
        await self._ready()
        await self._ensure_anchor(anchor)
        what = f"(bookkeeping session of app {app_name!r})"
        async with self._locks.hold(anchor):
            for _attempt in range(_MAX_RETRIES):
                session = await self._fetch_ids(*anchor, what, recent=0)
                if session is None:
                    self._anchored.discard(anchor)
                    await self._ensure_anchor(anchor)
                    continue
                try:
                    await self._append_event(what, session, record_text(0, 1), delta, None)
                except StaleSessionError:
                    continue
                return
        raise BackendUnavailable(f"{what}: {_MAX_RETRIES} writes in a row lost; retry")

    async def _ensure_anchor(self, anchor: tuple[str, str, str] | None) -> None:
        """Create a bookkeeping session once (it keeps a scope readable and writable
        when the scope's sessions are gone)."""
        if anchor is None or anchor in self._anchored:
            return
        app, user, sid = anchor
        what = f"(bookkeeping session of app {app!r})"
        if await self._fetch_ids(app, user, sid, what, recent=0) is None:
            with (
                contextlib.suppress(AlreadyExists),
                translated(f"session {what}", self.service, what),
            ):
                await self.service.create_session(
                    app_name=app, user_id=user, session_id=sid, state={}
                )
        self._anchored.add(anchor)

    async def aclose(self) -> None:
        """Close the service if this store owns it (``close()`` where it has one)."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self.service, "close", None)
        if self._owns_service and close is not None:
            with translated("closing", self.service):
                await close()
