"""How fast a copy runs and how much memory it needs: :func:`bench_copy`, :func:`bench_memory`.

For ``make bench`` (and anyone sizing a migration)::

    python -m omnisession_bench.copy_measure SRC_URL DST_URL --sessions 1000 --events 100
    python -m omnisession_bench.copy_measure SRC_URL DST_URL --memory 10000,100000

:func:`bench_copy` fills an app of the source with N sessions of M events
(through ``import_session``, in batches), then copies it three times:

1. under ``tracemalloc``, for the peak of Python memory the copy allocates;
2. after ``erase_app`` of the target, untraced, for the throughput;
3. again onto the complete target, which must write nothing (and is timed).

and runs the count check once. :func:`bench_memory` copies one session of
each given length and reports each copy's peak, which must not grow with the
length of the history (a copy holds one page of events at a time).

Both need sources and targets with ``Capability.LIFECYCLE`` (the source is
filled, the target erased); each works in an app of its own
(``app=``, default ``bench-copy``; ``app_prefix=``, default ``bench-memory``,
+ ``-M``), erased from both stores at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, TypeVar, cast

from omnisession import Capability, Event, LifecycleStore, SessionKey, Unsupported, open_store
from omnisession.manage.transfer import (
    DEFAULT_CONCURRENCY,
    DEFAULT_PAGE_SIZE,
    CopyReport,
    copy_store,
    verify_copy,
)

from .engines import redact

__all__ = [
    "COPY_EVENTS",
    "COPY_LENGTHS",
    "COPY_SESSIONS",
    "CopyBench",
    "MemoryBench",
    "bench_copy",
    "bench_memory",
    "main",
]

COPY_SESSIONS = 1000
COPY_EVENTS = 100
"""Events per session: 1,000 sessions x 100 = 100,000 events."""
COPY_LENGTHS = (10_000, 100_000)
"""The single sessions whose copy's memory peak is compared."""

_FILL_BATCH = 1000
_T = TypeVar("_T")


@dataclass(frozen=True)
class CopyBench:
    """What :func:`bench_copy` measured."""

    source: str
    target: str
    sessions: int
    events_per_session: int
    events: int
    payload_bytes: int
    concurrency: int
    fill_seconds: float
    copy_seconds: float
    """The untraced copy (run 2)."""
    events_per_second: float
    sessions_per_second: float
    traced_copy_seconds: float
    peak_memory_bytes: int
    """Peak of Python memory allocated during the traced copy (tracemalloc)."""
    verify_seconds: float
    verified: bool
    second_run_seconds: float
    second_run_sessions_written: int
    second_run_events_written: int
    second_run_scopes_written: int


@dataclass(frozen=True)
class MemoryBench:
    """The peak memory of copying one session of ``events`` events."""

    events: int
    peak_memory_bytes: int
    copy_seconds: float


def _payload(index: int, size: int) -> dict[str, Any]:
    return {"role": "user" if index % 2 else "assistant", "n": index, "content": "x" * size}


async def _fill(
    store: LifecycleStore, app: str, sessions: int, events: int, payload_bytes: int
) -> None:
    """``sessions`` sessions of ``events`` events in ``app`` (emptied first), in batches."""
    await store.erase_app(app)
    start = 1_700_000_000.0
    for number in range(sessions):
        key = SessionKey(app, f"user-{number % 100}", f"session-{number}")
        written = 0
        while True:
            batch = [
                Event(
                    seq,
                    start + seq,
                    _payload(seq, payload_bytes),
                    {"step": seq} if seq % 10 == 0 else None,
                )
                for seq in range(written + 1, min(events, written + _FILL_BATCH) + 1)
            ]
            await store.import_session(
                key,
                batch,
                state={"step": events},
                created_at=start,
                updated_at=start + events,
                base_state={},
            )
            written += len(batch)
            if written >= events:
                break


