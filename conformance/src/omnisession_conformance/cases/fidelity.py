"""Payloads round-trip exactly; what is not JSON is refused."""

from __future__ import annotations

import math
from typing import Any

import pytest
from omnisession import (
    Capability,
    InvalidEntry,
    SessionStore,
)

from ..harness import ConformanceBase, case
from ._support import BASE, FIDELITY_PAYLOAD


class FidelityCases(ConformanceBase):
    """Payloads round-trip exactly; what is not JSON is refused."""

    @case(
        BASE,
        hint=(
            "store payloads as the JSON text core gives; never through a native JSON type that "
            "rounds numbers"
        ),
    )
    async def payloads_round_trip_exactly(self, store: SessionStore) -> None:
        """Unicode, nesting, large ints and floats round-trip exactly, types included."""
        key = self.key()
        await store.create_session(key)
        await store.append_event(key, FIDELITY_PAYLOAD)
        await store.add_items(key, [FIDELITY_PAYLOAD])
        record = await store.get_session(key)
        assert record is not None
        for got in [record.events[0].data, *(await store.get_items(key))]:
            assert got == FIDELITY_PAYLOAD
            assert all(
                type(a) is type(b)
                for a, b in zip(got["large_ints"], FIDELITY_PAYLOAD["large_ints"], strict=True)
            )
            assert all(type(a) is float for a in got["floats"])
            assert math.copysign(1.0, got["floats"][1]) == -1.0

    @case(
        BASE,
        hint=("an in-process backend must copy (or keep text) on write and on read"),
    )
    async def returned_payloads_are_copies(self, store: SessionStore) -> None:
        """Mutating a written or returned dict never changes what is stored."""
        key = self.key()
        item = {"list": [1]}
        await store.add_items(key, [item])
        item["list"].append(2)
        got = await store.get_items(key)
        assert got == [{"list": [1]}]
        got[0]["list"].append(3)
        assert await store.get_items(key) == [{"list": [1]}]

    @case(
        BASE,
        hint=(
            "core encodes every payload and state value before calling a hook; nothing may be "
            "written first"
        ),
    )
    async def non_json_payload_is_rejected_and_nothing_written(self, store: SessionStore) -> None:
        """A payload or state that is not JSON raises InvalidEntry before any write."""
        key = self.key()
        created = await store.create_session(key, {"s": 0})
        bad_values: list[Any] = [{1, 2}, object(), math.nan, math.inf, b"bytes", (1, 2)]
        for bad in bad_values:
            with pytest.raises(InvalidEntry):
                await store.append_event(key, {"v": bad})
            with pytest.raises(InvalidEntry):
                await store.append_event(key, {"ok": 1}, state_delta={"s": bad, "user:u": 1})
            with pytest.raises(InvalidEntry):
                await store.add_items(key, [{"ok": 1}, {"v": bad}])
            with pytest.raises(InvalidEntry):
                await store.update_state(key, {"app:a": 1, "s": bad})
        with pytest.raises(InvalidEntry):
            await store.append_event(key, {1: "int key"})  # type: ignore[dict-item]
        with pytest.raises(InvalidEntry):
            await store.append_event(key, ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(InvalidEntry):
            await store.create_session(self.key("bad-create"), {"s": {1, 2}})
        record = await store.get_session(key)
        assert record is not None
        assert record.events == [] and record.state == {"s": 0}
        assert record.revision == created.revision
        assert await store.get_user_state(key.app_name, key.user_id) == {}
        assert await store.get_app_state(key.app_name) == {}
        assert await store.get_session(self.key("bad-create")) is None

    @case(
        Capability.LARGE_ENTRIES,
        hint=(
            "the engine's entry/packet/item size limit; split large entries or declare no "
            "large_entries"
        ),
    )
    async def one_mebibyte_entry_round_trips(self, store: SessionStore) -> None:
        """A 1 MiB entry is stored and read back exactly."""
        key = self.key()
        await store.create_session(key)
        blob = {"blob": "x" * (1 << 20), "tail": "ü🙂"}
        await store.append_event(key, blob)
        await store.add_items(key, [blob])
        assert await store.get_items(key) == [blob, blob]
        assert await store.pop_item(key) == blob
