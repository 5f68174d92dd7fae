"""Driver errors -> omnisession errors.

redis-py's errors that mean the server cannot be reached or cannot serve now
(lost connections, timeouts, cluster reconfiguration, ``BUSY``/``LOADING``/
``READONLY``... replies) become :class:`~omnisession.errors.BackendUnavailable`;
any other error reply becomes :class:`RedisCommandError`, the driver error chained.
"""

from __future__ import annotations

import asyncio

import redis.exceptions as rex
from omnisession.errors import BackendUnavailable, OmnisessionError

__all__ = ["RedisCommandError", "is_driver_error", "is_unavailable", "translate_error"]

# Driver errors that mean "the server could not be reached or cannot serve now".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rex.ConnectionError,
    rex.TimeoutError,
    rex.ClusterError,
    rex.RedisClusterException,
    rex.ReadOnlyError,
    OSError,
    asyncio.TimeoutError,
)
# Error replies that mean the same, by their prefix.
_UNAVAILABLE_REPLIES = (
    "BUSY",
    "LOADING",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "READONLY",
    "NOREPLICAS",
    "OOM",
)


class RedisCommandError(OmnisessionError):
    """Redis rejected a command for a reason other than availability (driver error chained)."""


def translate_error(exc: BaseException, doing: str) -> OmnisessionError:
    """The omnisession error for a driver error raised while ``doing`` something."""
    if isinstance(exc, rex.ResponseError) and not isinstance(exc, rex.ReadOnlyError):
        message = str(exc)
        if not message.startswith(_UNAVAILABLE_REPLIES):
            return RedisCommandError(f"redis rejected {doing}: {message}")
    return BackendUnavailable(
        f"redis is unavailable while {doing}: {type(exc).__name__}: {exc}; "
        "check the server is up and reachable, the next call reconnects"
    )


def is_driver_error(exc: BaseException) -> bool:
    """True for an error of redis-py or of the connection under it."""
    return isinstance(exc, (rex.RedisError, *_UNAVAILABLE))


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the server cannot serve now (a retry may succeed)."""
    return isinstance(translate_error(exc, ""), BackendUnavailable)