async def _traced(work: Awaitable[Any]) -> tuple[int, float]:
    """Run ``work`` under ``tracemalloc``: the peak of Python memory it allocated, and its time."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    try:
        await work
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, time.perf_counter() - started


async def _timed(work: Awaitable[_T]) -> tuple[_T, float]:
    started = time.perf_counter()
    result = await work
    return result, time.perf_counter() - started


def _copy_app(
    source: LifecycleStore, target: LifecycleStore, app: str, page_size: int, concurrency: int
) -> Awaitable[CopyReport]:
    """One copy of ``app``, without the count check (timed apart)."""
    return copy_store(
        source, target, apps=[app], page_size=page_size, verify=False, concurrency=concurrency
    )


@asynccontextmanager
async def _stores(
    source_url: str, target_url: str
) -> AsyncIterator[tuple[LifecycleStore, LifecycleStore]]:
    """Both stores; each must erase an app (the source is filled, the target emptied)."""
    async with open_store(source_url) as source, open_store(target_url) as target:
        for url, store in ((source_url, source), (target_url, target)):
            if Capability.LIFECYCLE not in store.capabilities:
                raise Unsupported(f"{redact(url)} cannot erase an app, which the copy bench needs")
        yield cast(LifecycleStore, source), cast(LifecycleStore, target)


async def bench_copy(
    source_url: str,
    target_url: str,
    *,
    sessions: int = COPY_SESSIONS,
    events_per_session: int = COPY_EVENTS,
    payload_bytes: int = 200,
    page_size: int = DEFAULT_PAGE_SIZE,
    app: str = "bench-copy",
    cleanup: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> CopyBench:
    """Fill ``app`` of the source with ``sessions`` x ``events_per_session`` events, copy it."""
    async with _stores(source_url, target_url) as (source, target):

        def copy() -> Awaitable[CopyReport]:
            return _copy_app(source, target, app, page_size, concurrency)

        _, fill_seconds = await _timed(
            _fill(source, app, sessions, events_per_session, payload_bytes)
        )
        try:
            await target.erase_app(app)
            peak, traced_seconds = await _traced(copy())
            await target.erase_app(app)
            _, copy_seconds = await _timed(copy())
            verification, verify_seconds = await _timed(
                verify_copy(source, target, apps=[app], concurrency=concurrency)
            )
            second, second_seconds = await _timed(copy())
        finally:
            if cleanup:
                await target.erase_app(app)
                await source.erase_app(app)
    events = sessions * events_per_session
    return CopyBench(
        source=redact(source_url),
        target=redact(target_url),
        sessions=sessions,
        events_per_session=events_per_session,
        events=events,
        payload_bytes=payload_bytes,
        concurrency=concurrency,
        fill_seconds=fill_seconds,
        copy_seconds=copy_seconds,
        events_per_second=events / copy_seconds if copy_seconds else 0.0,
        sessions_per_second=sessions / copy_seconds if copy_seconds else 0.0,
        traced_copy_seconds=traced_seconds,
        peak_memory_bytes=peak,
        verify_seconds=verify_seconds,
        verified=verification.ok,
        second_run_seconds=second_seconds,
        second_run_sessions_written=second.sessions_written,
        second_run_events_written=second.events_written,
        second_run_scopes_written=second.scopes_written,
    )


async def bench_memory(
    source_url: str,
    target_url: str,
    *,
    lengths: Sequence[int] = COPY_LENGTHS,
    payload_bytes: int = 200,
    page_size: int = DEFAULT_PAGE_SIZE,
    cleanup: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    app_prefix: str = "bench-memory",
) -> list[MemoryBench]:
    """The traced peak memory of copying one session of each length in ``lengths``.

    Each length works in its own app, ``f"{app_prefix}-{length}"`` (pass a run-unique
    prefix on a shared server)."""
    results = []
    async with _stores(source_url, target_url) as (source, target):
        for length in lengths:
            app = f"{app_prefix}-{length}"
            await _fill(source, app, 1, length, payload_bytes)
            try:
                await target.erase_app(app)
                peak, seconds = await _traced(
                    _copy_app(source, target, app, page_size, concurrency)
                )
            finally:
                if cleanup:
                    await target.erase_app(app)
                    await source.erase_app(app)
            results.append(MemoryBench(length, peak, seconds))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m omnisession_bench.copy_measure", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", metavar="SRC")
    parser.add_argument("target", metavar="DST")
    parser.add_argument("--sessions", type=int, default=COPY_SESSIONS)
    parser.add_argument("--events", type=int, default=COPY_EVENTS, help="events per session")
    parser.add_argument("--payload-bytes", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument(
        "--memory",
        metavar="N,N,...",
        help="instead: the peak memory of copying one session of each of these lengths",
    )
    args = parser.parse_args(argv)
    if args.memory:
        lengths = [int(part) for part in args.memory.split(",") if part.strip()]
        found: Any = asyncio.run(
            bench_memory(
                args.source,
                args.target,
                lengths=lengths,
                payload_bytes=args.payload_bytes,
                page_size=args.page_size,
                concurrency=args.concurrency,
            )
        )
        document: Any = [asdict(result) for result in found]
    else:
        result = asyncio.run(
            bench_copy(
                args.source,
                args.target,
                sessions=args.sessions,
                events_per_session=args.events,
                payload_bytes=args.payload_bytes,
                page_size=args.page_size,
                concurrency=args.concurrency,
            )
        )
        document = asdict(result)
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
