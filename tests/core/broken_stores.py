"""Deliberately broken stores: the suite must name exactly what each one breaks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from omnisession.memory import MemoryStore
from omnisession.model import Appended, JSONObject, SessionKey


class RacyPop(MemoryStore):
    """pop_item reads, yields to the loop, then deletes: two callers get one item."""

    async def pop_item(self, key: SessionKey) -> JSONObject | None:
        items = await self.get_items(key, limit=1)
        if not items:
            return None
        await asyncio.sleep(0)
        await super().pop_item(key)
        return items[0]


class _FlatScopes(dict[Any, Any]):
    """A user-scope table keyed by "app:user" text instead of the (app, user) pair."""

    @staticmethod
    def _flat(key: Any) -> Any:
        return f"{key[0]}:{key[1]}" if isinstance(key, tuple) else key

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._flat(key), default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return super().setdefault(self._flat(key), default)

    def pop(self, key: Any, *default: Any) -> Any:
        return super().pop(self._flat(key), *default)

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._flat(key))

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._flat(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._flat(key))

    def __iter__(self) -> Iterator[Any]:
        return iter([tuple(flat.split(":", 1)) for flat in list(super().__iter__())])


class CollidingUserScope(MemoryStore):
    """Keys the user scope as "app:user", so ("a:b", "c") and ("a", "b:c") share state."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        if not isinstance(self._engine.user_state, _FlatScopes):
            self._engine.user_state = _FlatScopes(self._engine.user_state)


class BatchesInterleave(MemoryStore):
    """add_items appends one item at a time, yielding between them."""

    async def add_items(self, key: SessionKey, items: Sequence[JSONObject]) -> None:
        for item in items:
            await super().add_items(key, [item])
            await asyncio.sleep(0)


class IgnoresExpectedRevision(MemoryStore):
    """Never checks expected_revision: a stale writer silently overwrites."""

    async def append_event(
        self,
        key: SessionKey,
        data: JSONObject,
        *,
        state_delta: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        expected_revision: int | None = None,
    ) -> Appended:
        return await super().append_event(key, data, state_delta=state_delta, timestamp=timestamp)


class StoresTempState(MemoryStore):
    """Keeps temp: keys in the session scope."""

    async def create_session(self, key: SessionKey, state: Mapping[str, Any] | None = None) -> Any:
        renamed = {k.replace("temp:", "tmp_"): v for k, v in (state or {}).items()}
        return await super().create_session(key, renamed)
