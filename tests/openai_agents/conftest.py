"""Fixtures for the OpenAI bridge's own tests: stores on every target, and test doubles.

``target_store`` is parametrised over ``tests/targets`` (memory, SQLite file
and in-memory, PostgreSQL, MariaDB, Redis, Redis Cluster, DynamoDB, S3, ...):
a fresh, isolated store per test, closed (and its data removed) afterwards.
``other_store`` is a second instance on the same engine where the target has
one (another process's view), else the same store.

``StoreProxy`` wraps a store to count calls, hide a capability or fail one
operation; ``ScriptedCompaction`` stands in for the OpenAI client's
``responses.compact`` (no network).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from omnisession import Capability

from ..targets.fixtures import other_store, storage_target, store_url, target_store

__all__ = ["other_store", "storage_target", "store_url", "target_store"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(*capabilities): skip (visibly) on a target whose store does not declare them",
    )


@pytest.fixture(autouse=True)
def _needs_capabilities(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("needs")
    if marker is None:
        return
    store = request.getfixturevalue("target_store")
    missing = [cap.value for cap in marker.args if cap not in store.capabilities]
    if missing:
        pytest.skip(f"{type(store).__name__} does not declare {', '.join(missing)}")


class StoreProxy:
    """A store seen through a proxy: records each operation called, can hide
    capabilities and make chosen operations raise instead of reaching the store."""

    def __init__(
        self,
        inner: Any,
        *,
        hide: Iterable[Capability] = (),
        fail: Mapping[str, BaseException] | None = None,
    ) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.capabilities = frozenset(inner.capabilities) - frozenset(hide)
        self.fail = dict(fail or {})

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if name in self.fail:
                raise self.fail[name]
            return await attribute(*args, **kwargs)

        return call


class ScriptedCompaction:
    """An OpenAI client stand-in: ``client.responses.compact(**request)`` returns the
    scripted ``output`` and records each request; ``during`` (if set) is awaited inside
    the call, i.e. after the SDK read its snapshot and before it replaces anything."""

    def __init__(
        self,
        output: list[dict[str, Any]],
        *,
        during: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.output = output
        self.during = during
        self.requests: list[dict[str, Any]] = []
        self.responses = self

    async def compact(self, **request: Any) -> Any:
        self.requests.append(request)
        if self.during is not None:
            await self.during()
        return SimpleNamespace(output=[dict(item) for item in self.output], usage=None)
