"""A session's history on S3: the head's tail and immutable segments; reads and write plans.

Appends never rewrite history: when the head's tail outgrows its limits, the
writer first stores tail + new events as new segment objects (fresh names,
unreachable until a head names them), then commits a head naming them. A
truncation (``truncate_from``) drops the segments after the cut from the head
and rewrites the one segment straddling it as a fresh segment of its kept
events; everything dropped is deleted after the head commits. Reads get the
head, then only the segments overlapping the range asked for, newest first,
until enough events are covered; a segment deleted under a read (by a
concurrent pop, clear or replace) raises :class:`Race` and the read starts
over from the new head.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from omnisession import backend as codec
from omnisession.model import Event, JSONObject, SessionKey
from omnisession.writes import Write

from ._client import mark_bulk
from ._s3_io import BucketIO
from ._s3_layout import Head, Keys, Row, Segment, encoded, new_head_data, row_of

__all__ = ["History", "Race", "WritePlan"]

#: The head keeps at most this many newest events inline ...
TAIL_EVENTS = 32
#: ... and at most this many bytes of them; beyond, they move to a segment.
TAIL_BYTES = 64 * 1024
#: A segment written by one large write holds at most this many events ...
SEGMENT_EVENTS = 1000
#: ... and this many bytes (a single larger event gets a segment of its own).
SEGMENT_BYTES = 1024 * 1024


class Race(Exception):
    """A segment named by the head read vanished: re-read the head."""


@dataclass
class WritePlan:
    """The next head of a write, and the objects around its commit."""

    data: dict[str, Any]
    first_seq: int | None
    staged: list[str] = field(default_factory=list)
    """Segments written before the commit (delete them if it fails)."""
    garbage: list[str] = field(default_factory=list)
    """Segments the new head no longer names (delete them after it commits)."""


def _chunks(rows: list[Row]) -> list[list[Row]]:
    chunks: list[list[Row]] = []
    size = SEGMENT_BYTES + 1
    for row in rows:
        if size + row.size > SEGMENT_BYTES or len(chunks[-1]) >= SEGMENT_EVENTS:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += row.size
    return chunks


class History:
    """Segments and tails of the sessions under one prefix (blocking)."""

    def __init__(self, bucket: BucketIO, keys: Keys) -> None:
        self._bucket = bucket
        self._keys = keys

    # -- reads ---------------------------------------------------------------------------

    def segment_rows(self, key: SessionKey, segment: Segment) -> list[Row]:
        got = self._bucket.get(self._keys.segment(key, segment.name))
        if got is None:
            raise Race(segment.name)
        return [row_of(stored) for stored in codec.loads(got[0])]

    def rows(
        self,
        key: SessionKey,
        head: Head,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        oldest_first: bool = False,
        since: float | None = None,
    ) -> list[Row]:
        """The events with ``after < seq < before`` (and ``timestamp >= since``), oldest
        first: the ``limit`` oldest when ``oldest_first``, else the ``limit`` newest.
        Only the segments overlapping the range are read, until ``limit`` is covered."""
        low = 0 if after is None else after + 1
        high = head.next_seq - 1 if before is None else before - 1
        if limit == 0 or high < low:
            return []

        def wanted(row: Row) -> bool:
            return low <= row.seq <= high and (since is None or row.timestamp >= since)

        parts: list[Segment | None] = [*head.segments, None]  # None: the tail
        parts = [
            part for part in parts if part is None or (part.last >= low and part.first <= high)
        ]
        if not oldest_first:
            parts.reverse()
        batches: list[list[Row]] = []
        count = 0
        for part in parts:
            rows = head.tail if part is None else self.segment_rows(key, part)
            batch = [row for row in rows if wanted(row)]
            batches.append(batch)
            count += len(batch)
            if limit is not None and count >= limit:
                break
        if not oldest_first:
            batches.reverse()
        found = [row for batch in batches for row in batch]
        if limit is not None and len(found) > limit:
            found = found[:limit] if oldest_first else found[-limit:]
        return found

    @staticmethod
    def events(rows: Iterable[Row]) -> list[Event]:
        return [
            Event(
                row.seq,
                row.timestamp,
                codec.loads(row.data),
                codec.loads(row.delta) if row.delta is not None else None,
            )
            for row in rows
        ]

    @staticmethod
    def payloads(rows: Iterable[Row]) -> list[JSONObject]:
        return codec.loads_all([row.data for row in rows])

    # -- writes --------------------------------------------------------------------------

    def plan(self, write: Write, head: Head | None) -> WritePlan:
        """The next head for ``write`` on ``head`` (``None``: a new session); may read
        the segment a truncation straddles (:class:`Race` if it vanished) and writes the
        segments the new events overflow into."""
        key, delta = write.key, write.delta
        if head is None:
            created = write.created_at if write.created_at is not None else write.updated_at
            data = new_head_data(key, created)
            base = write.base_state if write.base_state is not None else delta.session
            data["bs"] = encoded(base)
            segments: list[Segment] = []
            tail: list[Row] = []
            never_had_events = False
        else:
            data = head.draft()
            segments, tail = head.segments, head.tail
            never_had_events = data["nseq"] == 1
        plan = WritePlan(data, None)
        if head is not None and write.truncate_from is not None:
            segments, tail = self._truncate(key, segments, tail, write.truncate_from, plan)
        next_seq: int = data["nseq"]
        for event in write.events:
            seq = next_seq if event.seq is None else event.seq
            plan.first_seq = seq if plan.first_seq is None else plan.first_seq
            tail.append(Row(seq, event.timestamp, event.data, event.delta))
            next_seq = max(next_seq, seq + 1)
        if len(tail) > TAIL_EVENTS or sum(row.size for row in tail) > TAIL_BYTES:
            segments = segments + self._flush(key, tail, plan)
            tail = []
        data["st"].update(encoded(delta.session))
        if never_had_events and not write.events and "bs" in data:
            data["bs"].update(encoded(delta.session))
        data["rev"] = data["rev"] + 1
        data["nseq"] = next_seq
        data["uat"] = write.updated_at
        data["segs"] = [segment.stored() for segment in segments]
        data["tail"] = [row.stored() for row in tail]
        return plan

    def _truncate(
        self,
        key: SessionKey,
        segments: list[Segment],
        tail: list[Row],
        start: int,
        plan: WritePlan,
    ) -> tuple[list[Segment], list[Row]]:
        """The segments and tail left once the events with ``seq >= start`` are gone."""
        kept: list[Segment] = []
        carried: list[Row] = []
        for segment in segments:
            if segment.last < start:
                kept.append(segment)
                continue
            plan.garbage.append(self._keys.segment(key, segment.name))
            if segment.first < start:  # it straddles the cut: keep its first events
                carried = [row for row in self.segment_rows(key, segment) if row.seq < start]
        return kept, carried + [row for row in tail if row.seq < start]

    def _flush(self, key: SessionKey, rows: list[Row], plan: WritePlan) -> list[Segment]:
        """Write ``rows`` as new segment objects (unreachable until the head commits)."""
        chunks = _chunks(rows)
        if len(chunks) > 1:  # many requests, each of which succeeds: bulk work
            mark_bulk()
        written = []
        for chunk in chunks:
            name = uuid.uuid4().hex
            object_key = self._keys.segment(key, name)
            body = codec.dumps([row.stored() for row in chunk]).encode()
            self._bucket.put(object_key, body, create=True)
            plan.staged.append(object_key)
            written.append(Segment(name, chunk[0].seq, len(chunk), chunk[-1].seq))
        return written
