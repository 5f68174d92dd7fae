"""Lifecycle hooks: purge (``_delete_idle``), erase, list apps, fork.

Single node: each is atomic where the engine allows it. A purge batch is one
script that deletes each session only if its ``updated_at`` is still below the
cutoff; an erase runs in batches of one script each, the last of which finds
the index empty and deletes the scope in the same step; a fork is one script
(``COPY`` of the keys for a whole fork).

Cluster: a session, its user and its app live in three slots. Purge runs the
same conditional delete on each session's slot, then removes the index entries.
Erase empties the index on its own slot batch by batch (the last batch deletes
the scope in the same step), deleting the sessions taken out of it as it goes;
a create racing it either lands in the index before that last step (and is
erased with everything it wrote) or after it (and keeps its scope). A fork is
one consistent read script on the source's slot, then one atomic create script
on the target's. ``list_apps`` (an admin operation) SCANs for app keys, on
every primary of a cluster.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from omnisession.errors import AlreadyExists, SessionNotFound
from omnisession.model import SessionKey, SessionRecord, merge_state, now
from omnisession.writes import Creation, Write

from . import scripts
from .calls import script_call
from .encoding import Arg, decode_state, encode_timestamp
from .keys import escape, unescape
from .write_args import head_arguments, raw_event_arguments
from .writing import WriteHooks

__all__ = ["LifecycleHooks"]

T = TypeVar("T")

ERASE_BATCH = 500
"""Sessions one erase script takes out of an index (a few ms of the server's time)."""
PURGE_BATCH = 500
"""Sessions one purge script checks and deletes on a single node."""
FAN_OUT = 16
"""Cluster: per-session scripts of one lifecycle call in flight at once."""


async def _in_waves(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``calls`` at most :data:`FAN_OUT` at a time; their results in order."""
    results: list[T] = []
    for start in range(0, len(calls), FAN_OUT):
        wave = calls[start : start + FAN_OUT]
        results += await asyncio.gather(*(call() for call in wave))
    return results


class LifecycleHooks(WriteHooks):
    """``_delete_idle``, ``_erase``, ``_list_apps``, ``_fork_session``."""

    # -- purge -------------------------------------------------------------------------

    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        cutoff = encode_timestamp(updated_before)
        if self.cluster:
            deleted = await _in_waves(
                [functools.partial(self._delete, key, cutoff=cutoff) for key in keys]
            )
            return sum(deleted)
        total = 0
        for start in range(0, len(keys), PURGE_BATCH):
            batch = keys[start : start + PURGE_BATCH]
            script_keys: list[str] = []
            args: list[Arg] = [cutoff, "8"]
            for key in batch:
                script_keys += self._keys.session(key)
                script_keys += [
                    self._keys.user(key.app_name, key.user_id)[1],
                    self._keys.app(key.app_name)[1],
                ]
                args += [self._keys.user_member(key), self._keys.app_member(key)]

            purge = script_call(scripts.DELETE, script_keys, args)
            total += int((await self._calls.write("purging sessions", purge))[0])
        return total

    # -- erase -------------------------------------------------------------------------

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        if user_id is None:
            return await self._erase_app(app_name)
        return await self._erase_user(app_name, user_id)

    async def _erase_user(self, app_name: str, user_id: str) -> int:
        user_state, user_index, user_clocks = self._keys.user(app_name, user_id)
        _, app_index, app_clocks, app_users = self._keys.app(app_name)
        escaped = escape(user_id)
        deleted = 0
        while True:
            if not self.cluster:
                keys = [user_index, user_state, user_clocks, app_index, app_users]
                head = self._keys.app_session_head(app_name) + escaped + ":"
                args = [str(ERASE_BATCH), head, escaped + ":", escaped]
            else:
                keys, args = [user_index, user_state, user_clocks], [str(ERASE_BATCH)]
            count, done, members = await self._calls.write(
                "erasing a user", script_call(scripts.ERASE_USER, keys, args)
            )
            deleted += int(count)
            if self.cluster:
                sessions = [SessionKey(app_name, user_id, unescape(m.decode())) for m in members]
                deleted += await self._delete_all(sessions)
                unlist: list[Arg] = [escaped if done else ""]
                unlist += [f"{escaped}:{m.decode()}" for m in members]
                await self._calls.write(
                    "erasing a user",
                    script_call(scripts.UNLIST, [app_index, app_clocks, app_users], unlist),
                )
            if int(done):
                return deleted

    async def _erase_app(self, app_name: str) -> int:
        state, index, clocks, users = self._keys.app(app_name)
        inline = "0" if self.cluster else "1"
        args = [
            str(ERASE_BATCH),
            inline,
            self._keys.app_session_head(app_name),
            self._keys.app_user_head(app_name),
        ]
        deleted = 0
        while True:
            count, done, members, erased_users = await self._calls.write(
                "erasing an app",
                script_call(scripts.ERASE_APP, [index, state, clocks, users], args),
            )
            deleted += int(count)
            if self.cluster and members:
                sessions = []
                for member in members:
                    user_part, _, session_part = member.decode().partition(":")
                    sessions.append(
                        SessionKey(app_name, unescape(user_part), unescape(session_part))
                    )
                deleted += await self._delete_all(sessions)
            if self.cluster and int(done):
                await self._drop_user_scopes(app_name, [unescape(u.decode()) for u in erased_users])
            if int(done):
                return deleted

    async def _delete_all(self, sessions: list[SessionKey]) -> int:
        """Cluster: delete these sessions (each on its slot); how many existed."""
        deleted = await _in_waves(
            [functools.partial(self._delete_keys_only, key) for key in sessions]
        )
        return sum(deleted)

    async def _delete_keys_only(self, key: SessionKey) -> int:
        """Cluster: delete a session's own keys (its index entries are being erased)."""
        session_keys = self._keys.session(key)
        reply = await self._calls.write(
            "erasing a session", script_call(scripts.DELETE, session_keys, ["", "6", "", ""])
        )
        return int(reply[0])

    async def _drop_user_scopes(self, app_name: str, users: list[str]) -> None:
        """Cluster: delete the user scopes of an erased app, each on its slot."""

        async def drop(user_id: str) -> None:
            names = self._keys.user(app_name, user_id)
            await self._calls.write("erasing an app", lambda client: client.delete(*names))

        await _in_waves([functools.partial(drop, user_id) for user_id in users])

    # -- list apps ---------------------------------------------------------------------

    async def _list_apps(self) -> list[str]:
        pattern = self._keys.app_pattern()
        cluster = self.cluster

        async def scan(client: Any) -> set[str]:
            names: set[str] = set()
            targets = client.get_primaries() if cluster else [None]
            for node in targets:
                options = {"target_nodes": node} if cluster else {}
                async for name in client.scan_iter(match=pattern, count=1000, **options):
                    app = self._keys.app_of(name)
                    if app is not None:
                        names.add(app)
            return names

        return sorted(await self._calls.read("listing apps", scan))

    # -- fork --------------------------------------------------------------------------

    async def _fork_session(
        self, source: SessionKey, target: SessionKey, up_to: int | None
    ) -> SessionRecord:
        stamp = now()
        bound = "" if up_to is None else str(up_to)
        if self.cluster:
            return await self._fork_across_slots(source, target, bound, stamp)
        score = encode_timestamp(stamp)
        keys = [*self._keys.session(source), *self._keys.session(target)]
        keys += self._scope_keys(target)
        args = [bound, score, self._settings.ttl_ms, *self._scope_part(target, "a", score)]
        reply = await self._calls.write("forking a session", script_call(scripts.FORK, keys, args))
        if int(reply[0]) == 1:
            raise SessionNotFound(source)
        if int(reply[0]) == 3:
            raise AlreadyExists(target)
        _, state_flat, user_flat, app_flat, base_flat = reply
        return self._forked(target, stamp, state_flat, user_flat, app_flat, base_flat)

    async def _fork_across_slots(
        self, source: SessionKey, target: SessionKey, bound: str, stamp: float
    ) -> SessionRecord:
        source_keys = self._keys.session(source)
        found = await self._calls.read(
            "forking a session", script_call(scripts.FORK_READ, source_keys, [bound])
        )
        if found is None:
            raise SessionNotFound(source)
        members, deltas, base_flat, state_flat = found
        write = Write(target, updated_at=stamp, creation=Creation.ONLY, created_at=stamp)
        args: list[Arg] = [
            *head_arguments(write, self._settings.ttl_ms),
            *raw_event_arguments(members, deltas),
            str(len(state_flat) // 2),
            *state_flat,
            str(len(base_flat) // 2),
            *base_flat,
        ]
        reply, (user_flat, app_flat) = await self._session_write(
            "forking a session",
            scripts.WRITE,
            target,
            args,
            score=encode_timestamp(stamp),
            want_states=True,
        )
        if int(reply[0]) == 3:
            raise AlreadyExists(target)
        return self._forked(target, stamp, state_flat, user_flat, app_flat, base_flat)

    @staticmethod
    def _forked(
        target: SessionKey,
        stamp: float,
        state_flat: Any,
        user_flat: Any,
        app_flat: Any,
        base_flat: Any,
    ) -> SessionRecord:
        return SessionRecord(
            key=target,
            state=merge_state(
                decode_state(state_flat), decode_state(app_flat), decode_state(user_flat)
            ),
            events=[],
            created_at=stamp,
            updated_at=stamp,
            revision=1,
            base_state=decode_state(base_flat),
        )
