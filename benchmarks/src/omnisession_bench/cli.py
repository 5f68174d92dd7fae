"""``omnisession bench``: run, print, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from . import __version__
from .environment import machine, versions
from .report import flatness, partial_loads, render_text
from .runner import LAYERS, OMNI, BenchConfig, EngineReport, histories_for, run_bench

__all__ = ["bench_main", "report_document"]


def report_document(report: EngineReport) -> dict[str, Any]:
    """The JSON document ``--json`` writes for one engine."""
    document: dict[str, Any] = {
        "omnisession_bench": __version__,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "versions": versions(),
    }
    document.update(report.to_dict())
    document["flatness"] = [
        {
            "layer": f.layer,
            "subject": f.subject,
            "op": f.op,
            "small_history": f.small,
            "large_history": f.large,
            "small_ms": f.small_ms,
            "large_ms": f.large_ms,
            "growth": f.growth,
        }
        for f in flatness(report)
    ]
    document["partial_loads"] = [
        {
            "subject": load.subject,
            "op": load.op,
            "median_ms": {str(history): ms for history, ms in load.medians},
            "growth": load.growth,
        }
        for load in partial_loads(report)
    ]
    return document


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """A :class:`BenchConfig` from the parsed ``omnisession bench`` options."""
    if args.histories:
        histories = sorted(
            {int(h.replace("_", "")) for h in args.histories.split(",") if h.strip()}
        )
        if not histories or histories[0] < 1:
            raise ValueError("--histories needs positive sizes")
    else:
        histories = histories_for(args.events)
    layers = tuple(part.strip() for part in args.layers.split(",") if part.strip())
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layer(s) {sorted(unknown)}; choose from {', '.join(LAYERS)}")
    for name in ("reps", "writers", "writes", "sessions"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be positive")
    return BenchConfig(
        histories=histories,
        reps=args.reps,
        budget_s=args.budget,
        writers=args.writers,
        writes=args.writes,
        sessions=args.sessions,
        compare=args.compare,
        layers=layers,
        progress=not args.quiet,
    )


def bench_main(args: argparse.Namespace) -> int:
    """Handler of ``omnisession bench``; exit 1 when an omnisession operation failed."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"omnisession bench: {exc}", file=sys.stderr)
        return 2
    report = asyncio.run(run_bench(args.url, config))
    text = render_text(report)
    if args.json == "-":
        print(text, file=sys.stderr)
        json.dump(report_document(report), sys.stdout, indent=2)
        print()
    else:
        print(text)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(report_document(report), handle, indent=2)
                handle.write("\n")
    own_failures = [r for r in report.results if r.subject == OMNI and r.error is not None]
    return 1 if own_failures else 0
