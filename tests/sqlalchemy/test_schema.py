"""The schema: created once by concurrent first users, newer versions refused, and the
first migration (version 1 -> 2) done in place, once, by processes starting together."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from omnisession import IncompatibleSchema, SessionKey, open_store
from omnisession_sqlalchemy import SCHEMA_VERSION, SQLStore, engine_url
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ..targets.sqlalchemy import mariadb_url, postgres_url, sqlite_file_url

UrlFactory = Callable[[], AbstractAsyncContextManager[str]]
PERSISTENT = [
    pytest.param(sqlite_file_url, id="sqlite-file"),
    pytest.param(postgres_url, id="postgresql", marks=pytest.mark.postgres),
    pytest.param(mariadb_url, id="mariadb", marks=pytest.mark.mariadb),
]


def run(coroutine: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coroutine

    return asyncio.run(main())


def key(session: str = "s", user: str = "u", app: str = "sql-tests") -> SessionKey:
    return SessionKey(app, user, session)


async def raw(url: str, statements: list[str]) -> list[Any]:
    """Run statements in one transaction on the store's database (``{schema}`` is the
    store's schema prefix, or nothing); the rows of the last."""
    spec = engine_url(url)
    engine = create_async_engine(spec.url)
    prefix = ""
    if spec.options.schema:
        prefix = engine.dialect.identifier_preparer.quote_schema(spec.options.schema) + "."
    try:
        async with engine.begin() as connection:
            result = None
            for statement in statements:
                text = statement.replace("{schema}", prefix)
                if spec.family == "mysql":
                    text = text.replace("%", "%%")
                result = await connection.exec_driver_sql(text)
            return list(result) if result is not None and result.returns_rows else []
    finally:
        await engine.dispose()


@pytest.mark.parametrize("target", PERSISTENT)
def test_newer_schema_is_refused_and_nothing_is_touched(target: UrlFactory) -> None:
    """A database written by a newer omnisession raises IncompatibleSchema, clearly,
    and the data in it is left as it was."""

    async def scenario() -> None:
        async with target() as url:
            async with open_store(url) as store:
                await store.add_items(key(), [{"i": 1}])
            newer = (
                f"UPDATE {{schema}}omnisession_schema_version SET version = {SCHEMA_VERSION + 1}"
            )
            await raw(url, [newer])
            async with open_store(url) as store:
                with pytest.raises(IncompatibleSchema, match="upgrade omnisession-sqlalchemy"):
                    await store.get_items(key())
                with pytest.raises(IncompatibleSchema):
                    await store.add_items(key(), [{"i": 2}])
            current = f"UPDATE {{schema}}omnisession_schema_version SET version = {SCHEMA_VERSION}"
            await raw(url, [current])
            async with open_store(url) as store:
                assert await store.get_items(key()) == [{"i": 1}]

    run(scenario())


@pytest.mark.parametrize("target", PERSISTENT)
def test_concurrent_first_use_creates_the_schema_once(target: UrlFactory) -> None:
    """Several stores (engines) starting on an empty database at once all work."""

    async def scenario() -> None:
        async with target() as url:
            stores = [open_store(url) for _ in range(4)]
            try:

                def from_thread(index: int) -> None:
                    async def inner() -> None:
                        async with open_store(url) as store:
                            await store.add_items(key(f"thread{index}"), [{"i": index}])

                    asyncio.run(inner())

                await asyncio.gather(
                    *(s.add_items(key(f"s{i}"), [{"i": i}]) for i, s in enumerate(stores)),
                    *(asyncio.to_thread(from_thread, i) for i in range(2)),
                )
            finally:
                for store in stores:
                    await store.aclose()
            rows = await raw(url, ["SELECT id, version FROM {schema}omnisession_schema_version"])
            assert [tuple(row) for row in rows] == [(1, SCHEMA_VERSION)]
            async with open_store(url) as store:
                listed = await store.list_sessions("sql-tests")
                assert len(listed.sessions) == 6

    run(scenario())


# -- version 1, as git HEAD~1's schema.py created it ------------------------------------

