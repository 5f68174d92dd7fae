"""``StoreConformance``: every rule of the store contract, one case each.

The cases live in :mod:`omnisession_conformance.cases`, one module per topic;
this class combines them. Bind it to a backend::

    class TestMyStore(StoreConformance):
        known_failures = {"concurrent_pops_return_each_item_once": "why"}  # optional

        async def store(self):
            async with open_store("mydb://...") as store:   # must be empty
                yield store

        async def second_store(self, store):                # optional
            async with open_store("mydb://...") as other:   # same engine
                yield other
"""

from __future__ import annotations

import asyncio

from omnisession import SessionKey

from .cases import (
    ClusterCases,
    ConcurrencyCases,
    EraseCases,
    FidelityCases,
    ForkCases,
    HistoryCases,
    HostileInputCases,
    ImportCases,
    IsolationCases,
    PagingCases,
    PersistenceCases,
    PurgeCases,
    ReplaceCases,
    ScopeCases,
    SessionCases,
    StateCases,
    TTLCases,
)
from .cases._support import HOSTILE_IDS

__all__ = ["HOSTILE_IDS", "StoreConformance"]


class StoreConformance(
    SessionCases,
    HistoryCases,
    PagingCases,
    StateCases,
    IsolationCases,
    FidelityCases,
    HostileInputCases,
    ConcurrencyCases,
    PersistenceCases,
    ReplaceCases,
    ForkCases,
    PurgeCases,
    EraseCases,
    ScopeCases,
    ImportCases,
    TTLCases,
    ClusterCases,
):
    """The store contract of the design, as conformance cases (see :mod:`.cases`)."""

    # -- a check of the binding itself (not a case) ---------------------------------

    def test_binding_yields_an_empty_store(self) -> None:
        """The store fixture must yield an empty store each time, or cases leak into each other."""
        canary = SessionKey("omnisession-conformance", "canary", "canary")

        async def check() -> None:
            for _ in range(2):
                async with self.open_store() as store:
                    assert await store.get_session(canary) is None, (
                        "the store fixture yielded a store with data from an earlier test; "
                        "it must yield an empty store"
                    )
                    assert (await store.list_sessions(canary.app_name)).sessions == []
                    await store.create_session(canary, {"app:x": 1})

        with asyncio.Runner() as runner:
            runner.run(check())
