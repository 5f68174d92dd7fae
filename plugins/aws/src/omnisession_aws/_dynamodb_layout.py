"""The item layout of the ``dynamodb://`` table: keys, attributes and their encoding.

Single-table layout (string keys ``pk`` / ``sk``)::

    pk = "s|APP|USER|SESSION"   sk = "meta"    the session (its commit point): v (format),
                                               rev, nseq (next seq), cat / uat (created /
                                               updated), inc (the id of its event partition),
                                               state ("$KEY" = JSON per session key), base
                                               state ("^KEY" = JSON: the state before the
                                               first event), ids app / user / sid, listing
                                               keys lapp / luser / lupd, exp (TTL)
    pk = "a|APP"                sk = "state"   app scope: "$KEY" = JSON, ver, app, lapp, lupd
    pk = "u|APP|USER"           sk = "state"   user scope: "$KEY" = JSON, ver, app, user, lapp, lupd
    pk = "e|INC"                sk = "g|SEQ"   a group of events written by one write (SEQ =
                                               its first seq, zero-padded): ts, d = [payload],
                                               o (the meta's pk), and when needed q = [seq],
                                               tl = [timestamp], x = [recorded delta or NULL],
                                               w (staged before its commit at this time)
    pk = "b|BLOB"               sk = "NNNNNN"  chunks of one text too large to inline: v, w
                                               (written at this time)

``APP``/``USER``/``SESSION`` are percent-encoded (or hashed when long) by
:func:`omnisession_aws._common.component`, so distinct ids never collide.
Scope items carry ``lapp`` and a ``lupd`` starting with ``~`` so the ``by_app``
index finds every scope of an app (erase_app, list_apps) while listings, which
ask for ``lupd < "~"``, never see them; ``ver`` grows with every scope update
so an erase can delete a scope only if no write touched it meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omnisession import backend as codec
from omnisession.errors import IncompatibleSchema
from omnisession.model import JSONObject, SessionKey

from ._common import component, sortable_time

#: The item format this version writes; a newer one is refused on read.
FORMAT = 2
SEQ_WIDTH = 20
META = "meta"
STATE = "state"
#: Scope items sort after every session in the listing indexes (``lupd`` of a
#: session is a zero-padded number, so it is always below this).
SCOPE_MARK = "~"
STATE_PREFIX = "$"
BASE_PREFIX = "^"


def text_attr(value: str) -> dict[str, str]:
    return {"S": value}


def number_attr(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def number_of(attr: Mapping[str, str]) -> float:
    return float(attr["N"]) if "N" in attr else float(attr["S"])


#: DynamoDB numbers cannot hold magnitudes below 1e-130; timestamps this close to
#: zero are stored as 0 for comparisons, plus their exact text.
TINY = 1e-100


def comparable(seconds: float) -> float:
    """``seconds`` as a DynamoDB number can hold it (0 for a magnitude below :data:`TINY`)."""
    return 0.0 if seconds != 0 and abs(seconds) < TINY else float(seconds)


def time_attrs(name: str, seconds: float) -> dict[str, Any]:
    """A time as attribute ``name`` (a number, for conditions and filters) and, when
    that number cannot be exact, ``name + "x"`` (its exact text)."""
    attrs: dict[str, Any] = {name: number_attr(comparable(seconds))}
    if comparable(seconds) != seconds:
        attrs[name + "x"] = text_attr(repr(float(seconds)))
    return attrs


def time_of(item: Mapping[str, Any], name: str) -> float:
    if name + "x" in item:
        return float(item[name + "x"]["S"])
    return number_of(item[name])


def integer_of(attr: Mapping[str, str]) -> int:
    return int(attr["N"])


def seq_sk(seq: int) -> str:
    return f"g|{seq:0{SEQ_WIDTH}d}"


def seq_of_sk(sort_key: str) -> int:
    return int(sort_key[2:])


def lupd(updated_at: float) -> str:
    """The listing sort key of a session (text order is time order)."""
    return sortable_time(updated_at)


def session_pk(key: SessionKey) -> str:
    return f"s|{component(key.app_name)}|{component(key.user_id)}|{component(key.session_id)}"


def app_pk(app_name: str) -> str:
    return f"a|{component(app_name)}"


def user_pk(app_name: str, user_id: str) -> str:
    return f"u|{component(app_name)}|{component(user_id)}"


def luser(app_name: str, user_id: str) -> str:
    return f"{component(app_name)}|{component(user_id)}"


def event_pk(inc: str) -> str:
    return f"e|{inc}"


def blob_pk(blob: str) -> str:
    return f"b|{blob}"


def _attribute_name(prefix: str, state_key: str) -> str:
    """``PREFIX+KEY``; a key UTF-8 cannot encode (a lone surrogate), or one starting
    with ``"``, is written as its JSON string instead (ASCII escapes, starts with ``"``)."""
    if state_key.startswith('"') or not _encodable(state_key):
        return prefix + codec.dumps(state_key)
    return prefix + state_key


def _state_key(name: str) -> str:
    if name.startswith('"'):
        decoded: str = codec.loads(name)
        return decoded
    return name


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def prefixed_attrs(item: Mapping[str, Any] | None, prefix: str = STATE_PREFIX) -> JSONObject:
    """The un-prefixed state dict stored as ``PREFIX+KEY`` attributes of an item."""
    if not item:
        return {}
    return {
        _state_key(name[len(prefix) :]): codec.loads(value["S"])
        for name, value in item.items()
        if name.startswith(prefix)
    }


def state_attrs(values: Mapping[str, Any], prefix: str = STATE_PREFIX) -> dict[str, Any]:
    """``values`` as ``PREFIX+KEY`` attributes of an item (JSON text each)."""
    return {
        _attribute_name(prefix, state_key): text_attr(codec.dumps(state_value, what="state"))
        for state_key, state_value in values.items()
    }


class Expression:
    """An update expression under construction: placeholders and their values."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []
        self.adds: list[str] = []
        self.removes: list[str] = []

    def name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, attr_value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = attr_value
        return placeholder

    def set(self, attribute: str, attr_value: Any) -> None:
        self.sets.append(f"{self.name(attribute)} = {self.value(attr_value)}")

    def set_state(self, values: Mapping[str, Any], prefix: str = STATE_PREFIX) -> None:
        for attribute, attr_value in state_attrs(values, prefix).items():
            self.set(attribute, attr_value)

    def set_time(self, attribute: str, seconds: float) -> None:
        """Set a time (see :func:`time_attrs`), removing a stale exact text."""
        attrs = time_attrs(attribute, seconds)
        for name, value in attrs.items():
            self.set(name, value)
        if attribute + "x" not in attrs:
            self.removes.append(self.name(attribute + "x"))

    def add(self, attribute: str, amount: int) -> None:
        self.adds.append(f"{self.name(attribute)} {self.value(number_attr(amount))}")

    def update_expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)

    def params(self) -> dict[str, Any]:
        """``UpdateExpression`` and its placeholders, ready for an Update action."""
        params: dict[str, Any] = {
            "UpdateExpression": self.update_expression(),
            "ExpressionAttributeNames": self.names,
        }
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        return params


