"""From a URL and options to the arguments of a configured store.

:func:`store_arguments` turns a ``redis://``, ``rediss://``, ``unix://``,
``redis+cluster://`` or ``rediss+cluster://`` URL into the keyword arguments
of :class:`~omnisession_redis.store.RedisStore`: a factory of redis-py clients
(with this plugin's driver defaults) and the store's settings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig

from .keys import DEFAULT_PREFIX, check_prefix
from .options import STORE_OPTIONS, to_bool, to_seconds

__all__ = ["store_arguments"]

_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


def _driver_kwargs(query: list[tuple[str, str]]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for name, value in query:
        parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
        kwargs[name] = parser(value) if parser else value
    return kwargs


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
            raise ValueError(f"bad cluster node {part!r}: write it as host:port") from None
        nodes.append(ClusterNode(host, port))
    if not nodes:
        raise ValueError("redis+cluster:// needs at least one node: redis+cluster://host:port,...")
    return nodes, username, password


def store_arguments(url: str, **options: Any) -> dict[str, Any]:
    """:class:`~omnisession_redis.store.RedisStore`'s keyword arguments for ``url``.

    Store options (``prefix``, ``ttl``, ``user_ttl``, ``app_ttl``,
    ``persistent``) come from the URL query or keyword arguments (keywords
    win); every other option goes to redis-py's client unchanged. No I/O.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"{url!r}: the redis plugin handles {', '.join(_SCHEMES)}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    store_options: dict[str, Any] = {name: value for name, value in query if name in STORE_OPTIONS}
    driver_query = [(name, value) for name, value in query if name not in STORE_OPTIONS]
    for name in STORE_OPTIONS:
        if name in options:
            store_options[name] = options.pop(name)
    prefix = store_options.get("prefix", DEFAULT_PREFIX)
    settings: dict[str, Any] = {
        "prefix": check_prefix(prefix),
        "ttl": to_seconds("ttl", store_options.get("ttl")),
        "user_ttl": to_seconds("user_ttl", store_options.get("user_ttl")),
        "app_ttl": to_seconds("app_ttl", store_options.get("app_ttl")),
        "persistent": to_bool("persistent", store_options.get("persistent", False)),
    }
    driver: dict[str, Any] = {
        "retry": Retry(NoBackoff(), 0),  # never resend a script that may have run
        "socket_connect_timeout": 5.0,
        "socket_timeout": 30.0,
        # Redis < 8 does not know CLIENT MAINT_NOTIFICATIONS; asking for it on
        # every new connection made some of them fail under concurrency.
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
        **options,
    }
    given = dict(driver_query).get("decode_responses", driver.get("decode_responses", False))
    if to_bool("decode_responses", given):
        raise ValueError("decode_responses must stay off: the store decodes payloads itself")
    driver.pop("decode_responses", None)
    driver_query = [(name, value) for name, value in driver_query if name != "decode_responses"]
    if scheme.endswith("+cluster"):
        # On MOVED, patch the slot map instead of closing every connection,
        # which fails the other commands in flight.
        driver.setdefault("reinitialize_steps", 0)
    location = urlunsplit((scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    if scheme.endswith("+cluster"):
        nodes, username, password = _cluster_nodes(parts.netloc)
        kwargs = {**_driver_kwargs(driver_query), **driver}
        kwargs.setdefault("username", username)
        kwargs.setdefault("password", password)
        if scheme == "rediss+cluster":
            kwargs.setdefault("ssl", True)

        def connect_cluster() -> Any:
            return RedisCluster(startup_nodes=list(nodes), **kwargs)

        per_node = int(kwargs.get("max_connections") or 100)
        return {
            "connect": connect_cluster,
            "cluster": True,
            "location": location,
            "max_operations": max(1, per_node // 3),
            **settings,
        }
    clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(driver_query), ""))
    if not parts.netloc:  # unix:///path: urlunsplit would drop the "//" redis-py requires
        clean = clean.replace(":", "://", 1)

    def connect() -> Any:
        return Redis.from_url(clean, **driver)

    return {"connect": connect, "cluster": False, "location": location, **settings}
