"""The benchmark run: plan, measure, compare.

Per layer (``store``, ``openai``, ``adk``, see :mod:`omnisession_bench.subjects`)
and per subject, for every history size (default 100 / 10,000 / 100,000
events), on one session grown to that size:

- writes: ``append_event`` with a state delta (store, ADK), ``add_items`` of
  one turn (2 items) (store, OpenAI);
- reads: the newest 20 (``get_items(limit=20)``, ``get_session(last=20)`` /
  ``GetSessionConfig(num_recent_events=20)``) and the full history;
- ``pop_item`` (store, OpenAI);
- ADK partial loads (issue 12): ``get_session`` with
  ``GetSessionConfig(num_recent_events=20)`` and one whole ``Runner.run_async``
  turn (a user message, an offline model's reply: two appended events) with
  ``RunConfig(get_session_config=GetSessionConfig(num_recent_events=20))``, on
  sessions of every history size at once, alternating between the sizes and
  the subjects (at most 30 turns per size: each turn adds two events); the
  model checks that it was sent at most 20 history events plus the new
  message, so a service that ignored the config fails the figure instead of
  looking slow;

For the store layer, the newest-20 reads are also measured on one session
per history size, alternating between the sizes (``*_flat``), which is what
the flatness figure uses: load changes on the machine then hit every size alike.

Once per subject: ``create_session`` (timed for each of the 1,000 sessions,
the subjects of a layer alternating in 10 rounds), ``list_sessions`` of those
1,000 sessions (alternating like the per-history operations), and throughput
with 32 concurrent writers on 32 distinct sessions and on one session (each
write's latency is recorded too, and the stored history is counted
afterwards: a store that loses writes under concurrency shows
``lost_writes > 0``).

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
from typing import Any, cast

from omnisession import Capability, LifecycleStore, SessionKey, SessionStore, open_store

from .engines import Peers, engine_of, make_peers, redact
from .subjects import (
    ADKSubject,
    OpenAISubject,
    adk_event,
    omni_adk_filler,
    openai_turn,
    reply_agent,
)
from .timing import Progress, summarize

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
#: How many of the newest events a partial load (ADK Runner turn) reads.
RECENT = 20
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
        "get_items_20_flat",
        "get_session_last20_flat",
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
        "get_session_last20_flat",
        "runner_turn",
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
    "runner_turn": "Runner turn, num_recent_events=20, sizes interleaved",
    "partial_loads": "newest-20 reads and Runner turns at every history, interleaved",
    "pop_item": "pop_item",
    "list_sessions": "list_sessions (N sessions)",
    "throughput_distinct": "concurrent writers, distinct sessions",
    "throughput_one": "concurrent writers, one session",
    "newest_20_flat": "newest-20 reads at every history, interleaved",
    "get_items_20_flat": "get_items(limit=20), sizes interleaved",
    "get_session_last20_flat": "get_session newest 20, sizes interleaved",
}

_THROUGHPUT = {"throughput_distinct": "distinct sessions", "throughput_one": "one session"}


def op_label(op: str, writers: int | None) -> str:
    """The row label of ``op``; a throughput row names the run's writer count (``--writers``)."""
    if op in _THROUGHPUT and writers:
        return f"{writers} writers, {_THROUGHPUT[op]}"
    return OP_LABELS.get(op, op)


NEWEST_20 = ("get_items_20", "get_session_last20", "get_items_20_flat", "get_session_last20_flat")


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


@dataclass
class _OpSpec:
    """One per-history operation of a subject: ``call(i)``; ``delta`` items per sample."""

    call: Callable[[int], Awaitable[Any]]
    delta: int = 0
    full: bool = False


