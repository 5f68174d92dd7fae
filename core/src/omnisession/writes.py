"""The one write primitive every backend implements: :class:`Write` -> :class:`Committed`.

Every write of the contract that touches a session's history or state is a
:class:`Write`: ``append_event`` (one event, a delta, maybe an expected
revision), ``update_state`` (a delta alone), ``add_items`` (events, creating
the session if missing), ``clear_session`` and ``replace_events`` (a
truncation, then events), a fork's or an import's new session (events with
their own numbers and times, a whole state). A backend implements
``ValidatingStore._write(write)`` once, as ONE atomic operation of its engine,
and every one of those operations works, with the same checks.

What ``_write`` does, atomically, in this order:

1. Find the session. Missing: ``SessionNotFound`` for ``Creation.NEVER``,
   otherwise create it empty (``created_at``, revision 0, next seq 1, base
   state :attr:`Write.base_state` or ``delta.session``). Present:
   ``AlreadyExists`` for ``Creation.ONLY``; ``StaleSession(key, expected,
   actual)`` if ``expected_revision`` is set and differs.
2. ``truncate_from``: delete the events with ``seq >= truncate_from``.
3. Append ``events`` in order. An event without ``seq`` takes the session's
   next sequence number; one with ``seq`` keeps it (core makes sure it is
   newer than every event the session holds). The next number becomes one
   past the highest ever written.
   Each event stores its payload text, timestamp and recorded ``delta`` text.
4. Apply ``delta``: merge ``delta.session`` into the session state, upsert
   ``delta.app`` into the app scope and ``delta.user`` into the (app, user)
   scope. The base state is "the state before the first event": a write to
   an existing session that appends no event while the session has never
   had one (next seq still 1) merges ``delta.session`` into it too.
5. Revision + 1 (a created session ends at 1); ``updated_at =
   write.updated_at``.

It returns the new revision and the first appended event's seq. Nothing of a
failed write is visible, ever, to any reader.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import _json
from .model import Event, JSONObject, SessionKey, StateDelta, split_state

__all__ = ["Committed", "Creation", "NewEvent", "Write", "rebuild_state"]


class Creation(enum.Enum):
    """What a write does about a missing (or an existing) session."""

    NEVER = "never"
    """The session must exist: ``SessionNotFound`` otherwise (append_event, update_state, ...)."""
    IF_MISSING = "if_missing"
    """Create the session when it is missing (add_items)."""
    ONLY = "only"
    """The session must not exist: ``AlreadyExists`` otherwise (create, fork, import)."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: payload and recorded delta as JSON text, checked by core."""

    data: str
    """The payload's JSON text (UTF-8-safe, at most ``MAX_DEPTH`` deep)."""
    timestamp: float
    """POSIX seconds, within the checked range."""
    delta: str | None = None
    """The JSON text of the state delta the event records (flat keys), ``None`` for none."""
    seq: int | None = None
    """A sequence number of its own (a fork or an import keeps the source's); ``None``: the next."""


@dataclass(frozen=True, slots=True)
class Write:
    """One atomic write to one session (see the module docstring for its meaning)."""

    key: SessionKey
    updated_at: float
    """The session's ``updated_at`` after the write (core fills it in: the last event's
    timestamp, the current time, or an import's own)."""
    events: tuple[NewEvent, ...] = ()
    delta: StateDelta = field(default_factory=StateDelta)
    expected_revision: int | None = None
    creation: Creation = Creation.NEVER
    truncate_from: int | None = None
    """Delete the events with ``seq >= truncate_from`` before appending (0: all of them)."""
    created_at: float | None = None
    """The created session's ``created_at`` (set whenever the write may create one)."""
    base_state: JSONObject | None = None
    """A created session's base state (a fork's or an import's); ``None``: ``delta.session``."""


@dataclass(frozen=True, slots=True)
class Committed:
    """What a :class:`Write` committed."""

    revision: int
    """The session's revision after the write."""
    first_seq: int | None = None
    """The seq of the first appended event (``None`` when the write appended none)."""


def rebuild_state(base: JSONObject | None, events: Iterable[Event]) -> JSONObject:
    """The session state as of the last of ``events``: ``base`` plus each recorded delta.

    Only the session scope (un-prefixed keys) is rebuilt; ``app:`` and
    ``user:`` state is shared, not per session.
    """
    state: dict[str, Any] = dict(base or {})
    for event in events:
        if event.state_delta:
            state.update(split_state(event.state_delta).session)
    copied: JSONObject = _json.loads(_json.dumps(state, what="state"))
    return copied
