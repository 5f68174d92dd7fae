"""Expiry: a store declaring ``Capability.TTL`` lets idle sessions expire.

Nothing here waits for a clock. The store exposes the small
:class:`~omnisession_conformance.probes.TTLProbe` (how long each of a session's
records has left to live, and a way to age them), so the cases check the
expiry of every record, its refresh on each write, and that an expired
session is gone, in any order and at any speed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from omnisession import SessionKey, SessionNotFound, SessionStore

from ..harness import ConformanceBase, case
from ..probes import TTLProbe, ttl_probe
from ._support import TTL

_HINT = (
    "every record a session writes (events, state, indexes) needs the expiry, set in the "
    "same atomic write; reads must treat an expired record as missing"
)


async def _remaining(probe: TTLProbe, key: SessionKey) -> list[float | None]:
    expiries = await probe.conformance_expiries(key)
    assert expiries, f"the probe found no record of {key}"
    return expiries


class TTLCases(ConformanceBase):
    """Every record of a session expires; a write refreshes it; an expired session is gone."""

    @case(TTL, hint=_HINT)
    async def every_record_of_a_session_expires(self, store: SessionStore) -> None:
        """After every kind of write, each record of the session has an expiry within the TTL."""
        probe = ttl_probe(store)
        key = self.key()
        await store.create_session(key, {"s": 1, "user:u": 1, "app:a": 1})
        await store.append_event(key, {"i": 1}, state_delta={"s": 2})
        await store.add_items(key, [{"i": 2}, {"i": 3}])
        await store.update_state(key, {"s": 3})
        await store.pop_item(key)
        for remaining in await _remaining(probe, key):
            assert remaining is not None, "a record of the session never expires"
            assert 0 < remaining <= probe.conformance_ttl, remaining
        added = self.key("added")
        await store.add_items(added, [{"i": 1}])
        assert all(r is not None for r in await _remaining(probe, added))

    @case(TTL, hint=_HINT + "; every write sets the expiry again (a sliding window)")
    async def a_write_refreshes_the_expiry(self, store: SessionStore) -> None:
        """Aged by half its TTL, a session's records get their full TTL back on each write."""
        probe = ttl_probe(store)
        key = self.key()
        await store.create_session(key, {"s": 0})
        await store.append_event(key, {"i": 0})
        half = probe.conformance_ttl / 2
        writes: list[Callable[[], Awaitable[object]]] = [
            lambda: store.append_event(key, {"i": 1}),
            lambda: store.add_items(key, [{"i": 2}]),
            lambda: store.update_state(key, {"s": 1}),
        ]
        for write in writes:
            await probe.conformance_age(key, half)
            aged = await _remaining(probe, key)
            assert all(r is not None and r <= half for r in aged), aged
            await write()
            fresh = await _remaining(probe, key)
            assert all(r is not None and r > half for r in fresh), (
                f"a write did not refresh every record's expiry: {fresh}"
            )

    @case(TTL, hint=_HINT)
    async def an_expired_session_is_gone(self, store: SessionStore) -> None:
        """Once its TTL has passed a session reads as missing and its key can be reused."""
        probe = ttl_probe(store)
        key, other = self.key(), self.key("other")
        for each in (key, other):
            await store.create_session(each, {"s": 1})
            await store.append_event(each, {"i": 1})
        await probe.conformance_age(key, probe.conformance_ttl * 2)
        assert await store.get_session(key) is None
        assert await store.get_items(key) == []
        assert (await store.get_events(key)).events == []
        listed = (await store.list_sessions(self.app_name)).sessions
        assert [r.key for r in listed] == [other]
        with pytest.raises(SessionNotFound):
            await store.append_event(key, {"i": 2})
        recreated = await store.create_session(key)
        assert recreated.state == {} and recreated.events == []
        assert await store.get_items(key) == []
        assert await store.get_items(other) == [{"i": 1}]