_V1_COMMON = [
    "CREATE TABLE {schema}omnisession_app_state (app_hash VARCHAR(64) NOT NULL, "
    "name_hash VARCHAR(64) NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY (app_hash, name_hash))",
    "CREATE TABLE {schema}omnisession_events (session_pk BIGINT NOT NULL, seq BIGINT NOT NULL, "
    "ts DOUBLE PRECISION NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session_pk, seq))",
    "CREATE TABLE {schema}omnisession_schema_version (id INTEGER NOT NULL, "
    "version INTEGER NOT NULL, written_by TEXT NOT NULL, PRIMARY KEY (id))",
    "CREATE TABLE {schema}omnisession_sessions (id {id} NOT NULL, key_hash VARCHAR(64) NOT NULL, "
    "app_hash VARCHAR(64) NOT NULL, user_hash VARCHAR(64) NOT NULL, app_name TEXT NOT NULL, "
    "user_id TEXT NOT NULL, session_id TEXT NOT NULL, revision BIGINT NOT NULL, "
    "next_seq BIGINT NOT NULL, state TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
    "updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (id), UNIQUE (key_hash))",
    "CREATE INDEX omnisession_sessions_user ON {schema}omnisession_sessions "
    "(user_hash, updated_at, id)",
    "CREATE INDEX omnisession_sessions_app ON {schema}omnisession_sessions "
    "(app_hash, updated_at, id)",
    "CREATE TABLE {schema}omnisession_user_state (user_hash VARCHAR(64) NOT NULL, "
    "name_hash VARCHAR(64) NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY (user_hash, name_hash))",
]

_ASCII = "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL"
_MYSQL_TABLE = ")ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin"

# The MySQL DDL exactly as version 1 compiled it under mysql:// URLs.
V1_MYSQL = [
    f"CREATE TABLE omnisession_app_state (app_hash {_ASCII}, name_hash {_ASCII}, "
    f"name TEXT NOT NULL, value LONGTEXT NOT NULL, PRIMARY KEY (app_hash, name_hash){_MYSQL_TABLE}",
    "CREATE TABLE omnisession_events (session_pk BIGINT NOT NULL, seq BIGINT NOT NULL, "
    f"ts DOUBLE NOT NULL, data LONGTEXT NOT NULL, PRIMARY KEY (session_pk, seq){_MYSQL_TABLE}",
    "CREATE TABLE omnisession_schema_version (id INTEGER NOT NULL, version INTEGER NOT NULL, "
    f"written_by TEXT NOT NULL, PRIMARY KEY (id){_MYSQL_TABLE}",
    f"CREATE TABLE omnisession_sessions (id BIGINT NOT NULL AUTO_INCREMENT, key_hash {_ASCII}, "
    f"app_hash {_ASCII}, user_hash {_ASCII}, app_name TEXT NOT NULL, user_id TEXT NOT NULL, "
    "session_id TEXT NOT NULL, revision BIGINT NOT NULL, next_seq BIGINT NOT NULL, "
    "state LONGTEXT NOT NULL, created_at DOUBLE NOT NULL, updated_at DOUBLE NOT NULL, "
    f"PRIMARY KEY (id), UNIQUE (key_hash){_MYSQL_TABLE}",
    "CREATE INDEX omnisession_sessions_user ON omnisession_sessions (user_hash, updated_at, id)",
    "CREATE INDEX omnisession_sessions_app ON omnisession_sessions (app_hash, updated_at, id)",
    f"CREATE TABLE omnisession_user_state (user_hash {_ASCII}, name_hash {_ASCII}, "
    "name TEXT NOT NULL, value LONGTEXT NOT NULL, "
    f"PRIMARY KEY (user_hash, name_hash){_MYSQL_TABLE}",
]
# Under mariadb:// URLs version 1 passed no table options: the database's defaults.
V1_MARIADB_URL = [statement.replace(_MYSQL_TABLE, ")") for statement in V1_MYSQL]


def v1_ddl(family: str) -> list[str]:
    if family == "mysql":
        return V1_MYSQL
    if family == "postgresql":
        return [statement.replace("{id}", "BIGSERIAL") for statement in _V1_COMMON]
    return [
        statement.replace("{id}", "INTEGER").replace("DOUBLE PRECISION", "DOUBLE")
        for statement in _V1_COMMON
    ]


def _digest(*parts: str) -> str:
    text = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


ALICE = key("s1", "alice", "mig")
BOB = key("empty", "bob", "mig")


