"""The capabilities of Redis stores, declared once (importable without redis-py).

Every store declares :data:`CAPABILITIES`; each of :data:`OPTIONAL_CAPABILITIES`
only in the configuration its text names.
"""

from __future__ import annotations

from collections.abc import Mapping

from omnisession.store import Capability

__all__ = ["CAPABILITIES", "OPTIONAL_CAPABILITIES", "store_capabilities"]

CAPABILITIES: frozenset[Capability] = frozenset(
    {
        Capability.BASE,
        Capability.CROSS_PROCESS,
        Capability.LARGE_ENTRIES,
        Capability.REPLACE,
        Capability.LIFECYCLE,
    }
)

OPTIONAL_CAPABILITIES: Mapping[Capability, str] = {
    Capability.TTL: "with ?ttl=SECONDS",
    Capability.PERSISTENT: (
        "with ?persistent=true, when the server persists (appendonly yes, or RDB "
        "snapshots whose loss window you accept)"
    ),
    Capability.CLUSTER: "with redis+cluster:// or rediss+cluster://",
}


def store_capabilities(*, ttl: bool, persistent: bool, cluster: bool) -> frozenset[Capability]:
    """What a store with these settings declares."""
    optional = {
        Capability.TTL: ttl,
        Capability.PERSISTENT: persistent,
        Capability.CLUSTER: cluster,
    }
    return CAPABILITIES | {capability for capability, on in optional.items() if on}
