"""The store's own options: their names and how their values are checked.

``prefix``, ``ttl``, ``user_ttl``, ``app_ttl`` and ``persistent`` are read by
this plugin (from the URL query or keyword arguments); every other option goes
to redis-py. Values from a URL arrive as text and are parsed here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["STORE_OPTIONS", "check_ttl", "to_bool", "to_seconds"]

#: Options this plugin reads from the URL query or keyword arguments; every
#: other one goes to redis-py (``client_name``, ``socket_timeout``, ``ssl_*``...).
STORE_OPTIONS = ("prefix", "ttl", "user_ttl", "app_ttl", "persistent")


def check_ttl(name: str, value: float | None) -> float | None:
    """A TTL given as a number of seconds >= 0, as a float (0 or None: never expire)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 (0 or None: never expire)")
    return float(value)


def to_bool(name: str, value: Any) -> bool:
    """A flag given as a bool or as text (``true``/``false``, ``1``/``0``, ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def to_seconds(name: str, value: Any) -> float | None:
    """A TTL given as a number or as text, checked by :func:`check_ttl`."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return check_ttl(name, value)
    try:
        return check_ttl(name, float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
