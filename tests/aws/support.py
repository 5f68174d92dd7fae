"""What the AWS tests share: URLs on this process's moto server, request counting, hooks."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from botocore.awsrequest import AWSResponse
from omnisession import SessionKey
from omnisession_aws.testing import REGION, client, dummy_credentials, shared_endpoint

T = TypeVar("T")
KEY = SessionKey("app", "user", "session")

dummy_credentials()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def url_of(scheme: str, name: str, endpoint: str | None = None, **options: Any) -> str:
    """A store URL on ``endpoint`` (default: this process's moto server)."""
    query = f"region={REGION}&endpoint_url={endpoint or shared_endpoint()}"
    query += "".join(f"&{option}={value}" for option, value in options.items())
    return f"{scheme}://{name}?{query}"


class Requests:
    """Counts the AWS requests a store sends (a botocore ``before-call`` hook)."""

    def __init__(self, store: Any) -> None:
        self.calls: Counter[str] = Counter()
        store.client.meta.events.register("before-call", self)

    def __call__(self, model: Any, **_: Any) -> None:
        from omnisession_aws._front import in_cleanup

        if not in_cleanup():  # clean-ups run after the call answered: not its cost
            self.calls[model.name] += 1

    def clear(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def dynamodb_error(request: Any, kind: str, message: str, status: int = 400, **extra: Any) -> Any:
    """A DynamoDB JSON error answer, as the service sends it."""
    import json

    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message, **extra}
    ).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, headers, _Body(body))


def s3_error(request: Any, code: str, message: str, status: int) -> Any:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Body(body))


class Inject:
    """A botocore ``before-send`` hook answering the first ``times`` matching requests
    with ``answer(request)`` instead of sending them (then letting them through)."""

    def __init__(self, answer: Any, times: int = 10**9, match: Any = None) -> None:
        self.answer = answer
        self.times = times
        self.match = match
        self.sent = 0
        self.injected = 0

    def __call__(self, request: Any, **_: Any) -> Any:
        if self.match is not None and not self.match(request):
            return None
        self.sent += 1
        if self.injected >= self.times:
            return None
        self.injected += 1
        return self.answer(request)


def is_head_put(request: Any) -> bool:
    return bool(request.method == "PUT" and request.url.split("?")[0].endswith("/head"))


__all__ = [
    "KEY",
    "REGION",
    "Inject",
    "Requests",
    "client",
    "dynamodb_error",
    "is_head_put",
    "run",
    "s3_error",
    "url_of",
]
