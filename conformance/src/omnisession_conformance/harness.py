"""The machinery shared by every conformance suite.

A suite is a subclass of :class:`ConformanceBase` whose cases are ``async``
methods marked with :func:`case`. Each case becomes a plain, synchronous
pytest test named ``test_<capability>_<name>`` that opens the store through
the subclass's :meth:`ConformanceBase.store` async generator, runs the case
in a fresh event loop of its own (so the suite works whatever the consumer's
pytest-asyncio mode, or without it), and skips visibly when the store does
not declare the capability the case needs.

Backend authors bind a suite by subclassing it and defining ``store`` (and
optionally ``second_store``). A case the backend knowingly fails is
overridden with :func:`expected_failure`, which is a strict xfail: the case
must really fail, and the reason shows in the report.
"""

from __future__ import annotations

import asyncio
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from omnisession import Capability, SessionKey, SessionStore

__all__ = [
    "CaseSpec",
    "ConformanceBase",
    "Skipped",
    "case",
    "cases_of",
    "expected_failure",
]

F = TypeVar("F", bound=Callable[..., Any])
CaseFunction = Callable[..., Awaitable[None]]

_CASE_ATTR = "_omnisession_case"
_XFAIL_ATTR = "_omnisession_expected_failure"


@dataclass(frozen=True)
class CaseSpec:
    """One conformance case: the rule it checks and the capability it needs."""

    name: str
    capability: Capability
    second: bool
    function: CaseFunction
    description: str

    @property
    def test_name(self) -> str:
        return f"test_{self.capability.value}_{self.name}"


class Skipped(Exception):
    """A case did not run, and why (undeclared capability, no second store)."""


def case(capability: Capability = Capability.BASE, *, second: bool = False) -> Callable[[F], F]:
    """Mark an ``async`` method as a conformance case needing ``capability``.

    With ``second=True`` the case also receives a second store instance on the
    same engine (from ``second_store``) and skips when the binding has none.
    """

    def mark(function: F) -> F:
        doc = (function.__doc__ or "").strip().splitlines()
        setattr(
            function,
            _CASE_ATTR,
            CaseSpec(function.__name__, capability, second, function, doc[0] if doc else ""),
        )
        return function

    return mark


def expected_failure(reason: str) -> Callable[[F], F]:
    """Override a case test that this backend knowingly fails, saying why.

    The test must still fail (a strict xfail); if the backend is fixed, the
    suite reports the override as obsolete.
    """
    if not reason or not reason.strip():
        raise ValueError("expected_failure needs a reason that says why the case fails")

    def mark(function: F) -> F:
        import pytest

        setattr(function, _XFAIL_ATTR, reason)
        return cast(F, pytest.mark.xfail(strict=True, reason=reason)(function))

    return mark


def cases_of(suite: type[ConformanceBase]) -> list[CaseSpec]:
    """Every case of ``suite`` (including inherited ones), in definition order."""
    found: dict[str, CaseSpec] = {}
    for klass in reversed(suite.__mro__):
        for value in vars(klass).values():
            spec = getattr(value, _CASE_ATTR, None)
            if isinstance(spec, CaseSpec):
                found[spec.name] = spec
    return list(found.values())


def _make_test(spec: CaseSpec) -> Callable[[ConformanceBase], None]:
    def test(self: ConformanceBase) -> None:
        import pytest

        try:
            self.run_case(spec)
        except Skipped as skip:
            pytest.skip(str(skip))

    test.__name__ = spec.test_name
    test.__qualname__ = spec.test_name
    test.__doc__ = spec.description
    setattr(test, _CASE_ATTR + "_test", spec)
    return test


class ConformanceBase:
    """Base of every suite: binds cases to a store and runs them."""

    #: Set by the harness before each case: an app name no other case uses,
    #: so suites can also run against a shared, non-empty database.
    app_name: str = "omnisession-conformance"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for spec in cases_of(cls):
            if spec.test_name not in vars(cls) and not _defined_above(cls, spec.test_name):
                setattr(cls, spec.test_name, _make_test(spec))

    # -- what a binding provides ------------------------------------------

    def store(self) -> AsyncIterator[SessionStore]:
        """Yield an empty store; the binding overrides this with an async generator."""
        raise NotImplementedError("define `async def store(self)` yielding an empty store")

    second_store: Callable[[SessionStore], AsyncIterator[SessionStore]] | None = None
    """Optionally ``async def second_store(self, store)``: another instance on the same engine."""

    # -- helpers for cases ----------------------------------------------------

    def key(
        self, session_id: str = "s1", user_id: str = "u1", app_name: str | None = None
    ) -> SessionKey:
        """A key in this case's own app namespace."""
        return SessionKey(app_name or self.app_name, user_id, session_id)

    # -- running ------------------------------------------------------------

    def run_case(self, spec: CaseSpec) -> None:
        """Run one case in a fresh event loop; raises :class:`Skipped` or the failure."""
        self.app_name = f"conformance-{uuid.uuid4().hex[:12]}"
        with asyncio.Runner() as runner:
            runner.run(self._run_case(spec))

    async def _run_case(self, spec: CaseSpec) -> None:
        async with self.open_store() as store:
            capabilities = store.capabilities
            if spec.capability not in capabilities:
                raise Skipped(
                    f"the store does not declare the {spec.capability.value!r} capability"
                )
            if not spec.second:
                await spec.function(self, store)
                return
            async with self.open_second_store(store) as second:
                await spec.function(self, store, second)

    def open_store(self) -> AbstractAsyncContextManager[SessionStore]:
        return asynccontextmanager(self.store)()

    def open_second_store(self, store: SessionStore) -> AbstractAsyncContextManager[SessionStore]:
        if self.second_store is None:
            raise Skipped(
                "no second store on the same engine: define `second_store` to run this case"
            )
        return asynccontextmanager(self.second_store)(store)


def _defined_above(cls: type, name: str) -> bool:
    # A generated test already exists on a base suite; only re-generate when a
    # new case appears in this class.
    return any(name in vars(base) for base in cls.__mro__[1:])


def describe_failure(exc: BaseException) -> str:
    """A one-paragraph message for reports: the assertion or error, and where."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}{where}"
