"""Fixtures for the ADK bridge's own tests: a service on every storage target.

``service`` is parametrised over ``tests/targets`` (memory, SQLite file and
in-memory, PostgreSQL, MariaDB, Redis, Redis Cluster, DynamoDB, S3, ...): each
test gets an :class:`OmniSessionService` on a fresh, isolated URL of the
target, closed (and its data removed) afterwards. ``store_url`` gives the URL
alone and ``target_store`` the opened store, for tests that build their own services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from omnisession.adk import OmniSessionService

from ..targets.fixtures import storage_target, store_url, target_store

__all__ = ["service", "storage_target", "store_url", "target_store"]


@pytest_asyncio.fixture
async def service(target_store: Any) -> AsyncIterator[OmniSessionService]:
    """An ``OmniSessionService`` on ``target_store``."""
    async with OmniSessionService(target_store) as opened:
        yield opened
