"""The async front both AWS stores share, over their blocking boto3 operations.

:class:`~omnisession.backend.ValidatingStore` checks and encodes the arguments
(before any request, so bad input never reaches AWS); :class:`ThreadedStore`
implements its hooks by running each store's synchronous boto3 method on the
store's thread pool, so the event loop never blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from omnisession.backend import ValidatingStore, decode_cursor
from omnisession.model import (
    Appended,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
)

from ._common import ClientRunner

T = TypeVar("T")


class ThreadedStore(ValidatingStore):
    """The contract's hooks, each one blocking operation on the thread pool."""

    _runner: ClientRunner
    _ready: bool

    # -- what a store implements (blocking, run on the pool) -----------------------
    # The blocking counterparts of the hooks below, given checked, encoded arguments.

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

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if not self._ready:
            await self._runner.run(self._ensure_ready)
        result: T = await self._runner.run(self._guard, function, *args)
        return result

    # -- the ValidatingStore hooks ---------------------------------------------------

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        return await self._run(self._create, key, delta)

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        return await self._run(self._read_session, key, last, since)

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        if cursor:
            decode_cursor(cursor, 1)  # a forged cursor fails before any request
        return await self._run(self._list, app_name, user_id, page_size, cursor)

    async def _delete_session(self, key: SessionKey) -> None:
        await self._run(lambda: self._retire(key, delete=True))

    async def _append_event(
        self,
        key: SessionKey,
        entry: str,
        delta: StateDelta,
        timestamp: float,
        expected_revision: int | None,
    ) -> Appended:
        seq, rev, ts = await self._run(
            lambda: self._commit(
                key, [entry], delta, timestamp=timestamp, expected_revision=expected_revision
            )
        )
        return Appended(seq=seq, revision=rev, timestamp=ts)

    async def _update_state(
        self, key: SessionKey, delta: StateDelta, expected_revision: int | None
    ) -> int:
        _, rev, _ = await self._run(
            lambda: self._commit(key, [], delta, expected_revision=expected_revision)
        )
        return rev

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        return await self._run(self._read_items, key, limit)

    async def _add_items(self, key: SessionKey, entries: list[str]) -> None:
        await self._run(lambda: self._commit(key, entries, StateDelta(), create=True))

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        return await self._run(self._pop, key)

    async def _clear_session(self, key: SessionKey) -> None:
        await self._run(lambda: self._retire(key, delete=False))

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        return await self._run(self._user_state, app_name, user_id)

    async def _get_app_state(self, app_name: str) -> JSONObject:
        return await self._run(self._app_state, app_name)
