"""``openai+redis://HOST:PORT/DB``: the OpenAI Agents SDK's ``RedisSession`` keys, read-only.

Layout (``agents/extensions/memory/redis_session.py``), for a key prefix P
(default ``agents:session``) and a session id S::

    P:S            hash  {session_id: S, created_at: <unix seconds>, updated_at: <unix seconds>}
    P:S:messages   list  of JSON items, oldest first (RPUSH; pop_item is RPOP)
    P:S:counter    string (unused for reading)

A session's seq is its item's 1-based position in the list (popping the
newest item keeps every older position). Redis keeps no time per item:
every item carries the session's ``created_at``.

Listing: Redis has no index of these sessions, so the first page of a
listing SCANs the prefix (``TYPE hash``) once and keeps the sorted
``(updated_at, session id)`` pairs of the store instance (about 100 bytes a
session); later pages of the same listing read that snapshot.
"""

from __future__ import annotations

import asyncio
import bisect
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from ...backend import decode_cursor, encode_cursor, parse_options
from ...errors import BackendRejected, BackendUnavailable, InvalidOption, PluginLoadError
from . import REDIS_OPTIONS
from ._base import KeyMapping, Row, SDKSource, SessionRow, posix_seconds

__all__ = ["RedisSessionSource", "open_redis_source"]

_T = TypeVar("_T")
_SCAN_COUNT = 1000
_FIELDS = ("session_id", "created_at", "updated_at")


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


