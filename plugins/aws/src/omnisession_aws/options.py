"""The options of ``dynamodb://`` and ``s3://``, declared once as data (no boto3 here).

``omnisession backends`` lists them from these tuples, and each factory parses
its URL with :func:`omnisession.options.parse_options` and the same tuple, so
an unknown or misspelt option raises :class:`~omnisession.errors.InvalidOption`
(a ``ValueError``) before any I/O, naming the valid ones.

Credentials are never options: they come from the usual AWS chain
(environment, shared config and credentials files, SSO, instance and task
roles), so they never end up in a URL or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omnisession.options import Option, parse_options

__all__ = [
    "COMMAND_TIMEOUT",
    "COMMON_OPTIONS",
    "DYNAMODB_OPTIONS",
    "S3_OPTIONS",
    "AwsOptions",
    "parse_aws_url",
]

#: Seconds any one store call may take before ``BackendUnavailable``: under the
#: ~30 s request timeout of typical web front ends (so a stalled store fails the
#: request with a clear error instead of the proxy killing it), far above what any
#: single call takes normally (a few to a few hundred milliseconds).
COMMAND_TIMEOUT = 15.0

COMMON_OPTIONS: tuple[Option, ...] = (
    Option(
        "region",
        str,
        None,
        "AWS region of the table or bucket (default: the AWS chain, else us-east-1)",
    ),
    Option("endpoint_url", str, None, "another endpoint: moto, DynamoDB Local, MinIO, LocalStack"),
    Option("profile", str, None, "a named profile of ~/.aws/config"),
    Option("create", bool, False, "create the table or bucket on first use when it is missing"),
    Option(
        "command_timeout",
        float,
        COMMAND_TIMEOUT,
        "seconds one store call may take, AWS retries included, before BackendUnavailable",
        minimum=0.1,
    ),
    Option(
        "connect_timeout",
        float,
        5.0,
        "seconds to open a connection (one attempt; capped by command_timeout)",
        minimum=0.1,
    ),
    Option(
        "read_timeout",
        float,
        None,
        "seconds to wait for an answer (one attempt; default and cap: command_timeout)",
        minimum=0.1,
    ),
    Option(
        "max_attempts",
        int,
        8,
        "attempts per AWS request, first included (botocore standard retries, within "
        "command_timeout)",
        minimum=1,
    ),
    Option(
        "max_pool_connections",
        int,
        16,
        "HTTP connections, and threads of the store's pool",
        minimum=1,
    ),
)

DYNAMODB_OPTIONS: tuple[Option, ...] = (
    *COMMON_OPTIONS,
    Option(
        "ttl",
        float,
        None,
        "seconds: a session expires this long after its last write (declares the ttl capability)",
        minimum=1,
    ),
)

S3_OPTIONS: tuple[Option, ...] = COMMON_OPTIONS


@dataclass(frozen=True)
class AwsOptions:
    """The parsed options of one store (see :data:`COMMON_OPTIONS` for their meaning)."""

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    create: bool = False
    command_timeout: float = COMMAND_TIMEOUT
    connect_timeout: float = 5.0
    read_timeout: float | None = None
    max_attempts: int = 8
    max_pool_connections: int = 16
    ttl: float | None = None

    @property
    def attempt_read_timeout(self) -> float:
        """The read timeout of one HTTP attempt: never longer than the whole call."""
        wanted = self.command_timeout if self.read_timeout is None else self.read_timeout
        return min(wanted, self.command_timeout)

    @property
    def attempt_connect_timeout(self) -> float:
        """The connect timeout of one HTTP attempt: never longer than the whole call."""
        return min(self.connect_timeout, self.command_timeout)


def parse_aws_url(
    declared: tuple[Option, ...], url: str, keywords: Mapping[str, Any], *, backend: str
) -> tuple[str, AwsOptions]:
    """``url`` without its query, and its options checked against ``declared``."""
    parsed = parse_options(declared, url, keywords, backend=backend)
    return parsed.url, AwsOptions(**parsed.options)
