"""How values travel to and from Redis: script arguments and replies.

Timestamps and TTLs are sent as text the scripts write back verbatim; state is
a hash of JSON values, sent as ``n, name, value...``; an event is a sorted-set
member ``b"seq timestamp payload"`` (see :mod:`omnisession_redis.keys`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from omnisession import backend as codec
from omnisession.model import Event, JSONObject

__all__ = [
    "as_text",
    "decode_events",
    "decode_hash",
    "decode_payload",
    "decode_payloads",
    "decode_state",
    "encode_state",
    "encode_timestamp",
    "encode_ttl",
]


def encode_timestamp(value: float) -> str:
    """A timestamp as text that Redis, Lua and Python all parse to the same double."""
    return repr(float(value))


def encode_ttl(seconds: float | None) -> str:
    """A TTL in whole milliseconds, rounded up (``"0"``: never expire)."""
    if not seconds:
        return "0"
    return str(max(1, math.ceil(seconds * 1000)))


def encode_state(values: Mapping[str, Any]) -> list[str]:
    """State values as script arguments: their count, then name and JSON value of each."""
    flat = [str(len(values))]
    for name, value in values.items():
        flat.append(name)
        flat.append(codec.dumps(value, what=f"state value {name!r}"))
    return flat


def as_text(value: Any) -> str:
    """A reply value (bytes, or a number from redis-py) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_hash(flat: Sequence[bytes] | Mapping[bytes, bytes]) -> dict[str, bytes]:
    """A hash as a script replies it (flat list) or as redis-py's HGETALL does (dict)."""
    if isinstance(flat, Mapping):
        return {as_text(name): value for name, value in flat.items()}
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def decode_state(flat: Sequence[bytes] | Mapping[bytes, bytes] | None) -> JSONObject:
    """A state hash's JSON values (``None`` or empty: no state)."""
    if not flat:
        return {}
    return {name: codec.loads(text) for name, text in decode_hash(flat).items()}


def decode_events(members: Sequence[bytes]) -> list[Event]:
    """Events from their ``b"seq timestamp payload"`` members, the payloads decoded at once."""
    rows = [member.decode().split(" ", 2) for member in members]
    payloads = codec.loads_all([text for _, _, text in rows])
    return [
        Event(int(seq), float(stamp), data)
        for (seq, stamp, _), data in zip(rows, payloads, strict=True)
    ]


def decode_payloads(members: Sequence[bytes]) -> list[JSONObject]:
    """The payloads of ``b"seq timestamp payload"`` members, decoded at once."""
    return codec.loads_all([member.split(b" ", 2)[2].decode() for member in members])


def decode_payload(member: bytes) -> JSONObject:
    """The payload of one ``b"seq timestamp payload"`` member."""
    data: JSONObject = codec.loads(member.split(b" ", 2)[2])
    return data
