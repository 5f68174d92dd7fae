"""Test helpers for ``dynamodb://`` and ``s3://`` (moto needs the ``[test]`` extra).

* :class:`SerializedMotoServer`: moto's DynamoDB and S3 in this process, on a
  free port of 127.0.0.1, one request at a time (see below).
* :class:`MotoProcess`: the same server in a child process of its own, which a
  fault test can freeze (``SIGSTOP``) and resume (``SIGCONT``).
* :func:`isolated_dynamodb_url` / :func:`isolated_s3_url`: a fresh namespace
  per test (a new table; a new key prefix in a bucket) and cleanup that
  leaves nothing behind, checked by :func:`leftovers`.

``python -m omnisession_aws.testing [--port 5000]`` serves DynamoDB and S3 on
127.0.0.1 until interrupted.

Why not plain ``moto_server``: moto's handlers are not thread-safe, while the
real services are linearizable per item. A conditional ``PutObject`` checks
``If-Match``/``If-None-Match`` and then writes in two Python steps, and a
cancelled ``TransactWriteItems`` restores a deep copy of the *whole table*
taken before it ran, wiping writes other requests committed meanwhile. Under
concurrent requests that makes moto lose writes the real service keeps. This
server is moto's own WSGI application behind one lock, so each request runs
alone, as the real service's per-item atomicity promises; HTTP handling stays
multi-threaded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

__all__ = [
    "REGION",
    "MotoProcess",
    "SerializedMotoServer",
    "dummy_credentials",
    "isolated_dynamodb_url",
    "isolated_s3_url",
    "leftovers",
    "main",
    "shared_endpoint",
]

REGION = "us-east-1"


def dummy_credentials() -> None:
    """Give botocore credentials moto accepts, unless some are set already."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)


