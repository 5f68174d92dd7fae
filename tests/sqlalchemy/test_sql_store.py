"""What the SQL backend guarantees beyond the conformance suite.

Every test runs against the real servers of this machine (tests/targets
describes how each is isolated). The conformance suite itself runs on these
targets in tests/test_store_conformance.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import re
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from omnisession import (
    AlreadyExists,
    BackendError,
    BackendRejected,
    BackendUnavailable,
    SessionKey,
    SessionNotFound,
    open_store,
)
from omnisession_sqlalchemy import SQLStore, engine_url
from sqlalchemy.ext.asyncio import create_async_engine

from ..targets.sqlalchemy import (
    MARIADB_URL,
    PG_URL,
    mariadb_url,
    postgres_url,
    sqlite_file_url,
    sqlite_memory_url,
)

T = TypeVar("T")
UrlFactory = Callable[[], AbstractAsyncContextManager[str]]

PERSISTENT = [
    pytest.param(sqlite_file_url, id="sqlite-file"),
    pytest.param(postgres_url, id="postgresql", marks=pytest.mark.postgres),
    pytest.param(mariadb_url, id="mariadb", marks=pytest.mark.mariadb),
]
ALL = [*PERSISTENT, pytest.param(sqlite_memory_url, id="sqlite-memory")]
SERVERS = PERSISTENT[1:]


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def key(session: str = "s", user: str = "u") -> SessionKey:
    return SessionKey("sql-tests", user, session)


def table_name(url: str, engine: sa.ext.asyncio.AsyncEngine, table: str) -> str:
    """The quoted name of the store's table ``table`` (``"events"``...) at ``url``."""
    schema = engine_url(url).options.schema
    name = engine.dialect.identifier_preparer.quote(f"omnisession_{table}")
    if schema:
        name = f"{engine.dialect.identifier_preparer.quote_schema(schema)}.{name}"
    return name


async def raw(url: str, statement: str | list[str], table: str | None = None) -> list[Any]:
    """Run statements on one connection to the store's database (``{t}`` naming one
    of its tables); the rows of the last."""
    engine = create_async_engine(engine_url(url).url)
    try:
        statements = [statement] if isinstance(statement, str) else statement
        if table is not None:
            name = table_name(url, engine, table)
            statements = [text.format(t=name) for text in statements]
        async with engine.begin() as conn:
            for text in statements:
                result = await conn.exec_driver_sql(text)
            return list(result) if result.returns_rows else []
    finally:
        await engine.dispose()


# -- event loops and threads ----------------------------------------------------


@pytest.mark.parametrize("target", ALL)
def test_one_store_serves_every_event_loop_and_thread(target: UrlFactory) -> None:
    """Runner.run_sync calls a session from a fresh loop in a worker thread:
    one store works there, concurrently with its own loop, and afterwards."""

    async def scenario() -> None:
        async with target() as url, open_store(url) as store:
            k = key()
            await store.create_session(k)

            async def burst(tag: str) -> None:
                await asyncio.gather(
                    *(store.append_event(k, {"t": tag, "i": i}) for i in range(10))
                )

            def in_fresh_loop(tag: str) -> list[dict[str, Any]]:
                async def inner() -> list[dict[str, Any]]:
                    await burst(tag)
                    return await store.get_items(k)

                return asyncio.run(inner())

            # the thread's loop and this loop use the store at the same time
            seen, _ = await asyncio.gather(asyncio.to_thread(in_fresh_loop, "t1"), burst("main"))
            assert len({(i["t"], i["i"]) for i in seen}) >= 10
            # that loop is closed now; this one and yet another keep working
            await store.append_event(k, {"t": "main", "i": 10})
            await asyncio.to_thread(in_fresh_loop, "t2")
            items = await store.get_items(k)
            assert len(items) == 31
            assert len({(i["t"], i["i"]) for i in items}) == 31

    run(scenario())


