"""How one :class:`~omnisession.writes.Write` becomes one ``TransactWriteItems`` on DynamoDB.

:func:`plan_write` turns a write and the session's meta item (as read, or as
this instance committed it) into the actions of ONE transaction:

* the meta item: a ``Put`` that creates the session (conditioned on it being
  missing, or on the expired item it replaces), or an ``Update`` conditioned on
  the revision read and on the session not having expired: revision + 1, next
  seq, ``updated_at`` (set, not max), expiry, session state (and base state
  while the session has never had an event);
* the truncation (``truncate_from``): when nothing before it is kept, the meta
  simply gets a new event partition (``inc``) and the old one becomes garbage;
  otherwise the group straddling the cut is rewritten with its kept events and
  every later group is deleted, in the same transaction. A truncation deleting
  more groups than a transaction holds copies the kept groups into a new
  partition first (invisible until the meta names it) and switches to it;
* ``Put``s of the new events, packed into groups of up to 300 KB;
* ``Update``s of the app and user scope items (``ADD ver 1`` each).

The meta condition makes the whole transaction fail when another writer got
there first; the store then retries on the winner's meta item, which the
failed condition hands back (``ALL_OLD``). What the commit made unreachable
(old groups, their chunks, an old partition) is removed after it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omnisession.errors import EntryTooLarge
from omnisession.model import SessionKey, StateDelta, now
from omnisession.writes import Write

from ._client import mark_bulk
from ._common import component
from ._dynamodb_entries import GROUP_MAX, Prepared, blob_ids
from ._dynamodb_io import TRANSACTION_MAX, TableIO
from ._dynamodb_layout import (
    BASE_PREFIX,
    FORMAT,
    META,
    SCOPE_MARK,
    STATE,
    Expression,
    Meta,
    StoredEvent,
    app_pk,
    event_pk,
    group_item,
    group_rows,
    lupd,
    luser,
    number_attr,
    seq_of_sk,
    seq_sk,
    session_pk,
    state_attrs,
    text_attr,
    time_attrs,
    user_pk,
)

__all__ = ["Garbage", "Plan", "WritePlanner", "check_state_size", "scope_update"]

#: DynamoDB's item limit (400 KB) less room for the item's own attributes: a write
#: whose state alone is larger than this is refused before any request.
ITEM_STATE_MAX = 380_000


def _state_size(values: Mapping[str, Any] | None) -> int:
    if not values:
        return 0
    return sum(
        len(name.encode("utf-8", "surrogatepass")) + len(text["S"].encode())
        for name, text in state_attrs(values).items()
    )


def check_state_size(label: str, *scopes: tuple[str, Mapping[str, Any] | None]) -> None:
    """``EntryTooLarge`` when a write's state for one item is over DynamoDB's item limit."""
    for what, values in scopes:
        size = _state_size(values)
        if size > ITEM_STATE_MAX:
            raise EntryTooLarge(
                f"{label}: the {what} state of this write is {size:,} bytes, over what one "
                f"DynamoDB item holds (400 KB, {ITEM_STATE_MAX:,} of it for state); nothing was "
                "written. Keep state values small, or store large values as events, which are "
                "split into chunks"
            )


@dataclass
class Garbage:
    """Storage a commit makes unreachable, removed after it."""

    blobs: list[str] = field(default_factory=list)
    """Chunk blobs of deleted events."""
    partitions: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    """Old event partitions, each with the blobs its kept events still use."""

    def __bool__(self) -> bool:
        return bool(self.blobs or self.partitions)


@dataclass
class Plan:
    """One write as a transaction, and what it commits."""

    actions: list[dict[str, Any]]
    meta: Meta
    first_seq: int | None
    garbage: Garbage = field(default_factory=Garbage)
    staged_partition: str | None = None
    """A partition written before the commit (delete it if the commit fails)."""


@dataclass
class _Cut:
    """What a truncation does to the existing event partition."""

    inc: str
    """The partition the session's events live in after the write."""
    actions: list[dict[str, Any]] = field(default_factory=list)
    garbage: Garbage = field(default_factory=Garbage)
    staged_partition: str | None = None


def scope_update(
    table: str, app_name: str, user_id: str | None, values: dict[str, Any]
) -> dict[str, Any]:
    """The ``Update`` merging ``values`` into the app scope (``user_id`` None) or a user scope."""
    expression = Expression()
    expression.set_state(values)
    expression.set("app", text_attr(app_name))
    expression.set("lapp", text_attr(component(app_name)))
    if user_id is None:
        pk, mark = app_pk(app_name), SCOPE_MARK + "a"
    else:
        pk, mark = user_pk(app_name, user_id), SCOPE_MARK + "u|" + component(user_id)
        expression.set("user", text_attr(user_id))
    expression.set("lupd", text_attr(mark))
    expression.add("ver", 1)
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": text_attr(pk), "sk": text_attr(STATE)},
            **expression.params(),
        }
    }


