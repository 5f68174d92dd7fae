"""What each ADK event the store writes carries, and how a read sees through them.

Two things live in the ADK session:

* the bookkeeping under the reserved session-state key :data:`META_KEY`
  (:class:`Meta`): revision, next sequence number, ``created_at``,
  ``updated_at``, the base state (JSON text) and, while a creation with events
  is under way, ``pending``;
* one ADK event per write, whose ``custom_metadata["omnisession"]`` holds the
  write's :class:`Record` as JSON text: its entries (seq, timestamp, payload,
  recorded delta), the seqs it pops, the seq it truncates from (``cut``), the
  revision it made and the session's next seq after it (``n``).

Events the store did not write (an ADK ``Runner`` using the service directly)
are entries too: each non-partial one is one entry whose payload is the event
as the ADK bridge stores it (:func:`omnisession._adk_events.encode_event`).
They are numbered after the newest record before them: ``n``, ``n + 1``, ...
(``1, 2, ...`` in a session with no record before them), and the store's next
write takes the numbers after them, so a number is never reused.

:func:`scan` walks a window of the newest events backwards and returns the
visible entries, newest first: entries hidden by a later record's ``pop`` or
``cut`` are skipped, and it stops as soon as older events cannot change the
answer. When the window is too short to decide, it says so and the caller
fetches a wider one.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from google.adk.events.event import Event as ADKEvent
from google.adk.sessions.session import Session as ADKSession

from .. import _json
from .._adk_events import encode_event, stored_state_delta
from ..errors import BackendRejected, InvalidEntry
from ..model import (
    TEMP_PREFIX,
    JSONObject,
    SessionKey,
    StateDelta,
    flat_state,
    now,
)

__all__ = [
    "METADATA_KEY",
    "META_KEY",
    "Entry",
    "Meta",
    "Record",
    "Scan",
    "check_utf8_state",
    "commit_time",
    "decode_record",
    "meta_of",
    "prefixed_delta",
    "public_state",
    "record_text",
    "scan",
    "scope_of",
]

META_KEY = "__omnisession__"
"""The reserved session-state key holding the store's bookkeeping of a session."""

METADATA_KEY = "omnisession"
"""The ``custom_metadata`` key of an event the store wrote."""


# -- bookkeeping -------------------------------------------------------------------------


@dataclass(frozen=True)
class Meta:
    """The store's bookkeeping of one session (state key :data:`META_KEY`)."""

    rev: int
    next_seq: int
    created_at: float
    updated_at: float | None = None
    """``None``: not known (a session written by an older omnisession)."""
    base: str | None = None
    """The JSON text of the base state; ``None`` when not known."""
    pending: bool = False
    """A creation with events is under way (or was interrupted): readers see no session."""

    def as_state(self, key: SessionKey) -> JSONObject:
        value: JSONObject = {
            "rev": self.rev,
            "next": self.next_seq,
            "created": self.created_at,
            "key": [key.app_name, key.user_id, key.session_id],
        }
        if self.updated_at is not None:
            value["upd"] = self.updated_at
        if self.base is not None:
            value["base"] = self.base
        if self.pending:
            value["pending"] = True
        return value