@pytest.mark.parametrize("target", PERSISTENT)
def test_connections_of_a_loop_closed_without_shutdown_go_back(target: UrlFactory) -> None:
    """``Runner.run_sync`` in a worker thread leaves its loop closed without shutting
    down async generators: the connections that loop kept leased are released
    (terminated, not left checked out) when the next loop starts using the store."""

    async def scenario() -> None:
        async with target() as url, open_store(url) as store:
            assert isinstance(store, SQLStore)
            k = key()
            await store.add_items(k, [{"i": 0}])

            def on_abandoned_loop() -> Any:
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(store.get_items(k))
                    return loop.run_until_complete(_pool_of(store))
                finally:
                    loop.close()  # no shutdown_asyncgens(): what run_sync leaves behind

            pool = await asyncio.to_thread(on_abandoned_loop)
            assert pool.checkedout() >= 1  # kept leased for that loop's next call
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                # the next run_sync: a new loop in a worker thread
                assert await asyncio.to_thread(asyncio.run, store.get_items(k)) == [{"i": 0}]
                gc.collect()
            assert pool.checkedout() == 0
            # released by the store, not by the garbage collector's complaint
            assert not [w for w in caught if issubclass(w.category, sa.exc.SAWarning)]

    run(scenario())


async def _pool_of(store: SQLStore) -> Any:
    return store._engines.current().engine.sync_engine.pool


@pytest.mark.parametrize("target", PERSISTENT)
def test_a_given_async_engine_is_used_and_left_open(target: UrlFactory) -> None:
    """SQLStore(engine) works, also from another loop, and aclose() leaves the engine to
    its owner."""

    async def scenario() -> None:
        async with target() as url:
            spec = engine_url(url)
            engine = create_async_engine(spec.url)
            try:
                options = {"schema": spec.options.schema} if spec.options.schema else {}
                store = SQLStore(engine, **options)
                async with store:
                    await store.add_items(key(), [{"i": 1}, {"i": 2}])

                    def elsewhere() -> list[dict[str, Any]]:
                        return asyncio.run(store.get_items(key()))

                    assert await asyncio.to_thread(elsewhere) == [{"i": 1}, {"i": 2}]
                # the store is closed; the engine is still the owner's, and usable
                rows = await raw(url, "SELECT COUNT(*) FROM {t}", table="events")
                assert rows[0][0] == 2
                async with engine.connect() as conn:
                    assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1
            finally:
                await engine.dispose()

    run(scenario())


