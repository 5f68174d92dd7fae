"""The conformance suite's probes (``omnisession_conformance.probes``), for tests only.

``ttl`` and ``cluster`` cannot be checked through the store contract without
waiting on a clock or seeing the layout, so a store shows a little of both:
how long each key of a session has left, a way to age them, and the hash slot
they live in. Never used in production paths.
"""

from __future__ import annotations

import math

from omnisession.model import SessionKey
from redis.crc import key_slot

from . import scripts
from .base import RedisBase
from .calls import Calls

__all__ = ["ConformanceProbes"]


class ConformanceProbes(RedisBase):
    """``conformance_ttl``, ``conformance_expiries``, ``conformance_age``, ``conformance_slots``."""

    @property
    def conformance_ttl(self) -> float:
        """The configured session TTL in seconds (0: sessions never expire)."""
        return self._settings.ttl

    async def conformance_expiries(self, key: SessionKey) -> list[float | None]:
        """Seconds left of each key of the session (``None``: no expiry); ``[]`` if none."""
        keys = self._keys.session(key)
        left = await self._calls.read(
            "probing expiries", lambda client: Calls.eval(client, scripts.EXPIRIES, keys, [])
        )
        return [None if int(ms) < 0 else int(ms) / 1000 for ms in left]

    async def conformance_age(self, key: SessionKey, seconds: float) -> None:
        """Bring each key's expiry ``seconds`` closer; at or past it, the key is deleted."""
        keys = self._keys.session(key)
        by = str(max(1, math.ceil(seconds * 1000)))
        await self._calls.write(
            "ageing a session", lambda client: Calls.eval(client, scripts.AGE, keys, [by])
        )

    async def conformance_slots(self, key: SessionKey) -> set[int]:
        """The hash slots of the session's keys (one: they share a hash tag)."""
        return {key_slot(name.encode()) for name in self._keys.session(key)}
