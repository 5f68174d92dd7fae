"""``redis://``, ``rediss://``, ``unix://`` and ``redis+cluster://`` stores.

:class:`~omnisession.backend.ValidatingStore` checks and encodes every
argument before any I/O; :class:`RedisStore` implements its storage hooks.
Every contract write is one ``EVALSHA`` of a Lua script (see
:mod:`omnisession_redis.scripts`) that checks the session, checks
``expected_revision``, appends, applies the state and bumps the revision
atomically. On a single node the same script also applies the ``app:`` and
``user:`` scopes and the listing indexes. On a cluster those live in other
slots: the session script commits first (events, session state, revision,
TTL), then one idempotent script per scope runs on the user's and the app's
slot, concurrently (see the README for the exact guarantee).

redis-py's asyncio connections belong to the event loop that opened them, so
the store keeps one client per running loop, created on first use: a store
works from ``asyncio.run`` in any thread, as ``Runner.run_sync`` needs.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis.exceptions as rex
from omnisession import backend as codec
from omnisession.backend import ValidatingStore, decode_cursor, encode_cursor
from omnisession.errors import (
    AlreadyExists,
    BackendUnavailable,
    OmnisessionError,
    SessionNotFound,
    StaleSession,
)
from omnisession.model import (
    Appended,
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    now,
)
from omnisession.store import Capability
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig

from . import scripts
from .keys import DEFAULT_PREFIX, KeyLayout, check_prefix, unescape

__all__ = ["RedisCommandError", "RedisStore", "open_redis_store"]

T = TypeVar("T")

#: Options this plugin reads from the URL query or keyword arguments; every
#: other one goes to redis-py (``client_name``, ``socket_timeout``, ``ssl_*``...).
STORE_OPTIONS = ("prefix", "ttl", "user_ttl", "app_ttl", "persistent")

_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")

# Driver errors that mean "the server could not be reached or cannot serve now".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rex.ConnectionError,
    rex.TimeoutError,
    rex.ClusterError,
    rex.RedisClusterException,
    rex.ReadOnlyError,
    OSError,
    asyncio.TimeoutError,
)
# Error replies that mean the same, by their prefix.
_UNAVAILABLE_REPLIES = (
    "BUSY",
    "LOADING",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "READONLY",
    "NOREPLICAS",
    "OOM",
)

_MAX_LAST = 2**62


class RedisCommandError(OmnisessionError):
    """Redis rejected a command for a reason other than availability (driver error chained)."""


def _translate(exc: BaseException, doing: str) -> OmnisessionError:
    if isinstance(exc, rex.ResponseError) and not isinstance(exc, rex.ReadOnlyError):
        message = str(exc)
        if not message.startswith(_UNAVAILABLE_REPLIES):
            return RedisCommandError(f"redis rejected {doing}: {message}")
    return BackendUnavailable(
        f"redis is unavailable while {doing}: {type(exc).__name__}: {exc}; "
        "check the server is up and reachable, the next call reconnects"
    )


def _is_driver_error(exc: BaseException) -> bool:
    return isinstance(exc, (rex.RedisError, *_UNAVAILABLE))


def _is_unavailable(exc: BaseException) -> bool:
    return isinstance(_translate(exc, ""), BackendUnavailable)


def _stamp(value: float) -> str:
    """A timestamp as text that Redis, Lua and Python all parse to the same double."""
    return repr(float(value))


def _ms(seconds: float | None) -> str:
    if not seconds:
        return "0"
    return str(max(1, math.ceil(seconds * 1000)))


def _pairs(values: Mapping[str, Any]) -> list[str]:
    flat = [str(len(values))]
    for name, value in values.items():
        flat.append(name)
        flat.append(codec.dumps(value, what=f"state value {name!r}"))
    return flat


def _hash(flat: Sequence[bytes] | Mapping[bytes, bytes]) -> dict[str, bytes]:
    """A hash as a script replies it (flat list) or as redis-py's HGETALL does (dict)."""
    if isinstance(flat, Mapping):
        return {_text(name): value for name, value in flat.items()}
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def _state(flat: Sequence[bytes] | Mapping[bytes, bytes] | None) -> JSONObject:
    if not flat:
        return {}
    return {name: codec.loads(text) for name, text in _hash(flat).items()}