class _Serialized:
    """WSGI middleware running one request at a time, body fully produced inside the lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


class SerializedMotoServer:
    """moto in server mode on ``127.0.0.1``, one request at a time (see module docs).

    ``port=0`` picks a free port; ``endpoint_url`` is valid after :meth:`start`.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SerializedMotoServer:
        try:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                f"omnisession_aws.testing needs moto ({exc.name!r} is not installed): "
                "pip install 'omnisession-aws[test]'",
                name=exc.name,
            ) from exc

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                """No line per request: tests make thousands."""

        app = _Serialized(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._host, self._port, app, threaded=True, request_handler=QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class MotoProcess:
    """:class:`SerializedMotoServer` in a child process of its own, on a free loopback port.

    For fault tests: :meth:`pause` freezes it (``SIGSTOP``: connections are
    accepted by the kernel but never answered, like a stalled host),
    :meth:`resume` lets it go on, :meth:`stop` ends it. ``environment`` adds
    variables to the child's (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT`` to make
    moto check credentials). Use it as a context manager.
    """

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._environment = environment or {}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> MotoProcess:
        env = {**os.environ, **self._environment}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "omnisession_aws.testing", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        give_up = time.monotonic() + timeout
        while True:  # wait until it accepts connections
            if self._process.poll() is not None:
                raise RuntimeError(f"moto exited with status {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > give_up:
                    self.stop()
                    raise RuntimeError(
                        f"moto did not start listening on port {self.port}"
                    ) from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("call start() first")
        return self._process.pid

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> MotoProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- isolation: a fresh namespace per test, nothing left behind ------------------------

_shared: SerializedMotoServer | None = None
_shared_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


def shared_endpoint() -> str:
    """The endpoint of this process's :class:`SerializedMotoServer`, started on first call
    (and stopped at exit); sets dummy credentials if none are set."""
    global _shared
    with _shared_lock:
        if _shared is None:
            import atexit

            dummy_credentials()
            _shared = SerializedMotoServer().start()
            atexit.register(_shared.stop)
        return _shared.endpoint_url


def client(service: str, endpoint_url: str | None = None, region: str = REGION) -> Any:
    """A boto3 client of ``service`` on ``endpoint_url`` (default: the shared moto server)."""
    endpoint = endpoint_url or shared_endpoint()
    with _shared_lock:
        found = _clients.get((service, endpoint))
        if found is None:
            import boto3  # type: ignore[import-untyped]

            found = boto3.client(service, region_name=region, endpoint_url=endpoint)
            _clients[(service, endpoint)] = found
        return found


def _query(endpoint: str, region: str) -> str:
    return f"region={region}&endpoint_url={endpoint}"


@contextlib.asynccontextmanager
async def isolated_dynamodb_url(
    endpoint_url: str | None = None, *, region: str = REGION, options: str = ""
) -> AsyncIterator[str]:
    """A ``dynamodb://`` URL on a table of its own, deleted (with everything) afterwards.

    ``endpoint_url`` defaults to the shared moto server; ``options`` is more URL
    query (``"ttl=60"``).
    """
    from .dynamodb import create_table

    endpoint = endpoint_url or shared_endpoint()
    dynamodb = client("dynamodb", endpoint, region)
    table = f"omnisession-test-{uuid.uuid4().hex}"
    create_table(table, client=dynamodb)
    query = _query(endpoint, region) + (f"&{options}" if options else "")
    try:
        yield f"dynamodb://{table}?{query}"
    finally:
        dynamodb.delete_table(TableName=table)


_buckets: dict[str, str] = {}


def _test_bucket(endpoint: str, region: str) -> str:
    """One bucket per endpoint for this process's S3 tests, created on first use."""
    from .s3 import create_bucket

    with _shared_lock:
        bucket = _buckets.get(endpoint)
    if bucket is None:
        bucket = f"omnisession-test-{uuid.uuid4().hex[:20]}"
        create_bucket(bucket, client=client("s3", endpoint, region))
        with _shared_lock:
            _buckets[endpoint] = bucket
    return bucket


def delete_prefix(s3: Any, bucket: str, prefix: str) -> None:
    """Delete every object whose key starts with ``prefix``."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


@contextlib.asynccontextmanager
async def isolated_s3_url(
    endpoint_url: str | None = None,
    *,
    bucket: str | None = None,
    region: str = REGION,
    options: str = "",
) -> AsyncIterator[str]:
    """An ``s3://`` URL on a key prefix of its own, whose objects are deleted afterwards.

    ``bucket`` defaults to one test bucket per endpoint (created on first use);
    on a bucket of yours only the fresh prefix is ever touched.
    """
    endpoint = endpoint_url or shared_endpoint()
    name = bucket or _test_bucket(endpoint, region)
    prefix = f"omnisession-test-{uuid.uuid4().hex}"
    query = _query(endpoint, region) + (f"&{options}" if options else "")
    try:
        yield f"s3://{name}/{prefix}?{query}"
    finally:
        delete_prefix(client("s3", endpoint, region), name, prefix + "/")


def leftovers(url: str) -> list[str]:
    """What a ``dynamodb://`` table or an ``s3://`` prefix still holds: item keys
    (``pk sk``) or object keys; ``[]`` when a test left nothing behind."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    endpoint, region = query.get("endpoint_url"), query.get("region", REGION)
    if parts.scheme == "dynamodb":
        dynamodb = client("dynamodb", endpoint, region)
        found = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=parts.netloc):
            found += [f"{item['pk']['S']} {item['sk']['S']}" for item in page["Items"]]
        return sorted(found)
    s3 = client("s3", endpoint, region)
    prefix = parts.path.strip("/") + "/"
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=parts.netloc, Prefix=prefix):
        found += [entry["Key"] for entry in page.get("Contents", [])]
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m omnisession_aws.testing",
        description="Serve DynamoDB and S3 (moto, one request at a time) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    try:
        server = SerializedMotoServer(port=args.port).start()
    except ModuleNotFoundError as exc:
        print(f"python -m omnisession_aws.testing: error: {exc}", file=sys.stderr)
        return 1
    print(f"moto serving DynamoDB and S3 at {server.endpoint_url} (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
