"""The data model shared by every store: keys, records, events and scoped state."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidEntry, InvalidKey

__all__ = [
    "APP_PREFIX",
    "MAX_ID_LENGTH",
    "TEMP_PREFIX",
    "USER_PREFIX",
    "Appended",
    "Event",
    "EventPage",
    "JSONObject",
    "Page",
    "SessionKey",
    "SessionRecord",
    "StateDelta",
    "check_id",
    "flat_state",
    "merge_state",
    "now",
    "split_state",
]

JSONObject = dict[str, Any]
"""An event payload or a state dict: a JSON object."""

APP_PREFIX = "app:"
USER_PREFIX = "user:"
TEMP_PREFIX = "temp:"

MAX_ID_LENGTH = 1024
"""The longest app name, user id or session id, in characters."""


def now() -> float:
    """The current time as POSIX seconds, the unit of every timestamp here."""
    return time.time()


def check_id(name: str, value: object) -> str:
    """``value`` if it is a usable id (app name, user id, session id), else ``InvalidKey``.

    The one id check: :class:`SessionKey` and every operation taking a bare
    ``app_name`` / ``user_id`` use it, so the same id is accepted or refused
    the same way everywhere, before any I/O. An id is a non-empty str of at
    most :data:`MAX_ID_LENGTH` characters, valid unicode (no lone surrogate)
    and without NUL; anything else (``:``, ``/``, braces, spaces, emoji) is
    fine and never collides with another id.
    """
    if not isinstance(value, str):
        raise InvalidKey(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise InvalidKey(f"{name} must not be empty; give every app, user and session a name")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidKey(
            f"{name} is {len(value)} characters long; keep ids at most {MAX_ID_LENGTH}"
        )
    if "\x00" in value:
        raise InvalidKey(
            f"{name} {value!r} contains a NUL character, which no engine stores reliably"
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidKey(
                f"{name} {value!r} is not valid unicode (a lone surrogate); "
                "ids must be text that UTF-8 can encode"
            ) from exc
    return value


@dataclass(frozen=True, slots=True, order=True)
class SessionKey:
    """Where a conversation lives: ``(app_name, user_id, session_id)``.

    Any non-empty unicode string is a valid id, including ``:``, ``/``, ``{``,
    ``}``, ``%`` and spaces; backends must escape them so distinct keys never
    collide. Construction validates, so an invalid key never reaches a backend.
    """

    app_name: str
    user_id: str
    session_id: str

    def __post_init__(self) -> None:
        check_id("app_name", self.app_name)
        check_id("user_id", self.user_id)
        check_id("session_id", self.session_id)

    def __str__(self) -> str:
        return f"({self.app_name!r}, {self.user_id!r}, {self.session_id!r})"


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a session's history.

    ``seq`` is the per-session append order (1, 2, 3, ...; numbers are never
    reused, so there are gaps where entries were popped, cleared or
    replaced); history is always ordered by ``seq``, never by ``timestamp``.
    ``state_delta`` is the state change the entry was written with (flat
    keys, ``app:``/``user:`` prefixed, ``temp:`` dropped), ``None`` when it
    had none: it is how a fork rebuilds the state as of an earlier event,
    and what an export carries.
    """

    seq: int
    timestamp: float
    data: JSONObject
    state_delta: JSONObject | None = None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session as read from a store.

    ``state`` is the merged view: the session's own keys plus the app and user
    scopes under their ``app:`` / ``user:`` prefixes. ``revision`` grows with
    every committed write to the session and is what ``expected_revision``
    compares against. ``updated_at`` is the time of the newest write: the
    event's own timestamp for ``append_event`` (as ADK's ``last_update_time``),
    the store's clock for other writes; listings are ordered by it.
    """

    key: SessionKey
    state: JSONObject
    events: list[Event]
    created_at: float
    updated_at: float
    revision: int
    base_state: JSONObject | None = None
    """The session state before its first event (what a fork at an early event
    starts from); filled in by ``get_session``, ``None`` in listings or where
    a backend does not keep it."""


@dataclass(frozen=True, slots=True)
class Appended:
    """What ``append_event`` committed."""

    seq: int
    revision: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class Page:
    """One page of ``list_sessions``; pass ``next_cursor`` back for the next one."""

    sessions: list[SessionRecord]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of a session's history from ``get_events``, oldest event first.

    Pass ``next_cursor`` back for the next page (older events by default,
    newer ones with ``oldest_first=True``); ``None`` when there is none.
    """

    events: list[Event]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class StateDelta:
    """A state change split by scope, prefixes removed; ``temp:`` keys dropped."""

    app: JSONObject = field(default_factory=dict)
    user: JSONObject = field(default_factory=dict)
    session: JSONObject = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.app or self.user or self.session)


def split_state(delta: Mapping[str, Any] | None) -> StateDelta:
    """Split a flat state dict into its scopes.

    ``app:k`` goes to the app scope as ``k``, ``user:k`` to the (app, user)
    scope as ``k``, ``temp:k`` is dropped (it lives only for one invocation and
    is never stored), anything else is session state. ``None`` values are kept:
    they are stored as ``None``, not treated as deletions.
    """
    result = StateDelta()
    if not delta:
        return result
    for key, value in delta.items():
        if not isinstance(key, str):
            raise InvalidEntry(f"state key {key!r} must be a str")
        if key.startswith(APP_PREFIX):
            result.app[key[len(APP_PREFIX) :]] = value
        elif key.startswith(USER_PREFIX):
            result.user[key[len(USER_PREFIX) :]] = value
        elif key.startswith(TEMP_PREFIX):
            continue
        else:
            result.session[key] = value
    return result


def merge_state(
    session: Mapping[str, Any], app: Mapping[str, Any], user: Mapping[str, Any]
) -> JSONObject:
    """The merged view of the three scopes, as ``SessionRecord.state`` shows it."""
    merged: JSONObject = dict(session)
    for key, value in app.items():
        merged[APP_PREFIX + key] = value
    for key, value in user.items():
        merged[USER_PREFIX + key] = value
    return merged


def flat_state(delta: StateDelta) -> JSONObject:
    """The flat, prefixed form of ``delta`` (the inverse of :func:`split_state`)."""
    return merge_state(delta.session, delta.app, delta.user)
