"""The omnisession export format: versioned JSON Lines, one record per line.

The full specification is ``core/EXPORT_FORMAT.md``; in short, a file is::

    {"format":"omnisession-export","version":1,"exported_at":1767225600.0,"omnisession":"0.1.0"}
    {"type":"app","app":"support","state":{"tier":"gold"}}
    {"type":"user","app":"support","user":"u1","state":{"name":"Ada"}}
    {"type":"session","app":"support","user":"u1","session":"s1","state":{...},
     "base_state":{...},"created_at":1767225600.0,"updated_at":1767225660.5}
    {"type":"event","seq":1,"timestamp":1767225601.25,"data":{...},"state_delta":{...}}
    {"type":"event","seq":2,"timestamp":1767225660.5,"data":{...},"state_delta":null}
    {"type":"end","apps":1,"users":1,"sessions":1,"events":2}

Event lines belong to the session line before them. Every line is one
compact JSON object in UTF-8 (lone surrogates escaped), so a file can be
streamed, split on newlines and read with any JSON Lines tool. This module
turns records into lines and lines into records, checking each one; the
streaming is in :mod:`omnisession.manage.transfer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from .. import _json
from ..errors import InvalidEntry
from ..model import Event, JSONObject, SessionKey

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "AppLine",
    "EndLine",
    "EventLine",
    "FormatError",
    "Header",
    "SessionLine",
    "UserLine",
    "app_line",
    "end_line",
    "event_line",
    "header_line",
    "parse_line",
    "session_line",
    "user_line",
]

FORMAT_NAME: Final = "omnisession-export"
"""The value of the header's ``format`` field."""
FORMAT_VERSION: Final = 1
"""The version this module writes, and the newest it reads."""


class FormatError(InvalidEntry):
    """A line of an export file is not what the format allows; nothing of it was written.

    The message names the line number and what is wrong with it.
    """


@dataclass(frozen=True, slots=True)
class Header:
    """The first line: what the file is."""

    version: int
    exported_at: float | None
    producer: str | None


@dataclass(frozen=True, slots=True)
class AppLine:
    """An app's scope (``app:`` keys, un-prefixed)."""

    app: str
    state: JSONObject


@dataclass(frozen=True, slots=True)
class UserLine:
    """A user's scope within an app (``user:`` keys, un-prefixed)."""

    app: str
    user: str
    state: JSONObject


@dataclass(frozen=True, slots=True)
class SessionLine:
    """A session without its events, which follow it as :class:`EventLine` records."""

    key: SessionKey
    state: JSONObject
    """The session scope only (un-prefixed keys); app and user scopes have their own lines."""
    base_state: JSONObject | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class EventLine:
    """One event of the session line before it."""

    event: Event


@dataclass(frozen=True, slots=True)
class EndLine:
    """The last line: how many records of each kind the file holds."""

    apps: int
    users: int
    sessions: int
    events: int


Line = Header | AppLine | UserLine | SessionLine | EventLine | EndLine


# -- writing ----------------------------------------------------------------------------
#
# Payloads and states are spliced in as their own JSON text rather than nested in a
# dict and encoded again: a payload may be MAX_DEPTH deep, and one more level for the
# line itself would be refused by the encoder.


def _text(value: Any, what: str) -> str:
    return _json.dumps(value, what=what)


def header_line(*, exported_at: float, producer: str) -> str:
    """The header line of a file this version writes."""
    return _text(
        {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "exported_at": exported_at,
            "omnisession": producer,
        },
        "header",
    )


def app_line(app: str, state: JSONObject) -> str:
    return f'{{"type":"app","app":{_text(app, "app")},"state":{_text(state, "app state")}}}'


def user_line(app: str, user: str, state: JSONObject) -> str:
    return (
        f'{{"type":"user","app":{_text(app, "app")},"user":{_text(user, "user")},'
        f'"state":{_text(state, "user state")}}}'
    )


def session_line(
    key: SessionKey,
    *,
    state: JSONObject,
    base_state: JSONObject | None,
    created_at: float,
    updated_at: float,
) -> str:
    return (
        f'{{"type":"session","app":{_text(key.app_name, "app")},'
        f'"user":{_text(key.user_id, "user")},"session":{_text(key.session_id, "session")},'
        f'"state":{_text(state, "session state")},'
        f'"base_state":{_text(base_state, "base state")},'
        f'"created_at":{_text(created_at, "created_at")},'
        f'"updated_at":{_text(updated_at, "updated_at")}}}'
    )


