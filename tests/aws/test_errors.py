"""One mapping from botocore errors: transient (BackendUnavailable) vs permanent
(BackendRejected, EntryTooLarge), each message naming cause and fix; against moto
wherever moto can produce the error, and on botocore's own exceptions for the rest."""

from __future__ import annotations

import json
import socket
import uuid
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from omnisession import (
    BackendRejected,
    BackendUnavailable,
    EntryTooLarge,
    SessionKey,
    open_store,
)
from omnisession.errors import BackendError
from omnisession_aws._errors import CallStalled, Resource, backend_error
from omnisession_aws.testing import MotoProcess, client, isolated_dynamodb_url, isolated_s3_url

from .support import KEY, REGION, Inject, dynamodb_error, is_head_put, run, s3_error, url_of

TABLE = Resource("DynamoDB", "DynamoDB table 't'", "create_table()", "http://127.0.0.1:1")


def _client_error(code: str, message: str = "msg", status: int = 400, **extra: Any) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, "Op")


MAPPING = [
    # transient: retrying may help
    (_client_error("ThrottlingException"), BackendUnavailable, "busy"),
    (_client_error("ProvisionedThroughputExceededException"), BackendUnavailable, "capacity"),
    (_client_error("SlowDown", status=503), BackendUnavailable, "retry later"),
    (_client_error("InternalServerError", status=500), BackendUnavailable, "retry later"),
    (_client_error("Whatever", status=502), BackendUnavailable, "retry later"),
    (_client_error("TransactionConflictException"), BackendUnavailable, "retry later"),
    (
        _client_error(
            "TransactionCanceledException",
            CancellationReasons=[{"Code": "None"}, {"Code": "TransactionConflict"}],
        ),
        BackendUnavailable,
        "concurrent writers",
    ),
    (EndpointConnectionError(endpoint_url="http://x"), BackendUnavailable, "unreachable"),
    (ConnectionClosedError(endpoint_url="http://x"), BackendUnavailable, "dropped"),
    (ReadTimeoutError(endpoint_url="http://x"), BackendUnavailable, "unreachable"),
    (ConnectTimeoutError(endpoint_url="http://x"), BackendUnavailable, "unreachable"),
    (CallStalled(15), BackendUnavailable, "command_timeout=15s"),
    # permanent: retrying will not help
    (_client_error("UnrecognizedClientException"), BackendRejected, "credentials"),
    (_client_error("InvalidAccessKeyId", status=403), BackendRejected, "credentials"),
    (_client_error("SignatureDoesNotMatch", status=403), BackendRejected, "credentials"),
    (_client_error("ExpiredTokenException"), BackendRejected, "expired"),
    (NoCredentialsError(), BackendRejected, "AWS_ACCESS_KEY_ID"),
    (_client_error("AccessDeniedException"), BackendRejected, "permissions"),
    (_client_error("AccessDenied", status=403), BackendRejected, "permissions"),
    (_client_error("ResourceNotFoundException"), BackendRejected, "create_table()"),
    (_client_error("NoSuchBucket", status=404), BackendRejected, "?create=true"),
    (_client_error("ValidationException", "One or more parameter values"), BackendRejected, ""),
    (
        _client_error("ValidationException", "Item size has exceeded the maximum allowed size"),
        EntryTooLarge,
        "350 KB",
    ),
    (
        _client_error(
            "TransactionCanceledException",
            CancellationReasons=[
                {"Code": "ValidationError", "Message": "Item size has exceeded the maximum"}
            ],
        ),
        EntryTooLarge,
        "size limit",
    ),
    (_client_error("EntityTooLarge", status=400), EntryTooLarge, "size limit"),
    (
        _client_error(
            "403", "<Error><Code>InvalidClientTokenId</Code><Message>no</Message></Error>"
        ),
        BackendRejected,
        "InvalidClientTokenId",
    ),
]


@pytest.mark.parametrize(("error", "expected", "says"), MAPPING, ids=lambda value: str(value)[:40])
def test_the_one_mapping_sorts_every_error(
    error: BaseException, expected: type[BackendError], says: str
) -> None:
    mapped = backend_error(error, TABLE)
    assert type(mapped) is expected, (type(mapped), mapped)
    assert mapped.transient is (expected is BackendUnavailable)
    assert says in str(mapped)


# -- against moto -----------------------------------------------------------------------


def test_missing_table_is_rejected_with_the_create_hint_and_create_true_creates_it() -> None:
    missing = f"t-{uuid.uuid4().hex}"

    async def scenario() -> None:
        async with open_store(url_of("dynamodb", missing)) as store:
            with pytest.raises(BackendRejected, match="create_table") as info:
                await store.create_session(KEY)
            assert "does not exist" in str(info.value)
            assert error_code(info.value) == "ResourceNotFoundException"
        try:
            async with open_store(url_of("dynamodb", missing, create="true")) as store:
                await store.create_session(KEY)
                assert await store.get_session(KEY) is not None
        finally:
            client("dynamodb").delete_table(TableName=missing)

    run(scenario())


