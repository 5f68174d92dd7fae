"""redis-py errors -> omnisession errors: the ONE mapping of this plugin.

Every driver error of every call goes through :func:`translate`:

* :class:`~omnisession.errors.BackendUnavailable` (TRANSIENT, retrying may
  help): connection refused, lost or reset, a command past the store's
  ``command_timeout``, and the replies a server gives while it cannot serve
  for now: ``LOADING``, ``BUSY``, ``TRYAGAIN``, ``CLUSTERDOWN``,
  ``MASTERDOWN``, ``READONLY`` (a failover), ``NOREPLICAS``, ``max number of
  clients reached``.
* :class:`~omnisession.errors.BackendRejected` (PERMANENT): wrong credentials
  (``WRONGPASS``, ``NOAUTH``), a missing ACL permission (``NOPERM``), ``OOM``
  (``maxmemory`` reached with ``noeviction``), a command the server does not
  know or allow (scripting disabled, Redis older than 6.2), ``WRONGTYPE``
  (someone else's data under the store's prefix), any other error reply.
* :class:`~omnisession.errors.EntryTooLarge`: an argument over the server's
  ``proto-max-bulk-len``.

Each message names the cause and the fix; the driver's error is chained by the
caller (``raise translate(...) from exc``).
"""

from __future__ import annotations

import asyncio

import redis.exceptions as rex
from omnisession.errors import BackendError, BackendRejected, BackendUnavailable, EntryTooLarge

__all__ = [
    "entry_too_large",
    "is_driver_error",
    "is_transient",
    "timed_out",
    "translate",
]

_TRANSIENT_CODES = frozenset(
    {"BUSY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS"}
)
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    rex.ConnectionError,  # refused, reset, lost; BusyLoadingError; max clients reached
    rex.TimeoutError,
    rex.ClusterError,  # ClusterDownError, MasterDownError, exhausted redirections
    rex.RedisClusterException,  # no node reachable, slot not covered
    rex.ReadOnlyError,
    rex.TryAgainError,
    OSError,
    asyncio.TimeoutError,
)
_MAYBE_APPLIED = (
    "; a write that fails this way may still have been applied (its reply was lost): "
    "read the session before writing it again"
)


def is_driver_error(exc: BaseException) -> bool:
    """True for an error of redis-py or of the connection under it."""
    return isinstance(exc, (rex.RedisError, *_TRANSIENT_TYPES))


def _code(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    if isinstance(status, str) and status:
        return status.upper()
    first = str(exc).split(" ", 1)[0]
    return first if first.isupper() else ""


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` means the server cannot serve now (a retry may succeed)."""
    return isinstance(translate(exc, "", location="", prefix=""), BackendUnavailable)


def timed_out(doing: str, seconds: float, *, location: str, write: bool) -> BackendUnavailable:
    """A call ran past the store's ``command_timeout``."""
    return BackendUnavailable(
        f"redis at {location} did not answer within command_timeout={seconds:g}s while "
        f"{doing}: the server is stalled, overloaded or unreachable; the next call "
        "reconnects. Raise ?command_timeout= only if commands are legitimately that slow"
        + (_MAYBE_APPLIED if write else "")
    )


def entry_too_large(doing: str, size: int, limit: int | None, *, location: str) -> EntryTooLarge:
    """A write carried an argument over the server's ``proto-max-bulk-len``."""
    over = (
        f"over its proto-max-bulk-len of {limit:,} bytes"
        if limit
        else ("over its proto-max-bulk-len (the server closed the connection on it)")
    )
    return EntryTooLarge(
        f"redis at {location} refused {doing}: an entry of {size:,} bytes is {over}; "
        "nothing was written. Store smaller entries, or raise the limit on the server "
        "(CONFIG SET proto-max-bulk-len <bytes>, or proto-max-bulk-len in redis.conf)"
    )


def translate(
    exc: BaseException,
    doing: str,
    *,
    location: str,
    prefix: str,
    write: bool = False,
    size: int = 0,
) -> BackendError:
    """The omnisession error for driver error ``exc`` raised while ``doing`` something.

    ``size`` is the largest argument the call sent (for ``EntryTooLarge``).
    """
    code = _code(exc)
    message = str(exc)
    where = f"redis at {location}" if location else "redis"
    if isinstance(exc, (rex.AuthenticationError, rex.AuthenticationWrongNumberOfArgsError)) or (
        code in ("WRONGPASS", "NOAUTH")
    ):
        if code == "NOAUTH" or "authentication required" in message.lower():
            fix = "the server requires a password: put it in the URL (redis://:PASSWORD@host/0)"
        else:
            fix = (
                "check the user and password in the URL (redis://USER:PASSWORD@host/0; "
                "percent-encode special characters)"
            )
        return BackendRejected(f"{where} refused the credentials while {doing}: {message}; {fix}")
    if isinstance(exc, (rex.AuthorizationError, rex.NoPermissionError)) or code == "NOPERM":
        return BackendRejected(
            f"{where} denied a command while {doing}: {message}; the Redis user lacks an ACL "
            "permission. Grant it what the store runs, e.g. ACL SETUSER <user> "
            f"~{prefix or '<prefix>'}:* +@read +@write +@scripting +@connection +scan +info"
        )
    if isinstance(exc, rex.OutOfMemoryError) or code == "OOM":
        return BackendRejected(
            f"{where} is out of memory while {doing}: {message}; it reached maxmemory and its "
            "policy (noeviction) refuses writes. Raise maxmemory, let sessions expire "
            "(?ttl=SECONDS), purge idle sessions (`omnisession purge`), or choose an eviction "
            "policy such as volatile-lru"
        )
    if code == "WRONGTYPE":
        return BackendRejected(
            f"{where} refused {doing}: {message}; a key under the prefix {prefix!r} holds data "
            "that omnisession did not write. Another program uses this prefix: give the store "
            "its own ?prefix= or delete those keys"
        )
    if "bulk length" in message.lower() and "protocol error" in message.lower():
        return entry_too_large(doing, size, None, location=location)
    if (
        code in _TRANSIENT_CODES
        or (isinstance(exc, _TRANSIENT_TYPES) and not isinstance(exc, rex.ResponseError))
        or isinstance(exc, (rex.ReadOnlyError, rex.TryAgainError, rex.ClusterDownError))
    ):
        return BackendUnavailable(
            f"{where} is unavailable while {doing}: {type(exc).__name__}: {message}; check "
            "that the server is up and reachable (a restart, a failover or a full connection "
            "limit passes); the next call reconnects" + (_MAYBE_APPLIED if write else "")
        )
    if "unknown command" in message.lower() or "unknown subcommand" in message.lower():
        return BackendRejected(
            f"{where} does not accept a command the store needs while {doing}: {message}; "
            "omnisession-redis needs Redis 6.2 or newer with Lua scripting (EVAL, EVALSHA) "
            "enabled and not renamed"
        )
    if code == "CROSSSLOT":
        return BackendRejected(
            f"{where} refused {doing}: {message}; a script touched keys of two slots, which is "
            "a bug of omnisession-redis: please report it"
        )
    return BackendRejected(f"{where} rejected {doing}: {type(exc).__name__}: {message}")
