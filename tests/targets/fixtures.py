"""Pytest fixtures over every storage target, for test folders that want a store per target.

A ``conftest.py`` imports what it needs (``from ..targets.fixtures import
storage_target, store_url, target_store, other_store``): ``target_store`` is
then parametrised over ``tests/targets`` (memory, SQLite file and in-memory,
PostgreSQL, MariaDB, Redis, Redis Cluster, DynamoDB, S3): a fresh, isolated
store per test, closed (and its data removed) afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from omnisession import open_store

from . import Target, all_targets

__all__ = ["other_store", "storage_target", "store_url", "target_store"]


@pytest.fixture(
    params=[pytest.param(target, id=target.name, marks=target.marks) for target in all_targets()]
)
def storage_target(request: pytest.FixtureRequest) -> Target:
    """One storage target of ``tests/targets``."""
    chosen: Target = request.param
    return chosen


@pytest_asyncio.fixture
async def store_url(storage_target: Target) -> AsyncIterator[str]:
    """A fresh URL of the target no other test uses; its data is removed afterwards."""
    async with storage_target.isolated_url() as url:
        yield url


@pytest_asyncio.fixture
async def target_store(storage_target: Target, store_url: str) -> AsyncIterator[Any]:
    """A store opened on ``store_url`` (closed afterwards)."""
    async with open_store(store_url, **storage_target.options) as opened:
        yield opened


@pytest_asyncio.fixture
async def other_store(
    storage_target: Target, store_url: str, target_store: Any
) -> AsyncIterator[Any]:
    """Another instance on the same engine (as another process sees it), if the target
    has one; otherwise the same store."""
    if not storage_target.shares_engine:
        yield target_store
        return
    async with open_store(store_url, **storage_target.options) as opened:
        yield opened
