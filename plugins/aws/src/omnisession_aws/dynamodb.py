"""``dynamodb://TABLE?region=...&endpoint_url=...``: sessions in one DynamoDB table.

The items and their keys are described in :mod:`omnisession_aws._dynamodb_layout`;
entries too large to inline are stored by :mod:`omnisession_aws._dynamodb_entries`;
the table is created by :mod:`omnisession_aws._dynamodb_table`.

Every write to a session is one ``TransactWriteItems``: an ``Update`` of the
meta item conditioned on the revision it read (optimistic concurrency, retried
on a lost race; ``StaleSession`` when the caller's ``expected_revision``
differs), the new event group (``attribute_not_exists``), and ``Update``s of the
app and user items. ``clear_session`` and ``delete_session`` switch or remove
the meta item atomically (a new ``inc`` makes the old events unreachable at
once) and then reclaim the old items.

Listing uses two sparse GSIs, ``by_app`` (``lapp``, ``lupd``) and ``by_user``
(``luser``, ``lupd``); on AWS a GSI is eventually consistent, so a session
written a moment ago may be missing from ``list_sessions`` for a moment (gets
are always strongly consistent).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
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
    AwsOptions,
    backoff,
    botocore_errors,
    component,
    error_code,
    parse_options,
)
from ._dynamodb_entries import LargeEntries, _blob_ref, _groups_for
from ._dynamodb_layout import (
    _META,
    _STATE,
    _app_pk,
    _int,
    _lupd,
    _luser,
    _Meta,
    _n,
    _num,
    _s,
    _scope_attrs,
    _seq_sk,
    _session_pk,
    _set_clause,
    _user_pk,
)
from ._dynamodb_table import _create_table, create_table
from ._front import ThreadedStore

__all__ = ["DynamoDBStore", "create_table", "open_dynamodb_store"]

#: Optimistic retries before giving up with BackendUnavailable.
MAX_RACES = 200


class DynamoDBStore(ThreadedStore["_Meta"]):
    """A :class:`~omnisession.SessionStore` on one DynamoDB table (see module docs)."""

    capabilities = frozenset(
        {
            Capability.BASE,
            Capability.PERSISTENT,
            Capability.CROSS_PROCESS,
            Capability.LARGE_ENTRIES,
            Capability.TTL,
        }
    )

    _client_name = "dynamodb"
    _service = "DynamoDB"
    _resource_kind = "table"
    _missing_code = "ResourceNotFoundException"
    _create_hint = "omnisession_aws.create_table() / `omnisession-aws create-table URL`"

    def __init__(self, table: str, options: AwsOptions) -> None:
        if not table:
            raise ValueError("dynamodb:// needs a table name: dynamodb://TABLE?region=...")
        super().__init__(table, options)
        self.table = table
        self.ttl = options.ttl
        self._large_entries = LargeEntries(self._runner, table, self._query, self._batch_delete)

    def _create_resource(self) -> None:
        _create_table(self._runner.client, self.table, exist_ok=True)

    # -- low-level helpers (run in a worker thread) ---------------------------

    def _get_meta(self, key: SessionKey) -> _Meta | None:
        response = self._runner.client.get_item(
            TableName=self.table,
            Key={"pk": _s(_session_pk(key)), "sk": _s(_META)},
            ConsistentRead=True,
        )
        return self._meta_of(response.get("Item"))

    def _meta_of(self, item: dict[str, Any] | None) -> _Meta | None:
        if not item or self._expired(item):
            return None
        return _Meta(
            rev=_int(item["rev"]),
            next_seq=_int(item["nseq"]),
            inc=item["inc"]["S"],
            created_at=_num(item["cat"]),
            updated_at=_num(item["uat"]),
            item=item,
        )

    def _expired(self, item: Mapping[str, Any]) -> bool:
        return "exp" in item and _num(item["exp"]) <= now()

    def _get_scopes(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], JSONObject]:
        """App (user "") and user scopes for ``(app, user)`` pairs, strongly consistent."""
        wanted: dict[str, tuple[str, str]] = {}
        for app, user in pairs:
            wanted[_app_pk(app)] = (app, "")
            if user:
                wanted[_user_pk(app, user)] = (app, user)
        found: dict[tuple[str, str], JSONObject] = {}
        keys = [{"pk": _s(pk), "sk": _s(_STATE)} for pk in wanted]
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table: {"Keys": keys[start : start + 100], "ConsistentRead": True}
            }
            attempt = 0
            while request:
                response = self._runner.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[wanted[item["pk"]["S"]]] = _scope_attrs(item)
                request = response.get("UnprocessedKeys") or {}
                if request:
                    attempt += 1
                    backoff(attempt)
        return found

    def _record(
        self, key: SessionKey, meta: _Meta, scopes: dict[tuple[str, str], JSONObject]
    ) -> SessionRecord:
        return SessionRecord(
            key=key,
            state=merge_state(
                _scope_attrs(meta.item),
                scopes.get((key.app_name, ""), {}),
                scopes.get((key.app_name, key.user_id), {}),
            ),
            events=[],
            created_at=meta.created_at,
            updated_at=meta.updated_at,
            revision=meta.rev,
        )

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a Query, following LastEvaluatedKey."""
        while True:
            response = self._runner.client.query(TableName=self.table, **kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _groups(
        self, meta: _Meta, *, newest: int | None = None, since: float | None = None
    ) -> list[tuple[int, float, list[dict[str, Any]]]]:
        """Committed event groups ``(first_seq, ts, entries)`` oldest first.

        With ``newest=N`` reads groups newest first only until N entries are
        covered, so the cost follows N, not the history length.
        """
        if meta.next_seq <= 1 or newest == 0:
            return []
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": _s(f"e|{meta.inc}"),
                ":lo": _s(_seq_sk(0)),
                ":hi": _s(_seq_sk(meta.next_seq - 1)),
            },
            "ConsistentRead": True,
        }
        if newest is not None:
            query["ScanIndexForward"] = False
            query["Limit"] = newest
        elif since is not None:
            query["FilterExpression"] = "ts >= :since"
            query["ExpressionAttributeValues"][":since"] = _n(float(since))
        groups = []
        covered = 0
        for item in self._query(**query):
            entries = item["d"]["L"]
            groups.append((int(item["sk"]["S"][2:]), _num(item["ts"]), entries))
            covered += len(entries)
            if newest is not None and covered >= newest:
                break
        if newest is not None:
            groups.reverse()
        return groups

    def _events(
        self, groups: list[tuple[int, float, list[dict[str, Any]]]], newest: int | None
    ) -> list[Event]:
        flat = [
            (first + index, ts, entry["S"])
            for first, ts, entries in groups
            for index, entry in enumerate(entries)
        ]
        if newest is not None:
            flat = flat[-newest:] if newest else []
        return [
            Event(seq, ts, codec.loads(self._large_entries.entry_text(entry)))
            for seq, ts, entry in flat
        ]

    def _batch_delete(self, keys: list[dict[str, Any]]) -> None:
        for start in range(0, len(keys), 25):
            request: dict[str, Any] = {
                self.table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]
            }
            attempt = 0
            while request:
                response = self._runner.client.batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if request:
                    attempt += 1
                    backoff(attempt)

    def _reclaim_partition(self, inc: str) -> None:
        """Delete the event items of a cleared or deleted incarnation (already unreachable)."""
        keys: list[dict[str, Any]] = []
        blobs: list[str] = []
        for item in self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(f"e|{inc}")},
        ):
            keys.append({"pk": item["pk"], "sk": item["sk"]})
            entries = item.get("d", {}).get("L", [])
            for entry in entries:
                ref = _blob_ref(entry["S"])
                if ref is not None:
                    blobs.append(ref[0])
        self._batch_delete(keys)
        self._large_entries.delete_blobs(blobs)

    def _scope_updates(self, key: SessionKey, delta: StateDelta) -> list[dict[str, Any]]:
        actions = []
        for pk, scope in (
            (_app_pk(key.app_name), delta.app),
            (_user_pk(key.app_name, key.user_id), delta.user),
        ):
            if not scope:
                continue
            names: dict[str, str] = {}
            values: dict[str, Any] = {}
            clauses = _set_clause(scope, names, values, "v")
            actions.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": _s(pk), "sk": _s(_STATE)},
                        "UpdateExpression": "SET " + ", ".join(clauses),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        return actions

    def _transact(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Run a transaction; ``None`` on success, else its cancellation reasons.

        A reason is ``{"Code": ..., "Item": ...}``; the meta action asks for
        ``ALL_OLD``, so a lost race hands back the winner's meta item and the
        retry needs no extra read.
        """
        ClientError = botocore_errors()[1]

        if len(actions) == 1:
            # One item: a plain conditional write is just as atomic, and cheaper.
            (kind, params), *_ = actions[0].items()
            call = {
                "Put": self._runner.client.put_item,
                "Update": self._runner.client.update_item,
                "Delete": self._runner.client.delete_item,
            }[kind]
            try:
                call(**params)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                response: dict[str, Any] = getattr(exc, "response", {})
                return [{"Code": "ConditionalCheckFailed", "Item": response.get("Item")}]
            return None
        try:
            self._runner.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            failure: dict[str, Any] = getattr(exc, "response", {})
            reasons: list[dict[str, Any]] = list(failure.get("CancellationReasons") or [])
            if not reasons:
                reasons = [{"Code": "TransactionConflict"}]
            return reasons
        return None

    def _after_failure(
        self, key: SessionKey, reasons: list[dict[str, Any]], attempt: int
    ) -> _Meta | None:
        """The session's current meta after a cancelled transaction (meta is action 0)."""
        first = reasons[0]
        if first.get("Code") == "ConditionalCheckFailed" and first.get("Item"):
            # Another writer won: its meta came back with the cancellation. A
            # short random pause lets the winner's queued writes through instead
            # of the two instances taking turns to invalidate each other.
            backoff(attempt, base=0.005, cap=0.05)
            return self._meta_of(first["Item"])
        backoff(attempt)  # TransactionConflict / throttling of the transaction: wait, re-read
        return self._get_meta(key)

    def _meta_fields(self, updated_at: float) -> dict[str, Any]:
        fields: dict[str, Any] = {"uat": _n(updated_at), "lupd": _s(_lupd(updated_at))}
        if self.ttl is not None:
            fields["exp"] = _n(int(updated_at + self.ttl) + 1)
        return fields

    def _new_meta_item(
        self, key: SessionKey, stamp: float, next_seq: int, session_state: JSONObject
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": _s(_session_pk(key)),
            "sk": _s(_META),
            "app": _s(key.app_name),
            "user": _s(key.user_id),
            "sid": _s(key.session_id),
            "rev": _n(1),
            "nseq": _n(next_seq),
            "inc": _s(uuid.uuid4().hex),
            "cat": _n(stamp),
            "lapp": _s(component(key.app_name)),
            "luser": _s(_luser(key.app_name, key.user_id)),
            **self._meta_fields(stamp),
        }
        for state_key, value in session_state.items():
            item["$" + state_key] = _s(codec.dumps(value, what="state"))
        return item

    def _put_meta_action(self, item: dict[str, Any]) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if self.ttl is not None:  # an expired session may be replaced before the TTL sweep
            put["ConditionExpression"] += " OR #exp <= :now"
            put["ExpressionAttributeNames"] = {"#exp": "exp"}
            put["ExpressionAttributeValues"] = {":now": _n(now())}
        return {"Put": put}

    def _update_meta_action(
        self,
        key: SessionKey,
        meta: _Meta,
        sets: Mapping[str, dict[str, Any]],
        session_state: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Update the meta item, conditioned on the revision ``meta`` has."""
        names = {"#rev": "rev"}
        values: dict[str, Any] = {":old": _n(meta.rev), ":rev": _n(meta.rev + 1)}
        clauses = ["#rev = :rev"]
        fields = {**self._meta_fields(max(meta.updated_at, now())), **sets}
        for index, (field, value) in enumerate(fields.items()):
            names[f"#m{index}"] = field
            values[f":m{index}"] = value
            clauses.append(f"#m{index} = :m{index}")
        if session_state:
            clauses += _set_clause(session_state, names, values, "s")
        condition = "#rev = :old"
        if self.ttl is not None:  # an expired session must not be revived by a write
            names["#exp"] = "exp"
            values[":now"] = _n(now())
            condition += " AND (attribute_not_exists(#exp) OR #exp > :now)"
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": _s(_session_pk(key)), "sk": _s(_META)},
                "UpdateExpression": "SET " + ", ".join(clauses),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    @staticmethod
    def _next_meta(meta: _Meta, action: dict[str, Any], next_seq: int, inc: str) -> _Meta:
        values = action["Update"]["ExpressionAttributeValues"]
        return _Meta(
            rev=meta.rev + 1,
            next_seq=next_seq,
            inc=inc,
            created_at=meta.created_at,
            updated_at=_num(values[":m0"]),
            item={},
        )

    # -- the write path --------------------------------------------------------

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
        """Append ``texts`` and apply ``delta`` in one transaction; ``(seq, rev, ts)``."""
        prepared = self._large_entries.prepare(texts)
        committed = False
        try:
            with self._lock_for(key):
                meta, cached = self._writer_state(key, self._get_meta)
                for attempt in range(MAX_RACES):
                    if meta is None and not create:
                        if cached:
                            meta, cached = self._get_meta(key), False
                            continue
                        raise SessionNotFound(key)
                    if (
                        meta is not None
                        and expected_revision is not None
                        and expected_revision != meta.rev
                    ):
                        if cached:
                            meta, cached = self._get_meta(key), False
                            continue
                        raise StaleSession(key, expected_revision, meta.rev)
                    stamp = now()
                    ts = stamp if timestamp is None else float(timestamp)
                    if meta is None:
                        item = self._new_meta_item(key, stamp, 1 + len(texts), delta.session)
                        first_seq, inc = 1, item["inc"]["S"]
                        meta_action = self._put_meta_action(item)
                        new_meta = self._meta_of(item)
                    else:
                        first_seq, inc = meta.next_seq, meta.inc
                        next_seq = meta.next_seq + len(texts)
                        meta_action = self._update_meta_action(
                            key, meta, {"nseq": _n(next_seq)}, delta.session
                        )
                        new_meta = self._next_meta(meta, meta_action, next_seq, inc)
                    actions = [meta_action]
                    for group_seq, entries in _groups_for(prepared, first_seq):
                        actions.append(
                            {
                                "Put": {
                                    "TableName": self.table,
                                    "Item": {
                                        "pk": _s(f"e|{inc}"),
                                        "sk": _s(_seq_sk(group_seq)),
                                        "ts": _n(ts),
                                        "d": {"L": entries},
                                    },
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                }
                            }
                        )
                    actions += self._scope_updates(key, delta)
                    reasons = self._transact(actions)
                    if reasons is None:
                        committed = True
                        self._remember(key, new_meta)
                        assert new_meta is not None
                        return first_seq, new_meta.rev, ts
                    meta, cached = self._after_failure(key, reasons, attempt), False
                self._remember(key, None)
                raise BackendUnavailable(
                    f"session {key}: gave up after {MAX_RACES} write conflicts; "
                    "too many concurrent writers on one session"
                )
        finally:
            if not committed:
                self._large_entries.discard_blobs(prepared.blobs)

    def _create(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        with self._lock_for(key):
            item = self._new_meta_item(key, now(), 1, delta.session)
            for attempt in range(MAX_RACES):
                reasons = self._transact(
                    [self._put_meta_action(item), *self._scope_updates(key, delta)]
                )
                if reasons is None:
                    meta = self._meta_of(item)
                    assert meta is not None
                    self._remember(key, meta)
                    return self._record(key, meta, self._get_scopes([(key.app_name, key.user_id)]))
                if reasons[0].get("Code") == "ConditionalCheckFailed":
                    self._remember(key, None)
                    raise AlreadyExists(key)
                backoff(attempt)
        raise BackendUnavailable(f"session {key}: gave up after {MAX_RACES} write conflicts")

    def _pop(self, key: SessionKey) -> JSONObject | None:
        with self._lock_for(key):
            meta, cached = self._writer_state(key, self._get_meta)
            for attempt in range(MAX_RACES):
                if meta is None or meta.next_seq <= 1:
                    if cached:
                        meta, cached = self._get_meta(key), False
                        continue
                    return None
                groups = self._groups(meta, newest=1)
                if not groups:
                    if cached:
                        meta, cached = self._get_meta(key), False
                        continue
                    return None
                first_seq, _ts, entries = groups[-1]
                last: str = entries[-1]["S"]
                text = self._large_entries.entry_text(last)
                group_key = {"pk": _s(f"e|{meta.inc}"), "sk": _s(_seq_sk(first_seq))}
                meta_action = self._update_meta_action(key, meta, {})
                actions: list[dict[str, Any]] = [meta_action]
                if len(entries) == 1:
                    actions.append(
                        {
                            "Delete": {
                                "TableName": self.table,
                                "Key": group_key,
                                "ConditionExpression": "attribute_exists(pk)",
                            }
                        }
                    )
                else:
                    actions.append(
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": group_key,
                                "UpdateExpression": "SET #d = :d",
                                "ConditionExpression": "size(#d) = :n",
                                "ExpressionAttributeNames": {"#d": "d"},
                                "ExpressionAttributeValues": {
                                    ":d": {"L": entries[:-1]},
                                    ":n": _n(len(entries)),
                                },
                            }
                        }
                    )
                reasons = self._transact(actions)
                if reasons is None:
                    self._remember(key, self._next_meta(meta, meta_action, meta.next_seq, meta.inc))
                    ref = _blob_ref(last)
                    if ref is not None:
                        self._large_entries.discard_blobs([ref[0]])
                    result: JSONObject = codec.loads(text)
                    return result
                meta, cached = self._after_failure(key, reasons, attempt), False
            self._remember(key, None)
        raise BackendUnavailable(f"session {key}: gave up after {MAX_RACES} write conflicts")

    def _retire(self, key: SessionKey, *, delete: bool) -> None:
        """Clear (new incarnation) or delete the session atomically, then reclaim items."""
        with self._lock_for(key):
            meta = self._get_meta(key)
            for attempt in range(MAX_RACES):
                if meta is None:
                    self._remember(key, None)
                    if delete and self.ttl is not None:  # expired items linger until the sweep
                        self._runner.client.delete_item(
                            TableName=self.table,
                            Key={"pk": _s(_session_pk(key)), "sk": _s(_META)},
                        )
                    return
                if delete:
                    action: dict[str, Any] = {
                        "Delete": {
                            "TableName": self.table,
                            "Key": {"pk": _s(_session_pk(key)), "sk": _s(_META)},
                            "ConditionExpression": "#rev = :old",
                            "ExpressionAttributeNames": {"#rev": "rev"},
                            "ExpressionAttributeValues": {":old": _n(meta.rev)},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    }
                    new_meta = None
                else:
                    inc = uuid.uuid4().hex
                    action = self._update_meta_action(key, meta, {"inc": _s(inc)})
                    new_meta = self._next_meta(meta, action, meta.next_seq, inc)
                reasons = self._transact([action])
                if reasons is None:
                    self._remember(key, new_meta)
                    self._reclaim_partition(meta.inc)
                    return
                meta = self._after_failure(key, reasons, attempt)
            self._remember(key, None)
        raise BackendUnavailable(f"session {key}: gave up after {MAX_RACES} write conflicts")

    def _read_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        meta = self._get_meta(key)
        if meta is None:
            return None
        record = self._record(key, meta, self._get_scopes([(key.app_name, key.user_id)]))
        events = self._events(self._groups(meta, newest=last, since=since), last)
        if since is not None:
            events = [event for event in events if event.timestamp >= since]
        record.events.extend(events)
        return record

    def _read_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        meta = self._get_meta(key)
        if meta is None:
            return []
        return [event.data for event in self._events(self._groups(meta, newest=limit), limit)]

    def _list(self, app_name: str, user_id: str | None, size: int, cursor: str | None) -> Page:
        if user_id is None:
            index, attr, value = "by_app", "lapp", component(app_name)
        else:
            index, attr, value = "by_user", "luser", _luser(app_name, user_id)
        query: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": attr},
            "ExpressionAttributeValues": {":v": _s(value)},
            "Limit": size + 1,
        }
        if cursor:
            start = decode_cursor(cursor, 1)[0]
            if not isinstance(start, dict) or set(start) != {"pk", "sk", attr, "lupd"}:
                raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")
            query["ExclusiveStartKey"] = {name: _s(str(part)) for name, part in start.items()}
        metas: list[tuple[SessionKey, _Meta]] = []
        more = False
        for item in self._query(**query):
            if item.get("app", {}).get("S") != app_name or (
                user_id is not None and item.get("user", {}).get("S") != user_id
            ):
                continue  # a hashed id's component collided with nothing; belt and braces
            meta = self._meta_of(item)
            if meta is None:
                continue
            if len(metas) == size:
                more = True
                break
            metas.append((SessionKey(app_name, item["user"]["S"], item["sid"]["S"]), meta))
        scopes = self._get_scopes(sorted({(k.app_name, k.user_id) for k, _ in metas}))
        records = [self._record(k, meta, scopes) for k, meta in metas]
        next_cursor = None
        if more:
            last_item = metas[-1][1].item
            next_cursor = encode_cursor(
                {name: last_item[name]["S"] for name in ("pk", "sk", attr, "lupd")}
            )
        return Page(records, next_cursor)

    def _user_state(self, app_name: str, user_id: str) -> JSONObject:
        return self._get_scopes([(app_name, user_id)]).get((app_name, user_id), {})

    def _app_state(self, app_name: str) -> JSONObject:
        return self._get_scopes([(app_name, "")]).get((app_name, ""), {})


def open_dynamodb_store(url: str, **options: Any) -> DynamoDBStore:
    """Factory for ``dynamodb://TABLE?region=..&endpoint_url=..&create=true&ttl=SECONDS``."""
    parts = urlsplit(url)
    table = (parts.netloc + parts.path).strip("/")
    return DynamoDBStore(table, parse_options(parts.query, options))
