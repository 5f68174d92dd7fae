"""Rendering bench results: aligned text for the terminal, Markdown for RESULTS.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .runner import NEWEST_20, OMNI, OP_LABELS, OPS, EngineReport, Result, op_label

__all__ = [
    "PARTIAL_OPS",
    "Flatness",
    "PartialLoad",
    "flatness",
    "layer_tables",
    "partial_loads",
    "partial_table",
    "render_markdown",
    "render_text",
]

#: ADK partial loads (``GetSessionConfig(num_recent_events=20)``): the service read, and a
#: whole Runner turn that loads the session with it.
PARTIAL_OPS = ("get_session_last20_flat", "runner_turn")

LAYER_TITLES = {
    "store": "omnisession store contract (no framework objects)",
    "openai": "OpenAI Agents sessions (OmniSession vs the SDK's own sessions)",
    "adk": "Google ADK session services (OmniSessionService vs ADK's own services)",
}


@dataclass(frozen=True)
class Flatness:
    """How a newest-20 read grows from the smallest to the largest history."""

    layer: str
    subject: str
    op: str
    small: int
    large: int
    small_ms: float
    large_ms: float

    @property
    def growth(self) -> float:
        return self.large_ms / self.small_ms


def flatness(report: EngineReport) -> list[Flatness]:
    """Newest-20 reads at the smallest vs the largest history, per subject."""
    found: list[Flatness] = []
    histories = report.config.get("histories") or []
    if len(histories) < 2:
        return found
    small, large = min(histories), max(histories)
    index = {
        (r.layer, r.subject, r.op, r.history): r
        for r in report.results
        if r.error is None and r.median_ms is not None
    }
    seen: list[tuple[str, str, str]] = []
    interleaved = {(r.layer, r.subject) for r in report.results if r.op.endswith("_flat")}
    for r in report.results:
        triple = (r.layer, r.subject, r.op)
        if r.op not in NEWEST_20 or triple in seen:
            continue
        if (r.layer, r.subject) in interleaved and not r.op.endswith("_flat"):
            continue  # the interleaved figures of the same reads are the better measure
        seen.append(triple)
        a, b = index.get((*triple, small)), index.get((*triple, large))
        if a is not None and b is not None and a.median_ms and b.median_ms:
            found.append(Flatness(r.layer, r.subject, r.op, small, large, a.median_ms, b.median_ms))
    return found


@dataclass(frozen=True)
class PartialLoad:
    """One ADK subject's partial-load figure at every history size (median ms)."""

    subject: str
    op: str
    medians: tuple[tuple[int, float], ...]

    @property
    def growth(self) -> float:
        """Median at the largest history over the median at the smallest."""
        return self.medians[-1][1] / self.medians[0][1]


def partial_loads(report: EngineReport) -> list[PartialLoad]:
    """ADK reads with ``num_recent_events=20`` and Runner turns, per subject, by history."""
    histories = sorted(report.config.get("histories") or [])
    found: list[PartialLoad] = []
    subjects: list[str] = []
    for r in report.results:
        if r.layer == "adk" and r.subject not in subjects:
            subjects.append(r.subject)
    subjects.sort(key=lambda name: name != OMNI)
    index = {
        (r.subject, r.op, r.history): r.median_ms
        for r in report.results
        if r.layer == "adk" and r.error is None and r.median_ms
    }
    for op in PARTIAL_OPS:
        for subject in subjects:
            medians = tuple(
                (h, index[(subject, op, h)]) for h in histories if (subject, op, h) in index
            )
            if len(medians) >= 2:
                found.append(PartialLoad(subject, op, medians))
    return found


def partial_table(report: EngineReport) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of :func:`partial_loads`: median ms at each history, and the growth."""
    loads = partial_loads(report)
    histories = sorted(report.config.get("histories") or [])
    header = ["subject", "operation", *(f"@{h:,} ms" for h in histories), "growth"]
    rows = []
    for load in loads:
        by_history = dict(load.medians)
        rows.append(
            [
                load.subject,
                OP_LABELS[load.op],
                *(_ms(by_history[h]) if h in by_history else "" for h in histories),
                f"x{load.growth:.2f}",
            ]
        )
    return header, rows


def _latency(result: Result | None) -> str:
    if result is None:
        return ""
    if result.error is not None and result.median_ms is None:
        return "FAILED"
    if result.op.startswith("throughput"):
        text = f"{result.ops_per_s:,.0f} ops/s" if result.ops_per_s else "-"
        if result.median_ms is not None and result.p99_ms is not None:
            text += f" ({result.median_ms:.2f}/{result.p99_ms:.2f})"
        if result.lost_writes:
            text += f" LOST {result.lost_writes}"
        if result.error:
            text += " ERRORS"
        return text
    if result.median_ms is None or result.p99_ms is None:
        return "-"
    return f"{_ms(result.median_ms)} / {_ms(result.p99_ms)}"


def _ms(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def layer_tables(report: EngineReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per layer that has results."""
    ratios = {(q.layer, q.peer, q.op, q.history): q.ratio for q in report.ratios}
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    for layer, ops in OPS.items():
        layer_results = [r for r in report.results if r.layer == layer and r.op in ops]
        if not layer_results:
            continue
        subjects: list[str] = []
        for r in layer_results:
            if r.subject not in subjects:
                subjects.append(r.subject)
        subjects.sort(key=lambda name: name != OMNI)
        peer_names = [s for s in subjects if s != OMNI]
        header = ["operation", "history", *subjects]
        if peer_names:
            header += [f"{p} / omni" for p in peer_names]
        index = {(r.subject, r.op, r.history): r for r in layer_results}
        keys: list[tuple[str, int | None]] = []
        for op in ops:
            for r in layer_results:
                if r.op == op and (op, r.history) not in keys:
                    keys.append((op, r.history))
        rows: list[list[str]] = []
        for op, history in keys:
            label = op_label(op, report.config.get("writers"))
            row = [label, "" if history is None else f"{history:,}"]
            row += [_latency(index.get((s, op, history))) for s in subjects]
            for p in peer_names:
                value = ratios.get((layer, p, op, history))
                row.append("" if value is None else f"{value:.1f}x")
            rows.append(row)
        tables.append((LAYER_TITLES[layer], header, rows))
    return tables


