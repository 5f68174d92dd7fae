"""dynamodb:// and s3:// beyond the conformance suite: retries, outages, TTL, table and
bucket creation, reclaimed storage, discovery without boto3, and the CLI.

Everything runs against this test process's moto server (tests/targets/aws.py),
a real HTTP endpoint on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from omnisession import BackendUnavailable, SessionKey, SessionNotFound, open_store
from omnisession_aws import create_bucket, create_table

from ..targets import aws as target


@pytest.fixture(autouse=True)
def dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto takes any credentials; botocore must find some even when no target ran first."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, os.environ.get(name, "testing"))


REGION = target.REGION
KEY = SessionKey("app", "user", "session")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def table() -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex}"
    create_table(name, client=target._client("dynamodb"))
    yield name
    target._client("dynamodb").delete_table(TableName=name)


def ddb_url(table: str, **options: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"dynamodb://{table}?region={REGION}&endpoint_url={target.endpoint_url()}&{query}"


def s3_url(bucket: str, **options: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"s3://{bucket}/p?region={REGION}&endpoint_url={target.endpoint_url()}&{query}"


@pytest.fixture
def bucket() -> str:
    name = f"b-{uuid.uuid4().hex}"
    create_bucket(name, client=target._client("s3"))
    return name


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class Throttle:
    """A botocore ``before-send`` hook answering the first ``times`` requests of
    ``operation`` with the service's throttling error instead of sending them."""

    def __init__(self, service: str, operation: str, times: int) -> None:
        self.service = service
        self.operation = operation
        self.times = times
        self.sent = 0
        self.throttled = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.service == "dynamodb":
            target_header = request.headers.get("X-Amz-Target", b"")
            if isinstance(target_header, bytes):
                target_header = target_header.decode()
            if not target_header.endswith("." + self.operation):
                return None
        elif not (request.method == "PUT" and request.url.rstrip("/").endswith("/head")):
            return None
        self.sent += 1
        if self.throttled >= self.times:
            return None
        self.throttled += 1
        if self.service == "dynamodb":
            body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
            body += b'"message":"Rate of requests exceeds the allowed throughput."}'
            headers = {"Content-Type": "application/x-amz-json-1.0"}
            return AWSResponse(request.url, 400, headers, _Body(body))
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
        body += b"</Error>"
        return AWSResponse(request.url, 503, {"Content-Type": "application/xml"}, _Body(body))


# -- retries and outages ----------------------------------------------------------


def test_dynamodb_throttling_is_retried_then_the_write_succeeds(table: str) -> None:
    async def scenario() -> None:
        async with open_store(ddb_url(table)) as store:
            await store.create_session(KEY)
            hook = Throttle("dynamodb", "TransactWriteItems", times=2)
            store.client.meta.events.register("before-send.dynamodb.TransactWriteItems", hook)
            appended = await store.append_event(KEY, {"n": 1}, state_delta={"s": 1})
            assert (hook.throttled, hook.sent) == (2, 3), (
                "two throttled attempts, then the real one"
            )
            record = await store.get_session(KEY)
            assert record is not None
            assert [e.data for e in record.events] == [{"n": 1}]
            assert record.state == {"s": 1} and record.revision == appended.revision

    run(scenario())


def test_s3_throttling_is_retried_then_the_write_succeeds(bucket: str) -> None:
    async def scenario() -> None:
        async with open_store(s3_url(bucket)) as store:
            await store.create_session(KEY)
            hook = Throttle("s3", "PutObject", times=2)
            store.client.meta.events.register("before-send.s3.PutObject", hook)
            await store.append_event(KEY, {"n": 1})
            assert (hook.throttled, hook.sent) == (2, 3)
            assert await store.get_items(KEY) == [{"n": 1}]

    run(scenario())


def test_throttling_beyond_max_attempts_is_backend_unavailable_and_writes_nothing(
    table: str,
) -> None:
    async def scenario() -> None:
        async with open_store(ddb_url(table, max_attempts=2)) as store:
            await store.create_session(KEY)
            hook = Throttle("dynamodb", "TransactWriteItems", times=1000)
            store.client.meta.events.register("before-send.dynamodb.TransactWriteItems", hook)
            with pytest.raises(BackendUnavailable) as info:
                await store.append_event(KEY, {"n": 1})
            assert isinstance(info.value.__cause__, ClientError)
            assert "ThrottlingException" in str(info.value)
            assert hook.sent == 2
        async with open_store(ddb_url(table)) as fresh:
            assert await fresh.get_items(KEY) == []

    run(scenario())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
