"""`omnisession bench` through the real CLI, at tiny sizes: the JSON it writes and its ratios.

Shape only: these tests check that every figure is produced, compared and rendered, never how
fast anything is (the benchmark itself measures that).
"""

from __future__ import annotations

import asyncio
import json
import socket
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

    partial = {(p["subject"], p["op"]): p for p in document["partial_loads"]}
    assert set(partial) == {
        ("omnisession", "get_session_last20_flat"),
        ("omnisession", "runner_turn"),
    }
    assert set(partial[("omnisession", "runner_turn")]["median_ms"]) == {"100", "200"}
    assert "ADK partial loads" in text and "Runner turn, num_recent_events=20" in text
    # the partial loads are measured on one session per size, sizes alternating
    assert results[("adk", "omnisession", "runner_turn", 100)]["n"] <= 30

    flat = {(f["layer"], f["op"]) for f in document["flatness"]}
    assert flat == {
        ("store", "get_items_20_flat"),
        ("store", "get_session_last20_flat"),
        ("openai", "get_items_20"),
        ("adk", "get_session_last20_flat"),
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
        "openai": {
            "SQLiteSession",
            "AsyncSQLiteSession",
            "AdvancedSQLiteSession",
            "SQLAlchemySession",
        },
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
    for peer in expected_peers["openai"]:
        for op in ("add_items", "pop_item", "get_items_full"):
            assert (("openai", peer, op, 60)) in ratios, (peer, op)
        assert ("openai", peer, "throughput_distinct", None) in ratios, peer
    for peer in expected_peers["adk"]:
        assert ("adk", peer, "runner_turn", 60) in ratios, peer
    assert not [r for r in document["results"] if r["error"] is not None]
    assert "SQLAlchemySession / omni" in text and "DatabaseSessionService / omni" in text
    assert "AsyncSQLiteSession / omni" in text and "AdvancedSQLiteSession / omni" in text
    partial = {(p["subject"], p["op"]) for p in document["partial_loads"]}
    assert {(s, "runner_turn") for s in ["omnisession", *expected_peers["adk"]]} <= partial

    # The peers' files were removed, and the run deleted its sessions from our store.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("bench.")) == []

    async def remaining() -> tuple[int, dict[str, Any]]:
        async with open_store(f"sqlite:///{db}") as store:
            app = f"omnisession-bench-{document['run_id']}"
            page = await store.list_sessions(app)
            return len(page.sessions), await store.get_user_state(app, "bench-user")

    assert asyncio.run(remaining()) == (0, {})  # erase_app: sessions and scopes


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.mark.redis
@pytest.mark.skipif(not _redis_answers(), reason="no Redis server on 127.0.0.1:6379")
def test_bench_redis_compare_runs_both_frameworks_redis_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import redis
    from omnisession_redis import testing

    async def isolated() -> str:
        async with testing.isolated_url("redis://127.0.0.1:6379/0") as url:
            return url  # the prefix's keys are deleted again below

    url = asyncio.run(isolated())
    out = tmp_path / "bench.json"
    argv = [url, "--compare", "--histories", "30,60", "--layers", "openai,adk"]
    try:
        status, text = run_bench([*argv, "--json", str(out)], capsys)
    finally:
        prefix = url.rsplit("prefix=", 1)[1]
        asyncio.run(testing.delete_prefix("redis://127.0.0.1:6379/0", prefix))
    assert status == 0, text
    document = json.loads(out.read_text())
    assert not [r for r in document["results"] if r["error"] is not None]
    ratios = {(r["layer"], r["peer"], r["op"], r["history"]) for r in document["ratios"]}
    for op in ("append_event", "get_session_last20", "get_session_full", "runner_turn"):
        assert ("adk", "RedisSessionService", op, 60) in ratios, op
    for op in ("create_session", "list_sessions", "throughput_distinct"):
        history = 10 if op == "list_sessions" else None
        assert ("adk", "RedisSessionService", op, history) in ratios, op
    assert ("openai", "RedisSession", "add_items", 60) in ratios
    assert "RedisSessionService / omni" in text

    # Both peers' keys are gone.
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        run_id = document["run_id"]
        for pattern in (f"omnisession-bench-adk:{run_id}:*", f"omnisession-bench-peer:{run_id}:*"):
            assert list(client.scan_iter(match=pattern, count=1000)) == [], pattern
    finally:
        client.close()


def test_bench_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "memory://", "--layers", "store,nope"]) == 2
    assert "unknown layer" in capsys.readouterr().err


def test_make_bench_generator_writes_results_md_and_rerenders_from_json(tmp_path: Path) -> None:
    from omnisession_bench import results

    out, raw = tmp_path / "RESULTS.md", tmp_path / "results.json"
    argv = ["--url", "memory://", "--events", "200", "--sessions", "10", "--reps", "4"]
    argv += ["--budget", "0.5", "--quiet", "--out", str(out), "--json", str(raw)]
    argv += ["--copy", "memory://", "memory://", "--copy-sessions", "6", "--copy-events", "7"]
    argv += ["--copy-lengths", "30,90"]
    assert results.main(argv) == 0
    text = out.read_text()
    assert text.startswith("# omnisession benchmark results")
    assert "## Machine and versions" in text and "- google-adk " in text
    assert "| memory | InMemorySessionService | get_session full history |" in text
    assert "### memory: `memory://`" in text
    run = json.loads(raw.read_text())
    assert [e["engine"] for e in run["engines"]] == ["memory"]

    # ADK partial loads, by history, for omnisession and ADK's own service.
    assert "## ADK partial loads" in text
    for subject in ("omnisession", "InMemorySessionService"):
        assert f"| memory | {subject} | Runner turn, num_recent_events=20, sizes" in text

    # The copy: throughput, traced peak, count check, a second run that wrote nothing.
    [copy] = run["copies"]
    assert copy["route"] == "memory -> memory" and copy["errors"] == []
    measured = copy["copy"]
    assert (measured["sessions"], measured["events_per_session"], measured["events"]) == (6, 7, 42)
    assert measured["verified"] is True
    assert measured["events_per_second"] > 0 and measured["peak_memory_bytes"] > 0
    written = [measured[f"second_run_{what}_written"] for what in ("sessions", "events", "scopes")]
    assert written == [0, 0, 0]
    assert [m["events"] for m in copy["memory"]] == [30, 90]
    assert all(m["peak_memory_bytes"] > 0 for m in copy["memory"])
    assert "## Copy between engines (`omnisession copy`)" in text
    assert "| memory -> memory | 6 x 7 = 42 |" in text
    assert "0 sessions, 0 events, 0 scopes" in text
    assert "one session of 90 events" in text

    again = tmp_path / "AGAIN.md"
    assert results.main(["--from-json", str(raw), "--out", str(again)]) == 0
    assert again.read_text() == text
