"""The store suite against every target in tests/targets, and the kit itself.

``bind_suite`` defines one ``StoreConformance`` class per target (memory, SQLite
file and in-memory, PostgreSQL, MariaDB, Redis, Redis Cluster, DynamoDB, S3 and
whatever else tests/targets holds). The rest checks the kit a backend author
uses: the ``known_failures`` opt-out (pytest and ``validate`` alike, and the
README's example of it), hints, ``-k`` selection, stopping early, cleanup, the
report line for untested capabilities, and that the new cases catch the bugs
they are about (deliberately broken stores, each failing exactly its cases).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from omnisession import BackendUnavailable, Capability, SessionKey, SessionStore
from omnisession.memory import MemoryStore
from omnisession.model import Event, JSONObject, SessionRecord, StateDelta
from omnisession.writes import Committed, Creation, NewEvent, Write
from omnisession_conformance import (
    ConformanceBase,
    Report,
    StoreConformance,
    TTLProbe,
    cases_of,
    validate,
)
from omnisession_conformance.cases import ClusterCases, PagingCases, TTLCases
from omnisession_conformance.harness import NAMESPACE_PREFIX
from omnisession_conformance.report import select_cases

from .targets import all_targets, bind_suite

bind_suite(StoreConformance, globals())

README = Path(__file__).resolve().parents[1] / "README.md"
README_HEADING = "### Running the conformance suite on it"


def _engine() -> str:
    return f"kit-{uuid.uuid4().hex}"


def _validate(store_class: type[MemoryStore], **kwargs: Any) -> Report:
    name = _engine()
    return validate(
        lambda: store_class(name),
        second_factory=lambda: store_class(name),
        name=store_class.__name__,
        **kwargs,
    )


def _failed(report: Report) -> set[str]:
    return {r.name for r in report.results if r.status == "failed"}


# -- bindings ----------------------------------------------------------------------------


def test_every_target_has_a_binding() -> None:
    bound = {value.target.name for value in globals().values() if hasattr(value, "target")}
    missing = [target.name for target in all_targets() if target.name not in bound]
    assert not missing, f"targets without a StoreConformance binding: {missing}"


# -- the suite's shape ----------------------------------------------------------------------


def test_every_case_has_a_hint_a_topic_and_a_unique_name() -> None:
    specs = cases_of(StoreConformance)
    assert len({spec.name for spec in specs}) == len(specs)
    assert [spec.name for spec in specs if not spec.hint] == []
    topics = {spec.topic for spec in specs}
    assert {"sessions", "paging", "replace", "fork", "purge", "erase", "ttl", "cluster"} <= topics
    for capability in Capability:
        assert any(spec.capability is capability for spec in specs), f"no case for {capability}"


def test_topic_mixins_share_no_helper_names() -> None:
    # Two mixins defining one helper name would silently call the wrong one.
    seen: dict[str, str] = {}
    for klass in StoreConformance.__mro__[1:]:
        if not issubclass(klass, ConformanceBase) or klass is ConformanceBase:
            continue
        for name in vars(klass):
            if name.startswith("__") or name.startswith("test_"):
                continue
            assert name not in seen, f"{klass.__name__} and {seen[name]} both define {name}"
            seen[name] = klass.__name__


def test_the_hint_is_in_the_test_docstring() -> None:
    test = StoreConformance.test_replace_stale_replace_raises_and_changes_nothing  # type: ignore[attr-defined]
    assert "If this fails:" in test.__doc__


# -- known_failures: the one opt-out ---------------------------------------------------------


class _Memory(StoreConformance):
    async def store(self) -> AsyncIterator[SessionStore]:
        self.engine = _engine()
        async with MemoryStore(self.engine) as store:
            yield store

    async def second_store(self, store: SessionStore) -> AsyncIterator[SessionStore]:
        async with MemoryStore(self.engine) as other:
            yield other


def test_known_failure_becomes_a_strict_xfail_with_its_reason() -> None:
    class Binding(_Memory):
        known_failures: ClassVar[dict[str, str]] = {
            "concurrent_pops_return_each_item_once": "pop is read-then-delete"
        }

    test = Binding.test_base_concurrent_pops_return_each_item_once  # type: ignore[attr-defined]
    marks = [mark for mark in getattr(test, "pytestmark", []) if mark.name == "xfail"]
    assert len(marks) == 1
    assert marks[0].kwargs == {"strict": True, "reason": "known failure: pop is read-then-delete"}
    other = Binding.test_base_get_missing_session_returns_none  # type: ignore[attr-defined]
    assert not getattr(other, "pytestmark", [])
    # The parent binding is untouched.
    parent = _Memory.test_base_concurrent_pops_return_each_item_once  # type: ignore[attr-defined]
    assert not getattr(parent, "pytestmark", [])


@pytest.mark.parametrize(
    ("known", "message"),
    [
        ({"concurrent_pops_return_each_item": "x"}, "did you mean 'concurrent_pops_return"),
        ({"test_base_get_missing_session_returns_none": "x"}, "use the case name"),
        ({"get_missing_session_returns_none": "  "}, "needs a reason"),
        (["get_missing_session_returns_none"], "must be a dict"),
    ],
)
def test_a_wrong_known_failures_entry_stops_the_class(known: Any, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        type("Binding", (_Memory,), {"known_failures": known})


def test_overriding_a_case_test_stops_the_class_and_says_what_to_write() -> None:
    with pytest.raises(TypeError, match=r"known_failures = \{'hostile_ids_do_not_collide'"):

        class Cheating(_Memory):
            def test_base_hostile_ids_do_not_collide(self) -> None:
                pass


def test_validate_reads_the_suites_known_failures_and_the_argument() -> None:
    class Binding(_Memory):
        known_failures: ClassVar[dict[str, str]] = {
            "concurrent_pops_return_each_item_once": "pop is read-then-delete",
        }

    report = _validate(RacyPop, suite=Binding, select="pops")
    by_name = {r.name: r for r in report.results}
    result = by_name["concurrent_pops_return_each_item_once"]
    assert (result.status, result.message) == ("known-failure", "pop is read-then-delete")
    assert by_name["pops_across_instances_return_each_item_once"].status == "failed"
    report = _validate(
        RacyPop,
        select="pops",
        known_failures={"pops_across_instances_return_each_item_once": "same"},
    )
    statuses = {r.name: r.status for r in report.results}
    assert statuses["pops_across_instances_return_each_item_once"] == "known-failure"
    assert statuses["concurrent_pops_return_each_item_once"] == "failed"
    obsolete = _validate(
        MemoryStore,
        select="get_missing",
        known_failures={"get_missing_session_returns_none": "it used to fail"},
    )
    [result] = obsolete.results
    assert result.status == "failed" and "remove the entry" in result.message
    with pytest.raises(TypeError, match="not a case"):
        _validate(MemoryStore, known_failures={"no_such_case": "x"})


def test_readme_opt_out_example_runs(tmp_path: Path) -> None:
    """README's example, as written, against a throwaway `mydb://` plugin whose pop races."""
    block = _readme_block()
    assert "known_failures" in block
    _install_fake_mydb_plugin(tmp_path)
    (tmp_path / "test_readme_example.py").write_text(block, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rx", "-p", "no:cacheprovider",
         "-p", "no:randomly", "test_readme_example.py"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(r"\b2 xfailed\b", output), output[-2000:]
    assert "failed" not in output.replace("xfailed", ""), output[-2000:]
    assert "known failure: MyDB pops with a read, then a delete" in output
    # validate() reads the same mapping from the same class.
    script = block + textwrap.dedent(
        """
        from omnisession_conformance import validate
        url = "mydb://localhost/validate"
        report = validate(lambda: open_store(url), second_factory=lambda: open_store(url),
                          suite=TestMyDB, select="pops")
        print(sorted((r.name, r.status, r.message) for r in report.results))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
        env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "('concurrent_pops_return_each_item_once', 'known-failure', 'MyDB pops" in done.stdout


def _readme_block() -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert README_HEADING in lines, f"README.md lost its {README_HEADING!r} section"
    rest = "\n".join(lines[lines.index(README_HEADING) + 1 :])
    match = re.search(r"^```python\n(.*?)^```", rest, re.DOTALL | re.MULTILINE)
    assert match, f"README.md's {README_HEADING!r} section has no python block"
    return match.group(1)


_FAKE_PLUGIN = """
from omnisession import Backend, hookimpl


@hookimpl
def omnisession_register_backends(register):
    register(Backend(name="mydb", schemes=("mydb",), factory="omnisession_fake_mydb.store:open"))
"""

_FAKE_STORE = '''
import asyncio
from urllib.parse import urlsplit

from omnisession.memory import MemoryStore


class RacyPopStore(MemoryStore):
    """memory:// with a pop that reads, yields, then deletes: two pops can get one item."""

    async def _pop_item(self, key):
        newest = await self._get_events(key, None, None, 1, False)
        if not newest:
            return None
        await asyncio.sleep(0)
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is not None:
                session.events = [e for e in session.events if e.seq != newest[0].seq]
                session.revision += 1
        return newest[0].data


def open(url, **options):
    parts = urlsplit(url)
    return RacyPopStore(parts.netloc + parts.path)
'''


def _install_fake_mydb_plugin(root: Path) -> None:
    """A `mydb://` plugin found through its entry point, as an installed one would be."""
    package = root / "omnisession_fake_mydb"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(_FAKE_PLUGIN)
    (package / "store.py").write_text(_FAKE_STORE)
    info = root / "omnisession_fake_mydb-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: omnisession-fake-mydb\nVersion: 0.0.0\n"
    )
    (info / "entry_points.txt").write_text("[omnisession]\nmydb = omnisession_fake_mydb.plugin\n")


# -- validate(): selection, stopping, progress, cleanup, reachability ----------------------------


def test_select_understands_words_and_or_not_and_parentheses() -> None:
    specs = cases_of(StoreConformance)

    def names(expression: str) -> set[str]:
        return {spec.name for spec in select_cases(specs, expression)}

    replace = names("replace")
    assert "replace_racing_appends_never_loses_an_append" in replace
    assert names("replace and not race") == {n for n in replace if "race" not in n}
    assert names("(fork or purge) and across") == {
        "fork_racing_appends_across_instances",
        "purge_racing_writes_across_instances",
    }
    assert names("TEST_LIFECYCLE_ERASE_APP") == {"erase_app_deletes_everything_of_the_app"}
    for bad in ("", "replace and", "(fork", "or fork", "fork )"):
        with pytest.raises(ValueError):
            select_cases(specs, bad)


def test_stop_on_failure_and_progress() -> None:
    seen: list[tuple[str, str | None, int, int]] = []
    report = _validate(
        RacyPop,
        select="pops or get_missing",
        stop_on_failure=True,
        progress=lambda spec, result, number, total: seen.append(
            (spec.name, result and result.status, number, total)
        ),
    )
    assert report.aborted is not None and "first failure" in report.aborted
    assert report.results[-1].status == "failed"
    ran = len(report.results)
    assert [number for _, _, number, _ in seen] == [n for n in range(1, ran + 1) for _ in "ab"]
    assert [status for _, status, _, _ in seen][::2] == [None] * ran, "a call before each case"
    assert [status for _, status, _, _ in seen][1::2] == [r.status for r in report.results]
    assert all(total == 3 for *_, total in seen)
    assert report.partial and not report.ok


def test_validate_erases_everything_it_wrote() -> None:
    name = _engine()
    report = validate(lambda: MemoryStore(name), second_factory=lambda: MemoryStore(name))
    assert report.level == "BASE+large_entries+lifecycle+replace", report.render()

    async def leftovers() -> list[str]:
        return await MemoryStore(name).list_apps()

    assert asyncio.run(leftovers()) == []


class WithoutLifecycle(MemoryStore):
    """Cannot erase: validate() falls back to deleting each session it created."""

    capabilities = frozenset({Capability.BASE})

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        raise self._unsupported("erase users or apps", Capability.LIFECYCLE)


def test_without_lifecycle_validate_deletes_the_sessions_it_created() -> None:
    name = _engine()
    validate(lambda: WithoutLifecycle(name), select="sessions or history")

    async def sessions() -> int:
        store = MemoryStore(name)
        count = 0
        for app in await store.list_apps():
            assert app.startswith(NAMESPACE_PREFIX)
            count += len((await store.list_sessions(app)).sessions)
        return count

    assert asyncio.run(sessions()) == 0


class Unreachable(MemoryStore):
    calls = 0

    async def _get_app_state(self, app_name: str) -> JSONObject:
        type(self).calls += 1
        raise BackendUnavailable("nothing listens on 127.0.0.1:1")


def test_an_unreachable_store_stops_the_run_before_any_case() -> None:
    report = validate(Unreachable)
    assert report.results == [] and not report.ok and report.level == "NONCONFORMANT"
    assert report.aborted is not None and "nothing listens" in report.aborted
    assert Unreachable.calls == 1
    assert "STOPPED:" in report.render()


class GoesAway(MemoryStore):
    """Works for a while, then every call fails as if the server died."""

    budget: ClassVar[list[int]] = [200]

    async def _get_session(self, key: SessionKey, last: int | None, since: float | None) -> Any:
        self._spend()
        return await super()._get_session(key, last, since)

    async def _get_app_state(self, app_name: str) -> JSONObject:
        self._spend()
        return await super()._get_app_state(app_name)

    def _spend(self) -> None:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise BackendUnavailable("the server went away")


def test_a_store_that_goes_away_stops_the_run_with_one_message() -> None:
    report = _validate(GoesAway)
    assert report.aborted is not None and "went away during the run" in report.aborted
    failed = [r for r in report.results if r.status == "failed"]
    assert len(failed) == 1, [r.name for r in failed]
    assert len(report.results) < len(cases_of(StoreConformance))


def test_a_declared_capability_without_cases_is_reported() -> None:
    report = _validate(MemoryStore, suite=PagingCases)
    assert report.untested == ["large_entries", "lifecycle", "replace"]
    assert "[replace] declared, but the suite has no case for it: NOT TESTED" in report.render()
    assert "replace" not in report.passed_capabilities


def test_failures_show_their_hint_in_the_report() -> None:
    report = _validate(RacyPop, select="concurrent_pops")
    rendered = report.render()
    assert "FAILED concurrent_pops_return_each_item_once" in rendered
    assert "if this fails: look at _pop_item" in rendered
    assert report.results[0].hint and report.results[0].topic == "concurrency"


# -- the new cases catch what they are about ---------------------------------------------------


class RacyPop(MemoryStore):
    """pop_item reads, yields to the loop, then deletes: two callers get one item."""

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        newest = await self._get_events(key, None, None, 1, False)
        if not newest:
            return None
        await asyncio.sleep(0)
        with self._engine.lock:
            session = self._engine.sessions.get(key)
            if session is not None:
                session.events = [e for e in session.events if e.seq != newest[0].seq]
                session.revision += 1
        return newest[0].data


class ReplaceIgnoresRevision(MemoryStore):
    async def _write(self, write: Write) -> Committed:
        if write.truncate_from is not None:
            write = dataclasses.replace(write, expected_revision=None)
        return await super()._write(write)


class UpdatedAtIsMax(MemoryStore):
    async def _write(self, write: Write) -> Committed:
        current = await self._get_session(write.key, 0, None)
        if current is not None:
            write = dataclasses.replace(write, updated_at=max(write.updated_at, current.updated_at))
        return await super()._write(write)


class PurgeWithoutRecheck(MemoryStore):
    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        await asyncio.sleep(0)
        for key in keys:
            await self._delete_session(key)
        return len(keys)


class ForkReadsTwice(MemoryStore):
    """Copies the events of one read and the state of a later one."""

    async def _fork_session(
        self, source: SessionKey, target: SessionKey, up_to: int | None
    ) -> SessionRecord:
        events = await self._get_session(source, None, None)
        await asyncio.sleep(0)
        later = await self._get_session(source, 0, None)
        assert events is not None and later is not None
        state = {k: v for k, v in later.state.items() if not k.startswith(("app:", "user:"))}
        await self._write(
            Write(
                target,
                updated_at=later.updated_at,
                events=tuple(
                    NewEvent(json.dumps(e.data), e.timestamp, _text(e.state_delta), e.seq)
                    for e in events.events
                ),
                delta=StateDelta(session=state),
                creation=Creation.ONLY,
                created_at=later.created_at,
            )
        )
        record = await self._get_session(target, 0, None)
        assert record is not None
        return record


def _text(delta: JSONObject | None) -> str | None:
    return None if delta is None else json.dumps(delta)


class EraseInTwoSteps(MemoryStore):
    """Deletes the sessions, yields, then the scope: a create in between loses its scope."""

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        page = await self._list_sessions(app_name, user_id, 10_000, None)
        for record in page.sessions:
            await self._delete_session(record.key)
        await asyncio.sleep(0)
        with self._engine.lock:
            if user_id is None:
                self._engine.app_state.pop(app_name, None)
                for scope in [s for s in self._engine.user_state if s[0] == app_name]:
                    del self._engine.user_state[scope]
            else:
                self._engine.user_state.pop((app_name, user_id), None)
        return len(page.sessions)


class PagesWithoutDirection(MemoryStore):
    """Always returns the oldest events of the window."""

    async def _get_events(
        self, key: SessionKey, after: int | None, before: int | None, limit: int, oldest_first: bool
    ) -> list[Event]:
        return await super()._get_events(key, after, before, limit, True)


@pytest.mark.parametrize(
    ("store_class", "select", "expected"),
    [
        (
            ReplaceIgnoresRevision,
            "replace",
            {
                "stale_replace_raises_and_changes_nothing",
                "stale_replace_covering_another_instances_append_changes_nothing",
                "replace_racing_appends_never_loses_an_append",
                "replace_racing_appends_across_instances",
            },
        ),
        (
            UpdatedAtIsMax,
            "updated_at or timestamps or import",
            {
                "append_timestamp_becomes_updated_at",
                "list_sessions_follow_event_timestamps",
                "timestamps_out_of_range_are_refused",
            },
        ),
        (
            PurgeWithoutRecheck,
            "purge",
            {
                "purge_racing_writes_never_loses_a_write",
                "purge_racing_writes_across_instances",
            },
        ),
        (
            ForkReadsTwice,
            "fork",
            {
                "fork_racing_appends_copies_a_consistent_prefix",
                "fork_racing_appends_across_instances",
                "fork_up_to_an_event_copies_the_state_as_of_it",
                "fork_refuses_a_taken_target_and_a_missing_source",
            },
        ),
        (
            EraseInTwoSteps,
            "erase",
            {
                "erase_racing_creates_leaves_no_orphan_scope",
                "erase_racing_creates_across_instances",
            },
        ),
        (
            PagesWithoutDirection,
            "paging",
            {
                "get_events_pages_backwards_newest_page_first",
                "get_events_exact_fit_has_no_empty_last_page",
                "get_events_pages_over_gaps_in_the_sequence",
            },
        ),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_a_broken_store_fails_exactly_the_cases_it_breaks(
    store_class: type[MemoryStore], select: str, expected: set[str]
) -> None:
    report = _validate(store_class, select=select)
    assert _failed(report) == expected, report.render()


# -- TTL and CLUSTER through their probes -------------------------------------------------------

_CLOCKS: dict[str, dict[SessionKey, float]] = {}


class FakeTTLStore(MemoryStore):
    """memory:// with a TTL kept in a fake clock that never moves on its own."""

    capabilities = MemoryStore.capabilities | {Capability.TTL}
    conformance_ttl = 600.0
    refresh: ClassVar[bool] = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._deadlines = _CLOCKS.setdefault(name, {})

    async def _write(self, write: Write) -> Committed:
        committed = await super()._write(write)
        if self.refresh or write.key not in self._deadlines:
            self._deadlines[write.key] = self.conformance_ttl
        return committed

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        item = await super()._pop_item(key)
        if item is not None:
            self._deadlines[key] = self.conformance_ttl
        return item

    async def conformance_expiries(self, key: SessionKey) -> list[float | None]:
        if await self._get_session(key, 0, None) is None:
            return []
        return [self._deadlines.get(key)]

    async def conformance_age(self, key: SessionKey, seconds: float) -> None:
        left = self._deadlines.get(key, 0.0) - seconds
        self._deadlines[key] = left
        if left <= 0:
            await self._delete_session(key)
            del self._deadlines[key]


class TTLWithoutRefresh(FakeTTLStore):
    refresh = False


class TTLWithoutProbe(MemoryStore):
    capabilities = MemoryStore.capabilities | {Capability.TTL}


class FakeClusterStore(MemoryStore):
    capabilities = MemoryStore.capabilities | {Capability.CLUSTER}
    tag: ClassVar[str | None] = None

    async def conformance_slots(self, key: SessionKey) -> set[int]:
        return {zlib.crc32((self.tag or key.app_name).encode()) % 16384}


class OneSlotCluster(FakeClusterStore):
    tag = "everything"


def test_fake_ttl_store_implements_the_probe() -> None:
    assert isinstance(FakeTTLStore("x"), TTLProbe)
    assert not isinstance(MemoryStore(), TTLProbe)


@pytest.mark.parametrize(
    ("store_class", "suite", "expected"),
    [
        (FakeTTLStore, TTLCases, set()),
        (TTLWithoutRefresh, TTLCases, {"a_write_refreshes_the_expiry"}),
        (
            TTLWithoutProbe,
            TTLCases,
            {
                "every_record_of_a_session_expires",
                "a_write_refreshes_the_expiry",
                "an_expired_session_is_gone",
            },
        ),
        (FakeClusterStore, ClusterCases, set()),
        (OneSlotCluster, ClusterCases, {"sessions_spread_over_slots"}),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_ttl_and_cluster_cases_run_through_the_probes(
    store_class: type[MemoryStore], suite: type[ConformanceBase], expected: set[str]
) -> None:
    report = _validate(store_class, suite=suite)
    assert _failed(report) == expected, report.render()
    assert all(r.status in ("passed", "failed") for r in report.results), report.render()
    if "probe" in store_class.__name__.lower():
        assert "has no TTL probe: implement conformance_ttl" in report.render()


def test_a_suite_can_be_built_from_topic_mixins() -> None:
    class Mine(PagingCases, TTLCases):
        async def store(self) -> AsyncIterator[SessionStore]:
            async with MemoryStore() as store:
                yield store

    assert {spec.topic for spec in cases_of(Mine)} == {"paging", "ttl"}
    Mine().test_base_get_events_oldest_first_walks_forwards()  # type: ignore[attr-defined]
