"""Texts too large to inline in an event group: stored as chunk items, referenced by id.

An event's payload or recorded delta whose UTF-8 JSON is longer than
:data:`INLINE_TEXT_MAX` bytes (or that would push one write's inline bytes
past :data:`WRITE_INLINE_MAX`, the part of DynamoDB's 4 MB transaction limit
events may use) is written *before* the commit as chunk items under a fresh
blob id: invisible until a committed group names it as ``@BLOB:COUNT``, and
removed again when the commit fails. Reads reassemble it byte-exactly. A
payload or delta inline is JSON text of an object, which starts with ``{``,
so the two never mix up.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from omnisession.errors import BackendRejected
from omnisession.writes import NewEvent

from ._client import mark_bulk
from ._dynamodb_io import TableIO
from ._dynamodb_layout import StoredEvent, blob_pk, number_attr, text_attr

__all__ = ["GROUP_MAX", "LargeEntries", "Prepared", "blob_ids"]

#: Texts whose UTF-8 JSON is longer than this are stored as chunk items.
INLINE_TEXT_MAX = 100_000
#: Inline bytes of events per write (DynamoDB caps a transaction at 4 MB, and the
#: meta, app and user items of the same write may hold up to 400 KB each).
WRITE_INLINE_MAX = 2_000_000
#: Bytes of inline texts per event-group item (DynamoDB items max out at 400 KB).
GROUP_MAX = 300_000
#: Bytes per chunk item of a large text.
CHUNK_SIZE = 350_000
#: Bytes a reference stands for in a group (``@`` + 32 hex + ``:`` + a count).
REFERENCE_SIZE = 48
#: Per-event overhead in a group item (seq, timestamp, list framing).
EVENT_OVERHEAD = 48

_REF = "@"


def _reference(text: str) -> tuple[str, int] | None:
    if not text.startswith(_REF):
        return None
    blob, _, count = text[len(_REF) :].partition(":")
    return blob, int(count)


def blob_ids(rows: Iterable[StoredEvent]) -> list[str]:
    """The chunk blobs ``rows`` refer to (to delete with them)."""
    found = []
    for row in rows:
        for text in (row.data, row.delta):
            reference = _reference(text) if text is not None else None
            if reference is not None:
                found.append(reference[0])
    return found


@dataclass
class Prepared:
    """The texts of one write's events, inline or as references to chunks already written."""

    texts: list[tuple[str, str | None]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)


class LargeEntries:
    """The chunk items of large texts in one table (blocking; in a worker thread)."""

    def __init__(self, table: TableIO) -> None:
        self._table = table

    def text(self, stored: str) -> str:
        """The JSON text of a stored payload or delta: inline, or reassembled from chunks."""
        reference = _reference(stored)
        if reference is None:
            return stored
        blob, count = reference
        chunks = sorted(
            self._table.query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": text_attr(blob_pk(blob))},
                ConsistentRead=True,
            ),
            key=lambda item: item["sk"]["S"],
        )
        if len(chunks) != count:
            raise BackendRejected(
                f"large entry {blob} has {len(chunks)} of its {count} chunk items in "
                f"{self._table.table!r}: they were removed outside omnisession; restore the "
                "table from a backup or delete the session"
            )
        return b"".join(chunk["v"]["B"] for chunk in chunks).decode("utf-8")

    def prepare(self, events: Sequence[NewEvent]) -> Prepared:
        """Offload the texts too large to inline as chunk items, before any commit."""
        prepared = Prepared()
        inline = 0
        chunks: list[dict[str, object]] = []
        for event in events:
            stored: list[str | None] = []
            size = EVENT_OVERHEAD
            for text in (event.data, event.delta):
                if text is None:
                    stored.append(None)
                    continue
                encoded = text.encode("utf-8")
                if len(encoded) <= INLINE_TEXT_MAX and inline + len(encoded) <= WRITE_INLINE_MAX:
                    inline += len(encoded)
                    stored.append(text)
                    size += len(encoded)
                    continue
                blob = uuid.uuid4().hex
                pieces = [
                    encoded[start : start + CHUNK_SIZE]
                    for start in range(0, len(encoded), CHUNK_SIZE)
                ] or [b""]
                written = number_attr(int(time.time()))
                chunks.extend(
                    {
                        "pk": text_attr(blob_pk(blob)),
                        "sk": text_attr(f"{index:06d}"),
                        "v": {"B": piece},
                        "w": written,
                    }
                    for index, piece in enumerate(pieces)
                )
                prepared.blobs.append(blob)
                stored.append(f"{_REF}{blob}:{len(pieces)}")
                size += REFERENCE_SIZE
            data, delta = stored
            assert data is not None
            prepared.texts.append((data, delta))
            prepared.sizes.append(size)
        if chunks:
            if len(chunks) > 1:  # many requests, each of which succeeds: bulk work
                mark_bulk()
            try:
                self._table.batch_put(chunks)
            except BaseException:
                self.discard(prepared.blobs)
                raise
        return prepared

    def delete(self, blobs: Sequence[str]) -> None:
        """Delete the chunk items of ``blobs`` (which nothing committed refers to)."""
        keys: list[dict[str, object]] = []
        for blob in blobs:
            keys.extend(
                {"pk": item["pk"], "sk": item["sk"]}
                for item in self._table.query(
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": text_attr(blob_pk(blob))},
                    ProjectionExpression="pk, sk",
                )
            )
        self._table.batch_delete(keys)

    def discard(self, blobs: Sequence[str]) -> None:
        """Best effort: chunks of a write that did not commit are unreachable anyway."""
        if not blobs:
            return
        # Garbage collection must not hide the error that made the write fail.
        with contextlib.suppress(Exception):
            self.delete(blobs)
