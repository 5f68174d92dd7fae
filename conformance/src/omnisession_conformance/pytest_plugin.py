"""The pytest plugin of omnisession-conformance (entry point ``pytest11``).

It only asks pytest to rewrite the asserts of the suites' modules, so a
failing case shows the values it compared, as a test of your own would.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite(
    "omnisession_conformance.cases",
    "omnisession_conformance.store_suite",
    "omnisession_conformance.adk",
    "omnisession_conformance.openai_agents",
)
