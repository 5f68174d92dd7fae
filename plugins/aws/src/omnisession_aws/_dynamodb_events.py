"""Reading a session's events from its partition: ranges whose cost follows the count asked.

Groups are keyed by their first seq, so a range read is one ``Query`` on the
partition between two sort keys, newest first (``ScanIndexForward=False``) or
oldest first, stopping as soon as enough events are covered: the cost follows
the number of events asked for, not the length of the history. Only events
with ``seq < nseq`` of the meta item read are returned, so a read never shows
an event the meta it started from does not know about.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from omnisession import backend as codec
from omnisession.model import Event, JSONObject

from ._dynamodb_entries import LargeEntries
from ._dynamodb_io import TableIO
from ._dynamodb_layout import (
    Meta,
    StoredEvent,
    comparable,
    event_pk,
    group_rows,
    number_attr,
    seq_of_sk,
    seq_sk,
    text_attr,
)

__all__ = ["EventReader"]

#: Items per Query page when a read wants every event.
_PAGE = 1000


class EventReader:
    """Event ranges of one table's sessions (blocking, in a worker thread)."""

    def __init__(self, table: TableIO, entries: LargeEntries) -> None:
        self._table = table
        self._entries = entries

    def _groups(
        self,
        inc: str,
        low: str,
        high: str,
        *,
        newest_first: bool,
        page: int,
        since: float | None,
    ) -> Iterator[dict[str, Any]]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": text_attr(event_pk(inc)),
                ":low": text_attr(low),
                ":high": text_attr(high),
            },
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
            "Limit": page,
        }
        if since is not None:  # a group's ts is its newest event's timestamp
            query["FilterExpression"] = "ts >= :since"
            query["ExpressionAttributeValues"][":since"] = number_attr(comparable(since))
        return self._table.query(**query)

    def rows(
        self,
        meta: Meta,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        oldest_first: bool = False,
        since: float | None = None,
    ) -> list[StoredEvent]:
        """The events with ``after < seq < before`` (and ``timestamp >= since``), oldest
        first: the ``limit`` oldest of them when ``oldest_first``, else the ``limit`` newest."""
        high = meta.next_seq - 1 if before is None else min(before - 1, meta.next_seq - 1)
        low = 0 if after is None else after + 1
        if limit == 0 or high < max(low, 1):
            return []
        page = _PAGE if limit is None else max(1, min(limit, _PAGE))

        def wanted(row: StoredEvent) -> bool:
            return low <= row.seq <= high and (since is None or row.timestamp >= since)

        found: list[StoredEvent] = []
        if oldest_first:
            if low > 1:  # the group holding `low` may start before it
                straddling = self._groups(
                    meta.inc, seq_sk(0), seq_sk(low - 1), newest_first=True, page=1, since=None
                )
                first = next(iter(straddling), None)
                if first is not None:
                    found += [row for row in group_rows(first) if wanted(row)]
            for item in self._groups(
                meta.inc, seq_sk(low), seq_sk(high), newest_first=False, page=page, since=since
            ):
                if limit is not None and len(found) >= limit:
                    break
                found += [row for row in group_rows(item) if wanted(row)]
            return found if limit is None else found[:limit]
        batches: list[list[StoredEvent]] = []
        count = 0
        for item in self._groups(
            meta.inc, seq_sk(0), seq_sk(high), newest_first=True, page=page, since=since
        ):
            batch = [row for row in group_rows(item) if wanted(row)]
            batches.append(batch)
            count += len(batch)
            if (limit is not None and count >= limit) or seq_of_sk(item["sk"]["S"]) <= low:
                break
        for batch in reversed(batches):
            found += batch
        if limit is not None and len(found) > limit:
            found = found[-limit:]
        return found

    def newest_group(self, meta: Meta) -> dict[str, Any] | None:
        """The group holding the session's newest event, if any."""
        if meta.next_seq <= 1:
            return None
        groups = self._groups(
            meta.inc,
            seq_sk(0),
            seq_sk(meta.next_seq - 1),
            newest_first=True,
            page=1,
            since=None,
        )
        return next(iter(groups), None)

    def events(self, rows: Iterable[StoredEvent]) -> list[Event]:
        """The rows as :class:`Event`, texts reassembled and decoded."""
        return [
            Event(
                row.seq,
                row.timestamp,
                codec.loads(self._entries.text(row.data)),
                codec.loads(self._entries.text(row.delta)) if row.delta is not None else None,
            )
            for row in rows
        ]

    def payloads(self, rows: Iterable[StoredEvent]) -> list[JSONObject]:
        return codec.loads_all([self._entries.text(row.data) for row in rows])
