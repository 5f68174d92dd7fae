"""Helpers for backend authors: argument checks, strict JSON, cursors, base classes.

Every built-in backend uses these, so the same input gets the same error
whatever the engine. Third-party backends are encouraged to do the same: the
simplest way is to subclass :class:`ValidatingStore`, which checks and
encodes every argument of the contract and leaves only the storage hooks
(``_create_session``, ``_append_event``, ...) to implement.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from . import _json
from .errors import InvalidEntry, InvalidKey
from .model import (
    Appended,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    now,
    split_state,
)
from .store import Capability

__all__ = [
    "StoreBase",
    "ValidatingStore",
    "check_expected_revision",
    "check_key",
    "check_last",
    "check_limit",
    "check_page_size",
    "check_scope_id",
    "check_since",
    "check_timestamp",
    "decode_cursor",
    "dumps",
    "encode_cursor",
    "encode_entries",
    "encode_entry",
    "encode_state_delta",
    "loads",
    "loads_all",
]

dumps = _json.dumps
loads = _json.loads
loads_all = _json.loads_all

DEFAULT_PAGE_SIZE = 100


def check_last(last: int | None) -> int | None:
    """Validate ``get_session(last=...)``: ``None`` or an int >= 0."""
    if last is None:
        return None
    if isinstance(last, bool) or not isinstance(last, int):
        raise TypeError(f"last must be an int or None, got {type(last).__name__}")
    if last < 0:
        raise ValueError(f"last must be >= 0 (got {last}); use None for the whole history")
    return last


def check_limit(limit: int | None) -> int | None:
    """Validate ``get_items(limit=...)`` with the same rules as ``last``."""
    return check_last(limit)


def check_page_size(page_size: int | None) -> int:
    if page_size is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be a positive int, got {page_size!r}")
    return page_size


def check_scope_id(name: str, value: object) -> str:
    """Validate a bare ``app_name`` / ``user_id`` the way :class:`SessionKey` does."""
    if not isinstance(value, str) or not value:
        raise InvalidKey(f"{name} must be a non-empty str, got {value!r}")
    if "\x00" in value:
        raise InvalidKey(f"{name} {value!r} contains a NUL character")
    return value


def check_key(key: object) -> SessionKey:
    """``InvalidKey`` unless ``key`` is a :class:`SessionKey` (which checked its ids)."""
    if not isinstance(key, SessionKey):
        raise InvalidKey(f"expected a SessionKey, got {type(key).__name__}")
    return key


def check_timestamp(timestamp: object) -> float | None:
    """Validate ``append_event(timestamp=...)``: ``None`` or finite POSIX seconds, as a float."""
    if timestamp is None:
        return None
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise TypeError(f"timestamp must be POSIX seconds (a float), got {timestamp!r}")
    if not math.isfinite(timestamp):
        raise ValueError(f"timestamp must be finite, got {timestamp!r}")
    return float(timestamp)


def check_since(since: object) -> float | None:
    """Validate ``get_session(since=...)``: ``None`` or POSIX seconds, as a float."""
    if since is None:
        return None
    if isinstance(since, bool) or not isinstance(since, (int, float)):
        raise TypeError(f"since must be POSIX seconds (a float) or None, got {since!r}")
    return float(since)


def check_expected_revision(expected_revision: object) -> int | None:
    """Validate ``expected_revision``: ``None`` or an int."""
    if expected_revision is not None and (
        isinstance(expected_revision, bool) or not isinstance(expected_revision, int)
    ):
        raise TypeError(
            f"expected_revision must be an int or None, got {type(expected_revision).__name__}"
        )
    return expected_revision


def encode_entry(data: object) -> str:
    """JSON text of one event payload; ``InvalidEntry`` if it is not a JSON object."""
    return _json.dumps_object(data, what="event payload")


def encode_entries(items: Sequence[object]) -> list[str]:
    """Encode every item first, so a bad one fails the batch before any write."""
    if isinstance(items, (str, bytes, Mapping)):
        raise InvalidEntry("items must be a sequence of dicts, not a single value")
    return [_json.dumps_object(item, what=f"item {index}") for index, item in enumerate(items)]


def encode_state_delta(state: Mapping[str, Any] | None) -> StateDelta:
    """Split ``state`` by scope and check every value is JSON, before any write."""
    delta = split_state(state)
    if delta:
        _json.dumps({"a": delta.app, "u": delta.user, "s": delta.session}, what="state")
    return delta


def encode_cursor(*parts: Any) -> str:
    """An opaque, URL-safe cursor carrying ``parts`` (JSON values)."""
    return base64.urlsafe_b64encode(_json.dumps(list(parts)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The parts of a cursor made by :func:`encode_cursor`; ``ValueError`` if forged."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = _json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged") from exc
    if not isinstance(parts, list) or len(parts) != arity:
        raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")
    return parts


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
    here. Each one validates and encodes its arguments *before any I/O* --
    keys, ids, ``last`` / ``limit`` / ``page_size``, ``since``, ``timestamp``,
    ``expected_revision``, every payload and every state value as strict
    JSON -- so bad input raises the same error on every backend and never
    reaches the engine. It then calls one hook, and the hooks are all a
    backend implements::

        class MyStore(ValidatingStore):
            capabilities = frozenset({Capability.BASE, Capability.PERSISTENT})

            async def _create_session(self, key, delta): ...
            async def _append_event(self, key, entry, delta, timestamp, expected_revision): ...
            ...

    What a hook receives:

    * ``key``: a checked :class:`SessionKey`; ``app_name`` / ``user_id``:
      checked non-empty strings without NUL.
    * ``entry`` / ``entries``: the JSON text of each payload
      (:func:`encode_entry`); ``entries`` is never empty.
    * ``delta``: the state split by scope with ``temp:`` keys dropped, every
      value JSON-serialisable (:func:`encode_state_delta`). Its dicts may share
      values with the caller's: copy them if the engine keeps Python objects.
    * ``timestamp``: a finite float, the caller's or :func:`now` at the call.
    * ``last`` / ``limit``: ``None`` or an int >= 0 (``_get_items`` is never
      called with 0); ``since``: ``None`` or a float (a NaN ``since`` matches
      no event, so it arrives as ``last=0, since=None``); ``page_size``: an
      int >= 1; ``cursor``: ``None`` or a non-empty string the backend must
      decode itself (:func:`decode_cursor`); ``expected_revision``: ``None``
      or an int.

    A hook keeps the rest of the contract: atomic writes, ``AlreadyExists``,
    ``SessionNotFound``, ``StaleSession``, ``BackendUnavailable`` for a lost
    connection. Run ``omnisession-conformance`` against the store to prove it.
    A hook left unimplemented raises ``NotImplementedError``.
    """

    # -- the contract --------------------------------------------------------------

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
        since = check_since(since)
        if since is not None and math.isnan(since):  # no timestamp is >= NaN
            last, since = 0, None
        return await self._get_session(key, last, since)

    async def list_sessions(
        self,
        app_name: str,
        user_id: str | None = None,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """Sessions of an app (or of one user) without events, oldest ``updated_at`` first.

        A page holds at most ``page_size`` records (default 100); pass its
        ``next_cursor`` back unchanged for the next page. ``ValueError`` for a
        page size below 1 or a forged cursor.
        """
        check_scope_id("app_name", app_name)
        if user_id is not None:
            check_scope_id("user_id", user_id)
        size = check_page_size(page_size)
        return await self._list_sessions(app_name, user_id, size, cursor or None)

    async def delete_session(self, key: SessionKey) -> None:
        """Remove the session, its events and its session state; idempotent.

        App and user state stay.
        """
        await self._delete_session(check_key(key))

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
        ``timestamp`` defaults to now. Returns the event's ``seq``, the new
        ``revision`` and the ``timestamp``.
        """
        check_key(key)
        entry = encode_entry(data)
        delta = encode_state_delta(state_delta)
        stamp = check_timestamp(timestamp)
        expected = check_expected_revision(expected_revision)
        return await self._append_event(
            key, entry, delta, now() if stamp is None else stamp, expected
        )

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
        return await self._update_state(key, delta, expected)

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
        if entries:
            await self._add_items(key, entries)

    async def pop_item(self, key: SessionKey) -> JSONObject | None:
        """Remove and return the newest item (``None`` if none); each is returned at most once."""
        return await self._pop_item(check_key(key))

    async def clear_session(self, key: SessionKey) -> None:
        """Remove every event of the session, keeping the session and its state."""
        await self._clear_session(check_key(key))

    async def get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        """The user scope, un-prefixed; ``{}`` if none."""
        check_scope_id("app_name", app_name)
        check_scope_id("user_id", user_id)
        return await self._get_user_state(app_name, user_id)

    async def get_app_state(self, app_name: str) -> JSONObject:
        """The app scope, un-prefixed; ``{}`` if none."""
        check_scope_id("app_name", app_name)
        return await self._get_app_state(app_name)

    # -- the hooks a backend implements ----------------------------------------------

    def _missing(self, hook: str) -> NotImplementedError:
        return NotImplementedError(
            f"{type(self).__name__} does not implement {hook}(), the storage hook behind "
            f"{hook[1:]}() (see omnisession.backend.ValidatingStore)"
        )

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        """Create the session with ``delta`` applied; ``AlreadyExists`` if taken."""
        raise self._missing("_create_session")

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        """The session with its newest ``last`` events at or after ``since``, or ``None``."""
        raise self._missing("_get_session")

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        """One page of sessions without events; ``ValueError`` for a forged ``cursor``."""
        raise self._missing("_list_sessions")

    async def _delete_session(self, key: SessionKey) -> None:
        """Remove the session, its events and session state; nothing if missing."""
        raise self._missing("_delete_session")

    async def _append_event(
        self,
        key: SessionKey,
        entry: str,
        delta: StateDelta,
        timestamp: float,
        expected_revision: int | None,
    ) -> Appended:
        """Append ``entry`` (JSON text) and apply ``delta`` in one atomic write."""
        raise self._missing("_append_event")

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        """Apply ``delta`` in one atomic write; the new revision."""
        raise self._missing("_update_state")

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        """Payloads oldest first, the newest ``limit`` (never 0); ``[]`` if missing."""
        raise self._missing("_get_items")

    async def _add_items(self, key: SessionKey, entries: list[str]) -> None:
        """Append ``entries`` (JSON texts, never empty) atomically, creating the session."""
        raise self._missing("_add_items")

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        """Remove and return the newest payload atomically; ``None`` if none."""
        raise self._missing("_pop_item")

    async def _clear_session(self, key: SessionKey) -> None:
        """Remove every event, keeping the session and its state; nothing if missing."""
        raise self._missing("_clear_session")

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        """The user scope, un-prefixed (a fresh dict); ``{}`` if none."""
        raise self._missing("_get_user_state")

    async def _get_app_state(self, app_name: str) -> JSONObject:
        """The app scope, un-prefixed (a fresh dict); ``{}`` if none."""
        raise self._missing("_get_app_state")
