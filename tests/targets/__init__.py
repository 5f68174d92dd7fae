"""Every storage target the project's tests run against.

Each module in this package exposes ``TARGETS: list[Target]``. A target hands
out a fresh, isolated store URL per test (its own SQLite file, PostgreSQL
schema, MariaDB database, Redis key prefix, ...) so tests can run in parallel
under pytest-xdist. The conformance suite and both bridge suites are
parametrised over :func:`all_targets`, so a new plugin is covered by adding
one module here and no other test code.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """A backend configuration under test.

    ``isolated_url()`` is an async context manager yielding a URL no other test
    uses and cleaning up after it. Every ``open_store(url)`` on that URL is one
    more instance on the same engine, unless ``shares_engine`` is false (e.g.
    an in-memory SQLite database), in which case cross-instance cases skip.
    """

    name: str
    isolated_url: Callable[[], AbstractAsyncContextManager[str]]
    shares_engine: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    marks: tuple[Any, ...] = ()


def all_targets() -> list[Target]:
    found: list[Target] = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        found.extend(getattr(module, "TARGETS", []))
    return found


def bind_suite(suite: type, namespace: dict[str, Any], prefix: str = "Test") -> None:
    """Define one subclass of a conformance ``suite`` per target in ``namespace``.

    Usage in a test module: ``bind_suite(StoreConformance, globals())``. Each
    generated class opens a fresh isolated URL per test; its second store (for
    cross-instance cases) is another ``open_store`` of the same URL.
    """
    from omnisession import open_store

    for target in all_targets():

        async def store(self: Any, _target: Target = target) -> AsyncIterator[Any]:
            async with _target.isolated_url() as url:
                self.url = url
                async with open_store(url, **_target.options) as opened:
                    yield opened

        async def second_store(
            self: Any, first: Any, _target: Target = target
        ) -> AsyncIterator[Any]:
            async with open_store(self.url, **_target.options) as opened:
                yield opened

        attrs: dict[str, Any] = {
            "store": store,
            "target": target,
            "__module__": namespace["__name__"],
        }
        if target.shares_engine:
            attrs["second_store"] = second_store
        name = prefix + "".join(
            part.capitalize() for part in target.name.replace("-", "_").split("_")
        )
        cls = type(name, (suite,), attrs)
        for mark in target.marks:
            cls = mark(cls)
        namespace[name] = cls
