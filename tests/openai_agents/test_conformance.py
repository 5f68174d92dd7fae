"""OpenAISessionConformance against every target in tests/targets (memory, SQL, Redis, AWS, ...)."""

from __future__ import annotations

from omnisession_conformance.openai_agents import OpenAISessionConformance

from ..targets import bind_suite

bind_suite(OpenAISessionConformance, globals(), prefix="TestOpenAI")
