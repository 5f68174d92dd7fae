"""``dynamodb://TABLE?region=...&endpoint_url=...``: sessions in one DynamoDB table.

The items and their keys are described in :mod:`omnisession_aws._dynamodb_layout`.
Every write to a session (``_write``, the one write primitive) is ONE
``TransactWriteItems`` planned by :mod:`omnisession_aws._dynamodb_write`: the
meta item conditioned on the revision read, the events, a truncation's
deletes, the app and user scopes. ``pop_item`` is one more (meta + the newest
group). Reads are strongly consistent ``GetItem`` / ``Query`` calls whose cost
follows the number of events asked for (:mod:`omnisession_aws._dynamodb_events`);
texts too large to inline are chunked (:mod:`omnisession_aws._dynamodb_entries`);
purge, erase and list_apps are in :mod:`omnisession_aws._dynamodb_lifecycle`.

Listing uses two sparse GSIs, ``by_app`` (``lapp``, ``lupd``) and ``by_user``
(``luser``, ``lupd``); on AWS a GSI is eventually consistent, so a session
written a moment ago may be missing from ``list_sessions`` for a moment (gets
are always strongly consistent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnisession import backend as codec
from omnisession.backend import decode_cursor, encode_cursor
from omnisession.errors import InvalidOption
from omnisession.model import (
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    merge_state,
    now,
)
from omnisession.store import Capability
from omnisession.writes import Committed, Creation, Write

from ._common import backoff, component
from ._dynamodb_entries import LargeEntries, blob_ids
from ._dynamodb_events import EventReader
from ._dynamodb_io import Cancelled, TableIO
from ._dynamodb_layout import (
    META,
    SCOPE_MARK,
    STATE,
    Meta,
    app_pk,
    base_of,
    event_pk,
    group_item,
    group_rows,
    luser,
    meta_of,
    number_attr,
    number_of,
    prefixed_attrs,
    session_pk,
    text_attr,
    user_pk,
)
from ._dynamodb_lifecycle import Lifecycle, Swept
from ._dynamodb_table import create_table, create_table_with
from ._dynamodb_write import Garbage, WritePlanner, check_state_size, scope_update
from ._front import Done, Lost, ThreadedStore, check_write, later
from .capabilities import DYNAMODB_CAPABILITIES
from .options import DYNAMODB_OPTIONS, AwsOptions, parse_aws_url

__all__ = ["DynamoDBStore", "create_table", "open_dynamodb_store"]


class DynamoDBStore(ThreadedStore[Meta]):
    """A :class:`~omnisession.SessionStore` on one DynamoDB table (see module docs)."""

    _client_name = "dynamodb"
    _service = "DynamoDB"
    _resource_kind = "table"
    _create_hint = "omnisession_aws.create_table() / `omnisession-aws create-table URL`"

    def __init__(self, table: str, options: AwsOptions) -> None:
        if not table:
            raise InvalidOption("dynamodb:// needs a table name: dynamodb://TABLE?region=...")
        super().__init__(table, options)
        self.table = table
        self.ttl = options.ttl
        self.capabilities = DYNAMODB_CAPABILITIES | (
            {Capability.TTL} if options.ttl is not None else set()
        )
        self._io = TableIO(self._runner, table)
        self._entries = LargeEntries(self._io)
        self._reader = EventReader(self._io, self._entries)
        self._planner = WritePlanner(self._io, options.ttl)
        self._lifecycle = Lifecycle(self._io, self._reclaim, self._forget)

    def _create_resource(self) -> None:
        create_table_with(self._io.client, self.table, exist_ok=True)

    # -- the session's meta item --------------------------------------------------------

    def _meta_key(self, key: SessionKey) -> dict[str, Any]:
        return {"pk": text_attr(session_pk(key)), "sk": text_attr(META)}

    def _load(self, key: SessionKey) -> Meta | None:
        return meta_of(self._io.get_item(self._meta_key(key), ConsistentRead=True))

    def _live_meta(self, key: SessionKey) -> Meta | None:
        meta = self._load(key)
        return meta if meta is not None and meta.live(now()) else None

    def _forget(self, key: SessionKey) -> None:
        self._remember(key, None)

    @staticmethod
    def _revision(meta: Meta | None) -> int | None:
        return meta.rev if meta is not None and meta.live(now()) else None

    def _lost(self, cancelled: Cancelled, attempt: int) -> Lost[Meta]:
        """What a cancelled write tells about the session (the meta action is first)."""
        if cancelled.code(0) == "ConditionalCheckFailed":
            # Another writer won: its meta came back with the cancellation (none: the
            # session is gone). A short random pause lets the winner's queued writes
            # through instead of two instances taking turns to invalidate each other.
            backoff(attempt, base=0.005, cap=0.05)
            return Lost(meta_of(cancelled.item(0)), known=True)
        backoff(attempt)  # TransactionConflict / throttling: wait, then re-read
        codes = sorted({cancelled.code(index) for index in range(len(cancelled.reasons))})
        return Lost(conflict=", ".join(code for code in codes if code not in ("", "None")))

    # -- storage that commits made unreachable ----------------------------------------

    def _reclaim(self, inc: str, keep: frozenset[str] = frozenset()) -> None:
        """Delete an event partition and the chunks of its events (but ``keep``)."""
        keys: list[dict[str, Any]] = []
        blobs: list[str] = []
        for item in self._io.query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": text_attr(event_pk(inc))},
        ):
            keys.append({"pk": item["pk"], "sk": item["sk"]})
            blobs += [blob for blob in blob_ids(group_rows(item)) if blob not in keep]
        self._io.batch_delete(keys)
        self._entries.delete(blobs)

    def _drop_partition(self, inc: str) -> None:
        """Delete the items of a partition staged for a write that did not commit."""
        self._io.batch_delete(
            [
                {"pk": item["pk"], "sk": item["sk"]}
                for item in self._io.query(
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": text_attr(event_pk(inc))},
                    ProjectionExpression="pk, sk",
                )
            ]
        )

    def _collect(self, garbage: Garbage) -> None:
        self._entries.delete(garbage.blobs)
        for inc, keep in garbage.partitions:
            self._reclaim(inc, keep)

    # -- writes -------------------------------------------------------------------------

    def _write_blocking(self, write: Write) -> tuple[Committed, Meta | None]:
        delta = write.delta
        session = dict(delta.session)
        if write.creation is not Creation.NEVER:  # a create also writes the base state
            base = write.base_state if write.base_state is not None else delta.session
            session.update({"^" + name: value for name, value in base.items()})
        check_state_size(
            self._resource.label, ("session", session), ("app", delta.app), ("user", delta.user)
        )
        prepared = self._entries.prepare(write.events)
        rounds = 0

        def attempt(meta: Meta | None, cached: bool) -> Done[Meta] | Lost[Meta]:
            nonlocal rounds
            rounds += 1
            check_write(write, self._revision(meta))
            plan = self._planner.plan(write, meta, prepared)
            cancelled = self._io.write(plan.actions)
            if cancelled is None:
                if plan.garbage:
                    later(self._collect, plan.garbage)
                committed = Committed(plan.meta.rev, plan.first_seq)
                return Done((committed, plan.meta), plan.meta)
            if plan.staged_partition is not None:
                later(self._drop_partition, plan.staged_partition)
            return self._lost(cancelled, rounds)

        try:
            result: tuple[Committed, Meta | None] = self._commit_loop(
                write.key, attempt, assume_missing=write.creation is Creation.ONLY
            )
        except BaseException:
            self._entries.discard(prepared.blobs)
            raise
        return result

    def _pop(self, key: SessionKey) -> JSONObject | None:
        rounds = 0

        def attempt(meta: Meta | None, cached: bool) -> Done[Meta] | Lost[Meta]:
            nonlocal rounds
            rounds += 1
            live = meta if self._revision(meta) is not None else None
            newest = self._reader.newest_group(live) if live is not None else None
            if live is None or newest is None:
                return Lost() if cached else Done(None, live)
            rows = group_rows(newest)
            popped = rows[-1]
            text = self._entries.text(popped.data)
            meta_action, committed = self._planner.update_meta(
                Write(key, updated_at=now()), live, live.inc, live.next_seq, now()
            )
            group_action: dict[str, Any]
            if len(rows) == 1:
                group_action = {
                    "Delete": {
                        "TableName": self.table,
                        "Key": {"pk": newest["pk"], "sk": newest["sk"]},
                    }
                }
            else:
                group_action = {
                    "Put": {
                        "TableName": self.table,
                        "Item": group_item(live.inc, rows[:-1], session_pk(key)),
                    }
                }
            cancelled = self._io.write([meta_action, group_action])
            if cancelled is None:
                later(self._entries.delete, blob_ids([popped]))
                return Done(codec.loads(text), committed)
            return self._lost(cancelled, rounds)

        result: JSONObject | None = self._commit_loop(key, attempt)
        return result

    def _delete(self, key: SessionKey) -> None:
        self._lifecycle.delete_session(key)

    def _merge_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        check_state_size(self._resource.label, ("user" if user_id else "app", values))
        self._io.write([scope_update(self.table, app_name, user_id, values)])

    def _delete_idle_blocking(self, keys: list[SessionKey], updated_before: float) -> int:
        return self._lifecycle.delete_idle(keys, updated_before)

    def _erase_blocking(self, app_name: str, user_id: str | None) -> int:
        return self._lifecycle.erase(app_name, user_id)

    def _app_names(self) -> list[str]:
        return self._lifecycle.app_names()

    # -- reads ----------------------------------------------------------------------------

    def _scopes_of(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], JSONObject]:
        """App scopes (user ``""``) and user scopes of ``(app, user)`` pairs, consistent."""
        wanted: dict[str, tuple[str, str]] = {}
        for app_name, user_id in pairs:
            wanted[app_pk(app_name)] = (app_name, "")
            wanted[user_pk(app_name, user_id)] = (app_name, user_id)
        items = self._io.batch_get([{"pk": text_attr(pk), "sk": text_attr(STATE)} for pk in wanted])
        return {wanted[item["pk"]["S"]]: prefixed_attrs(item) for item in items}

    def _record(
        self,
        key: SessionKey,
        meta: Meta,
        scopes: dict[tuple[str, str], JSONObject],
        *,
        with_base: bool = True,
    ) -> SessionRecord:
        return SessionRecord(
            key=key,
            state=merge_state(
                prefixed_attrs(meta.item),
                scopes.get((key.app_name, ""), {}),
                scopes.get((key.app_name, key.user_id), {}),
            ),
            events=[],
            created_at=meta.created_at,
            updated_at=meta.updated_at,
            revision=meta.rev,
            base_state=base_of(meta) if with_base else None,
        )

    def _created_record(self, key: SessionKey, state: Meta | None) -> SessionRecord:
        assert state is not None
        return self._record(key, state, self._scopes_of([(key.app_name, key.user_id)]))

    def _read_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        meta = self._live_meta(key)
        if meta is None:
            return None
        record = self._record(key, meta, self._scopes_of([(key.app_name, key.user_id)]))
        if last == 0:
            return record
        if last is not None:
            rows = self._reader.rows(meta, limit=last)
            if since is not None:
                rows = [row for row in rows if row.timestamp >= since]
        else:
            rows = self._reader.rows(meta, oldest_first=True, since=since)
        record.events.extend(self._reader.events(rows))
        return record

    def _read_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        meta = self._live_meta(key)
        if meta is None:
            return []
        return self._reader.payloads(self._reader.rows(meta, limit=limit))

    def _read_events(
        self, key: SessionKey, after: int | None, before: int | None, limit: int, oldest: bool
    ) -> list[Event]:
        meta = self._live_meta(key)
        if meta is None:
            return []
        rows = self._reader.rows(meta, after=after, before=before, limit=limit, oldest_first=oldest)
        return self._reader.events(rows)

    def _scope(self, app_name: str, user_id: str | None) -> JSONObject:
        pk = app_pk(app_name) if user_id is None else user_pk(app_name, user_id)
        item = self._io.get_item({"pk": text_attr(pk), "sk": text_attr(STATE)}, ConsistentRead=True)
        return prefixed_attrs(item)

    # -- listing ---------------------------------------------------------------------------

    def _check_cursor(self, cursor: str) -> None:
        pk, _, _ = decode_cursor(cursor, str, str, str)
        if not pk.startswith("s|"):
            raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")

    def _list(self, app_name: str, user_id: str | None, size: int, cursor: str | None) -> Page:
        if user_id is None:
            index, attribute, value = "by_app", "lapp", component(app_name)
        else:
            index, attribute, value = "by_user", "luser", luser(app_name, user_id)
        query: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "#k = :v AND #u < :mark",
            "ExpressionAttributeNames": {"#k": attribute, "#u": "lupd"},
            "ExpressionAttributeValues": {":v": text_attr(value), ":mark": text_attr(SCOPE_MARK)},
            "Limit": size + 1,
        }
        if cursor:
            pk, hash_value, sort_value = decode_cursor(cursor, str, str, str)
            if hash_value != value:
                raise ValueError(
                    f"invalid cursor {cursor!r}: it pages another listing; pass back the "
                    "next_cursor of this one unchanged"
                )
            query["ExclusiveStartKey"] = {
                "pk": text_attr(pk),
                "sk": text_attr(META),
                attribute: text_attr(hash_value),
                "lupd": text_attr(sort_value),
            }
        found: list[tuple[SessionKey, Meta]] = []
        more = False
        at = now()
        for item in self._io.query(**query):
            if item.get("app", {}).get("S") != app_name or (
                user_id is not None and item.get("user", {}).get("S") != user_id
            ):
                continue  # a hashed id's component collided with nothing; belt and braces
            meta = meta_of(item)
            if meta is None or not meta.live(at):
                continue
            if len(found) == size:
                more = True
                break
            found.append((SessionKey(app_name, item["user"]["S"], item["sid"]["S"]), meta))
        scopes = self._scopes_of(sorted({(key.app_name, key.user_id) for key, _ in found}))
        records = [self._record(key, meta, scopes, with_base=False) for key, meta in found]
        next_cursor = None
        if more:
            last = found[-1][1].item
            next_cursor = encode_cursor(last["pk"]["S"], value, last["lupd"]["S"])
        return Page(records, next_cursor)

    # -- maintenance ---------------------------------------------------------------------

    async def sweep(self, *, grace: float = 3600.0) -> Swept:
        """Delete the storage no session can reach any more; what was deleted.

        DynamoDB's TTL deletes an expired session's meta item only (every read
        treats it as gone at once): its event items stay until a sweep. So does
        what a process killed between a commit and its clean-up leaves. One
        ``Scan`` of the table, then batched deletes; run it from a scheduled job
        (``omnisession-aws sweep URL``). Items written for a write less than
        ``grace`` seconds ago are kept (it may still be under way).
        """
        return await self._call(self._lifecycle.sweep, grace, bulk=True)

    # -- the TTL probe of omnisession-conformance (tests only) -----------------------

    @property
    def conformance_ttl(self) -> float:
        """The configured idle TTL in seconds (0 without ``?ttl=``)."""
        return float(self.ttl or 0)

    async def conformance_expiries(self, key: SessionKey) -> list[float | None]:
        """Seconds left of the session's meta item, and ``None`` for each event group item:
        DynamoDB's TTL cannot slide per item, so groups are unreachable once the meta
        expires but are not deleted by TTL (see the README)."""
        return await self._call(self._expiries, key)

    def _expiries(self, key: SessionKey) -> list[float | None]:
        meta = self._load(key)
        if meta is None:
            return []
        at = now()
        found: list[float | None] = [None if meta.expires is None else meta.expires - at]
        for _ in self._io.query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": text_attr(event_pk(meta.inc))},
            ProjectionExpression="pk",
        ):
            found.append(None)
        return found

    async def conformance_age(self, key: SessionKey, seconds: float) -> None:
        """Bring the session's expiry ``seconds`` closer, as if that much time had passed."""
        await self._call(self._age, key, seconds)

    def _age(self, key: SessionKey, seconds: float) -> None:
        item = self._io.get_item(self._meta_key(key), ConsistentRead=True)
        if not item or "exp" not in item:
            return
        self._io.client.update_item(
            TableName=self.table,
            Key=self._meta_key(key),
            UpdateExpression="SET #e = :e",
            ExpressionAttributeNames={"#e": "exp"},
            ExpressionAttributeValues={":e": number_attr(number_of(item["exp"]) - seconds)},
        )


def open_dynamodb_store(url: str, **options: Any) -> DynamoDBStore:
    """Factory for ``dynamodb://TABLE?region=..&endpoint_url=..&create=true&ttl=SECONDS``."""
    location, parsed = parse_aws_url(DYNAMODB_OPTIONS, url, options, backend="dynamodb")
    table = location.split("://", 1)[1].strip("/")
    return DynamoDBStore(table, parsed)
