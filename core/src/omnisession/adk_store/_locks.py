"""Per-session asyncio locks, one table per service object shared by its stores.

Writes to one session through stores on the same service object, in one event
loop, take turns; each is still a compare-and-set against the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Hashable
from typing import Any

from google.adk.sessions.base_session_service import BaseSessionService


class _Locks:
    """One asyncio lock per (event loop, session), dropped once unused."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._slots: dict[tuple[int, Hashable], list[Any]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        slot_key = (id(asyncio.get_running_loop()), key)
        with self._guard:
            slot = self._slots.get(slot_key)
            if slot is None:
                slot = self._slots[slot_key] = [asyncio.Lock(), 0]
            slot[1] += 1
        try:
            async with slot[0]:
                yield
        finally:
            with self._guard:
                slot[1] -= 1
                if slot[1] == 0:
                    self._slots.pop(slot_key, None)


_locks_by_service: weakref.WeakKeyDictionary[BaseSessionService, _Locks] = (
    weakref.WeakKeyDictionary()
)
_locks_guard = threading.Lock()


def locks_for(service: BaseSessionService) -> _Locks:
    """The lock table shared by every store on ``service`` (its own one if unhashable)."""
    with _locks_guard:
        try:
            locks = _locks_by_service.get(service)
            if locks is None:
                locks = _locks_by_service[service] = _Locks()
        except TypeError:  # a service defining __eq__ without __hash__
            return _Locks()
        return locks