def test_endpoint_down_is_backend_unavailable(scheme: str) -> None:
    down = f"http://127.0.0.1:{_closed_port()}"
    url = f"{scheme}://name/p?region={REGION}&endpoint_url={down}&max_attempts=2&connect_timeout=1"

    async def scenario() -> None:
        async with open_store(url) as store:
            attempts: list[str] = []
            store.client.meta.events.register(
                f"before-send.{scheme}.*", lambda request, **_: attempts.append(request.url)
            )
            with pytest.raises(BackendUnavailable) as info:
                await store.get_session(KEY)
            assert isinstance(info.value.__cause__, EndpointConnectionError)
            assert len(attempts) == 2, "the connection error is retried once, then reported"
            with pytest.raises(BackendUnavailable):
                await store.append_event(KEY, {"n": 1})

    run(scenario())


# -- DynamoDB: TTL, storage, creation ---------------------------------------------------


def test_dynamodb_ttl_stamps_every_write_and_expired_sessions_are_gone(table: str) -> None:
    client = target._client("dynamodb")
    assert (
        client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["AttributeName"]
        == "exp"
    )
    meta_key = {"pk": {"S": "s|app|user|session"}, "sk": {"S": "meta"}}

    async def scenario() -> None:
        async with open_store(ddb_url(table, ttl=3600)) as store:
            record = await store.create_session(KEY, {"s": 1, "user:u": 2})
            expires = int(client.get_item(TableName=table, Key=meta_key)["Item"]["exp"]["N"])
            assert record.updated_at + 3600 <= expires <= record.updated_at + 3602
            await store.append_event(KEY, {"n": 1})
            refreshed = int(client.get_item(TableName=table, Key=meta_key)["Item"]["exp"]["N"])
            assert refreshed >= expires
            # Time passes: DynamoDB's clock is past `exp` before its TTL sweep ran.
            client.update_item(
                TableName=table,
                Key=meta_key,
                UpdateExpression="SET #e = :past",
                ExpressionAttributeNames={"#e": "exp"},
                ExpressionAttributeValues={":past": {"N": "1"}},
            )
            assert await store.get_session(KEY) is None
            assert await store.get_items(KEY) == []
            assert (await store.list_sessions("app")).sessions == []
            with pytest.raises(SessionNotFound):  # the writer's cached meta must not revive it
                await store.append_event(KEY, {"n": 2})
            again = await store.create_session(KEY)
            assert again.state == {"user:u": 2}, "user state outlives the session"
            assert await store.get_items(KEY) == []

    run(scenario())


def test_dynamodb_large_entries_and_deletes_leave_no_items_behind(table: str) -> None:
    client = target._client("dynamodb")
    big = {"text": "ü" * 450_000}  # 900 KB of UTF-8: three chunk items

    def items() -> list[str]:
        return sorted(item["pk"]["S"][:2] for item in client.scan(TableName=table)["Items"])

    async def scenario() -> None:
        async with open_store(ddb_url(table)) as store:
            await store.create_session(KEY, {"app:a": 1})
            await store.append_event(KEY, big)
            await store.add_items(KEY, [{"i": i} for i in range(5)] + [big])
            assert await store.pop_item(KEY) == big
            assert await store.get_items(KEY) == [big] + [{"i": i} for i in range(5)]
            await store.clear_session(KEY)
            assert items() == ["a|", "s|"], "clear reclaims events and chunks"
            await store.append_event(KEY, big)
            await store.delete_session(KEY)
            assert items() == ["a|"], "delete reclaims everything but the app scope"

    run(scenario())


def test_missing_table_says_how_to_create_it_and_create_true_does(table: str) -> None:
    missing = f"t-{uuid.uuid4().hex}"

    async def scenario() -> None:
        async with open_store(ddb_url(missing)) as store:
            with pytest.raises(BackendUnavailable, match="create_table"):
                await store.create_session(KEY)
        try:
            async with open_store(ddb_url(missing, create="true")) as store:
                await store.create_session(KEY)
                assert await store.get_session(KEY) is not None
        finally:
            target._client("dynamodb").delete_table(TableName=missing)

    run(scenario())
    assert create_table(table, region=REGION, endpoint_url=target.endpoint_url()) is False


