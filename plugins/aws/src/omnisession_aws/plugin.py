"""Entry point of ``omnisession-aws``: registers ``dynamodb://`` and ``s3://``.

Factories are ``"module:attr"`` strings and the options and capabilities come
from driver-free modules, so listing backends imports no boto3.
"""

from __future__ import annotations

from collections.abc import Callable

from omnisession.plugins import Backend, hookimpl

from .capabilities import (
    DYNAMODB_CAPABILITIES,
    DYNAMODB_OPTIONAL_CAPABILITIES,
    S3_CAPABILITIES,
    S3_OPTIONAL_CAPABILITIES,
)
from .options import DYNAMODB_OPTIONS, S3_OPTIONS


@hookimpl
def omnisession_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name="dynamodb",
            schemes=("dynamodb",),
            factory="omnisession_aws.dynamodb:open_dynamodb_store",
            capabilities=DYNAMODB_CAPABILITIES,
            optional_capabilities=DYNAMODB_OPTIONAL_CAPABILITIES,
            options=DYNAMODB_OPTIONS,
            description="Amazon DynamoDB, one table, one transaction per write: "
            "dynamodb://TABLE?region=...",
        )
    )
    register(
        Backend(
            name="s3",
            schemes=("s3",),
            factory="omnisession_aws.s3:open_s3_store",
            capabilities=S3_CAPABILITIES,
            optional_capabilities=S3_OPTIONAL_CAPABILITIES,
            options=S3_OPTIONS,
            description="Amazon S3 with conditional writes: s3://BUCKET/PREFIX?region=...",
        )
    )
