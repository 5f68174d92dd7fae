"""A database ADK's own session service wrote is never silently hidden.

``register_with_adk()`` makes omnisession serve ``sqlite://`` (and the other
SQL schemes) for ``adk web``. Pointed at a SQLite file that ADK's own
``SqliteSessionService`` or ``DatabaseSessionService`` wrote, omnisession
would start its own tables beside ADK's and the user's sessions would
vanish from view. Instead the service stops with a message that names the
file, how many sessions it holds, who wrote them and the command that copies
them into a new omnisession database (or the switch to open it anyway). The
files here are written by ADK's own services.
"""

from __future__ import annotations

import asyncio
import shlex
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from google.adk.cli.service_registry import ServiceRegistry
from google.adk.events.event import Event
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from omnisession import SessionKey, open_store
from omnisession.adk import ExistingADKSessions, OmniSessionService, register_with_adk
from omnisession.memory import MemoryStore
from omnisession_sqlalchemy import engine_url
from omnisession_sqlalchemy.testing import mysql_database_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from ..targets.sqlalchemy import MARIADB_URL, PG_URL, admin


async def _write_with_sqlite_service(path: Path, sessions: int) -> None:
    service = SqliteSessionService(str(path))
    for index in range(sessions):
        session = await service.create_session(
            app_name="app", user_id="ada", session_id=f"adk-{index}", state={"n": index}
        )
        await service.append_event(session, Event(author="user", invocation_id="inv"))
    await service.close()


async def _write_with_database_service(path: Path, sessions: int) -> None:
    async with DatabaseSessionService(f"sqlite+aiosqlite:///{path}") as service:
        for index in range(sessions):
            session = await service.create_session(
                app_name="app", user_id="ada", session_id=f"adk-{index}"
            )
            await service.append_event(session, Event(author="user", invocation_id="inv"))


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}


@pytest.mark.parametrize(
    ("writer", "source"),
    [
        ("SqliteSessionService", "adk+sqlite:///{path}"),
        ("DatabaseSessionService", "adk+db://sqlite+aiosqlite:///{path}"),
    ],
)
def test_a_file_adk_wrote_is_refused_with_the_copy_command(
    tmp_path: Path, writer: str, source: str
) -> None:
    path = tmp_path / "sessions.db"
    write = (
        _write_with_sqlite_service
        if writer == "SqliteSessionService"
        else _write_with_database_service
    )
    asyncio.run(write(path, 2))
    before = _tables(path)
    with pytest.raises(ExistingADKSessions) as refused:
        OmniSessionService(f"sqlite:///{path}")
    message = str(refused.value)
    assert f"holds 2 sessions written by Google ADK's own {writer}" in message
    assert f"omnisession copy {source.format(path=path)} sqlite:///" in message
    assert message.split("`")[1].endswith(" --app app")
    assert "check_adk_tables=False" in message
    assert _tables(path) == before, "nothing was created beside ADK's tables"

    async def adk_still_reads_them() -> list[str]:
        # The source URL the message names opens ADK's data as an omnisession store.
        async with open_store(source.format(path=path)) as store:
            page = await store.list_sessions("app", "ada")
            return [record.key.session_id for record in page.sessions]

    assert sorted(asyncio.run(adk_still_reads_them())) == ["adk-0", "adk-1"]


def test_adk_web_with_register_with_adk_refuses_the_file_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ADK's registry, with the relative and the driver-qualified URL forms."""
    monkeypatch.chdir(tmp_path)
    asyncio.run(_write_with_sqlite_service(tmp_path / "chat.db", 1))
    adk_registry = ServiceRegistry()
    register_with_adk(adk_registry, schemes=["sqlite", "sqlite+aiosqlite"])
    for url in ("sqlite:///chat.db", f"sqlite+aiosqlite:///{tmp_path}/chat.db"):
        with pytest.raises(ExistingADKSessions, match="holds 1 session written"):
            adk_registry.create_session_service(url, agents_dir=str(tmp_path))
    allowing = ServiceRegistry()
    register_with_adk(allowing, schemes=["sqlite"], check_adk_tables=False)
    service = allowing.create_session_service("sqlite:///chat.db", agents_dir=str(tmp_path))
    assert isinstance(service, OmniSessionService)


