"""``validate()``: run a suite's cases without pytest and grade the backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from omnisession import Capability, SessionStore

from .harness import CaseSpec, ConformanceBase, Skipped, cases_of, describe_failure
from .store_suite import StoreConformance

__all__ = ["CaseResult", "Report", "validate"]

Status = Literal["passed", "failed", "skipped", "expected-failure"]
StoreFactory = Callable[[], AbstractAsyncContextManager[SessionStore]]


@dataclass(frozen=True)
class CaseResult:
    name: str
    capability: str
    status: Status
    message: str = ""


@dataclass
class Report:
    """Per-case results and the conformance level they earn.

    ``level`` is ``"NONCONFORMANT"`` unless every base case passes; then
    ``"BASE"``, followed by each declared extended capability whose cases all
    pass (``"BASE+persistent+cross_process"``).
    """

    backend: str
    declared: list[str]
    results: list[CaseResult] = field(default_factory=list)

    @property
    def conformant(self) -> bool:
        base = [r for r in self.results if r.capability == Capability.BASE.value]
        # A base case skips only when the binding has no second instance.
        return any(r.status == "passed" for r in base) and all(
            r.status in ("passed", "skipped") for r in base
        )

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
        grouped: dict[str, list[CaseResult]] = {}
        for result in self.results:
            grouped.setdefault(result.capability, []).append(result)
        return grouped

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "level": self.level,
            "declared": self.declared,
            "passed_capabilities": self.passed_capabilities,
            "results": [asdict(r) for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def render(self) -> str:
        """A readable report: per capability, counts, then each failing case and why."""
        lines = [f"omnisession conformance: {self.backend}", f"level: {self.level}", ""]
        for capability, results in self.by_capability().items():
            counts = {
                s: sum(r.status == s for r in results)
                for s in ("passed", "failed", "skipped", "expected-failure")
            }
            summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            declared = "" if capability in self.declared else " (not declared)"
            lines.append(f"[{capability}]{declared} {summary}")
            for result in results:
                if result.status in ("failed", "expected-failure"):
                    lines.append(f"  {result.status.upper()} {result.name}: {result.message}")
            skipped = [r for r in results if r.status == "skipped"]
            if skipped and capability in self.declared:
                for result in skipped:
                    lines.append(f"  SKIPPED {result.name}: {result.message}")
            elif skipped:
                lines.append(f"  skipped: {skipped[0].message}")
        return "\n".join(lines)


def validate(
    factory: StoreFactory,
    *,
    second_factory: StoreFactory | None = None,
    suite: type[ConformanceBase] = StoreConformance,
    name: str = "store",
    expected_failures: dict[str, str] | None = None,
) -> Report:
    """Run every case of ``suite`` against stores made by ``factory``.

    ``factory()`` returns a fresh store (any store is an async context
    manager), e.g. ``lambda: open_store(url)``. Every case works in an app
    namespace of its own, so the engine need not be empty. ``second_factory``
    opens another instance on the same engine for the cross-instance and
    persistence cases. ``expected_failures`` maps case names to the reason
    the backend knowingly fails them.

    Must be called from synchronous code (each case runs its own event loop);
    from async code use ``await asyncio.to_thread(validate, ...)``.
    """
    expected_failures = expected_failures or {}

    async def store(self: ConformanceBase) -> Any:
        async with factory() as opened:
            yield opened

    async def second_store(self: ConformanceBase, first: SessionStore) -> Any:
        assert second_factory is not None
        async with second_factory() as opened:
            yield opened

    attrs: dict[str, Any] = {"store": store}
    if second_factory is not None:
        attrs["second_store"] = second_store
    binding = type(f"Validate{suite.__name__}", (suite,), attrs)
    instance = binding()
    declared = _declared_capabilities(instance)
    report = Report(backend=name, declared=declared)
    for spec in cases_of(suite):
        report.results.append(_run_one(instance, spec, expected_failures.get(spec.name)))
    return report


def _declared_capabilities(instance: ConformanceBase) -> list[str]:
    import asyncio

    async def read() -> list[str]:
        async with instance.open_store() as store:
            return sorted(c.value for c in store.capabilities)

    with asyncio.Runner() as runner:
        return runner.run(read())


def _run_one(instance: ConformanceBase, spec: CaseSpec, xfail_reason: str | None) -> CaseResult:
    capability = spec.capability.value
    try:
        instance.run_case(spec)
    except Skipped as skip:
        return CaseResult(spec.name, capability, "skipped", str(skip))
    except (KeyboardInterrupt, SystemExit):
        raise
    except (
        BaseException
    ) as exc:  # a failing case is a result (pytest.raises raises a BaseException)
        if xfail_reason:
            return CaseResult(spec.name, capability, "expected-failure", xfail_reason)
        return CaseResult(spec.name, capability, "failed", describe_failure(exc))
    if xfail_reason:
        return CaseResult(
            spec.name, capability, "failed", f"expected to fail ({xfail_reason}) but passed"
        )
    return CaseResult(spec.name, capability, "passed")
