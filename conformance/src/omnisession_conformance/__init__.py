"""omnisession-conformance: the suite every omnisession backend runs.

- pytest: subclass :class:`StoreConformance` and define ``store`` (an async
  generator yielding an empty store) and optionally ``second_store``.
- programs: :func:`validate` returns a :class:`Report`.
- no code: ``omnisession conformance URL``.
"""

from __future__ import annotations

from .harness import CaseSpec, ConformanceBase, Skipped, case, cases_of, expected_failure
from .report import CaseResult, Report, validate
from .store_suite import HOSTILE_IDS, StoreConformance

__all__ = [
    "HOSTILE_IDS",
    "CaseResult",
    "CaseSpec",
    "ConformanceBase",
    "Report",
    "Skipped",
    "StoreConformance",
    "case",
    "cases_of",
    "expected_failure",
    "validate",
]
