"""Entry point of ``omnisession-aws``: registers ``dynamodb://`` and ``s3://``.

Factories are ``"module:attr"`` strings, so listing backends imports no boto3.
"""

from __future__ import annotations

from collections.abc import Callable

from omnisession.plugins import Backend, hookimpl
from omnisession.store import Capability


@hookimpl
def omnisession_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name="dynamodb",
            schemes=("dynamodb",),
            factory="omnisession_aws.dynamodb:open_dynamodb_store",
            capabilities=frozenset(
                {
                    Capability.BASE,
                    Capability.PERSISTENT,
                    Capability.CROSS_PROCESS,
                    Capability.LARGE_ENTRIES,
                    Capability.TTL,
                }
            ),
            description="Amazon DynamoDB, single table: dynamodb://TABLE?region=...&endpoint_url=...",
        )
    )
    register(
        Backend(
            name="s3",
            schemes=("s3",),
            factory="omnisession_aws.s3:open_s3_store",
            capabilities=frozenset(
                {
                    Capability.BASE,
                    Capability.PERSISTENT,
                    Capability.CROSS_PROCESS,
                    Capability.LARGE_ENTRIES,
                }
            ),
            description="Amazon S3 with conditional writes: s3://BUCKET/PREFIX?region=...",
        )
    )
