"""The store suite against every target in tests/targets (memory, SQL, Redis, AWS, ...)."""

from __future__ import annotations

from omnisession_conformance import StoreConformance

from .targets import bind_suite

bind_suite(StoreConformance, globals())