def v1_data(latin1: bool = False) -> list[str]:
    """Two sessions (one with events, one never written), scopes, and scopes whose
    sessions are all gone (version 1 kept only their hashes). ``latin1``: only text
    a latin1 table could hold."""
    rows: list[str] = []
    name, text = ("nom", "é") if latin1 else ("имя", "é🙂")

    def insert(table: str, values: dict[str, Any]) -> None:
        columns = ", ".join(values)
        quoted = ", ".join(_quote(value) for value in values.values())
        rows.append(f"INSERT INTO {{schema}}omnisession_{table} ({columns}) VALUES ({quoted})")

    for session_pk, (k, revision, next_seq, state) in enumerate(
        [(ALICE, 5, 4, {"s": 3, name: "Adé"}), (BOB, 1, 1, {"k": "v"})], start=1
    ):
        insert(
            "sessions",
            {
                "id": session_pk,
                "key_hash": _digest(k.app_name, k.user_id, k.session_id),
                "app_hash": _digest(k.app_name),
                "user_hash": _digest(k.app_name, k.user_id),
                "app_name": k.app_name,
                "user_id": k.user_id,
                "session_id": k.session_id,
                "revision": revision,
                "next_seq": next_seq,
                "state": _text(state),
                "created_at": 1000.0 + session_pk,
                "updated_at": 2000.0 + session_pk,
            },
        )
    for seq in (1, 2, 3):
        event = {
            "session_pk": 1,
            "seq": seq,
            "ts": 1500.0 + seq,
            "data": _text({"n": seq, "t": text}),
        }
        insert("events", event)
    for app, name, value in (("mig", "a", 1), ("ghost", "g", 2)):
        insert(
            "app_state",
            {
                "app_hash": _digest(app),
                "name_hash": _name_hash(name),
                "name": _text(name),
                "value": _text(value),
            },
        )
    for app, user, name, value in (("mig", "alice", "u", 1), ("mig", "carol", "c", 3)):
        insert(
            "user_state",
            {
                "user_hash": _digest(app, user),
                "name_hash": _name_hash(name),
                "name": _text(name),
                "value": _text(value),
            },
        )
    insert("schema_version", {"id": 1, "version": 1, "written_by": "omnisession-sqlalchemy 0.1.0"})
    return rows


def _name_hash(name: str) -> str:
    return hashlib.sha256(_text(name).encode()).hexdigest()


_WORKER = textwrap.dedent(
    """
    import asyncio, json, logging, os, sys, time
    from omnisession import SessionKey, open_store

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="LOG %(message)s")
    url, ready, go, tag = sys.argv[1:5]
    open(ready, "w").close()
    while not os.path.exists(go):  # start together: the race is the point
        time.sleep(0.01)

    async def main():
        async with open_store(url) as store:
            alice = SessionKey("mig", "alice", "s1")
            record = await store.get_session(alice)
            await store.append_event(alice, {"by": tag}, state_delta={"last": tag})
            print("RESULT " + json.dumps([e.data for e in record.events]))

    asyncio.run(main())
    """
)


async def _migrate_with_processes(url: str, count: int) -> list[str]:
    """``count`` processes open the version-1 database at once; their outputs."""
    directory = tempfile.mkdtemp(prefix="omnisession-migrate-")
    go = os.path.join(directory, "go")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = []
    for index in range(count):
        ready = os.path.join(directory, f"ready{index}")
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER,
                url,
                ready,
                go,
                f"p{index}",
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
    try:
        await asyncio.to_thread(_start_together, directory, count, go)
        outputs = []
        for process in processes:
            output, _ = await process.communicate()
            outputs.append(output.decode())
            assert process.returncode == 0, output.decode()[-3000:]
        return outputs
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _start_together(directory: str, count: int, go: str) -> None:
    """Once every worker is ready (imports done), tell them all to go."""
    while not all(os.path.exists(os.path.join(directory, f"ready{i}")) for i in range(count)):
        time.sleep(0.01)
    with open(go, "w", encoding="utf-8"):
        pass


