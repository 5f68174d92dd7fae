"""The async API both AWS stores share, over their blocking boto3 operations.

Each store implements the contract as synchronous methods that make boto3
calls; this base validates the arguments (before any request, so bad input
never reaches AWS) and runs those methods on the store's thread pool, so the
event loop never blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from omnisession.backend import (
    StoreBase,
    check_key,
    check_last,
    check_limit,
    check_page_size,
    check_scope_id,
    decode_cursor,
    encode_entries,
    encode_entry,
    encode_state_delta,
)
from omnisession.model import (
    Appended,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
)

from ._common import ClientRunner


class ThreadedStore(StoreBase):
    """The contract's coroutines, each one blocking operation on the thread pool."""

    _runner: ClientRunner
    _ready: bool

    # -- what a store implements (blocking, run on the pool) -----------------------

    def _ensure_ready(self) -> None:
        """Create the table / bucket when asked to (``?create=true``); sets ``_ready``."""
        raise NotImplementedError

    def _guard(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call ``function`` and turn boto errors into the project's own."""
        raise NotImplementedError

    def _create(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        raise NotImplementedError

    def _read_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        raise NotImplementedError

    def _list(self, app_name: str, user_id: str | None, size: int, cursor: str | None) -> Page:
        raise NotImplementedError

    def _retire(self, key: SessionKey, *, delete: bool) -> None:
        raise NotImplementedError

    def _commit(
        self,
        key: SessionKey,
        texts: Sequence[str],
        delta: StateDelta,
        *,
        timestamp: float | None = None,
        expected_revision: int | None = None,
        create: bool = False,
    ) -> tuple[int, int, float]:
        raise NotImplementedError

    def _read_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        raise NotImplementedError

    def _pop(self, key: SessionKey) -> JSONObject | None:
        raise NotImplementedError

    def _user_state(self, app_name: str, user_id: str) -> JSONObject:
        raise NotImplementedError

    def _app_state(self, app_name: str) -> JSONObject:
        raise NotImplementedError

    # -- plumbing ------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The underlying boto3 client (e.g. to register botocore event hooks)."""
        return self._runner.client

    async def aclose(self) -> None:
        await self._runner.aclose()

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        if not self._ready:
            await self._runner.run(self._ensure_ready)
        return await self._runner.run(self._guard, function, *args)

    # -- the async API -------------------------------------------------------------

    async def create_session(
        self, key: SessionKey, state: Mapping[str, Any] | None = None
    ) -> SessionRecord:
        check_key(key)
        delta = encode_state_delta(state)
        record: SessionRecord = await self._run(self._create, key, delta)
        return record

    async def get_session(
        self, key: SessionKey, *, last: int | None = None, since: float | None = None
    ) -> SessionRecord | None:
        check_key(key)
        check_last(last)
        record: SessionRecord | None = await self._run(self._read_session, key, last, since)
        return record

    async def list_sessions(
        self,
        app_name: str,
        user_id: str | None = None,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        check_scope_id("app_name", app_name)
        if user_id is not None:
            check_scope_id("user_id", user_id)
        size = check_page_size(page_size)
        if cursor:
            decode_cursor(cursor, 1)
        page: Page = await self._run(self._list, app_name, user_id, size, cursor)
        return page

    async def delete_session(self, key: SessionKey) -> None:
        check_key(key)
        await self._run(lambda: self._retire(key, delete=True))

    async def append_event(
        self,
        key: SessionKey,
        data: JSONObject,
        *,
        state_delta: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        expected_revision: int | None = None,
    ) -> Appended:
        check_key(key)
        text = encode_entry(data)
        delta = encode_state_delta(state_delta)
        seq, rev, ts = await self._run(
            lambda: self._commit(
                key, [text], delta, timestamp=timestamp, expected_revision=expected_revision
            )
        )
        return Appended(seq=seq, revision=rev, timestamp=ts)

    async def update_state(
        self,
        key: SessionKey,
        state_delta: Mapping[str, Any],
        *,
        expected_revision: int | None = None,
    ) -> int:
        check_key(key)
        delta = encode_state_delta(state_delta)
        _, rev, _ = await self._run(
            lambda: self._commit(key, [], delta, expected_revision=expected_revision)
        )
        result: int = rev
        return result

    async def get_items(self, key: SessionKey, limit: int | None = None) -> list[JSONObject]:
        check_key(key)
        check_limit(limit)
        if limit == 0:
            return []
        items: list[JSONObject] = await self._run(self._read_items, key, limit)
        return items

    async def add_items(self, key: SessionKey, items: Sequence[JSONObject]) -> None:
        check_key(key)
        texts = encode_entries(items)
        if not texts:
            return
        await self._run(lambda: self._commit(key, texts, StateDelta(), create=True))

    async def pop_item(self, key: SessionKey) -> JSONObject | None:
        check_key(key)
        item: JSONObject | None = await self._run(self._pop, key)
        return item

    async def clear_session(self, key: SessionKey) -> None:
        check_key(key)
        await self._run(lambda: self._retire(key, delete=False))

    async def get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        check_scope_id("app_name", app_name)
        check_scope_id("user_id", user_id)
        state: JSONObject = await self._run(self._user_state, app_name, user_id)
        return state

    async def get_app_state(self, app_name: str) -> JSONObject:
        check_scope_id("app_name", app_name)
        state: JSONObject = await self._run(self._app_state, app_name)
        return state
