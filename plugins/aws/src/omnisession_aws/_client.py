"""One boto3 client per store, the thread pool its calls run in, and the command deadline.

Why a thread pool rather than aioboto3/aiobotocore: boto3 clients are
thread-safe and keep a connection pool, so one client per store used from a
small executor serves every event loop and every thread (the OpenAI Agents
SDK's ``Runner.run_sync`` drives sessions from a fresh loop in a worker
thread). aiobotocore pins an exact botocore version, which fights with any
other boto3 user in the environment, and binds its HTTP session to one event
loop. Each store operation runs *whole* in one worker thread (reads,
conditional writes, optimistic retries), so a call costs one hop to the pool.

The deadline (``command_timeout``): every store call gets a :class:`Deadline`.
The awaiting coroutine stops waiting when it passes (``BackendUnavailable``);
in the worker thread a botocore ``before-send`` hook refuses to send any
request after it, so retries, backoff sleeps and optimistic loops stop too,
and each HTTP attempt's connect and read timeouts are capped by it. Bulk
operations (erasing a user, purging a batch, staging a large write, creating
the table) make many requests that each succeed: their deadline moves forward
with every successful response, so they are bounded by the time without
progress rather than by their total length.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ._errors import CallStalled
from .options import AwsOptions

__all__ = ["ClientRunner", "Deadline", "current_deadline", "one_off_client"]

T = TypeVar("T")

_local = threading.local()


class Deadline:
    """When the current store call must be over (``time.monotonic()`` seconds)."""

    def __init__(self, seconds: float, *, bulk: bool = False) -> None:
        self.seconds = seconds
        self.bulk = bulk
        self._lock = threading.Lock()
        self._at = time.monotonic() + seconds
        self.refusals = ""
        """What the engine kept answering (set by a retry loop), for the timeout's message."""

    def stalled(self) -> CallStalled:
        return CallStalled(self.seconds, self.refusals)

    def remaining(self) -> float:
        with self._lock:
            return self._at - time.monotonic()

    def check(self) -> None:
        """Raise :class:`CallStalled` once the deadline has passed."""
        if self.remaining() <= 0:
            raise self.stalled()

    def progressed(self) -> None:
        """A request succeeded: a bulk call gets another full ``seconds`` from now."""
        if self.bulk:
            with self._lock:
                self._at = max(self._at, time.monotonic() + self.seconds)

    def become_bulk(self) -> None:
        """From now on this call is bulk work (it is staging many objects or items)."""
        self.bulk = True

    def expire(self) -> None:
        """The caller gave up: the worker must not send anything more."""
        with self._lock:
            self._at = float("-inf")
            self.bulk = False


def current_deadline() -> Deadline | None:
    """The deadline of the store call running on this worker thread, if any."""
    deadline: Deadline | None = getattr(_local, "deadline", None)
    return deadline


def mark_bulk() -> None:
    """The store call running on this thread is bulk work from here on (see :class:`Deadline`)."""
    deadline = current_deadline()
    if deadline is not None:
        deadline.become_bulk()


@contextlib.contextmanager
def running_under(deadline: Deadline) -> Iterator[None]:
    """Make ``deadline`` the current one of this thread while the block runs."""
    previous = current_deadline()
    _local.deadline = deadline
    try:
        yield
    finally:
        _local.deadline = previous


def _before_send(**_: Any) -> None:
    deadline = current_deadline()
    if deadline is not None:
        deadline.check()


def _after_call(http_response: Any = None, **_: Any) -> None:
    deadline = current_deadline()
    status = getattr(http_response, "status_code", 500)
    if deadline is not None and status < 300:
        deadline.progressed()


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
    reused across attempts); ``max_attempts`` and the deadline bound them.
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
                    raise RuntimeError("the store is closed; open a new one")
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
            config = Config(
                retries={"mode": "standard", "total_max_attempts": opts.max_attempts},
                connect_timeout=opts.attempt_connect_timeout,
                read_timeout=opts.attempt_read_timeout,
                max_pool_connections=opts.max_pool_connections,
            )
            region = opts.region or session.region_name or "us-east-1"
            client = session.client(
                self.service, region_name=region, endpoint_url=opts.endpoint_url, config=config
            )
        client.meta.events.register("before-send", _before_send)
        client.meta.events.register("after-call", _after_call)
        return client

    @property
    def endpoint(self) -> str:
        """Where the requests go, for messages."""
        if self.options.endpoint_url:
            return self.options.endpoint_url
        return f"{self.service}.{self.options.region or 'default region'}"

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``function(*args)`` on the pool."""
        if self._closed:
            raise RuntimeError("the store is closed; open a new one")
        return self._executor.submit(function, *args)

    def close(self) -> None:
        """Stop the pool (running calls and queued clean-ups finish), close the client."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
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
        runner.close()
