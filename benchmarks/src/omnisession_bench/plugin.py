"""The ``omnisession demo`` and ``omnisession bench`` commands (entry point ``bench``)."""

from __future__ import annotations

import argparse
from typing import Any

from omnisession import hookimpl

DEFAULT_DEMO_URL = "sqlite:///./omnisession-demo.db"


@hookimpl
def omnisession_register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="an ADK agent and an OpenAI Agents agent sharing one store (offline)",
        description=(
            "Runs a Google ADK agent and an OpenAI Agents agent, each with a scripted offline "
            "model, on one omnisession store: user state set at session creation, an ADK "
            "instruction template, a tool writing a user: preference, and the OpenAI agent "
            "continuing in its own session of the same user. Run it twice: the second run "
            "continues from what the first stored."
        ),
    )
    demo.add_argument(
        "--url", default=DEFAULT_DEMO_URL, help=f"store URL (default {DEFAULT_DEMO_URL})"
    )
    demo.add_argument(
        "--live",
        action="store_true",
        help="use real models: Gemini when GOOGLE_API_KEY is set, OpenAI when OPENAI_API_KEY is",
    )
    demo.set_defaults(handler=_run_demo)

    bench = subparsers.add_parser(
        "bench",
        help="latency and throughput of a store, optionally against the frameworks' own stores",
        description=(
            "Median and p99 latency of every store operation at several history sizes, and "
            "throughput with concurrent writers. --compare runs the frameworks' own session "
            "stores on the same engine in the same run and prints peer/omnisession ratios. "
            "The run works in an app of its own (omnisession-bench-<run id>) and erases it "
            "afterwards (erase_app: its sessions, app and user state) on every store with the "
            "lifecycle capability; on a store without it, the sessions are deleted and the "
            "user and app state stay."
        ),
    )
    bench.add_argument(
        "url", help="store URL, e.g. sqlite:///bench.db or postgresql://root@127.0.0.1/test"
    )
    bench.add_argument(
        "--compare",
        action="store_true",
        help="also run OpenAI Agents' and ADK's own stores on the same engine",
    )
    bench.add_argument(
        "--events",
        type=int,
        default=100_000,
        metavar="N",
        help="largest history; histories are 100, 10,000, 100,000 below N, and N (default 100000)",
    )
    bench.add_argument(
        "--histories",
        metavar="H1,H2,...",
        help="explicit history sizes instead of --events, e.g. 100,1000",
    )
    bench.add_argument(
        "--json", metavar="PATH", help="write machine-readable results (- for stdout)"
    )
    bench.add_argument("--reps", type=int, default=100, help="samples per figure (default 100)")
    bench.add_argument(
        "--budget",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="time budget per figure; slow figures stop early, with at least 3 samples (default 2)",
    )
    bench.add_argument("--writers", type=int, default=32, help="concurrent writers (default 32)")
    bench.add_argument("--writes", type=int, default=20, help="writes per writer (default 20)")
    bench.add_argument(
        "--sessions", type=int, default=1000, help="sessions created and listed (default 1000)"
    )
    bench.add_argument(
        "--layers",
        default="store,openai,adk",
        help="what to measure: store (the contract), openai, adk (default all three)",
    )
    bench.add_argument("--quiet", action="store_true", help="no progress output")
    bench.set_defaults(handler=_run_bench)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo_cli

    return run_demo_cli(args.url, live=args.live)


def _run_bench(args: argparse.Namespace) -> int:
    from .cli import bench_main

    return bench_main(args)
