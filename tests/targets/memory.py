"""memory:// on a named engine per test, so a second instance shares it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from . import Target


@asynccontextmanager
async def _memory_url() -> AsyncIterator[str]:
    yield f"memory://{uuid.uuid4().hex}"


TARGETS = [Target("memory", _memory_url)]
