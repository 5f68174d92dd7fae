"""Stalled servers and refused logins, on private servers this module starts (issue 14).

A server frozen with SIGSTOP (a stalled host, a network partition) must make
every call fail with ``BackendUnavailable`` within ``command_timeout``, reads
and writes alike, connecting included, and the same store object must work
again once the server is resumed (SIGCONT). A wrong password is permanent:
``BackendRejected``, saying so, never "check that it is running".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from omnisession import BackendRejected, BackendUnavailable, SessionKey, open_store
from sqlalchemy.engine import make_url

from .servers import (
    PASSWORD,
    Server,
    mariadb_available,
    mariadb_server,
    postgres_available,
    postgres_server,
)

COMMAND_TIMEOUT = 2.0
# generous: the bound is what is tested, not the machine's speed
WITHIN = COMMAND_TIMEOUT * 4


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    if not postgres_available():
        pytest.skip("PostgreSQL server binaries (initdb) are not installed")
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def mariadb() -> Iterator[Server]:
    if not mariadb_available():
        pytest.skip("MariaDB server binaries (mariadb-install-db) are not installed")
    with mariadb_server() as server:
        yield server


def key(session: str = "s") -> SessionKey:
    return SessionKey("faults", "u", session)


async def _fails_within_bound(call: Callable[[], Awaitable[Any]]) -> BackendUnavailable:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        await call()
    elapsed = time.monotonic() - started
    assert elapsed < WITHIN, f"the call took {elapsed:.1f} s, command_timeout={COMMAND_TIMEOUT}"
    assert "command_timeout" in str(raised.value) or "no answer" in str(raised.value)
    return raised.value


async def _stall_scenario(server: Server, session: str) -> None:
    k = key(session)
    async with open_store(server.url) as setup:  # the schema and the data, unhurried
        await setup.create_session(k, {"n": 0})
        await setup.add_items(k, [{"i": 0}])
    async with open_store(server.url, command_timeout=COMMAND_TIMEOUT) as store:
        assert await store.get_items(k) == [{"i": 0}]  # connected, schema checked
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get_items": lambda: store.get_items(k),
            "get_session": lambda: store.get_session(k),
            "list_sessions": lambda: store.list_sessions("faults"),
            "append_event": lambda: store.append_event(k, {"i": 1}, state_delta={"n": 1}),
            "add_items": lambda: store.add_items(k, [{"i": 2}]),
            "update_state": lambda: store.update_state(k, {"n": 2}),
            "pop_item": lambda: store.pop_item(k),
            "erase_user": lambda: store.erase_user("faults", "nobody"),  # type: ignore[attr-defined]
        }
        for name, call in calls.items():
            with server.frozen():
                error = await _fails_within_bound(call)
            assert error.__cause__ is not None, name
            # resumed: the same store object works again, at once
            assert (await store.get_items(k))[0] == {"i": 0}, name
        record = await store.get_session(k)
        assert record is not None
        # a write that timed out may still be applied by the server when it resumes
        # (the outcome of a timed-out write is unknown); the first item is intact
        assert record.events[0].data == {"i": 0}

        # several calls at once while frozen: each fails within the bound
        with server.frozen():
            started = time.monotonic()
            results = await asyncio.gather(
                *(store.get_items(k) for _ in range(4)),
                *(store.append_event(k, {"burst": n}) for n in range(4)),
                return_exceptions=True,
            )
            elapsed = time.monotonic() - started
        assert all(isinstance(result, BackendUnavailable) for result in results), results
        assert elapsed < WITHIN
        assert (await store.get_items(k))[0] == {"i": 0}


async def _close_on_frozen_server(server: Server) -> None:
    """Closing a store whose server is frozen does not wait for the server forever."""
    store = open_store(server.url, command_timeout=COMMAND_TIMEOUT)
    await asyncio.gather(*(store.get_items(key(f"close{n}")) for n in range(3)))  # 3 connections
    with server.frozen():
        started = time.monotonic()
        await store.aclose()
        assert time.monotonic() - started < WITHIN


async def _new_store_on_frozen_server(server: Server) -> None:
    """A store used for the first time while the server is frozen: connecting is bounded."""
    with server.frozen():
        async with open_store(server.url, command_timeout=COMMAND_TIMEOUT) as store:
            await _fails_within_bound(lambda: store.get_items(key("fresh")))
    async with open_store(server.url) as store:
        await store.add_items(key("fresh"), [{"ok": True}])
        assert await store.get_items(key("fresh")) == [{"ok": True}]


def test_postgres_frozen_server_fails_within_command_timeout_then_recovers(
    postgres: Server,
) -> None:
    asyncio.run(_stall_scenario(postgres, "pg"))
    asyncio.run(_new_store_on_frozen_server(postgres))
    asyncio.run(_close_on_frozen_server(postgres))


def test_mariadb_frozen_server_fails_within_command_timeout_then_recovers(
    mariadb: Server,
) -> None:
    asyncio.run(_stall_scenario(mariadb, "maria"))
    asyncio.run(_new_store_on_frozen_server(mariadb))
    asyncio.run(_close_on_frozen_server(mariadb))


def test_command_timeout_default_is_documented_and_used() -> None:
    from omnisession_sqlalchemy import SQLStore

    store = SQLStore("postgresql://u@127.0.0.1:1/db")
    assert store._spec.options.command_timeout == 15.0
    assert SQLStore("sqlite://")._spec.options.command_timeout is None  # busy_timeout instead


def test_postgres_wrong_password_is_permanent_and_says_so(postgres: Server) -> None:
    """28P01: BackendRejected naming the password, never 'check that it is running'."""
    wrong = make_url(postgres.url).set(password="not-" + PASSWORD).render_as_string(False)

    async def scenario() -> None:
        async with open_store(wrong) as store:
            with pytest.raises(BackendRejected) as raised:
                await store.get_items(key())
        message = str(raised.value)
        assert not isinstance(raised.value, BackendUnavailable)
        assert "password" in message and "28P01" in message
        assert "running" not in message
        assert raised.value.__cause__ is not None
        assert PASSWORD not in message
        async with open_store(postgres.url) as store:  # the right one works
            assert await store.get_items(key()) == []

    asyncio.run(scenario())