def _events(members: Sequence[bytes]) -> list[Event]:
    """Events from their ``b"seq timestamp payload"`` members, the payloads decoded at once."""
    rows = [member.decode().split(" ", 2) for member in members]
    payloads = codec.loads_all([text for _, _, text in rows])
    return [
        Event(int(seq), float(stamp), data)
        for (seq, stamp, _), data in zip(rows, payloads, strict=True)
    ]


def _payloads(members: Sequence[bytes]) -> list[JSONObject]:
    """The payloads of ``b"seq timestamp payload"`` members, decoded at once."""
    return codec.loads_all([member.split(b" ", 2)[2].decode() for member in members])


def _payload(member: bytes) -> JSONObject:
    data: JSONObject = codec.loads(member.split(b" ", 2)[2])
    return data


# -- one client per event loop -------------------------------------------------------


def _abandon(client: Any) -> None:
    """Close the sockets of a client whose event loop is closed (it cannot be awaited).

    ``Runner.run_sync`` leaves one such client per call. Its transports can no
    longer schedule their own close, so the sockets are closed directly (this
    reaches into asyncio and redis-py internals, each step guarded), instead of
    waiting for the garbage collector.
    """
    connections: list[Any] = []
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        connections += list(getattr(pool, "_available_connections", []))
        connections += list(getattr(pool, "_in_use_connections", []))
    manager = getattr(client, "nodes_manager", None)
    if manager is not None:
        nodes = list(getattr(manager, "nodes_cache", {}).values())
        nodes += list(getattr(manager, "startup_nodes", {}).values())
        for node in nodes:
            connections += list(getattr(node, "_connections", []))
        if hasattr(client, "_initialize"):
            client._initialize = True  # a discarded cluster client: no "unclosed" warning
    for connection in connections:
        writer = getattr(connection, "_writer", None)
        if writer is None:
            continue
        transport = getattr(writer, "transport", None)
        sock = getattr(transport, "_sock", None)
        try:
            if isinstance(sock, socket.socket):
                sock.close()
                transport._sock = None  # type: ignore[union-attr]
                transport._closing = True  # type: ignore[union-attr]
            connection._writer = None
            connection._reader = None
        except (OSError, AttributeError, RuntimeError):
            pass


class _Entry:
    """A loop's client and whether it is ready (a cluster client knows its slot map)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.ready = False
        self.lock: asyncio.Lock | None = None
        self.permits: asyncio.Semaphore | None = None


class _LoopClients:
    """A redis-py client per running event loop, made on first use in that loop.

    A cluster client is initialised (slot map loaded) once, before its first
    command: redis-py lets concurrent first commands race the initialisation
    and send them to the wrong nodes, which then fail on ``MOVED``.
    """

    def __init__(self, make: Callable[[], Any], cluster: bool, limit: int | None = None) -> None:
        self._make = make
        self._cluster = cluster
        self._limit = limit
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, _Entry] = {}

    def _entry(self) -> _Entry:
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._by_loop.get(loop)
            if entry is None:
                for dead in [other for other in self._by_loop if other.is_closed()]:
                    _abandon(self._by_loop.pop(dead).client)
                entry = self._by_loop[loop] = _Entry(self._make())
                entry.ready = not self._cluster
            return entry

    @asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        """Bound the operations in flight on this loop's client (``None``: unbounded).

        redis-py's cluster client fails a command at once (``MaxConnectionsError``)
        when a node's pool is exhausted instead of waiting for a connection, so a
        cluster store admits at most ``max_connections // 3`` operations at a time
        (one operation uses up to three connections at once).
        """
        if self._limit is None:
            yield
            return
        entry = self._entry()
        if entry.permits is None:
            entry.permits = asyncio.Semaphore(self._limit)
        async with entry.permits:
            yield

    def peek(self) -> Any:
        """The running loop's client, without initialising it."""
        return self._entry().client

    async def get(self) -> Any:
        """The running loop's client, ready for commands."""
        entry = self._entry()
        if not entry.ready:
            if entry.lock is None:
                entry.lock = asyncio.Lock()
            async with entry.lock:
                if not entry.ready:
                    await entry.client.initialize()
                    entry.ready = True
        return entry.client

    async def aclose(self) -> None:
        with self._lock:
            entries = dict(self._by_loop)
            self._by_loop.clear()
        current = asyncio.get_running_loop()
        for loop, entry in entries.items():
            client = entry.client
            if loop is current:
                try:
                    await client.aclose()
                except Exception:  # closing a broken connection must not fail aclose()
                    _abandon(client)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            else:
                _abandon(client)


