"""How a write's entries are stored: inline in event-group items, or as chunk items.

Entries whose JSON exceeds :data:`INLINE_ENTRY_MAX` bytes are written first as
chunk items under a fresh blob id (invisible until a committed event refers to
them) and reassembled exactly on read; the others are packed into event-group
items within DynamoDB's item and transaction limits.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from omnisession.errors import BackendUnavailable, InvalidEntry

from ._common import ClientRunner
from ._dynamodb_layout import _s

#: Entries whose UTF-8 JSON is longer than this are stored as chunk items.
INLINE_ENTRY_MAX = 100_000
#: Bytes of inline entries per event-group item (DynamoDB items max out at 400 KB).
GROUP_MAX = 300_000
#: Bytes per chunk item of a large entry.
CHUNK_SIZE = 350_000
#: Inline bytes per transaction (DynamoDB caps a transaction at 4 MB).
TXN_INLINE_MAX = 2_500_000
#: DynamoDB caps a transaction at 100 actions; meta, app and user take 3.
MAX_GROUPS = 90

#: An entry stored as chunk items is written in its group as "@BLOB:COUNT"; an
#: inline entry is the JSON text of an object, which always starts with "{".
_REF = "@"


def _blob_ref(entry: str) -> tuple[str, int] | None:
    if not entry.startswith(_REF):
        return None
    blob, _, count = entry[len(_REF) :].partition(":")
    return blob, int(count)


@dataclass
class _Prepared:
    """Entries of one write, encoded and (when large) already offloaded."""

    entries: list[dict[str, str]]  # {"S": JSON text} or {"S": "@BLOB:COUNT"}
    sizes: list[int]
    blobs: list[str]


def _groups_for(prepared: _Prepared, first_seq: int) -> list[tuple[int, list[Any]]]:
    groups: list[tuple[int, list[Any]]] = []
    size = GROUP_MAX + 1
    seq = first_seq
    for entry, entry_size in zip(prepared.entries, prepared.sizes, strict=True):
        if size + entry_size > GROUP_MAX:
            groups.append((seq, []))
            size = 0
        groups[-1][1].append(entry)
        size += entry_size
        seq += 1
    if len(groups) > MAX_GROUPS:
        raise InvalidEntry(
            f"{len(prepared.entries)} entries do not fit one DynamoDB transaction; "
            "add them in several calls"
        )
    return groups


class LargeEntries:
    """The chunk items of large entries in one table (blocking; run in a worker thread).

    ``query`` and ``batch_delete`` are the store's: a Query followed across pages,
    and deletes of item keys in batches.
    """

    def __init__(
        self,
        runner: ClientRunner,
        table: str,
        query: Callable[..., Iterator[dict[str, Any]]],
        batch_delete: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self._runner = runner
        self.table = table
        self._query = query
        self._batch_delete = batch_delete

    def entry_text(self, entry: str) -> str:
        """The JSON text of a stored entry: inline, or reassembled from its chunks."""
        ref = _blob_ref(entry)
        if ref is None:
            return entry
        blob, count = ref
        chunks = sorted(
            self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": _s(f"b|{blob}")},
                ConsistentRead=True,
            ),
            key=lambda item: item["sk"]["S"],
        )
        if len(chunks) != count:
            raise BackendUnavailable(
                f"large entry {blob} has {len(chunks)} of {count} chunks; "
                "its items were removed outside omnisession"
            )
        return b"".join(chunk["v"]["B"] for chunk in chunks).decode("utf-8")

    def prepare(self, texts: Sequence[str]) -> _Prepared:
        """Offload entries too large to inline as chunk items, before any commit."""
        prepared = _Prepared([], [], [])
        inline_total = 0
        for text in texts:
            data = text.encode("utf-8")
            if len(data) <= INLINE_ENTRY_MAX and inline_total + len(data) <= TXN_INLINE_MAX:
                inline_total += len(data)
                prepared.entries.append(_s(text))
                prepared.sizes.append(len(data) + 16)
                continue
            blob = uuid.uuid4().hex
            chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]
            try:
                for index, chunk in enumerate(chunks):
                    self._runner.client.put_item(
                        TableName=self.table,
                        Item={
                            "pk": _s(f"b|{blob}"),
                            "sk": _s(f"{index:06d}"),
                            "v": {"B": chunk},
                        },
                    )
            finally:
                prepared.blobs.append(blob)
            prepared.entries.append(_s(f"{_REF}{blob}:{len(chunks)}"))
            prepared.sizes.append(80)
        return prepared

    def delete_blobs(self, blobs: Sequence[str]) -> None:
        keys: list[dict[str, Any]] = []
        for blob in blobs:
            keys.extend(
                {"pk": item["pk"], "sk": item["sk"]}
                for item in self._query(
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": _s(f"b|{blob}")},
                    ProjectionExpression="pk, sk",
                )
            )
        self._batch_delete(keys)

    def discard_blobs(self, blobs: Sequence[str]) -> None:
        """Best effort: chunk items of a write that did not commit are unreachable anyway."""
        if not blobs:
            return
        # Garbage collection must not hide the error that made the write fail.
        with contextlib.suppress(Exception):
            self.delete_blobs(blobs)
