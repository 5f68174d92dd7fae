"""The machinery shared by every conformance suite.

A suite is a subclass of :class:`ConformanceBase` whose cases are ``async``
methods marked with :func:`case`. Each case becomes a plain, synchronous
pytest test named ``test_<capability>_<name>`` that opens the store through
the subclass's :meth:`ConformanceBase.store` async generator, runs the case
in a fresh event loop of its own (so the suite works whatever the consumer's
pytest-asyncio mode, or without it), and skips visibly when the store does
not declare the capability the case needs.

Backend authors bind a suite by subclassing it and defining ``store`` (and
optionally ``second_store``). A case the backend knowingly fails is listed,
with the reason, in the class-level mapping :attr:`ConformanceBase.known_failures`;
that is the only way to opt out of a case, and both the pytest classes and
:func:`~omnisession_conformance.validate` read it. A listed case still runs:
under pytest as a strict xfail whose reason shows in the summary (the day the
backend is fixed, the xfail turns into a failure that says to remove the
entry), in a report as ``known-failure`` with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from omnisession import Capability, SessionKey, SessionStore, Unsupported

__all__ = [
    "CaseSpec",
    "ConformanceBase",
    "Racy",
    "Skipped",
    "case",
    "cases_of",
    "racy",
]

F = TypeVar("F", bound=Callable[..., Any])
CaseFunction = Callable[..., Awaitable[None]]

_CASE_ATTR = "_omnisession_case"
_GENERATED_ATTR = "_omnisession_case_test"
NAMESPACE_PREFIX = "conformance-"
"""Every app name a case uses starts with this (then a random part)."""


@dataclass(frozen=True)
class CaseSpec:
    """One conformance case: the rule it checks, the capability it needs, where to look."""

    name: str
    capability: Capability
    second: bool
    function: CaseFunction
    description: str
    hint: str
    """What to look at when the case fails (shown in reports)."""
    topic: str
    """The module of the suite the case belongs to (``sessions``, ``replace``, ...)."""

    @property
    def test_name(self) -> str:
        return f"test_{self.capability.value}_{self.name}"


class Skipped(Exception):
    """A case did not run, and why (undeclared capability, no second store)."""


def case(
    capability: Capability = Capability.BASE,
    *,
    second: bool = False,
    hint: str = "",
    topic: str | None = None,
) -> Callable[[F], F]:
    """Mark an ``async`` method as a conformance case needing ``capability``.

    ``hint`` says, in a line, what to look at when the case fails ("if this
    fails, look at..."); reports show it next to the failure. With
    ``second=True`` the case also receives a second store instance on the
    same engine (from ``second_store``) and skips when the binding has none.
    ``topic`` defaults to the last part of the defining module's name.
    """

    def mark(function: F) -> F:
        doc = (function.__doc__ or "").strip().splitlines()
        module = getattr(function, "__module__", "") or ""
        setattr(
            function,
            _CASE_ATTR,
            CaseSpec(
                name=function.__name__,
                capability=capability,
                second=second,
                function=function,
                description=doc[0] if doc else "",
                hint=hint.strip(),
                topic=topic or module.rsplit(".", 1)[-1],
            ),
        )
        return function

    return mark


def cases_of(suite: type[ConformanceBase]) -> list[CaseSpec]:
    """Every case of ``suite`` (including inherited ones).

    Ordered by the suite's bases as listed (each topic's cases in definition
    order); a case redefined in a subclass replaces the inherited one.
    """
    latest: dict[str, CaseSpec] = {}
    for klass in suite.__mro__:
        for value in vars(klass).values():
            spec = getattr(value, _CASE_ATTR, None)
            if isinstance(spec, CaseSpec):
                latest.setdefault(spec.name, spec)
    ordered: dict[str, CaseSpec] = {}
    for klass in reversed(suite.__mro__):
        for value in vars(klass).values():
            spec = getattr(value, _CASE_ATTR, None)
            if isinstance(spec, CaseSpec) and spec.name not in ordered:
                ordered[spec.name] = latest[spec.name]
    return _by_base_order(suite, list(ordered.values()))


def _by_base_order(suite: type, specs: list[CaseSpec]) -> list[CaseSpec]:
    # reversed(mro) puts the LAST listed base first; list topics in the order
    # the suite names its bases instead (the order a reader expects), each
    # class's cases in definition order.
    rank: dict[str, int] = {}
    for index, klass in enumerate(suite.__mro__):
        for value in vars(klass).values():
            spec = getattr(value, _CASE_ATTR, None)
            if isinstance(spec, CaseSpec):
                rank.setdefault(spec.name, index)
    position = {spec.name: i for i, spec in enumerate(specs)}
    return sorted(specs, key=lambda spec: (rank[spec.name], position[spec.name]))


def _make_test(spec: CaseSpec, known_failure: str | None) -> Callable[[ConformanceBase], None]:
    def test(self: ConformanceBase) -> None:
        import pytest

        try:
            self.run_case(spec)
        except Skipped as skip:
            pytest.skip(str(skip))

    test.__name__ = spec.test_name
    test.__qualname__ = spec.test_name
    test.__doc__ = spec.description + (f"\n\nIf this fails: {spec.hint}" if spec.hint else "")
    setattr(test, _GENERATED_ATTR, spec)
    if known_failure is None:
        return test
    import pytest

    marked: Callable[[ConformanceBase], None] = pytest.mark.xfail(
        strict=not isinstance(known_failure, Racy), reason=f"known failure: {known_failure}"
    )(test)
    return marked


class Racy(str):
    """A ``known_failures`` reason for a case the backend fails only under some interleavings.

    Write ``known_failures = {"case": racy("why")}``. Such a case is a
    non-strict xfail under pytest (a lucky run that passes is not a failure)
    and always ``known-failure`` in a report: the guarantee does not hold,
    even when one run happens not to show it.
    """

    __slots__ = ()


def racy(reason: str) -> Racy:
    """Mark a ``known_failures`` reason as a race the backend loses only sometimes."""
    return Racy(reason)


def check_known_failures(suite: type[ConformanceBase], known: Mapping[str, str]) -> dict[str, str]:
    """``known`` checked against ``suite``'s cases: ``TypeError`` for a name or reason
    that cannot be right, so a typo never silently opts nothing out."""
    if not isinstance(known, Mapping):
        raise TypeError(
            f"{suite.__name__}.known_failures must be a dict of case name -> reason, "
            f"got {type(known).__name__}"
        )
    names = {spec.name: spec for spec in cases_of(suite)}
    by_test_name = {spec.test_name: spec.name for spec in names.values()}
    checked: dict[str, str] = {}
    for name, reason in known.items():
        if name not in names:
            if name in by_test_name:
                hint = f"use the case name {by_test_name[name]!r}, not the test's name"
            else:
                close = difflib.get_close_matches(str(name), list(names), n=1)
                hint = f"did you mean {close[0]!r}?" if close else "see cases_of(suite)"
            raise TypeError(
                f"{suite.__name__}.known_failures lists {name!r}, which is not a case of "
                f"this suite; {hint}"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise TypeError(
                f"{suite.__name__}.known_failures[{name!r}] needs a reason that says why "
                "the backend fails the case"
            )
        checked[name] = Racy(reason.strip()) if isinstance(reason, Racy) else reason.strip()
    return checked


class ConformanceBase:
    """Base of every suite: binds cases to a store and runs them."""

    #: The cases this backend knowingly fails: ``{"case_name": "why"}``. The
    #: only way to opt out of a case. Each listed case still runs, as a strict
    #: xfail under pytest (its reason shows; a listed case that passes fails
    #: the run, so a fixed backend cannot keep a stale entry) and as
    #: ``known-failure`` in a :func:`~omnisession_conformance.validate` report.
    known_failures: ClassVar[Mapping[str, str]] = {}

    #: Set by the harness before each case: an app name no other case uses,
    #: so suites can also run against a shared, non-empty database.
    app_name: str = "omnisession-conformance"

    #: Erase every app a case used once it ends (``validate()`` and the CLI
    #: turn this on, as they run on a user's engine; pytest bindings give each
    #: test a fresh namespace of their own instead).
    erase_after_each_case: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        known = check_known_failures(cls, cls.known_failures)
        for spec in cases_of(cls):
            own = vars(cls).get(spec.test_name)
            if own is not None and getattr(own, _GENERATED_ATTR, None) is None:
                raise TypeError(
                    f"{cls.__name__}.{spec.test_name} overrides a conformance case; to opt "
                    f"out of it, list it instead: known_failures = {{{spec.name!r}: "
                    '"why this backend fails it"}'
                )
            setattr(cls, spec.test_name, _make_test(spec, known.get(spec.name)))

    # -- what a binding provides ------------------------------------------

    def store(self) -> AsyncIterator[SessionStore]:
        """Yield an empty store; the binding overrides this with an async generator."""
        raise NotImplementedError("define `async def store(self)` yielding an empty store")

    second_store: Callable[[SessionStore], AsyncIterator[SessionStore]] | None = None
    """Optionally ``async def second_store(self, store)``: another instance on the same engine."""

    # -- helpers for cases ----------------------------------------------------

    def app(self, suffix: str = "") -> str:
        """An app name of this case's namespace (``suffix`` makes more of them)."""
        name = self.app_name + suffix
        self._used_apps().add(name)
        return name

    def key(
        self, session_id: str = "s1", user_id: str = "u1", app_name: str | None = None
    ) -> SessionKey:
        """A key in this case's own app namespace (or in ``app_name``, one of :meth:`app`)."""
        app = self.app() if app_name is None else app_name
        self._used_apps().add(app)
        return SessionKey(app, user_id, session_id)

    def _used_apps(self) -> set[str]:
        used: set[str] | None = self.__dict__.get("_apps")
        if used is None:
            used = set()
            self.__dict__["_apps"] = used
        return used

    # -- running ------------------------------------------------------------

    def run_case(self, spec: CaseSpec) -> None:
        """Run one case in a fresh event loop; raises :class:`Skipped` or the failure."""
        self.app_name = f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:12]}"
        self.__dict__["_apps"] = {self.app_name}
        with asyncio.Runner() as runner:
            try:
                runner.run(self._run_case(spec))
            except Skipped:
                raise  # it wrote nothing
            except BaseException:
                if self.erase_after_each_case:
                    with contextlib.suppress(Exception):  # the case's failure is the news
                        runner.run(self.erase_namespace())
                raise
            if self.erase_after_each_case:
                try:
                    runner.run(self.erase_namespace())
                except Exception as exc:
                    raise AssertionError(
                        f"the case passed, but erasing what it wrote failed: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc

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

    async def erase_namespace(self) -> None:
        """Delete everything the last case wrote, through a store of its own.

        ``erase_app`` of every app the case used, wherever the store has it
        (declared ``LIFECYCLE`` or not: a store may erase well when nothing
        races it); otherwise, or on ``Unsupported``, each listed session is
        deleted (app and user scopes cannot be deleted without ``erase_app``).
        """
        apps = sorted(self._used_apps())
        async with self.open_store() as store:
            erase = getattr(store, "erase_app", None)
            if erase is not None:
                try:
                    for app in apps:
                        await erase(app)
                    return
                except Unsupported:
                    pass
            for app in apps:
                while True:
                    page = await store.list_sessions(app, page_size=1000)
                    for record in page.sessions:
                        await store.delete_session(record.key)
                    if not page.sessions:
                        break

    def open_store(self) -> AbstractAsyncContextManager[SessionStore]:
        return asynccontextmanager(self.store)()

    def open_second_store(self, store: SessionStore) -> AbstractAsyncContextManager[SessionStore]:
        if self.second_store is None:
            raise Skipped(
                "no second store on the same engine: define `second_store` to run this case"
            )
        return asynccontextmanager(self.second_store)(store)


def describe_failure(exc: BaseException) -> str:
    """A one-paragraph message for reports: the assertion or error, and where.

    An assertion without a message is shown by its source line, so a report
    read without pytest's assertion rewriting still says what was checked.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    text = " ".join(str(exc).split())
    if not text and isinstance(exc, AssertionError) and frames and frames[-1].line:
        text = f"failed: {frames[-1].line.strip()}"
    text = text or type(exc).__name__
    if len(text) > 600:
        text = text[:600] + "..."
    return f"{type(exc).__name__}: {text}{where}"
