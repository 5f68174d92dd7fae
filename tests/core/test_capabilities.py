"""One meaning for declared capabilities, checked on every installed backend.

``Backend.capabilities`` is what EVERY store of a backend declares;
``Backend.optional_capabilities`` is what some of its stores declare, with how
to get it. So a store opened through any URL declares all of the first, a
subset of the second, and nothing else -- which is what ``omnisession
backends`` promises a user before they open anything. Each store is opened
through every target of ``tests/targets`` (the configurations the whole test
suite runs), plus the ``adk+`` and read-only ``openai+`` URLs, which have no
target of their own; and every installed backend must be reached by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from omnisession import Capability, open_store
from omnisession.plugins import Backend, registry

from ..targets import Target, all_targets

TARGETS = all_targets()

PG_URL = os.environ.get("OMNISESSION_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OMNISESSION_REDIS_URL", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def _in_tmp(template: str) -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield template.format(tmp=tmp)


def _url(template: str) -> Callable[[], AbstractAsyncContextManager[str]]:
    return lambda: _in_tmp(template)


#: Backends without a target in tests/targets (their own tests bind them), by URL.
EXTRA = [
    Target("adk-memory", _url("adk+memory://")),
    Target("adk-sqlite", _url("adk+sqlite:///{tmp}/adk.db")),
    Target("adk-db-file", _url("adk+db://sqlite+aiosqlite:///{tmp}/adk.db")),
    Target("adk-db-memory", _url("adk+db://sqlite+aiosqlite:///:memory:")),
    Target("adk-vertexai", _url("adk+vertexai://project/us-central1/4242")),
    Target("openai-sqlite", _url("openai+sqlite:///{tmp}/sdk.db")),
    Target("openai-postgresql", _url("openai+" + PG_URL)),
    Target("openai-redis", _url("openai+" + REDIS_URL)),
]


def check_declared(backend: Backend, declared: frozenset[Capability]) -> None:
    missing = backend.capabilities - declared
    assert not missing, (
        f"backend {backend.name!r} promises {sorted(missing)} for every store "
        f"(Backend.capabilities), but this store does not declare them"
    )
    extra = declared - backend.capabilities - set(backend.optional_capabilities)
    assert not extra, (
        f"this {backend.name!r} store declares {sorted(extra)}, which the backend lists "
        "neither in capabilities nor in optional_capabilities: `omnisession backends` "
        "would not show them"
    )


async def _open_and_check(target: Target) -> str:
    """Open the target's store, check its capabilities; the backend's name."""
    async with target.isolated_url() as url:
        backend = registry().resolve(url)
        try:
            store = open_store(url, **target.options)
        except ImportError as exc:  # an optional service library (google-adk[gcp])
            pytest.skip(f"{target.name}: {exc}")
        async with store:
            check_declared(backend, store.capabilities)
        return backend.name


def _run(target: Target) -> str:
    return asyncio.run(_open_and_check(target))


@pytest.mark.parametrize("target", [*TARGETS, *EXTRA], ids=lambda target: target.name)
def test_an_opened_store_declares_what_its_backend_promises(target: Target) -> None:
    _run(target)


def test_every_installed_backend_is_opened_by_a_target() -> None:
    reached: set[str] = set()
    for target in [*TARGETS, *EXTRA]:
        with contextlib.suppress(pytest.skip.Exception):
            reached.add(_run(target))
    installed = {backend.name for backend in registry().backends}
    assert installed - reached == set(), (
        "these installed backends are opened by no target: add one to tests/targets "
        "(or to EXTRA here)"
    )


def test_the_declarations_themselves_are_coherent() -> None:
    for backend in registry().backends:
        overlap = backend.capabilities & set(backend.optional_capabilities)
        assert not overlap, f"{backend.name}: {sorted(overlap)} is both promised and optional"
        for capability, how in backend.optional_capabilities.items():
            assert isinstance(capability, Capability)
            assert how.strip(), f"{backend.name}: say how to get {capability.value!r}"
        names = [option.name for option in backend.options]
        assert len(names) == len(set(names)), f"{backend.name}: an option is declared twice"
        assert all(option.doc.strip() for option in backend.options), backend.name
