"""Fixtures of the session-management tests: stores to copy into, on every engine that matters.

``target_url`` is parametrised over memory://, a SQLite file, PostgreSQL and
Redis (the repository's own isolated targets: a fresh schema / key prefix /
file per test, removed afterwards). A backend whose port to the lifecycle
operations has not landed yet is skipped with that reason, so the same tests
run on it as soon as it has.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.targets import Target, all_targets

#: The engines copies are checked on (MariaDB, DynamoDB, S3 and the cluster run the same
#: contract through the conformance suite; here they would only repeat these cases).
TARGET_NAMES = ("memory", "sqlite-file", "postgresql", "redis")


def _targets() -> list[Any]:
    found = {target.name: target for target in all_targets()}
    return [
        pytest.param(found[name], id=name, marks=found[name].marks)
        for name in TARGET_NAMES
        if name in found
    ]


@pytest_asyncio.fixture(params=_targets())
async def target_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh, isolated store URL on one of :data:`TARGET_NAMES`, cleaned up afterwards."""
    target: Target = request.param
    async with target.isolated_url() as url:
        yield url


@pytest_asyncio.fixture
async def memory_url() -> AsyncIterator[str]:
    import uuid

    yield f"memory://{uuid.uuid4().hex}"
