"""`omnisession conformance URL` as a user runs it.

Against live engines it must pass and leave nothing behind: the rows of every
table of a PostgreSQL schema (and of a SQLite file) and the keys of a Redis
prefix are counted before and after, around data of the user's own that must
survive. Against a closed port it must stop at once with one line. It takes
``-k`` and ``-x``, shows progress on a terminal only, and exits 2 when it
cannot run at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from omnisession import SessionKey, open_store

from .targets.redis import REDIS_URL, delete_prefix
from .targets.sqlalchemy import PG_URL
from .test_store_conformance import _install_fake_mydb_plugin

COMMAND = [sys.executable, "-m", "omnisession.cli", "conformance"]
# A hang guard, not a timing assertion: a closed port answers in well under a second.
CLOSED_PORT_GUARD = 60
LIVE_GUARD = 600
USER_KEY = SessionKey("user-data", "ada", "kept")


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = LIVE_GUARD) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
        check=False,
    )  # fmt: skip


async def _write_user_data(url: str) -> None:
    async with open_store(url) as store:
        await store.create_session(USER_KEY, {"s": 1, "app:theme": "dark", "user:name": "Ada"})
        await store.append_event(USER_KEY, {"text": "hello"}, state_delta={"s": 2})
        await store.add_items(USER_KEY, [{"text": "again"}])


async def _user_data_intact(url: str) -> None:
    async with open_store(url) as store:
        record = await store.get_session(USER_KEY)
        assert record is not None
        assert [e.data for e in record.events] == [{"text": "hello"}, {"text": "again"}]
        assert record.state == {"s": 2, "app:theme": "dark", "user:name": "Ada"}


def _conformant(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    assert [r for r in report["results"] if r["status"] not in ("passed", "skipped")] == []
    assert report["untested"] == [] and report["aborted"] is None
    return report


# -- a live engine: passes, and leaves nothing behind -----------------------------------------


def _sqlite_rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_sqlite_run_passes_and_leaves_no_row_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    asyncio.run(_write_user_data(url))
    before = _sqlite_rows(tmp_path / "store.db")
    assert sum(before.values()) > 0
    report = _conformant(run(url, "--json"))
    assert report["level"] == ("BASE+cross_process+large_entries+lifecycle+persistent+replace"), (
        report["level"]
    )
    assert _sqlite_rows(tmp_path / "store.db") == before
    asyncio.run(_user_data_intact(url))


@pytest.fixture
def pg_schema() -> Iterator[str]:
    asyncpg = pytest.importorskip("asyncpg")
    schema = f"t_cli_{uuid.uuid4().hex}"
    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    yield schema

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


async def _pg_rows(schema: str) -> dict[str, int]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = [
            row["tablename"]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema
            )
        ]
        return {
            table: await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{table}"')
            for table in tables
        }
    finally:
        await conn.close()


@pytest.mark.postgres
def test_postgresql_run_passes_and_leaves_no_row_behind(pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    asyncio.run(_write_user_data(url))
    before = asyncio.run(_pg_rows(pg_schema))
    assert sum(before.values()) > 0, before
    report = _conformant(run(url, "--json"))
    assert report["level"] == ("BASE+cross_process+large_entries+lifecycle+persistent+replace"), (
        report["level"]
    )
    after = asyncio.run(_pg_rows(pg_schema))
    assert after == before, f"rows left behind: {after} (before the run: {before})"
    asyncio.run(_user_data_intact(url))


async def _redis_keys(prefix: str) -> list[bytes]:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        return sorted([name async for name in client.scan_iter(match=f"{prefix}:*", count=1000)])
    finally:
        await client.aclose()


@pytest.mark.redis
def test_redis_run_passes_and_leaves_no_key_behind() -> None:
    prefix = f"t_cli_{uuid.uuid4().hex}"
    url = f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}prefix={prefix}"
    try:
        asyncio.run(_write_user_data(url))
        before = asyncio.run(_redis_keys(prefix))
        assert before
        _conformant(run(url, "--json"))
        after = asyncio.run(_redis_keys(prefix))
        assert after == before, f"{len(after) - len(before)} keys left behind"
        asyncio.run(_user_data_intact(url))
    finally:
        asyncio.run(delete_prefix(REDIS_URL, prefix))


# -- an unreachable store: one line, at once ----------------------------------------------------

CLOSED = {
    "postgresql": "postgresql://root@127.0.0.1:1/test",
    "mysql": "mysql://root@127.0.0.1:1/test",
    "redis": "redis://127.0.0.1:1/0",
    "redis-cluster": "redis+cluster://127.0.0.1:1",
    "dynamodb": "dynamodb://t?region=us-east-1&endpoint_url=http://127.0.0.1:1",
    "s3": "s3://b/p?region=us-east-1&endpoint_url=http://127.0.0.1:1",
}


@pytest.mark.parametrize("url", CLOSED.values(), ids=CLOSED.keys())
def test_a_closed_port_stops_the_run_with_one_line(url: str) -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    result = run(url, env=env, timeout=CLOSED_PORT_GUARD)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("omnisession conformance: error: cannot run the suite against")
    assert "BackendUnavailable" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_closed_port_with_json_prints_the_aborted_report() -> None:
    result = run(CLOSED["redis"], "--json", timeout=CLOSED_PORT_GUARD)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["results"] == [] and "BackendUnavailable" in report["aborted"]
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_password_never_shows() -> None:
    result = run("postgresql://root:hunter2@127.0.0.1:1/test", timeout=CLOSED_PORT_GUARD)
    assert result.returncode == 2 and "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["foo://x"], "no backend handles the scheme 'foo'"),
        (["memory://", "-o", "nope"], "write it as NAME=VALUE"),
        (["memory://", "-o", "ttl=5"], "unknown memory option 'ttl'"),
        (["memory://", "-k", "no_such_case_anywhere"], "matches no case"),
        (["memory://", "-k", "replace and"], "ends too early"),
    ],
)
def test_it_cannot_run_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = run(*args, timeout=CLOSED_PORT_GUARD)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


# -- -k, -x, progress ---------------------------------------------------------------------------


def test_k_runs_only_the_matching_cases() -> None:
    result = run("memory://", "-k", "replace and not race", "--json")
    report = _conformant(result)
    names = {r["name"] for r in report["results"]}
    assert names and all(
        "replace" in f"{n} {r['topic']}" for r in report["results"] for n in [r["name"]]
    )
    assert not any("race" in name for name in names)
    assert report["partial"] is True


@pytest.fixture
def racy_plugin(tmp_path: Path) -> dict[str, str]:
    _install_fake_mydb_plugin(tmp_path)
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


def test_x_stops_at_the_first_failure(racy_plugin: dict[str, str]) -> None:
    url = "mydb://localhost/cli"
    full = run(url, "-k", "pops", "--json", env=racy_plugin)
    assert full.returncode == 1
    statuses = [r["status"] for r in json.loads(full.stdout)["results"]]
    assert statuses.count("failed") == 2
    first = run(url, "-k", "pops", "-x", "--json", env=racy_plugin)
    assert first.returncode == 1
    report = json.loads(first.stdout)
    assert [r["status"] for r in report["results"]][-1] == "failed"
    assert [r["status"] for r in report["results"]].count("failed") == 1
    assert "first failure" in report["aborted"]
    text = run(url, "-k", "concurrent_pops", env=racy_plugin)
    assert "FAILED concurrent_pops_return_each_item_once" in text.stdout
    assert "if this fails: look at _pop_item" in text.stdout


def _on_a_terminal(*args: str) -> str:
    """Run the command with stdout and stderr on a pseudo-terminal; everything it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([*COMMAND, *args], stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], LIVE_GUARD)
        if not ready:
            process.kill()
            raise AssertionError("the command wrote nothing for too long")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=LIVE_GUARD)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_progress_shows_on_a_terminal_only() -> None:
    shown = _on_a_terminal("memory://", "-k", "paging")
    assert "\r[1/" in shown and "paging: get_events" in shown
    assert "level: BASE" in shown
    piped = run("memory://", "-k", "paging")
    assert "\r" not in piped.stdout + piped.stderr and "level: BASE" in piped.stdout
    as_json = _on_a_terminal("memory://", "-k", "paging", "--json")
    assert "\r[" not in as_json