@pytest.mark.parametrize("target", ALL)
def test_cancelled_writes_are_all_or_nothing_and_leave_the_store_usable(
    target: UrlFactory,
) -> None:
    """Writes cancelled mid-flight (a timeout, a closed client) commit whole or not at
    all, and leave no transaction open on a pooled connection."""

    async def scenario() -> None:
        async with target() as url, open_store(url) as store:
            k = key()
            await store.create_session(k)
            tasks = [
                asyncio.create_task(store.add_items(k, [{"b": b, "j": 0}, {"b": b, "j": 1}]))
                for b in range(30)
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await store.append_event(k, {"b": "after"})
            items = await store.get_items(k)
            assert items[-1] == {"b": "after"}
            batches: dict[Any, list[int]] = {}
            for item in items[:-1]:
                batches.setdefault(item["b"], []).append(item["j"])
            assert all(js == [0, 1] for js in batches.values()), batches
            assert len(batches) >= 1

    run(scenario())


#: How many of the store's statements wait for a row lock, on the server of ``url``.
_LOCK_WAITS = {
    "postgresql": (
        "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE '%' || $1 || '%'"
    ),
    "mysql": (
        "SELECT COUNT(*) FROM information_schema.INNODB_TRX t"
        " JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id"
        " WHERE t.trx_state = 'LOCK WAIT' AND p.DB = %s"
    ),
}


async def until_a_statement_waits_for_a_lock(url: str) -> None:
    """Return once one of the store's statements is blocked on a row lock at the server."""
    spec = engine_url(url)
    family = spec.family
    where = spec.options.schema if family == "postgresql" else spec.url.database
    engine = create_async_engine(spec.url)
    try:
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            while True:
                if family == "postgresql":
                    waiting = await driver.fetchval(_LOCK_WAITS[family], where)
                else:
                    async with driver.cursor() as cursor:
                        await cursor.execute(_LOCK_WAITS[family], (where,))
                        (waiting,) = await cursor.fetchone()
                if waiting:
                    return
                await asyncio.sleep(0.01)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("target", SERVERS)
def test_a_write_cancelled_at_the_server_never_lands_after_the_next_call(
    target: UrlFactory,
) -> None:
    """A write cancelled (or timed out) while the server works on it is in doubt: the
    server keeps running a statement it has received, even with the connection
    closed. The store's next call waits until the server is done with it, so what
    that call sees is final and later writes go after it. Here the write is cancelled
    while it waits for a row lock another client holds: it is stopped there, and when
    the lock is released it does not come back to life."""

    async def scenario() -> None:
        async with target() as url, open_store(url) as store:
            k = key()
            await store.create_session(k)
            blocker = create_async_engine(engine_url(url).url)
            try:
                async with blocker.connect() as conn, conn.begin():
                    sessions = table_name(url, blocker, "sessions")
                    await conn.exec_driver_sql(f"SELECT id FROM {sessions} FOR UPDATE")
                    write = asyncio.create_task(store.add_items(k, [{"n": "cancelled"}]))
                    await until_a_statement_waits_for_a_lock(url)
                    write.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await write
                    assert await store.get_items(k) == []
                await store.append_event(k, {"n": "after"})
                assert await store.get_items(k) == [{"n": "after"}]
            finally:
                await blocker.dispose()

    run(scenario())


@pytest.mark.mariadb
def test_deadlocked_writes_are_retried_until_they_pass() -> None:
    """Creates racing erase_user deadlock on InnoDB's gap locks; MariaDB rolls one back
    and the store runs it again after a growing, randomised pause. Retried at once, the
    same transactions met again in the same order and some ran out of retries (2-3 of
    60 races failed): here none may."""

    async def race(store: Any, app: str) -> list[BaseException]:
        async def create(number: int) -> Any:
            key = SessionKey(app, "racer", f"s{number:02d}")
            return await store.create_session(key, {f"user:k{number}": number})

        jobs = [create(number) for number in range(12)]
        jobs.insert(6, store.erase_user(app, "racer"))
        results = await asyncio.gather(*jobs, return_exceptions=True)
        return [
            r for r in results if isinstance(r, BaseException) and not isinstance(r, AlreadyExists)
        ]

    async def scenario() -> None:
        async with mariadb_url() as url, open_store(url) as store:
            failures = [failure for n in range(60) for failure in await race(store, f"app{n}")]
            assert failures == []

    run(scenario())


def test_two_processes_share_one_sqlite_file() -> None:
    """Two processes appending and popping on one SQLite file (WAL, BEGIN IMMEDIATE,
    busy timeout) lose nothing and return each popped item once."""
    worker = textwrap.dedent(
        """
        import asyncio, json, sys
        from omnisession import SessionKey
        from omnisession_sqlalchemy.store import open_sql_store as open_store

        async def main(url, tag):
            key = SessionKey("sql-tests", "u", "shared")
            async with open_store(url) as store:
                await store.add_items(key, [{"t": tag, "i": i} for i in range(20, 25)])
                await asyncio.gather(*(store.append_event(key, {"t": tag, "i": i})
                                       for i in range(20)))
                popped = [await store.pop_item(key) for _ in range(5)]
            print(json.dumps(popped))

        asyncio.run(main(sys.argv[1], sys.argv[2]))
        """
    )

    async def scenario() -> None:
        async with sqlite_file_url() as url:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable, "-c", worker, url, tag, stdout=subprocess.PIPE, env=env
                )
                for tag in ("a", "b")
            ]
            outputs = [await proc.communicate() for proc in procs]
            assert [proc.returncode for proc in procs] == [0, 0]
            import json

            popped = [tuple(item.values()) for out, _ in outputs for item in json.loads(out)]
            async with open_store(url) as store:
                left = [tuple(item.values()) for item in await store.get_items(key("shared"))]
            assert len(popped) == len(set(popped)) == 10
            assert sorted(popped + left) == sorted(
                (tag, i) for tag in ("a", "b") for i in range(25)
            )

    run(scenario())


