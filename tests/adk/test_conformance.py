"""ADKServiceConformance against every target in tests/targets (memory, SQL, Redis, AWS, ...)."""

from __future__ import annotations

from omnisession_conformance.adk import ADKServiceConformance

from ..targets import bind_suite

bind_suite(ADKServiceConformance, globals(), prefix="TestADK")
