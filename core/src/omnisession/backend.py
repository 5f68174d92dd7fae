"""What a backend author needs: :class:`ValidatingStore`, the write primitive, the checks.

Every built-in backend subclasses :class:`ValidatingStore`, so the same input
gets the same error whatever the engine, and every operation that can be
built from a few storage hooks is built once, here. A third-party backend is
encouraged to do the same: implement the hooks (``_write``, ``_get_session``,
...) and the whole contract works, checked, with nothing repeated.

This module re-exports the pieces a backend uses: the argument checks and
encodings of :mod:`omnisession.checks`, the write primitive of
:mod:`omnisession.writes`, the JSON codec and the option parser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from . import _json
from .checks import (
    DEFAULT_PAGE_SIZE,
    MAX_COUNT,
    MAX_PAGE_SIZE,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    check_count,
    check_expected_revision,
    check_key,
    check_last,
    check_limit,
    check_page_size,
    check_scope_id,
    check_seq,
    check_since,
    check_timestamp,
    decode_cursor,
    encode_cursor,
    encode_delta,
    encode_entries,
    encode_entry,
    encode_state_delta,
)
from .errors import AlreadyExists, InvalidEntry, SessionNotFound, Unsupported
from .model import (
    Appended,
    Event,
    EventPage,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    now,
    split_state,
)
from .options import Option, ParsedURL, parse_options
from .store import Capability
from .writes import Committed, Creation, NewEvent, Write, rebuild_state

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_PAGE_SIZE",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "Committed",
    "Creation",
    "NewEvent",
    "Option",
    "ParsedURL",
    "StoreBase",
    "ValidatingStore",
    "Write",
    "check_count",
    "check_expected_revision",
    "check_key",
    "check_last",
    "check_limit",
    "check_page_size",
    "check_scope_id",
    "check_seq",
    "check_since",
    "check_timestamp",
    "decode_cursor",
    "dumps",
    "encode_cursor",
    "encode_delta",
    "encode_entries",
    "encode_entry",
    "encode_state_delta",
    "loads",
    "loads_all",
    "parse_options",
    "rebuild_state",
]

MAX_DEPTH = _json.MAX_DEPTH
dumps = _json.dumps
loads = _json.loads
loads_all = _json.loads_all

_BEFORE, _AFTER = "before", "after"


class StoreBase:
    """Optional base class: async context management and a ``capabilities`` default."""

    capabilities: frozenset[Capability] = frozenset({Capability.BASE})

    async def aclose(self) -> None:
        """Release resources; override when the backend holds any."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class ValidatingStore(StoreBase):
    """Template base class: the whole public contract, checked; a backend adds storage.

    Every public coroutine of :class:`~omnisession.SessionStore` is defined
    here. Each validates and encodes its arguments *before any I/O* (ids,
    counts, cursors, timestamps, revisions, every payload and state value as
    strict JSON at most ``MAX_DEPTH`` deep), so bad input raises the same
    error on every backend and never reaches the engine, then calls hooks.
    The hooks are all a backend implements:

    * :meth:`_write` -- THE write primitive (see :mod:`omnisession.writes`):
      ``append_event``, ``update_state``, ``add_items``, ``clear_session``,
      ``replace_events``, ``import_session`` and the default
      ``create_session`` and ``fork_session`` are built on it.
    * reads: :meth:`_get_session`, :meth:`_list_sessions`, :meth:`_get_items`,
      :meth:`_get_events`, :meth:`_get_user_state`, :meth:`_get_app_state`.
    * the other writes: :meth:`_delete_session`, :meth:`_pop_item`.
    * lifecycle (``Capability.LIFECYCLE``): :meth:`_delete_idle` (purge),
      :meth:`_erase`, :meth:`_list_apps`, :meth:`_update_scope`.
    * optional fast paths with defaults built on the above:
      :meth:`_create_session`, :meth:`_fork_session`.

    What a hook receives: ``key`` a checked :class:`SessionKey`;
    ``app_name`` / ``user_id`` ids checked the same way; payloads as JSON
    text; state split by scope with ``temp:`` dropped (its dicts may share
    values with the caller's: copy them if the engine keeps Python objects);
    ``last`` / ``limit`` ``None`` or ``0 .. 2**63-1`` (``_get_items`` never
    gets 0); ``since`` ``None`` or a float in the timestamp range (one that
    matches nothing arrives as ``last=0, since=None``); ``page_size`` ``1 ..
    10,000``; ``cursor`` ``None`` or a non-empty string the backend decodes
    with :func:`decode_cursor` (a forged one is a ``ValueError``).

    A hook keeps the rest of the contract: atomic writes, ``AlreadyExists``,
    ``SessionNotFound``, ``StaleSession``, ``BackendUnavailable`` for an
    outage and ``BackendRejected`` for a refusal. Run
    ``omnisession-conformance`` against the store to prove it. An
    unimplemented base hook raises ``NotImplementedError``; an unimplemented
    lifecycle hook raises :class:`~omnisession.errors.Unsupported`.
    """

    # -- sessions --------------------------------------------------------------------

    async def create_session(
        self, key: SessionKey, state: Mapping[str, Any] | None = None
    ) -> SessionRecord:
        """Create an empty session with ``state`` split by scope.

        ``AlreadyExists`` if the key is taken. ``app:`` / ``user:`` keys go to
        the app and user scopes, ``temp:`` keys are never stored.
        """
        check_key(key)
        return await self._create_session(key, encode_state_delta(state))

    async def get_session(
        self, key: SessionKey, *, last: int | None = None, since: float | None = None
    ) -> SessionRecord | None:
        """The session with its events in append order, or ``None`` if missing.

        ``last=N``: only the newest N events (0: none; negative: ``ValueError``);
        ``since=t``: only events with ``timestamp >= t``. The cost does not grow
        with the length of the history.
        """
        check_key(key)
        last = check_last(last)
        bound, matches_nothing = check_since(since)
        if matches_nothing:
            last, bound = 0, None
        return await self._get_session(key, last, bound)

    async def list_sessions(
        self,
        app_name: str,
        user_id: str | None = None,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """Sessions of an app (or of one user) without events, oldest ``updated_at`` first.

        A page holds at most ``page_size`` records (default 100, at most
        10,000); pass its ``next_cursor`` back unchanged for the next page.
        ``ValueError`` for a page size out of range or a forged cursor.
        """
        check_scope_id("app_name", app_name)
        if user_id is not None:
            check_scope_id("user_id", user_id)
        size = check_page_size(page_size)
        if cursor is not None and not isinstance(cursor, str):
            raise TypeError(f"cursor must be a str or None, got {type(cursor).__name__}")
        return await self._list_sessions(app_name, user_id, size, cursor or None)

    async def delete_session(self, key: SessionKey) -> None:
        """Remove the session, its events and its session state; idempotent.

        App and user state stay.
        """
        await self._delete_session(check_key(key))

    # -- history and state -------------------------------------------------------------

    async def append_event(
        self,
        key: SessionKey,
        data: JSONObject,
        *,
        state_delta: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        expected_revision: int | None = None,
    ) -> Appended:
        """Append one event and apply ``state_delta`` to its scopes in ONE atomic write.

        ``InvalidEntry`` (before anything is written) if ``data`` or a state
        value is not JSON; ``SessionNotFound`` if the session is missing;
        ``StaleSession`` if ``expected_revision`` is given and differs.
        ``timestamp`` defaults to now and becomes the session's
        ``updated_at``. Returns the event's ``seq``, the new ``revision`` and
        the ``timestamp``.
        """
        check_key(key)
        entry = encode_entry(data)
        delta = encode_state_delta(state_delta)
        stamp = check_timestamp(timestamp)
        expected = check_expected_revision(expected_revision)
        stamp = now() if stamp is None else stamp
        committed = await self._write(
            Write(
                key,
                updated_at=stamp,
                events=(NewEvent(entry, stamp, encode_delta(delta)),),
                delta=delta,
                expected_revision=expected,
            )
        )
        assert committed.first_seq is not None
        return Appended(seq=committed.first_seq, revision=committed.revision, timestamp=stamp)

    async def update_state(
        self,
        key: SessionKey,
        state_delta: Mapping[str, Any],
        *,
        expected_revision: int | None = None,
    ) -> int:
        """Apply ``state_delta`` to its scopes in one atomic write, without an event.

        ``SessionNotFound`` if missing, ``StaleSession`` on a wrong
        ``expected_revision``. Returns the session's new revision.
        """
        check_key(key)
        delta = encode_state_delta(state_delta)
        expected = check_expected_revision(expected_revision)
        write = Write(key, updated_at=now(), delta=delta, expected_revision=expected)
        return (await self._write(write)).revision

    async def get_items(self, key: SessionKey, limit: int | None = None) -> list[JSONObject]:
        """Event payloads oldest first (only the newest ``limit``); ``[]`` if missing."""
        check_key(key)
        if check_limit(limit) == 0:
            return []
        return await self._get_items(key, limit)

    async def add_items(self, key: SessionKey, items: Sequence[JSONObject]) -> None:
        """Append all ``items`` in one atomic write, creating the session if missing.

        Every item is checked first: one that is not JSON fails the whole
        batch with ``InvalidEntry`` before anything is written.
        """
        check_key(key)
        entries = encode_entries(items)
        if not entries:
            return
        stamp = now()
        await self._write(
            Write(
                key,
                updated_at=stamp,
                events=tuple(NewEvent(entry, stamp) for entry in entries),
                creation=Creation.IF_MISSING,
                created_at=stamp,
            )
        )

    async def pop_item(self, key: SessionKey) -> JSONObject | None:
        """Remove and return the newest item (``None`` if none); each is returned at most once."""
        return await self._pop_item(check_key(key))

    async def clear_session(self, key: SessionKey) -> None:
        """Remove every event of the session, keeping the session and its state."""
        check_key(key)
        try:
            await self._write(Write(key, updated_at=now(), truncate_from=0))
        except SessionNotFound:
            return

    async def get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        """The user scope, un-prefixed; ``{}`` if none."""
        check_scope_id("app_name", app_name)
        check_scope_id("user_id", user_id)
        return await self._get_user_state(app_name, user_id)

    async def get_app_state(self, app_name: str) -> JSONObject:
        """The app scope, un-prefixed; ``{}`` if none."""
        check_scope_id("app_name", app_name)
        return await self._get_app_state(app_name)

    async def get_events(
        self,
        key: SessionKey,
        *,
        cursor: str | None = None,
        page_size: int | None = None,
        oldest_first: bool = False,
    ) -> EventPage:
        """One page of the session's history, each page oldest event first.

        By default pages go backwards in time: the first page is the newest
        ``page_size`` events (default 100, at most 10,000), and its
        ``next_cursor`` fetches the ones before them. ``oldest_first=True``
        walks forwards from the first event instead (what an export does).
        The cost of a page does not depend on the length of the history. A
        missing session gives an empty page; a forged cursor, or one from the
        other direction, ``ValueError``.
        """
        check_key(key)
        size = check_page_size(page_size)
        after = before = None
        if cursor is not None:
            direction, seq = decode_cursor(cursor, str, int)
            if direction != (_AFTER if oldest_first else _BEFORE):
                raise ValueError(
                    f"cursor {cursor!r} pages the other way: pass the same oldest_first "
                    "as the call that returned it"
                )
            after, before = (seq, None) if oldest_first else (None, seq)
        events = await self._get_events(key, after, before, size + 1, oldest_first)
        if len(events) <= size:
            return EventPage(events)
        if oldest_first:
            events = events[:size]
            return EventPage(events, encode_cursor(_AFTER, events[-1].seq))
        events = events[-size:]
        return EventPage(events, encode_cursor(_BEFORE, events[0].seq))

    async def replace_events(
        self,
        key: SessionKey,
        from_seq: int,
        items: Sequence[JSONObject],
        *,
        expected_revision: int,
    ) -> int:
        """Atomically replace the events with ``seq >= from_seq`` by ``items``.

        Only if the session is still at ``expected_revision``: otherwise
        ``StaleSession`` and nothing changes. ``from_seq`` 0 (or the first
        event's seq) replaces the whole history; an empty ``items`` only
        truncates. The new items get new sequence numbers (numbers are never
        reused). Returns the new revision. ``Capability.REPLACE``.
        """
        check_key(key)
        start = check_seq("from_seq", from_seq)
        entries = encode_entries(items)
        expected = check_expected_revision(expected_revision)
        if expected is None:
            raise TypeError("replace_events needs the expected_revision the caller read")
        stamp = now()
        write = Write(
            key,
            updated_at=stamp,
            events=tuple(NewEvent(entry, stamp) for entry in entries),
            expected_revision=expected,
            truncate_from=start,
        )
        return (await self._write(write)).revision

    # -- lifecycle (Capability.LIFECYCLE) --------------------------------------------------

    async def fork_session(
        self, source: SessionKey, target: SessionKey, *, up_to: int | None = None
    ) -> SessionRecord:
        """Copy ``source`` to the new key ``target`` atomically, whole or up to event ``up_to``.

        The copy has the source's events with ``seq <= up_to`` (all of them
        by default), with their numbers, timestamps and recorded deltas. Its
        session state is the source's current state for a whole fork, and
        the state as of event ``up_to`` otherwise: the base state plus the
        recorded deltas of the events kept (state written with
        ``update_state`` after the first event carries no event, so only a
        whole fork has it). ``app:`` and ``user:`` state are shared, not
        copied. ``SessionNotFound`` if the source is missing,
        ``AlreadyExists`` if the target is taken. Returns the new session
        without its events.
        """
        check_key(source, "source")
        check_key(target, "target")
        if up_to is not None:
            check_seq("up_to", up_to)
        if source == target:
            raise AlreadyExists(target)
        return await self._fork_session(source, target, up_to)

    async def purge_sessions(
        self,
        app_name: str,
        updated_before: float,
        *,
        user_id: str | None = None,
        batch_size: int | None = None,
    ) -> int:
        """Delete the sessions of an app (or one user) not updated since ``updated_before``.

        Works in batches of ``batch_size`` sessions (default 100, at most
        10,000): one listing (oldest ``updated_at`` first, so the idle ones
        come first) and one conditional delete per batch. Each delete checks
        ``updated_at < updated_before`` again atomically, so a session written
        to after the cutoff is never deleted, even when the write races the
        purge. App and user state stay. Returns how many sessions were
        deleted.
        """
        check_scope_id("app_name", app_name)
        if user_id is not None:
            check_scope_id("user_id", user_id)
        cutoff = check_timestamp(updated_before, "updated_before")
        assert cutoff is not None
        size = check_page_size(batch_size, "batch_size")
        deleted = 0
        previous: list[SessionKey] = []
        while True:
            page = await self._list_sessions(app_name, user_id, size, None)
            idle = [record.key for record in page.sessions if record.updated_at < cutoff]
            if not idle:
                return deleted
            removed = await self._delete_idle(idle, cutoff)
            if not removed and idle == previous:
                # Nothing moved twice in a row: these sessions are being deleted or
                # written by someone else right now; the next purge will see them.
                return deleted
            deleted += removed
            previous = idle

    async def erase_user(self, app_name: str, user_id: str) -> int:
        """Delete everything of one user in an app: sessions, events, the ``user:`` scope.

        Idempotent. A session created while the erase runs is either erased
        with everything it wrote or kept whole with its scope: no orphaned
        scope is left. Returns how many sessions were deleted.
        """
        check_scope_id("app_name", app_name)
        check_scope_id("user_id", user_id)
        return await self._erase(app_name, user_id)

    async def erase_app(self, app_name: str) -> int:
        """Delete everything of an app: every session, the app scope and every user scope.

        Idempotent; returns how many sessions were deleted.
        """
        check_scope_id("app_name", app_name)
        return await self._erase(app_name, None)

    async def list_apps(self) -> list[str]:
        """Every app with sessions or state in the store, sorted."""
        return sorted(await self._list_apps())

    async def update_app_state(self, app_name: str, delta: Mapping[str, Any]) -> None:
        """Merge ``delta`` (un-prefixed keys) into the app scope, in one atomic write."""
        check_scope_id("app_name", app_name)
        await self._update_scope(app_name, None, _scope_values(delta))

    async def update_user_state(
        self, app_name: str, user_id: str, delta: Mapping[str, Any]
    ) -> None:
        """Merge ``delta`` (un-prefixed keys) into the (app, user) scope, in one atomic write."""
        check_scope_id("app_name", app_name)
        check_scope_id("user_id", user_id)
        await self._update_scope(app_name, user_id, _scope_values(delta))

    async def import_session(
        self,
        key: SessionKey,
        events: Sequence[Event],
        *,
        state: Mapping[str, Any],
        created_at: float,
        updated_at: float,
        base_state: Mapping[str, Any] | None = None,
    ) -> int:
        """Write an exported session, or the part of it the store does not hold yet.

        ``state`` is the session scope (un-prefixed keys) and ``base_state``
        the state before its first event; ``events`` keep their ``seq``,
        timestamp and recorded delta (applied to nothing: ``state`` is already
        the result). When the session is missing it is created with all of
        that in one atomic write. When it exists (an earlier, interrupted
        import), only the events newer than its newest are appended, as one
        atomic write conditional on the revision read: importing the same
        session twice writes nothing the second time. Call it again with the
        next events of a long history (any batch size); returns how many
        events were written.
        """
        check_key(key)
        session_state = _session_values(state, "state")
        base = _session_values(base_state, "base_state") if base_state is not None else None
        created = check_timestamp(created_at, "created_at")
        updated = check_timestamp(updated_at, "updated_at")
        assert created is not None and updated is not None
        encoded = _encode_import_events(events)
        existing = await self._get_session(key, 1, None)
        if existing is None:
            write = Write(
                key,
                updated_at=updated,
                events=encoded,
                delta=StateDelta(session=session_state),
                creation=Creation.ONLY,
                created_at=created,
                base_state=base if base is not None else session_state,
            )
            try:
                await self._write(write)
                return len(encoded)
            except AlreadyExists:
                existing = await self._get_session(key, 1, None)
                if existing is None:  # created and deleted meanwhile: let the caller retry
                    raise
        newest = existing.events[-1].seq if existing.events else 0
        missing = tuple(event for event in encoded if event.seq is not None and event.seq > newest)
        if not missing:
            return 0
        await self._write(
            Write(
                key,
                updated_at=max(existing.updated_at, updated),
                events=missing,
                expected_revision=existing.revision,
            )
        )
        return len(missing)

    # -- the hooks a backend implements ----------------------------------------------------

    def _missing(self, hook: str) -> NotImplementedError:
        return NotImplementedError(
            f"{type(self).__name__} does not implement {hook}(), a storage hook of "
            "omnisession.backend.ValidatingStore"
        )

    def _unsupported(self, operation: str, capability: Capability) -> Unsupported:
        return Unsupported(
            f"{type(self).__name__} cannot {operation}: it does not declare the "
            f"{capability.value!r} capability (see `omnisession backends`)"
        )

    async def _write(self, write: Write) -> Committed:
        """Apply ``write`` as ONE atomic operation (see :mod:`omnisession.writes`)."""
        raise self._missing("_write")

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        """Create the session with ``delta`` applied; ``AlreadyExists`` if taken.

        Default: a :meth:`_write` with ``Creation.ONLY``, then a read of the
        merged state. Override to do both in one round trip.
        """
        stamp = now()
        await self._write(
            Write(key, updated_at=stamp, delta=delta, creation=Creation.ONLY, created_at=stamp)
        )
        record = await self._get_session(key, 0, None)
        if record is None:  # deleted right after it was created
            raise SessionNotFound(key)
        return record

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        """The session with its newest ``last`` events at or after ``since``, or ``None``.

        Events carry their recorded ``state_delta``; the record its ``base_state``.
        """
        raise self._missing("_get_session")

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        """One page of sessions without events; ``ValueError`` for a forged ``cursor``."""
        raise self._missing("_list_sessions")

    async def _delete_session(self, key: SessionKey) -> None:
        """Remove the session, its events and session state; nothing if missing."""
        raise self._missing("_delete_session")

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        """Payloads oldest first, the newest ``limit`` (never 0); ``[]`` if missing."""
        raise self._missing("_get_items")

    async def _get_events(
        self,
        key: SessionKey,
        after: int | None,
        before: int | None,
        limit: int,
        oldest_first: bool,
    ) -> list[Event]:
        """Events with ``after < seq < before``, oldest first: the ``limit`` oldest of
        them when ``oldest_first``, else the ``limit`` newest. ``[]`` if missing.

        Its cost must follow ``limit``, not the length of the history.
        """
        raise self._missing("_get_events")

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        """Remove and return the newest payload atomically; ``None`` if none."""
        raise self._missing("_pop_item")

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        """The user scope, un-prefixed (a fresh dict); ``{}`` if none."""
        raise self._missing("_get_user_state")

    async def _get_app_state(self, app_name: str) -> JSONObject:
        """The app scope, un-prefixed (a fresh dict); ``{}`` if none."""
        raise self._missing("_get_app_state")

    async def _fork_session(
        self, source: SessionKey, target: SessionKey, up_to: int | None
    ) -> SessionRecord:
        """Default fork: one consistent read of the source, one ``Creation.ONLY`` write.

        Holds the source's history in memory; a backend that can copy on the
        server (one statement, one script) overrides this.
        """
        record = await self._get_session(source, None, None)
        if record is None:
            raise SessionNotFound(source)
        kept = [event for event in record.events if up_to is None or event.seq <= up_to]
        whole = len(kept) == len(record.events)
        state = (
            split_state(record.state).session if whole else rebuild_state(record.base_state, kept)
        )
        stamp = now()
        await self._write(
            Write(
                target,
                updated_at=stamp,
                events=_encode_import_events(kept),
                delta=StateDelta(session=state),
                creation=Creation.ONLY,
                created_at=stamp,
                base_state=dict(record.base_state or {}),
            )
        )
        forked = await self._get_session(target, 0, None)
        if forked is None:  # deleted right after it was created
            raise SessionNotFound(target)
        return forked

    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        """Delete each of ``keys`` whose ``updated_at < updated_before`` (checked atomically
        per session at deletion); how many were deleted. ``Capability.LIFECYCLE``."""
        raise self._unsupported("purge sessions", Capability.LIFECYCLE)

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        """Delete every session of the user (of the app when ``user_id`` is ``None``)
        and its scope (the app scope and every user scope); sessions deleted."""
        raise self._unsupported("erase users or apps", Capability.LIFECYCLE)

    async def _list_apps(self) -> list[str]:
        """Every app name with sessions or scope state."""
        raise self._unsupported("list apps", Capability.LIFECYCLE)

    async def _update_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        """Merge ``values`` into the app scope (``user_id`` None) or the user scope."""
        raise self._unsupported("update scope state", Capability.LIFECYCLE)


def _scope_values(delta: Mapping[str, Any]) -> JSONObject:
    """A scope delta: un-prefixed str keys, storable JSON values, checked before any I/O."""
    if not isinstance(delta, Mapping):
        raise InvalidEntry(f"a scope delta must be a dict, got {type(delta).__name__}")
    values = dict(delta)
    for name in values:
        if not isinstance(name, str):
            raise InvalidEntry(f"state key {name!r} must be a str")
    if values:
        dumps(values, what="scope state")
    return values


def _session_values(state: Mapping[str, Any] | None, what: str) -> JSONObject:
    """A session-scope state for an import: un-prefixed keys only, storable JSON."""
    delta = encode_state_delta(state)
    if delta.app or delta.user:
        raise InvalidEntry(
            f"{what} of an imported session holds app: or user: keys; import those scopes "
            "with update_app_state() / update_user_state()"
        )
    return delta.session


def _encode_import_events(events: Sequence[Event]) -> tuple[NewEvent, ...]:
    """Imported (or forked) events as :class:`NewEvent` with their own seqs, checked."""
    encoded: list[NewEvent] = []
    previous = 0
    for index, event in enumerate(events):
        if not isinstance(event, Event):
            raise InvalidEntry(f"event {index} must be an omnisession Event")
        seq = check_seq(f"event {index} seq", event.seq)
        if seq >= MAX_COUNT:  # the session's next number must stay a 64-bit int too
            raise ValueError(f"event {index} seq must be below 2**63 - 1, got {seq}")
        if seq <= previous:
            raise ValueError(
                f"event {index} has seq {seq} after seq {previous}: events must come in "
                "increasing seq order, each number once"
            )
        previous = seq
        stamp = check_timestamp(event.timestamp, f"event {index} timestamp")
        assert stamp is not None
        recorded = encode_state_delta(event.state_delta) if event.state_delta else StateDelta()
        encoded.append(
            NewEvent(
                _json.dumps_object(event.data, what=f"event {index} payload"),
                stamp,
                encode_delta(recorded),
                seq,
            )
        )
    return tuple(encoded)
