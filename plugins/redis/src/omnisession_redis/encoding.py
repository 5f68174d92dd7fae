"""How values travel to and from the scripts: arguments and replies.

Timestamps and TTLs are sent as text the scripts write back verbatim. State is
a hash of JSON texts, sent as ``n, name, value...`` (names by
:func:`~omnisession_redis.keys.encode_name`); an event is a sorted-set member
``b"seq timestamp payload"`` and its recorded delta a field of the session's
delta hash (see :mod:`omnisession_redis.keys`). Payload and value texts come
from core's encoder and are UTF-8-safe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from omnisession import backend as codec
from omnisession.model import Event, JSONObject

from .keys import decode_name, encode_name

__all__ = [
    "Arg",
    "decode_events",
    "decode_meta",
    "decode_payload",
    "decode_payloads",
    "decode_state",
    "encode_timestamp",
    "encode_ttl",
    "scope_segment",
    "state_pairs",
]

Arg = str | bytes
"""One script argument."""


def encode_timestamp(value: float) -> str:
    """A timestamp as text that Redis, Lua and Python all parse to the same double."""
    return repr(float(value))


def encode_ttl(seconds: float | None) -> str:
    """A TTL in whole milliseconds, rounded up (``"0"``: never expire)."""
    if not seconds:
        return "0"
    return str(max(1, math.ceil(seconds * 1000)))


def state_pairs(values: Mapping[str, Any], what: str = "state") -> list[Arg]:
    """State values as script arguments: their count, then each name and JSON value."""
    flat: list[Arg] = [str(len(values))]
    for name, value in values.items():
        flat.append(encode_name(name))
        flat.append(codec.dumps(value, what=what))
    return flat


def scope_segment(
    mode: str,
    member: str,
    score: str,
    state_ttl: str,
    index_ttl: str,
    values: Mapping[str, Any] | None = None,
    *,
    register: str = "",
    users_ttl: str = "0",
) -> list[Arg]:
    """One scope segment of a script's arguments (see ``apply_scope`` in ``lua/lib.lua``)."""
    return [
        mode,
        member,
        score,
        state_ttl,
        index_ttl,
        register,
        users_ttl,
        *state_pairs(values or {}, "scope state"),
    ]


def decode_meta(flat: Sequence[bytes]) -> dict[str, str]:
    """A session's meta hash, as the scripts reply it (a flat list)."""
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


def decode_state(flat: Sequence[bytes] | Mapping[bytes, bytes] | None) -> JSONObject:
    """A state hash (a script's flat list or HGETALL's dict); ``None`` or empty: ``{}``."""
    if not flat:
        return {}
    if isinstance(flat, Mapping):
        names = [decode_name(name) for name in flat]
        texts = [value.decode() for value in flat.values()]
    else:
        names = [decode_name(flat[i]) for i in range(0, len(flat), 2)]
        texts = [flat[i].decode() for i in range(1, len(flat), 2)]
    return dict(zip(names, codec.loads_all(texts), strict=True))


def decode_events(members: Sequence[bytes], deltas: Sequence[bytes | None]) -> list[Event]:
    """Events from their members and recorded deltas (``[]``: none has a delta)."""
    rows = [member.decode().split(" ", 2) for member in members]
    payloads = codec.loads_all([text for _, _, text in rows])
    recorded: list[JSONObject | None] = [None] * len(rows)
    present = [(index, text.decode()) for index, text in enumerate(deltas) if text is not None]
    if present:
        decoded = codec.loads_all([text for _, text in present])
        for (index, _), delta in zip(present, decoded, strict=True):
            recorded[index] = delta
    return [
        Event(int(seq), float(stamp), data, delta)
        for (seq, stamp, _), data, delta in zip(rows, payloads, recorded, strict=True)
    ]


def decode_payloads(members: Sequence[bytes]) -> list[JSONObject]:
    """The payloads of ``b"seq timestamp payload"`` members, decoded at once."""
    return codec.loads_all([member.split(b" ", 2)[2].decode() for member in members])


def decode_payload(member: bytes) -> JSONObject:
    """The payload of one ``b"seq timestamp payload"`` member."""
    data: JSONObject = codec.loads(member.split(b" ", 2)[2])
    return data
