"""What each ADK event the store writes carries, and how reads see through it.

The record in the event's custom metadata (entries, tombstones, clear markers),
the session's bookkeeping under :data:`META_KEY`, the state delta and the
event's commit time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.adk.events.event import Event as ADKEvent
from google.adk.sessions.session import Session as ADKSession

from .. import _json
from ..errors import InvalidEntry
from ..model import APP_PREFIX, USER_PREFIX, JSONObject, SessionKey, StateDelta, now

META_KEY = "__omnisession__"
"""The reserved session-state key holding revision, next seq and creation time."""

METADATA_KEY = "omnisession"


@dataclass
class _Record:
    rev: int
    entries: list[tuple[int, float, JSONObject]] = field(default_factory=list)
    popped: list[int] = field(default_factory=list)
    clear: int | None = None


def record_text(
    rev: int,
    entries: Sequence[tuple[int, float, str]] = (),
    popped: Sequence[int] = (),
    clear: int | None = None,
) -> str:
    # Entry payloads are already-encoded JSON text; splice them in rather than
    # decode and re-encode them (a payload may be 1 MiB).
    parts = [f'{{"v":1,"rev":{rev}']
    if entries:
        parts.append(
            ',"e":['
            + ",".join(f"[{seq},{_json.dumps(ts)},{text}]" for seq, ts, text in entries)
            + "]"
        )
    if popped:
        parts.append(',"pop":' + _json.dumps(list(popped)))
    if clear is not None:
        parts.append(f',"clear":{clear}')
    parts.append("}")
    return "".join(parts)


def _decode_record(event: ADKEvent) -> _Record | None:
    metadata = event.custom_metadata
    if not metadata:
        return None
    text = metadata.get(METADATA_KEY)
    if not isinstance(text, str):
        return None
    try:
        raw = _json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("v") != 1:
        return None
    return _Record(
        rev=int(raw.get("rev", 0)),
        entries=[(int(seq), float(ts), data) for seq, ts, data in raw.get("e", ())],
        popped=[int(seq) for seq in raw.get("pop", ())],
        clear=raw.get("clear"),
    )


@dataclass(frozen=True)
class Meta:
    rev: int
    next_seq: int
    created_at: float

    def as_state(self, key: SessionKey) -> JSONObject:
        return {
            "rev": self.rev,
            "next": self.next_seq,
            "created": self.created_at,
            "key": [key.app_name, key.user_id, key.session_id],
        }


def meta_of(session: ADKSession) -> Meta:
    raw = session.state.get(META_KEY)
    if isinstance(raw, dict):
        try:
            return Meta(int(raw["rev"]), int(raw["next"]), float(raw["created"]))
        except (KeyError, TypeError, ValueError):
            pass
    # A session created by something else: no entries of ours yet.
    return Meta(0, 1, session.last_update_time)


def scope_of(session: ADKSession, prefix: str) -> JSONObject:
    """One scope of a session's merged state, un-prefixed and copied."""
    scope = {k[len(prefix) :]: v for k, v in session.state.items() if k.startswith(prefix)}
    copied: JSONObject = _json.loads(_json.dumps(scope, what="stored state"))
    return copied


def public_state(session: ADKSession) -> JSONObject:
    state = {k: v for k, v in session.state.items() if k != META_KEY}
    copied: JSONObject = _json.loads(_json.dumps(state, what="stored state"))
    return copied


def prefixed_delta(delta: StateDelta) -> JSONObject:
    """``delta`` (checked, ``temp:`` dropped) as a fresh flat ADK state delta."""
    if META_KEY in delta.session:
        raise InvalidEntry(
            f"state key {META_KEY!r} is reserved for omnisession's bookkeeping; rename it"
        )
    flat: JSONObject = dict(delta.session)
    flat.update({APP_PREFIX + k: v for k, v in delta.app.items()})
    flat.update({USER_PREFIX + k: v for k, v in delta.user.items()})
    # A private copy: in-memory services keep the values they are given.
    copied: JSONObject = _json.loads(_json.dumps(flat, what="state"))
    return copied


def _to_micros(timestamp: float) -> int:
    return math.ceil(round(timestamp * 1_000_000, 3))


def commit_time(session: ADKSession, floor: float | None) -> float:
    """A commit time later than the session's last update and not before ``floor``."""
    micros = max(_to_micros(now()), _to_micros(session.last_update_time) + 1)
    if floor is not None:
        micros = max(micros, _to_micros(floor))
    return micros / 1_000_000


def visible_entries(
    events: Sequence[ADKEvent], want: int | None
) -> tuple[list[tuple[int, float, JSONObject]], bool]:
    """Visible entries newest first; ``True`` when no older event can add any."""
    hidden: set[int] = set()
    found: list[tuple[int, float, JSONObject]] = []
    for event in reversed(events):
        record = _decode_record(event)
        if record is None:
            continue
        hidden.update(record.popped)
        for entry in reversed(record.entries):
            if entry[0] in hidden:
                continue
            found.append(entry)
            if want is not None and len(found) >= want:
                return found, True
        if record.clear is not None:
            return found, True
    return found, False
