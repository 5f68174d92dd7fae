"""Small introspection a store exposes so capabilities that depend on the engine can be tested.

Some promises cannot be checked through the store contract alone without
waiting on a clock (``ttl``: records expire) or without seeing the engine's
layout (``cluster``: keys are spread over hash slots). A store declaring such a
capability also implements the matching probe below; the methods are named
``conformance_*`` so they never collide with the contract, and they are for
the conformance suite only (they may be slow, they are never called in
production). A store that declares the capability without the probe fails
the capability's cases with a message that says so.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from omnisession import SessionKey, SessionStore

__all__ = ["ClusterProbe", "TTLProbe", "cluster_probe", "ttl_probe"]


@runtime_checkable
class TTLProbe(Protocol):
    """What a ``Capability.TTL`` store shows of its expiry."""

    conformance_ttl: float
    """The idle time, in seconds, after which a session expires (the configured TTL)."""

    async def conformance_expiries(self, key: SessionKey) -> list[float | None]:
        """Seconds left to live of each engine record holding ``key``'s session (its
        events, state, index entries ...), ``None`` for a record without expiry; ``[]``
        when the session has no record."""
        ...

    async def conformance_age(self, key: SessionKey, seconds: float) -> None:
        """Bring the expiry of every record of ``key``'s session ``seconds`` closer, as if
        that much time had passed without a write (at or past the TTL: it expires now)."""
        ...


@runtime_checkable
class ClusterProbe(Protocol):
    """What a ``Capability.CLUSTER`` store shows of its layout."""

    async def conformance_slots(self, key: SessionKey) -> set[int]:
        """The hash slots (or partitions) of the engine records holding ``key``'s session."""
        ...


def ttl_probe(store: SessionStore) -> TTLProbe:
    """``store`` as a :class:`TTLProbe`, or an ``AssertionError`` that says what is missing."""
    assert isinstance(store, TTLProbe), (
        f"{type(store).__name__} declares the 'ttl' capability but has no TTL probe: "
        "implement conformance_ttl, conformance_expiries() and conformance_age() "
        "(see omnisession_conformance.probes.TTLProbe)"
    )
    return store


def cluster_probe(store: SessionStore) -> ClusterProbe:
    """``store`` as a :class:`ClusterProbe`, or an ``AssertionError`` that says what is missing."""
    assert isinstance(store, ClusterProbe), (
        f"{type(store).__name__} declares the 'cluster' capability but has no cluster probe: "
        "implement conformance_slots() (see omnisession_conformance.probes.ClusterProbe)"
    )
    return store
