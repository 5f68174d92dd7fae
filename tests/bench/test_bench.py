"""`omnisession bench` through the real CLI, at tiny sizes: the JSON it writes and its ratios."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from omnisession import open_store
from omnisession.cli import main
from omnisession_bench.runner import OPS

TINY = ["--sessions", "10", "--reps", "4", "--writers", "4", "--writes", "3", "--budget", "0.5"]
ONCE_OPS = {"create_session", "list_sessions", "throughput_distinct", "throughput_one"}


def run_bench(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["bench", *argv, "--quiet", *TINY])
    return status, capsys.readouterr().out


def index(document: dict[str, Any]) -> dict[tuple[str, str, str, int | None], dict[str, Any]]:
    return {(r["layer"], r["subject"], r["op"], r["history"]): r for r in document["results"]}


def histories_of(op: str) -> list[int | None]:
    """Per-history operations run at 100 and 200; the others once (list: at 10 sessions)."""
    if op not in ONCE_OPS:
        return [100, 200]
    return [10 if op == "list_sessions" else None]


def test_bench_memory_writes_every_figure_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    status, text = run_bench(["memory://", "--events", "200", "--json", str(out)], capsys)
    assert status == 0, text
    document = json.loads(out.read_text())

    assert document["url"] == "memory://" and document["engine"] == "memory"
    assert document["config"]["histories"] == [100, 200]
    assert {"cpu", "cores", "python"} <= set(document["machine"])
    assert {"omnisession", "openai-agents", "google-adk"} <= set(document["versions"])
    assert document["ratios"] == []  # nothing to compare without --compare

    results = index(document)
    for layer, ops in OPS.items():
        for op in ops:
            for history in histories_of(op):
                result = results[(layer, "omnisession", op, history)]
                assert result["error"] is None, result
                assert result["n"] > 0
                assert 0 < result["median_ms"] <= result["p99_ms"] <= result["max_ms"]
                if op.startswith("throughput"):
                    assert result["ops_per_s"] > 0
                    assert result["lost_writes"] == 0
    assert results[("store", "omnisession", "create_session", None)]["n"] == 10
    assert not [r for r in document["results"] if r["error"] is not None]

    flat = {(f["layer"], f["op"]) for f in document["flatness"]}
    assert flat == {
        ("store", "get_items_20_flat"),
        ("store", "get_session_last20_flat"),
        ("openai", "get_items_20"),
        ("adk", "get_session_last20"),
    }
    assert "omnisession store contract" in text and "get_items(limit=20)" in text


def test_bench_sqlite_compare_prints_and_writes_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bench.db"
    out = tmp_path / "bench.json"
    status, text = run_bench(
        [f"sqlite:///{db}", "--compare", "--histories", "30,60", "--json", str(out)], capsys
    )
    assert status == 0, text
    document = json.loads(out.read_text())
    results = index(document)

    expected_peers = {
        "openai": {"SQLiteSession", "SQLAlchemySession"},
        "adk": {"SqliteSessionService", "DatabaseSessionService"},
    }
    ratios = {
        (r["layer"], r["peer"], r["op"], r["history"]): r["ratio"] for r in document["ratios"]
    }
    for layer, peers in expected_peers.items():
        for peer in peers:
            for op in ("get_items_20",) if layer == "openai" else ("get_session_last20",):
                for history in (30, 60):
                    peer_result = results[(layer, peer, op, history)]
                    omni_result = results[(layer, "omnisession", op, history)]
                    assert ratios[(layer, peer, op, history)] == pytest.approx(
                        peer_result["median_ms"] / omni_result["median_ms"]
                    )
    assert ("adk", "DatabaseSessionService", "create_session", None) in ratios
    assert ("openai", "SQLAlchemySession", "add_items", 60) in ratios
    assert "SQLAlchemySession / omni" in text and "DatabaseSessionService / omni" in text

    # The peers' files were removed, and the run deleted its sessions from our store.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("bench.")) == []

    async def remaining() -> int:
        async with open_store(f"sqlite:///{db}") as store:
            page = await store.list_sessions(f"omnisession-bench-{document['run_id']}")
            return len(page.sessions)

    assert asyncio.run(remaining()) == 0


def test_bench_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "memory://", "--layers", "store,nope"]) == 2
    assert "unknown layer" in capsys.readouterr().err


def test_make_bench_generator_writes_results_md_and_rerenders_from_json(tmp_path: Path) -> None:
    from omnisession_bench import results

    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    argv = ["--url", "memory://", "--events", "200", "--sessions", "10", "--reps", "4"]
    argv += ["--budget", "0.5", "--quiet", "--out", str(out), "--json", str(raw)]
    assert results.main(argv) == 0
    text = out.read_text()
    assert text.startswith("# omnisession benchmark results")
    assert "## Machine and versions" in text and "- google-adk " in text
    assert "| memory | InMemorySessionService | get_session full history |" in text
    assert "### memory: `memory://`" in text
    run = json.loads(raw.read_text())
    assert [e["engine"] for e in run["engines"]] == ["memory"]

    again = tmp_path / "AGAIN.md"
    assert results.main(["--from-json", str(raw), "--out", str(again)]) == 0
    assert again.read_text() == text
