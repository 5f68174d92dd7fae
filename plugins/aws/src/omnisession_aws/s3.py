"""``s3://BUCKET/PREFIX?region=...&endpoint_url=...``: sessions as S3 objects.

The objects and their keys are described in :mod:`omnisession_aws._s3_layout`,
the history (tail and segments) in :mod:`omnisession_aws._s3_history`.

The head is the commit point. Every write to a session (``_write``, the one
write primitive, and ``pop_item``) reads it (or reuses the copy this instance
committed last), builds the next head and writes it with ``If-Match: <etag>``
(``If-None-Match: *`` to create): a concurrent writer makes it fail with 412
and the write is retried on the new head, so across processes no append is
lost or duplicated, ``expected_revision`` is exact and each pop returns an
item once.

What S3 cannot give: the app and user scopes are separate objects (shared by
many sessions) and S3 has no multi-object transaction. They are updated with
their own ``If-Match`` loop right *after* the session head commits, so they
never lose a concurrent update and a rejected write (``StaleSession``,
``SessionNotFound``) changes nothing, but a reader can see the event a moment
before its ``app:``/``user:`` changes, and a process dying between the two
writes loses those changes. A write whose session an erase deleted before its
scope update landed takes that update back, so an erase leaves no orphan scope.
Listing reads the index in key order (oldest ``updated_at`` first) and fetches
each listed head.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from omnisession import backend as codec
from omnisession.backend import decode_cursor, encode_cursor
from omnisession.errors import BackendUnavailable, InvalidOption
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
from omnisession.writes import Committed, Creation, Write

from ._client import one_off_client
from ._common import backoff, component
from ._errors import error_code
from ._front import MAX_RACES, Done, Lost, ThreadedStore, check_write, later
from ._s3_history import History, Race
from ._s3_io import BucketIO
from ._s3_layout import ID_LIMIT, Head, Keys, head_of, scope_body, state_of
from ._s3_lifecycle import Lifecycle
from .capabilities import S3_CAPABILITIES
from .options import S3_OPTIONS, AwsOptions, parse_aws_url

__all__ = ["S3Store", "create_bucket", "open_s3_store"]


class S3Store(ThreadedStore[Head]):
    """A :class:`~omnisession.SessionStore` on S3 conditional writes (see module docs)."""

    capabilities = S3_CAPABILITIES

    _client_name = "s3"
    _service = "S3"
    _resource_kind = "bucket"
    _create_hint = "omnisession_aws.create_bucket() / `omnisession-aws create-bucket URL`"

    def __init__(self, bucket: str, prefix: str, options: AwsOptions) -> None:
        if not bucket:
            raise InvalidOption("s3:// needs a bucket: s3://BUCKET/PREFIX?region=...")
        super().__init__(bucket, options)
        self.bucket = bucket
        self._keys = Keys(prefix)
        self.prefix = self._keys.prefix
        self._io = BucketIO(self._runner, bucket)
        self._history = History(self._io, self._keys)
        self._lifecycle = Lifecycle(self._io, self._keys, self._load, self._forget)
        self._scope_stripes = [threading.Lock() for _ in range(16)]

    def _create_resource(self) -> None:
        create_bucket_with(self._io.client, self.bucket)

    # -- heads and scopes ------------------------------------------------------------

    def _load(self, key: SessionKey) -> Head | None:
        got = self._io.get(self._keys.head(key))
        return None if got is None else head_of(got[1], got[0], key)

    def _forget(self, key: SessionKey) -> None:
        self._remember(key, None)

    def _commit_head(
        self, key: SessionKey, old: Head | None, data: dict[str, Any], staged: list[str]
    ) -> Head | None:
        """Write ``data`` as the next head after ``old`` (``None``: create) with a new
        listing entry; the committed head, or ``None`` if another writer won."""
        index_key = self._keys.index_entry(key, data["uat"])
        data["idx"] = index_key
        self._io.put(index_key, b"")
        etag = self._io.put(
            self._keys.head(key),
            codec.dumps(data, what="state").encode(),
            if_match=old.etag if old is not None else None,
            create=old is None,
        )
        if etag is None:
            later(self._io.delete_many, [*staged, index_key])
            return None
        if old is not None and old.index_key:
            later(self._io.delete_many, [old.index_key])
        return Head(etag, data)

    def _read_scope(self, app_name: str, user_id: str | None) -> tuple[JSONObject, str | None]:
        got = self._io.get(self._keys.scope(app_name, user_id))
        if got is None:
            return {}, None
        return state_of(codec.loads(got[0])), got[1]

    def _merge_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        self._merged_scope(app_name, user_id, values)

    def _merged_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> JSONObject:
        """Merge ``values`` into a scope object; the result."""

        def merge(state: JSONObject) -> bool:
            state.update(values)
            return True

        return self._rewrite_scope(app_name, user_id, merge, "")

    def _rewrite_scope(
        self,
        app_name: str,
        user_id: str | None,
        change: Callable[[JSONObject], bool],
        while_doing: str,
    ) -> JSONObject:
        """Read, change and write back a scope object with an ``If-Match`` loop; the state
        written. ``change`` edits the state it is given and says whether there is
        anything to write; a scope left empty is deleted."""
        for attempt in range(MAX_RACES):
            state, etag = self._read_scope(app_name, user_id)
            if not change(state):
                return state
            scope_key = self._keys.scope(app_name, user_id)
            if state:
                body = scope_body(app_name, user_id, state)
                done = self._io.put(scope_key, body, if_match=etag, create=etag is None) is not None
            else:
                done = self._io.delete(scope_key, if_match=etag)
            if done:
                return state
            backoff(attempt)
        raise BackendUnavailable(
            f"the {'user' if user_id else 'app'} scope of app {app_name!r} kept changing for "
            f"{MAX_RACES} attempts{while_doing}; retry later"
        )

    def _apply_scopes(self, key: SessionKey, delta: StateDelta) -> dict[str, JSONObject]:
        """Merge a write's scope deltas (after its head committed); the scopes written.

        An erase may delete the session between its head commit and these scope
        writes, and finish before them. So once they are written, the head is read
        again: if it is gone, the write's scope values are taken back, and an erase
        racing the write leaves no orphan scope (see :meth:`_take_back`).
        """
        written: dict[str, JSONObject] = {}
        if not (delta.app or delta.user):
            return written
        # One write's app and user updates together, against this instance's other
        # writes to the app: concurrent writers never leave app: from one write and
        # user: from another.
        with self._held(self._scope_stripes[hash(key.app_name) % len(self._scope_stripes)]):
            if delta.app:
                written["app"] = self._merged_scope(key.app_name, None, delta.app)
            if delta.user:
                written["user"] = self._merged_scope(key.app_name, key.user_id, delta.user)
            if self._load(key) is None:
                self._take_back(key.app_name, None, delta.app)
                self._take_back(key.app_name, key.user_id, delta.user)
        return written

    def _take_back(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        """Remove from a scope the keys that still hold ``values``; delete the scope object
        if nothing else is left in it.

        For a write whose session was erased (or deleted) while it ran: the write
        then ends as if it had come just before the erase. Keys another writer has
        changed since are theirs and stay.
        """
        if not values:
            return

        def remove_ours(state: JSONObject) -> bool:
            ours = [
                name for name, value in values.items() if name in state and state[name] == value
            ]
            for name in ours:
                del state[name]
            return bool(ours)

        self._rewrite_scope(
            app_name, user_id, remove_ours, " while a write to an erased session was taken back"
        )

    # -- writes ------------------------------------------------------------------------

    def _write_blocking(self, write: Write) -> tuple[Committed, Head | None]:
        rounds = 0

        def attempt(head: Head | None, cached: bool) -> Done[Head] | Lost[Head]:
            nonlocal rounds
            rounds += 1
            check_write(write, head.rev if head is not None else None)
            try:
                plan = self._history.plan(write, head)
            except Race:
                return Lost()
            committed = self._commit_head(write.key, head, plan.data, plan.staged)
            if committed is None:
                backoff(rounds)
                return Lost()
            if plan.garbage:
                later(self._io.delete_many, plan.garbage)
            committed.written = self._apply_scopes(write.key, write.delta)
            return Done((Committed(committed.rev, plan.first_seq), committed), committed)

        result: tuple[Committed, Head | None] = self._commit_loop(
            write.key, attempt, assume_missing=write.creation is Creation.ONLY
        )
        return result

    def _pop(self, key: SessionKey) -> JSONObject | None:
        rounds = 0

        def attempt(head: Head | None, cached: bool) -> Done[Head] | Lost[Head]:
            nonlocal rounds
            rounds += 1
            if head is None or not (head.data["tail"] or head.data["segs"]):
                return Lost() if cached else Done(None, head)
            data = head.draft()
            dropped: list[str] = []
            rows = head.tail
            if not rows:
                segment = head.segments[-1]
                try:
                    rows = self._history.segment_rows(key, segment)
                except Race:
                    return Lost()
                data["segs"] = data["segs"][:-1]
                dropped.append(self._keys.segment(key, segment.name))
            popped = rows.pop()
            data["tail"] = [row.stored() for row in rows]
            data["rev"] += 1
            data["uat"] = now()
            committed = self._commit_head(key, head, data, [])
            if committed is None:
                backoff(rounds)
                return Lost()
            if dropped:
                later(self._io.delete_many, dropped)
            return Done(codec.loads(popped.data), committed)

        result: JSONObject | None = self._commit_loop(key, attempt)
        return result

    def _delete(self, key: SessionKey) -> None:
        self._lifecycle.delete_session(key)

    def _delete_idle_blocking(self, keys: list[SessionKey], updated_before: float) -> int:
        return self._lifecycle.delete_idle(keys, updated_before)

    def _erase_blocking(self, app_name: str, user_id: str | None) -> int:
        return self._lifecycle.erase(app_name, user_id)

    def _app_names(self) -> list[str]:
        return self._lifecycle.app_names()

    # -- reads -------------------------------------------------------------------------

    def _snapshot(self, key: SessionKey, read: Any) -> tuple[Head, Any] | None:
        """The head and ``read(head)``, consistent with each other (re-read if a segment
        vanished under the read because a concurrent pop, clear or replace committed)."""
        for attempt in range(MAX_RACES):
            head = self._load(key)
            if head is None:
                return None
            try:
                return head, read(head)
            except Race:
                backoff(attempt)
        raise BackendUnavailable(
            f"session {key}: its history kept changing under the read; retry later"
        )

    def _record(self, key: SessionKey, head: Head, *, with_base: bool = True) -> SessionRecord:
        app, _ = self._read_scope(key.app_name, None)
        user, _ = self._read_scope(key.app_name, key.user_id)
        return self._record_with(key, head, app, user, with_base=with_base)

    @staticmethod
    def _record_with(
        key: SessionKey,
        head: Head,
        app: JSONObject,
        user: JSONObject,
        *,
        with_base: bool,
    ) -> SessionRecord:
        base = head.base
        return SessionRecord(
            key=key,
            state=merge_state(head.state, app, user),
            events=[],
            created_at=head.data["cat"],
            updated_at=head.updated_at,
            revision=head.rev,
            base_state=dict(base) if with_base and base is not None else None,
        )

    def _created_record(self, key: SessionKey, state: Head | None) -> SessionRecord:
        assert state is not None
        app = state.written.get("app")
        user = state.written.get("user")
        if app is None:
            app = self._read_scope(key.app_name, None)[0]
        if user is None:
            user = self._read_scope(key.app_name, key.user_id)[0]
        return self._record_with(key, state, app, user, with_base=True)

    def _read_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        def read(head: Head) -> list[Event]:
            if last == 0:
                return []
            if last is None:
                rows = self._history.rows(key, head, oldest_first=True, since=since)
            else:
                rows = self._history.rows(key, head, limit=last)
                rows = [row for row in rows if since is None or row.timestamp >= since]
            return self._history.events(rows)

        snapshot = self._snapshot(key, read)
        if snapshot is None:
            return None
        head, events = snapshot
        record = self._record(key, head)
        record.events.extend(events)
        return record

    def _read_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        snapshot = self._snapshot(
            key, lambda head: self._history.payloads(self._history.rows(key, head, limit=limit))
        )
        return [] if snapshot is None else list(snapshot[1])

    def _read_events(
        self, key: SessionKey, after: int | None, before: int | None, limit: int, oldest: bool
    ) -> list[Event]:
        def read(head: Head) -> list[Event]:
            rows = self._history.rows(
                key, head, after=after, before=before, limit=limit, oldest_first=oldest
            )
            return self._history.events(rows)

        snapshot = self._snapshot(key, read)
        return [] if snapshot is None else list(snapshot[1])

    def _scope(self, app_name: str, user_id: str | None) -> JSONObject:
        return self._read_scope(app_name, user_id)[0]

    # -- listing --------------------------------------------------------------------------

    def _check_cursor(self, cursor: str) -> None:
        (index_key,) = decode_cursor(cursor, str)
        if not index_key.startswith(self.prefix + "x/"):
            raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")

    def _list(self, app_name: str, user_id: str | None, size: int, cursor: str | None) -> Page:
        directory = self._keys.index_dir(app_name)
        start_after = directory
        if cursor:
            (start_after,) = decode_cursor(cursor, str)
            if not start_after.startswith(directory):
                raise ValueError(
                    f"invalid cursor {cursor!r}: it pages another listing; pass back the "
                    "next_cursor of this one unchanged"
                )
        user_part = component(user_id, ID_LIMIT) if user_id is not None else None
        found: list[tuple[str, SessionKey, Head]] = []
        more = False
        for index_key in self._io.keys(directory, start_after=start_after):
            parts = self._keys.index_parts(app_name, index_key)
            if len(parts) != 4 or (user_part is not None and parts[1] != user_part):
                continue
            got = self._io.get(self._keys.head_of_index(app_name, parts[1], parts[2]))
            if got is None:
                continue
            head = head_of(got[1], got[0])
            if head.index_key != index_key:
                continue  # a stale entry: the session moved on (or a write failed)
            if len(found) == size:
                more = True
                break
            app, user, session = head.data["key"]
            found.append((index_key, SessionKey(app, user, session), head))
        app_state = self._read_scope(app_name, None)[0]
        users: dict[str, JSONObject] = {}
        records = []
        for _, key, head in found:
            if key.user_id not in users:
                users[key.user_id] = self._read_scope(app_name, key.user_id)[0]
            records.append(
                self._record_with(key, head, app_state, users[key.user_id], with_base=False)
            )
        return Page(records, encode_cursor(found[-1][0]) if more else None)


def create_bucket_with(client: Any, bucket: str) -> bool:
    """Create ``bucket`` with ``client``; ``False`` if you already own it."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]

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
        return create_bucket_with(s3, bucket)


def open_s3_store(url: str, **options: Any) -> S3Store:
    """Factory for ``s3://BUCKET/PREFIX?region=..&endpoint_url=..&create=true``."""
    location, parsed = parse_aws_url(S3_OPTIONS, url, options, backend="s3")
    bucket, _, prefix = location.split("://", 1)[1].partition("/")
    return S3Store(bucket, prefix, parsed)
