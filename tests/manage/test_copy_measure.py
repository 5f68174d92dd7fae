"""The copy benchmark runs end to end (tiny sizes; ``make bench`` runs the real ones)."""

from __future__ import annotations

import json
import uuid

import pytest
from omnisession import open_store
from omnisession_bench.copy_measure import bench_copy, bench_memory, main


@pytest.mark.asyncio
async def test_bench_copy_reports_and_a_second_run_writes_nothing(target_url: str) -> None:
    source = f"memory://{uuid.uuid4().hex}"
    result = await bench_copy(source, target_url, sessions=4, events_per_session=30, page_size=7)
    assert (result.sessions, result.events) == (4, 120)
    assert result.verified and result.events_per_second > 0 and result.peak_memory_bytes > 0
    assert (result.second_run_sessions_written, result.second_run_events_written) == (0, 0)
    assert result.second_run_scopes_written == 0
    async with open_store(target_url) as target, open_store(source) as filled:
        assert await target.list_apps() == [] and await filled.list_apps() == []  # cleaned up


@pytest.mark.asyncio
async def test_bench_memory_copies_one_session_per_length(target_url: str) -> None:
    results = await bench_memory(f"memory://{uuid.uuid4().hex}", target_url, lengths=(10, 40))
    assert [result.events for result in results] == [10, 40]
    assert all(result.peak_memory_bytes > 0 for result in results)


def test_the_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    source, target = f"memory://{uuid.uuid4().hex}", f"memory://{uuid.uuid4().hex}"
    assert main([source, target, "--sessions", "2", "--events", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == 6 and report["verified"] is True
    assert main([source, target, "--memory", "5,10"]) == 0
    assert [row["events"] for row in json.loads(capsys.readouterr().out)] == [5, 10]
