"""Errors that tell an outage from a mistake (issue 14), against the real servers.

Every driver error goes through one mapping (omnisession_sqlalchemy.failures):
``BackendUnavailable`` (transient) for what retrying may fix, ``BackendRejected``
(permanent) for what it will not, ``EntryTooLarge`` for an entry over the
server's limit; each message names the cause and the fix, the driver's error
chained. Users and privileges are made in a database or schema of the test's
own and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from omnisession import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    EntryTooLarge,
    SessionKey,
    open_store,
)
from omnisession_sqlalchemy import SQLStore, engine_url
from omnisession_sqlalchemy.failures import Retry, describe
from sqlalchemy.engine import make_url

from ..targets.sqlalchemy import MARIADB_URL, PG_URL, admin, mariadb_url, postgres_url

K = SessionKey("errors", "u", "s")


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def permanent(error: BackendError, *words: str) -> None:
    """A permanent error whose message names its cause and never sends one to check a
    server that is up."""
    assert isinstance(error, BackendRejected) and not isinstance(error, BackendUnavailable)
    assert not error.transient
    message = str(error)
    for word in words:
        assert word in message, (word, message)
    assert "check that the server is running" not in message, message
    assert error.__cause__ is not None


# -- PostgreSQL ---------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_unknown_database_is_permanent() -> None:
    url = make_url(PG_URL).set(database=f"missing_{uuid.uuid4().hex[:12]}")

    async def scenario() -> None:
        async with open_store(url.render_as_string(False)) as store:
            with pytest.raises(BackendRejected) as raised:
                await store.get_items(K)
        permanent(raised.value, "does not exist", "3D000", "CREATE DATABASE")

    run(scenario())


@pytest.mark.postgres
def test_postgres_missing_table_is_permanent() -> None:
    async def scenario() -> None:
        async with postgres_url() as url, open_store(url) as store:
            await store.add_items(K, [{"i": 1}])
            schema = engine_url(url).options.schema
            await admin(url, f'DROP TABLE "{schema}".omnisession_events')
            with pytest.raises(BackendRejected) as raised:
                await store.get_items(K)
            permanent(raised.value, "tables are missing")

    run(scenario())


@asynccontextmanager
async def postgres_role_without_privileges() -> AsyncIterator[str]:
    """A login role and a schema it may not create tables in; both dropped afterwards."""
    role = f"omni_{uuid.uuid4().hex[:16]}"
    await admin(PG_URL, f'CREATE ROLE "{role}" LOGIN', f'CREATE SCHEMA "{role}"')
    try:
        yield make_url(PG_URL).set(username=role, query={"schema": role}).render_as_string(False)
    finally:
        await admin(
            PG_URL,
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'",
            f'DROP SCHEMA "{role}" CASCADE',
            f'DROP ROLE "{role}"',
        )


@pytest.mark.postgres
def test_postgres_missing_privilege_is_permanent() -> None:
    async def scenario() -> None:
        async with postgres_role_without_privileges() as url, open_store(url) as store:
            with pytest.raises(BackendRejected) as raised:
                await store.add_items(K, [{"i": 1}])
            permanent(raised.value, "privilege", "42501", "GRANT")

    run(scenario())


# -- MariaDB ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def mariadb_user(password: str | None, grant: str | None) -> AsyncIterator[str]:
    """A database of its own (tables created by root) and a user with ``grant`` on it."""
    async with mariadb_url() as root_url:
        async with open_store(root_url) as store:
            await store.add_items(K, [{"i": 0}])  # creates the tables
        database = make_url(root_url).database
        user = f"omni_{uuid.uuid4().hex[:12]}"
        identified = f" IDENTIFIED BY '{password}'" if password else ""
        await admin(root_url, f"CREATE USER '{user}'@'%'{identified}")
        try:
            if grant:
                await admin(root_url, f"GRANT {grant} ON `{database}`.* TO '{user}'@'%'")
            yield make_url(root_url).set(username=user, password=password).render_as_string(False)
        finally:
            await admin(root_url, f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.mark.mariadb
def test_mariadb_wrong_password_is_permanent_and_never_says_check_it_is_running() -> None:
    async def scenario() -> None:
        async with mariadb_user("right-password", "ALL") as url:
            wrong = make_url(url).set(password="wrong-password").render_as_string(False)
            async with open_store(wrong) as store:
                with pytest.raises(BackendRejected) as raised:
                    await store.get_items(K)
            permanent(raised.value, "denied", "1045", "password")
            assert "running" not in str(raised.value)
            assert "wrong-password" not in str(raised.value)
            async with open_store(url) as store:
                assert await store.get_items(K) == [{"i": 0}]

    run(scenario())


@pytest.mark.mariadb
def test_mariadb_unknown_database_is_permanent() -> None:
    url = make_url(MARIADB_URL).set(database=f"missing_{uuid.uuid4().hex[:12]}")

    async def scenario() -> None:
        async with open_store(url.render_as_string(False)) as store:
            with pytest.raises(BackendRejected) as raised:
                await store.get_items(K)
        permanent(raised.value, "does not exist", "1049")

    run(scenario())


@pytest.mark.mariadb
def test_mariadb_missing_privileges_are_permanent() -> None:
    async def scenario() -> None:
        async with mariadb_user(None, None) as url, open_store(url) as store:
            with pytest.raises(BackendRejected) as raised:  # no grant on the database
                await store.get_items(K)
            permanent(raised.value, "1044", "GRANT")
        async with mariadb_user(None, "SELECT") as url, open_store(url) as store:
            assert await store.get_items(K) == [{"i": 0}]  # reads are allowed
            with pytest.raises(BackendRejected) as raised:
                await store.add_items(K, [{"i": 1}])
            permanent(raised.value, "1142", "GRANT")

    run(scenario())


@pytest.mark.mariadb
def test_mariadb_missing_table_is_permanent() -> None:
    async def scenario() -> None:
        async with mariadb_url() as url, open_store(url) as store:
            await store.add_items(K, [{"i": 1}])
            await admin(url, "DROP TABLE omnisession_events")
            with pytest.raises(BackendRejected) as raised:
                await store.get_items(K)
            permanent(raised.value, "tables are missing", "1146")

    run(scenario())


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("character", "label"), [("é", "10 Mi é (20 MiB)"), ("🙂", "10 Mi emoji (40 MiB)")]
)
def test_mariadb_entry_over_max_allowed_packet_is_entry_too_large(
    character: str, label: str
) -> None:
    """EntryTooLarge naming max_allowed_packet and the fix, nothing written, and the same
    store (its connection) still works."""
    huge = {"text": character * (10 * 1024 * 1024)}

    async def scenario() -> None:
        async with mariadb_url() as url, open_store(url) as store:
            await store.create_session(K)
            await store.append_event(K, {"i": 0})
            writes = [
                lambda: store.append_event(K, huge),
                lambda: store.add_items(K, [{"small": 1}, huge]),
                lambda: store.update_state(K, {"big": huge["text"]}),
                lambda: store.add_items(SessionKey("errors", "u", "new"), [huge]),
            ]
            for write in writes:
                with pytest.raises(EntryTooLarge) as raised:
                    await write()
                permanent(raised.value, "max_allowed_packet", "SET GLOBAL")
                assert "nothing was written" in str(raised.value)
                record = await store.get_session(K)
                assert record is not None and [e.data for e in record.events] == [{"i": 0}]
            assert await store.get_session(SessionKey("errors", "u", "new")) is None
            await store.append_event(K, {"i": 1, "text": character * 1000})
            assert (await store.get_items(K, 1))[0]["text"] == character * 1000

    run(scenario())


@pytest.mark.mariadb
def test_mariadb_latin1_database_round_trips_cyrillic_and_emoji() -> None:
    """A database created with CHARACTER SET latin1 (MariaDB's own default): the tables
    are utf8mb4/utf8mb4_bin/InnoDB under mariadb:// and mysql:// alike."""
    text = {"ru": "Привет, мир", "emoji": "🙂👋🏽", "mixed": "naïve — 会话"}

    async def scenario() -> None:
        for scheme in ("mariadb", "mysql"):
            async with mariadb_url() as url:
                database = make_url(url).database
                await admin(url, f"ALTER DATABASE `{database}` CHARACTER SET latin1")
                target = scheme + url[url.index("://") :]
                key = SessionKey("Приложение", "пользователь-🙂", "сессия")
                async with open_store(target) as store:
                    await store.create_session(key, {"user:имя": "Ада 🙂", "s": text})
                    await store.append_event(key, text, state_delta={"app:ключ": "значение"})
                    record = await store.get_session(key)
                    assert record is not None and record.events[0].data == text
                    assert record.state["s"] == text and record.state["user:имя"] == "Ада 🙂"
                    assert record.state["app:ключ"] == "значение"
                rows = await admin(
                    url,
                    "SELECT TABLE_NAME, TABLE_COLLATION, ENGINE FROM information_schema.TABLES "
                    f"WHERE TABLE_SCHEMA = '{database}'",
                )
                assert rows and all(
                    collation == "utf8mb4_bin" and engine == "InnoDB"
                    for _, collation, engine in rows
                ), rows

    run(scenario())


# -- SQLite -----------------------------------------------------------------------


def test_sqlite_file_that_is_not_a_database_is_permanent(tmp_path: Path) -> None:
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"this is not a database file, " * 100)

    async def scenario() -> None:
        async with open_store(f"sqlite:///{path}") as store:
            with pytest.raises(BackendRejected) as raised:
                await store.add_items(K, [{"i": 1}])
        permanent(raised.value, "not a SQLite database")

    run(scenario())
    assert path.read_bytes() == b"this is not a database file, " * 100