def test_missing_bucket_says_how_to_create_it_and_create_true_does() -> None:
    missing = f"b-{uuid.uuid4().hex}"

    async def scenario() -> None:
        async with open_store(s3_url(missing)) as store:
            with pytest.raises(BackendUnavailable, match="create_bucket"):
                await store.create_session(KEY)
        async with open_store(s3_url(missing, create="true")) as store:
            await store.add_items(KEY, [{"i": 1}])
            assert await store.get_items(KEY) == [{"i": 1}]

    run(scenario())


def test_bad_options_are_rejected_before_any_io() -> None:
    with pytest.raises(ValueError, match="unknown option"):
        open_store("dynamodb://t?regoin=eu-west-1")
    with pytest.raises(ValueError, match="ttl"):
        open_store("dynamodb://t?ttl=-5")
    with pytest.raises(ValueError, match="unknown option"):
        open_store("s3://b/p?ttl=5")
    with pytest.raises(ValueError, match="table"):
        open_store("dynamodb://")


def test_s3_history_objects_are_never_rewritten(bucket: str) -> None:
    """Appends add segment objects and never modify one; the head stays small."""
    client = target._client("s3")

    def segments() -> dict[str, str]:
        listed = client.list_objects_v2(Bucket=bucket, Prefix="p/s/").get("Contents", [])
        return {obj["Key"]: obj["ETag"] for obj in listed if "/seg/" in obj["Key"]}

    async def scenario() -> None:
        async with open_store(s3_url(bucket)) as store:
            await store.add_items(KEY, [{"i": i} for i in range(40)])
            first = segments()
            assert len(first) == 1
            for i in range(40, 120):
                await store.append_event(KEY, {"i": i})
            later = segments()
            assert len(later) > 1
            assert {k: later[k] for k in first} == first, "a segment object was rewritten"
            head = client.get_object(Bucket=bucket, Key="p/s/app/user/session/head")
            assert head["ContentLength"] < 8_000
            assert [item["i"] for item in await store.get_items(KEY)] == list(range(120))
            assert await store.get_items(KEY, limit=3) == [{"i": 117}, {"i": 118}, {"i": 119}]

    run(scenario())


# -- discovery and the CLI ----------------------------------------------------------------


def test_backends_are_listed_without_importing_boto3() -> None:
    code = (
        "import sys; from omnisession.plugins import registry; r = registry(); "
        "print(sorted(r.by_scheme)); print('boto3' in sys.modules or 'botocore' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    schemes, imported = result.stdout.splitlines()
    assert "'dynamodb'" in schemes and "'s3'" in schemes
    assert imported == "False"


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
def test_conformance_command_exits_0(scheme: str, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:20]}"
    endpoint = target.endpoint_url()
    url = f"{scheme}://{name}{'/prefix' if scheme == 's3' else ''}"
    url += f"?region={REGION}&endpoint_url={endpoint}&create=true"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "omnisession.cli", "conformance", url, "--json"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        report = json.loads(result.stdout)
        assert [r for r in report["results"] if r["status"] == "failed"] == []
    finally:
        if scheme == "dynamodb":
            target._client("dynamodb").delete_table(TableName=name)


def test_create_commands_make_a_usable_table_and_bucket() -> None:
    name = f"c-{uuid.uuid4().hex[:20]}"
    query = f"?region={REGION}&endpoint_url={target.endpoint_url()}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "omnisession_aws", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = cli("create-table", f"dynamodb://{name}{query}")
    assert (first.returncode, first.stdout.strip()) == (0, f"table {name}: created")
    again = cli("create-table", f"dynamodb://{name}{query}")
    assert (again.returncode, again.stdout.strip()) == (0, f"table {name}: already exists")
    made = cli("create-bucket", f"s3://{name}/agents{query}")
    assert (made.returncode, made.stdout.strip()) == (0, f"bucket {name}: created")
    assert cli("create-table", f"s3://{name}{query}").returncode == 2

    async def scenario() -> None:
        for url in (f"dynamodb://{name}{query}", f"s3://{name}/agents{query}"):
            async with open_store(url) as store:
                await store.add_items(KEY, [{"url": url}])
                assert await store.get_items(KEY) == [{"url": url}]

    try:
        run(scenario())
    finally:
        target._client("dynamodb").delete_table(TableName=name)