# -- lost connections -------------------------------------------------------------


@asynccontextmanager
async def pg_login() -> AsyncIterator[tuple[str, Callable[[str], Awaitable[Any]]]]:
    """A PostgreSQL role of its own (so the test can kill and lock out only its
    connections), owning a fresh schema; yields its store URL and an admin runner."""
    import asyncpg  # type: ignore[import-untyped]

    role = f"omni_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
    base = engine_url(PG_URL).url
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'CREATE SCHEMA "{role}" AUTHORIZATION "{role}"')
        url = base.set(username=role, query={"schema": role}).render_as_string(False)
        yield url, admin.fetchval
    finally:
        await admin.execute(f'ALTER ROLE "{role}" LOGIN')
        await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1",
            role,
        )
        await admin.execute(f'DROP SCHEMA "{role}" CASCADE')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


@asynccontextmanager
async def mariadb_login() -> AsyncIterator[tuple[str, Callable[[str], Awaitable[Any]]]]:
    """A MariaDB user of its own with a fresh database; yields its URL and an admin runner."""
    import asyncmy

    user = f"omni_{uuid.uuid4().hex[:16]}"
    server = engine_url(MARIADB_URL).url
    admin = await asyncmy.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 3306,
        user=server.username or "root",
        password=server.password or "",
        autocommit=True,
    )

    async def execute(statement: str) -> Any:
        async with admin.cursor() as cursor:
            await cursor.execute(statement)
            return await cursor.fetchall()

    try:
        await execute(f"CREATE DATABASE `{user}` CHARACTER SET utf8mb4")
        await execute(f"CREATE USER '{user}'@'%'")
        await execute(f"GRANT ALL ON `{user}`.* TO '{user}'@'%'")
        yield (
            server.set(username=user, password=None, database=user).render_as_string(False),
            execute,
        )
    finally:
        await execute(f"DROP USER IF EXISTS '{user}'@'%'")
        await execute(f"DROP DATABASE IF EXISTS `{user}`")
        admin.close()


async def _kill_recover_scenario(
    login: Callable[[], AbstractAsyncContextManager[tuple[str, Any]]],
    kill: Callable[[Any, str], Awaitable[int]],
    lock: Callable[[Any, str, bool], Awaitable[None]],
) -> None:
    async with login() as (url, admin):
        user = engine_url(url).url.username or ""
        async with open_store(url) as store:
            k = key()
            committed = [{"i": 0}, {"i": 1}]
            await store.create_session(k, {"s": 1})
            await store.add_items(k, committed)

            # 1. the server drops the connections: the next call reconnects (a
            #    read is always safe to retry) or reports BackendUnavailable
            assert await kill(admin, user) >= 1
            try:
                assert await store.get_items(k) == committed
            except BackendUnavailable as exc:
                assert exc.__cause__ is not None
            assert await store.get_items(k) == committed

            # 2. a write on a dropped connection never commits twice
            assert await kill(admin, user) >= 1
            try:
                await store.append_event(k, {"i": 2})
                committed.append({"i": 2})
            except BackendUnavailable:
                pass
            assert await store.get_items(k) == committed

            # 3. dropped, and the login is refused when it reconnects: a permanent
            #    BackendRejected (the account is locked), the driver's error chained,
            #    nothing lost; once the login is allowed again, the same store works
            await lock(admin, user, True)
            assert await kill(admin, user) >= 1
            # a write on the killed connection: lost (a single statement that may have
            # committed is not retried) or refused when it reconnects
            with pytest.raises(BackendError) as raised:
                await store.append_event(k, {"i": 3})
            assert raised.value.__cause__ is not None
            with pytest.raises(BackendRejected) as refused:
                await store.get_session(k)
            assert "running" not in str(refused.value)
            assert refused.value.__cause__ is not None
            await lock(admin, user, False)
            record = await store.get_session(k)
            assert record is not None
            assert [e.data for e in record.events] == committed
            assert record.state == {"s": 1}
            await store.append_event(k, {"i": 4})
            assert (await store.get_items(k, 1)) == [{"i": 4}]
            with pytest.raises(SessionNotFound):
                await store.append_event(key("missing"), {"i": 5})


