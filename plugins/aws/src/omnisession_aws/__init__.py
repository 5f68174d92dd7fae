"""omnisession backends on AWS through boto3: ``dynamodb://`` and ``s3://``.

>>> from omnisession import open_store
>>> store = open_store("dynamodb://sessions?region=eu-west-1")      # doctest: +SKIP
>>> store = open_store("s3://my-bucket/agents?region=eu-west-1")     # doctest: +SKIP

Importing this package does not import boto3; the stores do on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dynamodb import DynamoDBStore
    from .s3 import S3Store

__all__ = ["DynamoDBStore", "S3Store", "create_bucket", "create_table"]


def create_table(table: str, **options: Any) -> bool:
    """Create the DynamoDB table for ``dynamodb://TABLE`` (see :func:`.dynamodb.create_table`)."""
    from .dynamodb import create_table as _create_table

    return _create_table(table, **options)


def create_bucket(bucket: str, **options: Any) -> bool:
    """Create the S3 bucket for ``s3://BUCKET/...`` (see :func:`.s3.create_bucket`)."""
    from .s3 import create_bucket as _create_bucket

    return _create_bucket(bucket, **options)


def __getattr__(name: str) -> Any:
    if name == "DynamoDBStore":
        from .dynamodb import DynamoDBStore

        return DynamoDBStore
    if name == "S3Store":
        from .s3 import S3Store

        return S3Store
    raise AttributeError(name)