def _errors(report: EngineReport) -> list[str]:
    return [
        f"{r.layer}/{r.subject} {r.op}"
        + (f" @{r.history:,}" if r.history is not None else "")
        + f": {r.error}"
        for r in report.results
        if r.error is not None
    ]


def _describe_config(report: EngineReport) -> str:
    c = report.config
    histories = ", ".join(f"{h:,}" for h in c.get("histories", []))
    return (
        f"histories {histories} events; up to {c.get('reps')} samples per figure "
        f"({c.get('budget_s')} s budget, at least 3); {c.get('writers')} writers x "
        f"{c.get('writes')} writes; list_sessions over {c.get('sessions'):,} sessions"
    )


def _align(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def render_text(report: EngineReport) -> str:
    """The terminal report of one engine."""
    lines = [
        f"omnisession bench {report.url}  (engine: {report.engine}, {report.seconds:.0f} s)",
        _describe_config(report),
        "latency: median / p99 in ms; throughput: ops/s (median/p99 ms per write);",
        "ratio X / omni = peer median / omnisession median (or omnisession ops/s / peer ops/s):",
        "above 1.0x omnisession is faster.",
    ]
    for title, header, rows in layer_tables(report):
        lines += ["", title, *_align(header, rows)]
    flat = flatness(report)
    if flat:
        lines += ["", f"newest-20 reads from {flat[0].small:,} to {flat[0].large:,} events:"]
        for f in flat:
            lines.append(
                f"  {f.layer:6} {f.subject:24} {OP_LABELS[f.op]:24} "
                f"{_ms(f.small_ms):>8} -> {_ms(f.large_ms):>8} ms  (x{f.growth:.2f})"
            )
    header, rows = partial_table(report)
    if rows:
        lines += ["", "ADK partial loads (GetSessionConfig(num_recent_events=20)):"]
        lines += ["  " + line for line in _align(header, rows)]
    errors = _errors(report)
    if errors:
        lines += ["", "failures:", *(f"  {e}" for e in errors)]
    if report.notes:
        lines += ["", "notes:", *(f"  {n}" for n in report.notes)]
    return "\n".join(lines)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def render_markdown(report: EngineReport) -> str:
    """One engine's section of ``benchmarks/RESULTS.md``."""
    lines = [
        f"### {report.engine}: `{report.url}`",
        "",
        f"{_describe_config(report)}; run took {report.seconds:.0f} s.",
    ]
    for title, header, rows in layer_tables(report):
        lines += ["", f"**{title}** (median / p99 ms)", "", *_md_table(header, rows)]
    flat = flatness(report)
    if flat:
        lines += ["", f"Newest-20 reads, {flat[0].small:,} -> {flat[0].large:,} events:", ""]
        lines += _md_table(
            [
                "layer",
                "subject",
                "read",
                f"@{flat[0].small:,} ms",
                f"@{flat[0].large:,} ms",
                "growth",
            ],
            [
                [
                    f.layer,
                    f.subject,
                    OP_LABELS[f.op],
                    _ms(f.small_ms),
                    _ms(f.large_ms),
                    f"x{f.growth:.2f}",
                ]
                for f in flat
            ],
        )
    header, rows = partial_table(report)
    if rows:
        lines += [
            "",
            "ADK partial loads: `get_session` with `GetSessionConfig(num_recent_events=20)`, and a "
            "whole Runner turn with `RunConfig(get_session_config=...)` of the same config "
            "(median ms):",
            "",
            *_md_table(header, rows),
        ]
    errors = _errors(report)
    if errors:
        lines += ["", "Failures:", "", *(f"- {e}" for e in errors)]
    if report.notes:
        lines += ["", "Notes:", "", *(f"- {n}" for n in report.notes)]
    return "\n".join(lines)
