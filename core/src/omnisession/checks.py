"""Argument checks and encodings, done once in core before any I/O.

:class:`~omnisession.backend.ValidatingStore` runs every argument of the
contract through these, so the same bad input raises the same error on every
backend, with nothing written: ``InvalidKey`` for ids, ``InvalidEntry`` for
payloads and state, ``TypeError`` for a value of the wrong type and
``ValueError`` for one out of range. They are public for backends that do
not subclass ``ValidatingStore``.

Ranges (so no number ever reaches a driver that cannot hold it):

* counts (``last``, ``limit``) and sequence numbers: ``0 .. MAX_COUNT`` (2**63 - 1);
* ``page_size`` / ``batch_size``: ``1 .. MAX_PAGE_SIZE`` (10,000), so one page is bounded;
* timestamps: finite seconds between ``MIN_TIMESTAMP`` (year 1) and
  ``MAX_TIMESTAMP`` (year 9999), what a ``datetime`` can hold;
* ``since``: any number; below the range it matches every event, above it none,
  NaN none;
* ``expected_revision``: a 64-bit signed int.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from typing import Any

from . import _json
from .errors import InvalidEntry, InvalidKey
from .model import SessionKey, StateDelta, check_id, flat_state, split_state

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_COUNT",
    "MAX_PAGE_SIZE",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
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
    "encode_cursor",
    "encode_delta",
    "encode_entries",
    "encode_entry",
    "encode_state_delta",
]

MAX_COUNT = 2**63 - 1
MAX_PAGE_SIZE = 10_000
DEFAULT_PAGE_SIZE = 100
MIN_TIMESTAMP = -62_135_596_800.0  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP = 253_402_300_799.0  # 9999-12-31T23:59:59Z
_MIN_REVISION = -(2**63)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_count(name: str, value: object) -> int | None:
    """``None`` or an int in ``0 .. MAX_COUNT`` (``last``, ``limit`` and the like)."""
    if value is None:
        return None
    if not _is_int(value):
        raise TypeError(f"{name} must be an int or None, got {type(value).__name__}")
    assert isinstance(value, int)
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (got {value}); use None for the whole history")
    if value > MAX_COUNT:
        raise ValueError(f"{name} must be at most 2**63 - 1 (got {value}); use None for all")
    return value


def check_last(last: object) -> int | None:
    """Validate ``get_session(last=...)``: ``None`` or an int in ``0 .. MAX_COUNT``."""
    return check_count("last", last)


def check_limit(limit: object) -> int | None:
    """Validate ``get_items(limit=...)`` with the same rules as ``last``."""
    return check_count("limit", limit)


def check_seq(name: str, value: object) -> int:
    """A sequence number argument (``from_seq``, ``up_to``): an int in ``0 .. MAX_COUNT``."""
    checked = check_count(name, value)
    if checked is None:
        raise TypeError(f"{name} must be an int, got None")
    return checked


def check_page_size(page_size: object, name: str = "page_size") -> int:
    """``None`` (100) or an int in ``1 .. MAX_PAGE_SIZE``."""
    if page_size is None:
        return DEFAULT_PAGE_SIZE
    if not _is_int(page_size):
        raise TypeError(f"{name} must be an int or None, got {type(page_size).__name__}")
    assert isinstance(page_size, int)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"{name} must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    return page_size


def check_scope_id(name: str, value: object) -> str:
    """Validate a bare ``app_name`` / ``user_id`` exactly as :class:`SessionKey` does."""
    return check_id(name, value)


def check_key(key: object, name: str = "key") -> SessionKey:
    """``InvalidKey`` unless ``key`` is a :class:`SessionKey` (which checked its ids)."""
    if not isinstance(key, SessionKey):
        raise InvalidKey(f"{name} must be a SessionKey, got {type(key).__name__}")
    return key


def check_timestamp(timestamp: object, name: str = "timestamp") -> float | None:
    """``None`` or POSIX seconds a ``datetime`` can hold, as a float."""
    if timestamp is None:
        return None
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise TypeError(f"{name} must be POSIX seconds (a float), got {timestamp!r}")
    if isinstance(timestamp, float) and not math.isfinite(timestamp):
        raise ValueError(f"{name} must be finite, got {timestamp!r}")
    if not MIN_TIMESTAMP <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(
            f"{name} must be POSIX seconds between year 1 and year 9999 "
            f"({MIN_TIMESTAMP:.0f} .. {MAX_TIMESTAMP:.0f}), got {timestamp!r}"
        )
    return float(timestamp)


def check_since(since: object) -> tuple[float | None, bool]:
    """Validate ``get_session(since=...)``: ``(bound, matches_nothing)``.

    Any number is accepted. Below the timestamp range (``-inf`` included) it
    matches every event, so the bound is ``None``; above it (``inf``
    included) or NaN it matches none.
    """
    if since is None:
        return None, False
    if isinstance(since, bool) or not isinstance(since, (int, float)):
        raise TypeError(f"since must be POSIX seconds (a float) or None, got {since!r}")
    if isinstance(since, float) and math.isnan(since):
        return None, True  # no timestamp is >= NaN
    if since <= MIN_TIMESTAMP:
        return None, False
    if since > MAX_TIMESTAMP:
        return None, True
    return float(since), False


def check_expected_revision(expected_revision: object) -> int | None:
    """Validate ``expected_revision``: ``None`` or a 64-bit int."""
    if expected_revision is None:
        return None
    if not _is_int(expected_revision):
        raise TypeError(
            f"expected_revision must be an int or None, got {type(expected_revision).__name__}"
        )
    assert isinstance(expected_revision, int)
    if not _MIN_REVISION <= expected_revision <= MAX_COUNT:
        raise ValueError(f"expected_revision {expected_revision} is not a revision (64-bit int)")
    return expected_revision


def encode_entry(data: object) -> str:
    """JSON text of one event payload; ``InvalidEntry`` if it is not a storable JSON object."""
    return _json.dumps_object(data, what="event payload")


def encode_entries(items: Sequence[object]) -> list[str]:
    """Encode every item first, so a bad one fails the batch before any write."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise InvalidEntry("items must be a sequence (a list) of dicts, not a single value")
    return [_json.dumps_object(item, what=f"item {index}") for index, item in enumerate(items)]


