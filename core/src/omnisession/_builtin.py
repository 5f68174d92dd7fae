"""Core's own plugin: registers ``memory://`` and the ``adk+...`` schemes through the
same hook as any plugin. Nothing here imports a driver or ``google.adk``: factories
are ``"module:attr"`` strings, imported when a store is opened."""

from __future__ import annotations

from collections.abc import Callable

from .hookspecs import hookimpl
from .plugins import Backend
from .store import Capability


@hookimpl
def omnisession_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name="memory",
            schemes=("memory",),
            factory="omnisession.memory:open_memory_store",
            capabilities=frozenset({Capability.BASE, Capability.LARGE_ENTRIES}),
            description="in-process reference store; memory://NAME shares one engine per process",
        )
    )
    register(
        Backend(
            name="adk",
            schemes=("adk+memory", "adk+sqlite", "adk+db", "adk+vertexai"),
            factory="omnisession.adk_store:open_adk_store",
            # What every ADK service keeps; each opened store declares its own
            # (persistent for adk+sqlite/adk+db/adk+vertexai, large_entries for
            # the local ones): see omnisession.adk_store.
            capabilities=frozenset({Capability.BASE}),
            description=(
                "an existing Google ADK session service as a store (needs omnisession[adk]): "
                "adk+memory://[NAME], adk+sqlite:///FILE, adk+db://SQLALCHEMY_URL, "
                "adk+vertexai://PROJECT/LOCATION/AGENT_ENGINE_ID"
            ),
        )
    )
