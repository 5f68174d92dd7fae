"""dynamodb:// and s3:// against moto in server mode on 127.0.0.1.

One moto server per test process (pytest-xdist worker), started on first use
and stopped at exit. Isolation per test: a fresh DynamoDB table, or a fresh
key prefix in the worker's S3 bucket; both are removed afterwards. moto gets
dummy credentials only if none are set.
"""

from __future__ import annotations

import atexit
import os
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from . import Target

REGION = "us-east-1"
_lock = threading.Lock()
_server: Any = None
_bucket: str | None = None


def _dummy_credentials() -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)


def endpoint_url() -> str:
    """The endpoint of this process's moto server, started on first call."""
    global _server
    with _lock:
        if _server is None:
            from omnisession_aws.testing import SerializedMotoServer

            _dummy_credentials()
            _server = SerializedMotoServer().start()
            atexit.register(_server.stop)
        url: str = _server.endpoint_url
        return url


_clients: dict[str, Any] = {}


def _client(service: str) -> Any:
    """A boto3 client on the moto server, one per service (clients are thread-safe)."""
    endpoint = endpoint_url()
    with _lock:
        if service not in _clients:
            import boto3

            _clients[service] = boto3.client(service, region_name=REGION, endpoint_url=endpoint)
        return _clients[service]


@asynccontextmanager
async def _dynamodb_url() -> AsyncIterator[str]:
    from omnisession_aws import create_table

    table = f"t-{uuid.uuid4().hex}"
    create_table(table, client=_client("dynamodb"))
    try:
        yield f"dynamodb://{table}?region={REGION}&endpoint_url={endpoint_url()}"
    finally:
        _client("dynamodb").delete_table(TableName=table)


def _worker_bucket() -> str:
    global _bucket
    client = _client("s3")
    with _lock:
        if _bucket is None:
            from omnisession_aws import create_bucket

            name = f"omnisession-{uuid.uuid4().hex[:16]}"
            create_bucket(name, client=client)
            _bucket = name
        return _bucket


@asynccontextmanager
async def _s3_url() -> AsyncIterator[str]:
    bucket = _worker_bucket()
    prefix = f"t-{uuid.uuid4().hex}"
    try:
        yield f"s3://{bucket}/{prefix}?region={REGION}&endpoint_url={endpoint_url()}"
    finally:
        client = _client("s3")
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix + "/"
        ):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


TARGETS = [Target("dynamodb", _dynamodb_url), Target("s3", _s3_url)]
