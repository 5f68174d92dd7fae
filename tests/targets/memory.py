"""memory:// on a named engine per test, so a second instance shares it; released after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from omnisession.memory import release_engine

from . import Target


@asynccontextmanager
async def _memory_url() -> AsyncIterator[str]:
    name = uuid.uuid4().hex
    try:
        yield f"memory://{name}"
    finally:
        release_engine(name)


TARGETS = [Target("memory", _memory_url)]
