"""How many commands each operation sends to MariaDB, counted on the wire.

The store talks to the server through a loopback proxy that parses the MySQL
client protocol: every packet the client sends with sequence id 0 starts a
new command (a query, ``BEGIN``, ``COMMIT``...), and each command is one
round trip. Reads must be one command (no ``BEGIN``/``ROLLBACK`` around
them); writes one transaction with the statements their docstrings list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from omnisession import SessionKey, open_store
from sqlalchemy.engine import make_url

from ..targets.sqlalchemy import mariadb_url

pytestmark = pytest.mark.mariadb


class CommandCounter:
    """A TCP proxy to ``upstream`` counting the MySQL commands clients send."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.commands = 0
        self._server: asyncio.Server | None = None

    async def _client_to_server(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        buffer = b""
        while data := await reader.read(65536):
            buffer += data
            while len(buffer) >= 4:
                length = int.from_bytes(buffer[:3], "little")
                if len(buffer) < 4 + length:
                    break
                if buffer[3] == 0:  # sequence id 0: the first packet of a command
                    self.commands += 1
                buffer = buffer[4 + length :]
            writer.write(data)
            await writer.drain()
        writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(
                self._client_to_server(client_reader, server_writer),
                self._pipe(server_reader, client_writer),
            )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        try:
            yield self._server.sockets[0].getsockname()[1]
        finally:
            self._server.close()

    async def count(self, operation: Awaitable[Any]) -> int:
        before = self.commands
        await operation
        await asyncio.sleep(0)  # let the proxy forward what it read last
        return self.commands - before


def test_each_operation_sends_the_fewest_commands() -> None:
    """Reads are ONE command; a write sends BEGIN with its first statement."""

    async def scenario() -> None:
        async with mariadb_url() as url:
            server = make_url(url)
            counter = CommandCounter(server.host or "127.0.0.1", server.port or 3306)
            async with counter.running() as port:
                proxied = url.replace(
                    f"@{server.host}:{server.port or 3306}/", f"@127.0.0.1:{port}/"
                )
                if server.port is None:
                    proxied = url.replace(f"@{server.host}/", f"@127.0.0.1:{port}/")
                async with open_store(proxied) as store:
                    k = SessionKey("round-trips", "u", "s")
                    items = [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "!"},
                    ]
                    await store.add_items(k, items)  # connects and creates the schema
                    operations: dict[str, Callable[[], Awaitable[Any]]] = {
                        "get_items(limit=20)": lambda: store.get_items(k, 20),
                        "get_items()": lambda: store.get_items(k),
                        "get_session(last=20)": lambda: store.get_session(k, last=20),
                        "add_items": lambda: store.add_items(k, items),
                        "pop_item": lambda: store.pop_item(k),
                        "append_event": lambda: store.append_event(k, {"x": 1}),
                        "update_state": lambda: store.update_state(k, {"s": 1}),
                        "get_events": lambda: store.get_events(k, page_size=20),
                        "fork_session": lambda: store.fork_session(  # type: ignore[attr-defined]
                            k, SessionKey("round-trips", "u", "fork")
                        ),
                        "erase_user": lambda: store.erase_user("round-trips", "u"),  # type: ignore[attr-defined]
                    }
                    counts = {
                        name: await counter.count(make()) for name, make in operations.items()
                    }
        assert counts == {
            "get_items(limit=20)": 1,
            "get_items()": 1,
            "get_session(last=20)": 1,
            "add_items": 3,  # BEGIN + upsert reserving seqs, INSERT ... SELECT, COMMIT
            "pop_item": 4,  # BEGIN + lock, DELETE ... RETURNING, bump, COMMIT
            "append_event": 4,  # BEGIN + lock, update, insert, COMMIT
            "update_state": 3,  # BEGIN + lock, update, COMMIT
            "get_events": 1,
            # BEGIN + lock source, newest seq, INSERT session, INSERT ... SELECT events,
            # read the target's scopes, COMMIT
            "fork_session": 6,
            # BEGIN + lock the user's sessions, DELETE events, DELETE sessions,
            # DELETE user scope, COMMIT
            "erase_user": 5,
        }

    asyncio.run(scenario())
