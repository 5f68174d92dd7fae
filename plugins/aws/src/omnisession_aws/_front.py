"""What both AWS stores share: the async hooks over blocking boto3 code, and the commit loop.

:class:`~omnisession.backend.ValidatingStore` checks and encodes the arguments
(before any request, so bad input never reaches AWS). :class:`ThreadedStore`
implements its hooks by running each store's blocking method on the store's
thread pool under a :class:`~omnisession_aws._client.Deadline`
(``command_timeout``), maps every botocore error with the one mapping of
:mod:`omnisession_aws._errors`, and holds what the stores' write paths share:

* :meth:`ThreadedStore._commit_loop`, the optimistic loop every session write
  (``_write``, ``_pop_item``) runs in: it starts from what this instance
  committed last (so an uncontended write needs no read), re-reads whenever a
  decision rested on that cached guess, and retries on a lost race;
* :func:`check_write`, step 1 of :mod:`omnisession.writes` (creation modes and
  the expected revision);
* clean-ups run after a call has answered (storage a commit made unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from omnisession.backend import ValidatingStore
from omnisession.errors import (
    AlreadyExists,
    BackendUnavailable,
    OmnisessionError,
    SessionNotFound,
    StaleSession,
)
from omnisession.model import (
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    now,
)
from omnisession.writes import Committed, Creation, Write

from ._client import ClientRunner, Deadline, current_deadline, running_under
from ._errors import CallStalled, Resource, backend_error
from .options import AwsOptions

__all__ = ["Done", "Lost", "ThreadedStore", "check_write", "in_cleanup", "later"]

log = logging.getLogger("omnisession_aws")

T = TypeVar("T")
#: What a store knows of a session's commit point (DynamoDB's meta item, S3's head).
StateT = TypeVar("StateT")

#: Sessions whose last committed state an instance remembers (to skip a read per write).
_CACHE_SIZE = 10_000
#: Optimistic retries of one write before giving up with BackendUnavailable.
MAX_RACES = 200

_local = threading.local()


@dataclass(frozen=True)
class Done(Generic[StateT]):
    """An attempt that finished: its result, and the session state it committed."""

    value: Any
    state: StateT | None
    """What is now committed (``None``: forget this session's cached state)."""


@dataclass(frozen=True)
class Lost(Generic[StateT]):
    """An attempt that lost a race (or rested on a stale guess): try again."""

    state: StateT | None = None
    known: bool = False
    """``state`` is the winner's, returned by the failed condition (no re-read needed)."""
    conflict: str = ""
    """Why the engine refused (e.g. ``TransactionConflict``), when it was not a lost race."""


def check_write(write: Write, revision: int | None) -> None:
    """Step 1 of a write against the session's live revision (``None``: missing)."""
    if revision is None:
        if write.creation is Creation.NEVER:
            raise SessionNotFound(write.key)
        return
    if write.creation is Creation.ONLY:
        raise AlreadyExists(write.key)
    expected = write.expected_revision
    if expected is not None and expected != revision:
        raise StaleSession(write.key, expected, revision)


def in_cleanup() -> bool:
    """Whether this thread is running a clean-up :func:`later` scheduled (for tests and
    tools that count a call's own requests)."""
    return bool(getattr(_local, "cleaning", False))


def later(function: Callable[..., object], *args: Any) -> None:
    """Run ``function(*args)`` on the pool once the current call has answered.

    For storage a commit made unreachable (old events, chunks, index entries):
    the caller does not wait for it, and its failure is only logged.
    """
    pending: list[tuple[Callable[..., object], tuple[Any, ...]]] | None = getattr(
        _local, "cleanups", None
    )
    if pending is None:  # not inside a store call: run it now
        function(*args)
        return
    pending.append((function, args))


class ThreadedStore(ValidatingStore, Generic[StateT]):
    """The contract's hooks, each one blocking operation on the thread pool."""

    #: The boto3 service name ("dynamodb", "s3").
    _client_name: ClassVar[str]
    #: How error messages name the service and the resource the URL names.
    _service: ClassVar[str]
    _resource_kind: ClassVar[str]
    #: The ways to create it, said when it is missing.
    _create_hint: ClassVar[str]

    def __init__(self, resource: str, options: AwsOptions) -> None:
        self.options = options
        self._runner = ClientRunner(self._client_name, options)
        self._resource = Resource(
            service=self._service,
            label=f"{self._service} {self._resource_kind} {resource!r}",
            create_hint=self._create_hint,
            endpoint=self._runner.endpoint,
        )
        self._ready = not options.create
        # Writes to one session from this instance queue on a lock instead of
        # racing each other through the service; other instances are kept out
        # by the conditional writes.
        self._stripes = [threading.Lock() for _ in range(64)]
        self._cache: dict[SessionKey, StateT] = {}
        self._cache_lock = threading.Lock()

    # -- what a store implements (blocking, run on the pool) -----------------------

    def _create_resource(self) -> None:
        """Create the table / bucket if it does not exist (for ``?create=true``)."""
        raise NotImplementedError

    def _load(self, key: SessionKey) -> StateT | None:
        """A fresh, strongly consistent read of the session's commit point."""
        raise NotImplementedError

    def _write_blocking(self, write: Write) -> tuple[Committed, StateT | None]:
        """The one write primitive; returns what it committed and the new state."""
        raise NotImplementedError

    def _created_record(self, key: SessionKey, state: StateT | None) -> SessionRecord:
        """The record of a session this instance just created (state merged)."""
        raise NotImplementedError

    def _read_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        raise NotImplementedError

    def _read_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        raise NotImplementedError

    def _read_events(
        self, key: SessionKey, after: int | None, before: int | None, limit: int, oldest: bool
    ) -> list[Event]:
        raise NotImplementedError

    def _check_cursor(self, cursor: str) -> None:
        """Raise ``ValueError`` for a listing cursor this store never made."""
        raise NotImplementedError

    def _list(self, app_name: str, user_id: str | None, size: int, cursor: str | None) -> Page:
        raise NotImplementedError

    def _pop(self, key: SessionKey) -> JSONObject | None:
        raise NotImplementedError

    def _delete(self, key: SessionKey) -> None:
        raise NotImplementedError

    def _scope(self, app_name: str, user_id: str | None) -> JSONObject:
        """The app scope (``user_id`` None) or the user scope."""
        raise NotImplementedError

    def _merge_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        raise NotImplementedError

    def _delete_idle_blocking(self, keys: list[SessionKey], updated_before: float) -> int:
        raise NotImplementedError

    def _erase_blocking(self, app_name: str, user_id: str | None) -> int:
        raise NotImplementedError

    def _app_names(self) -> list[str]:
        raise NotImplementedError

    # -- shared by the blocking code (worker thread) -------------------------------

    def _session_lock(self, key: SessionKey) -> contextlib.AbstractContextManager[None]:
        """This instance's lock on ``key``, waited for no longer than the call's deadline."""
        return self._held(self._stripes[hash(key) % len(self._stripes)])

    @contextlib.contextmanager
    def _held(self, lock: threading.Lock) -> Iterator[None]:
        """``lock``, waited for no longer than the call's deadline."""
        deadline = current_deadline()
        timeout = -1.0 if deadline is None else max(deadline.remaining(), 0.0)
        if not lock.acquire(timeout=timeout):
            assert deadline is not None
            raise deadline.stalled()
        try:
            yield
        finally:
            lock.release()

    def _remember(self, key: SessionKey, state: StateT | None) -> None:
        """Keep ``state`` as what was last committed to ``key`` (``None``: forget it)."""
        with self._cache_lock:
            if state is None:
                self._cache.pop(key, None)
                return
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = state

    def _commit_loop(
        self,
        key: SessionKey,
        attempt: Callable[[StateT | None, bool], Done[StateT] | Lost[StateT]],
        *,
        assume_missing: bool = False,
    ) -> Any:
        """Run ``attempt(state, cached)`` until it is :class:`Done`; its value.

        ``state`` starts as what this instance committed last (``cached``
        True: a guess the attempt's conditional write checks), or "missing"
        with ``assume_missing`` (a create: its condition checks that too, so
        it needs no read), or a fresh read. A contract error
        (``SessionNotFound``, ``AlreadyExists``, ``StaleSession``) decided on
        a guess is re-checked on a fresh read before it reaches the caller.
        """
        with self._session_lock(key):
            with self._cache_lock:
                state = self._cache.get(key)
            cached = state is not None or assume_missing
            if not cached:
                state = self._load(key)
            for _ in range(MAX_RACES):
                try:
                    outcome = attempt(state, cached)
                except (SessionNotFound, AlreadyExists, StaleSession):
                    if not cached:
                        raise
                    outcome = Lost()
                if isinstance(outcome, Done):
                    self._remember(key, outcome.state)
                    return outcome.value
                deadline = current_deadline()
                if outcome.conflict and deadline is not None:
                    deadline.refusals = outcome.conflict
                state = outcome.state if outcome.known else self._load(key)
                cached = False
            self._remember(key, None)
        raise BackendUnavailable(
            f"session {key}: gave up after {MAX_RACES} write conflicts with other writers; "
            "too many concurrent writers on one session: retry later"
        )

    def _ensure_ready(self) -> None:
        """Create the table / bucket when asked to (``?create=true``)."""
        if not self._ready:
            self._create_resource()
            self._ready = True

    # -- running a call ------------------------------------------------------------

    def _in_worker(
        self, deadline: Deadline, function: Callable[..., T], args: tuple[Any, ...]
    ) -> T:
        """Run one store call in a pool thread: under its deadline, errors mapped."""
        cleanups: list[tuple[Callable[..., object], tuple[Any, ...]]] = []
        _local.cleanups = cleanups
        try:
            with running_under(deadline):
                deadline.check()  # queued behind stalled calls past its deadline
                return function(*args)
        except OmnisessionError:
            raise
        except Exception as exc:
            if not _is_aws_error(exc):
                raise
            raise backend_error(exc, self._resource) from exc
        finally:
            _local.cleanups = None
            for cleanup, cleanup_args in cleanups:
                self._schedule_cleanup(cleanup, cleanup_args)

    def _schedule_cleanup(self, function: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            self._runner.submit(self._run_cleanup, function, args)
        except RuntimeError:  # the pool is shutting down: do it here and now
            self._run_cleanup(function, args)

    def _run_cleanup(self, function: Callable[..., object], args: tuple[Any, ...]) -> None:
        _local.cleaning = True
        try:
            with running_under(Deadline(self.options.command_timeout, bulk=True)):
                function(*args)
        except Exception:  # unreachable storage stays until the next sweep; say so
            log.warning(
                "omnisession-aws: could not remove storage a write made unreachable on %s",
                self._resource.label,
                exc_info=True,
            )
        finally:
            _local.cleaning = False

    async def _call(self, function: Callable[..., T], *args: Any, bulk: bool = False) -> T:
        """Run ``function(*args)`` on the pool; ``BackendUnavailable`` past the deadline."""
        if not self._ready:
            await self._call_now(self._ensure_ready, (), bulk=True)
        return await self._call_now(function, args, bulk=bulk)

    async def _call_now(
        self, function: Callable[..., T], args: tuple[Any, ...], *, bulk: bool
    ) -> T:
        deadline = Deadline(self.options.command_timeout, bulk=bulk)
        waiting = asyncio.wrap_future(
            self._runner.submit(self._in_worker, deadline, function, args)
        )
        try:
            while (remaining := deadline.remaining()) > 0:
                done, _ = await asyncio.wait({waiting}, timeout=remaining)
                if done:
                    result: T = waiting.result()
                    return result
        except BaseException:
            deadline.expire()
            waiting.cancel()
            raise
        deadline.expire()
        waiting.cancel()
        stalled = deadline.stalled()
        raise backend_error(stalled, self._resource) from stalled

    # -- plumbing ------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The underlying boto3 client (e.g. to register botocore event hooks)."""
        return self._runner.client

    async def aclose(self) -> None:
        """Wait for running calls and queued clean-ups, then close the connections."""
        await asyncio.get_running_loop().run_in_executor(None, self._runner.close)

    # -- the ValidatingStore hooks ---------------------------------------------------

    async def _write(self, write: Write) -> Committed:
        committed, _ = await self._call(self._write_blocking, write)
        return committed

    async def _create_session(self, key: SessionKey, delta: StateDelta) -> SessionRecord:
        stamp = now()
        write = Write(key, updated_at=stamp, delta=delta, creation=Creation.ONLY, created_at=stamp)
        return await self._call(self._create_blocking, write)

    def _create_blocking(self, write: Write) -> SessionRecord:
        _, state = self._write_blocking(write)
        return self._created_record(write.key, state)

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        return await self._call(self._read_session, key, last, since)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        return await self._call(self._read_items, key, limit)

    async def _get_events(
        self,
        key: SessionKey,
        after: int | None,
        before: int | None,
        limit: int,
        oldest_first: bool,
    ) -> list[Event]:
        return await self._call(self._read_events, key, after, before, limit, oldest_first)

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        if cursor:
            self._check_cursor(cursor)  # a forged cursor fails before any request
        return await self._call(self._list, app_name, user_id, page_size, cursor)

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        return await self._call(self._pop, key)

    async def _delete_session(self, key: SessionKey) -> None:
        await self._call(self._delete, key, bulk=True)

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        return await self._call(self._scope, app_name, user_id)

    async def _get_app_state(self, app_name: str) -> JSONObject:
        return await self._call(self._scope, app_name, None)

    async def _update_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        if values:
            await self._call(self._merge_scope, app_name, user_id, values)

    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        if not keys:
            return 0
        return await self._call(self._delete_idle_blocking, keys, updated_before, bulk=True)

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        return await self._call(self._erase_blocking, app_name, user_id, bulk=True)

    async def _list_apps(self) -> list[str]:
        return await self._call(self._app_names, bulk=True)

    # -- what tests and tools may look at ----------------------------------------------

    @property
    def resource(self) -> Resource:
        """The table or bucket this store works on, as messages name it."""
        return self._resource


def _is_aws_error(exc: BaseException) -> bool:
    if isinstance(exc, CallStalled):
        return True
    from botocore.exceptions import (  # type: ignore[import-untyped]
        BotoCoreError,
        ClientError,
    )

    return isinstance(exc, (BotoCoreError, ClientError))
