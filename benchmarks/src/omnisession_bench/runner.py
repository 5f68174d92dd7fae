"""The benchmark run: plan, measure, compare.

Per layer (``store``, ``openai``, ``adk``, see :mod:`omnisession_bench.subjects`)
and per subject, for every history size (default 100 / 10,000 / 100,000
events), on one session grown to that size:

- writes: ``append_event`` with a state delta (store, ADK), ``add_items`` of
  one turn (2 items) (store, OpenAI);
- reads: the newest 20 (``get_items(limit=20)``, ``get_session(last=20)`` /
  ``GetSessionConfig(num_recent_events=20)``) and the full history;
- ``pop_item`` (store, OpenAI);

and once per subject: ``create_session`` (timed for each of the 1,000
sessions), ``list_sessions`` of those 1,000 sessions, and throughput with 32
concurrent writers on 32 distinct sessions and on one session (each write's
latency is recorded too, and the stored history is counted afterwards: a
store that loses writes under concurrency shows ``lost_writes > 0``).

The ratio of a peer is ``peer / omnisession``: the peer's median latency over
omnisession's, or omnisession's throughput over the peer's, so ``3.0`` always
means "omnisession is 3x faster" and below 1 means slower.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from omnisession import SessionKey, SessionStore, open_store

from .engines import Peers, engine_of, make_peers, redact
from .subjects import (
    ADKSubject,
    OpenAISubject,
    adk_event,
    omni_adk_filler,
    openai_turn,
)
from .timing import Progress, measure, summarize

__all__ = [
    "DEFAULT_HISTORIES",
    "BenchConfig",
    "EngineReport",
    "Ratio",
    "Result",
    "histories_for",
    "run_bench",
]

DEFAULT_HISTORIES = (100, 10_000, 100_000)
LAYERS = ("store", "openai", "adk")
OMNI = "omnisession"

#: operations per layer, in the order they are reported
OPS: dict[str, tuple[str, ...]] = {
    "store": (
        "create_session",
        "append_event",
        "add_items",
        "get_items_20",
        "get_session_last20",
        "get_session_full",
        "pop_item",
        "list_sessions",
        "throughput_distinct",
        "throughput_one",
    ),
    "openai": (
        "add_items",
        "get_items_20",
        "get_items_full",
        "pop_item",
        "throughput_distinct",
        "throughput_one",
    ),
    "adk": (
        "create_session",
        "append_event",
        "get_session_last20",
        "get_session_full",
        "list_sessions",
        "throughput_distinct",
    ),
}

OP_LABELS = {
    "create_session": "create_session",
    "append_event": "append_event (+state delta)",
    "add_items": "add_items (1 turn, 2 items)",
    "get_items_20": "get_items(limit=20)",
    "get_items_full": "get_items() full history",
    "get_session_last20": "get_session newest 20",
    "get_session_full": "get_session full history",
    "pop_item": "pop_item",
    "list_sessions": "list_sessions (N sessions)",
    "throughput_distinct": "32 writers, distinct sessions",
    "throughput_one": "32 writers, one session",
}

NEWEST_20 = ("get_items_20", "get_session_last20")


def histories_for(events: int) -> list[int]:
    """The history sizes for ``--events N``: 100, 10,000, 100,000 below N, then N."""
    if events < 1:
        raise ValueError("--events must be positive")
    return sorted({h for h in DEFAULT_HISTORIES if h < events} | {events})


@dataclass
class BenchConfig:
    """Sizes of one run (the CLI options of ``omnisession bench``)."""

    histories: list[int] = field(default_factory=lambda: list(DEFAULT_HISTORIES))
    reps: int = 100
    budget_s: float = 2.0
    writers: int = 32
    writes: int = 20
    sessions: int = 1000
    batch: int = 1000
    compare: bool = False
    layers: tuple[str, ...] = LAYERS
    progress: bool = True


@dataclass
class Result:
    """One measured (layer, subject, operation, history)."""

    layer: str
    subject: str
    peer: bool
    op: str
    history: int | None = None
    n: int = 0
    median_ms: float | None = None
    p99_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    ops_per_s: float | None = None
    lost_writes: int | None = None
    error: str | None = None


@dataclass
class Ratio:
    """``peer / omnisession`` for one operation: above 1, omnisession is faster."""

    layer: str
    peer: str
    op: str
    history: int | None
    ratio: float


@dataclass
class EngineReport:
    """Everything one ``omnisession bench URL`` run measured."""

    url: str
    engine: str
    run_id: str
    config: dict[str, Any]
    results: list[Result]
    ratios: list[Ratio]
    notes: list[str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- the run --------------------------------------------------------------------


Step = tuple[str, Callable[[], Awaitable[None]]]


class _SubjectState:
    """Per-subject bookkeeping during a run."""

    def __init__(self) -> None:
        self.count = 0
        self.handle: Any = None
        self.seed: Any = None
        self.broken: str | None = None


class _Run:
    def __init__(self, url: str, config: BenchConfig) -> None:
        self.url = url
        self.config = config
        self.engine = engine_of(url)
        self.run_id = uuid.uuid4().hex[:8]
        self.app = f"omnisession-bench-{self.run_id}"
        self.user = "bench-user"
        self.results: list[Result] = []
        self.notes: list[str] = []
        self.states: dict[tuple[str, str], _SubjectState] = {}

    # -- bookkeeping -------------------------------------------------------

    def _state(self, layer: str, name: str) -> _SubjectState:
        return self.states.setdefault((layer, name), _SubjectState())

    def _record(
        self,
        layer: str,
        name: str,
        peer: bool,
        op: str,
        history: int | None,
        samples: list[float],
        **extra: Any,
    ) -> None:
        result = Result(layer, name, peer, op, history, **extra)
        if samples:
            summary = summarize(samples)
            result.n = summary.n
            result.median_ms = summary.median_ms
            result.p99_ms = summary.p99_ms
            result.min_ms = summary.min_ms
            result.max_ms = summary.max_ms
        self.results.append(result)

    def _guard(
        self,
        layer: str,
        name: str,
        peer: bool,
        op: str,
        history: int | None,
        body: Callable[[], Awaitable[None]],
        *,
        fatal: bool = False,
    ) -> Callable[[], Awaitable[None]]:
        """Run ``body`` unless the subject broke; record a failure instead of raising."""
        state = self._state(layer, name)

        async def guarded() -> None:
            if state.broken is not None:
                return
            try:
                await body()
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"[:300]
                self.results.append(Result(layer, name, peer, op, history, error=message))
                if fatal:
                    state.broken = message

        return guarded

    # -- measuring helpers -------------------------------------------------

    async def _timed(
        self, op: Callable[[int], Awaitable[Any]], *, full: bool = False
    ) -> list[float]:
        reps = self.config.reps if not full else max(3, self.config.reps // 10)
        return await measure(op, reps=reps, budget_s=self.config.budget_s, min_reps=3)

    async def _concurrent(
        self, write: Callable[[int, int], Awaitable[Any]]
    ) -> tuple[list[float], float, int, str | None]:
        """``writers`` tasks doing ``writes`` writes each; (latencies, seconds, failures, error)."""
        latencies: list[float] = []
        failures = 0
        first_error: str | None = None

        async def writer(j: int) -> None:
            nonlocal failures, first_error
            for i in range(self.config.writes):
                t0 = time.perf_counter()
                try:
                    await write(j, i)
                except Exception as exc:
                    failures += 1
                    if first_error is None:
                        first_error = f"{type(exc).__name__}: {exc}"[:300]
                    continue
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(writer(j) for j in range(self.config.writers)))
        return latencies, time.perf_counter() - started, failures, first_error

    def _record_throughput(
        self,
        layer: str,
        name: str,
        peer: bool,
        op: str,
        outcome: tuple[list[float], float, int, str | None],
        lost: int | None,
    ) -> None:
        latencies, seconds, failures, error = outcome
        total = self.config.writers * self.config.writes
        extra: dict[str, Any] = {"ops_per_s": (total - failures) / seconds if seconds else None}
        extra["lost_writes"] = lost
        if failures:
            extra["error"] = f"{failures} of {total} writes failed: {error}"
        self._record(layer, name, peer, op, None, latencies, **extra)

    # -- store layer -------------------------------------------------------

    def _store_steps(self, store: SessionStore) -> list[Step]:
        layer, name, peer = "store", OMNI, False
        state = self._state(layer, name)
        key = SessionKey(self.app, self.user, "store-history")
        g = self._guard
        steps: list[Step] = []

        async def setup() -> None:
            await store.create_session(key, {"user:name": "Ada", "topic": "benchmark"})

        steps.append(
            (f"store {name}: setup", g(layer, name, peer, "setup", None, setup, fatal=True))
        )
        for history in self.config.histories:
            steps.extend(self._store_history_steps(store, key, state, history))

        list_key_user = "list-user"
        list_keys = [
            SessionKey(self.app, list_key_user, f"listed-{i:05d}")
            for i in range(self.config.sessions)
        ]

        async def create() -> None:
            samples = await measure(
                lambda i: store.create_session(list_keys[i], {"topic": f"t{i}"}),
                reps=len(list_keys),
                budget_s=float("inf"),
            )
            self._record(layer, name, peer, "create_session", None, samples)

        async def list_all() -> None:
            async def op(_: int) -> None:
                cursor: str | None = None
                seen = 0
                while True:
                    page = await store.list_sessions(
                        self.app, list_key_user, page_size=1000, cursor=cursor
                    )
                    seen += len(page.sessions)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                if seen != len(list_keys):
                    raise AssertionError(f"listed {seen} sessions, expected {len(list_keys)}")

            self._record(
                layer, name, peer, "list_sessions", self.config.sessions, await self._timed(op)
            )

        steps.append(
            (
                f"store {name}: create_session x{len(list_keys)}",
                g(layer, name, peer, "create_session", None, create),
            )
        )
        steps.append(
            (f"store {name}: list_sessions", g(layer, name, peer, "list_sessions", None, list_all))
        )

        distinct = [
            SessionKey(self.app, self.user, f"store-writer-{j}") for j in range(self.config.writers)
        ]
        one = SessionKey(self.app, self.user, "store-shared")

        async def throughput_distinct() -> None:
            for k in distinct:
                await store.create_session(k)
            outcome = await self._concurrent(
                lambda j, i: store.append_event(
                    distinct[j], {"role": "user", "content": f"w{j} m{i}"}, state_delta={"n": i}
                )
            )
            stored = sum([len(await store.get_items(k)) for k in distinct])
            lost = self.config.writers * self.config.writes - outcome[2] - stored
            self._record_throughput(layer, name, peer, "throughput_distinct", outcome, lost)

        async def throughput_one() -> None:
            await store.create_session(one)
            outcome = await self._concurrent(
                lambda j, i: store.append_event(
                    one, {"role": "user", "content": f"w{j} m{i}"}, state_delta={f"w{j}": i}
                )
            )
            stored = len(await store.get_items(one))
            lost = self.config.writers * self.config.writes - outcome[2] - stored
            self._record_throughput(layer, name, peer, "throughput_one", outcome, lost)

        steps.append(
            (
                f"store {name}: 32 writers, distinct sessions",
                g(layer, name, peer, "throughput_distinct", None, throughput_distinct),
            )
        )
        steps.append(
            (
                f"store {name}: 32 writers, one session",
                g(layer, name, peer, "throughput_one", None, throughput_one),
            )
        )
        return steps

    def _store_history_steps(
        self, store: SessionStore, key: SessionKey, state: _SubjectState, history: int
    ) -> list[Step]:
        layer, name, peer = "store", OMNI, False
        g = self._guard

        async def fill() -> None:
            await _fill_items(
                lambda items: store.add_items(key, items), state, history, self.config.batch
            )

        async def append() -> None:
            samples = await self._timed(
                lambda i: store.append_event(
                    key,
                    {"role": "user", "content": f"turn {i}"},
                    state_delta={"turn": i, "user:last_turn": i},
                )
            )
            state.count += len(samples)
            self._record(layer, name, peer, "append_event", history, samples)

        async def add() -> None:
            samples = await self._timed(lambda i: store.add_items(key, openai_turn(i)))
            state.count += 2 * len(samples)
            self._record(layer, name, peer, "add_items", history, samples)

        async def items20() -> None:
            samples = await self._timed(lambda i: _expect(store.get_items(key, limit=20), 20))
            self._record(layer, name, peer, "get_items_20", history, samples)

        async def last20() -> None:
            async def op(_: int) -> None:
                record = await store.get_session(key, last=20)
                if record is None or len(record.events) != 20:
                    raise AssertionError("get_session(last=20) did not return 20 events")

            self._record(layer, name, peer, "get_session_last20", history, await self._timed(op))

        async def full() -> None:
            expected = state.count

            async def op(_: int) -> None:
                record = await store.get_session(key)
                if record is None or len(record.events) != expected:
                    got = record and len(record.events)
                    raise AssertionError(f"get_session returned {got} events, expected {expected}")

            self._record(
                layer, name, peer, "get_session_full", history, await self._timed(op, full=True)
            )

        async def pop() -> None:
            samples = await self._timed(lambda i: store.pop_item(key))
            state.count -= len(samples)
            self._record(layer, name, peer, "pop_item", history, samples)

        label = f"store {name} @{history:,}"
        return [
            (f"{label}: build history", g(layer, name, peer, "fill", history, fill, fatal=True)),
            (f"{label}: append_event", g(layer, name, peer, "append_event", history, append)),
            (f"{label}: add_items", g(layer, name, peer, "add_items", history, add)),
            (
                f"{label}: get_items(limit=20)",
                g(layer, name, peer, "get_items_20", history, items20),
            ),
            (
                f"{label}: get_session newest 20",
                g(layer, name, peer, "get_session_last20", history, last20),
            ),
            (f"{label}: get_session full", g(layer, name, peer, "get_session_full", history, full)),
            (f"{label}: pop_item", g(layer, name, peer, "pop_item", history, pop)),
        ]

    # -- OpenAI Agents layer -------------------------------------------------

    def _openai_steps(self, subject: OpenAISubject) -> list[Step]:
        layer, name, peer = "openai", subject.name, subject.peer
        state = self._state(layer, name)
        g = self._guard
        sid = f"{self.run_id}-openai-history"
        steps: list[Step] = []

        async def setup() -> None:
            state.handle = subject.session(sid)

        steps.append(
            (f"openai {name}: setup", g(layer, name, peer, "setup", None, setup, fatal=True))
        )
        for history in self.config.histories:
            label = f"openai {name} @{history:,}"

            async def fill(history: int = history) -> None:
                await _fill_items(state.handle.add_items, state, history, self.config.batch)

            async def add(history: int = history) -> None:
                samples = await self._timed(lambda i: state.handle.add_items(openai_turn(i)))
                state.count += 2 * len(samples)
                self._record(layer, name, peer, "add_items", history, samples)

            async def items20(history: int = history) -> None:
                samples = await self._timed(lambda i: _expect(state.handle.get_items(limit=20), 20))
                self._record(layer, name, peer, "get_items_20", history, samples)

            async def items_full(history: int = history) -> None:
                expected = state.count
                samples = await self._timed(
                    lambda i: _expect(state.handle.get_items(), expected), full=True
                )
                self._record(layer, name, peer, "get_items_full", history, samples)

            async def pop(history: int = history) -> None:
                samples = await self._timed(lambda i: state.handle.pop_item())
                state.count -= len(samples)
                self._record(layer, name, peer, "pop_item", history, samples)

            steps += [
                (
                    f"{label}: build history",
                    g(layer, name, peer, "fill", history, fill, fatal=True),
                ),
                (f"{label}: add_items", g(layer, name, peer, "add_items", history, add)),
                (
                    f"{label}: get_items(limit=20)",
                    g(layer, name, peer, "get_items_20", history, items20),
                ),
                (
                    f"{label}: get_items() full",
                    g(layer, name, peer, "get_items_full", history, items_full),
                ),
                (f"{label}: pop_item", g(layer, name, peer, "pop_item", history, pop)),
            ]

        async def throughput_distinct() -> None:
            sessions = [
                subject.session(f"{self.run_id}-openai-writer-{j}")
                for j in range(self.config.writers)
            ]
            outcome = await self._concurrent(lambda j, i: sessions[j].add_items(openai_turn(i)))
            stored = sum([len(await s.get_items()) for s in sessions]) // 2
            lost = self.config.writers * self.config.writes - outcome[2] - stored
            self._record_throughput(layer, name, peer, "throughput_distinct", outcome, lost)

        async def throughput_one() -> None:
            shared = f"{self.run_id}-openai-shared"
            sessions = [subject.session(shared) for _ in range(self.config.writers)]
            outcome = await self._concurrent(lambda j, i: sessions[j].add_items(openai_turn(i)))
            stored = len(await sessions[0].get_items()) // 2
            lost = self.config.writers * self.config.writes - outcome[2] - stored
            self._record_throughput(layer, name, peer, "throughput_one", outcome, lost)

        steps.append(
            (
                f"openai {name}: 32 writers, distinct sessions",
                g(layer, name, peer, "throughput_distinct", None, throughput_distinct),
            )
        )
        steps.append(
            (
                f"openai {name}: 32 writers, one session",
                g(layer, name, peer, "throughput_one", None, throughput_one),
            )
        )
        return steps

    # -- ADK layer -----------------------------------------------------------

    def _adk_steps(self, subject: ADKSubject) -> list[Step]:
        from google.adk.sessions.base_session_service import GetSessionConfig

        layer, name, peer = "adk", subject.name, subject.peer
        state = self._state(layer, name)
        service = subject.service
        g = self._guard
        app, user, sid = self.app, self.user, f"adk-history-{name}"
        steps: list[Step] = []

        async def setup() -> None:
            session = await service.create_session(
                app_name=app,
                user_id=user,
                session_id=sid,
                state={"user:name": "Ada", "topic": "benchmark"},
            )
            state.seed = adk_event(0, state_delta={"turn": 0})
            await service.append_event(session, state.seed)
            state.count = 1
            state.handle = session

        steps.append((f"adk {name}: setup", g(layer, name, peer, "setup", None, setup, fatal=True)))
        recent = GetSessionConfig(num_recent_events=20)
        for history in self.config.histories:
            label = f"adk {name} @{history:,}"

            async def fill(history: int = history) -> None:
                missing = history - state.count
                if missing > 0:
                    await subject.fill(state.handle, state.seed, state.count, missing)
                    state.count = history
                state.handle = await service.get_session(
                    app_name=app,
                    user_id=user,
                    session_id=sid,
                    config=GetSessionConfig(num_recent_events=0),
                )

            async def append(history: int = history) -> None:
                samples = await self._timed(
                    lambda i: service.append_event(
                        state.handle, adk_event(i, state_delta={"turn": i, "user:last_turn": i})
                    )
                )
                state.count += len(samples)
                self._record(layer, name, peer, "append_event", history, samples)

            async def last20(history: int = history) -> None:
                async def op(_: int) -> None:
                    session = await service.get_session(
                        app_name=app, user_id=user, session_id=sid, config=recent
                    )
                    if session is None or len(session.events) != 20:
                        raise AssertionError(
                            "get_session(num_recent_events=20) did not return 20 events"
                        )

                self._record(
                    layer, name, peer, "get_session_last20", history, await self._timed(op)
                )

            async def full(history: int = history) -> None:
                expected = state.count

                async def op(_: int) -> None:
                    session = await service.get_session(app_name=app, user_id=user, session_id=sid)
                    if session is None or len(session.events) != expected:
                        got = session and len(session.events)
                        raise AssertionError(
                            f"get_session returned {got} events, expected {expected}"
                        )

                self._record(
                    layer, name, peer, "get_session_full", history, await self._timed(op, full=True)
                )

            steps += [
                (
                    f"{label}: build history",
                    g(layer, name, peer, "fill", history, fill, fatal=True),
                ),
                (f"{label}: append_event", g(layer, name, peer, "append_event", history, append)),
                (
                    f"{label}: get_session newest 20",
                    g(layer, name, peer, "get_session_last20", history, last20),
                ),
                (
                    f"{label}: get_session full",
                    g(layer, name, peer, "get_session_full", history, full),
                ),
            ]

        list_user = "list-user"

        async def create() -> None:
            samples = await measure(
                lambda i: service.create_session(
                    app_name=app,
                    user_id=list_user,
                    session_id=f"listed-{name}-{i:05d}",
                    state={"topic": f"t{i}"},
                ),
                reps=self.config.sessions,
                budget_s=float("inf"),
            )
            self._record(layer, name, peer, "create_session", None, samples)

        async def list_all() -> None:
            async def op(_: int) -> None:
                response = await service.list_sessions(app_name=app, user_id=list_user)
                mine = [s for s in response.sessions if s.id.startswith(f"listed-{name}-")]
                if len(mine) != self.config.sessions:
                    raise AssertionError(
                        f"listed {len(mine)} sessions, expected {self.config.sessions}"
                    )

            self._record(
                layer, name, peer, "list_sessions", self.config.sessions, await self._timed(op)
            )

        async def throughput_distinct() -> None:
            sessions = [
                await service.create_session(
                    app_name=app, user_id=f"writer-{j}", session_id=f"adk-writer-{name}-{j}"
                )
                for j in range(self.config.writers)
            ]
            outcome = await self._concurrent(
                lambda j, i: service.append_event(
                    sessions[j], adk_event(i, state_delta={"n": i, "user:n": i})
                )
            )
            stored = 0
            for j, session in enumerate(sessions):
                reloaded = await service.get_session(
                    app_name=app, user_id=f"writer-{j}", session_id=session.id
                )
                stored += len(reloaded.events) if reloaded is not None else 0
            lost = self.config.writers * self.config.writes - outcome[2] - stored
            self._record_throughput(layer, name, peer, "throughput_distinct", outcome, lost)

        steps.append(
            (
                f"adk {name}: create_session x{self.config.sessions}",
                g(layer, name, peer, "create_session", None, create),
            )
        )
        steps.append(
            (f"adk {name}: list_sessions", g(layer, name, peer, "list_sessions", None, list_all))
        )
        steps.append(
            (
                f"adk {name}: 32 writers, distinct sessions",
                g(layer, name, peer, "throughput_distinct", None, throughput_distinct),
            )
        )
        return steps

    # -- orchestration -----------------------------------------------------------

    async def execute(self) -> EngineReport:
        started = time.perf_counter()
        store = open_store(self.url)
        peers = Peers(self.engine)
        try:
            if self.config.compare:
                peers = await make_peers(self.url, self.run_id, batch=self.config.batch)
            self.notes.extend(peers.notes)
            omni_openai, omni_adk = self._omni_subjects(store)
            steps: list[Step] = []
            if "store" in self.config.layers:
                steps += self._store_steps(store)
            if "openai" in self.config.layers and omni_openai is not None:
                for subject in [omni_openai, *peers.openai]:
                    steps += self._openai_steps(subject)
            if "adk" in self.config.layers and omni_adk is not None:
                for adk_subject in [omni_adk, *peers.adk]:
                    steps += self._adk_steps(adk_subject)
            progress = Progress(
                len(steps), title=f"bench {self.engine}", enabled=self.config.progress
            )
            for label, step in steps:
                progress.step(label)
                await step()
            progress.finish()
            if omni_adk is not None:
                await omni_adk.close()
        finally:
            await peers.aclose()
            self.notes.extend(n for n in peers.notes if n not in self.notes)
            await self._cleanup(store)
        return EngineReport(
            url=redact(self.url),
            engine=self.engine,
            run_id=self.run_id,
            config={k: v for k, v in dataclasses.asdict(self.config).items() if k != "progress"},
            results=self.results,
            ratios=compute_ratios(self.results),
            notes=self.notes,
            seconds=time.perf_counter() - started,
        )

    def _omni_subjects(self, store: SessionStore) -> tuple[OpenAISubject | None, ADKSubject | None]:
        openai_subject: OpenAISubject | None = None
        adk_subject: ADKSubject | None = None
        try:
            from omnisession.openai_agents import OmniSession
        except ImportError as exc:
            self.notes.append(
                f"OpenAI Agents layer skipped: omnisession.openai_agents unavailable ({exc})"
            )
        else:
            openai_subject = OpenAISubject(
                OMNI,
                lambda sid: OmniSession(sid, store=store, app_name=self.app, user_id=self.user),
                peer=False,
                close=_noop,
            )
        try:
            from omnisession.adk import OmniSessionService
        except ImportError as exc:
            self.notes.append(f"ADK layer skipped: omnisession.adk unavailable ({exc})")
        else:
            adk_subject = ADKSubject(
                OMNI,
                OmniSessionService(store),
                omni_adk_filler(store, self.config.batch),
                peer=False,
                close=_noop,
            )
        return openai_subject, adk_subject

    async def _cleanup(self, store: SessionStore) -> None:
        """Delete every session the run created in the omnisession store, then close it."""
        try:
            while True:
                page = await store.list_sessions(self.app, page_size=500)
                if not page.sessions:
                    break
                for record in page.sessions:
                    await store.delete_session(record.key)
        except Exception as exc:
            self.notes.append(f"could not delete the benchmark's sessions: {exc}")
        finally:
            await store.aclose()


async def _noop() -> None:
    return None


async def _expect(call: Awaitable[list[Any]], count: int) -> None:
    items = await call
    if len(items) != count:
        raise AssertionError(f"expected {count} items, got {len(items)}")


async def _fill_items(
    add: Callable[[list[dict[str, Any]]], Awaitable[None]],
    state: _SubjectState,
    target: int,
    batch: int,
) -> None:
    """Grow a history to ``target`` items through ``add_items`` in batches."""
    while state.count < target:
        size = min(batch, target - state.count)
        items: list[dict[str, Any]] = []
        while len(items) < size:
            items.extend(openai_turn(state.count + len(items)))
        await add(items[:size])
        state.count += size


def compute_ratios(results: list[Result]) -> list[Ratio]:
    """``peer / omnisession`` per layer, operation and history, where both succeeded."""
    index = {
        (r.layer, r.subject, r.op, r.history): r for r in results if r.error is None and r.median_ms
    }
    ratios: list[Ratio] = []
    for (layer, subject, op, history), peer_result in index.items():
        if not peer_result.peer:
            continue
        omni = index.get((layer, OMNI, op, history))
        if omni is None or omni.median_ms is None or peer_result.median_ms is None:
            continue
        if op.startswith("throughput") and omni.ops_per_s and peer_result.ops_per_s:
            value = omni.ops_per_s / peer_result.ops_per_s
        else:
            value = peer_result.median_ms / omni.median_ms
        ratios.append(Ratio(layer, subject, op, history, value))
    return ratios


async def run_bench(url: str, config: BenchConfig) -> EngineReport:
    """Run the benchmark against ``url`` (and the peers on its engine with ``compare``)."""
    return await _Run(url, config).execute()
