"""Tests of the OpenAI Agents SDK bridge, ``omnisession.openai_agents``."""