def test_sqlite_unopenable_path_is_permanent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_store(f"sqlite:///{tmp_path}/no/such/directory/store.db") as store:
            with pytest.raises(BackendRejected) as raised:
                await store.get_items(K)
        permanent(raised.value, "cannot be opened", "directory")

    run(scenario())


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` read-only even for root (chattr +i), restored afterwards."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {done.stderr!r}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_sqlite_read_only_file_is_permanent(tmp_path: Path) -> None:
    path = tmp_path / "store.db"

    async def write(extra: dict[str, Any]) -> None:
        async with open_store(f"sqlite:///{path}") as store:
            await store.add_items(K, [extra])

    run(write({"i": 0}))
    if os.geteuid() != 0:
        path.chmod(0o444)
        context: Any = contextlib.nullcontext()
    else:
        context = immutable(path)
    with context:

        async def scenario() -> None:
            async with open_store(f"sqlite:///{path}") as store:
                assert await store.get_items(K) == [{"i": 0}]
                with pytest.raises(BackendRejected) as raised:
                    await store.add_items(K, [{"i": 1}])
            permanent(raised.value, "read-only", "writable")

        run(scenario())


# -- transient failures ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://root@127.0.0.1:1/test", id="postgresql"),
        pytest.param("mysql://root@127.0.0.1:1/test", id="mysql"),
    ],
)
def test_unreachable_server_is_transient(url: str) -> None:
    """Nothing listening: BackendUnavailable naming the server and what to check."""

    async def scenario() -> None:
        async with open_store(url, connect_timeout=2) as store:
            with pytest.raises(BackendUnavailable) as raised:
                await store.get_session(K)
        assert raised.value.transient
        assert "127.0.0.1:1" in str(raised.value) and "running" in str(raised.value)
        assert raised.value.__cause__ is not None

    run(scenario())


# -- the mapping itself, for what a test cannot make a server do on demand ------------


def _spec(family: str) -> Any:
    return {
        "sqlite": SQLStore("sqlite://"),
        "postgresql": SQLStore("postgresql://u@h/db"),
        "mysql": SQLStore("mysql://u@h/db"),
    }[family]._spec


class _PostgresError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


class _MySQLError(Exception):
    pass


@pytest.mark.parametrize(
    ("family", "error", "kind", "retry"),
    [
        ("postgresql", _PostgresError("57P01"), BackendUnavailable, Retry.RECONNECT),
        ("postgresql", _PostgresError("08006"), BackendUnavailable, Retry.RECONNECT),
        ("postgresql", _PostgresError("40P01"), BackendUnavailable, Retry.AGAIN),
        ("postgresql", _PostgresError("40001"), BackendUnavailable, Retry.AGAIN),
        ("postgresql", _PostgresError("53300"), BackendUnavailable, None),
        ("postgresql", _PostgresError("25006"), BackendRejected, None),
        ("postgresql", _PostgresError("54000"), EntryTooLarge, None),
        (
            "mysql",
            _MySQLError(1153, "Got a packet bigger than 'max_allowed_packet'"),
            EntryTooLarge,
            None,
        ),
        ("mysql", _MySQLError(2013, "Lost connection"), BackendUnavailable, Retry.RECONNECT),
        ("mysql", _MySQLError(1213, "Deadlock found"), BackendUnavailable, Retry.AGAIN),
        ("mysql", _MySQLError(1290, "--read-only"), BackendRejected, None),
        (
            "mysql",
            _MySQLError("Packet sequence number wrong - got 1 expected 3"),
            BackendUnavailable,
            Retry.RECONNECT,
        ),
        ("sqlite", ConnectionRefusedError(111, "refused"), BackendUnavailable, Retry.RECONNECT),
        ("postgresql", TimeoutError(), BackendUnavailable, None),
        ("mysql", sa.exc.TimeoutError("QueuePool limit"), BackendUnavailable, None),
    ],
)
def test_one_mapping_classifies_driver_errors(
    family: str, error: BaseException, kind: type[BackendError], retry: Retry | None
) -> None:
    failure = describe(error, _spec(family))
    assert failure.kind is kind
    assert failure.retry is retry
    message = str(failure.error(_spec(family)))
    assert failure.cause in message and failure.fix in message
