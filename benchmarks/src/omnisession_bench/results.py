"""``make bench``: run ``omnisession bench --compare`` on every reachable engine, write RESULTS.md.

    python -m omnisession_bench.results [--events N] [--url URL ...] [--copy SRC DST ...]
                                        [--out PATH] [--json PATH]

Default engines: SQLite (a temporary file), PostgreSQL
(``postgresql://root@127.0.0.1/test``), MariaDB/MySQL
(``mysql://root@127.0.0.1/test``), Redis (``redis://127.0.0.1:6379/0``) and
``memory://`` (against ADK's ``InMemorySessionService``); a server that does
not answer on its port is skipped with a note. ``--url`` (repeatable) or
``OMNISESSION_BENCH_URLS`` (space-separated) replace the list, e.g. to add
``dynamodb://TABLE?region=...&endpoint_url=http://127.0.0.1:PORT`` (its
``endpoint_url`` is what is probed). The Markdown report states the machine, the
versions of everything involved, and appends ``benchmarks/ANALYSIS.md`` (the
hand-written reading of the figures) when it exists.

After the engines, copies between engines (:mod:`omnisession_bench.copying`):
by default a SQLite file -> PostgreSQL and PostgreSQL -> Redis, 1,000 sessions
x 100 events each plus single sessions of 10,000 and 100,000 events; ``--copy
SRC DST`` (repeatable) replaces the pairs, ``--no-copy`` skips them. With
``--url`` (or ``OMNISESSION_BENCH_URLS``) only the ``--copy`` pairs given run.

With the default sizes (histories of 100, 10,000 and 100,000 events, 1,000
listed sessions, 32 writers) the five engines take about 10 minutes on a
2-core machine (17 minutes while other jobs loaded it); ``--events N`` sets a
smaller largest history. ``--from-json benchmarks/results.json`` re-renders
RESULTS.md without running anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .cli import report_document
from .copying import COPY_EVENTS, COPY_LENGTHS, COPY_SESSIONS, CopyResult, copy_markdown, copy_text
from .copying import run_copy as run_copy_pair
from .engines import engine_of, redact
from .environment import machine, versions
from .report import flatness, partial_table, render_markdown, render_text
from .runner import OP_LABELS, BenchConfig, EngineReport, Ratio, Result, histories_for, run_bench

__all__ = ["default_urls", "main", "summary_rows"]

HERE = Path(__file__).resolve().parents[2]  # benchmarks/

DEFAULT_SERVER_URLS = (
    "postgresql://root@127.0.0.1:5432/test",
    "mysql://root@127.0.0.1:3306/test",
    "redis://127.0.0.1:6379/0",
)

#: The figures the issues set targets for: (layer, peer, op).
KEY_FIGURES = (
    ("openai", "SQLAlchemySession", "add_items"),
    ("openai", "SQLAlchemySession", "get_items_20"),
    ("openai", "RedisSession", "add_items"),
    ("openai", "RedisSession", "get_items_20"),
    ("openai", "SQLiteSession", "add_items"),
    ("openai", "SQLiteSession", "get_items_20"),
    ("openai", "AsyncSQLiteSession", "add_items"),
    ("openai", "AsyncSQLiteSession", "get_items_20"),
    ("openai", "AdvancedSQLiteSession", "add_items"),
    ("openai", "AdvancedSQLiteSession", "get_items_20"),
    ("adk", "DatabaseSessionService", "append_event"),
    ("adk", "DatabaseSessionService", "get_session_last20"),
    ("adk", "SqliteSessionService", "append_event"),
    ("adk", "SqliteSessionService", "get_session_last20"),
    ("adk", "RedisSessionService", "append_event"),
    ("adk", "RedisSessionService", "get_session_last20"),
    ("adk", "InMemorySessionService", "get_session_full"),
)


def _reachable(url: str) -> bool:
    """Whether something answers on the URL's port (or its ``endpoint_url``'s, for AWS)."""
    parts = urlsplit(url)
    endpoint = parse_qs(parts.query).get("endpoint_url")
    if endpoint:
        parts = urlsplit(endpoint[0])
    if not parts.hostname or not parts.port:
        return True
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1.0):
            return True
    except OSError:
        return False


def default_urls(workdir: str) -> list[str]:
    """SQLite in ``workdir``, the servers of :data:`DEFAULT_SERVER_URLS`, memory://."""
    return [f"sqlite:///{workdir}/omnisession-bench.db", *DEFAULT_SERVER_URLS, "memory://"]


