"""Copy between engines (``omnisession copy``, issue 13): throughput, memory, a second run.

For each (source, target) pair, through :mod:`omnisession_bench.copy_measure` (the copy
command's own code, :func:`omnisession.manage.transfer.copy_store`):

- ``bench_copy``: an app of the source is filled with ``sessions`` sessions of
  ``events`` events each (through ``import_session``), then copied three times:
  once under ``tracemalloc`` (the peak of Python memory the copy allocates),
  once untraced after erasing the target (the throughput), and once more onto
  the complete target, which must write nothing: the figures report how many
  sessions, events and scopes that second run wrote. The count check
  (``verify_copy``) runs once, after the untraced copy.
- ``bench_memory``: one session of each length (default 10,000 and 100,000
  events) is copied under ``tracemalloc``; a copy holds one page of events at
  a time, so the peak must not grow with the history.

Each pair works in apps of its own, named after the run, erased from both
stores afterwards.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .copy_measure import COPY_EVENTS, COPY_LENGTHS, COPY_SESSIONS, bench_copy, bench_memory
from .engines import engine_of, redact

__all__ = [
    "COPY_EVENTS",
    "COPY_LENGTHS",
    "COPY_SESSIONS",
    "CopyResult",
    "copy_markdown",
    "copy_text",
    "run_copy",
]


@dataclass
class CopyResult:
    """What one (source, target) pair measured; ``copy`` and ``memory`` as ``asdict`` documents."""

    source: str
    target: str
    route: str
    copy: dict[str, Any] | None = None
    memory: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> CopyResult:
        return cls(**document)

    @property
    def memory_growth(self) -> float | None:
        """Peak memory of the longest single-session copy over the shortest one's."""
        if len(self.memory) < 2:
            return None
        ordered = sorted(self.memory, key=lambda m: m["events"])
        small, large = ordered[0]["peak_memory_bytes"], ordered[-1]["peak_memory_bytes"]
        return large / small if small else None


async def run_copy(
    source_url: str,
    target_url: str,
    *,
    run_id: str,
    sessions: int = COPY_SESSIONS,
    events: int = COPY_EVENTS,
    lengths: Sequence[int] = COPY_LENGTHS,
    progress: bool = True,
) -> CopyResult:
    """Measure copying ``sessions`` x ``events`` and single sessions of ``lengths`` events."""
    result = CopyResult(
        redact(source_url),
        redact(target_url),
        f"{engine_of(source_url)} -> {engine_of(target_url)}",
    )
    started = time.perf_counter()
    if progress:
        print(f"copy {result.route}: {sessions:,} sessions x {events:,} events", file=sys.stderr)
    try:
        measured = await bench_copy(
            source_url,
            target_url,
            sessions=sessions,
            events_per_session=events,
            app=f"omnisession-bench-copy-{run_id}",
        )
        result.copy = dataclasses.asdict(measured)
    except Exception as exc:
        result.errors.append(f"copy of {sessions:,} x {events:,}: {type(exc).__name__}: {exc}")
    if lengths:
        if progress:
            shown = ", ".join(f"{n:,}" for n in lengths)
            print(f"copy {result.route}: one session of {shown} events", file=sys.stderr)
        try:
            found = await bench_memory(
                source_url,
                target_url,
                lengths=lengths,
                app_prefix=f"omnisession-bench-copy-memory-{run_id}",
            )
            result.memory = [dataclasses.asdict(m) for m in found]
        except Exception as exc:
            result.errors.append(f"single-session copies: {type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    return result


def _mib(value: int) -> str:
    return f"{value / 1024 / 1024:.2f} MiB"


def _copy_row(result: CopyResult) -> list[str]:
    c = result.copy
    if c is None:
        return [result.route, "FAILED", "", "", "", "", "", ""]
    second = (
        f"{c['second_run_sessions_written']:,} sessions, {c['second_run_events_written']:,} "
        f"events, {c['second_run_scopes_written']:,} scopes ({c['second_run_seconds']:.1f} s)"
    )
    return [
        result.route,
        f"{c['sessions']:,} x {c['events_per_session']:,} = {c['events']:,}",
        f"{c['copy_seconds']:.1f} s",
        f"{c['events_per_second']:,.0f} events/s ({c['sessions_per_second']:,.0f} sessions/s)",
        _mib(c["peak_memory_bytes"]),
        "ok" if c["verified"] else "MISMATCH",
        second,
        f"{c['fill_seconds']:.1f} s",
    ]


COPY_HEADER = [
    "source -> target",
    "sessions x events",
    "copy",
    "throughput",
    "peak memory (traced copy)",
    "count check",
    "second run wrote",
    "filling the source",
]


def _memory_rows(results: Sequence[CopyResult]) -> tuple[list[str], list[list[str]]]:
    lengths = sorted({m["events"] for r in results for m in r.memory})
    header = [
        "source -> target",
        *(f"one session of {n:,} events" for n in lengths),
        "growth",
    ]
    rows: list[list[str]] = []
    for result in results:
        if not result.memory:
            continue
        by_length = {m["events"]: m for m in result.memory}
        cells = []
        for n in lengths:
            m = by_length.get(n)
            cells.append(
                "" if m is None else f"{_mib(m['peak_memory_bytes'])} ({m['copy_seconds']:.1f} s)"
            )
        growth = result.memory_growth
        rows.append([result.route, *cells, "" if growth is None else f"x{growth:.2f}"])
    return header, rows


def copy_markdown(results: Sequence[CopyResult]) -> list[str]:
    """The RESULTS.md section on copies (empty without results)."""
    if not results:
        return []

    def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
        return out + ["| " + " | ".join(row) + " |" for row in rows]

    lines = [
        "## Copy between engines (`omnisession copy`)",
        "",
        "Measured with `omnisession_bench.copy_measure` (the copy command's own code: streamed, "
        "`concurrency` sessions in flight, one page of events per session). The source app is "
        "filled through `import_session`, then copied three times: under `tracemalloc` (peak "
        "of Python memory the copy allocated), untraced onto an erased target (time and "
        "throughput; the count check runs after it), and again onto the complete target "
        "(what that second run wrote must be 0).",
        "",
        *table(COPY_HEADER, [_copy_row(r) for r in results]),
    ]
    header, rows = _memory_rows(results)
    if rows:
        lines += [
            "",
            "Peak memory of copying ONE session, by history length (traced):",
            "",
            *table(header, rows),
        ]
    for result in results:
        shown = f"{result.source} -> {result.target}"
        lines += ["", f"- `{shown}`: {result.seconds:.0f} s in all"]
        lines += [f"  - FAILED: {e}" for e in result.errors]
    return lines


def copy_text(results: Sequence[CopyResult]) -> str:
    """A short terminal summary of the copies."""
    lines: list[str] = []
    for result in results:
        c = result.copy
        if c is not None:
            lines.append(
                f"copy {result.route}: {c['events']:,} events in {c['copy_seconds']:.1f} s "
                f"({c['events_per_second']:,.0f}/s), peak {_mib(c['peak_memory_bytes'])}, "
                f"count check {'ok' if c['verified'] else 'MISMATCH'}, second run wrote "
                f"{c['second_run_sessions_written']} sessions / {c['second_run_events_written']} "
                f"events / {c['second_run_scopes_written']} scopes"
            )
        for m in sorted(result.memory, key=lambda m: m["events"]):
            lines.append(
                f"copy {result.route}: one session of {m['events']:,} events: peak "
                f"{_mib(m['peak_memory_bytes'])}"
            )
        lines += [f"copy {result.route}: FAILED {e}" for e in result.errors]
    return "\n".join(lines)