@dataclass
class Meta:
    """A session's meta item as read (or as this instance committed it)."""

    rev: int
    next_seq: int
    inc: str
    created_at: float
    updated_at: float
    expires: float | None
    item: dict[str, Any] = field(default_factory=dict)
    """The whole item when it was read or put; ``{}`` when built after an update."""

    def live(self, at: float) -> bool:
        return self.expires is None or self.expires > at


def meta_of(item: Mapping[str, Any] | None) -> Meta | None:
    """The :class:`Meta` of a meta item (expired or not), ``None`` when there is none."""
    if not item or "rev" not in item:
        return None
    version = integer_of(item["v"]) if "v" in item else 1
    if version > FORMAT:
        raise IncompatibleSchema(
            f"session {item.get('sid', {}).get('S', '?')!r} was written by a newer "
            f"omnisession-aws (item format {version}); upgrade omnisession-aws"
        )
    return Meta(
        rev=integer_of(item["rev"]),
        next_seq=integer_of(item["nseq"]),
        inc=item["inc"]["S"],
        created_at=time_of(item, "cat"),
        updated_at=time_of(item, "uat"),
        expires=number_of(item["exp"]) if "exp" in item else None,
        item=dict(item),
    )


def base_of(meta: Meta) -> JSONObject | None:
    """The recorded base state (``None`` for a session written before it was recorded)."""
    if "v" not in meta.item:
        return None
    return prefixed_attrs(meta.item, BASE_PREFIX)


# -- events -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    """One event as a group item holds it: texts inline, or references to chunks."""

    seq: int
    timestamp: float
    data: str
    delta: str | None = None


def group_item(
    inc: str, rows: Sequence[StoredEvent], owner: str, staged_at: float | None = None
) -> dict[str, Any]:
    """The group item holding ``rows`` (consecutive in the session's order).

    ``owner`` is the pk of the session's meta item (how a sweep tells a partition no
    meta names any more); ``staged_at`` the time of a group written before the commit
    that will name it (a sweep leaves it alone for a while).
    """
    first = rows[0].seq
    stamps = [row.timestamp for row in rows]
    item: dict[str, Any] = {
        "pk": text_attr(event_pk(inc)),
        "sk": text_attr(seq_sk(first)),
        "o": text_attr(owner),
        **time_attrs("ts", max(stamps)),
        "d": {"L": [text_attr(row.data) for row in rows]},
    }
    if any(row.seq != first + index for index, row in enumerate(rows)):
        item["q"] = {"L": [number_attr(row.seq) for row in rows]}
    if len(set(stamps)) > 1:  # exact texts (format 1 wrote numbers)
        item["tl"] = {"L": [text_attr(repr(float(stamp))) for stamp in stamps]}
    if staged_at is not None:
        item["w"] = number_attr(int(staged_at))
    if any(row.delta is not None for row in rows):
        item["x"] = {
            "L": [{"NULL": True} if row.delta is None else text_attr(row.delta) for row in rows]
        }
    return item


def group_rows(item: Mapping[str, Any]) -> list[StoredEvent]:
    """The events of a group item, in order (reads format 1 groups too)."""
    first = seq_of_sk(item["sk"]["S"])
    texts = [entry["S"] for entry in item["d"]["L"]]
    count = len(texts)
    seqs = [integer_of(attr) for attr in item["q"]["L"]] if "q" in item else None
    stamps = [number_of(attr) for attr in item["tl"]["L"]] if "tl" in item else None
    deltas = (
        [None if "NULL" in attr else attr["S"] for attr in item["x"]["L"]] if "x" in item else None
    )
    shared = time_of(item, "ts")
    return [
        StoredEvent(
            seq=seqs[index] if seqs else first + index,
            timestamp=stamps[index] if stamps else shared,
            data=texts[index],
            delta=deltas[index] if deltas else None,
        )
        for index in range(count)
    ]
