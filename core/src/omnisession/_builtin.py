"""Core's own plugin: registers ``memory://`` through the same hook as any plugin."""

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
