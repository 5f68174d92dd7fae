"""Helpers for backend authors: argument checks, strict JSON, cursors, a base class.

Every built-in backend uses these, so the same input gets the same error
whatever the engine. Third-party backends are encouraged to do the same.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from . import _json
from .errors import InvalidEntry, InvalidKey
from .model import SessionKey, StateDelta, split_state
from .store import Capability

__all__ = [
    "StoreBase",
    "check_last",
    "check_limit",
    "check_page_size",
    "check_scope_id",
    "decode_cursor",
    "dumps",
    "encode_cursor",
    "encode_entries",
    "encode_entry",
    "encode_state_delta",
    "loads",
]

dumps = _json.dumps
loads = _json.loads

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
    if not isinstance(key, SessionKey):
        raise InvalidKey(f"expected a SessionKey, got {type(key).__name__}")
    return key


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
