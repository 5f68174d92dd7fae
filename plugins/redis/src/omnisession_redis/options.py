"""The Redis backend's options, declared once as data (importable without redis-py).

:mod:`omnisession_redis.plugin` hands :data:`OPTIONS` to core's ``Backend``
(``omnisession backends`` lists them) and the factory reads a URL with core's
``parse_options`` and the same tuple, so an unknown or misspelt option
(``?tll=60``) raises ``InvalidOption`` naming the valid ones before any I/O.
"""

from __future__ import annotations

from omnisession.options import Option

__all__ = ["DEFAULT_COMMAND_TIMEOUT", "DEFAULT_PREFIX", "OPTIONS", "TLS_OPTIONS"]

DEFAULT_PREFIX = "omnisession"

DEFAULT_COMMAND_TIMEOUT = 15.0
"""Seconds. Under the ~30 s request timeout of typical web front ends, so a stalled
store fails the request with a clear error instead of the proxy killing it; far
above the time any one command of this store normally takes (well under 10 ms)."""

_TLS = "rediss:// and rediss+cluster:// only: "

TLS_OPTIONS: tuple[Option, ...] = (
    Option("ssl_ca_certs", str, None, _TLS + "file of CA certificates to verify the server with"),
    Option("ssl_ca_path", str, None, _TLS + "directory of CA certificates"),
    Option("ssl_certfile", str, None, _TLS + "client certificate file (mutual TLS)"),
    Option("ssl_keyfile", str, None, _TLS + "client private key file (mutual TLS)"),
    Option(
        "ssl_cert_reqs",
        str,
        None,
        _TLS + "verification of the server certificate (redis-py's default: required)",
        choices=("none", "optional", "required"),
    ),
    Option("ssl_check_hostname", bool, None, _TLS + "check the certificate's host name"),
)

OPTIONS: tuple[Option, ...] = (
    Option(
        "prefix",
        str,
        DEFAULT_PREFIX,
        "first part of every key; stores with the same prefix share data (no '{' or '}')",
    ),
    Option(
        "ttl",
        float,
        None,
        "seconds a session lives after its last write (every write refreshes it); "
        "declares the ttl capability; 0 or unset: never expires",
        minimum=0,
    ),
    Option(
        "user_ttl",
        float,
        None,
        "seconds the user: state lives after the last write to a session of that user",
        minimum=0,
    ),
    Option(
        "app_ttl",
        float,
        None,
        "seconds the app: state lives after the last write to a session of the app",
        minimum=0,
    ),
    Option(
        "persistent",
        bool,
        False,
        "declare the persistent capability: set it when the server persists (AOF or RDB)",
    ),
    Option(
        "command_timeout",
        float,
        DEFAULT_COMMAND_TIMEOUT,
        "the longest one call may take, in seconds, connecting and retrying included, "
        "before it raises BackendUnavailable (a stalled or unreachable server)",
        minimum=0.01,
    ),
    Option(
        "socket_connect_timeout",
        float,
        5.0,
        "seconds to wait for a new connection (within command_timeout)",
        minimum=0.01,
    ),
    Option(
        "max_connections",
        int,
        None,
        "connections per pool (per node on a cluster; redis-py's default otherwise)",
        minimum=1,
    ),
    Option("client_name", str, None, "CLIENT SETNAME of every connection (see CLIENT LIST)"),
    Option(
        "db",
        int,
        None,
        "database number for unix:// URLs (redis:// URLs give it as the path: /0)",
        minimum=0,
    ),
    *TLS_OPTIONS,
)