def default_copy_pairs(workdir: str) -> list[tuple[str, str]]:
    """SQLite (a file in ``workdir``) -> PostgreSQL, and PostgreSQL -> Redis."""
    postgresql, _, redis = DEFAULT_SERVER_URLS
    return [(f"sqlite:///{workdir}/omnisession-copy-source.db", postgresql), (postgresql, redis)]


async def _server_version(url: str) -> str | None:
    engine = engine_of(url)
    try:
        if engine in ("postgresql", "mysql"):
            from sqlalchemy import text
            from sqlalchemy.engine import make_url
            from sqlalchemy.ext.asyncio import create_async_engine

            driver = "postgresql+asyncpg" if engine == "postgresql" else "mysql+asyncmy"
            sql_engine = create_async_engine(make_url(url).set(drivername=driver))
            try:
                async with sql_engine.connect() as conn:
                    value = (await conn.execute(text("SELECT version()"))).scalar()
            finally:
                await sql_engine.dispose()
            return str(value).split(" on ")[0].split(",")[0]
        if engine == "redis":
            import redis.asyncio as redis_asyncio

            client = redis_asyncio.from_url(urlsplit(url)._replace(query="").geturl())
            try:
                info = await client.info("server")
            finally:
                await client.aclose()
            return f"Redis {info.get('redis_version')}"
    except Exception as exc:
        return f"unknown ({type(exc).__name__})"
    return None


def summary_rows(reports: list[EngineReport]) -> list[list[str]]:
    """The targeted figures: engine, peer, operation, ratio at each history."""
    rows: list[list[str]] = []
    for report in reports:
        for layer, peer, op in KEY_FIGURES:
            found = [r for r in report.ratios if (r.layer, r.peer, r.op) == (layer, peer, op)]
            if not found:
                continue
            found.sort(key=lambda r: r.history or 0)
            cells = ", ".join(
                f"{r.ratio:.1f}x @{r.history:,}" if r.history else f"{r.ratio:.1f}x" for r in found
            )
            rows.append([report.engine, peer, OP_LABELS[op], cells])
    return rows


