"""Telling an entry over the server's size limit from an outage.

Redis answers an argument over ``proto-max-bulk-len`` with ``Protocol error:
invalid bulk length`` and closes the connection. For an argument much larger
than the limit the client is still sending when the server closes, so all it
sees is "connection reset": an outage, by the look of it. When a write that
carried a large argument fails that way, :func:`diagnose_reset` asks the
server (on a new connection) for its limit, or whether it is up at all, and
reports ``EntryTooLarge`` when the entry is the cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnisession.errors import EntryTooLarge

from .errors import entry_too_large, is_driver_error

__all__ = ["PROBE_SIZE", "diagnose_reset"]

PROBE_SIZE = 256 * 1024
"""Below this size a reset is never blamed on the entry (no server limit is that low)."""


def _limit_of(reply: Any) -> int | None:
    """``proto-max-bulk-len`` from a CONFIG GET reply (a dict, or a dict per node)."""
    if isinstance(reply, Mapping):
        for name, value in reply.items():
            if isinstance(value, Mapping):
                return _limit_of(value)
            text = name.decode() if isinstance(name, bytes) else str(name)
            if text == "proto-max-bulk-len" and value is not None:
                return int(value)
    return None


async def diagnose_reset(
    client: Any, doing: str, size: int, *, location: str, cluster: bool
) -> EntryTooLarge | None:
    """``EntryTooLarge`` if the server is up and ``size`` is over its limit, else ``None``."""
    options: dict[str, Any] = {}
    if cluster:
        options["target_nodes"] = client.get_random_node()
    try:
        limit = _limit_of(await client.config_get("proto-max-bulk-len", **options))
    except Exception as exc:
        if not is_driver_error(exc):
            raise
        limit = None  # CONFIG is often disabled on managed servers: is it up at all?
        try:
            await client.ping(**options)
        except Exception as ping_error:
            if not is_driver_error(ping_error):
                raise
            return None  # down: an outage after all
    if limit is not None and size <= limit:
        return None
    return entry_too_large(doing, size, limit, location=location)