def event_line(event: Event) -> str:
    return (
        f'{{"type":"event","seq":{event.seq},"timestamp":{_text(event.timestamp, "timestamp")},'
        f'"data":{_text(event.data, "event payload")},'
        f'"state_delta":{_text(event.state_delta, "state delta")}}}'
    )


def end_line(*, apps: int, users: int, sessions: int, events: int) -> str:
    return _text(
        {"type": "end", "apps": apps, "users": users, "sessions": sessions, "events": events},
        "trailer",
    )


# -- reading ----------------------------------------------------------------------------


def parse_line(text: str, number: int) -> Line:
    """The record on line ``number`` (1-based) of a file; :class:`FormatError` if malformed.

    Line 1 must be the header. Fields a record does not define are ignored,
    so later minor additions stay readable; an unknown record ``type`` is an
    error (it would be data this reader would silently drop).
    """
    try:
        raw = _json.loads(text)
    except ValueError as exc:
        raise FormatError(f"line {number} is not JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise FormatError(f"line {number} must be a JSON object, got {type(raw).__name__}")
    if number == 1:
        return _header(raw)
    kind = raw.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise FormatError(
            f"line {number} has type {kind!r}; an {FORMAT_NAME} v{FORMAT_VERSION} file holds "
            "only app, user, session, event and end lines"
        )
    try:
        line: Line = parser(raw)
    except FormatError as exc:
        raise FormatError(f"line {number} ({kind} line): {exc}") from None
    except (InvalidEntry, ValueError) as exc:  # e.g. InvalidKey from SessionKey
        raise FormatError(f"line {number} ({kind} line): {exc}") from exc
    return line


def _header(raw: JSONObject) -> Header:
    if raw.get("format") != FORMAT_NAME:
        raise FormatError(
            f"line 1 is not an {FORMAT_NAME} header (format={raw.get('format')!r}); "
            "is this a file written by `omnisession export`?"
        )
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"line 1: version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"the file is {FORMAT_NAME} version {version}, newer than this omnisession reads "
            f"(up to {FORMAT_VERSION}); upgrade omnisession to import it"
        )
    exported = raw.get("exported_at")
    producer = raw.get("omnisession")
    return Header(
        version,
        _number(exported, "exported_at") if exported is not None else None,
        producer if isinstance(producer, str) else None,
    )


def _string(raw: JSONObject, name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        raise FormatError(f"{name} must be a string, got {value!r}")
    return value


def _object(raw: JSONObject, name: str, *, optional: bool = False) -> JSONObject | None:
    value = raw.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise FormatError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise FormatError(f"{name} must be finite, got {value!r}")
    return number


def _count(raw: JSONObject, name: str) -> int:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormatError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _app(raw: JSONObject) -> AppLine:
    state = _object(raw, "state")
    assert state is not None
    return AppLine(_string(raw, "app"), state)


def _user(raw: JSONObject) -> UserLine:
    state = _object(raw, "state")
    assert state is not None
    return UserLine(_string(raw, "app"), _string(raw, "user"), state)


def _session(raw: JSONObject) -> SessionLine:
    key = SessionKey(_string(raw, "app"), _string(raw, "user"), _string(raw, "session"))
    state = _object(raw, "state")
    assert state is not None
    return SessionLine(
        key,
        state,
        _object(raw, "base_state", optional=True),
        _number(raw.get("created_at"), "created_at"),
        _number(raw.get("updated_at"), "updated_at"),
    )


def _event(raw: JSONObject) -> EventLine:
    seq = raw.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise FormatError(f"seq must be a positive integer, got {seq!r}")
    data = _object(raw, "data")
    assert data is not None
    delta = _object(raw, "state_delta", optional=True)
    return EventLine(Event(seq, _number(raw.get("timestamp"), "timestamp"), data, delta or None))


def _end(raw: JSONObject) -> EndLine:
    return EndLine(
        _count(raw, "apps"), _count(raw, "users"), _count(raw, "sessions"), _count(raw, "events")
    )


_PARSERS: dict[str, Any] = {
    "app": _app,
    "user": _user,
    "session": _session,
    "event": _event,
    "end": _end,
}