def test_missing_bucket_is_rejected_with_the_create_hint_and_create_true_creates_it() -> None:
    missing = f"b-{uuid.uuid4().hex}"

    async def scenario() -> None:
        async with open_store(url_of("s3", f"{missing}/p")) as store:
            with pytest.raises(BackendRejected, match="create_bucket"):
                await store.create_session(KEY)
        async with open_store(url_of("s3", f"{missing}/p", create="true")) as store:
            await store.add_items(KEY, [{"i": 1}])
            assert await store.get_items(KEY) == [{"i": 1}]
            await store.erase_app(KEY.app_name)

    run(scenario())


def error_code(error: BaseException) -> str:
    cause = error.__cause__
    assert isinstance(cause, ClientError), f"the botocore error is not chained: {cause!r}"
    return str(cause.response["Error"]["Code"])


@pytest.fixture(scope="module")
def guarded_moto() -> Any:
    """A moto server of our own that checks credentials: an admin who may do anything
    (who creates a table and a bucket) and a user with no permission at all."""
    with MotoProcess({"INITIAL_NO_AUTH_ACTION_COUNT": "3"}) as moto:
        iam = client("iam", moto.endpoint_url)
        iam.create_user(UserName="admin")  # the three requests moto lets through
        admin = iam.create_access_key(UserName="admin")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(policy))
        import boto3

        admin_keys = {
            "aws_access_key_id": admin["AccessKeyId"],
            "aws_secret_access_key": admin["SecretAccessKey"],
        }

        def as_admin(service: str) -> Any:
            return boto3.client(
                service, region_name=REGION, endpoint_url=moto.endpoint_url, **admin_keys
            )

        as_admin("iam").create_user(UserName="nobody")
        nobody = as_admin("iam").create_access_key(UserName="nobody")["AccessKey"]
        from omnisession_aws import create_bucket, create_table

        create_table("guarded", client=as_admin("dynamodb"))
        create_bucket("guarded", client=as_admin("s3"))
        yield moto, admin, nobody


CREDENTIAL_CASES = [
    ("unknown key", lambda admin, nobody: ("AKIAUNKNOWNUNKNOWN01", "secret"), "credentials"),
    ("wrong secret", lambda admin, nobody: (admin["AccessKeyId"], "wrong"), "credentials"),
    (
        "no permission",
        lambda admin, nobody: (nobody["AccessKeyId"], nobody["SecretAccessKey"]),
        "permissions",
    ),
]


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
@pytest.mark.parametrize(
    ("case", "keys", "says"), CREDENTIAL_CASES, ids=[c[0] for c in CREDENTIAL_CASES]
)
def test_refused_credentials_are_permanent_and_say_so(
    guarded_moto: Any, monkeypatch: pytest.MonkeyPatch, scheme: str, case: str, keys: Any, says: str
) -> None:
    moto, admin, nobody = guarded_moto
    access_key, secret = keys(admin, nobody)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    name = "guarded" if scheme == "dynamodb" else "guarded/prefix"
    url = (
        url_of(scheme, name, moto.endpoint_url, profile="")
        if False
        else url_of(scheme, name, moto.endpoint_url)
    )

    async def scenario() -> None:
        # A fresh boto3 session per profile/region is cached by the plugin: use a
        # profile-free store whose session picks up the environment's keys.
        from omnisession_aws import _client

        _client._sessions.clear()
        try:
            async with open_store(url) as store:
                with pytest.raises(BackendRejected, match=says) as info:
                    await store.get_session(KEY)
                assert not info.value.transient
                assert isinstance(info.value.__cause__, ClientError)
        finally:
            _client._sessions.clear()

    run(scenario())


def test_a_state_value_over_the_item_limit_is_entry_too_large_and_writes_nothing() -> None:
    async def scenario() -> None:
        async with isolated_dynamodb_url() as url, open_store(url) as store:
            await store.create_session(KEY, {"s": 1})
            huge = "x" * 500_000
            with pytest.raises(EntryTooLarge, match="400 KB") as info:
                await store.update_state(KEY, {"big": huge})
            assert isinstance(info.value, BackendRejected) and not info.value.transient
            with pytest.raises(EntryTooLarge):
                await store.append_event(KEY, {"i": 1}, state_delta={"user:big": huge})
            with pytest.raises(EntryTooLarge):
                await store.create_session(SessionKey("app", "user", "other"), {"app:big": huge})
            record = await store.get_session(KEY)
            assert record is not None
            assert record.state == {"s": 1} and record.events == [] and record.revision == 1
            assert await store.get_session(SessionKey("app", "user", "other")) is None

    run(scenario())


# -- transient errors: retried by botocore, then BackendUnavailable -----------------------


def _throttled(request: Any) -> Any:
    return dynamodb_error(request, "ThrottlingException", "Rate of requests exceeds the limit.")