class RedisSessionSource(SDKSource):
    """The sessions of ``RedisSession`` keys under one prefix, read-only."""

    def __init__(
        self,
        url: str,
        *,
        mapping: KeyMapping,
        key_prefix: str = "agents:session",
        command_timeout: float = 15.0,
        shown: str | None = None,
    ) -> None:
        super().__init__(mapping)
        self._url = url
        self._prefix = key_prefix
        self._timeout = command_timeout
        self.describe = f"the RedisSession keys {key_prefix}:* of {shown or url}"
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._snapshot: list[tuple[float, str, float]] | None = None

    # -- the client -------------------------------------------------------------------------

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from redis.asyncio import Redis

            client = Redis.from_url(
                self._url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
            )
            self._clients[loop] = client
        return client

    async def _bounded(self, work: Callable[[Any], Awaitable[_T]]) -> _T:
        from redis import exceptions as redis_errors

        try:
            return await asyncio.wait_for(work(self._client()), self._timeout)
        except TimeoutError as exc:
            raise BackendUnavailable(
                f"reading {self.describe} took longer than command_timeout={self._timeout:g}s: "
                "is the server up and reachable?"
            ) from exc
        except redis_errors.AuthenticationError as exc:
            raise BackendRejected(
                f"the server refused the credentials for {self.describe}: {exc}"
            ) from exc
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            raise BackendUnavailable(f"cannot reach the server of {self.describe}: {exc}") from exc
        except redis_errors.RedisError as exc:
            raise BackendRejected(f"the server refused a read of {self.describe}: {exc}") from exc

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        current = asyncio.get_running_loop()
        for loop, client in clients.items():
            if loop is current:
                await client.aclose()

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}:{session_id}"

    # -- engine reads --------------------------------------------------------------------------

    async def _head(self, session_id: str) -> SessionRow | None:
        key = self._session_key(session_id)
        values = await self._bounded(lambda r: r.hmget(key, *_FIELDS))
        return self._row(key, values)

    def _row(self, key: str, values: list[Any]) -> SessionRow | None:
        stored_id, created, updated = (_text(value) for value in values)
        if stored_id is None or self._session_key(stored_id) != key:
            return None  # not a RedisSession hash (or one of another session's keys)
        created_at = posix_seconds(created)
        updated_at = posix_seconds(updated)
        created_at = created_at if created_at is not None else (updated_at or 0.0)
        return SessionRow(
            stored_id, created_at, updated_at if updated_at is not None else created_at
        )

    async def _rows(
        self,
        session_id: str,
        after: int | None,
        before: int | None,
        limit: int | None,
        newest: bool,
        since: float | None,
    ) -> list[Row]:
        head = await self._head(session_id)
        if head is None or (since is not None and head.created_at < since):
            return []
        messages = self._session_key(session_id) + ":messages"
        length = int(await self._bounded(lambda r: r.llen(messages)))
        low = after or 0  # seq > after  <=>  index >= after
        high = length if before is None else min(length, before - 1)  # index < before - 1
        if limit is not None:
            if newest:
                low = max(low, high - limit)
            else:
                high = min(high, low + limit)
        if low >= high:
            return []
        items = await self._bounded(lambda r: r.lrange(messages, low, high - 1))
        return [Row(low + offset + 1, head.created_at, item) for offset, item in enumerate(items)]

    async def _session_page(
        self, only: str | None, cursor: str | None, limit: int
    ) -> tuple[list[SessionRow], str | None]:
        if only is not None:
            if cursor is not None:
                return [], None
            row = await self._head(only)
            return ([row] if row is not None else []), None
        if cursor is None or self._snapshot is None:
            self._snapshot = await self._scan()
        snapshot = self._snapshot
        start = 0
        if cursor is not None:
            updated, session_id = decode_cursor(cursor, float, str)
            start = bisect.bisect_right(snapshot, (updated, session_id, float("inf")))
        chunk = snapshot[start : start + limit + 1]
        rows = [SessionRow(sid, created, updated) for updated, sid, created in chunk[:limit]]
        next_cursor = None
        if len(chunk) > limit:
            updated, sid, _ = chunk[limit - 1]
            next_cursor = encode_cursor(updated, sid)
        return rows, next_cursor

    async def _scan(self) -> list[tuple[float, str, float]]:
        found = {
            (row.updated_at, row.session_id, row.created_at)
            async for batch in self._scan_batches()
            for row in batch
        }
        return sorted(found)  # a set: SCAN may return a key twice

    async def _scan_batches(self) -> AsyncIterator[list[SessionRow]]:
        """The sessions under the prefix, one SCAN batch at a time."""
        pattern = _glob_escape(self._prefix) + ":*"
        position: int = 0
        while True:

            async def scan(r: Any, at: int = position) -> tuple[int, list[Any]]:
                cursor, keys = await r.scan(at, match=pattern, count=_SCAN_COUNT, _type="hash")
                return int(cursor), list(keys)

            position, keys = await self._bounded(scan)
            if keys:
                names = [_text(key) or "" for key in keys]

                async def read(r: Any, names: list[str] = names) -> list[Any]:
                    pipe = r.pipeline(transaction=False)
                    for name in names:
                        pipe.hmget(name, *_FIELDS)
                    return list(await pipe.execute())

                rows = [
                    self._row(name, values)
                    for name, values in zip(names, await self._bounded(read), strict=True)
                ]
                yield [row for row in rows if row is not None]
            if position == 0:
                return

    async def _any_session(self) -> bool:
        async for batch in self._scan_batches():
            if batch:
                return True
        return False


def open_redis_source(url: str, **options: Any) -> RedisSessionSource:
    """Factory for ``openai+redis://[:PASSWORD@]HOST:PORT/DB`` and ``openai+rediss://...``."""
    scheme = url.partition("://")[0].lower()
    parsed = parse_options(REDIS_OPTIONS, url, options, backend=scheme)
    values = parsed.options
    if importlib.util.find_spec("redis") is None:
        raise PluginLoadError(
            f"{scheme}:// reads RedisSession keys with redis-py: pip install omnisession-redis "
            "(or pip install redis)"
        )
    if not values["key_prefix"]:
        raise InvalidOption(f"{scheme} option key_prefix must not be empty")
    rest = parsed.url.partition("://")[2]
    redis_scheme = "rediss" if scheme == "openai+rediss" else "redis"
    return RedisSessionSource(
        f"{redis_scheme}://{rest}",
        mapping=KeyMapping(values["app"], values["user"]),
        key_prefix=values["key_prefix"],
        command_timeout=values["command_timeout"],
        shown=f"{scheme}://{rest.rsplit('@', 1)[-1]}",
    )