async def _check_migrated(url: str, outputs: list[str]) -> None:
    assert sum("migrated the schema" in output for output in outputs) == 1, outputs
    original = [{"n": seq, "t": "é🙂"} for seq in (1, 2, 3)]
    for output in outputs:
        seen = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
        assert seen[:3] == original
    async with open_store(url) as store:
        assert isinstance(store, SQLStore)
        alice = await store.get_session(ALICE)
        assert alice is not None
        assert [e.data for e in alice.events[:3]] == original
        assert [e.seq for e in alice.events] == list(range(1, 4 + len(outputs)))
        assert alice.events[0].state_delta is None  # version 1 recorded none
        assert {e.state_delta["last"] for e in alice.events[3:]} == {  # type: ignore[index]
            f"p{i}" for i in range(len(outputs))
        }
        assert alice.revision == 5 + len(outputs)
        assert alice.state["s"] == 3 and alice.state["имя"] == "Adé"
        assert alice.state["app:a"] == 1 and alice.state["user:u"] == 1
        assert alice.base_state is None  # unknown: it had events before version 2
        bob = await store.get_session(BOB)
        assert (
            bob is not None and bob.base_state == {"k": "v"} and bob.state == {"k": "v", "app:a": 1}
        )
        # whole forks are exact; a fork at an earlier event starts from what is known
        whole = await store.fork_session(ALICE, key("whole", "alice", "mig"))
        assert {k: v for k, v in whole.state.items() if ":" not in k} == {
            k: v for k, v in alice.state.items() if ":" not in k
        }
        early = await store.fork_session(ALICE, key("early", "alice", "mig"), up_to=2)
        assert {k: v for k, v in early.state.items() if ":" not in k} == {}
        # scopes: named from their sessions; those without any stay findable by hash
        assert await store.list_apps() == ["mig"]
        assert await store.get_user_state("mig", "carol") == {"c": 3}
        assert await store.erase_user("mig", "carol") == 0
        assert await store.get_user_state("mig", "carol") == {}
        await store.update_app_state("ghost", {"g2": 3})  # the write names it
        assert await store.list_apps() == ["ghost", "mig"]
        assert await store.erase_app("ghost") == 0
        assert await store.get_app_state("ghost") == {}
        assert await store.erase_user("mig", "alice") == 3
        assert await store.get_user_state("mig", "alice") == {}
    rows = await raw(url, ["SELECT version, written_by FROM {schema}omnisession_schema_version"])
    assert rows[0][0] == SCHEMA_VERSION and "migrated from 1" in rows[0][1]


@pytest.mark.parametrize("target", PERSISTENT)
def test_a_version_1_database_is_migrated_once_by_processes_starting_together(
    target: UrlFactory,
) -> None:
    """The raw version-1 DDL with data; four processes open it at once: every one
    succeeds, exactly one migrates, nothing is lost, and the new operations work."""

    async def scenario() -> None:
        async with target() as url:
            spec = engine_url(url)
            statements = v1_ddl(spec.family)
            data = v1_data()
            if spec.family == "postgresql":
                statements = [f"CREATE SCHEMA {spec.options.schema}", *statements]
                # the rows were inserted with their ids: move the id sequence past them
                sequence = f"{spec.options.schema}.omnisession_sessions_id_seq"
                data.append(f"SELECT setval('{sequence}', 2)")
            await raw(url, [*statements, *data])
            outputs = await _migrate_with_processes(url, 4)
            await _check_migrated(url, outputs)

    run(scenario())


@pytest.mark.mariadb
def test_a_version_1_mariadb_url_database_in_latin1_is_converted_to_utf8mb4() -> None:
    """Version 1 under mariadb:// created tables in the database's default character set
    (latin1 on a stock MariaDB): the migration converts them, data intact."""

    async def scenario() -> None:
        async with mariadb_url() as url:
            database = make_url(url).database
            await raw(url, [f"ALTER DATABASE `{database}` CHARACTER SET latin1"])
            await raw(url, [*V1_MARIADB_URL, *v1_data(latin1=True)])
            mariadb = "mariadb" + url[url.index("://") :]
            async with open_store(mariadb) as store:
                text = {"ru": "Привет", "emoji": "🙂"}
                await store.append_event(ALICE, text, state_delta={"user:имя": "Ада 🙂"})
                record = await store.get_session(ALICE)
                assert record is not None and record.events[-1].data == text
                assert record.state["user:имя"] == "Ада 🙂"
            rows = await raw(
                url,
                [
                    "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
                    f"WHERE TABLE_SCHEMA = '{database}' AND CHARACTER_SET_NAME IS NOT NULL"
                ],
            )
            assert {charset for _, charset in rows} == {"utf8mb4", "ascii"}, rows  # ascii: hashes
            async with open_store(mariadb) as store:
                old = await store.get_session(ALICE)
                assert old is not None and old.events[0].data == {"n": 1, "t": "é"}
                assert old.state["nom"] == "Adé"

    run(scenario())