def _markdown(
    reports: list[EngineReport],
    skipped: list[str],
    environment: dict[str, Any],
    server_versions: dict[str, str],
    command: str,
    copies: list[CopyResult],
) -> str:
    lines = [
        "# omnisession benchmark results",
        "",
        f"Generated by `make bench` (`{command}`) on {environment['generated']} in "
        f"{environment.get('seconds', 0) / 60:.0f} minutes; the raw figures are in "
        "[results.json](results.json).",
        "",
        "## Machine and versions",
        "",
    ]
    m = environment["machine"]
    lines.append(
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}"
    )
    for name, version in environment["versions"].items():
        lines.append(f"- {name} {version}")
    for engine, version in server_versions.items():
        lines.append(f"- {engine} server: {version}")
    lines += [
        "",
        "## How to read this",
        "",
        "- Latency cells are `median / p99` in milliseconds, measured one call at a time on a "
        "session that holds the stated history. Throughput cells are writes per second with "
        "the given number of concurrent writers (the median/p99 latency of each write in "
        "parentheses); `LOST n` means writes that returned but are not in the history.",
        "- `X / omni` is the ratio peer / omnisession: the peer's median over omnisession's "
        "(for throughput: omnisession's writes/s over the peer's). 3.0x means omnisession is "
        "three times faster; below 1.0x it is slower.",
        "- Each implementation runs on the same engine in the same run. Histories are built "
        "fast: OpenAI sessions through their own `add_items` in batches of 1,000; ADK "
        "services by appending one real event through the service and bulk-copying its stored "
        "row (or object) in the service's own table (or in-memory session, or the one JSON "
        "document per session of `RedisSessionService`).",
        "- ADK partial loads: `get_session` with `GetSessionConfig(num_recent_events=20)`, and "
        "one whole `Runner.run_async` turn (the user's message and an offline model's reply: two "
        "appended events) with `RunConfig(get_session_config=GetSessionConfig("
        "num_recent_events=20))`, each measured on one session per history size with the sizes "
        "and the subjects alternating (at most 30 turns per size); the model checks it was sent "
        "at most 20 "
        "history events plus the new message.",
        "- Up to 100 samples per figure, fewer for slow ones (a 2 s budget per figure, at "
        "least 3 samples, or 1 when a single call takes more than 10 budgets); p99 of few "
        "samples is their maximum.",
        "- Figures are wall-clock. Load average of the machine (1 min) when the run started: "
        f"{environment['load'][0]:.1f}, when it ended: {environment['load'][1]:.1f} "
        f"({m['cores']} cores); other processes shared the CPU when these exceed the core count.",
    ]
    if skipped:
        lines += ["", "Skipped engines:", "", *(f"- {s}" for s in skipped)]
    rows = summary_rows(reports)
    if rows:
        lines += [
            "",
            "## Targeted figures (peer / omnisession)",
            "",
            "| engine | peer | operation | ratio |",
            "|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(row)} |" for row in rows]
    flat_rows = [
        (report.engine, f)
        for report in reports
        for f in flatness(report)
        if f.subject == "omnisession"
    ]
    if flat_rows:
        lines += [
            "",
            "## Newest-20 reads of omnisession, smallest to largest history",
            "",
            "| engine | layer | read | small | large | growth |",
            "|---|---|---|---|---|---|",
        ]
        for engine, f in flat_rows:
            lines.append(
                f"| {engine} | {f.layer} | {OP_LABELS[f.op]} | {f.small_ms:.2f} ms @{f.small:,} "
                f"| {f.large_ms:.2f} ms @{f.large:,} | x{f.growth:.2f} |"
            )
    partial_rows = [(report.engine, row) for report in reports for row in partial_table(report)[1]]
    if partial_rows:
        histories = sorted({h for report in reports for h in report.config.get("histories", [])})
        lines += [
            "",
            "## ADK partial loads: `GetSessionConfig(num_recent_events=20)` by history length",
            "",
            "The service's `get_session` with the config, and a whole Runner turn that loads the "
            "session with it (median ms; growth = largest history / smallest):",
            "",
            "| engine | subject | operation | "
            + " | ".join(f"@{h:,}" for h in histories)
            + " | growth |",
            "|" + "---|" * (len(histories) + 4),
        ]
        for engine, row in partial_rows:
            lines.append(f"| {engine} | {' | '.join(row)} |")
    if copies:
        lines += ["", *copy_markdown(copies)]
    lines += ["", "## Per engine", ""]
    for report in reports:
        lines += [render_markdown(report), ""]
    analysis = HERE / "ANALYSIS.md"
    if analysis.exists():
        lines += ["", analysis.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


async def _run_all(urls: list[str], config: BenchConfig) -> tuple[list[EngineReport], list[str]]:
    reports: list[EngineReport] = []
    skipped: list[str] = []
    for position, url in enumerate(urls, 1):
        if not _reachable(url):
            skipped.append(f"{redact(url)}: nothing answers on its port")
            print(f"[{position}/{len(urls)}] skip {redact(url)}: unreachable", file=sys.stderr)
            continue
        print(f"[{position}/{len(urls)}] {redact(url)}", file=sys.stderr)
        try:
            report = await run_bench(url, config)
        except Exception as exc:
            skipped.append(f"{redact(url)}: {type(exc).__name__}: {exc}")
            print(f"  failed: {exc}", file=sys.stderr)
            continue
        print(render_text(report), file=sys.stderr)
        reports.append(report)
    return reports, skipped


async def _copy_all(
    pairs: list[tuple[str, str]],
    skipped: list[str],
    *,
    sessions: int,
    events: int,
    lengths: list[int],
    progress: bool,
) -> list[CopyResult]:
    import uuid

    run_id = uuid.uuid4().hex[:8]
    results: list[CopyResult] = []
    for source, target in pairs:
        down = [url for url in (source, target) if not _reachable(url)]
        if down:
            skipped.append(
                f"copy {redact(source)} -> {redact(target)}: nothing answers on the port of "
                + ", ".join(redact(url) for url in down)
            )
            continue
        result = await run_copy_pair(
            source,
            target,
            run_id=run_id,
            sessions=sessions,
            events=events,
            lengths=lengths,
            progress=progress,
        )
        if progress:
            print(copy_text([result]), file=sys.stderr)
        results.append(result)
    return results


def _report_from_document(document: dict[str, Any]) -> EngineReport:
    """An :class:`EngineReport` back from its ``results.json`` document."""
    return EngineReport(
        url=document["url"],
        engine=document["engine"],
        run_id=document["run_id"],
        config=document["config"],
        results=[Result(**r) for r in document["results"]],
        ratios=[Ratio(**q) for q in document["ratios"]],
        notes=document["notes"],
        seconds=document["seconds"],
    )


def _write(out: str, json_path: str | None, run: dict[str, Any]) -> None:
    reports = [_report_from_document(d) for d in run["engines"]]
    copies = [CopyResult.from_dict(d) for d in run.get("copies", [])]
    environment = {k: run[k] for k in ("generated", "machine", "versions", "load", "seconds")}
    Path(out).write_text(
        _markdown(reports, run["skipped"], environment, run["servers"], run["command"], copies),
        encoding="utf-8",
    )
    if json_path:
        Path(json_path).write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m omnisession_bench.results")
    parser.add_argument("--url", action="append", help="engine URL (repeatable)")
    parser.add_argument("--events", type=int, default=100_000, help="largest history")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--json", default=str(HERE / "results.json"))
    parser.add_argument(
        "--from-json",
        metavar="PATH",
        help="do not run: render --out again from a results.json (e.g. after editing ANALYSIS.md)",
    )
    parser.add_argument(
        "--copy",
        nargs=2,
        action="append",
        metavar=("SRC", "DST"),
        help="measure copying SRC to DST (repeatable; default: sqlite -> postgresql -> redis)",
    )
    parser.add_argument("--no-copy", action="store_true", help="measure no copies")
    parser.add_argument(
        "--copy-sessions", type=int, default=COPY_SESSIONS, help="sessions of the copied app"
    )
    parser.add_argument(
        "--copy-events", type=int, default=COPY_EVENTS, help="events per copied session"
    )
    parser.add_argument(
        "--copy-lengths",
        default=",".join(str(n) for n in COPY_LENGTHS),
        metavar="N,N,...",
        help="single-session copies whose peak memory is compared (default 10000,100000)",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.from_json:
        run = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        _write(args.out, None, run)
        print(f"wrote {args.out} from {args.from_json}", file=sys.stderr)
        return 0
    config = BenchConfig(
        histories=histories_for(args.events),
        reps=args.reps,
        budget_s=args.budget,
        sessions=args.sessions,
        compare=True,
        progress=not args.quiet,
    )
    lengths = [int(part.replace("_", "")) for part in args.copy_lengths.split(",") if part.strip()]
    with tempfile.TemporaryDirectory(prefix="omnisession-bench-") as workdir:
        env_urls = os.environ.get("OMNISESSION_BENCH_URLS", "").split()
        urls = args.url or env_urls or default_urls(workdir)
        if args.no_copy:
            pairs: list[tuple[str, str]] = []
        elif args.copy:
            pairs = [(source, target) for source, target in args.copy]
        else:
            pairs = [] if (args.url or env_urls) else default_copy_pairs(workdir)
        started = time.perf_counter()
        measured_versions = versions()  # before the run: the code that is measured
        load_before = os.getloadavg()[0]
        reports, skipped = asyncio.run(_run_all(urls, config))
        copies = asyncio.run(
            _copy_all(
                pairs,
                skipped,
                sessions=args.copy_sessions,
                events=args.copy_events,
                lengths=lengths,
                progress=not args.quiet,
            )
        )
        load_after = os.getloadavg()[0]
        server_versions: dict[str, str] = {}
        for report_url in urls:
            if _reachable(report_url):
                version = asyncio.run(_server_version(report_url))
                if version:
                    server_versions[engine_of(report_url)] = version
    command = "python -m omnisession_bench.results" + (
        f" --events {args.events}" if args.events != 100_000 else ""
    )
    run = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": command,
        "machine": machine(),
        "versions": measured_versions,
        "load": [load_before, load_after],
        "servers": server_versions,
        "skipped": skipped,
        "seconds": time.perf_counter() - started,
        "engines": [report_document(report) for report in reports],
        "copies": [copy.to_dict() for copy in copies],
    }
    _write(args.out, args.json, run)
    print(
        f"wrote {args.out} and {args.json} ({len(reports)} engines, {run['seconds']:.0f} s)",
        file=sys.stderr,
    )
    failed_copies = [c for c in copies if c.errors]
    return 0 if reports and not failed_copies else 1


if __name__ == "__main__":
    sys.exit(main())
