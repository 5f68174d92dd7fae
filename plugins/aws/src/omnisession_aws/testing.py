"""A moto server for tests and for ``omnisession conformance`` runs (needs ``[test]``).

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
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["SerializedMotoServer", "main"]


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
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m omnisession_aws.testing",
        description="Serve DynamoDB and S3 (moto, one request at a time) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    server = SerializedMotoServer(port=args.port).start()
    print(f"moto serving DynamoDB and S3 at {server.endpoint_url} (Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
