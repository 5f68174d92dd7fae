"""The write hooks: ``_write`` (THE write primitive), create, pop, delete, scope updates.

Every write is one ``EVALSHA``. On a single node the session script also
applies the ``app:`` and ``user:`` scopes and both listing indexes: the whole
write is one atomic step. On a cluster those live in other slots: the session
script commits first (atomically, in the session's slot: events, session
state, revision, ``updated_at``, TTL) and returns a clock; then one script per
scope runs on the user's and the app's slot, concurrently, applying each value
and index entry only if its clock is newer than the one recorded for it, so
concurrent writers converge on the newest write whatever order their scope
scripts arrive in (see the README, "Cluster guarantee").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from omnisession import backend as codec
from omnisession.errors import AlreadyExists, SessionNotFound, StaleSession
from omnisession.model import JSONObject, SessionKey, SessionRecord, StateDelta, merge_state, now
from omnisession.writes import Committed, Creation, Write

from . import scripts
from .base import RedisBase
from .calls import Calls
from .encoding import Arg, decode_payload, decode_state, encode_timestamp, state_pairs
from .errors import is_driver_error
from .keys import escape
from .write_args import describe, write_arguments

__all__ = ["WriteHooks"]

_OK, _MISSING, _STALE, _EXISTS = 0, 1, 2, 3
_COMMITTED_NOTE = (
    "; the session part of this write (events, session state, revision) WAS committed, its "
    "app:/user: part (scope values, listing entry) was not: write the same scope values "
    "again (update_state, update_app_state, update_user_state) once the node is back"
)


class WriteHooks(RedisBase):
    """``_write``, ``_create_session``, ``_pop_item``, ``_delete_session``, ``_update_scope``."""

    async def _write(self, write: Write) -> Committed:
        reply, _ = await self._commit(write, want_states=False)
        return Committed(int(reply[1]), int(reply[2]) or None)

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        stamp = now()
        write = Write(key, updated_at=stamp, delta=delta, creation=Creation.ONLY, created_at=stamp)
        _, (user_flat, app_flat) = await self._commit(write, want_states=True)
        session: JSONObject = codec.loads(codec.dumps(delta.session))
        return SessionRecord(
            key=key,
            state=merge_state(session, decode_state(app_flat), decode_state(user_flat)),
            events=[],
            created_at=stamp,
            updated_at=stamp,
            revision=1,
            base_state=codec.loads(codec.dumps(delta.session)),
        )

    async def _commit(self, write: Write, *, want_states: bool) -> tuple[list[Any], Any]:
        """Run ``lua/write.lua`` (and on a cluster the scope scripts); raise its refusals."""
        key = write.key
        args = write_arguments(write, self._settings.ttl_ms)
        reply, states = await self._session_write(
            describe(write),
            scripts.WRITE,
            key,
            args,
            score=encode_timestamp(write.updated_at),
            delta=write.delta,
            want_states=want_states,
        )
        status = int(reply[0])
        if status == _MISSING:
            raise SessionNotFound(key)
        if status == _STALE:
            assert write.expected_revision is not None
            raise StaleSession(key, write.expected_revision, int(reply[1]))
        if status == _EXISTS:
            raise AlreadyExists(key)
        return reply, states

    async def _session_write(
        self,
        doing: str,
        script: scripts.Script,
        key: SessionKey,
        args: list[Arg],
        *,
        score: str,
        delta: StateDelta | None = None,
        mode: str = "a",
        want_states: bool = False,
        committed: Any = None,
    ) -> tuple[list[Any], Any]:
        """One session script; on a single node with the scope segments, on a cluster
        followed by the scope scripts when it committed.

        ``committed(reply)`` gives the clock of a committed reply (``None``: nothing
        was written); by default a reply of status 0 carries it at index 3.
        """
        session_keys = self._keys.session(key)
        flag = "1" if want_states else "0"
        if not self.cluster:
            keys = session_keys + self._scope_keys(key)
            argv = [*args, *self._scope_part(key, mode, score, delta), flag]

            async def single(client: Any) -> tuple[list[Any], Any]:
                reply = await Calls.eval(client, script, keys, argv)
                return reply, (reply[4], reply[5]) if want_states and len(reply) > 5 else None

            return await self._calls.write(doing, single, sent=argv)

        async def clustered(client: Any) -> tuple[list[Any], Any]:
            reply = await Calls.eval(client, script, session_keys, args)
            clock = committed(reply) if committed else (reply[3] if reply[0] == _OK else None)
            if clock is None:
                return reply, (None, None)
            states = await self._apply_scopes(doing, key, clock, mode, score, delta, flag)
            return reply, states

        return await self._calls.write(doing, clustered, sent=args)

    async def _apply_scopes(
        self,
        doing: str,
        key: SessionKey,
        clock: Any,
        mode: str,
        score: str,
        delta: StateDelta | None,
        flag: str,
    ) -> tuple[Any, Any]:
        """Cluster: the scope scripts of a committed session write, concurrently, each
        retried once (they are idempotent: a value applies only if its clock is newer)."""
        clock_text = clock.decode() if isinstance(clock, bytes) else str(clock)
        user_keys = self._keys.user(key.app_name, key.user_id)
        app_keys = self._keys.app(key.app_name)

        async def scope(keys: list[str], segment: list[Arg]) -> Any:
            return await self._calls.idempotent(
                lambda client: Calls.eval(client, scripts.SCOPE, keys, [clock_text, flag, *segment])
            )

        try:
            user_state, app_state = await asyncio.gather(
                scope(user_keys, self._user_segment(key, mode, score, delta)),
                scope(app_keys, self._app_segment(key, mode, score, delta)),
            )
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            error = self._calls.translate(exc, doing, write=True)
            raise type(error)(f"{error}{_COMMITTED_NOTE}") from exc
        return user_state, app_state

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        score = encode_timestamp(now())
        reply, _ = await self._session_write(
            "popping an item",
            scripts.POP,
            key,
            [score, self._settings.ttl_ms],
            score=score,
            committed=lambda reply: reply[2] if reply[0] == 1 else None,
        )
        if int(reply[0]) == 0:
            return None
        return decode_payload(reply[1])

    async def _delete_session(self, key: SessionKey) -> None:
        await self._delete(key, cutoff="")

    async def _delete(self, key: SessionKey, *, cutoff: str) -> int:
        """Delete one session (only if idle before ``cutoff`` when given); 1 if deleted."""
        members = [self._keys.user_member(key), self._keys.app_member(key)]
        session_keys = self._keys.session(key)
        doing = "deleting a session" if not cutoff else "purging a session"
        if not self.cluster:
            user_index = self._keys.user(key.app_name, key.user_id)[1]
            app_index = self._keys.app(key.app_name)[1]
            keys = [*session_keys, user_index, app_index]

            async def single(client: Any) -> Any:
                return await Calls.eval(client, scripts.DELETE, keys, [cutoff, "8", *members])

            return int((await self._calls.write(doing, single))[0])
        reply, _ = await self._session_write(
            doing,
            scripts.DELETE,
            key,
            [cutoff, "6", *members],
            score="0",
            mode="r",
            committed=lambda reply: reply[1] if int(reply[0]) else None,
        )
        return int(reply[0])

    async def _update_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        settings = self._settings
        app_state, _, app_clocks, users = self._keys.app(app_name)
        if user_id is None:
            state, clocks = app_state, app_clocks
        else:
            state, _, clocks = self._keys.user(app_name, user_id)
        ttl = settings.app_ttl_ms if user_id is None else settings.user_ttl_ms
        register = "" if user_id is None else escape(user_id)
        pairs = state_pairs(values, "scope state")
        doing = "updating app state" if user_id is None else "updating user state"
        cluster = self.cluster

        async def update(client: Any) -> Any:
            if not cluster:
                keys = [state, clocks, users] if register else [state, clocks]
                args: Sequence[Arg] = ["0", ttl, register, settings.user_ttl_ms, *pairs]
                return await Calls.eval(client, scripts.UPDATE_SCOPE, keys, args)
            writes = [
                Calls.eval(
                    client, scripts.UPDATE_SCOPE, [state, clocks], ["1", ttl, "", "0", *pairs]
                )
            ]
            if register:
                writes.append(
                    Calls.eval(client, scripts.REGISTER, [users], [register, settings.user_ttl_ms])
                )
            return await asyncio.gather(*writes)

        await self._calls.write(doing, update, sent=pairs)