@pytest.mark.postgres
def test_postgres_connection_killed_mid_session_then_recovers() -> None:
    """pg_terminate_backend on the store's connections: BackendUnavailable or a
    transparent reconnect, then recovery, and every committed write is there."""

    async def kill(admin: Any, role: str) -> int:
        return int(
            await admin(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE usename = '{role}'"
            )
        )

    async def lock(admin: Any, role: str, locked: bool) -> None:
        await admin(f'ALTER ROLE "{role}" {"NOLOGIN" if locked else "LOGIN"}')

    run(_kill_recover_scenario(pg_login, kill, lock))


@pytest.mark.mariadb
def test_mariadb_connection_killed_mid_session_then_recovers() -> None:
    """KILL on the store's MariaDB connections: same guarantees as on PostgreSQL."""

    async def kill(admin: Any, user: str) -> int:
        ids = await admin(f"SELECT id FROM information_schema.processlist WHERE user = '{user}'")
        for (conn_id,) in ids:
            await admin(f"KILL {int(conn_id)}")
        return len(ids)

    async def lock(admin: Any, user: str, locked: bool) -> None:
        await admin(f"ALTER USER '{user}'@'%' ACCOUNT {'LOCK' if locked else 'UNLOCK'}")

    run(_kill_recover_scenario(mariadb_login, kill, lock))


def test_in_memory_database_outlives_the_loop_that_opened_it() -> None:
    """sqlite:// first used from a worker thread's loop keeps its data for the main loop."""

    async def scenario() -> None:
        async with open_store("sqlite://") as store:

            def first_use() -> None:
                asyncio.run(store.add_items(key(), [{"i": 1}]))

            await asyncio.to_thread(first_use)
            assert await store.get_items(key()) == [{"i": 1}]

    run(scenario())


@pytest.mark.parametrize(
    ("target", "driver"),
    [
        pytest.param(postgres_url, "postgresql+asyncpg", id="asyncpg", marks=pytest.mark.postgres),
        pytest.param(mariadb_url, "mysql+aiomysql", id="aiomysql", marks=pytest.mark.mariadb),
        pytest.param(
            mariadb_url, "mariadb+asyncmy", id="mariadb-asyncmy", marks=pytest.mark.mariadb
        ),
    ],
)
def test_explicit_driver_urls_work(target: UrlFactory, driver: str) -> None:
    """postgresql+asyncpg://, mysql+aiomysql://, mariadb+asyncmy:// are used as written."""

    async def scenario() -> None:
        async with target() as plain:
            url = driver + plain[plain.index("://") :]
            async with open_store(url) as store:
                assert isinstance(store, SQLStore)
                await store.create_session(key(), {"user:name": "Ada", "n": 10**30})
                await store.append_event(key(), {"text": "héllo 👋"}, state_delta={"n": 1})
                record = await store.get_session(key())
                assert record is not None
                assert record.state == {"user:name": "Ada", "n": 1}
                assert await store.pop_item(key()) == {"text": "héllo 👋"}

    run(scenario())


