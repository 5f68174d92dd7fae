"""The requests the DynamoDB store makes, one helper each (blocking, in a worker thread).

Batches follow their ``Unprocessed*`` answers with backoff; a query follows
``LastEvaluatedKey``; a write of several items is one ``TransactWriteItems``
and a write of one item the plain conditional call (as atomic, half the
capacity). Errors other than a lost condition propagate to the store's one
error mapping.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._client import ClientRunner
from ._common import backoff
from ._errors import error_code

__all__ = ["Cancelled", "TableIO"]

#: DynamoDB's limits per request.
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
TRANSACTION_MAX = 100


@dataclass(frozen=True)
class Cancelled:
    """A write whose condition failed, or a transaction DynamoDB cancelled.

    ``reasons`` has one entry per action, in order: ``{"Code": ..., "Item": ...}``
    (``Item`` is the item as it was, when the action asked for ``ALL_OLD``).
    """

    reasons: list[dict[str, Any]]

    def code(self, index: int) -> str:
        if index >= len(self.reasons):
            return ""
        return str(self.reasons[index].get("Code") or "")

    def item(self, index: int) -> dict[str, Any] | None:
        if index >= len(self.reasons):
            return None
        item: dict[str, Any] | None = self.reasons[index].get("Item")
        return item


class TableIO:
    """Requests on one table through the store's client."""

    def __init__(self, runner: ClientRunner, table: str) -> None:
        self._runner = runner
        self.table = table

    @property
    def client(self) -> Any:
        return self._runner.client

    def get_item(self, key: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=key, **kwargs)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a Query (pages followed lazily: stop iterating to stop reading)."""
        while True:
            response = self.client.query(TableName=self.table, **kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def scan(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            response = self.client.scan(TableName=self.table, **kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def batch_get(self, keys: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of ``keys`` that exist (strongly consistent), in no particular order."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": list(keys[start : start + BATCH_GET_MAX]),
                    "ConsistentRead": True,
                }
            }
            attempt = 0
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                found.extend(response.get("Responses", {}).get(self.table, []))
                request = response.get("UnprocessedKeys") or {}
                if request:
                    attempt += 1
                    backoff(attempt)
        return found

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), BATCH_WRITE_MAX):
            pending: dict[str, Any] = {self.table: requests[start : start + BATCH_WRITE_MAX]}
            attempt = 0
            while pending:
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if pending:
                    attempt += 1
                    backoff(attempt)

    def batch_put(self, items: Sequence[dict[str, Any]]) -> None:
        self._batch_write([{"PutRequest": {"Item": item}} for item in items])

    def batch_delete(self, keys: Sequence[dict[str, Any]]) -> None:
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])

    def write(self, actions: list[dict[str, Any]]) -> Cancelled | None:
        """Run ``actions`` atomically; ``None`` on success, else why it was cancelled."""
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        if len(actions) == 1:
            # One item: a plain conditional write is just as atomic, and cheaper.
            ((kind, params),) = actions[0].items()
            call = {
                "Put": self.client.put_item,
                "Update": self.client.update_item,
                "Delete": self.client.delete_item,
                "ConditionCheck": None,
            }[kind]
            if call is not None:
                try:
                    call(**params)
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise
                    response: dict[str, Any] = getattr(exc, "response", {})
                    return Cancelled(
                        [{"Code": "ConditionalCheckFailed", "Item": response.get("Item")}]
                    )
                return None
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            failure: dict[str, Any] = getattr(exc, "response", {})
            reasons: list[dict[str, Any]] = list(failure.get("CancellationReasons") or [])
            cancelled = Cancelled(reasons or [{"Code": "TransactionConflict"}])
            if not _resolvable(cancelled):
                raise  # a size limit, a validation error: the one mapping says which
            return cancelled
        return None


def _resolvable(cancelled: Cancelled) -> bool:
    """A lost condition or a conflict, which the store retries; anything else is an error."""
    codes = {cancelled.code(index) for index in range(len(cancelled.reasons))} - {"None", ""}
    return codes <= {
        "ConditionalCheckFailed",
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