def test_dynamodb_throttling_is_retried_then_the_write_succeeds() -> None:
    async def scenario() -> None:
        async with isolated_dynamodb_url() as url, open_store(url) as store:
            await store.create_session(KEY)
            hook = Inject(_throttled, times=2)
            store.client.meta.events.register("before-send.dynamodb.TransactWriteItems", hook)
            appended = await store.append_event(KEY, {"n": 1}, state_delta={"s": 1})
            assert (hook.injected, hook.sent) == (2, 3), "two throttled attempts, then the real one"
            record = await store.get_session(KEY)
            assert record is not None and [e.data for e in record.events] == [{"n": 1}]
            assert record.state == {"s": 1} and record.revision == appended.revision

    run(scenario())


def test_s3_throttling_is_retried_then_the_write_succeeds() -> None:
    async def scenario() -> None:
        async with isolated_s3_url() as url, open_store(url) as store:
            await store.create_session(KEY)
            hook = Inject(
                lambda request: s3_error(request, "SlowDown", "Reduce your request rate.", 503),
                times=2,
                match=is_head_put,
            )
            store.client.meta.events.register("before-send.s3.PutObject", hook)
            await store.append_event(KEY, {"n": 1})
            assert (hook.injected, hook.sent) == (2, 3)
            assert await store.get_items(KEY) == [{"n": 1}]

    run(scenario())


def test_throttling_beyond_max_attempts_is_unavailable_and_writes_nothing() -> None:
    async def scenario() -> None:
        async with isolated_dynamodb_url(options="max_attempts=2") as url:
            async with open_store(url) as store:
                await store.create_session(KEY)
                hook = Inject(_throttled)
                store.client.meta.events.register("before-send.dynamodb.TransactWriteItems", hook)
                with pytest.raises(BackendUnavailable, match="ThrottlingException") as info:
                    await store.append_event(KEY, {"n": 1})
                assert isinstance(info.value.__cause__, ClientError)
                assert hook.sent == 2
            async with open_store(url) as fresh:
                assert await fresh.get_items(KEY) == []

    run(scenario())


def test_server_errors_beyond_max_attempts_are_unavailable() -> None:
    async def scenario() -> None:
        async with isolated_s3_url(options="max_attempts=3") as url, open_store(url) as store:
            hook = Inject(lambda request: s3_error(request, "InternalError", "We failed.", 500))
            store.client.meta.events.register("before-send.s3.GetObject", hook)
            with pytest.raises(BackendUnavailable, match="InternalError"):
                await store.get_session(KEY)
            assert hook.sent == 3

    run(scenario())


def test_transaction_conflicts_that_never_end_are_unavailable_within_the_command_timeout() -> None:
    def conflict(request: Any) -> Any:
        return dynamodb_error(
            request,
            "TransactionCanceledException",
            "Transaction cancelled",
            CancellationReasons=[{"Code": "TransactionConflict", "Message": "conflict"}],
        )

    async def scenario() -> None:
        async with (
            isolated_dynamodb_url(options="command_timeout=1") as url,
            open_store(url) as store,
        ):
            await store.create_session(KEY)
            hook = Inject(conflict)
            store.client.meta.events.register("before-send.dynamodb.TransactWriteItems", hook)
            with pytest.raises(BackendUnavailable, match="TransactionConflict"):
                await store.append_event(KEY, {"n": 1})
            assert hook.sent > 1, "a conflict is retried"

    run(scenario())


def test_a_rejected_request_is_permanent() -> None:
    def invalid(request: Any) -> Any:
        return dynamodb_error(
            request, "ValidationException", "One or more parameter values were invalid"
        )

    async def scenario() -> None:
        async with isolated_dynamodb_url() as url, open_store(url) as store:
            hook = Inject(invalid)
            store.client.meta.events.register("before-send.dynamodb.GetItem", hook)
            with pytest.raises(BackendRejected, match="retrying will not help"):
                await store.get_session(KEY)
            assert hook.sent == 1, "a permanent error is not retried"

    run(scenario())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
def test_an_endpoint_that_is_down_is_unavailable(scheme: str) -> None:
    down = f"http://127.0.0.1:{_closed_port()}"
    url = url_of(scheme, "name/p", down, max_attempts=2, connect_timeout=1)

    async def scenario() -> None:
        async with open_store(url) as store:
            attempts: list[str] = []
            store.client.meta.events.register(
                f"before-send.{scheme}.*", lambda request, **_: attempts.append(request.url)
            )
            with pytest.raises(BackendUnavailable, match="unreachable") as info:
                await store.get_session(KEY)
            assert isinstance(info.value.__cause__, EndpointConnectionError)
            assert len(attempts) == 2, "the connection error is retried once, then reported"
            with pytest.raises(BackendUnavailable):
                await store.append_event(KEY, {"n": 1})

    run(scenario())
