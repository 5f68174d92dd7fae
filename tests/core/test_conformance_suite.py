"""The suite itself: it catches broken stores, grades levels and guards its bindings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from omnisession import SessionStore
from omnisession.memory import MemoryStore
from omnisession_conformance import Report, StoreConformance, cases_of, racy, validate

from . import broken_stores


def _validate(store_class: type[MemoryStore], *, shared: bool = True) -> Report:
    name = f"{store_class.__name__}-{id(store_class)}"
    second = (lambda: store_class(name)) if shared else None
    return validate(lambda: store_class(name), second_factory=second, name=store_class.__name__)


def _failed(report: Report) -> set[str]:
    return {r.name for r in report.results if r.status == "failed"}


@pytest.mark.parametrize(
    ("store_class", "expected"),
    [
        (
            broken_stores.RacyPop,
            {
                "concurrent_pops_return_each_item_once",
                "pops_across_instances_return_each_item_once",
            },
        ),
        (broken_stores.CollidingUserScope, {"hostile_ids_do_not_collide"}),
        (
            broken_stores.BatchesInterleave,
            {
                "concurrent_appends_lose_and_duplicate_nothing",
                "appends_across_instances_lose_and_duplicate_nothing",
                "non_json_payload_is_rejected_and_nothing_written",
                # a batch with an over-deep item writes the items before it
                "nesting_is_limited_at_write_time_and_reads_from_any_stack",
            },
        ),
        (
            broken_stores.IgnoresExpectedRevision,
            {
                "wrong_expected_revision_raises_stale_and_writes_nothing",
                "conditional_appends_race_one_winner",
                "stale_revision_detected_across_instances",
                # dropping expected_revision also drops its range check (2**63)
                "out_of_range_counts_are_refused",
            },
        ),
        (
            broken_stores.StoresTempState,
            {"create_session_returns_empty_record", "temp_state_is_never_stored"},
        ),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_broken_store_fails_exactly_the_cases_it_breaks(
    store_class: type[MemoryStore], expected: set[str]
) -> None:
    report = _validate(store_class)
    assert _failed(report) == expected
    assert report.level == "NONCONFORMANT"
    assert not report.conformant
    rendered = report.render()
    for name in expected:
        assert f"FAILED {name}:" in rendered


def test_memory_store_reaches_base_with_its_declared_capabilities() -> None:
    report = _validate(MemoryStore)
    assert _failed(report) == set()
    assert report.level == "BASE+large_entries+lifecycle+replace"
    skipped = {r.capability for r in report.results if r.status == "skipped"}
    assert skipped == {"cross_process", "persistent", "ttl", "cluster"}


def test_without_a_second_store_cross_instance_cases_skip_visibly() -> None:
    report = _validate(MemoryStore, shared=False)
    skipped = {r.name: r.message for r in report.results if r.status == "skipped"}
    assert "pops_across_instances_return_each_item_once" in skipped
    assert "second_store" in skipped["pops_across_instances_return_each_item_once"]
    assert report.conformant


def test_known_failures_are_reported_with_their_reason() -> None:
    report = validate(
        lambda: broken_stores.RacyPop(),
        known_failures={"concurrent_pops_return_each_item_once": "pop is read-then-delete"},
    )
    by_name = {r.name: r for r in report.results}
    result = by_name["concurrent_pops_return_each_item_once"]
    assert (result.status, result.message) == ("known-failure", "pop is read-then-delete")
    obsolete = validate(MemoryStore, known_failures={"get_missing_session_returns_none": "x"})
    assert obsolete.results
    fixed = {r.name: r for r in obsolete.results}["get_missing_session_returns_none"]
    assert fixed.status == "failed" and "known_failures" in fixed.message


def test_a_racy_known_failure_is_never_earned_even_when_one_run_passes() -> None:
    """A race the backend loses only sometimes: a lucky pass is not a fix."""
    report = validate(
        MemoryStore,  # keeps the guarantee: every run "passes"
        known_failures={"concurrent_pops_return_each_item_once": racy("pops race sometimes")},
    )
    result = {r.name: r for r in report.results}["concurrent_pops_return_each_item_once"]
    assert result.status == "known-failure"
    assert "pops race sometimes" in result.message and "passed this time" in result.message


# -- the pytest binding ------------------------------------------------------


class _MemoryBinding(StoreConformance):
    async def store(self) -> AsyncIterator[SessionStore]:
        async with MemoryStore() as store:
            yield store


def test_every_case_is_a_test_named_by_capability() -> None:
    names = {name for name in dir(_MemoryBinding) if name.startswith("test_")}
    for spec in cases_of(StoreConformance):
        assert f"test_{spec.capability.value}_{spec.name}" in names
    assert "test_base_hostile_ids_do_not_collide" in names
    assert "test_large_entries_one_mebibyte_entry_round_trips" in names


def test_undeclared_capability_is_a_visible_skip() -> None:
    with pytest.raises(pytest.skip.Exception, match="does not declare the 'persistent'"):
        _MemoryBinding().test_persistent_data_survives_reopening()  # type: ignore[attr-defined]


def test_overriding_a_case_is_refused_and_known_failures_is_the_one_opt_out() -> None:
    with pytest.raises(TypeError, match="known_failures"):

        class Cheating(_MemoryBinding):
            def test_base_hostile_ids_do_not_collide(self) -> None:
                pass

    class Honest(_MemoryBinding):
        known_failures = {"hostile_ids_do_not_collide": "this backend flattens ids"}

    marks = Honest.test_base_hostile_ids_do_not_collide.pytestmark  # type: ignore[attr-defined]
    assert [(m.name, m.kwargs["strict"]) for m in marks] == [("xfail", True)]
    assert "this backend flattens ids" in marks[0].kwargs["reason"]

    class Unlucky(_MemoryBinding):
        known_failures = {"hostile_ids_do_not_collide": racy("collides under some interleavings")}

    marks = Unlucky.test_base_hostile_ids_do_not_collide.pytestmark  # type: ignore[attr-defined]
    assert [(m.name, m.kwargs["strict"]) for m in marks] == [("xfail", False)]
    for known in ({"no_such_case": "x"}, {"hostile_ids_do_not_collide": "  "}):
        with pytest.raises(TypeError, match="known_failures"):
            type("Typo", (_MemoryBinding,), {"known_failures": known})


def test_a_binding_that_reuses_one_store_fails_the_emptiness_check() -> None:
    shared = MemoryStore()

    class Leaky(StoreConformance):
        async def store(self) -> AsyncIterator[SessionStore]:
            yield shared

    with pytest.raises(AssertionError, match="must yield an empty store"):
        Leaky().test_binding_yields_an_empty_store()


def test_cases_run_inside_a_running_event_loop_thread_free_of_pytest_asyncio() -> None:
    # A consumer in pytest-asyncio auto mode calls the sync tests from a
    # thread with no running loop; the harness must not need one either way.
    async def inside() -> Any:
        return await asyncio.to_thread(_MemoryBinding().test_base_get_missing_session_returns_none)  # type: ignore[attr-defined]

    asyncio.run(inside())