def _scope_actions(table: str, key: SessionKey, delta: StateDelta) -> list[dict[str, Any]]:
    actions = []
    if delta.app:
        actions.append(scope_update(table, key.app_name, None, delta.app))
    if delta.user:
        actions.append(scope_update(table, key.app_name, key.user_id, delta.user))
    return actions


def _new_rows(
    write: Write, prepared: Prepared, next_seq: int
) -> tuple[list[StoredEvent], list[int], int]:
    """The write's events with their numbers; their sizes; the next number after them."""
    rows = []
    for event, (data, delta) in zip(write.events, prepared.texts, strict=True):
        seq = next_seq if event.seq is None else event.seq
        rows.append(StoredEvent(seq, event.timestamp, data, delta))
        next_seq = max(next_seq, seq + 1)
    return rows, prepared.sizes, next_seq


def _sort_key(action: dict[str, Any]) -> str:
    ((kind, params),) = action.items()
    found: str = (params["Item"] if kind == "Put" else params["Key"])["sk"]["S"]
    return found


def _groups(rows: Sequence[StoredEvent], sizes: Sequence[int]) -> list[list[StoredEvent]]:
    groups: list[list[StoredEvent]] = []
    filled = GROUP_MAX + 1
    for row, size in zip(rows, sizes, strict=True):
        if filled + size > GROUP_MAX:
            groups.append([])
            filled = 0
        groups[-1].append(row)
        filled += size
    return groups


