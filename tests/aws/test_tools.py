"""The commands around the stores: ``omnisession-aws`` (create, sweep), ``omnisession
conformance`` on both URLs (it passes and leaves nothing behind), and the isolation
helpers of ``omnisession_aws.testing``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from omnisession import open_store
from omnisession_aws.testing import (
    client,
    isolated_dynamodb_url,
    isolated_s3_url,
    leftovers,
    shared_endpoint,
)

from .support import KEY, REGION, run


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnisession_aws", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_commands_make_a_usable_table_and_bucket() -> None:
    name = f"c-{uuid.uuid4().hex[:20]}"
    query = f"?region={REGION}&endpoint_url={shared_endpoint()}"
    first = _cli("create-table", f"dynamodb://{name}{query}")
    assert (first.returncode, first.stdout.strip()) == (0, f"table {name}: created")
    again = _cli("create-table", f"dynamodb://{name}{query}")
    assert (again.returncode, again.stdout.strip()) == (0, f"table {name}: already exists")
    made = _cli("create-bucket", f"s3://{name}/agents{query}")
    assert (made.returncode, made.stdout.strip()) == (0, f"bucket {name}: created")
    assert _cli("create-table", f"s3://{name}{query}").returncode == 2
    typo = _cli("create-table", f"dynamodb://{name}{query}&regoin=x")
    assert typo.returncode == 2 and "did you mean 'region'" in typo.stderr

    async def scenario() -> None:
        for url in (f"dynamodb://{name}{query}", f"s3://{name}/agents{query}"):
            async with open_store(url) as store:
                await store.add_items(KEY, [{"url": url}])
                assert await store.get_items(KEY) == [{"url": url}]
                await store.erase_app(KEY.app_name)

    try:
        run(scenario())
    finally:
        client("dynamodb").delete_table(TableName=name)
        client("s3").delete_bucket(Bucket=name)


def test_the_sweep_command() -> None:
    async def scenario() -> str:
        async with isolated_dynamodb_url() as url:
            async with open_store(url) as store:
                await store.add_items(KEY, [{"i": 1}])
            table = url.split("://", 1)[1].split("?", 1)[0]
            client("dynamodb").delete_item(
                TableName=table, Key={"pk": {"S": "s|app|user|session"}, "sk": {"S": "meta"}}
            )
            done = _cli("sweep", url, "--grace", "0")
            assert done.returncode == 0, done.stderr
            assert leftovers(url) == []
            return done.stdout

    assert "swept 1 event partitions and 0 large entries (1 items)" in run(scenario())


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
def test_the_conformance_command_passes_and_leaves_nothing_behind(
    scheme: str, tmp_path: Path
) -> None:
    isolated = isolated_dynamodb_url if scheme == "dynamodb" else isolated_s3_url

    async def scenario() -> None:
        async with isolated() as url:
            result = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "omnisession.cli", "conformance", url, "--json"],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                timeout=900,
            )
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            report = json.loads(result.stdout)
            failed = {r["name"] for r in report["results"] if r["status"] == "failed"}
            assert failed == set()
            assert leftovers(url) == [], "omnisession conformance left data behind"

    run(scenario())


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
def test_the_isolation_helpers_give_a_fresh_namespace_and_clean_up(scheme: str) -> None:
    isolated = isolated_dynamodb_url if scheme == "dynamodb" else isolated_s3_url

    async def scenario() -> None:
        async with isolated() as first, isolated() as second:
            assert first != second
            async with open_store(first) as store:
                await store.create_session(KEY, {"app:a": 1, "user:u": 1})
                await store.append_event(KEY, {"big": "x" * 300_000})
            async with open_store(second) as other:
                assert await other.get_session(KEY) is None
                assert await other.list_apps() == []
            assert leftovers(first) != []
        if scheme == "s3":
            assert leftovers(first) == [], "the prefix is emptied"
        else:
            tables = client("dynamodb").list_tables()["TableNames"]
            assert first.split("://", 1)[1].split("?", 1)[0] not in tables

    run(scenario())
