"""The async front both AWS stores share, over their blocking boto3 operations.

:class:`~omnisession.backend.ValidatingStore` checks and encodes the arguments
(before any request, so bad input never reaches AWS); :class:`ThreadedStore`
implements its hooks by running each store's synchronous boto3 method on the
store's thread pool, so the event loop never blocks. It also holds what the
stores' blocking code shares: mapping boto errors, creating the table / bucket
on ``?create=true``, and the per-session write locks and cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from omnisession.backend import ValidatingStore, decode_cursor
from omnisession.errors import BackendUnavailable
from omnisession.model import (
    Appended,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
)

from ._common import AwsOptions, ClientRunner, botocore_errors, error_code

T = TypeVar("T")
#: What a store remembers of a session it committed (DynamoDB's meta, S3's head).
C = TypeVar("C")

#: Sessions whose last committed state an instance remembers (to skip a read per write).
_CACHE_SIZE = 10_000


class ThreadedStore(ValidatingStore, Generic[C]):
    """The contract's hooks, each one blocking operation on the thread pool."""

    #: The boto3 service name ("dynamodb", "s3").
    _client_name: ClassVar[str]
    #: How error messages name the service and the resource the URL names.
    _service: ClassVar[str]
    _resource_kind: ClassVar[str]
    #: The error code of a call on a resource that does not exist.
    _missing_code: ClassVar[str]
    #: The ways to create it, said in that error.
    _create_hint: ClassVar[str]

    def __init__(self, resource: str, options: AwsOptions) -> None:
        self.options = options
        # As messages name it, e.g. "DynamoDB table 'sessions'".
        self._resource_label = f"{self._service} {self._resource_kind} {resource!r}"
        self._runner = ClientRunner(self._client_name, options)
        self._ready = not options.create
        # Writes to one session from this instance queue on a lock instead of
        # racing each other through the service; other instances are kept out
        # by the conditional writes.
        self._stripes = [threading.Lock() for _ in range(64)]
        self._cache: dict[SessionKey, C] = {}
        self._cache_lock = threading.Lock()

    # -- what a store implements (blocking, run on the pool) -----------------------
    # The blocking counterparts of the hooks below, given checked, encoded arguments.

    def _create_resource(self) -> None:
        """Create the table / bucket if it does not exist (for ``?create=true``)."""
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

    # -- shared by the blocking code (worker thread) -------------------------------

    def _ensure_ready(self) -> None:
        """Create the table / bucket when asked to (``?create=true``); sets ``_ready``."""
        if self._ready:
            return
        BotoCoreError, ClientError = botocore_errors()

        try:
            self._create_resource()
        except (BotoCoreError, ClientError) as exc:
            raise BackendUnavailable(f"cannot create {self._resource_label}: {exc}") from exc
        self._ready = True

    def _guard(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call ``function`` and turn boto errors into :class:`BackendUnavailable`."""
        BotoCoreError, ClientError = botocore_errors()

        try:
            return function(*args)
        except ClientError as exc:
            code = error_code(exc)
            if code == self._missing_code:
                raise BackendUnavailable(
                    f"{self._resource_label} does not exist: create it with {self._create_hint}, "
                    "or open the store with ?create=true"
                ) from exc
            raise BackendUnavailable(f"{self._service} call failed ({code}): {exc}") from exc
        except BotoCoreError as exc:
            raise BackendUnavailable(f"{self._service} is unreachable: {exc}") from exc

    def _lock_for(self, key: SessionKey) -> threading.Lock:
        """The lock this instance's writes to ``key`` hold."""
        return self._stripes[hash(key) % len(self._stripes)]

    def _remember(self, key: SessionKey, state: C | None) -> None:
        """Keep ``state`` as what was last committed to ``key`` (``None``: forget it)."""
        with self._cache_lock:
            if state is None:
                self._cache.pop(key, None)
                return
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = state

    def _writer_state(
        self, key: SessionKey, read: Callable[[SessionKey], C | None]
    ) -> tuple[C | None, bool]:
        """What this instance last committed to ``key`` (a guess, checked by the
        write's condition) or else ``read(key)``; and whether it came from the cache."""
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached, True
        return read(key), False

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
