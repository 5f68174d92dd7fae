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