def encode_state_delta(state: Mapping[str, Any] | None) -> StateDelta:
    """Split ``state`` by scope and check every value is storable JSON, before any write."""
    if state is not None and not isinstance(state, Mapping):
        raise InvalidEntry(f"state must be a dict, got {type(state).__name__}")
    delta = split_state(state)
    if delta:
        for scope, values in (("app", delta.app), ("user", delta.user), ("session", delta.session)):
            if values:
                _json.dumps(values, what=f"{scope} state")
    return delta


def encode_delta(delta: StateDelta) -> str | None:
    """The JSON text an event records of its delta (flat, prefixed keys); ``None`` if empty."""
    if not delta:
        return None
    return _json.dumps(flat_state(delta), what="state delta")


def encode_cursor(*parts: Any) -> str:
    """An opaque, URL-safe cursor carrying ``parts`` (JSON values)."""
    return base64.urlsafe_b64encode(_json.dumps(list(parts)).encode()).decode().rstrip("=")


def decode_cursor(cursor: object, *kinds: type) -> list[Any]:
    """The parts of a cursor made by :func:`encode_cursor`, checked against ``kinds``.

    ``kinds`` gives each part's type: ``int`` (a 64-bit int), ``float`` (a
    finite number, returned as a float) or ``str``. A cursor that is not one
    of ours, or whose parts are out of range, raises ``ValueError``: a forged
    cursor never reaches the engine.
    """
    message = f"invalid cursor {cursor!r}: pass back a next_cursor unchanged"
    if not isinstance(cursor, str) or not cursor:
        raise ValueError(message)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = _json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError, RecursionError) as exc:
        # RecursionError: a forged cursor nested deeper than any stack decodes
        raise ValueError(message) from exc
    if not isinstance(parts, list) or len(parts) != len(kinds):
        raise ValueError(message)
    checked: list[Any] = []
    for part, kind in zip(parts, kinds, strict=True):
        if kind is int:
            if not _is_int(part) or not _MIN_REVISION <= part <= MAX_COUNT:
                raise ValueError(message)
            checked.append(part)
        elif kind is float:
            if isinstance(part, bool) or not isinstance(part, (int, float)):
                raise ValueError(message)
            try:
                number = float(part)
            except OverflowError:
                raise ValueError(message) from None
            if not math.isfinite(number):
                raise ValueError(message)
            checked.append(number)
        elif kind is str:
            if not isinstance(part, str):
                raise ValueError(message)
            checked.append(part)
        else:  # pragma: no cover - a programming error in the caller
            raise TypeError(f"decode_cursor cannot check parts of type {kind!r}")
    return checked