def test_opting_out_opens_the_file_and_leaves_adk_data_alone(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    asyncio.run(_write_with_sqlite_service(path, 1))

    async def scenario() -> None:
        async with OmniSessionService(f"sqlite:///{path}", check_adk_tables=False) as service:
            await service.create_session(app_name="app", user_id="ada", session_id="omni")
            listed = await service.list_sessions(app_name="app", user_id="ada")
            assert [s.id for s in listed.sessions] == ["omni"]
        adk = SqliteSessionService(str(path))
        assert (
            await adk.get_session(app_name="app", user_id="ada", session_id="adk-0")
        ) is not None
        await adk.close()

    asyncio.run(scenario())


def test_files_without_adk_sessions_open_normally(tmp_path: Path) -> None:
    """A new file, an omnisession file, and ADK tables with no session in them are all fine."""
    empty_adk = tmp_path / "empty.db"

    async def create_and_delete() -> None:
        await _write_with_sqlite_service(empty_adk, 1)
        adk = SqliteSessionService(str(empty_adk))
        await adk.delete_session(app_name="app", user_id="ada", session_id="adk-0")
        await adk.close()

    asyncio.run(create_and_delete())
    assert "sessions" in _tables(empty_adk)
    for url in (f"sqlite:///{tmp_path}/new.db", f"sqlite:///{empty_adk}", "sqlite://", "memory://"):
        OmniSessionService(url)
    not_a_database = tmp_path / "junk.db"
    not_a_database.write_bytes(b"not sqlite at all")
    OmniSessionService(f"sqlite:///{not_a_database}")  # the store reports that, on first use


class ProbedStore(MemoryStore):
    """A store that can tell whether ADK's own tables share its database."""

    def __init__(self, found: int) -> None:
        super().__init__()
        self.found = found
        self.probes = 0

    async def count_adk_sessions(self) -> int:
        self.probes += 1
        return self.found

    def __repr__(self) -> str:
        return "ProbedStore('postgresql://db.internal/chat')"


def test_a_store_offering_the_probe_is_checked_before_its_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Network databases are checked by the store (count_adk_sessions) on first use."""
    stores: list[ProbedStore] = []

    def fake_open_store(url: str, **options: Any) -> ProbedStore:
        stores.append(ProbedStore(found=3 if "adk" in url else 0))
        return stores[-1]

    monkeypatch.setattr("omnisession.adk.open_store", fake_open_store)

    async def scenario() -> None:
        refusing = OmniSessionService("postgresql://db.internal/adk")
        for _ in range(2):
            with pytest.raises(ExistingADKSessions, match="holds 3 sessions"):
                await refusing.get_session(app_name="app", user_id="u", session_id="s")
        clean = OmniSessionService("postgresql://db.internal/chat")
        await clean.create_session(app_name="app", user_id="u", session_id="s")
        await clean.get_session(app_name="app", user_id="u", session_id="s")
        assert stores[1].probes == 1, "checked once, on first use"
        skipped = OmniSessionService("postgresql://db.internal/adk", check_adk_tables=False)
        await skipped.create_session(app_name="app", user_id="u")
        assert stores[2].probes == 0
        given = ProbedStore(found=3)
        await OmniSessionService(given).create_session(app_name="app", user_id="u")
        assert given.probes == 0, "a store you opened yourself is yours to judge"
        assert await given.get_session(SessionKey("app", "u", "s")) is None

    asyncio.run(scenario())


@asynccontextmanager
async def _postgresql_database() -> AsyncIterator[URL]:
    """A fresh PostgreSQL database (ADK's service writes to its default schema)."""
    name = f"adk_probe_{uuid.uuid4().hex[:12]}"
    await admin(PG_URL, f'CREATE DATABASE "{name}"')
    try:
        yield engine_url(PG_URL).url.set(database=name)
    finally:
        await admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def _mariadb_database() -> AsyncIterator[URL]:
    """A fresh MariaDB database."""
    async with mysql_database_url(MARIADB_URL) as url:
        yield engine_url(url).url


async def _table_names(database: URL) -> set[str]:
    engine = create_async_engine(database)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "database",
    [
        pytest.param(_postgresql_database, id="postgresql", marks=pytest.mark.postgres),
        pytest.param(_mariadb_database, id="mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_a_server_database_adk_wrote_is_refused_before_the_first_operation(
    database: Callable[[], AbstractAsyncContextManager[URL]],
) -> None:
    """ADK's ``DatabaseSessionService`` on a PostgreSQL or MariaDB database: the service
    opened on the same database stops at its first call, and creates nothing there."""

    async def scenario() -> None:
        async with database() as url:
            async with DatabaseSessionService(url.render_as_string(hide_password=False)) as adk:
                for index in range(3):
                    await adk.create_session(app_name="app", user_id="ada", session_id=f"s{index}")
            before = await _table_names(url)
            plain = url.set(drivername=url.get_backend_name()).render_as_string(
                hide_password=False
            )
            async with OmniSessionService(plain) as service:
                with pytest.raises(ExistingADKSessions, match="holds 3 sessions written by"):
                    await service.get_session(app_name="app", user_id="ada", session_id="s0")
            assert await _table_names(url) == before, "nothing was created beside ADK's tables"
            async with OmniSessionService(plain, check_adk_tables=False) as service:
                await service.create_session(app_name="app", user_id="ada", session_id="omni")
                listed = await service.list_sessions(app_name="app", user_id="ada")
                assert [session.id for session in listed.sessions] == ["omni"]

    asyncio.run(scenario())


_CLI = "import sys; from omnisession.cli import main; sys.exit(main())"


def test_the_copy_command_in_the_message_does_the_job(tmp_path: Path) -> None:
    """Run the very command the refusal prints; the service then opens the copy and the
    conversation goes on."""
    path = tmp_path / "my chats.db"  # a space, so the command must quote the path
    asyncio.run(_write_with_sqlite_service(path, 2))
    with pytest.raises(ExistingADKSessions) as refused:
        OmniSessionService(f"sqlite:///{path}")
    command = shlex.split(str(refused.value).split("`")[1])
    assert command[:2] == ["omnisession", "copy"]
    done = subprocess.run(
        [sys.executable, "-c", _CLI, *command[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    copy_url = command[3]

    async def continue_there() -> None:
        async with OmniSessionService(copy_url) as service:
            session = await service.get_session(app_name="app", user_id="ada", session_id="adk-1")
            assert session is not None and session.state == {"n": 1} and len(session.events) == 1
            await service.append_event(session, Event(author="user", invocation_id="next"))
            listed = await service.list_sessions(app_name="app", user_id="ada")
            assert sorted(s.id for s in listed.sessions) == ["adk-0", "adk-1"]

    asyncio.run(continue_there())
