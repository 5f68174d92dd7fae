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

Clients (one per event loop) come from :mod:`omnisession_redis.clients`,
driver errors are translated by :mod:`omnisession_redis.errors`, values are
encoded by :mod:`omnisession_redis.encoding`, options checked by
:mod:`omnisession_redis.options` and URLs parsed by :mod:`omnisession_redis.urls`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import redis.exceptions as rex
from omnisession import backend as codec
from omnisession.backend import ValidatingStore, decode_cursor, encode_cursor
from omnisession.errors import AlreadyExists, BackendUnavailable, SessionNotFound, StaleSession
from omnisession.model import (
    Appended,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    now,
)
from omnisession.store import Capability

from . import scripts
from .clients import LoopClients
from .encoding import (
    as_text,
    decode_events,
    decode_hash,
    decode_payload,
    decode_payloads,
    decode_state,
    encode_state,
    encode_timestamp,
    encode_ttl,
)
from .errors import RedisCommandError, is_driver_error, is_unavailable, translate_error
from .keys import DEFAULT_PREFIX, KeyLayout, check_prefix, scope_state, unescape
from .options import check_ttl
from .urls import store_arguments

__all__ = ["RedisCommandError", "RedisStore", "open_redis_store"]

T = TypeVar("T")

_MAX_LAST = 2**62


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
        self._clients = LoopClients(connect, cluster, max_operations)
        self._cluster = cluster
        self._keys = KeyLayout(check_prefix(prefix))
        self._ttl_ms = encode_ttl(check_ttl("ttl", ttl))
        self._user_ttl_ms = encode_ttl(check_ttl("user_ttl", user_ttl))
        self._app_ttl_ms = encode_ttl(check_ttl("app_ttl", app_ttl))
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
                if not is_driver_error(exc):
                    raise
                if attempt == 2 or not is_unavailable(exc):
                    raise translate_error(exc, doing) from exc
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
        stamp = stamp or encode_timestamp(now())
        user_segment = [
            mode,
            self._keys.user_member(key),
            stamp,
            self._user_ttl_ms,
            self._ttl_ms,
            *encode_state(user or {}),
        ]
        app_segment = [
            mode,
            self._keys.app_member(key),
            stamp,
            self._app_ttl_ms,
            self._ttl_ms,
            *encode_state(app or {}),
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
            if is_driver_error(exc):
                raise translate_error(exc, doing) from exc
            raise
        if reply[0] != 0 or score_of is None:
            return reply, None
        score = score_of(reply)
        if score is None:
            return reply, None
        user_segment[2] = app_segment[2] = as_text(score)
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
            "" if since is None else encode_timestamp(since),
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
        events = decode_events(members)
        if since is not None:
            events = [event for event in events if event.timestamp >= since]
            events.sort(key=lambda event: event.seq)
        meta = decode_hash(meta_flat)
        return SessionRecord(
            key=key,
            state=merge_state(
                decode_state(state_flat), decode_state(app_flat), decode_state(user_flat)
            ),
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
        return decode_payloads(members)

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        state_key = self._keys.user(app_name, user_id)[0]
        return decode_state(
            await self._read("reading user state", lambda client: client.hgetall(state_key))
        )

    async def _get_app_state(self, app_name: str) -> JSONObject:
        state_key = self._keys.app(app_name)[0]
        return decode_state(
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
        low = encode_timestamp(after[0]) if after else "-inf"
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
        app_state = decode_state(replies[-1])
        user_states = {
            user: decode_state(replies[2 * len(keys) + i]) for i, user in enumerate(users)
        }
        records: list[SessionRecord | None] = []
        for i, key in enumerate(keys):
            meta = replies[2 * i]
            if not meta:
                records.append(None)
                continue
            meta = decode_hash(meta)
            session_state = decode_state(replies[2 * i + 1])
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
        keys = [scope_state(index), index]
        for member, score in stale:
            args = ["0", "r", member.decode(), encode_timestamp(score), "0", "0", "0"]

            async def forget(client: Any, _args: list[str] = args) -> Any:
                return await self._eval(client, scripts.SCOPE, keys, _args)

            try:
                await self._read("cleaning the session index", forget)
            except BackendUnavailable:
                return  # best effort: the next listing tries again

    # -- writes --------------------------------------------------------------------

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        stamp = encode_timestamp(now())
        reply, states = await self._write(
            "creating a session",
            scripts.CREATE,
            key,
            encode_state(delta.session),
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
                codec.loads(codec.dumps(delta.session)),
                decode_state(app_flat),
                decode_state(user_flat),
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
        stamp = encode_timestamp(timestamp)
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
                *encode_state(delta.session),
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
        return decode_payload(reply[2])

    async def _clear_session(self, key: SessionKey) -> None:
        await self._write("clearing a session", scripts.CLEAR, key, [], score_of=lambda r: r[1])


def open_redis_store(url: str, **options: Any) -> RedisStore:
    """Factory for every scheme of this plugin (see the README for URLs and options).

    Store options (``prefix``, ``ttl``, ``user_ttl``, ``app_ttl``,
    ``persistent``) come from the URL query or keyword arguments (keywords
    win); every other option goes to redis-py's client unchanged.
    """
    return RedisStore(**store_arguments(url, **options))
