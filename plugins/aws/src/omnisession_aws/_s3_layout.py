"""The object layout of an ``s3://BUCKET/PREFIX`` store: keys, the session head, rows.

Under ``PREFIX/`` (``A``/``U``/``S`` are the percent-encoded, or hashed when
long, app, user and session ids; see :func:`omnisession_aws._common.component`)::

    s/A/U/S/head         the session (its commit point): ids, revision, next seq,
                         created/updated, session state, base state (the state before
                         the first event), its segment list, and a tail of the newest
                         events (at most TAIL_EVENTS events / TAIL_BYTES bytes)
    s/A/U/S/seg/ID       a segment: older events, immutable, written once under a fresh ID
    a/A                  app scope: {"v", "app", "st"}
    u/A/U                user scope: {"v", "app", "user", "st"}
    x/A/UPDATED/U/S/ID   listing index entry (empty object), valid while the head names it

An event is a row ``[seq, timestamp, payload JSON text, recorded delta JSON text or
null]``; a segment reference is ``[ID, first seq, count, last seq]``. State is
kept per key as JSON text (``st``: session state, ``bs``: base state), so a
value nested as deep as core allows never makes the object deeper than that.
Objects of format 1 (state as plain JSON under ``state``, rows without a delta,
references without a last seq, no base state) are read as they are and written
back in format 2.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from omnisession import backend as codec
from omnisession.errors import IncompatibleSchema
from omnisession.model import JSONObject, SessionKey

from ._common import component, sortable_time

__all__ = ["FORMAT", "Head", "Keys", "Row", "Segment"]

FORMAT = 2
#: Ids in object keys are hashed beyond this many encoded bytes (S3 keys max out at 1024).
ID_LIMIT = 200


@dataclass(frozen=True)
class Row:
    """One event as a head or a segment stores it."""

    seq: int
    timestamp: float
    data: str
    delta: str | None = None

    def stored(self) -> list[Any]:
        return [self.seq, self.timestamp, self.data, self.delta]

    @property
    def size(self) -> int:
        return len(self.data) + len(self.delta or "") + 32


def row_of(stored: list[Any]) -> Row:
    return Row(stored[0], stored[1], stored[2], stored[3] if len(stored) > 3 else None)


@dataclass(frozen=True)
class Segment:
    """A reference to a segment object: its id and the seqs it holds."""

    name: str
    first: int
    count: int
    last: int

    def stored(self) -> list[Any]:
        return [self.name, self.first, self.count, self.last]


def segment_of(stored: list[Any]) -> Segment:
    name, first, count = stored[0], stored[1], stored[2]
    # Format 1 segments hold consecutive seqs.
    last = stored[3] if len(stored) > 3 else first + count - 1
    return Segment(name, first, count, last)


@dataclass
class Head:
    """A session head as stored (JSON) plus the ETag it was read or written with."""

    etag: str
    data: dict[str, Any]
    written: dict[str, JSONObject] = field(default_factory=dict, compare=False)
    """The app / user scopes (keys ``"app"``, ``"user"``) as the write that committed
    this head left them; not stored (it saves a create re-reading them)."""

    @property
    def rev(self) -> int:
        value: int = self.data["rev"]
        return value

    @property
    def next_seq(self) -> int:
        value: int = self.data["nseq"]
        return value

    @property
    def updated_at(self) -> float:
        value: float = self.data["uat"]
        return value

    @property
    def tail(self) -> list[Row]:
        return [row_of(stored) for stored in self.data["tail"]]

    @property
    def segments(self) -> list[Segment]:
        return [segment_of(stored) for stored in self.data["segs"]]

    @property
    def state(self) -> JSONObject:
        return state_of(self.data)

    @property
    def base(self) -> JSONObject | None:
        """The recorded base state (``None`` for a head written before it was recorded)."""
        if "bs" not in self.data:
            return None
        return decoded(self.data["bs"])

    @property
    def index_key(self) -> str:
        value: str = self.data.get("idx", "")
        return value

    def draft(self) -> dict[str, Any]:
        """A copy of the data to build the next head from (format 2)."""
        data = copy.deepcopy(self.data)
        if data.get("v", 1) < FORMAT:
            data["st"] = encoded(data.pop("state", {}))
            if data["nseq"] == 1:  # never had an event: the base state is the state
                data["bs"] = dict(data["st"])
        data["v"] = FORMAT
        return data


def encoded(values: JSONObject) -> dict[str, str]:
    """State as stored: each value as its JSON text."""
    return {name: codec.dumps(value, what="state") for name, value in values.items()}


def decoded(texts: dict[str, str]) -> JSONObject:
    return {name: codec.loads(text) for name, text in texts.items()}


def state_of(body: dict[str, Any]) -> JSONObject:
    """The state of a head or a scope object (either format)."""
    if "st" in body:
        return decoded(body["st"])
    legacy: JSONObject = body.get("state", {})
    return legacy


def head_of(etag: str, body: bytes, key: SessionKey | None = None) -> Head:
    data = codec.loads(body)
    if data.get("v", 0) > FORMAT:
        raise IncompatibleSchema(
            f"session {key or data.get('key')} was written by a newer omnisession-aws "
            f"(format {data['v']}); upgrade omnisession-aws"
        )
    return Head(etag, data)


def new_head_data(key: SessionKey, created_at: float) -> dict[str, Any]:
    return {
        "v": FORMAT,
        "key": [key.app_name, key.user_id, key.session_id],
        "cat": created_at,
        "uat": created_at,
        "rev": 0,
        "nseq": 1,
        "st": {},
        "bs": {},
        "segs": [],
        "tail": [],
        "idx": "",
    }


def scope_body(app_name: str, user_id: str | None, state: JSONObject) -> bytes:
    body: dict[str, Any] = {"v": FORMAT, "app": app_name, "st": encoded(state)}
    if user_id is not None:
        body["user"] = user_id
    return codec.dumps(body, what="state").encode()


class Keys:
    """Object keys under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def sessions_dir(self, app_name: str, user_id: str | None = None) -> str:
        base = f"{self.prefix}s/{component(app_name, ID_LIMIT)}/"
        return base if user_id is None else base + f"{component(user_id, ID_LIMIT)}/"

    def session_dir(self, key: SessionKey) -> str:
        return self.sessions_dir(key.app_name, key.user_id) + (
            f"{component(key.session_id, ID_LIMIT)}/"
        )

    def head(self, key: SessionKey) -> str:
        return self.session_dir(key) + "head"

    def segment(self, key: SessionKey, name: str) -> str:
        return self.session_dir(key) + "seg/" + name

    def app_scope(self, app_name: str) -> str:
        return f"{self.prefix}a/{component(app_name, ID_LIMIT)}"

    def user_scopes_dir(self, app_name: str) -> str:
        return f"{self.prefix}u/{component(app_name, ID_LIMIT)}/"

    def user_scope(self, app_name: str, user_id: str) -> str:
        return self.user_scopes_dir(app_name) + component(user_id, ID_LIMIT)

    def scope(self, app_name: str, user_id: str | None) -> str:
        if user_id is None:
            return self.app_scope(app_name)
        return self.user_scope(app_name, user_id)

    def index_dir(self, app_name: str) -> str:
        return f"{self.prefix}x/{component(app_name, ID_LIMIT)}/"

    def index_entry(self, key: SessionKey, updated_at: float) -> str:
        return (
            f"{self.index_dir(key.app_name)}{sortable_time(updated_at)}/"
            f"{component(key.user_id, ID_LIMIT)}/{component(key.session_id, ID_LIMIT)}/"
            f"{uuid.uuid4().hex}"
        )

    def index_parts(self, app_name: str, index_key: str) -> list[str]:
        """``[UPDATED, U, S, ID]`` of an index entry of ``app_name``."""
        return index_key[len(self.index_dir(app_name)) :].split("/")

    def head_of_index(self, app_name: str, user_part: str, session_part: str) -> str:
        return f"{self.sessions_dir(app_name)}{user_part}/{session_part}/head"