def meta_of(session: ADKSession) -> Meta | None:
    """The session's bookkeeping; ``None`` for a session this store never wrote to."""
    raw = session.state.get(META_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        upd = raw.get("upd")
        base = raw.get("base")
        return Meta(
            rev=int(raw["rev"]),
            next_seq=int(raw["next"]),
            created_at=float(raw["created"]),
            updated_at=None if upd is None else float(upd),
            base=base if isinstance(base, str) else None,
            pending=raw.get("pending") is True,
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _copied(state: JSONObject) -> JSONObject:
    """A private copy of state read from a service.

    A JSON copy when the state is JSON within the nesting limit (all this store
    writes); otherwise -- state ADK wrote itself, which may nest deeper or, in
    an in-memory service, hold any Python value -- a deep copy of what the
    service holds: reading never fails, and writing it to another store checks
    it there.
    """
    try:
        copied: JSONObject = _json.loads(_json.dumps(state, what="stored state"))
    except InvalidEntry:
        copied = copy.deepcopy(state)
    return copied


def scope_of(session: ADKSession, prefix: str) -> JSONObject:
    """One scope of a session's merged state, un-prefixed and copied."""
    return _copied({k[len(prefix) :]: v for k, v in session.state.items() if k.startswith(prefix)})


def public_state(session: ADKSession) -> JSONObject:
    """The merged state a record shows: everything but the bookkeeping key, copied."""
    return _copied({k: v for k, v in session.state.items() if k != META_KEY})


def prefixed_delta(delta: StateDelta, *, utf8_only: bool = False) -> JSONObject:
    """``delta`` (checked, ``temp:`` dropped) as a fresh flat ADK state delta.

    ``utf8_only``: the service serialises state with pydantic-core, which
    cannot encode a lone surrogate (half an emoji); such a key or value is
    refused here, before any I/O, instead of failing inside the service.
    """
    if META_KEY in delta.session:
        raise InvalidEntry(
            f"state key {META_KEY!r} is reserved for omnisession's bookkeeping; rename it"
        )
    flat = flat_state(delta)
    if utf8_only:
        check_utf8_state(flat)
    # A private copy: in-memory services keep the values they are given.
    copied: JSONObject = _json.loads(_json.dumps(flat, what="state"))
    return copied


def check_utf8_state(state: JSONObject) -> None:
    """``InvalidEntry`` when a key or value of ``state`` holds a lone surrogate."""
    try:
        json.dumps(state, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidEntry(
            "a state key or value holds a lone surrogate (half of an emoji), which this ADK "
            "service cannot store (it serialises state with pydantic-core); nothing was "
            "written: drop or replace the broken character (payloads keep it exactly)"
        ) from exc


# -- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One visible entry: a store's own, or an event written by ADK itself."""

    seq: int
    timestamp: float
    data: JSONObject
    delta: JSONObject | None


@dataclass
class Record:
    """What one write of the store recorded in its ADK event."""

    rev: int
    next_seq: int | None
    """The session's next seq after the write; ``None`` in records of older versions."""
    entries: list[tuple[int, float, JSONObject, JSONObject | None]] = field(default_factory=list)
    popped: list[int] = field(default_factory=list)
    cut: int | None = None
    """Entries of earlier events with ``seq >= cut`` are gone (0: all of them)."""
    clear: bool = False
    """An older version's ``clear_session``: every earlier entry is gone."""


def record_text(
    rev: int,
    next_seq: int,
    entries: Sequence[tuple[int, float, str, str | None]] = (),
    popped: Sequence[int] = (),
    cut: int | None = None,
) -> str:
    """The JSON text of a :class:`Record`.

    Payloads and deltas are already JSON text (checked by core); they are
    spliced in rather than decoded and encoded again (a payload may be 1 MiB).
    """
    parts = [f'{{"v":1,"rev":{rev},"n":{next_seq}']
    if entries:
        parts.append(
            ',"e":['
            + ",".join(
                f"[{seq},{_json.dumps(ts)},{text}" + ("]" if delta is None else f",{delta}]")
                for seq, ts, text, delta in entries
            )
            + "]"
        )
    if popped:
        parts.append(',"pop":' + _json.dumps(list(popped)))
    if cut is not None:
        parts.append(f',"cut":{cut}')
    parts.append("}")
    return "".join(parts)


def _decode_entry(raw: Any) -> tuple[int, float, JSONObject, JSONObject | None]:
    seq, ts, data = int(raw[0]), float(raw[1]), raw[2]
    delta = raw[3] if len(raw) > 3 else None
    if not isinstance(data, dict) or not (delta is None or isinstance(delta, dict)):
        raise ValueError("entry payload and delta must be JSON objects")
    return seq, ts, data, delta


def decode_record(event: ADKEvent) -> Record | None:
    """The record of an event this store wrote; ``None`` for any other event."""
    metadata = event.custom_metadata
    if not metadata:
        return None
    text = metadata.get(METADATA_KEY)
    if not isinstance(text, str):
        return None
    try:
        raw = _json.loads(text)
        if not isinstance(raw, dict) or raw.get("v") != 1:
            return None
        next_seq = raw.get("n")
        cut = raw.get("cut")
        return Record(
            rev=int(raw.get("rev", 0)),
            next_seq=None if next_seq is None else int(next_seq),
            entries=[_decode_entry(entry) for entry in raw.get("e", ())],
            popped=[int(seq) for seq in raw.get("pop", ())],
            cut=None if cut is None else int(cut),
            clear=raw.get("clear") is not None,
        )
    except (ValueError, TypeError, IndexError, KeyError):
        return None


def _foreign_entry(event: ADKEvent, seq: int) -> Entry:
    """An event ADK wrote itself, as an entry: the ADK bridge's stored form of it, and
    its state delta (``temp:`` dropped) as that form holds it."""
    data = encode_event(event, strict=False)
    delta = stored_state_delta(event, data) or {}
    kept = {k: v for k, v in delta.items() if not k.startswith(TEMP_PREFIX)}
    return Entry(seq, event.timestamp, data, _copied(kept) if kept else None)


# -- reading through the records --------------------------------------------------------------


@dataclass
class Scan:
    """What :func:`scan` found in a window of events."""

    entries: list[Entry]
    """Visible entries, newest first (at most ``want``; with ``seq < before``)."""
    next_seq: int
    """The seq the session's next entry takes (past every number ever given out)."""
    newest: ADKEvent | None
    """The newest non-partial event of the window (``None``: none)."""


def scan(
    events: Sequence[ADKEvent],
    *,
    at_start: bool,
    want: int | None,
    before: int | None = None,
    fallback_next: int = 1,
) -> Scan | None:
    """The visible entries of the newest ``events`` (``None``: fetch a wider window).

    ``events`` are the session's newest events in the service's order;
    ``at_start`` says they reach back to its first. ``want`` bounds how many
    entries are wanted (``None``: all, 0: none, only ``next_seq``); ``before``
    keeps only entries with a smaller seq. ``fallback_next`` numbers what
    follows a record of an older version that carries no next seq.
    """
    hidden: set[int] = set()
    cut: int | None = None
    found: list[Entry] = []
    foreign: list[ADKEvent] = []  # ADK's own events after the newest record seen, newest first
    next_seq: int | None = None
    newest: ADKEvent | None = None

    def visible(seq: int) -> bool:
        return seq not in hidden and (cut is None or seq < cut) and (before is None or seq < before)

    def enough() -> bool:
        return want is not None and len(found) >= want and next_seq is not None

    def settle(first: int) -> None:
        """Number the pending foreign events from ``first`` on, and emit them."""
        nonlocal next_seq
        if next_seq is None:
            next_seq = first + len(foreign)
        count = len(foreign)
        for index, event in enumerate(foreign):
            if enough():
                break
            seq = first + count - 1 - index
            if visible(seq):
                found.append(_foreign_entry(event, seq))
        foreign.clear()

    for event in reversed(events):
        if event.partial:
            continue
        if newest is None:
            newest = event
        record = decode_record(event)
        if record is None:
            foreign.append(event)
            continue
        anchor = record.next_seq
        if anchor is None:  # an older version's record: past its own entries
            anchor = max((entry[0] for entry in record.entries), default=fallback_next - 1) + 1
        settle(anchor)
        if enough():
            return Scan(found, anchor if next_seq is None else next_seq, newest)
        for seq, ts, data, delta in reversed(record.entries):
            if enough():
                break
            if visible(seq):
                found.append(Entry(seq, ts, data, delta))
        if enough():
            assert next_seq is not None
            return Scan(found, next_seq, newest)
        hidden.update(record.popped)
        if record.cut is not None:
            cut = record.cut if cut is None else min(cut, record.cut)
        if record.clear or (cut is not None and cut <= 1):
            assert next_seq is not None
            return Scan(found, next_seq, newest)
    if not at_start:
        return None
    settle(1)
    assert next_seq is not None
    return Scan(found, next_seq, newest)


# -- time ------------------------------------------------------------------------------------


def _instant(timestamp: float) -> datetime.datetime:
    """The microsecond a service keeping ``datetime`` columns stores for ``timestamp``."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


def commit_time(session: ADKSession, floor: float | None) -> float:
    """The ADK timestamp of a write: after the session's last update, not before ``floor``.

    Strictly increasing per session, both as a float (services keeping floats)
    and as a microsecond ``datetime`` (services keeping those: near year 9999 a
    float step is 30 us), so services that order events by timestamp keep
    append order and their stale-writer markers change on every write; never
    before the write's entries' own timestamps, so the service's
    ``after_timestamp`` filter can pre-select entries for ``since``.
    """
    last = session.last_update_time
    stamp = max(now(), last + 1e-6, -math.inf if floor is None else floor)
    try:
        last_instant: datetime.datetime | None = _instant(last)
    except (OverflowError, ValueError, OSError):
        last_instant = None
    try:
        while stamp <= last or (last_instant is not None and _instant(stamp) <= last_instant):
            stamp = math.nextafter(stamp, math.inf)
    except (OverflowError, ValueError, OSError):
        raise BackendRejected(
            f"session ({session.app_name!r}, {session.user_id!r}, {session.id!r}) cannot "
            "take another write: its ADK timestamps reached the end of year 9999 (an entry "
            "was stamped there); copy it to another store or write it with earlier timestamps"
        ) from None
    return stamp