@dataclass
class _Subject:
    """A subject of one layer: how to set it up, grow its history, and its operations."""

    layer: str
    name: str
    peer: bool
    setup: Callable[[], Awaitable[None]]
    fill: Callable[[int], Awaitable[None]]
    ops: dict[str, _OpSpec]
    once: list[tuple[str, Callable[[], Awaitable[None]]]]
    count: int = 0
    handle: Any = None
    seed: Any = None
    broken: str | None = None
    creates: Callable[[int], Awaitable[Any]] | None = None
    """``creates(i)`` creates the i-th of the sessions ``list_sessions`` lists."""
    listing: dict[str, _OpSpec] = field(default_factory=dict)
    """Operations measured once, after every creation: ``list_sessions``."""
    prepare_sizes: Callable[[list[int]], Awaitable[dict[int, str]]] | None = None
    """Partial loads: a session id holding each history size (built on demand)."""
    sized_ops: dict[str, tuple[Callable[[str, int], Awaitable[None]], int]] = field(
        default_factory=dict
    )
    """Partial loads: ``op -> (call(session_id, i), at most this many samples per size)``."""


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

    # -- bookkeeping -------------------------------------------------------

    def _record(
        self, subject: _Subject, op: str, history: int | None, samples: list[float], **extra: Any
    ) -> None:
        result = Result(subject.layer, subject.name, subject.peer, op, history, **extra)
        if samples:
            summary = summarize(samples)
            result.n = summary.n
            result.median_ms = summary.median_ms
            result.p99_ms = summary.p99_ms
            result.min_ms = summary.min_ms
            result.max_ms = summary.max_ms
        self.results.append(result)

    def _fail(self, subject: _Subject, op: str, history: int | None, exc: Exception) -> str:
        message = f"{type(exc).__name__}: {exc}"[:300]
        self.results.append(
            Result(subject.layer, subject.name, subject.peer, op, history, error=message)
        )
        return message

    def _guard(
        self,
        subject: _Subject,
        op: str,
        history: int | None,
        body: Callable[[], Awaitable[None]],
        *,
        fatal: bool = False,
    ) -> Callable[[], Awaitable[None]]:
        """Run ``body`` unless the subject broke; record a failure instead of raising."""

        async def guarded() -> None:
            if subject.broken is not None:
                return
            try:
                await body()
            except Exception as exc:
                message = self._fail(subject, op, history, exc)
                if fatal:
                    subject.broken = message

        return guarded

    # -- measuring -------------------------------------------------------------

    def _interleaved(
        self,
        subjects: list[_Subject],
        op: str,
        history: int,
        table: Callable[[_Subject], dict[str, _OpSpec]] = lambda subject: subject.ops,
    ) -> Step:
        """Measure ``op`` (of ``table(subject)``) of every subject in rounds, alternating subjects.

        Each round gives every subject a slice of its samples, so that load
        changes on the machine hit all subjects alike instead of whichever
        happened to run at that moment. One untimed warm-up call per subject
        comes first.
        """
        rounds = 5

        async def body() -> None:
            live = [s for s in subjects if s.broken is None and op in table(s)]
            samples: dict[str, list[float]] = {s.name: [] for s in live}
            spent: dict[str, float] = {s.name: 0.0 for s in live}
            failed: set[str] = set()
            for subject in live:  # one untimed call: caches, prepared statements, validators
                if table(subject)[op].full:
                    continue  # full reads come after the newest-20 reads, which warmed up
                if self._slow(subject, op):
                    continue  # a call takes a tenth of a budget or more: a warm-up is noise
                try:
                    await table(subject)[op].call(0)
                    subject.count += table(subject)[op].delta
                except Exception as exc:
                    failed.add(subject.name)
                    self._fail(subject, op, history, exc)
            for _ in range(rounds):
                for subject in live:
                    if subject.name in failed:
                        continue
                    spec = table(subject)[op]
                    reps = self.config.reps if not spec.full else max(3, self.config.reps // 10)
                    taken = samples[subject.name]
                    want = min(reps, len(taken) + max(1, -(-reps // rounds)))
                    # A figure needs 3 samples, except a call that alone takes 10 budgets
                    # (a full read of 100,000 events by a slow store): one sample, n=1.
                    enough = 1 if taken and taken[0] > 10 * self.config.budget_s else 3
                    over_budget = (
                        spent[subject.name] > self.config.budget_s and len(taken) >= enough
                    )
                    if len(taken) >= want or over_budget:
                        continue
                    started = time.perf_counter()
                    try:
                        while len(taken) < want:
                            t0 = time.perf_counter()
                            await spec.call(len(taken))
                            taken.append(time.perf_counter() - t0)
                            subject.count += spec.delta
                            elapsed = time.perf_counter() - started + spent[subject.name]
                            enough = 1 if taken[0] > 10 * self.config.budget_s else 3
                            if elapsed > self.config.budget_s and len(taken) >= enough:
                                break
                    except Exception as exc:
                        failed.add(subject.name)
                        self._fail(subject, op, history, exc)
                    spent[subject.name] += time.perf_counter() - started
            for subject in live:
                if subject.name not in failed:
                    self._record(subject, op, history, samples[subject.name])

        return (f"{subjects[0].layer} @{history:,}: {op_label(op, self.config.writers)}", body)

    def _create_all(self, subjects: list[_Subject]) -> Step:
        """Every subject creates its ``sessions`` sessions, subjects alternating in 10 rounds."""

        async def body() -> None:
            live = [s for s in subjects if s.broken is None and s.creates is not None]
            samples: dict[str, list[float]] = {s.name: [] for s in live}
            failed: set[str] = set()
            total = self.config.sessions
            rounds = 10
            for round_number in range(rounds):
                start, stop = total * round_number // rounds, total * (round_number + 1) // rounds
                for subject in live:
                    if subject.name in failed or subject.creates is None:
                        continue
                    try:
                        for i in range(start, stop):
                            t0 = time.perf_counter()
                            await subject.creates(i)
                            samples[subject.name].append(time.perf_counter() - t0)
                    except Exception as exc:
                        failed.add(subject.name)
                        self._fail(subject, "create_session", None, exc)
            for subject in live:
                if subject.name not in failed:
                    self._record(subject, "create_session", None, samples[subject.name])

        count = self.config.sessions
        return (f"{subjects[0].layer}: create_session x {count:,}, subjects alternating", body)

    async def _alternating(
        self, call: Callable[[Any, int], Awaitable[Any]], keys: list[Any], cap: int
    ) -> tuple[dict[Any, list[float]], dict[Any, Exception]]:
        """Time ``call(key, i)`` in rounds that alternate between ``keys``.

        Load changes on the machine then hit every key (subject and history
        size) alike, which is what comparisons across sizes and subjects need.
        One untimed call per key first (none for a key whose call takes 10
        budgets: the warm-up would be noise). Per key: at most ``cap`` samples
        and a budget, with at least 3 samples (1 when one call alone takes 10
        budgets). A key whose call raises is dropped with its exception.
        """
        rounds = 10
        per_round = max(1, cap // rounds)
        budget = self.config.budget_s
        samples: dict[Any, list[float]] = {key: [] for key in keys}
        spent = dict.fromkeys(keys, 0.0)
        failed: dict[Any, Exception] = {}
        for key in keys:
            try:
                t0 = time.perf_counter()
                await call(key, 0)
                if time.perf_counter() - t0 > 10 * budget:
                    samples[key].append(time.perf_counter() - t0)  # too slow to repeat
            except Exception as exc:
                failed[key] = exc
        for _ in range(rounds):
            for key in keys:
                taken = samples[key]
                for _ in range(per_round):
                    enough = 1 if taken and taken[0] > 10 * budget else 3
                    if key in failed or len(taken) >= cap:
                        break
                    if spent[key] > budget and len(taken) >= enough:
                        break
                    t0 = time.perf_counter()
                    try:
                        await call(key, len(taken) + 1)
                    except Exception as exc:
                        failed[key] = exc
                        break
                    elapsed = time.perf_counter() - t0
                    taken.append(elapsed)
                    spent[key] += elapsed
        return {k: v for k, v in samples.items() if k not in failed}, failed

    def _partial_loads(self, subjects: list[_Subject]) -> Step:
        """ADK partial loads: every subject's sized operations, subjects and sizes alternating."""

        async def body() -> None:
            sizes = [size for size in sorted(self.config.histories) if size >= RECENT]
            if len(sizes) < len(self.config.histories):
                self.notes.append(f"partial loads: histories under {RECENT} events are left out")
            if not sizes:
                return
            sessions: dict[str, dict[int, str]] = {}
            for subject in subjects:
                if subject.broken is not None or subject.prepare_sizes is None:
                    continue
                try:
                    sessions[subject.name] = await subject.prepare_sizes(sizes)
                except Exception as exc:
                    self._fail(subject, "partial_loads", None, exc)
            live = [s for s in subjects if s.name in sessions]
            by_name = {s.name: s for s in live}
            for op in OPS[subjects[0].layer]:
                keys = [(s.name, size) for s in live if op in s.sized_ops for size in sizes]
                if not keys:
                    continue
                cap = min(by_name[name].sized_ops[op][1] for name, _ in keys)

                async def call(key: tuple[str, int], i: int, op: str = op) -> None:
                    name, size = key
                    await by_name[name].sized_ops[op][0](sessions[name][size], i)

                samples, failed = await self._alternating(call, keys, cap)
                for (name, size), error in failed.items():
                    self._fail(by_name[name], op, size, error)
                for (name, size), taken in samples.items():
                    self._record(by_name[name], op, size, taken)

        layer = subjects[0].layer
        return (f"{layer}: partial loads at every history, subjects and sizes alternating", body)

    def _slow(self, subject: _Subject, op: str) -> bool:
        """Whether ``op`` of ``subject`` took a tenth of a budget per call at a smaller history."""
        limit = self.config.budget_s * 1000 / 10
        return any(
            r.median_ms is not None and r.median_ms > limit
            for r in self.results
            if (r.layer, r.subject, r.op) == (subject.layer, subject.name, op)
        )

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
        subject: _Subject,
        op: str,
        outcome: tuple[list[float], float, int, str | None],
        stored: int,
    ) -> None:
        latencies, seconds, failures, error = outcome
        total = self.config.writers * self.config.writes
        extra: dict[str, Any] = {
            "ops_per_s": (total - failures) / seconds if seconds else None,
            "lost_writes": total - failures - stored,
        }
        if failures:
            extra["error"] = f"{failures} of {total} writes failed: {error}"
        self._record(subject, op, None, latencies, **extra)

    # -- store layer ---------------------------------------------------------------

    def _store_subject(self, store: SessionStore) -> _Subject:
        key = SessionKey(self.app, self.user, "store-history")
        list_user = "list-user"
        list_keys = [
            SessionKey(self.app, list_user, f"listed-{i:05d}") for i in range(self.config.sessions)
        ]
        distinct = [
            SessionKey(self.app, self.user, f"store-writer-{j}") for j in range(self.config.writers)
        ]
        one = SessionKey(self.app, self.user, "store-shared")
        subject = _Subject("store", OMNI, False, _noop, _noop_fill, {}, [])

        async def setup() -> None:
            await store.create_session(key, {"user:name": "Ada", "topic": "benchmark"})

        async def fill(target: int) -> None:
            await _fill_items(
                lambda items: store.add_items(key, items), subject, target, self.config.batch
            )

        async def last20(_: int) -> None:
            record = await store.get_session(key, last=20)
            if record is None or len(record.events) != 20:
                raise AssertionError("get_session(last=20) did not return 20 events")

        async def full(_: int) -> None:
            record = await store.get_session(key)
            if record is None or len(record.events) != subject.count:
                got = record and len(record.events)
                raise AssertionError(f"get_session returned {got} events, expected {subject.count}")

        subject.setup, subject.fill = setup, fill
        subject.ops = {
            "append_event": _OpSpec(
                lambda i: store.append_event(
                    key,
                    {"role": "user", "content": f"turn {i}"},
                    state_delta={"turn": i, "user:last_turn": i},
                ),
                delta=1,
            ),
            "add_items": _OpSpec(lambda i: store.add_items(key, openai_turn(i)), delta=2),
            "get_items_20": _OpSpec(lambda i: _expect(store.get_items(key, limit=20), 20)),
            "get_session_last20": _OpSpec(last20),
            "get_session_full": _OpSpec(full, full=True),
            "pop_item": _OpSpec(lambda i: store.pop_item(key), delta=-1),
        }

        async def create(i: int) -> None:
            await store.create_session(list_keys[i], {"topic": f"t{i}"})

        async def list_all(_: int) -> None:
            cursor: str | None = None
            seen = 0
            while True:
                page = await store.list_sessions(self.app, list_user, page_size=1000, cursor=cursor)
                seen += len(page.sessions)
                cursor = page.next_cursor
                if cursor is None:
                    break
            if seen != len(list_keys):
                raise AssertionError(f"listed {seen} sessions, expected {len(list_keys)}")

        subject.creates = create
        subject.listing = {"list_sessions": _OpSpec(list_all)}

        async def throughput_distinct() -> None:
            for k in distinct:
                await store.create_session(k)
            outcome = await self._concurrent(
                lambda j, i: store.append_event(
                    distinct[j], {"role": "user", "content": f"w{j} m{i}"}, state_delta={"n": i}
                )
            )
            stored = sum([len(await store.get_items(k)) for k in distinct])
            self._record_throughput(subject, "throughput_distinct", outcome, stored)

        async def throughput_one() -> None:
            await store.create_session(one)
            outcome = await self._concurrent(
                lambda j, i: store.append_event(
                    one, {"role": "user", "content": f"w{j} m{i}"}, state_delta={f"w{j}": i}
                )
            )
            stored = len(await store.get_items(one))
            self._record_throughput(subject, "throughput_one", outcome, stored)

        async def flat() -> None:
            """Newest-20 reads of sessions of every history size, alternating between them."""
            keys = {h: SessionKey(self.app, self.user, f"flat-{h}") for h in self.config.histories}
            for history, flat_key in keys.items():
                filled = _Subject("store", OMNI, False, _noop, _noop_fill, {}, [])

                async def add(items: list[dict[str, Any]], k: SessionKey = flat_key) -> None:
                    await store.add_items(k, items)

                await _fill_items(add, filled, history, self.config.batch)

            async def items20(k: SessionKey) -> None:
                await _expect(store.get_items(k, limit=20), 20)

            async def session20(k: SessionKey) -> None:
                record = await store.get_session(k, last=20)
                if record is None or len(record.events) != 20:
                    raise AssertionError("get_session(last=20) did not return 20 events")

            rounds = 10
            per_round = max(1, self.config.reps // rounds)
            for op_name, read in (
                ("get_items_20_flat", items20),
                ("get_session_last20_flat", session20),
            ):
                samples: dict[int, list[float]] = {h: [] for h in keys}
                for k in keys.values():
                    await read(k)  # warm-up
                for _ in range(rounds):
                    for history, k in keys.items():
                        for _ in range(per_round):
                            t0 = time.perf_counter()
                            await read(k)
                            samples[history].append(time.perf_counter() - t0)
                for history, taken in samples.items():
                    self._record(subject, op_name, history, taken)

        subject.once = [
            ("newest_20_flat", flat),
            ("throughput_distinct", throughput_distinct),
            ("throughput_one", throughput_one),
        ]
        return subject

    # -- OpenAI Agents layer ---------------------------------------------------------

    def _openai_subject(self, factory: OpenAISubject) -> _Subject:
        sid = f"{self.run_id}-openai-history"
        subject = _Subject("openai", factory.name, factory.peer, _noop, _noop_fill, {}, [])

        async def setup() -> None:
            subject.handle = factory.session(sid)

        async def fill(target: int) -> None:
            await _fill_items(subject.handle.add_items, subject, target, self.config.batch)

        subject.setup, subject.fill = setup, fill
        subject.ops = {
            "add_items": _OpSpec(lambda i: subject.handle.add_items(openai_turn(i)), delta=2),
            "get_items_20": _OpSpec(lambda i: _expect(subject.handle.get_items(limit=20), 20)),
            "get_items_full": _OpSpec(
                lambda i: _expect(subject.handle.get_items(), subject.count), full=True
            ),
            "pop_item": _OpSpec(lambda i: subject.handle.pop_item(), delta=-1),
        }

        async def throughput_distinct() -> None:
            sessions = [
                factory.session(f"{self.run_id}-openai-writer-{j}")
                for j in range(self.config.writers)
            ]
            outcome = await self._concurrent(lambda j, i: sessions[j].add_items(openai_turn(i)))
            stored = sum([len(await s.get_items()) for s in sessions]) // 2
            self._record_throughput(subject, "throughput_distinct", outcome, stored)

        async def throughput_one() -> None:
            shared = f"{self.run_id}-openai-shared"
            sessions = [factory.session(shared) for _ in range(self.config.writers)]
            outcome = await self._concurrent(lambda j, i: sessions[j].add_items(openai_turn(i)))
            stored = len(await sessions[0].get_items()) // 2
            self._record_throughput(subject, "throughput_one", outcome, stored)

        subject.once = [
            ("throughput_distinct", throughput_distinct),
            ("throughput_one", throughput_one),
        ]
        return subject

    # -- ADK layer -----------------------------------------------------------------

    def _adk_subject(self, adk: ADKSubject) -> _Subject:
        from google.adk.agents.run_config import RunConfig
        from google.adk.runners import Runner
        from google.adk.sessions.base_session_service import GetSessionConfig
        from google.genai import types

        service = adk.service
        app, user, sid = self.app, self.user, f"adk-history-{adk.name}"
        subject = _Subject("adk", adk.name, adk.peer, _noop, _noop_fill, {}, [])
        recent = GetSessionConfig(num_recent_events=20)
        nothing = GetSessionConfig(num_recent_events=0)

        async def setup() -> None:
            session = await service.create_session(
                app_name=app,
                user_id=user,
                session_id=sid,
                state={"user:name": "Ada", "topic": "benchmark"},
            )
            subject.seed = adk_event(0, state_delta={"turn": 0})
            await service.append_event(session, subject.seed)
            subject.count = 1
            subject.handle = session

        async def fill(target: int) -> None:
            missing = target - subject.count
            if missing > 0:
                await adk.fill(subject.handle, subject.seed, subject.count, missing)
                subject.count = target
            subject.handle = await service.get_session(
                app_name=app, user_id=user, session_id=sid, config=nothing
            )

        async def last20(_: int) -> None:
            session = await service.get_session(
                app_name=app, user_id=user, session_id=sid, config=recent
            )
            if session is None or len(session.events) != 20:
                raise AssertionError("get_session(num_recent_events=20) did not return 20 events")

        async def full(_: int) -> None:
            session = await service.get_session(app_name=app, user_id=user, session_id=sid)
            if session is None or len(session.events) != subject.count:
                got = session and len(session.events)
                raise AssertionError(f"get_session returned {got} events, expected {subject.count}")

        agent, model = reply_agent("concierge")
        runner = Runner(app_name=app, agent=agent, session_service=service)
        partial = RunConfig(get_session_config=GetSessionConfig(num_recent_events=RECENT))

        async def recent_read(session_id: str, _: int) -> None:
            session = await service.get_session(
                app_name=app, user_id=user, session_id=session_id, config=recent
            )
            if session is None or len(session.events) != RECENT:
                raise AssertionError("get_session(num_recent_events=20) did not return 20 events")

        async def turn(session_id: str, i: int) -> None:
            message = types.Content(role="user", parts=[types.Part(text=f"Question {i}?")])
            before = model.requests
            async for _ in runner.run_async(
                user_id=user, session_id=session_id, new_message=message, run_config=partial
            ):
                pass
            if model.requests != before + 1:
                raise AssertionError(f"the turn made {model.requests - before} model calls")
            if model.contents > RECENT + 1:
                raise AssertionError(
                    f"the model was sent {model.contents} contents: the turn loaded more than "
                    f"num_recent_events={RECENT} events"
                )

        subject.setup, subject.fill = setup, fill
        subject.ops = {
            "append_event": _OpSpec(
                lambda i: service.append_event(
                    subject.handle, adk_event(i, state_delta={"turn": i, "user:last_turn": i})
                ),
                delta=1,
            ),
            "get_session_last20": _OpSpec(last20),
            "get_session_full": _OpSpec(full, full=True),
        }

        async def prepare_sizes(sizes: list[int]) -> dict[int, str]:
            """The history session for the largest size, and a session filled to each other.

            The largest is the session the per-size figures grew (it holds that
            many events plus the writes measured on it); each smaller size gets a
            session of its own, filled the same way.
            """
            sessions = {sizes[-1]: sid}
            for size in sizes[:-1]:
                session_id = f"adk-partial-{adk.name}-{size}"
                created = await service.create_session(
                    app_name=app, user_id=user, session_id=session_id, state={"topic": "partial"}
                )
                seed = adk_event(0, state_delta={"turn": 0})
                await service.append_event(created, seed)
                if size > 1:
                    await adk.fill(created, seed, 1, size - 1)
                sessions[size] = session_id
            return sessions

        subject.prepare_sizes = prepare_sizes
        subject.sized_ops = {
            "get_session_last20_flat": (recent_read, self.config.reps),
            # each turn adds 2 events: at most 30 turns keep the smallest session small
            "runner_turn": (turn, min(self.config.reps, 30)),
        }

        # Not the store layer's "list-user": omnisession's ADK service shares the store (and the
        # app) with the store layer, and must list its own 1,000 sessions, not 2,000.
        list_user = "adk-list-user"

        async def create(i: int) -> None:
            await service.create_session(
                app_name=app,
                user_id=list_user,
                session_id=f"listed-{adk.name}-{i:05d}",
                state={"topic": f"t{i}"},
            )

        async def list_all(_: int) -> None:
            response = await service.list_sessions(app_name=app, user_id=list_user)
            # every subject lists exactly the sessions it created, nothing else
            mine = [s for s in response.sessions if s.id.startswith(f"listed-{adk.name}-")]
            expected = self.config.sessions
            if len(mine) != expected or len(response.sessions) != expected:
                raise AssertionError(
                    f"listed {len(response.sessions)} sessions ({len(mine)} of this subject), "
                    f"expected {expected}"
                )

        subject.creates = create
        subject.listing = {"list_sessions": _OpSpec(list_all)}

        async def throughput_distinct() -> None:
            writers = [f"writer-{j}" for j in range(self.config.writers)]
            sessions = [
                await service.create_session(
                    app_name=app, user_id=w, session_id=f"adk-writer-{adk.name}"
                )
                for w in writers
            ]
            outcome = await self._concurrent(
                lambda j, i: service.append_event(
                    sessions[j], adk_event(i, state_delta={"n": i, "user:n": i})
                )
            )
            stored = 0
            for w, session in zip(writers, sessions, strict=True):
                reloaded = await service.get_session(app_name=app, user_id=w, session_id=session.id)
                stored += len(reloaded.events) if reloaded is not None else 0
            self._record_throughput(subject, "throughput_distinct", outcome, stored)

        subject.once = [
            ("throughput_distinct", throughput_distinct),
        ]
        return subject

    # -- orchestration -----------------------------------------------------------

    def _layer_steps(self, subjects: list[_Subject]) -> list[Step]:
        if not subjects:
            return []
        layer = subjects[0].layer
        steps: list[Step] = []
        for subject in subjects:
            steps.append(
                (
                    f"{layer} {subject.name}: setup",
                    self._guard(subject, "setup", None, subject.setup, fatal=True),
                )
            )
        for history in self.config.histories:
            for subject in subjects:

                async def fill(subject: _Subject = subject, history: int = history) -> None:
                    await subject.fill(history)

                steps.append(
                    (
                        f"{layer} {subject.name}: build a history of {history:,}",
                        self._guard(subject, "fill", history, fill, fatal=True),
                    )
                )
            for op in OPS[layer]:
                if any(op in s.ops for s in subjects):
                    steps.append(self._interleaved(subjects, op, history))
        if any(s.prepare_sizes is not None for s in subjects):
            steps.append(self._partial_loads(subjects))
        if any(s.creates is not None for s in subjects):
            steps.append(self._create_all(subjects))
        for op in OPS[layer]:
            if any(op in s.listing for s in subjects):
                steps.append(
                    self._interleaved(
                        subjects, op, self.config.sessions, lambda subject: subject.listing
                    )
                )
        for subject in subjects:
            for op, body in subject.once:
                steps.append(
                    (
                        f"{layer} {subject.name}: {OP_LABELS.get(op, op)}",
                        self._guard(subject, op, None, body),
                    )
                )
        return steps

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
                steps += self._layer_steps([self._store_subject(store)])
            if "openai" in self.config.layers and omni_openai is not None:
                steps += self._layer_steps(
                    [self._openai_subject(s) for s in [omni_openai, *peers.openai]]
                )
            if "adk" in self.config.layers and omni_adk is not None:
                steps += self._layer_steps([self._adk_subject(s) for s in [omni_adk, *peers.adk]])
            progress = Progress(
                len(steps), title=f"bench {self.engine}", enabled=self.config.progress
            )
            for label, step in steps:
                progress.step(label)
                await step()
            progress.finish()
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
        """Delete everything the run wrote in the omnisession store, then close it.

        ``erase_app`` (``Capability.LIFECYCLE``) removes the run's app with its app
        and user scopes; a store without it gets its sessions deleted one by one
        (its scopes stay, and a note says so).
        """
        try:
            if Capability.LIFECYCLE in store.capabilities:
                await cast(LifecycleStore, store).erase_app(self.app)
                return
            self.notes.append(
                f"{type(store).__name__} cannot erase an app (no lifecycle capability): the app "
                f"and user state the run wrote in {self.app!r} stay"
            )
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


async def _noop_fill(target: int) -> None:
    return None


async def _noop() -> None:
    return None


async def _expect(call: Awaitable[list[Any]], count: int) -> None:
    items = await call
    if len(items) != count:
        raise AssertionError(f"expected {count} items, got {len(items)}")


async def _fill_items(
    add: Callable[[list[dict[str, Any]]], Awaitable[None]],
    state: _Subject,
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
