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
from omnisession import PluginLoadError, SessionKey, open_store

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


async def lifecycle_ready(url: str, options: dict[str, Any]) -> str | None:
    """``None`` if the store at ``url`` can import sessions, else why not."""
    probe = SessionKey("probe-app", "probe-user", "probe-session")
    try:
        async with open_store(url, **options) as store:
            await store.import_session(probe, [], state={}, created_at=1.0, updated_at=1.0)  # type: ignore[attr-defined]
            await store.erase_app("probe-app")  # type: ignore[attr-defined]
    except (NotImplementedError, PluginLoadError) as exc:
        return f"the backend of {url.split(':', 1)[0]}:// is not on the lifecycle hooks yet: {exc}"
    return None


@pytest_asyncio.fixture(params=_targets())
async def target_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh, isolated store URL on one of :data:`TARGET_NAMES`, cleaned up afterwards."""
    target: Target = request.param
    async with target.isolated_url() as url:
        reason = await lifecycle_ready(url, target.options)
        if reason is not None:
            pytest.skip(reason)
        yield url


@pytest_asyncio.fixture
async def memory_url() -> AsyncIterator[str]:
    import uuid

    yield f"memory://{uuid.uuid4().hex}"