# -- the store ---------------------------------------------------------------------


class RedisStore(ValidatingStore):
    """A :class:`~omnisession.SessionStore` on Redis or Redis Cluster.

    :class:`~omnisession.backend.ValidatingStore` validates and encodes the
    arguments; each hook below is one ``EVALSHA`` (a write) or one read
    round trip, plus on a cluster the scope scripts of a write.
    Open it with :func:`omnisession.open_store` (or :func:`open_redis_store`);
    connecting is lazy. ``ttl``, ``user_ttl`` and ``app_ttl`` are sliding
    expiries in seconds, refreshed by every write to a session (of that user,
    of that app). ``persistent`` only declares the capability: set it when the
    server persists (AOF or RDB) so data survives a restart.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        cluster: bool = False,
        prefix: str = DEFAULT_PREFIX,
        ttl: float | None = None,
        user_ttl: float | None = None,
        app_ttl: float | None = None,
        persistent: bool = False,
        location: str = "redis",
        max_operations: int | None = None,
    ) -> None:
        self._clients = _LoopClients(connect, cluster, max_operations)
        self._cluster = cluster
        self._keys = KeyLayout(check_prefix(prefix))
        self._ttl_ms = _ms(_check_ttl("ttl", ttl))
        self._user_ttl_ms = _ms(_check_ttl("user_ttl", user_ttl))
        self._app_ttl_ms = _ms(_check_ttl("app_ttl", app_ttl))
        self.location = location
        caps = {Capability.BASE, Capability.CROSS_PROCESS, Capability.LARGE_ENTRIES}
        if ttl:
            caps.add(Capability.TTL)
        if cluster:
            caps.add(Capability.CLUSTER)
        if persistent:
            caps.add(Capability.PERSISTENT)
        self.capabilities = frozenset(caps)

    @property
    def prefix(self) -> str:
        """The key prefix every key of this store starts with."""
        return self._keys.prefix

    @property
    def cluster(self) -> bool:
        """True on Redis Cluster: app and user scopes are applied by a second script."""
        return self._cluster

    async def client(self) -> Any:
        """The redis-py client of the running event loop (for diagnostics and tests)."""
        return await self._clients.get()

    async def aclose(self) -> None:
        """Close every connection; a later call reconnects."""
        await self._clients.aclose()

    # -- driver plumbing -----------------------------------------------------------

    async def _eval(
        self, client: Any, script: scripts.Script, keys: list[str], args: list[str]
    ) -> Any:
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except rex.NoScriptError:
            # Not committed: the server did not know the script. EVAL caches it.
            return await client.eval(script.source, len(keys), *keys, *args)

    async def _read(
        self, doing: str, call: Callable[[Any], Awaitable[T]], *, limited: bool = True
    ) -> T:
        """Run a read; on a lost connection retry once on a fresh one (reads are idempotent)."""
        if limited:
            async with self._clients.permit():
                return await self._read(doing, call, limited=False)
        for attempt in (1, 2):
            try:
                return await call(await self._clients.get())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not _is_driver_error(exc):
                    raise
                if attempt == 2 or not _is_unavailable(exc):
                    raise _translate(exc, doing) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _write(
        self, doing: str, *args: Any, **kwargs: Any
    ) -> tuple[list[Any], tuple[Any, Any] | None]:
        """:meth:`_write_once` while holding one of the loop's operation permits."""
        async with self._clients.permit():
            return await self._write_once(doing, *args, **kwargs)

    async def _write_once(
        self,
        doing: str,
        script: scripts.Script,
        key: SessionKey,
        op_args: list[str],
        *,
        mode: str = "a",
        user: Mapping[str, Any] | None = None,
        app: Mapping[str, Any] | None = None,
        want_states: bool = False,
        stamp: str | None = None,
        score_of: Callable[[list[Any]], Any] | None = None,
    ) -> tuple[list[Any], tuple[Any, Any] | None]:
        """Run one session write script; on a cluster then apply the scopes.

        Never retried: a script whose reply was lost may have committed.
        ``score_of(reply)`` is the updated_at the index entries get on a
        cluster, or ``None`` when the write changed nothing. Returns the
        script's reply and, when ``want_states``, the (user, app) state hashes.
        """
        stamp = stamp or _stamp(now())
        user_segment = [
            mode,
            self._keys.user_member(key),
            stamp,
            self._user_ttl_ms,
            self._ttl_ms,
            *_pairs(user or {}),
        ]
        app_segment = [
            mode,
            self._keys.app_member(key),
            stamp,
            self._app_ttl_ms,
            self._ttl_ms,
            *_pairs(app or {}),
        ]
        session_keys = self._keys.session(key)
        user_keys = self._keys.user(key.app_name, key.user_id)
        app_keys = self._keys.app(key.app_name)
        try:
            client = await self._clients.get()
            if not self._cluster:
                start = 4 + len(user_segment) + len(app_segment)
                reply = await self._eval(
                    client,
                    script,
                    session_keys + user_keys + app_keys,
                    [stamp, self._ttl_ms, str(start), *user_segment, *app_segment, *op_args],
                )
                states = (reply[1], reply[2]) if want_states and reply[0] == 0 else None
                return reply, states
            reply = await self._eval(
                client, script, session_keys, [stamp, self._ttl_ms, "4", *op_args]
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if _is_driver_error(exc):
                raise _translate(exc, doing) from exc
            raise
        if reply[0] != 0 or score_of is None:
            return reply, None
        score = score_of(reply)
        if score is None:
            return reply, None
        user_segment[2] = app_segment[2] = _text(score)
        states = await self._apply_scopes(
            doing, [(user_keys, user_segment), (app_keys, app_segment)], want_states
        )
        return reply, states

    async def _apply_scopes(
        self, doing: str, targets: list[tuple[list[str], list[str]]], want_states: bool
    ) -> tuple[Any, Any]:
        """Cluster: run the idempotent scope script on each scope's slot, retrying once."""
        flag = "1" if want_states else "0"

        async def one(keys: list[str], segment: list[str]) -> Any:
            return await self._read(
                doing,
                lambda client: self._eval(client, scripts.SCOPE, keys, [flag, *segment]),
                limited=False,  # the write holds the permit already
            )

        try:
            user_state, app_state = await asyncio.gather(
                *(one(keys, segment) for keys, segment in targets)
            )
        except (BackendUnavailable, RedisCommandError) as exc:
            raise type(exc)(
                f"{exc} -- the session part of this write (events, session state, revision) "
                "was committed; its app/user scope part (app:/user: state, listing indexes) "
                "was not: retry the same scope values with update_state()"
            ) from exc.__cause__
        return user_state, app_state

    # -- reads ---------------------------------------------------------------------

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        session_keys = self._keys.session(key)
        user_state_key = self._keys.user(key.app_name, key.user_id)[0]
        app_state_key = self._keys.app(key.app_name)[0]
        args = [
            "" if last is None else str(min(last, _MAX_LAST)),
            "" if since is None else _stamp(since),
        ]
        if self._cluster:

            async def read(client: Any) -> Any:
                return await asyncio.gather(
                    self._eval(client, scripts.GET, session_keys, args),
                    client.hgetall(user_state_key),
                    client.hgetall(app_state_key),
                )

            found, user_flat, app_flat = await self._read("reading a session", read)
            if found is None:
                return None
            meta_flat, state_flat, members = found
        else:
            found = await self._read(
                "reading a session",
                lambda client: self._eval(
                    client, scripts.GET, [*session_keys, user_state_key, app_state_key], args
                ),
            )
            if found is None:
                return None
            meta_flat, state_flat, members, user_flat, app_flat = found
        events = _events(members)
        if since is not None:
            events = [event for event in events if event.timestamp >= since]
            events.sort(key=lambda event: event.seq)
        meta = _hash(meta_flat)
        return SessionRecord(
            key=key,
            state=merge_state(_state(state_flat), _state(app_flat), _state(user_flat)),
            events=events,
            created_at=float(meta["c"]),
            updated_at=float(meta["u"]),
            revision=int(meta["r"]),
        )

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        events_key = self._keys.session(key)[2]
        start = 0 if limit is None else -min(limit, _MAX_LAST)
        members = await self._read(
            "reading items", lambda client: client.zrange(events_key, start, -1)
        )
        return _payloads(members)

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        state_key = self._keys.user(app_name, user_id)[0]
        return _state(
            await self._read("reading user state", lambda client: client.hgetall(state_key))
        )

    async def _get_app_state(self, app_name: str) -> JSONObject:
        state_key = self._keys.app(app_name)[0]
        return _state(
            await self._read("reading app state", lambda client: client.hgetall(state_key))
        )

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        after: tuple[float, bytes] | None = None
        if cursor:
            score, member = decode_cursor(cursor, 2)
            if not isinstance(score, (int, float)) or not isinstance(member, str):
                raise ValueError(f"invalid cursor {cursor!r}: pass back a next_cursor unchanged")
            after = (float(score), member.encode())
        if user_id is None:
            index = self._keys.app(app_name)[1]
        else:
            index = self._keys.user(app_name, user_id)[1]
        low = _stamp(after[0]) if after else "-inf"
        found: list[tuple[float, bytes, SessionRecord]] = []
        stale: list[tuple[bytes, float]] = []
        offset = 0
        batch = page_size + 1
        while len(found) <= page_size:

            async def scan(client: Any, _offset: int = offset, _batch: int = batch) -> Any:
                return await client.zrange(
                    index, low, "+inf", byscore=True, offset=_offset, num=_batch, withscores=True
                )

            rows: list[tuple[bytes, float]] = await self._read("listing sessions", scan)
            offset += len(rows)
            candidates = [
                (member, float(score))
                for member, score in rows
                if after is None or (float(score), member) > after
            ]
            keys = [self._member_key(app_name, user_id, member) for member, _ in candidates]
            records = await self._load_records(keys) if keys else []
            for (member, score), record in zip(candidates, records, strict=True):
                if record is None:
                    stale.append((member, score))
                else:
                    found.append((score, member, record))
            if len(rows) < batch:
                break
        if stale:
            await self._forget(index, stale)
        page = found[:page_size]
        next_cursor = None
        if len(found) > page_size:
            score, member, _ = page[-1]
            next_cursor = encode_cursor(score, member.decode())
        return Page([record for *_, record in page], next_cursor)

    def _member_key(self, app_name: str, user_id: str | None, member: bytes) -> SessionKey:
        text = member.decode()
        if user_id is None:
            user_part, _, session_part = text.partition(":")
            return SessionKey(app_name, unescape(user_part), unescape(session_part))
        return SessionKey(app_name, user_id, unescape(text))

    async def _load_records(self, keys: list[SessionKey]) -> list[SessionRecord | None]:
        """Sessions by key without events, in one pipelined round trip (None: gone)."""
        users = sorted({key.user_id for key in keys})
        app_name = keys[0].app_name

        async def read(client: Any) -> list[Any]:
            # One MULTI/EXEC snapshot on a single node; per-node batches on a cluster.
            pipe = client.pipeline() if self._cluster else client.pipeline(transaction=True)
            for key in keys:
                meta_key, state_key, _, _ = self._keys.session(key)
                pipe.hgetall(meta_key)
                pipe.hgetall(state_key)
            for user in users:
                pipe.hgetall(self._keys.user(app_name, user)[0])
            pipe.hgetall(self._keys.app(app_name)[0])
            result: list[Any] = await pipe.execute()
            return result

        replies = await self._read("listing sessions", read)
        app_state = _state(replies[-1])
        user_states = {user: _state(replies[2 * len(keys) + i]) for i, user in enumerate(users)}
        records: list[SessionRecord | None] = []
        for i, key in enumerate(keys):
            meta = replies[2 * i]
            if not meta:
                records.append(None)
                continue
            meta = _hash(meta)
            session_state = _state(replies[2 * i + 1])
            records.append(
                SessionRecord(
                    key=key,
                    state=merge_state(session_state, app_state, user_states[key.user_id]),
                    events=[],
                    created_at=float(meta["c"]),
                    updated_at=float(meta["u"]),
                    revision=int(meta["r"]),
                )
            )
        return records

    async def _forget(self, index: str, stale: list[tuple[bytes, float]]) -> None:
        """Drop index entries of sessions that expired, unless they were written since."""
        keys = [_scope_state(index), index]
        for member, score in stale:
            args = ["0", "r", member.decode(), _stamp(score), "0", "0", "0"]

            async def forget(client: Any, _args: list[str] = args) -> Any:
                return await self._eval(client, scripts.SCOPE, keys, _args)

            try:
                await self._read("cleaning the session index", forget)
            except BackendUnavailable:
                return  # best effort: the next listing tries again

    # -- writes --------------------------------------------------------------------

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        stamp = _stamp(now())
        reply, states = await self._write(
            "creating a session",
            scripts.CREATE,
            key,
            _pairs(delta.session),
            user=delta.user,
            app=delta.app,
            want_states=True,
            stamp=stamp,
            score_of=lambda _reply: stamp,
        )
        if reply[0] == 3:
            raise AlreadyExists(key)
        user_flat, app_flat = states if states else (None, None)
        return SessionRecord(
            key=key,
            state=merge_state(
                codec.loads(codec.dumps(delta.session)), _state(app_flat), _state(user_flat)
            ),
            events=[],
            created_at=float(stamp),
            updated_at=float(stamp),
            revision=1,
        )

    async def _delete_session(self, key: SessionKey) -> None:
        await self._write(
            "deleting a session", scripts.DELETE, key, [], mode="r", score_of=lambda r: r[1]
        )

    async def _append_event(
        self,
        key: SessionKey,
        entry: str,
        delta: StateDelta,
        timestamp: float,
        expected_revision: int | None,
    ) -> Appended:
        stamp = _stamp(timestamp)
        reply = await self._change(
            key, delta, expected_revision, stamp, entry, "appending an event"
        )
        return Appended(seq=int(reply[1]), revision=int(reply[2]), timestamp=float(stamp))

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        reply = await self._change(key, delta, expected_revision, "0", "", "updating state")
        return int(reply[2])

    async def _change(
        self,
        key: SessionKey,
        delta: StateDelta,
        expected_revision: int | None,
        stamp: str,
        text: str,
        doing: str,
    ) -> list[Any]:
        reply, _ = await self._write(
            doing,
            scripts.APPEND,
            key,
            [
                "" if expected_revision is None else str(expected_revision),
                stamp,
                text,
                *_pairs(delta.session),
            ],
            user=delta.user,
            app=delta.app,
            score_of=lambda r: r[3],
        )
        if reply[0] == 1:
            raise SessionNotFound(key)
        if reply[0] == 2:
            raise StaleSession(
                key, expected_revision if expected_revision is not None else -1, int(reply[1])
            )
        return reply

    async def _add_items(self, key: SessionKey, entries: list[str]) -> None:
        await self._write(
            "adding items",
            scripts.ADD_ITEMS,
            key,
            [str(len(entries)), *entries],
            score_of=lambda r: r[2],
        )

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        reply, _ = await self._write(
            "popping an item",
            scripts.POP,
            key,
            [],
            score_of=lambda r: r[1] if len(r) > 1 else None,
        )
        if reply[0] != 0 or len(reply) < 3:
            return None
        return _payload(reply[2])

    async def _clear_session(self, key: SessionKey) -> None:
        await self._write("clearing a session", scripts.CLEAR, key, [], score_of=lambda r: r[1])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _scope_state(index: str) -> str:
    return index[: -len("ix")] + "st"


def _check_ttl(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 (0 or None: never expire)")
    return float(value)


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _to_seconds(name: str, value: Any) -> float | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return _check_ttl(name, value)
    try:
        return _check_ttl(name, float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None


def _driver_kwargs(query: list[tuple[str, str]]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for name, value in query:
        parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
        kwargs[name] = parser(value) if parser else value
    return kwargs


def _cluster_nodes(netloc: str) -> tuple[list[ClusterNode], str | None, str | None]:
    userinfo, _, hosts = netloc.rpartition("@")
    username = password = None
    if userinfo:
        name, _, secret = userinfo.partition(":")
        username, password = (unquote(name) or None), (unquote(secret) or None)
    nodes = []
    for part in hosts.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            port_text = rest.lstrip(":")
        else:
            host, _, port_text = part.rpartition(":")
            if not host:
                host, port_text = port_text, ""
        try:
            port = int(port_text) if port_text else 6379
        except ValueError:
            raise ValueError(f"bad cluster node {part!r}: write it as host:port") from None
        nodes.append(ClusterNode(host, port))
    if not nodes:
        raise ValueError("redis+cluster:// needs at least one node: redis+cluster://host:port,...")
    return nodes, username, password


def open_redis_store(url: str, **options: Any) -> RedisStore:
    """Factory for every scheme of this plugin (see the README for URLs and options).

    Store options (``prefix``, ``ttl``, ``user_ttl``, ``app_ttl``,
    ``persistent``) come from the URL query or keyword arguments (keywords
    win); every other option goes to redis-py's client unchanged.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"{url!r}: the redis plugin handles {', '.join(_SCHEMES)}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    store_options: dict[str, Any] = {name: value for name, value in query if name in STORE_OPTIONS}
    driver_query = [(name, value) for name, value in query if name not in STORE_OPTIONS]
    for name in STORE_OPTIONS:
        if name in options:
            store_options[name] = options.pop(name)
    prefix = store_options.get("prefix", DEFAULT_PREFIX)
    settings: dict[str, Any] = {
        "prefix": check_prefix(prefix),
        "ttl": _to_seconds("ttl", store_options.get("ttl")),
        "user_ttl": _to_seconds("user_ttl", store_options.get("user_ttl")),
        "app_ttl": _to_seconds("app_ttl", store_options.get("app_ttl")),
        "persistent": _to_bool("persistent", store_options.get("persistent", False)),
    }
    driver: dict[str, Any] = {
        "retry": Retry(NoBackoff(), 0),  # never resend a script that may have run
        "socket_connect_timeout": 5.0,
        "socket_timeout": 30.0,
        # Redis < 8 does not know CLIENT MAINT_NOTIFICATIONS; asking for it on
        # every new connection made some of them fail under concurrency.
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
        **options,
    }
    given = dict(driver_query).get("decode_responses", driver.get("decode_responses", False))
    if _to_bool("decode_responses", given):
        raise ValueError("decode_responses must stay off: the store decodes payloads itself")
    driver.pop("decode_responses", None)
    driver_query = [(name, value) for name, value in driver_query if name != "decode_responses"]
    if scheme.endswith("+cluster"):
        # On MOVED, patch the slot map instead of closing every connection,
        # which fails the other commands in flight.
        driver.setdefault("reinitialize_steps", 0)
    location = urlunsplit((scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    if scheme.endswith("+cluster"):
        nodes, username, password = _cluster_nodes(parts.netloc)
        kwargs = {**_driver_kwargs(driver_query), **driver}
        kwargs.setdefault("username", username)
        kwargs.setdefault("password", password)
        if scheme == "rediss+cluster":
            kwargs.setdefault("ssl", True)

        def connect_cluster() -> Any:
            return RedisCluster(startup_nodes=list(nodes), **kwargs)

        per_node = int(kwargs.get("max_connections") or 100)
        return RedisStore(
            connect_cluster,
            cluster=True,
            location=location,
            max_operations=max(1, per_node // 3),
            **settings,
        )
    clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(driver_query), ""))

    def connect() -> Any:
        return Redis.from_url(clean, **driver)

    return RedisStore(connect, cluster=False, location=location, **settings)
