"""``validate()``: run a suite's cases without pytest and grade the backend."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from omnisession import BackendError, Capability, SessionStore

from .harness import (
    NAMESPACE_PREFIX,
    CaseSpec,
    ConformanceBase,
    Racy,
    Skipped,
    cases_of,
    check_known_failures,
    describe_failure,
)
from .store_suite import StoreConformance

__all__ = ["CaseResult", "Report", "select_cases", "validate"]

Status = Literal["passed", "failed", "skipped", "known-failure"]
StoreFactory = Callable[[], AbstractAsyncContextManager[SessionStore]]
Progress = Callable[[CaseSpec, "CaseResult | None", int, int], None]

#: How long the reachability probe may take before the run stops: above any
#: backend's connect and command timeouts, well under a user's patience.
PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class CaseResult:
    name: str
    capability: str
    status: Status
    message: str = ""
    hint: str = ""
    """What to look at when the case fails."""
    topic: str = ""


@dataclass
class Report:
    """Per-case results and the conformance level they earn.

    ``level`` is ``"NONCONFORMANT"`` unless every base case passes; then
    ``"BASE"``, followed by each declared extended capability whose cases all
    pass (``"BASE+persistent+cross_process"``). ``untested`` lists declared
    capabilities the suite has no case for (never earned). ``aborted`` says
    why the run stopped before the end (the store is unreachable); ``partial``
    is true when only some cases were selected.
    """

    backend: str
    declared: list[str]
    results: list[CaseResult] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)
    aborted: str | None = None
    partial: bool = False

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def conformant(self) -> bool:
        """Every base case passed (a base case skips only without a second store)."""
        if self.aborted is not None:
            return False
        base = [r for r in self.results if r.capability == Capability.BASE.value]
        return any(r.status == "passed" for r in base) and all(
            r.status in ("passed", "skipped") for r in base
        )

    @property
    def ok(self) -> bool:
        """What the CLI's exit status reports: conformant, or for a selection, no failure."""
        if self.aborted is not None:
            return False
        if self.partial:
            return not self.failed and any(r.status == "passed" for r in self.results)
        return self.conformant

    @property
    def passed_capabilities(self) -> list[str]:
        if not self.conformant:
            return []
        earned = [Capability.BASE.value]
        for capability in self.declared:
            if capability == Capability.BASE.value:
                continue
            own = [r for r in self.results if r.capability == capability]
            if own and all(r.status == "passed" for r in own):
                earned.append(capability)
        return earned

    @property
    def level(self) -> str:
        if not self.conformant:
            return "NONCONFORMANT"
        return "+".join(["BASE", *self.passed_capabilities[1:]])

    def by_capability(self) -> dict[str, list[CaseResult]]:
        order = {capability.value: index for index, capability in enumerate(Capability)}
        grouped: dict[str, list[CaseResult]] = {}
        for result in sorted(self.results, key=lambda r: order.get(r.capability, len(order))):
            grouped.setdefault(result.capability, []).append(result)
        return grouped

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "level": self.level,
            "declared": self.declared,
            "passed_capabilities": self.passed_capabilities,
            "untested": self.untested,
            "aborted": self.aborted,
            "partial": self.partial,
            "results": [asdict(r) for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def render(self) -> str:
        """A readable report: per capability, counts, then each failing case, why and hint."""
        level = self.level + (" (of the selected cases only)" if self.partial else "")
        lines = [f"omnisession conformance: {self.backend}", f"level: {level}", ""]
        if self.aborted is not None:
            lines.insert(2, f"STOPPED: {self.aborted}")
        for capability, results in self.by_capability().items():
            counts = {
                s: sum(r.status == s for r in results)
                for s in ("passed", "failed", "skipped", "known-failure")
            }
            summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            declared = "" if capability in self.declared else " (not declared)"
            lines.append(f"[{capability}]{declared} {summary}")
            for result in results:
                if result.status == "failed":
                    lines.append(f"  FAILED {result.name}: {result.message}")
                    if result.hint:
                        lines.append(f"    if this fails: {result.hint}")
                elif result.status == "known-failure":
                    lines.append(f"  KNOWN FAILURE {result.name}: {result.message}")
            skipped = [r for r in results if r.status == "skipped"]
            if skipped and capability in self.declared:
                for result in skipped:
                    lines.append(f"  SKIPPED {result.name}: {result.message}")
            elif skipped:
                lines.append(f"  skipped: {skipped[0].message}")
        for capability in self.untested:
            lines.append(
                f"[{capability}] declared, but the suite has no case for it: NOT TESTED "
                "(the capability is not earned)"
            )
        return "\n".join(lines)


def validate(
    factory: StoreFactory,
    *,
    second_factory: StoreFactory | None = None,
    suite: type[ConformanceBase] = StoreConformance,
    name: str = "store",
    known_failures: Mapping[str, str] | None = None,
    select: str | None = None,
    stop_on_failure: bool = False,
    progress: Progress | None = None,
    cleanup: bool = True,
) -> Report:
    """Run every case of ``suite`` against stores made by ``factory``.

    ``factory()`` returns a fresh store (any store is an async context
    manager), e.g. ``lambda: open_store(url)``. Every case works in an app
    namespace of its own, so the engine need not be empty, and with
    ``cleanup`` (the default) each namespace is erased after its case.
    ``second_factory`` opens another instance on the same engine for the
    cross-instance and persistence cases.

    Known failures are the suite's class-level ``known_failures`` mapping
    (``{"case_name": "why"}``), the very one its pytest binding uses; the
    ``known_failures`` argument adds to it, checked the same way. ``select``
    is a ``-k`` expression over case names, topics and capabilities;
    ``stop_on_failure`` stops after the first failed case; ``progress`` is
    called before each case with ``(spec, None, number, total)`` and after it
    with ``(spec, result, number, total)``.

    The store is probed first: when it cannot be reached (or refuses the
    connection), the report comes back at once with ``aborted`` set and no
    results; the same happens when it goes away during the run.

    Must be called from synchronous code (each case runs its own event loop);
    from async code use ``await asyncio.to_thread(validate, ...)``.
    """

    async def store(self: ConformanceBase) -> Any:
        async with factory() as opened:
            yield opened

    async def second_store(self: ConformanceBase, first: SessionStore) -> Any:
        assert second_factory is not None
        async with second_factory() as opened:
            yield opened

    attrs: dict[str, Any] = {
        "store": store,
        "erase_after_each_case": cleanup,
        "known_failures": {**suite.known_failures, **(known_failures or {})},
    }
    if second_factory is not None:
        attrs["second_store"] = second_store
    binding: type[ConformanceBase] = type(f"Validate{suite.__name__}", (suite,), attrs)
    known = check_known_failures(binding, binding.known_failures)
    instance = binding()
    specs = cases_of(suite)
    chosen = select_cases(specs, select) if select else specs
    declared, unreachable = _probe(instance)
    report = Report(backend=name, declared=declared, partial=len(chosen) != len(specs))
    report.untested = sorted(
        capability
        for capability in declared
        if capability != Capability.BASE.value
        and not any(spec.capability.value == capability for spec in specs)
    )
    if unreachable is not None:
        report.aborted = unreachable
        return report
    for index, spec in enumerate(chosen, start=1):
        if progress is not None:
            progress(spec, None, index, len(chosen))
        result = _run_one(instance, spec, known.get(spec.name))
        report.results.append(result)
        if progress is not None:
            progress(spec, result, index, len(chosen))
        if result.status == "failed":
            if result.message.startswith(("BackendUnavailable", "BackendRejected")):
                _, gone = _probe(instance)
                if gone is not None:
                    report.aborted = f"the store went away during the run: {gone}"
                    return report
            if stop_on_failure:
                report.aborted = f"stopped at the first failure (-x): {spec.name}"
                return report
    return report


def _probe(instance: ConformanceBase) -> tuple[list[str], str | None]:
    """The declared capabilities, and why the store cannot be used (``None``: it can).

    One read that touches nothing (an app scope no case uses). Only a failure
    to reach the engine stops the run; any other error is left for the cases
    to report.
    """
    declared: list[str] = []

    async def probe() -> None:
        async with asyncio.timeout(PROBE_TIMEOUT), instance.open_store() as store:
            declared.extend(sorted(c.value for c in store.capabilities))
            try:
                await store.get_app_state(NAMESPACE_PREFIX + "probe")
            except (BackendError, OSError, TimeoutError):
                raise
            except Exception:  # not an outage: the cases will say what is wrong
                return

    with asyncio.Runner() as runner:
        try:
            runner.run(probe())
        except TimeoutError:
            return declared, f"the store did not answer within {PROBE_TIMEOUT:g} s"
        except (BackendError, OSError) as exc:
            return declared, f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return declared, None


def _run_one(instance: ConformanceBase, spec: CaseSpec, known_failure: str | None) -> CaseResult:
    capability = spec.capability.value

    def result(status: Status, message: str = "") -> CaseResult:
        return CaseResult(spec.name, capability, status, message, spec.hint, spec.topic)

    try:
        instance.run_case(spec)
    except Skipped as skip:
        return result("skipped", str(skip))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a failing case is a result (pytest.raises raises one)
        if known_failure:
            return result("known-failure", known_failure)
        return result("failed", describe_failure(exc))
    if isinstance(known_failure, Racy):  # lost only under some interleavings: still not kept
        return result("known-failure", f"{known_failure} (passed this time: a race)")
    if known_failure:
        return result(
            "failed",
            f"listed in known_failures ({known_failure}) but passed: remove the entry",
        )
    return result("passed")


# -- -k PATTERN ---------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def select_cases(specs: list[CaseSpec], expression: str) -> list[CaseSpec]:
    """The cases matching a pytest-style ``-k`` expression.

    Words match case-insensitively as substrings of a case's name, test name
    (``test_<capability>_<name>``), topic or capability, combined with
    ``and``, ``or``, ``not`` and parentheses (``-k "replace and not race"``).
    ``ValueError`` for an expression that does not parse.
    """
    matcher = _compile(expression)
    return [
        spec
        for spec in specs
        if matcher(f"{spec.test_name} {spec.topic} {spec.capability.value}".lower())
    ]


def _compile(expression: str) -> Callable[[str], bool]:
    tokens = _TOKEN.findall(expression)
    if not tokens:
        raise ValueError("-k needs an expression, e.g. -k replace or -k 'fork and not race'")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        token = peek()
        if token is None:
            raise ValueError(f"-k {expression!r}: the expression ends too early")
        position += 1
        return token

    def parse_or() -> Callable[[str], bool]:
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda text: a(text) or b(text))(left, right)
        return left

    def parse_and() -> Callable[[str], bool]:
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda text: a(text) and b(text))(left, right)
        return left

    def parse_not() -> Callable[[str], bool]:
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda text: not inner(text)
        token = take()
        if token == "(":
            inner = parse_or()
            if take() != ")":
                raise ValueError(f"-k {expression!r}: a parenthesis is not closed")
            return inner
        if token in (")", "and", "or"):
            raise ValueError(f"-k {expression!r}: unexpected {token!r}")
        word = token.lower()
        return lambda text: word in text

    matcher = parse_or()
    if position != len(tokens):
        raise ValueError(f"-k {expression!r}: unexpected {tokens[position]!r}")
    return matcher
