"""From a parsed URL to a factory of redis-py clients with this plugin's driver settings.

``redis://``, ``rediss://`` and ``unix://`` open one server (``Redis.from_url``);
``redis+cluster://`` and ``rediss+cluster://`` a cluster from any of its nodes
(``RedisCluster``). Every client gets:

* ``socket_timeout`` = ``command_timeout`` and ``socket_connect_timeout`` at most
  that, so no socket operation waits longer than the whole call may;
* no automatic retries (``Retry(NoBackoff(), 0)``): a script whose reply was lost
  may have run, so the store decides what to retry (reads only);
* ``CLIENT MAINT_NOTIFICATIONS`` off: Redis < 8 does not know it, and asking on
  every new connection made some of them fail under concurrency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from omnisession.errors import InvalidOption
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig

from .options import TLS_OPTIONS

__all__ = ["Connection", "connection_for"]

_TLS_NAMES = tuple(option.name for option in TLS_OPTIONS)
_DEFAULT_CLUSTER_CONNECTIONS = 100  # redis-py's per-node default


@dataclass(frozen=True)
class Connection:
    """How a store reaches its server."""

    connect: Callable[[], Any]
    """Makes a new client (one per event loop)."""
    cluster: bool
    location: str
    """The URL without credentials or options, for messages."""
    max_operations: int | None
    """Operations a cluster store admits at once per loop (``None``: unbounded)."""


def _cluster_nodes(netloc: str) -> tuple[list[ClusterNode], str | None, str | None]:
    userinfo, _, hosts = netloc.rpartition("@")
    username = password = None
    if userinfo:
        name, _, secret = userinfo.partition(":")
        username, password = (unquote(name) or None), (unquote(secret) or None)
    nodes = []
    for part in hosts.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            port_text = rest.lstrip(":")
        else:
            host, _, port_text = part.rpartition(":")
            if not host:
                host, port_text = port_text, ""
        try:
            port = int(port_text) if port_text else 6379
        except ValueError:
            raise InvalidOption(f"bad cluster node {part!r}: write it as host:port") from None
        nodes.append(ClusterNode(host, port))
    if not nodes:
        raise InvalidOption(
            "redis+cluster:// needs at least one node: redis+cluster://host:port,host:port"
        )
    return nodes, username, password


def _driver_kwargs(scheme: str, options: Mapping[str, Any]) -> dict[str, Any]:
    tls = scheme.startswith("rediss")
    timeout = float(options["command_timeout"])
    kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": min(float(options["socket_connect_timeout"]), timeout),
        "retry": Retry(NoBackoff(), 0),
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
    }
    for name in ("client_name", "max_connections", *_TLS_NAMES):
        if options.get(name) is None:
            continue
        if name in _TLS_NAMES and not tls:
            raise InvalidOption(
                f"redis option {name} needs a TLS URL: write rediss:// (or rediss+cluster://)"
            )
        kwargs[name] = options[name]
    if options.get("db") is not None:
        if scheme != "unix":
            raise InvalidOption(
                "redis option db is for unix:// URLs; a redis:// URL gives the database "
                "as its path (redis://host:6379/2), and a cluster has only database 0"
            )
        kwargs["db"] = options["db"]
    return kwargs


def connection_for(url: str, options: Mapping[str, Any]) -> Connection:
    """The connection of ``url`` (no query: core's ``parse_options`` cut it off). No I/O."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    kwargs = _driver_kwargs(scheme, options)
    location = urlunsplit((scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    if not scheme.endswith("+cluster"):

        def connect() -> Any:
            return Redis.from_url(url, **kwargs)

        return Connection(connect, cluster=False, location=location, max_operations=None)
    nodes, username, password = _cluster_nodes(parts.netloc)
    # On MOVED, patch the slot map instead of closing every connection, which fails
    # the other commands in flight.
    kwargs.update(reinitialize_steps=0, username=username, password=password)
    if scheme == "rediss+cluster":
        kwargs["ssl"] = True

    def connect_cluster() -> Any:
        return RedisCluster(startup_nodes=list(nodes), **kwargs)

    per_node = int(kwargs.get("max_connections") or _DEFAULT_CLUSTER_CONNECTIONS)
    # One cluster operation uses up to three connections at once (session, user, app).
    return Connection(connect_cluster, True, location, max(1, per_node // 3))