class WritePlanner:
    """Plans writes on one table (reads what a truncation needs; blocking)."""

    def __init__(self, table: TableIO, ttl: float | None) -> None:
        self._table = table
        self._ttl = ttl

    def plan(self, write: Write, meta: Meta | None, prepared: Prepared) -> Plan:
        at = now()
        live = meta is not None and meta.live(at)
        rows, sizes, next_seq = _new_rows(write, prepared, meta.next_seq if live and meta else 1)
        owner = session_pk(write.key)
        groups = _groups(rows, sizes)
        scopes = _scope_actions(self._table.table, write.key, write.delta)
        if not live:
            inc = uuid.uuid4().hex
            meta_action, committed = self._create(write, meta, inc, next_seq, at)
            cut = _Cut(inc)
            if meta is not None:  # an expired session: its events go with it
                cut.garbage.partitions.append((meta.inc, frozenset()))
        else:
            assert meta is not None
            budget = TRANSACTION_MAX - 1 - len(groups) - len(scopes)
            cut = self._truncate(meta, owner, write.truncate_from, budget)
            meta_action, committed = self.update_meta(write, meta, cut.inc, next_seq, at)
        puts: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table.table, "Item": group_item(cut.inc, group, owner)}}
            for group in groups
        ]
        # On a stale guess of the meta (whose condition will fail anyway) a new group
        # can land on the key of a group the cut deletes; a transaction may touch an
        # item once, and the Put replaces it all the same.
        new_keys = {_sort_key(put) for put in puts}
        kept = [action for action in cut.actions if _sort_key(action) not in new_keys]
        actions = [meta_action, *kept, *puts, *scopes]
        return Plan(
            actions=actions,
            meta=committed,
            first_seq=rows[0].seq if rows else None,
            garbage=cut.garbage,
            staged_partition=cut.staged_partition,
        )

    # -- the meta item ----------------------------------------------------------------

    def _expiry(self, at: float) -> int | None:
        return None if self._ttl is None else int(at + self._ttl)

    def _create(
        self, write: Write, old: Meta | None, inc: str, next_seq: int, at: float
    ) -> tuple[dict[str, Any], Meta]:
        key = write.key
        created = write.created_at if write.created_at is not None else write.updated_at
        item: dict[str, Any] = {
            "pk": text_attr(session_pk(key)),
            "sk": text_attr(META),
            "v": number_attr(FORMAT),
            "app": text_attr(key.app_name),
            "user": text_attr(key.user_id),
            "sid": text_attr(key.session_id),
            "rev": number_attr(1),
            "nseq": number_attr(next_seq),
            "inc": text_attr(inc),
            **time_attrs("cat", created),
            **time_attrs("uat", write.updated_at),
            "lapp": text_attr(component(key.app_name)),
            "luser": text_attr(luser(key.app_name, key.user_id)),
            "lupd": text_attr(lupd(write.updated_at)),
        }
        expires = self._expiry(at)
        if expires is not None:
            item["exp"] = number_attr(expires)
        item.update(state_attrs(write.delta.session))
        base = write.base_state if write.base_state is not None else write.delta.session
        item.update(state_attrs(base, BASE_PREFIX))
        put: dict[str, Any] = {
            "TableName": self._table.table,
            "Item": item,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if old is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:  # replace the expired item we read, and only that one
            put["ConditionExpression"] = "#inc = :inc AND #exp <= :now"
            put["ExpressionAttributeNames"] = {"#inc": "inc", "#exp": "exp"}
            put["ExpressionAttributeValues"] = {
                ":inc": text_attr(old.inc),
                ":now": number_attr(at),
            }
        committed = Meta(
            rev=1,
            next_seq=next_seq,
            inc=inc,
            created_at=float(created),
            updated_at=float(write.updated_at),
            expires=float(expires) if expires is not None else None,
            item=item,
        )
        return {"Put": put}, committed

    def update_meta(
        self, write: Write, meta: Meta, inc: str, next_seq: int, at: float
    ) -> tuple[dict[str, Any], Meta]:
        """The ``Update`` of a live session's meta for ``write``, conditioned on ``meta``'s
        revision and on the session not having expired; and the meta it commits."""
        expression = Expression()
        expression.set("rev", number_attr(meta.rev + 1))
        expression.set("nseq", number_attr(next_seq))
        expression.set_time("uat", write.updated_at)
        expression.set("lupd", text_attr(lupd(write.updated_at)))
        if inc != meta.inc:
            expression.set("inc", text_attr(inc))
        expires = self._expiry(at)
        if expires is not None:
            expression.set("exp", number_attr(expires))
        expression.set_state(write.delta.session)
        if meta.next_seq == 1 and not write.events:
            # The session never had an event: its base state is still its state.
            expression.set_state(write.delta.session, BASE_PREFIX)
        rev = expression.name("rev")
        exp = expression.name("exp")
        condition = (
            f"{rev} = {expression.value(number_attr(meta.rev))} AND "
            f"(attribute_not_exists({exp}) OR {exp} > {expression.value(number_attr(at))})"
        )
        update = {
            "TableName": self._table.table,
            "Key": {"pk": text_attr(session_pk(write.key)), "sk": text_attr(META)},
            **expression.params(),
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        committed = Meta(
            rev=meta.rev + 1,
            next_seq=next_seq,
            inc=inc,
            created_at=meta.created_at,
            updated_at=float(write.updated_at),
            expires=float(expires) if expires is not None else meta.expires,
        )
        return {"Update": update}, committed

    # -- truncation -------------------------------------------------------------------

    def _group_query(self, inc: str, condition: str, bound: int, **kwargs: Any) -> Any:
        return self._table.query(
            KeyConditionExpression=f"pk = :pk AND sk {condition} :bound",
            ExpressionAttributeValues={
                ":pk": text_attr(event_pk(inc)),
                ":bound": text_attr(seq_sk(bound)),
            },
            ConsistentRead=True,
            **kwargs,
        )

    def _truncate(self, meta: Meta, owner: str, start: int | None, budget: int) -> _Cut:
        """What deleting the events with ``seq >= start`` takes (nothing for ``None``)."""
        if start is None or start >= meta.next_seq or meta.next_seq <= 1:
            return _Cut(meta.inc)
        straddling = None
        if start > 1:
            straddling = next(
                iter(self._group_query(meta.inc, "<", start, ScanIndexForward=False, Limit=1)),
                None,
            )
        if straddling is None:  # nothing is kept: switch to a fresh partition
            cut = _Cut(uuid.uuid4().hex)
            cut.garbage.partitions.append((meta.inc, frozenset()))
            return cut
        rows = group_rows(straddling)
        kept = [row for row in rows if row.seq < start]
        cut = _Cut(meta.inc)
        if len(kept) < len(rows):
            cut.actions.append(
                {"Put": {"TableName": self._table.table, "Item": group_item(meta.inc, kept, owner)}}
            )
            cut.garbage.blobs += blob_ids(rows[len(kept) :])
        later = self._group_query(meta.inc, ">=", start)
        for item in later:
            if len(cut.actions) >= budget:
                return self._copy_kept(meta, owner, straddling, kept)
            cut.actions.append(
                {
                    "Delete": {
                        "TableName": self._table.table,
                        "Key": {"pk": item["pk"], "sk": item["sk"]},
                    }
                }
            )
            cut.garbage.blobs += blob_ids(group_rows(item))
        return cut

    def _copy_kept(
        self, meta: Meta, owner: str, straddling: dict[str, Any], kept: list[StoredEvent]
    ) -> _Cut:
        """A truncation too large for one transaction: copy the kept groups to a new
        partition (invisible until the meta names it), then switch to it."""
        mark_bulk()
        inc = uuid.uuid4().hex
        copies = [
            group_item(inc, group_rows(item), owner, staged_at=now())
            for item in self._group_query(meta.inc, "<", seq_of_sk(straddling["sk"]["S"]))
        ]
        if kept:
            copies.append(group_item(inc, kept, owner, staged_at=now()))
        cut = _Cut(inc, staged_partition=inc)
        try:
            self._table.batch_put(copies)
        except BaseException:
            with contextlib.suppress(Exception):  # unreachable anyway; keep the real error
                self._table.batch_delete([{"pk": copy["pk"], "sk": copy["sk"]} for copy in copies])
            raise
        still_used = frozenset(blob for copy in copies for blob in blob_ids(group_rows(copy)))
        cut.garbage.partitions.append((meta.inc, still_used))
        return cut
