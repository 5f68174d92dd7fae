"""``omnisession demo`` and ``omnisession bench``.

The demo shares one store between a Google ADK agent and an OpenAI Agents
agent (offline, scripted models). The benchmark measures every store operation
of the contract, and with ``--compare`` the frameworks' own session stores on
the same engine in the same run.
"""

from __future__ import annotations

__version__ = "0.2.0"
