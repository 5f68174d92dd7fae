"""What the DynamoDB and S3 stores share: URL options, the boto3 client, the
thread pool that keeps boto3 off the event loop, and botocore error helpers.

Why a thread pool rather than aioboto3/aiobotocore: boto3 clients are
thread-safe and keep a connection pool, so one client per store used from a
small dedicated executor serves every event loop and every thread (the OpenAI
Agents SDK's ``Runner.run_sync`` drives sessions from a fresh loop in a worker
thread). aiobotocore pins an exact botocore version, which fights with any
other boto3 user in the same environment, and binds its HTTP session to one
event loop. Each store operation runs *whole* in one worker thread (reads,
conditional writes, optimistic retries), so a call costs one hop to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

__all__ = ["AwsOptions", "ClientRunner", "component", "one_off_client", "parse_options"]

log = logging.getLogger("omnisession_aws")

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class AwsOptions:
    """Connection options shared by both backends (URL query or keyword options).

    Credentials are never options: they come from the usual AWS chain
    (environment, shared config/credentials files, SSO, instance roles).
    """

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    create: bool = False
    max_attempts: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_pool_connections: int = 16
    ttl: float | None = None


_OPTION_TYPES: dict[str, Callable[[str], Any]] = {
    "region": str,
    "endpoint_url": str,
    "profile": str,
    "create": lambda v: _parse_bool("create", v),
    "max_attempts": int,
    "connect_timeout": float,
    "read_timeout": float,
    "max_pool_connections": int,
    "ttl": float,
}
#: Every option :func:`parse_options` knows.
OPTION_NAMES = frozenset(_OPTION_TYPES)


def _parse_bool(name: str, value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"option {name}={value!r} must be true or false")


def parse_options(
    query: str, options: Mapping[str, Any], *, allowed: frozenset[str] | None = None
) -> AwsOptions:
    """Merge URL query parameters and keyword options (keywords win) into :class:`AwsOptions`."""
    raw: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    raw.update(options)
    names = allowed or OPTION_NAMES
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; known options: {sorted(names)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        try:
            values[name] = value if not isinstance(value, str) else _OPTION_TYPES[name](value)
            if name != "create" and isinstance(value, bool):
                raise TypeError
        except (TypeError, ValueError) as exc:
            raise ValueError(f"option {name}={value!r} is not valid: {exc}") from None
    result = AwsOptions(**values)
    if result.max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    if result.ttl is not None and result.ttl <= 0:
        raise ValueError("ttl must be a positive number of seconds")
    if result.max_pool_connections < 1:
        raise ValueError("max_pool_connections must be >= 1")
    return result


def component(value: str, limit: int = 300) -> str:
    """A collision-free, separator-free form of an id for keys and paths.

    Short ids are percent-encoded (every character but ``A-Za-z0-9_.-~`` is
    escaped, so ``/``, ``|``, ``#``, ``!`` never appear bare, and a leading
    ``.`` becomes ``%2E``); ids whose
    encoding is longer than ``limit`` bytes become ``!`` + their SHA-256, which
    no encoded id can start with. Distinct ids never share a component.
    """
    encoded = quote(value, safe="")
    if encoded.startswith("."):
        # "." and ".." path segments get normalised away by some HTTP stacks;
        # quote() never emits "%2E", so this stays unambiguous.
        encoded = "%2E" + encoded[1:]
    if len(encoded) <= limit:
        return encoded
    return "!" + hashlib.sha256(value.encode("utf-8")).hexdigest()


# -- botocore errors -------------------------------------------------------------


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def backoff(attempt: int, base: float = 0.01, cap: float = 0.5) -> None:
    """Sleep (in the worker thread, never on the event loop) before retrying an
    optimistic write that lost a race: full jitter, exponential, capped."""
    time.sleep(random.uniform(0, min(cap, base * (2 ** min(attempt, 16)))))


# One boto3 session per (profile, region), shared by every store of the process:
# a session caches service models and credentials, so a store's client costs
# milliseconds instead of the ~80 ms of CPU a fresh session takes.
_sessions: dict[tuple[str | None, str | None], Any] = {}
_sessions_lock = threading.Lock()


class ClientRunner:
    """One boto3 client and the executor its calls run in.

    The client is built on first use inside a worker thread (building one
    loads botocore's service model, which must not block the event loop).
    Retries for throttling and transient errors are botocore's ``standard``
    mode (exponential backoff with jitter, a retry quota, idempotency tokens
    reused across attempts); ``max_attempts`` bounds them.
    """

    def __init__(self, service: str, options: AwsOptions) -> None:
        self.service = service
        self.options = options
        self._client: Any = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=options.max_pool_connections,
            thread_name_prefix=f"omnisession-{service}",
        )
        self._closed = False

    @property
    def client(self) -> Any:
        """The boto3 client (built on first access); thread-safe."""
        with self._lock:
            if self._client is None:
                if self._closed:
                    raise RuntimeError("the store is closed")
                self._client = self._build()
            return self._client

    def _build(self) -> Any:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        opts = self.options
        with _sessions_lock:  # boto3 sessions are not thread-safe; clients are
            session = _sessions.get((opts.profile, opts.region))
            if session is None:
                session = boto3.session.Session(profile_name=opts.profile, region_name=opts.region)
                _sessions[(opts.profile, opts.region)] = session
            return self._client_of(session, Config)

    def _client_of(self, session: Any, config_class: Any) -> Any:
        opts = self.options
        config = config_class(
            retries={"mode": "standard", "total_max_attempts": opts.max_attempts},
            connect_timeout=opts.connect_timeout,
            read_timeout=opts.read_timeout,
            max_pool_connections=opts.max_pool_connections,
        )
        region = opts.region or session.region_name or "us-east-1"
        return session.client(
            self.service, region_name=region, endpoint_url=opts.endpoint_url, config=config
        )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in the store's thread pool from any event loop."""
        if self._closed:
            raise RuntimeError("the store is closed; open a new one")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    async def aclose(self) -> None:
        """Stop the pool (running calls finish) and close the client's connections."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self._executor.shutdown, wait=True))
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


@contextlib.contextmanager
def one_off_client(
    service: str,
    client: Any,
    *,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
) -> Iterator[Any]:
    """``client`` if given, else a new boto3 ``service`` client closed on exit: what
    ``create_table()`` / ``create_bucket()`` run on, outside any store."""
    if client is not None:
        yield client
        return
    runner = ClientRunner(
        service, AwsOptions(region=region, endpoint_url=endpoint_url, profile=profile)
    )
    try:
        yield runner.client
    finally:
        runner.client.close()


def botocore_errors() -> tuple[type[Exception], type[Exception]]:
    """``(BotoCoreError, ClientError)``, imported on first use (botocore is untyped)."""
    from botocore.exceptions import (  # type: ignore[import-untyped]
        BotoCoreError,
        ClientError,
    )

    return BotoCoreError, ClientError
