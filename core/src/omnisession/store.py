"""The store contract: the :class:`SessionStore` protocol and :class:`Capability`.

A backend is any object with these methods; it need not inherit from anything.
``omnisession.backend`` has helpers that make keeping the contract easy.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from .model import Appended, Event, EventPage, JSONObject, Page, SessionKey, SessionRecord

__all__ = ["Capability", "LifecycleStore", "SessionStore"]


class Capability(enum.StrEnum):
    """What a backend promises beyond the base contract.

    ``BASE`` is required of every store. The others are declared only where
    they hold; the conformance suite tests what is declared and reports the
    rest as skipped.
    """

    BASE = "base"
    PERSISTENT = "persistent"
    """Data survives closing and reopening the store."""
    TTL = "ttl"
    """Sessions expire after a configured idle time."""
    CROSS_PROCESS = "cross_process"
    """Two store instances (two processes) on one engine keep every guarantee."""
    LARGE_ENTRIES = "large_entries"
    """Entries of 1 MiB and more round-trip."""
    CLUSTER = "cluster"
    """The engine is a cluster (sharded); guarantees hold across its nodes."""
    REPLACE = "replace"
    """``replace_events``: atomically replace the history from an event on, if unchanged."""
    LIFECYCLE = "lifecycle"
    """Session management: fork, purge, erase, list apps, scope updates and imports."""


@runtime_checkable
class SessionStore(Protocol):
    """What every backend implements. All methods are coroutines.

    Guarantees (checked by ``omnisession-conformance``): history is in append
    order; ``state_delta`` keys are split by scope with ``temp:`` never stored;
    distinct keys never collide; payloads round-trip as JSON exactly, and a
    payload that is not JSON raises ``InvalidEntry`` before anything is
    written; every write is atomic, also across processes where
    ``CROSS_PROCESS`` is declared; a lost connection raises
    ``BackendUnavailable``, never an empty result.
    """

    capabilities: frozenset[Capability]

    async def create_session(
        self, key: SessionKey, state: Mapping[str, Any] | None = None
    ) -> SessionRecord:
        """Create an empty session; ``AlreadyExists`` if the key is taken."""
        ...

    async def get_session(
        self, key: SessionKey, *, last: int | None = None, since: float | None = None
    ) -> SessionRecord | None:
        """The session with its events (newest ``last``, ``timestamp >= since``), or ``None``."""
        ...

    async def list_sessions(
        self,
        app_name: str,
        user_id: str | None = None,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """Sessions without events, oldest ``updated_at`` first, a page at a time."""
        ...

    async def delete_session(self, key: SessionKey) -> None:
        """Remove the session, its events and session state; idempotent."""
        ...

    async def append_event(
        self,
        key: SessionKey,
        data: JSONObject,
        *,
        state_delta: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        expected_revision: int | None = None,
    ) -> Appended:
        """Append one event and apply ``state_delta`` to its scopes in one atomic write."""
        ...

    async def update_state(
        self,
        key: SessionKey,
        state_delta: Mapping[str, Any],
        *,
        expected_revision: int | None = None,
    ) -> int:
        """Apply ``state_delta`` to its scopes in one atomic write, without an event.

        ``SessionNotFound`` if missing, ``StaleSession`` on a wrong
        ``expected_revision``. Returns the session's new revision.
        """
        ...

    async def get_items(self, key: SessionKey, limit: int | None = None) -> list[JSONObject]:
        """Event payloads oldest first (the newest ``limit``); ``[]`` if missing."""
        ...

    async def add_items(self, key: SessionKey, items: Sequence[JSONObject]) -> None:
        """Append all ``items`` in one atomic write, creating the session if missing."""
        ...

    async def pop_item(self, key: SessionKey) -> JSONObject | None:
        """Remove and return the newest item; each item is returned at most once."""
        ...

    async def clear_session(self, key: SessionKey) -> None:
        """Remove every event of the session, keeping the session and its state."""
        ...

    async def get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        """The user scope, un-prefixed; ``{}`` if none."""
        ...

    async def get_app_state(self, app_name: str) -> JSONObject:
        """The app scope, un-prefixed; ``{}`` if none."""
        ...

    async def get_events(
        self,
        key: SessionKey,
        *,
        cursor: str | None = None,
        page_size: int | None = None,
        oldest_first: bool = False,
    ) -> EventPage:
        """A page of the history (newest page first, or oldest first), each page oldest first."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class LifecycleStore(SessionStore, Protocol):
    """A store that also manages sessions (``Capability.REPLACE`` and ``LIFECYCLE``).

    Every built-in backend is one; see :class:`~omnisession.backend.ValidatingStore`
    for what each operation guarantees.
    """

    async def replace_events(
        self,
        key: SessionKey,
        from_seq: int,
        items: Sequence[JSONObject],
        *,
        expected_revision: int,
    ) -> int:
        """Replace the events from ``from_seq`` on, only at ``expected_revision``; new revision."""
        ...

    async def fork_session(
        self, source: SessionKey, target: SessionKey, *, up_to: int | None = None
    ) -> SessionRecord:
        """Copy a session to a new key, whole or up to event ``up_to``, atomically."""
        ...

    async def purge_sessions(
        self,
        app_name: str,
        updated_before: float,
        *,
        user_id: str | None = None,
        batch_size: int | None = None,
    ) -> int:
        """Delete the sessions not updated since ``updated_before``; how many."""
        ...

    async def erase_user(self, app_name: str, user_id: str) -> int:
        """Delete every session and the ``user:`` scope of one user; sessions deleted."""
        ...

    async def erase_app(self, app_name: str) -> int:
        """Delete every session and scope of an app; sessions deleted."""
        ...

    async def list_apps(self) -> list[str]:
        """Every app with sessions or state, sorted."""
        ...

    async def update_app_state(self, app_name: str, delta: Mapping[str, Any]) -> None:
        """Merge ``delta`` into the app scope."""
        ...

    async def update_user_state(
        self, app_name: str, user_id: str, delta: Mapping[str, Any]
    ) -> None:
        """Merge ``delta`` into the user scope."""
        ...

    async def import_session(
        self,
        key: SessionKey,
        events: Sequence[Event],
        *,
        state: Mapping[str, Any],
        created_at: float,
        updated_at: float,
        base_state: Mapping[str, Any] | None = None,
    ) -> int:
        """Write an exported session, or what is missing of it; events written."""
        ...
