"""The requests the S3 store makes, one helper each (blocking, in a worker thread).

Conditional writes are S3's ``If-Match`` / ``If-None-Match`` on ``PutObject``
and ``If-Match`` on ``DeleteObject``; a failed condition (412, or 404 for an
object that vanished) comes back as ``None`` / ``False`` for the store to
retry on. Every other error propagates to the store's one error mapping.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ._client import ClientRunner
from ._errors import error_code

__all__ = ["BucketIO"]

#: What S3 answers when a conditional write or delete lost a race.
RACE_CODES = frozenset(
    {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404", "412"}
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
#: Keys per DeleteObjects request.
DELETE_MAX = 1000


class BucketIO:
    """Requests on one bucket through the store's client."""

    def __init__(self, runner: ClientRunner, bucket: str) -> None:
        self._runner = runner
        self.bucket = bucket

    @property
    def client(self) -> Any:
        return self._runner.client

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's body and ETag, ``None`` if it does not exist."""
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        body: bytes = response["Body"].read()
        return body, str(response["ETag"])

    def etag(self, key: str) -> str | None:
        """The object's ETag, ``None`` if it does not exist."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        return str(response["ETag"])

    def put(
        self, key: str, body: bytes, *, if_match: str | None = None, create: bool = False
    ) -> str | None:
        """PUT ``body`` (only over ``if_match``, or only if missing with ``create``);
        the new ETag, or ``None`` when the condition failed (a race)."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        elif create:
            kwargs["IfNoneMatch"] = "*"
        try:
            response = self.client.put_object(**kwargs)
        except ClientError as exc:
            if error_code(exc) in RACE_CODES:
                return None
            raise
        return str(response["ETag"])

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """DELETE ``key`` (only if its ETag is still ``if_match``); ``False`` on a lost race."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            self.client.delete_object(**kwargs)
        except ClientError as exc:
            if error_code(exc) in RACE_CODES:
                return False
            raise
        return True

    def delete_many(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` (missing ones are fine), a thousand per request."""
        keys = [key for key in keys if key]
        for start in range(0, len(keys), DELETE_MAX):
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={
                    "Objects": [{"Key": key} for key in keys[start : start + DELETE_MAX]],
                    "Quiet": True,
                },
            )
            errors = response.get("Errors") or []
            if errors:
                from botocore.exceptions import ClientError

                first = errors[0]
                raise ClientError(
                    {"Error": {"Code": first.get("Code"), "Message": first.get("Message")}},
                    "DeleteObjects",
                )

    def keys(self, prefix: str, *, start_after: str | None = None) -> Iterator[str]:
        """Every key under ``prefix`` in key order (pages followed lazily)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after is not None:
            kwargs["StartAfter"] = start_after
        while True:
            response = self.client.list_objects_v2(**kwargs)
            for entry in response.get("Contents", []):
                yield str(entry["Key"])
            if not response.get("IsTruncated"):
                return
            kwargs.pop("StartAfter", None)
            kwargs["ContinuationToken"] = response["NextContinuationToken"]

    def children(self, prefix: str) -> Iterator[str]:
        """The next path part of every key under ``prefix`` (``Delimiter="/"``), once each:
        ``"name/"`` for a folder, ``"name"`` for an object."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
        while True:
            response = self.client.list_objects_v2(**kwargs)
            for folder in response.get("CommonPrefixes", []):
                yield str(folder["Prefix"])[len(prefix) :]
            for entry in response.get("Contents", []):
                yield str(entry["Key"])[len(prefix) :]
            if not response.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = response["NextContinuationToken"]