@pytest.mark.mariadb
def test_pop_without_delete_returning_stays_atomic() -> None:
    """MySQL 8 has no DELETE ... RETURNING: the SELECT-then-DELETE paths (under the
    session row lock) of pop and purge are exercised here on MariaDB, with two engines."""
    from omnisession_sqlalchemy.sql import Statements

    async def scenario() -> None:
        async with mariadb_url() as url:
            stores = [SQLStore(url), SQLStore(url)]
            try:
                await stores[0].add_items(key(), [{"p": i} for i in range(40)])
                for store in stores:
                    await store.get_app_state("warm-up")  # connects, builds statements
                    sql = store._db.statements
                    assert sql is not None and sql.features.delete_returning
                    store._db._statements = Statements(
                        store._tables,
                        sql.dialect,
                        dataclasses.replace(sql.features, delete_returning=False),
                    )
                popped = await asyncio.gather(*(stores[i % 2].pop_item(key()) for i in range(45)))
                values = [item["p"] for item in popped if item is not None]
                assert sorted(values) == list(range(40))
                assert popped.count(None) == 5
                for n in range(3):
                    await stores[0].create_session(key(f"idle{n}"))
                    await stores[0].append_event(key(f"idle{n}"), {"n": n}, timestamp=1000.0)
                purged = await stores[1].purge_sessions("sql-tests", 2000.0)  # type: ignore[attr-defined]
                assert purged == 3
                left = await stores[0].list_sessions("sql-tests")
                assert [record.key for record in left.sessions] == [key()]
            finally:
                for store in stores:
                    await store.aclose()

    run(scenario())


_HASHES = ("key_hash", "app_hash", "user_hash")


def literal(text: str) -> str:
    """The newest-N statements with literal values for EXPLAIN."""
    text = re.sub(r":(key_hash|app_hash|user_hash)\b", "'x'", text)
    return re.sub(r":(limit|last|after_seq|before_seq)\b", "20", text)


def _event_reads(store: SQLStore) -> list[tuple[str, bool]]:
    """Each statement reading a range of events, and whether it walks the key backwards."""
    sql = store._db.statements
    assert sql is not None
    return [
        (sql.get_items(True).text, True),
        (sql.get_session(True, True, False).text, True),
        (sql.get_events(False, False, False).text, True),
        (sql.get_events(False, True, False).text, True),
        (sql.get_events(True, False, True).text, False),
        (sql.get_events(True, True, True).text, False),
    ]


@pytest.mark.parametrize("target", PERSISTENT)
def test_newest_events_are_an_index_range_scan(target: UrlFactory) -> None:
    """The newest-N reads and the pages of get_events are planned as range scans of the
    (session_pk, seq) key, never a sort of the session's history: their cost does not
    grow with the history."""

    async def scenario() -> None:
        async with target() as url, open_store(url) as store:
            assert isinstance(store, SQLStore)
            await store.add_items(key(), [{"i": i} for i in range(50)])
            spec = engine_url(url)
            for text, backwards in _event_reads(store):
                if spec.family == "postgresql":
                    from omnisession_sqlalchemy.executor import _numbered

                    numbered, names = _numbered(text)
                    types = ", ".join("text" if n in _HASHES else "bigint" for n in names)
                    values = ", ".join("'x'" if n in _HASHES else "20" for n in names)
                    plan = await raw(
                        url,
                        [
                            "SET plan_cache_mode = force_generic_plan",
                            f"PREPARE newest ({types}) AS {numbered}",
                            f"EXPLAIN EXECUTE newest ({values})",
                        ],
                    )
                    rows = "\n".join(str(row[0]) for row in plan)
                    assert "Index Scan" in rows and "Sort" not in rows, rows
                    assert ("Index Scan Backward" in rows) is backwards, rows
                elif spec.family == "sqlite":
                    plan = await raw(url, "EXPLAIN QUERY PLAN " + literal(text))
                    rows = "\n".join(str(row[-1]) for row in plan)
                    assert "TEMP B-TREE" not in rows and "(session_pk=?" in rows, rows
                else:
                    plan = await raw(url, "EXPLAIN " + literal(text))
                    rows = "\n".join(str(row) for row in plan)
                    assert "filesort" not in rows, rows

    run(scenario())
