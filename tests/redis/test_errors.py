"""Errors that tell an outage from a mistake: the one mapping of ``omnisession_redis.errors``.

Transient failures raise ``BackendUnavailable`` (a ``ConnectionError``: retrying
may help); permanent ones ``BackendRejected`` (retrying will not), its
``EntryTooLarge`` for an entry over the server's limit. Each message names the
cause and the fix. The server cases run against redis-servers of our own,
configured for each case (never the shared one, except for WRONGTYPE under a
prefix of our own); the reply codes a server cannot easily be made to give
(LOADING, TRYAGAIN, CLUSTERDOWN...) are checked on the mapping itself, with
the exceptions redis-py's own parser makes of those replies.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
import redis.exceptions as rex
from omnisession import (
    BackendRejected,
    BackendUnavailable,
    EntryTooLarge,
    SessionKey,
    open_store,
)
from omnisession.errors import BackendError
from omnisession_redis.errors import translate
from omnisession_redis.keys import KeyLayout
from omnisession_redis.testing import LocalServer, servers_available
from redis._parsers.base import BaseParser
from redis.asyncio import Redis

from ..targets.redis import redis_url

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not servers_available(), reason="needs redis-server and redis-cli"),
]

T = TypeVar("T")
KEY = SessionKey("errors", "u", "s")


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def failure(call: Awaitable[Any]) -> BackendError:
    """The BackendError ``call`` raises (anything else fails the test)."""
    with pytest.raises(BackendError) as info:
        await call
    assert info.value.__cause__ is not None, "the driver's error must be chained"
    return info.value


def permanent(error: BackendError) -> None:
    assert isinstance(error, BackendRejected) and not error.transient
    assert not isinstance(error, ConnectionError), "a permanent failure is no ConnectionError"


# -- the mapping, reply by reply ------------------------------------------------------------

TRANSIENT_REPLIES = [
    "LOADING Redis is loading the dataset in memory",
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    "TRYAGAIN Multiple keys request during rehashing of slot",
    "CLUSTERDOWN The cluster is down",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "READONLY You can't write against a read only replica.",
    "NOREPLICAS Not enough good replicas to write.",
    "ERR max number of clients reached",
]
PERMANENT_REPLIES = [
    ("WRONGPASS invalid username-password pair or user is disabled.", "password"),
    ("NOAUTH Authentication required.", "requires a password"),
    ("NOPERM User u has no permissions to run the 'evalsha' command", "ACL SETUSER"),
    ("OOM command not allowed when used memory > 'maxmemory'.", "maxmemory"),
    ("WRONGTYPE Operation against a key holding the wrong kind of value", "prefix"),
    ("ERR unknown command 'evalsha', with args beginning with: ", "scripting"),
    ("CROSSSLOT Keys in request don't hash to the same slot", "bug"),
    ("ERR user_script:1: Script attempted to access nonexistent global variable", "rejected"),
]


@pytest.mark.parametrize("reply", TRANSIENT_REPLIES)
def test_replies_of_a_server_that_cannot_serve_now_are_transient(reply: str) -> None:
    error = translate(BaseParser.parse_error(reply), "doing it", location="l", prefix="p")
    assert isinstance(error, BackendUnavailable) and error.transient, (reply, error)
    assert "doing it" in str(error)


@pytest.mark.parametrize(("reply", "fix"), PERMANENT_REPLIES)
def test_replies_that_retrying_will_not_change_are_permanent(reply: str, fix: str) -> None:
    error = translate(BaseParser.parse_error(reply), "doing it", location="l", prefix="p")
    permanent(error)
    assert fix in str(error), error


@pytest.mark.parametrize(
    "exc",
    [
        rex.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
        rex.TimeoutError("Timeout reading from 127.0.0.1:6379"),
        ConnectionResetError(104, "Connection reset by peer"),
        rex.ClusterDownError("The cluster is down"),
        rex.SlotNotCoveredError("Slot 1 is not covered by the cluster."),
    ],
)
def test_lost_connections_and_timeouts_are_transient(exc: BaseException) -> None:
    error = translate(exc, "writing", location="l", prefix="p", write=True)
    assert isinstance(error, BackendUnavailable)
    assert "may still have been applied" in str(error), "a failed write's outcome is unknown"


def test_an_entry_over_the_bulk_limit_is_entry_too_large() -> None:
    error = translate(
        BaseParser.parse_error("ERR Protocol error: invalid bulk length"),
        "appending an event",
        location="l",
        prefix="p",
        size=5_000_000,
    )
    assert isinstance(error, EntryTooLarge) and "5,000,000 bytes" in str(error)
    assert "proto-max-bulk-len" in str(error)


# -- the same, from real servers ---------------------------------------------------------------


def test_a_password_protected_server_rejects_missing_or_wrong_credentials() -> None:
    async def scenario(server: LocalServer) -> None:
        base = f"127.0.0.1:{server.port}/0"
        async with open_store(f"redis://{base}") as store:
            error = await failure(store.get_items(KEY))
            permanent(error)
            assert "requires a password" in str(error) and "redis://:PASSWORD@" in str(error)
            permanent(await failure(store.append_event(KEY, {"i": 1})))
        async with open_store(f"redis://:wrong@{base}") as store:
            error = await failure(store.get_items(KEY))
            permanent(error)
            assert "credentials" in str(error) and "wrong" not in store.location
        async with open_store(f"redis://:s3cret@{base}") as store:
            await store.add_items(KEY, [{"i": 1}])
            assert await store.get_items(KEY) == [{"i": 1}]

    with LocalServer({"requirepass": "s3cret"}, password="s3cret") as server:
        run(scenario(server))


def test_an_acl_user_without_permissions_is_told_which_to_grant() -> None:
    async def scenario(server: LocalServer) -> None:
        url = f"redis://reader:pw@127.0.0.1:{server.port}/0?prefix=acl"
        async with open_store(url) as store:
            assert await store.get_items(KEY) == []  # reads are allowed
            error = await failure(store.append_event(KEY, {"i": 1}))
            permanent(error)
            assert "NOPERM" in str(error.__cause__) or "permission" in str(error.__cause__)
            assert "ACL SETUSER" in str(error) and "~acl:*" in str(error)

    with LocalServer() as server:
        assert (
            server.cli("ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@all", "-@scripting")
            == "OK"
        )
        run(scenario(server))


def test_a_full_server_says_maxmemory_and_how_to_fix_it() -> None:
    """maxmemory 1mb with noeviction: writes fail with BackendRejected naming maxmemory;
    reads still work and the store keeps working once memory is freed."""

    async def scenario(server: LocalServer) -> None:
        async with open_store(f"{server.url}?prefix=oom") as store:
            error: BackendError | None = None
            for index in range(200):  # 200 x 100 KiB: far over 1 MiB
                try:
                    await store.add_items(KEY, [{"i": index, "pad": "x" * 100_000}])
                except BackendError as exc:
                    error = exc
                    break
            assert error is not None, "the server never ran out of memory"
            permanent(error)
            assert "maxmemory" in str(error) and "?ttl=" in str(error)
            assert all("pad" in item for item in await store.get_items(KEY, limit=1))
            server.cli("CONFIG", "SET", "maxmemory", "0")
            await store.add_items(KEY, [{"after": "freed"}])

    with LocalServer({"maxmemory": "1mb", "maxmemory-policy": "noeviction"}) as server:
        run(scenario(server))


def test_an_entry_over_proto_max_bulk_len_is_entry_too_large_and_writes_nothing() -> None:
    """Just over the limit the server answers with a protocol error; far over it, it
    closes the connection while the client is still sending, which looks like an
    outage: the store asks the server for its limit and says EntryTooLarge either way."""

    async def scenario() -> None:
        async with open_store(f"{server.url}?prefix=big") as store:
            await store.create_session(KEY)
            for size in (2 * 1024 * 1024, 20 * 1024 * 1024):
                error = await failure(store.append_event(KEY, {"text": "é" * (size // 2)}))
                assert isinstance(error, EntryTooLarge), error
                reported = re.search(r"an entry of ([\d,]+) bytes", str(error))
                assert reported and int(reported[1].replace(",", "")) >= size, error
                assert "proto-max-bulk-len" in str(error)
            assert await store.get_items(KEY) == []
            record = await store.get_session(KEY)
            assert record is not None and record.revision == 1
            await store.append_event(KEY, {"text": "small"})

    with LocalServer({"proto-max-bulk-len": "1mb"}) as server:
        run(scenario())


def test_someone_elses_data_under_our_prefix_is_named() -> None:
    async def scenario() -> None:
        async with redis_url() as url, open_store(url) as store:
            admin = await store.client()
            await admin.set(KeyLayout(store.prefix).session(KEY)[0], "not ours")
            error = await failure(store.append_event(KEY, {"i": 1}))
            permanent(error)
            assert "WRONGTYPE" in str(error) and store.prefix in str(error)
            assert "?prefix=" in str(error)

    run(scenario())


def test_a_server_without_scripting_is_a_permanent_refusal() -> None:
    async def scenario(server: LocalServer) -> None:
        async with open_store(f"{server.url}?prefix=noscript") as store:
            assert await store.get_items(KEY) == []
            error = await failure(store.add_items(KEY, [{"i": 1}]))
            permanent(error)
            assert "Lua scripting" in str(error) and "6.2" in str(error)

    with LocalServer({"rename-command": "EVALSHA ''"}) as server:
        run(scenario(server))


def test_a_busy_server_is_transient_and_the_store_recovers() -> None:
    """Another client's endless script makes the server answer BUSY: BackendUnavailable;
    once the script is killed the same store works."""

    async def scenario(server: LocalServer) -> None:
        blocker = Redis(port=server.port)
        async with open_store(f"{server.url}?prefix=busy") as store:
            await store.add_items(KEY, [{"i": 1}])
            endless = asyncio.create_task(blocker.eval("while true do end", 0))
            error: BackendError | None = None
            for _ in range(1000):  # polling until the script runs, not timing it
                try:
                    await store.get_items(KEY)
                except BackendError as exc:
                    error = exc
                    break
                await asyncio.sleep(0.01)
            assert isinstance(error, BackendUnavailable) and error.transient, error
            assert "BUSY" in str(error)
            assert server.cli("SCRIPT", "KILL") == "OK"
            with pytest.raises(rex.ResponseError):
                await endless
            assert await store.get_items(KEY) == [{"i": 1}]
        await blocker.aclose()

    with LocalServer({"busy-reply-threshold": "20"}) as server:
        run(scenario(server))
