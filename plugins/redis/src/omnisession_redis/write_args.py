"""A core :class:`~omnisession.writes.Write` as the arguments of ``lua/write.lua``."""

from __future__ import annotations

from collections.abc import Sequence

from omnisession.writes import Creation, Write

from .encoding import Arg, encode_timestamp, state_pairs

__all__ = ["MAX_SEQ", "describe", "raw_event_arguments", "write_arguments"]

MAX_SEQ = 2**53
"""Events are ordered by a sorted-set score, a double: exact up to 2**53."""

_CREATION = {Creation.NEVER: "n", Creation.IF_MISSING: "i", Creation.ONLY: "o"}


def describe(write: Write) -> str:
    """What a write does, for error messages."""
    if write.creation is Creation.ONLY:
        return "creating a session"
    if write.truncate_from is not None:
        return "replacing events" if write.events else "clearing a session"
    if len(write.events) == 1:
        return "appending an event"
    if write.events:
        return "adding items"
    return "updating state"


def write_arguments(write: Write, ttl_ms: str) -> list[Arg]:
    """ARGV of ``lua/write.lua`` up to (without) the single-node scope segments."""
    events: list[Arg] = []
    for event in write.events:
        if event.seq is not None and event.seq > MAX_SEQ:
            raise ValueError(
                f"event seq {event.seq} is over 2**53, the largest sequence number Redis "
                "can order exactly (events are scored by seq)"
            )
        events += [
            "" if event.seq is None else str(event.seq),
            encode_timestamp(event.timestamp),
            event.data,
            event.delta or "",
        ]
    base = ["-"] if write.base_state is None else state_pairs(write.base_state, "base state")
    return [
        *head_arguments(write, ttl_ms),
        str(len(write.events)),
        *events,
        *state_pairs(write.delta.session, "session state"),
        *base,
    ]


def head_arguments(write: Write, ttl_ms: str) -> list[Arg]:
    """The first six arguments: times, creation, expected revision, truncation, TTL."""
    return [
        encode_timestamp(write.updated_at),
        "" if write.created_at is None else encode_timestamp(write.created_at),
        _CREATION[write.creation],
        "" if write.expected_revision is None else str(write.expected_revision),
        "" if write.truncate_from is None else str(write.truncate_from),
        ttl_ms,
    ]


def raw_event_arguments(members: Sequence[bytes], deltas: Sequence[bytes | None]) -> list[Arg]:
    """Events as read from a source session (a fork), unchanged: ``k`` then 4 per event."""
    flat: list[Arg] = [str(len(members))]
    for index, member in enumerate(members):
        seq, stamp, payload = member.split(b" ", 2)
        delta = deltas[index] if deltas else None
        flat += [seq, stamp, payload, delta or b""]
    return flat
