"""The store suite's cases, one module per topic.

Each module defines one mixin of cases (a :class:`ConformanceBase` subclass);
:class:`~omnisession_conformance.StoreConformance` combines them all. A
backend author binds ``StoreConformance``; the mixins are public so a suite of
a subset can be built (``class Mine(PagingCases, ReplaceCases): ...``).
"""

from __future__ import annotations

from .cluster import ClusterCases
from .concurrency import ConcurrencyCases
from .erase import EraseCases
from .fidelity import FidelityCases
from .fork import ForkCases
from .history import HistoryCases
from .hostile_input import HostileInputCases
from .imports import ImportCases
from .isolation import IsolationCases
from .paging import PagingCases
from .persistence import PersistenceCases
from .purge import PurgeCases
from .replace import ReplaceCases
from .scopes import ScopeCases
from .sessions import SessionCases
from .state import StateCases
from .ttl import TTLCases

__all__ = [
    "ClusterCases",
    "ConcurrencyCases",
    "EraseCases",
    "FidelityCases",
    "ForkCases",
    "HistoryCases",
    "HostileInputCases",
    "ImportCases",
    "IsolationCases",
    "PagingCases",
    "PersistenceCases",
    "PurgeCases",
    "ReplaceCases",
    "ScopeCases",
    "SessionCases",
    "StateCases",
    "TTLCases",
]
