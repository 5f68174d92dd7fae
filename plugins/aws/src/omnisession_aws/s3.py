"""``s3://BUCKET/PREFIX?region=...&endpoint_url=...``: sessions as S3 objects.

Layout under ``PREFIX/`` (``A``/``U``/``S`` are the percent-encoded, or hashed
when long, app, user and session ids; see :func:`omnisession_aws._common.component`)::

    s/A/U/S/head         the session: ids, revision, next_seq, created/updated, session
                         state, the list of its segments, and a tail of the newest
                         events (at most TAIL_EVENTS events / TAIL_BYTES bytes)
    s/A/U/S/seg/ID       a segment: older events, immutable, written once under a fresh ID
    a/A                  app scope state
    u/A/U                user scope state
    x/A/UPDATED/U/S/ID   listing index entry (empty object), valid while the head names it

The head is the commit point. Every write to a session reads it (or reuses
the copy this instance committed last), builds the next head and writes it
with ``If-Match: <etag>`` (``If-None-Match: *`` to create): a concurrent
writer makes it fail with 412 and the write is retried on the new head, so
across processes no append is lost or duplicated, ``expected_revision`` is
exact and each pop returns an item once. When the tail grows past its limits,
the writer first stores tail + new events as a new segment object, then
commits a head naming it, so appends never rewrite history: a segment is
never modified, and the head carries at most the newest few events plus one
short reference per segment. Segments of cleared, popped or failed writes are
deleted after the fact; until then they are unreachable.

What S3 cannot give: the app and user scopes are separate objects (shared by
many sessions) and S3 has no multi-object transaction. They are updated with
their own ``If-Match`` loop right *after* the session head commits, so they
never lose a concurrent update and a rejected write (``StaleSession``,
``SessionNotFound``) changes nothing, but a reader can see the event a moment
before its ``app:``/``user:`` changes, and a process dying between the two
writes loses those changes. Listing reads the index in key order (oldest
``updated_at`` first) and fetches each listed head.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from omnisession import backend as codec
from omnisession.backend import (
    decode_cursor,
    encode_cursor,
)
from omnisession.errors import (
    AlreadyExists,
    BackendUnavailable,
    SessionNotFound,
    StaleSession,
)
from omnisession.model import (
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    now,
)
from omnisession.store import Capability

from ._common import (
    OPTION_NAMES,
    AwsOptions,
    backoff,
    botocore_errors,
    component,
    error_code,
    one_off_client,
    parse_options,
)
from ._front import ThreadedStore

__all__ = ["S3Store", "create_bucket", "open_s3_store"]

#: The head keeps at most this many newest events inline ...
TAIL_EVENTS = 32
#: ... and at most this many bytes of them; beyond, they move to a segment.
TAIL_BYTES = 64 * 1024
#: Optimistic retries before giving up with BackendUnavailable.
MAX_RACES = 200
_FORMAT = 1

_RACE_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404"}


@dataclass
class _Head:
    """A session head as stored (JSON) plus the ETag it was read or written with."""

    etag: str
    data: dict[str, Any]

    @property
    def rev(self) -> int:
        value: int = self.data["rev"]
        return value

    @property
    def tail(self) -> list[list[Any]]:
        value: list[list[Any]] = self.data["tail"]
        return value

    @property
    def segs(self) -> list[list[Any]]:
        value: list[list[Any]] = self.data["segs"]
        return value


@dataclass
class _Written:
    """Objects a write created before its commit, removed if the commit fails."""

    keys: list[str] = field(default_factory=list)


class _Race(Exception):
    """A referenced object changed or vanished under a read; re-read the head."""


class S3Store(ThreadedStore["_Head"]):
    """A :class:`~omnisession.SessionStore` on S3 conditional writes (see module docs)."""

    capabilities = frozenset(
        {
            Capability.BASE,
            Capability.PERSISTENT,
            Capability.CROSS_PROCESS,
            Capability.LARGE_ENTRIES,
        }
    )

    _client_name = "s3"
    _service = "S3"
    _resource_kind = "bucket"
    _missing_code = "NoSuchBucket"
    _create_hint = "omnisession_aws.create_bucket() / `omnisession-aws create-bucket URL`"

    def __init__(self, bucket: str, prefix: str, options: AwsOptions) -> None:
        if not bucket:
            raise ValueError("s3:// needs a bucket: s3://BUCKET/PREFIX?region=...")
        super().__init__(bucket, options)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _create_resource(self) -> None:
        _create_bucket(self._runner.client, self.bucket)

    # -- keys ------------------------------------------------------------------

    def _session_dir(self, key: SessionKey) -> str:
        return (
            f"{self.prefix}s/{component(key.app_name, 200)}/{component(key.user_id, 200)}/"
            f"{component(key.session_id, 200)}/"
        )

    def _app_key(self, app_name: str) -> str:
        return f"{self.prefix}a/{component(app_name, 200)}"

    def _user_key(self, app_name: str, user_id: str) -> str:
        return f"{self.prefix}u/{component(app_name, 200)}/{component(user_id, 200)}"

    def _index_dir(self, app_name: str) -> str:
        return f"{self.prefix}x/{component(app_name, 200)}/"

    def _index_key(self, key: SessionKey, updated_at: float) -> str:
        return (
            f"{self._index_dir(key.app_name)}{updated_at:020.6f}/"
            f"{component(key.user_id, 200)}/{component(key.session_id, 200)}/{uuid.uuid4().hex}"
        )

    # -- object helpers (worker thread) ------------------------------------------

    def _get(self, key: str) -> tuple[bytes, str] | None:
        ClientError = botocore_errors()[1]

        try:
            response = self._runner.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        body: bytes = response["Body"].read()
        return body, str(response["ETag"])

    def _put(
        self, key: str, body: bytes, *, if_match: str | None = None, create: bool = False
    ) -> str | None:
        """Conditional PUT; the new ETag, or ``None`` if the condition failed (a race)."""
        ClientError = botocore_errors()[1]

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        elif create:
            kwargs["IfNoneMatch"] = "*"
        try:
            response = self._runner.client.put_object(**kwargs)
        except ClientError as exc:
            if error_code(exc) in _RACE_CODES:
                return None
            raise
        return str(response["ETag"])

    def _delete_quietly(self, keys: Sequence[str]) -> None:
        """Best effort: these objects are unreachable already; errors must not mask others."""
        keys = [key for key in keys if key]
        for start in range(0, len(keys), 1000):
            with contextlib.suppress(Exception):
                self._runner.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={
                        "Objects": [{"Key": k} for k in keys[start : start + 1000]],
                        "Quiet": True,
                    },
                )

    def _read_head(self, key: SessionKey) -> _Head | None:
        got = self._get(self._session_dir(key) + "head")
        if got is None:
            return None
        body, etag = got
        data = codec.loads(body)
        if data.get("v", 0) > _FORMAT:
            from omnisession.errors import IncompatibleSchema

            raise IncompatibleSchema(
                f"session {key} was written by a newer omnisession-aws (format {data['v']}); "
                "upgrade omnisession-aws"
            )
        return _Head(etag, data)

    def _read_scope(self, object_key: str) -> tuple[JSONObject, str | None]:
        got = self._get(object_key)
        if got is None:
            return {}, None
        state: JSONObject = codec.loads(got[0])["state"]
        return state, got[1]

    def _update_scope(self, object_key: str, scope: Mapping[str, Any]) -> None:
        if not scope:
            return
        for attempt in range(MAX_RACES):
            state, etag = self._read_scope(object_key)
            state.update(scope)
            body = codec.dumps({"v": _FORMAT, "state": state}, what="state").encode()
            if self._put(object_key, body, if_match=etag, create=etag is None) is not None:
                return
            backoff(attempt)
        raise BackendUnavailable(f"{object_key}: gave up after {MAX_RACES} write conflicts")

    # -- events ------------------------------------------------------------------

    def _segment(self, key: SessionKey, name: str) -> list[list[Any]]:
        got = self._get(self._session_dir(key) + "seg/" + name)
        if got is None:
            raise _Race(name)
        events: list[list[Any]] = codec.loads(got[0])
        return events

    def _rows(self, key: SessionKey, head: _Head, newest: int | None) -> list[list[Any]]:
        """``[seq, ts, text]`` rows oldest first; only the newest ``newest`` if given,
        reading segments from the end until they are covered."""
        rows = list(head.tail)
        for name, _first, _count in reversed(head.segs):
            if newest is not None and len(rows) >= newest:
                break
            rows[:0] = self._segment(key, name)
        if newest is not None:
            rows = rows[-newest:] if newest else []
        return rows

    def _snapshot(
        self, key: SessionKey, newest: int | None
    ) -> tuple[_Head, list[list[Any]]] | None:
        """The head and its rows, consistent with each other (re-read if a segment
        vanished under the read because a concurrent pop or clear committed)."""
        for attempt in range(MAX_RACES):
            head = self._read_head(key)
            if head is None:
                return None
            try:
                return head, self._rows(key, head, newest)
            except _Race:
                backoff(attempt)
        raise BackendUnavailable(f"session {key}: segments kept changing under the read")

    def _record(self, key: SessionKey, head: _Head) -> SessionRecord:
        app, _ = self._read_scope(self._app_key(key.app_name))
        user, _ = self._read_scope(self._user_key(key.app_name, key.user_id))
        data = head.data
        return SessionRecord(
            key=key,
            state=merge_state(data["state"], app, user),
            events=[],
            created_at=data["cat"],
            updated_at=data["uat"],
            revision=data["rev"],
        )

    # -- the write path ------------------------------------------------------------

    def _new_head_data(self, key: SessionKey, stamp: float) -> dict[str, Any]:
        return {
            "v": _FORMAT,
            "key": [key.app_name, key.user_id, key.session_id],
            "cat": stamp,
            "uat": stamp,
            "rev": 0,
            "nseq": 1,
            "state": {},
            "segs": [],
            "tail": [],
            "idx": "",
        }

    def _write_head(
        self,
        key: SessionKey,
        old: _Head | None,
        data: dict[str, Any],
        written: _Written,
    ) -> _Head | None:
        """Commit ``data`` as the next head of ``old`` (``None``: create); moves the
        listing entry. Returns the committed head, or ``None`` if another writer won."""
        index_key = self._index_key(key, data["uat"])
        data["idx"] = index_key
        self._put(index_key, b"")
        written.keys.append(index_key)
        body = codec.dumps(data, what="state").encode()
        etag = self._put(
            self._session_dir(key) + "head",
            body,
            if_match=old.etag if old is not None else None,
            create=old is None,
        )
        if etag is None:
            return None
        written.keys.remove(index_key)
        if old is not None:
            self._delete_quietly([old.data.get("idx", "")])
        return _Head(etag, data)

    def _shrink_head(
        self, key: SessionKey, head: _Head, data: dict[str, Any], garbage: list[str]
    ) -> bool:
        """Commit ``data``, ``head`` with events taken out, as the next revision, then
        delete ``garbage`` (the segments it no longer names); ``False`` if another
        writer won (nothing changed)."""
        data["rev"] += 1
        data["uat"] = max(data["uat"], now())
        written = _Written()
        committed = self._write_head(key, head, data, written)
        if committed is None:
            self._delete_quietly(written.keys)
            return False
        self._remember(key, committed)
        self._delete_quietly(garbage)
        return True

    def _commit(
        self,
        key: SessionKey,
        texts: Sequence[str],
        delta: StateDelta,
        *,
        timestamp: float | None = None,
        expected_revision: int | None = None,
        create: bool = False,
    ) -> tuple[int, int, float]:
        """Append ``texts`` and apply ``delta``; ``(first seq, revision, timestamp)``."""
        with self._lock_for(key):
            head, cached = self._writer_state(key, self._read_head)
            for attempt in range(MAX_RACES):
                if head is None and not create:
                    if cached:
                        head, cached = self._read_head(key), False
                        continue
                    raise SessionNotFound(key)
                if head is not None and expected_revision not in (None, head.rev):
                    if cached:
                        head, cached = self._read_head(key), False
                        continue
                    assert expected_revision is not None
                    raise StaleSession(key, expected_revision, head.rev)
                stamp = now()
                ts = stamp if timestamp is None else float(timestamp)
                data = dict(head.data) if head is not None else self._new_head_data(key, stamp)
                first = data["nseq"]
                data["rev"] += 1
                data["nseq"] = first + len(texts)
                data["uat"] = max(data["uat"], stamp)
                data["state"] = {**data["state"], **delta.session}
                tail = [*data["tail"], *([first + i, ts, text] for i, text in enumerate(texts))]
                written = _Written()
                if len(tail) > TAIL_EVENTS or sum(len(row[2]) for row in tail) > TAIL_BYTES:
                    name = uuid.uuid4().hex
                    segment_key = self._session_dir(key) + "seg/" + name
                    self._put(segment_key, codec.dumps(tail).encode(), create=True)
                    written.keys.append(segment_key)
                    data["segs"] = [*data["segs"], [name, tail[0][0], len(tail)]]
                    tail = []
                data["tail"] = tail
                committed = self._write_head(key, head, data, written)
                if committed is not None:
                    self._remember(key, committed)
                    self._update_scope(self._app_key(key.app_name), delta.app)
                    self._update_scope(self._user_key(key.app_name, key.user_id), delta.user)
                    return first, data["rev"], ts
                self._delete_quietly(written.keys)
                head, cached = self._read_head(key), False
                backoff(attempt)
            self._remember(key, None)
        raise BackendUnavailable(f"session {key}: gave up after {MAX_RACES} write conflicts")

    def _create(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        with self._lock_for(key):
            data = self._new_head_data(key, now())
            data["rev"] = 1
            data["state"] = dict(delta.session)
            written = _Written()
            head = self._write_head(key, None, data, written)
            if head is None:
                self._delete_quietly(written.keys)
                self._remember(key, None)
                raise AlreadyExists(key)
            self._remember(key, head)
        self._update_scope(self._app_key(key.app_name), delta.app)
        self._update_scope(self._user_key(key.app_name, key.user_id), delta.user)
        return self._record(key, head)

    def _pop(self, key: SessionKey) -> JSONObject | None:
        with self._lock_for(key):
            head, cached = self._writer_state(key, self._read_head)
            for attempt in range(MAX_RACES):
                if head is None or not (head.tail or head.segs):
                    if cached:
                        head, cached = self._read_head(key), False
                        continue
                    return None
                data = dict(head.data)
                dropped: list[str] = []
                try:
                    if head.tail:
                        tail = list(head.tail)
                    else:
                        name = head.segs[-1][0]
                        tail = self._segment(key, name)
                        data["segs"] = head.segs[:-1]
                        dropped.append(self._session_dir(key) + "seg/" + name)
                except _Race:
                    head, cached = self._read_head(key), False
                    continue
                text = tail.pop()[2]
                data["tail"] = tail
                if self._shrink_head(key, head, data, dropped):
                    result: JSONObject = codec.loads(text)
                    return result
                head, cached = self._read_head(key), False
                backoff(attempt)
            self._remember(key, None)
        raise BackendUnavailable(f"session {key}: gave up after {MAX_RACES} write conflicts")

    def _retire(self, key: SessionKey, *, delete: bool) -> None:
        """Clear (empty head) or delete the session with one conditional write,
        then remove the objects it no longer names."""
        ClientError = botocore_errors()[1]

        with self._lock_for(key):
            head = self._read_head(key)
            for attempt in range(MAX_RACES):
                if head is None:
                    self._remember(key, None)
                    return
                garbage = [self._session_dir(key) + "seg/" + seg[0] for seg in head.segs]
                if delete:
                    try:
                        self._runner.client.delete_object(
                            Bucket=self.bucket,
                            Key=self._session_dir(key) + "head",
                            IfMatch=head.etag,
                        )
                        done = True
                    except ClientError as exc:
                        if error_code(exc) not in _RACE_CODES:
                            raise
                        done = False
                    if done:
                        self._remember(key, None)
                        self._delete_quietly([*garbage, head.data.get("idx", "")])
                        return
                else:
                    data = dict(head.data)
                    data["segs"], data["tail"] = [], []
                    if self._shrink_head(key, head, data, garbage):
                        return
                head = self._read_head(key)
                backoff(attempt)
            self._remember(key, None)
        raise BackendUnavailable(f"session {key}: gave up after {MAX_RACES} write conflicts")

    # -- reads -----------------------------------------------------------------------

    def _read_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        snapshot = self._snapshot(key, last)
        if snapshot is None:
            return None
        head, rows = snapshot
        record = self._record(key, head)
        record.events.extend(
            Event(seq, ts, codec.loads(text))
            for seq, ts, text in rows
            if since is None or ts >= since
        )
        return record

    def _read_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        snapshot = self._snapshot(key, limit)
        if snapshot is None:
            return []
        return [codec.loads(text) for _seq, _ts, text in snapshot[1]]

    def _list(self, app_name: str, user_id: str | None, size: int, cursor: str | None) -> Page:
        directory = self._index_dir(app_name)
        start_after = directory
        if cursor:
            start_after = decode_cursor(cursor, 1)[0]
            if not isinstance(start_after, str) or not start_after.startswith(directory):
                raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")
        user_part = component(user_id, 200) if user_id is not None else None
        found: list[tuple[str, SessionKey, _Head]] = []
        more = False
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": directory,
            "StartAfter": start_after,
        }
        while not more:
            response = self._runner.client.list_objects_v2(**kwargs)
            for entry in response.get("Contents", []):
                index_key: str = entry["Key"]
                parts = index_key[len(directory) :].split("/")
                if len(parts) != 4 or (user_part is not None and parts[1] != user_part):
                    continue
                head_key = f"{self.prefix}s/{component(app_name, 200)}/{parts[1]}/{parts[2]}/head"
                got = self._get(head_key)
                if got is None:
                    continue
                head = _Head(got[1], codec.loads(got[0]))
                if head.data.get("idx") != index_key:
                    continue  # a stale entry: the session moved on (or a write failed)
                if len(found) == size:
                    more = True
                    break
                app, user, session = head.data["key"]
                found.append((index_key, SessionKey(app, user, session), head))
            if not response.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = response["NextContinuationToken"]
        app_state, _ = self._read_scope(self._app_key(app_name))
        users: dict[str, JSONObject] = {}
        records = []
        for _index_key, key, head in found:
            if key.user_id not in users:
                users[key.user_id] = self._read_scope(self._user_key(app_name, key.user_id))[0]
            records.append(
                SessionRecord(
                    key=key,
                    state=merge_state(head.data["state"], app_state, users[key.user_id]),
                    events=[],
                    created_at=head.data["cat"],
                    updated_at=head.data["uat"],
                    revision=head.rev,
                )
            )
        return Page(records, encode_cursor(found[-1][0]) if more else None)

    def _user_state(self, app_name: str, user_id: str) -> JSONObject:
        return self._read_scope(self._user_key(app_name, user_id))[0]

    def _app_state(self, app_name: str) -> JSONObject:
        return self._read_scope(self._app_key(app_name))[0]


def _create_bucket(client: Any, bucket: str) -> bool:
    ClientError = botocore_errors()[1]

    region = client.meta.region_name
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        if error_code(exc) in ("BucketAlreadyOwnedByYou",):
            return False
        raise
    return True


def create_bucket(
    bucket: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    client: Any = None,
) -> bool:
    """Create the bucket an ``s3://BUCKET/...`` store needs; ``False`` if you already own it.

    Credentials come from the usual AWS chain; pass ``client`` (a boto3 S3
    client) to use one you already have instead.
    """
    with one_off_client(
        "s3", client, region=region, endpoint_url=endpoint_url, profile=profile
    ) as s3:
        return _create_bucket(s3, bucket)


#: Every option but ttl: S3 objects have no TTL.
_S3_OPTIONS = OPTION_NAMES - {"ttl"}


def open_s3_store(url: str, **options: Any) -> S3Store:
    """Factory for ``s3://BUCKET/PREFIX?region=..&endpoint_url=..&create=true``."""
    parts = urlsplit(url)
    return S3Store(
        parts.netloc, parts.path, parse_options(parts.query, options, allowed=_S3_OPTIONS)
    )
