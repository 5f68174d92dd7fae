"""A cluster: ``Capability.CLUSTER`` stores spread keys over slots and stay atomic.

"Spread" is checked through the small
:class:`~omnisession_conformance.probes.ClusterProbe` the store exposes (the
hash slots of a session's records); atomicity by its outcome alone: writes
touching every scope at once, concurrently, leave the scopes agreeing with
the last event.
"""

from __future__ import annotations

from omnisession import SessionStore

from ..harness import ConformanceBase, case
from ..probes import cluster_probe
from ._support import CLUSTER, scopes_agree

_ATOMIC = (
    "a write touching the session, user and app scopes must commit in ONE step: keep the "
    "keys one write touches in one slot (a hash tag) so one script can write them"
)


class ClusterCases(ConformanceBase):
    """Keys spread over the cluster's slots; multi-key writes stay atomic."""

    @case(
        CLUSTER,
        hint="hash tags must not put every session of the store in one slot: tag by app "
        "or by user, not by a constant",
    )
    async def sessions_spread_over_slots(self, store: SessionStore) -> None:
        """Sessions of different apps and users land on more than one slot."""
        probe = cluster_probe(store)
        slots: set[int] = set()
        for i in range(16):
            key = self.key(f"s{i}", f"user-{i}", app_name=self.app(f"-{i}"))
            await store.create_session(key, {"user:u": i, "app:a": i})
            await store.append_event(key, {"i": i})
            own = await probe.conformance_slots(key)
            assert own, f"the probe found no slot for {key}"
            slots |= own
        assert len(slots) > 1, f"every session is in slot {slots}: the cluster is not used"

    @case(CLUSTER, hint=_ATOMIC)
    async def multi_key_writes_are_atomic(self, store: SessionStore) -> None:
        """Concurrent writes to every scope at once leave all scopes agreeing with the last."""
        await scopes_agree(self, [store])

    @case(CLUSTER, second=True, hint=_ATOMIC + "; across connections too")
    async def multi_key_writes_are_atomic_across_instances(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """The same through two instances on one cluster."""
        await scopes_agree(self, [store, second])
