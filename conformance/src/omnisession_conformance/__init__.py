"""omnisession-conformance: the suite every omnisession backend runs.

- pytest: subclass :class:`StoreConformance` and define ``store`` (an async
  generator yielding an empty store) and optionally ``second_store``; list the
  cases the backend knowingly fails in ``known_failures = {"case": "why"}``
  (``racy("why")`` for a race it loses only sometimes).
- programs: :func:`validate` returns a :class:`Report`.
- no code: ``omnisession conformance URL``.

Names are imported on first use, so the pytest plugin of this distribution
can ask pytest to rewrite the suites' asserts before their modules load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnisession.lazy import lazy_attributes

if TYPE_CHECKING:
    from .harness import CaseSpec, ConformanceBase, Racy, Skipped, case, cases_of, racy
    from .probes import ClusterProbe, TTLProbe
    from .report import CaseResult, Report, validate
    from .store_suite import HOSTILE_IDS, StoreConformance

__all__ = [
    "HOSTILE_IDS",
    "CaseResult",
    "CaseSpec",
    "ClusterProbe",
    "ConformanceBase",
    "Racy",
    "Report",
    "Skipped",
    "StoreConformance",
    "TTLProbe",
    "case",
    "cases_of",
    "racy",
    "validate",
]

_WHERE = {
    "CaseSpec": ".harness",
    "ConformanceBase": ".harness",
    "Skipped": ".harness",
    "case": ".harness",
    "cases_of": ".harness",
    "Racy": ".harness",
    "racy": ".harness",
    "ClusterProbe": ".probes",
    "TTLProbe": ".probes",
    "CaseResult": ".report",
    "Report": ".report",
    "validate": ".report",
    "HOSTILE_IDS": ".store_suite",
    "StoreConformance": ".store_suite",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
