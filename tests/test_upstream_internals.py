"""Every private name of another project omnisession relies on, checked on the installed release.

Each internal is used in ONE guarded place (which falls back, or degrades, when the
name is gone); these tests make an upgrade that removes one FAIL, naming the
internal and the place to adapt, instead of silently slowing a store down,
leaking sockets or turning a guarantee off. The inventory, with the places:

* google-adk / google-genai / pydantic-core: ``omnisession._adk_events.UPSTREAM``
  (tests/adk/test_upstream_adapter.py) and ``omnisession.adk_store._upstream``
  (tests/adk_store/test_upstream.py) — checked there.
* openai-agents: ``agents.memory.session._CompactionSnapshot`` and the SDK's probe of
  ``Session._get_compaction_snapshot`` (``omnisession.openai_agents``).
* aiosqlite: ``Connection._execute`` and ``Connection._conn``
  (``omnisession_sqlalchemy.transactions``: a SQLite transaction runs whole in
  aiosqlite's worker thread).
* SQLAlchemy: ``Pool._recycle`` (``omnisession_sqlalchemy.engines``).
* redis-py and asyncio: ``ConnectionPool._available_connections`` /
  ``_in_use_connections``, ``ClusterNode._connections``, ``RedisCluster._initialize``,
  ``Connection._writer`` / ``_reader``, the transport's ``_sock`` / ``_closing``
  (``omnisession_redis.clients._abandon``: closing the sockets of a client whose event
  loop is gone).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest


def test_openai_agents_compaction_snapshot_and_its_probe() -> None:
    from agents.memory import session

    assert isinstance(getattr(session, "_CompactionSnapshot", None), type), (
        "openai-agents no longer has agents.memory.session._CompactionSnapshot: "
        "OmniSession._get_compaction_snapshot (omnisession/openai_agents.py) now returns None, "
        "so the SDK's compaction is no longer atomic; adapt it to the new release"
    )
    spec = importlib.util.find_spec("agents")
    assert spec is not None and spec.origin is not None
    sources = Path(spec.origin).parent.rglob("*.py")
    probes = [
        path
        for path in sources
        if path.name != "session.py" and "_get_compaction_snapshot" in path.read_text("utf-8")
    ]
    assert probes, (
        "openai-agents no longer calls Session._get_compaction_snapshot: "
        "omnisession/openai_agents.py defines it for nothing; adapt to the SDK's new hook"
    )


def test_aiosqlite_runs_a_function_in_its_worker_thread(tmp_path: Path) -> None:
    import aiosqlite

    async def scenario() -> None:
        async with aiosqlite.connect(tmp_path / "x.db") as connection:
            execute = getattr(connection, "_execute", None)
            assert execute is not None and "fn" in inspect.signature(execute).parameters, (
                "aiosqlite.Connection._execute(fn, *args) is gone: omnisession_sqlalchemy."
                "transactions._sqlite_transaction falls back to one await per statement"
            )
            raw = connection._conn
            assert isinstance(raw, sqlite3.Connection), (
                "aiosqlite.Connection._conn is no longer the sqlite3 connection: adapt "
                "omnisession_sqlalchemy.transactions._sqlite_in_thread"
            )
            assert await execute(lambda: raw.execute("SELECT 41 + 1").fetchone()) == (42,)

    asyncio.run(scenario())


def test_sqlalchemy_pools_keep_their_recycle_time() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    for url in ("sqlite+aiosqlite:///x.db", "postgresql+asyncpg://u@127.0.0.1/db"):
        engine = create_async_engine(url, pool_recycle=123)  # connects lazily: no I/O here
        assert getattr(engine.sync_engine.pool, "_recycle", None) == 123, (
            f"SQLAlchemy's {type(engine.sync_engine.pool).__name__} no longer keeps pool_recycle "
            "in _recycle: omnisession_sqlalchemy.engines._leases_of now treats every connection "
            "as never recycled"
        )


@pytest.mark.redis
def test_redis_py_internals_that_abandoning_a_client_closes() -> None:
    from redis.asyncio import Redis, RedisCluster
    from redis.asyncio.cluster import ClusterNode

    where = "omnisession_redis.clients._abandon (sockets of dead event loops would leak)"

    async def scenario() -> None:
        client: Any = Redis.from_url("redis://127.0.0.1:6379/0")
        try:
            await client.ping()
            pool = client.connection_pool
            for name in ("_available_connections", "_in_use_connections"):
                assert isinstance(getattr(pool, name, None), (list, set)), f"{name}: {where}"
            (connection,) = list(pool._available_connections)
            writer = getattr(connection, "_writer", None)
            assert writer is not None and getattr(connection, "_reader", None) is not None, (
                f"redis-py connections no longer keep _writer/_reader: {where}"
            )
            transport = writer.transport
            assert isinstance(getattr(transport, "_sock", None), socket.socket), (
                f"asyncio's transport no longer keeps _sock: {where}"
            )
            assert hasattr(transport, "_closing"), f"asyncio's transport has no _closing: {where}"
        finally:
            await client.aclose()
        assert isinstance(getattr(ClusterNode("127.0.0.1", 1), "_connections", None), list), (
            f"redis-py ClusterNode._connections is gone: {where}"
        )
        cluster: Any = RedisCluster(host="127.0.0.1", port=1)  # connects lazily
        assert hasattr(cluster, "_initialize"), f"RedisCluster._initialize is gone: {where}"

    asyncio.run(scenario())
