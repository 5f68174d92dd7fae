"""The read hooks: sessions, items, pages of history, scopes and listings.

``get_session`` is one script (one snapshot); on a cluster the two scopes are
read in parallel with it. ``get_items(limit=N)`` is one ``ZRANGE e -N -1``: it
never touches the recorded deltas, which live in a hash of their own. A page of
history is one script: a ``ZRANGE ... BYSCORE LIMIT`` on the seq scores plus an
``HMGET`` of the page's deltas, so its cost follows the page size.
"""

from __future__ import annotations

import asyncio
from typing import Any

from omnisession.backend import decode_cursor, encode_cursor
from omnisession.errors import BackendUnavailable
from omnisession.model import Event, JSONObject, Page, SessionKey, SessionRecord, merge_state

from . import scripts
from .base import RedisBase
from .calls import Calls
from .encoding import decode_events, decode_meta, decode_payloads, decode_state, encode_timestamp
from .keys import unescape

__all__ = ["ReadHooks"]

_MAX_LAST = 2**62  # ZRANGE's start index must fit a signed 64-bit integer


class ReadHooks(RedisBase):
    """``_get_session``, ``_get_items``, ``_get_events``, scopes, ``_list_sessions``."""

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        session_keys = self._keys.session(key)
        user_state = self._keys.user(key.app_name, key.user_id)[0]
        app_state = self._keys.app(key.app_name)[0]
        args = [
            "" if last is None else str(min(last, _MAX_LAST)),
            "" if since is None else encode_timestamp(since),
        ]
        if self.cluster:

            async def parallel(client: Any) -> Any:
                found, user_flat, app_flat = await asyncio.gather(
                    Calls.eval(client, scripts.GET, session_keys, args),
                    client.hgetall(user_state),
                    client.hgetall(app_state),
                )
                return None if found is None else [*found, user_flat, app_flat]

            found = await self._calls.read("reading a session", parallel)
        else:
            keys = [*session_keys, user_state, app_state]
            found = await self._calls.read(
                "reading a session", lambda client: Calls.eval(client, scripts.GET, keys, args)
            )
        if found is None:
            return None
        meta_flat, state_flat, members, deltas, base_flat, user_flat, app_flat = found
        events = decode_events(members, deltas)
        if since is not None:
            events = [event for event in events if event.timestamp >= since]
            events.sort(key=lambda event: event.seq)
        meta = decode_meta(meta_flat)
        return SessionRecord(
            key=key,
            state=merge_state(
                decode_state(state_flat), decode_state(app_flat), decode_state(user_flat)
            ),
            events=events,
            created_at=float(meta["c"]),
            updated_at=float(meta["u"]),
            revision=int(meta["r"]),
            base_state=decode_state(base_flat),
        )

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        events_key = self._keys.session(key)[2]
        start = 0 if limit is None else -min(limit, _MAX_LAST)
        members = await self._calls.read(
            "reading items", lambda client: client.zrange(events_key, start, -1)
        )
        return decode_payloads(members)

    async def _get_events(
        self,
        key: SessionKey,
        after: int | None,
        before: int | None,
        limit: int,
        oldest_first: bool,
    ) -> list[Event]:
        _, _, events_key, _, deltas_key, _ = self._keys.session(key)
        args = [
            "-inf" if after is None else f"({after}",
            "+inf" if before is None else f"({before}",
            str(limit),
            "0" if oldest_first else "1",
        ]
        members, deltas = await self._calls.read(
            "reading events",
            lambda client: Calls.eval(client, scripts.EVENTS, [events_key, deltas_key], args),
        )
        events = decode_events(members, deltas)
        return events if oldest_first else events[::-1]

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        state_key = self._keys.user(app_name, user_id)[0]
        return decode_state(
            await self._calls.read("reading user state", lambda client: client.hgetall(state_key))
        )

    async def _get_app_state(self, app_name: str) -> JSONObject:
        state_key = self._keys.app(app_name)[0]
        return decode_state(
            await self._calls.read("reading app state", lambda client: client.hgetall(state_key))
        )

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        after: tuple[float, bytes] | None = None
        if cursor:
            score, member_text = decode_cursor(cursor, float, str)
            after = (score, member_text.encode())
        if user_id is None:
            _, index, clocks, _ = self._keys.app(app_name)
        else:
            _, index, clocks = self._keys.user(app_name, user_id)
        low = encode_timestamp(after[0]) if after else "-inf"
        found: list[tuple[float, bytes, SessionRecord]] = []
        stale: list[tuple[bytes, float]] = []
        offset = 0
        batch = page_size + 1
        while len(found) <= page_size:

            async def scan(client: Any, start: int = offset) -> Any:
                return await client.zrange(
                    index, low, "+inf", byscore=True, offset=start, num=batch, withscores=True
                )

            rows: list[tuple[bytes, float]] = await self._calls.read("listing sessions", scan)
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
            await self._forget(index, clocks, stale)
        page = found[:page_size]
        next_cursor = None
        if len(found) > page_size:
            score, member, _ = page[-1]
            next_cursor = encode_cursor(score, member.decode())
        return Page([record for *_, record in page], next_cursor)

    @staticmethod
    def _member_key(app_name: str, user_id: str | None, member: bytes) -> SessionKey:
        text = member.decode()
        if user_id is None:
            user_part, _, session_part = text.partition(":")
            return SessionKey(app_name, unescape(user_part), unescape(session_part))
        return SessionKey(app_name, user_id, unescape(text))

    async def _load_records(self, keys: list[SessionKey]) -> list[SessionRecord | None]:
        """Sessions by key without events, in one pipelined round trip (None: gone)."""
        users = sorted({key.user_id for key in keys})
        app_name = keys[0].app_name
        cluster = self.cluster

        async def read(client: Any) -> list[Any]:
            # One MULTI/EXEC snapshot on a single node; per-node batches on a cluster.
            pipe = client.pipeline() if cluster else client.pipeline(transaction=True)
            for key in keys:
                meta_key, state_key, *_ = self._keys.session(key)
                pipe.hgetall(meta_key)
                pipe.hgetall(state_key)
            for user in users:
                pipe.hgetall(self._keys.user(app_name, user)[0])
            pipe.hgetall(self._keys.app(app_name)[0])
            result: list[Any] = await pipe.execute()
            return result

        replies = await self._calls.read("listing sessions", read)
        app_state = decode_state(replies[-1])
        user_states = {
            user: decode_state(replies[2 * len(keys) + index]) for index, user in enumerate(users)
        }
        records: list[SessionRecord | None] = []
        for index, key in enumerate(keys):
            meta_hash = replies[2 * index]
            if not meta_hash:
                records.append(None)
                continue
            meta = {name.decode(): value.decode() for name, value in meta_hash.items()}
            session_state = decode_state(replies[2 * index + 1])
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

    async def _forget(self, index: str, clocks: str, stale: list[tuple[bytes, float]]) -> None:
        """Drop index entries of sessions that expired, unless they were written since."""
        args: list[str | bytes] = []
        for member, score in stale:
            args += [member, encode_timestamp(score)]
        try:
            await self._calls.write(
                "cleaning the session index",
                lambda client: Calls.eval(client, scripts.FORGET, [index, clocks], args),
            )
        except BackendUnavailable:
            return  # best effort: the next listing tries again
