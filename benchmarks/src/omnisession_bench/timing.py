"""Latency sampling, order statistics and a dependency-free progress indicator."""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Progress", "Summary", "percentile", "summarize"]


def percentile(sorted_samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted samples (``fraction`` in (0, 1])."""
    if not sorted_samples:
        raise ValueError("no samples")
    rank = max(1, math.ceil(fraction * len(sorted_samples)))
    return sorted_samples[rank - 1]


@dataclass(frozen=True)
class Summary:
    """Order statistics of one operation, in milliseconds."""

    n: int
    median_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float


def summarize(samples_s: list[float]) -> Summary:
    """Summarise latencies given in seconds."""
    ordered = sorted(samples_s)
    return Summary(
        n=len(ordered),
        median_ms=statistics.median(ordered) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        min_ms=ordered[0] * 1000,
        max_ms=ordered[-1] * 1000,
    )


class Progress:
    """A progress bar on a terminal, one line per step otherwise.

    Writes to ``stream`` (stderr by default) so that ``--json -`` style
    machine output on stdout is never mixed with it.
    """

    def __init__(
        self, total: int, *, title: str, stream: TextIO | None = None, enabled: bool = True
    ):
        self.total = max(total, 1)
        self.done = 0
        self.title = title
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.started = time.perf_counter()

    def step(self, label: str) -> None:
        """Announce the step that starts now."""
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        if self.tty:
            width = 24
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "-" * (width - filled)
            line = f"\r{self.title} [{bar}] {self.done}/{self.total} {elapsed:5.0f}s {label}"
            self.stream.write(line[:160].ljust(160))
        else:
            self.stream.write(
                f"{self.title} [{self.done + 1}/{self.total}] {elapsed:.0f}s {label}\n"
            )
        self.stream.flush()
        self.done += 1

    def finish(self) -> None:
        """Close the bar (a final newline on a terminal)."""
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        if self.tty:
            self.stream.write(f"\r{self.title} done in {elapsed:.0f}s".ljust(160) + "\n")
        else:
            self.stream.write(f"{self.title} done in {elapsed:.0f}s\n")
        self.stream.flush()
