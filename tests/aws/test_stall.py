"""Bounded waiting: a stalled endpoint yields BackendUnavailable within command_timeout, for
reads and writes, and the same store works again once it resumes.

Each test freezes a moto server process of its own (SIGSTOP: the kernel still accepts
connections, nobody answers, as with a stalled host) on a free loopback port, never the
shared one. Without the bound a call waited max_attempts x read_timeout (8 x 30 s).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from omnisession import BackendUnavailable, SessionKey, open_store
from omnisession_aws.options import COMMAND_TIMEOUT, AwsOptions
from omnisession_aws.testing import MotoProcess, isolated_dynamodb_url, isolated_s3_url

from .support import KEY, run

TIMEOUT = 3.0
#: How long past the bound a call may take to come back: scheduling on a loaded box. The
#: point is the order of magnitude (without the bound: minutes).
SLACK = 4.0


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    with MotoProcess() as process:
        yield process


def test_the_default_command_timeout_is_15_seconds_and_caps_each_attempt() -> None:
    options = AwsOptions()
    assert options.command_timeout == COMMAND_TIMEOUT == 15.0
    assert options.attempt_read_timeout == 15.0
    assert AwsOptions(read_timeout=60.0).attempt_read_timeout == 15.0
    assert AwsOptions(command_timeout=2.0).attempt_connect_timeout == 2.0


Call = Callable[[Any], Awaitable[object]]
CALLS: list[tuple[str, Call]] = [
    ("get_items", lambda store: store.get_items(KEY)),
    ("append_event", lambda store: store.append_event(KEY, {"stalled": True})),
    ("create_session", lambda store: store.create_session(SessionKey("app", "user", "new"))),
    ("erase_user", lambda store: store.erase_user("app", "someone")),
]


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
def test_a_stalled_endpoint_is_unavailable_within_the_bound_and_the_store_recovers(
    moto: MotoProcess, scheme: str
) -> None:
    isolated = isolated_dynamodb_url if scheme == "dynamodb" else isolated_s3_url

    async def scenario() -> None:
        async with isolated(moto.endpoint_url) as url:
            async with open_store(url) as setup:
                await setup.create_session(KEY)
                await setup.append_event(KEY, {"n": 0})
            store = open_store(url, command_timeout=TIMEOUT)
            store.client  # noqa: B018 - built now, not inside the first bounded call
            moto.pause()
            try:
                for name, call in CALLS:
                    started = time.monotonic()
                    with pytest.raises(BackendUnavailable, match="command_timeout=3s") as info:
                        await call(store)
                    took = time.monotonic() - started
                    assert took < TIMEOUT + SLACK, f"{name} took {took:.1f}s"
                    assert info.value.transient
            finally:
                moto.resume()
            async with store:  # the same store object, once the server answers again
                await store.append_event(KEY, {"n": 1})
                items = await store.get_items(KEY)
            assert items[0] == {"n": 0} and items[-1] == {"n": 1}
            # A write that timed out may still have committed when the server woke up
            # (as with any remote write); it never commits twice.
            assert items.count({"stalled": True}) <= 1

    run(scenario())


def test_a_call_queued_behind_stalled_ones_is_bounded_too(moto: MotoProcess) -> None:
    """With every pool thread stuck on the frozen server, a new call still fails in time."""

    async def scenario() -> None:
        import asyncio

        async with isolated_dynamodb_url(moto.endpoint_url) as url:
            async with open_store(url) as setup:
                await setup.create_session(KEY)
            store = open_store(url, command_timeout=TIMEOUT, max_pool_connections=1)
            store.client  # noqa: B018 - built now, not inside the first bounded call
            moto.pause()
            try:
                started = time.monotonic()
                results = await asyncio.gather(
                    *(store.get_items(KEY) for _ in range(3)), return_exceptions=True
                )
                took = time.monotonic() - started
            finally:
                moto.resume()
            assert all(isinstance(result, BackendUnavailable) for result in results), results
            assert took < TIMEOUT + SLACK
            async with store:
                assert await store.get_items(KEY) == []

    run(scenario())
