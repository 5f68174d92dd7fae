"""What is committed survives closing the store."""

from __future__ import annotations

from omnisession import (
    Capability,
    SessionStore,
)

from ..harness import ConformanceBase, case


class PersistenceCases(ConformanceBase):
    """What is committed survives closing the store."""

    @case(
        Capability.PERSISTENT,
        second=True,
        hint=("commit before returning; aclose() must not lose or roll back committed writes"),
    )
    async def data_survives_reopening(self, store: SessionStore, second: SessionStore) -> None:
        """What one instance committed is there after it closes, for a new instance."""
        key = self.key()
        await store.create_session(key, {"s": 1, "app:a": 2, "user:u": 3})
        await store.append_event(key, {"i": 1}, state_delta={"s": 4})
        await store.add_items(key, [{"i": 2}])
        await store.aclose()
        record = await second.get_session(key)
        assert record is not None
        assert [e.data for e in record.events] == [{"i": 1}, {"i": 2}]
        assert record.state == {"s": 4, "app:a": 2, "user:u": 3}
