"""The OpenAI Agents SDK bridge: :class:`OmniSession`, a ``Session`` for ``agents.Runner``.

Any omnisession store becomes conversation memory for ``Runner.run``,
``Runner.run_sync`` and ``Runner.run_streamed``::

    from agents import Agent, Runner
    from omnisession.openai_agents import OmniSession, state_instructions

    async with OmniSession("thread-1", url="sqlite:///chat.db", user_id="user-42") as session:
        await session.update_state({"user:name": "Ada"})
        agent = Agent(name="helper", instructions=state_instructions("Greet {user:name}.", session))
        result = await Runner.run(agent, "Hi!", session=session)

Besides the SDK's ``Session`` protocol, an :class:`OmniSession` has scoped
**state**, which the SDK itself lacks: :meth:`OmniSession.get_state` and
:meth:`OmniSession.update_state` read and write ``app:`` (every session of the
app), ``user:`` (every session of the user) and un-prefixed (this session)
keys; ADK agents on the same store with the same ``app_name`` / ``user_id``
see the same ``app:`` and ``user:`` state.
:func:`state_instructions` fills an agent's instructions from that state, like
ADK's ``{key}`` templates.

It is also a drop-in for the SDK's own stores: ``await session.close()`` and
``ping()`` as on ``RedisSession`` / ``AsyncSQLiteSession``, and the SDK's
atomic compaction hooks, so ``OpenAIResponsesCompactionSession`` (also
through ``EncryptedSession``) compacts a history window in one conditional
write of the store. :meth:`OmniSession.get_items_page` pages through a long
thread and :meth:`OmniSession.fork` copies one.

Requires the ``openai`` extra: ``pip install 'omnisession[openai]'``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from ._extras import require_extra

require_extra(
    "agents", needed_by="omnisession.openai_agents", extra="openai", what="the OpenAI Agents SDK"
)

from agents.memory.session_settings import (
    SessionSettings,
    coerce_session_settings,
    resolve_session_limit,
)

from .errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidKey,
    OmnisessionError,
    SessionNotFound,
    StaleSession,
    Unsupported,
)
from .model import (
    APP_PREFIX,
    TEMP_PREFIX,
    USER_PREFIX,
    Event,
    EventPage,
    JSONObject,
    SessionKey,
    SessionRecord,
)
from .plugins import open_store
from .store import Capability, LifecycleStore, SessionStore

if TYPE_CHECKING:
    from agents.agent import Agent
    from agents.items import TResponseInputItem
    from agents.memory import Session
    from agents.memory.session import _CompactionSnapshot
    from agents.run_context import RunContextWrapper

__all__ = [
    "DEFAULT_APP_NAME",
    "MissingStateKey",
    "OmniSession",
    "SessionClosed",
    "StateInstructions",
    "render_state_template",
    "state_instructions",
]

DEFAULT_APP_NAME = "default"
"""The ``app_name`` of an :class:`OmniSession` built without one."""

logger = logging.getLogger("omnisession.openai_agents")

# The Session methods through which items enter and leave the store. A subclass that
# overrides one of them transforms items on the way (encryption, redaction, extra
# indexes), so the compaction hooks, which read and write the store directly, would
# bypass it: they are then withheld, as the SDK's own stores withhold theirs.
_ITEM_METHODS = ("get_items", "add_items")


class SessionClosed(OmnisessionError, RuntimeError):
    """An :class:`OmniSession` was used after :meth:`OmniSession.close` / ``aclose``.

    A ``RuntimeError``, as the SDK's own sessions raise once closed.
    """


class MissingStateKey(OmnisessionError, KeyError):
    """An instructions template names a state key the session does not have."""

    def __init__(self, key: str, session: OmniSession | None, available: list[str]) -> None:
        where = f" of session {session.key}" if session is not None else ""
        known = ", ".join(sorted(available)) or "none"
        message = (
            f"instructions template variable {{{key}}} is not in the state{where} "
            f"(keys present: {known}); set it with session.update_state({{{key!r}: ...}}) "
            f"before the run, or write {{{key}?}} to render it as empty when absent"
        )
        super().__init__(message)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        # KeyError would show the repr of the message, quotes and escapes included.
        return self.message


class OmniSession:
    """Conversation memory for the OpenAI Agents SDK on any omnisession store.

    Satisfies the ``agents`` ``Session`` protocol (``session_id``,
    ``session_settings``, ``get_items``, ``add_items``, ``pop_item``,
    ``clear_session``), so pass it as ``Runner.run(..., session=...)``, and
    wraps in the SDK's ``OpenAIResponsesCompactionSession`` and
    ``EncryptedSession``: compaction is atomic on every store declaring
    ``Capability.REPLACE`` (every built-in one).

    Where the thread lives: the store key is ``(app_name, user_id,
    session_id)``.

    - ``app_name`` defaults to ``"default"`` (:data:`DEFAULT_APP_NAME`). Give
      it your application's name when several apps share a store; use your
      ADK app's name to share ``app:``/``user:`` state with ADK agents (each
      framework keeps its own session ids: their history formats differ).
    - ``user_id`` defaults to ``session_id``: each thread is then its own
      user, so ``user:`` state written in one thread is never visible in
      another user's thread. Pass the real user id to share ``user:`` state
      across all of that user's threads and to list them with
      ``store.list_sessions(app_name, user_id)``.

    The store: give exactly one of ``store`` (an opened
    :class:`~omnisession.SessionStore`; the session does *not* close it, so
    one store can serve any number of sessions, from any thread and event
    loop) or ``url`` (e.g. ``"sqlite:///chat.db"``; the session opens the
    store and owns it: :meth:`aclose`, or leaving ``async with``, closes it).

    ``store_options`` go to the backend's factory with ``url`` (e.g. a TTL).

    ``session_settings`` (a ``SessionSettings`` or a dict like
    ``{"limit": 20}``): its ``limit`` caps what :meth:`get_items` returns when
    no explicit limit is given, so the Runner sends only the newest items.

    Nothing is written on construction: the session appears in the store on
    its first :meth:`add_items` or :meth:`update_state`.
    """

    session_id: str
    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        store: SessionStore | None = None,
        *,
        url: str | None = None,
        app_name: str = DEFAULT_APP_NAME,
        user_id: str | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        store_options: Mapping[str, Any] | None = None,
    ) -> None:
        if (store is None) == (url is None):
            raise TypeError(
                "OmniSession needs exactly one of store= (an opened store, shared and closed "
                "by you) or url= (e.g. 'sqlite:///chat.db', opened and closed by the session)"
            )
        if store is not None and isinstance(store, str):
            raise TypeError(f"store= got the string {store!r}; pass a URL as url={store!r} instead")
        # Validates the ids (InvalidKey) before any store is opened.
        if session_id == "":
            raise InvalidKey("session_id must not be empty; give every conversation thread an id")
        self._key = SessionKey(app_name, session_id if user_id is None else user_id, session_id)
        self.session_id = session_id
        self.session_settings = (
            coerce_session_settings(cast(Any, session_settings))
            if session_settings is not None
            else SessionSettings()
        )
        if store_options is not None and url is None:
            raise TypeError(
                "store_options= only applies with url=; configure a given store yourself"
            )
        if url is not None:
            self._store: SessionStore = open_store(url, **(store_options or {}))
            self._owns_store = True
        else:
            self._store = cast(SessionStore, store)
            self._owns_store = False
        self._closed = False

    # -- identity ------------------------------------------------------------

    @property
    def key(self) -> SessionKey:
        """The store key of this thread: ``(app_name, user_id, session_id)``."""
        return self._key

    @property
    def app_name(self) -> str:
        """The app the thread belongs to (``app:`` state is shared across it)."""
        return self._key.app_name

    @property
    def user_id(self) -> str:
        """The user the thread belongs to (``user:`` state is shared across their threads)."""
        return self._key.user_id

    @property
    def store(self) -> SessionStore:
        """The store this session reads and writes."""
        return self._store

    def __repr__(self) -> str:
        owner = "owned" if self._owns_store else "shared"
        state = ", closed" if self._closed else ""
        return f"OmniSession({self._key}, {owner} {type(self._store).__name__}{state})"

    # -- the agents Session protocol ------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The history, oldest first; with ``limit`` (or ``session_settings.limit``) the newest N.

        ``limit=0`` returns ``[]``; a negative limit raises ``ValueError``.
        """
        self._check_open()
        effective = resolve_session_limit(limit, self.session_settings)
        if effective is not None and (isinstance(effective, bool) or effective < 0):
            raise ValueError(
                f"limit must be None or an int >= 0 (got {effective!r}); "
                "None returns the whole history"
            )
        items = await self._store.get_items(self._key, effective)
        return cast("list[TResponseInputItem]", items)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` in order, in one atomic write; creates the thread if needed.

        Every item must be a JSON object; otherwise ``InvalidEntry`` is raised
        and nothing is written.
        """
        self._check_open()
        if isinstance(items, (str, bytes, Mapping)):
            raise TypeError(
                f"add_items takes a list of items, got a single {type(items).__name__}; "
                "wrap it in a list"
            )
        await self._store.add_items(self._key, cast("list[JSONObject]", list(items)))

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item, or ``None`` if the history is empty.

        Atomic: concurrent callers never receive the same item.
        """
        self._check_open()
        item = await self._store.pop_item(self._key)
        return cast("TResponseInputItem | None", item)

    async def clear_session(self) -> None:
        """Remove every item of the history; the thread's state is kept."""
        self._check_open()
        await self._store.clear_session(self._key)

    # -- history pages and forks -----------------------------------------------

    async def get_items_page(
        self,
        *,
        cursor: str | None = None,
        page_size: int | None = None,
        oldest_first: bool = False,
    ) -> EventPage:
        """One page of the history, for threads too long to load with :meth:`get_items`.

        The first page holds the newest ``page_size`` items (default 100, at
        most 10,000); pass its ``next_cursor`` back as ``cursor`` for the
        items before them, until ``next_cursor`` is ``None``. With
        ``oldest_first=True`` the pages walk forwards from the first item
        instead. Within a page the items are always oldest first. Each page
        reads only its own items, so its cost does not depend on the length
        of the history.

        Each ``page.events[i]`` is an :class:`~omnisession.Event`: ``.data``
        is the item (what :meth:`get_items` returns), ``.seq`` its number in
        the thread (increasing, with gaps where items were popped, cleared
        or compacted; give it to :meth:`fork` as ``up_to``) and
        ``.timestamp`` when it was stored. A thread with no history gives an
        empty page; a forged cursor, or one from the other direction,
        ``ValueError``.
        """
        self._check_open()
        return await self._store.get_events(
            self._key, cursor=cursor, page_size=page_size, oldest_first=oldest_first
        )

    async def fork(
        self,
        session_id: str,
        *,
        up_to: int | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
    ) -> OmniSession:
        """Copy this thread to a new thread ``session_id`` and return a session on it.

        The copy holds this thread's items (those with ``seq <= up_to`` when
        ``up_to`` is given, see :meth:`get_items_page`); both threads then go
        their own ways. Its session state is this thread's current state for
        a whole copy; for a copy up to an earlier item, the state the thread
        had before its first item (state set with :meth:`update_state` later
        belongs to no item, so it cannot be rebuilt as of an earlier one). The
        copy is made in one atomic operation of the store: a concurrent write
        to this thread is either wholly in the copy or not at all.

        The copy is a thread of the same app and the same user (``user:`` and
        ``app:`` state stay shared, not copied): with the default placement
        (``user_id`` = this ``session_id``) open it again later with
        ``OmniSession(session_id, store, user_id=session.user_id)``.

        The new session uses this session's store without owning it (when
        this session was opened with ``url=``, keep it open while the fork is
        in use) and this session's ``session_settings`` unless others are
        given. ``AlreadyExists`` if ``session_id`` is taken,
        ``SessionNotFound`` if this thread has never been written,
        :class:`~omnisession.errors.Unsupported` if the store cannot fork
        (it does not declare ``Capability.LIFECYCLE``).
        """
        self._check_open()
        target = SessionKey(self._key.app_name, self._key.user_id, session_id)
        store = self._store
        if Capability.LIFECYCLE not in _capabilities(store) or not callable(
            getattr(store, "fork_session", None)
        ):
            raise Unsupported(
                f"{type(store).__name__} cannot fork sessions: it does not declare the "
                "'lifecycle' capability (see `omnisession backends`)"
            )
        await cast(LifecycleStore, store).fork_session(self._key, target, up_to=up_to)
        return OmniSession(
            session_id,
            store,
            app_name=self._key.app_name,
            user_id=self._key.user_id,
            session_settings=(
                session_settings if session_settings is not None else self.session_settings
            ),
        )

    # -- the SDK's atomic compaction hooks ---------------------------------------
    #
    # OpenAIResponsesCompactionSession looks these up on the session it wraps (and
    # EncryptedSession on the session under it). Both are built on the store's
    # replace_events (Capability.REPLACE); on a store without it they answer "not
    # available" (None / False) and the SDK falls back to what it does for sessions
    # without the hooks.

    async def _get_compaction_snapshot(
        self,
        limit: int,
        *,
        prune_prefix: Callable[[TResponseInputItem], bool] | None = None,
    ) -> _CompactionSnapshot | None:
        """The newest ``limit`` items, read at one revision, and a conditional replacement.

        The SDK's hook for automatic compaction over a window of the history
        (``session_settings={"limit": N}``, input filters). ``complete`` says
        whether the window holds the whole history. ``replace_suffix(start,
        output)`` replaces the window's items from index ``start`` on by
        ``output`` in ONE atomic write of the store, and only if nothing was
        written to the thread since the snapshot was read (same revision):
        otherwise it changes nothing and returns ``False``, and the SDK keeps
        the history as it is. Items older than the window are kept, except
        that ``prune_prefix`` (EncryptedSession's "this envelope has
        expired") removes, in the same write, the run of oldest items it
        accepts; see :meth:`_replacement`.

        ``None`` when the store does not declare ``Capability.REPLACE``, when a
        subclass transforms items in ``get_items`` / ``add_items``, or when the
        installed SDK has no snapshot type.
        """
        self._check_open()
        try:
            from agents.memory.session import _CompactionSnapshot
        except ImportError:  # an SDK without the hook: it will not call it either
            return None
        store = self._replacing_store()
        if store is None:
            return None
        window = max(int(limit), 0)
        record = await store.get_session(self._key, last=window + 1)
        events = [] if record is None else record.events
        complete = len(events) <= window
        kept = events[max(len(events) - window, 0) :] if window else []
        revision = None if record is None else record.revision
        items = cast("list[TResponseInputItem]", [event.data for event in kept])

        async def replace_suffix(start: int, output: list[TResponseInputItem]) -> bool:
            if revision is None or not 0 <= start < len(kept):
                return False
            from_seq, new_items = await self._replacement(
                store, kept[start].seq, output, prune_prefix, max(window, 1)
            )
            try:
                await store.replace_events(
                    self._key, from_seq, new_items, expected_revision=revision
                )
            except (StaleSession, SessionNotFound):
                return False
            return True

        return _CompactionSnapshot(items, complete, replace_suffix)

    async def _atomic_replace_items(self, items: list[TResponseInputItem]) -> bool:
        """Replace the whole history by ``items`` in one atomic write of the store.

        The SDK's hook for a manual ``run_compaction()`` (and whole-history
        compaction), instead of ``clear_session()`` then ``add_items()``, so a
        crash between the two can no longer leave the thread empty. Like the
        SDK's own (``RedisSession``), the replacement is unconditional: the
        items written by others meanwhile are replaced too (the revision read
        here is retried when another writer commits first, so the result is
        always exactly ``items``). ``False`` (nothing done; the SDK falls back
        to clear and add) when the store does not declare
        ``Capability.REPLACE`` or a subclass transforms items.
        """
        self._check_open()
        store = self._replacing_store()
        if store is None:
            return False
        payloads = cast("list[JSONObject]", list(items))
        lost: OmnisessionError | None = None
        for _ in range(_REPLACE_ATTEMPTS):
            record = await store.get_session(self._key, last=0)
            if record is None:
                if payloads:
                    await store.add_items(self._key, payloads)
                return True
            try:
                await store.replace_events(
                    self._key, 0, payloads, expected_revision=record.revision
                )
            except (StaleSession, SessionNotFound) as exc:
                lost = exc  # another writer committed (or deleted) in between: read again
            else:
                return True
        assert lost is not None
        raise lost

    def _replacing_store(self) -> LifecycleStore | None:
        """The store, if the compaction hooks may use its ``replace_events``."""
        store = self._store
        if Capability.REPLACE not in _capabilities(store):
            return None
        if not callable(getattr(store, "replace_events", None)):
            return None
        if any(
            getattr(type(self), name) is not getattr(OmniSession, name) for name in _ITEM_METHODS
        ):
            return None
        return cast(LifecycleStore, store)

    async def _replacement(
        self,
        store: LifecycleStore,
        from_seq: int,
        output: list[TResponseInputItem],
        prune_prefix: Callable[[TResponseInputItem], bool] | None,
        window: int,
    ) -> tuple[int, list[JSONObject]]:
        """Where a compaction's replacement starts, and what it writes.

        Without ``prune_prefix``: the events from ``from_seq`` on are replaced
        by ``output``. With it (EncryptedSession reclaiming expired envelopes,
        as the SDK's SQLite stores do in the same transaction): the run of
        oldest items it accepts goes too. The store's replace removes events
        from a sequence number on, so the items between that run and the
        compacted suffix are written again after it (the same payloads, new
        numbers and times): the replacement starts at the first event and
        writes ``kept + output``. That rewrite is bounded by one snapshot
        window: with more items than that between the expired run and the
        suffix, only the suffix is replaced and the expired items stay,
        rather than make every compaction's cost grow with the history.
        """
        payloads = cast("list[JSONObject]", list(output))
        if prune_prefix is None:
            return from_seq, payloads
        expired = 0
        kept: list[Event] = []
        cursor: str | None = None
        while True:
            page = await store.get_events(
                self._key, cursor=cursor, page_size=min(window, _MAX_PAGE), oldest_first=True
            )
            for event in page.events:
                if event.seq >= from_seq:
                    return _pruned(expired, kept, from_seq, payloads)
                if not kept and prune_prefix(cast("TResponseInputItem", event.data)):
                    expired += 1
                    continue
                kept.append(event)
                if len(kept) > window:
                    logger.debug(
                        "compaction of %s keeps its expired items: more than %d items lie "
                        "between them and the compacted suffix",
                        self._key,
                        window,
                    )
                    return from_seq, payloads
            if page.next_cursor is None:
                return _pruned(expired, kept, from_seq, payloads)
            cursor = page.next_cursor

    # -- state -----------------------------------------------------------------

    async def get_state(self) -> JSONObject:
        """The merged state this thread sees.

        Session keys as they are, plus the app scope under ``app:`` and the
        user scope under ``user:``. Works before the thread has any history
        (then only ``app:`` and ``user:`` keys can be present).
        """
        self._check_open()
        record = await self._store.get_session(self._key, last=0)
        if record is not None:
            return record.state
        app = await self._store.get_app_state(self._key.app_name)
        user = await self._store.get_user_state(self._key.app_name, self._key.user_id)
        state: JSONObject = {APP_PREFIX + k: v for k, v in app.items()}
        state.update({USER_PREFIX + k: v for k, v in user.items()})
        return state

    async def get_record(self) -> SessionRecord | None:
        """The thread's record without its events (state and ``revision``), or ``None``.

        Use its ``revision`` with :meth:`update_state`'s ``expected_revision``
        for a read-modify-write that fails instead of overwriting a
        concurrent change.
        """
        self._check_open()
        return await self._store.get_session(self._key, last=0)

    async def update_state(
        self, delta: Mapping[str, Any], *, expected_revision: int | None = None
    ) -> int:
        """Apply ``delta`` to the thread's scoped state in one atomic write; no history item.

        ``app:k`` goes to the app scope, ``user:k`` to the user scope, any
        other key to this session. A ``None`` value is stored as ``None``.
        Creates the thread when it does not exist yet. ``temp:`` keys are
        rejected: a ``temp:`` key lives for one ADK invocation and would be
        silently dropped here. Values must be JSON (``InvalidEntry``
        otherwise, nothing written).

        With ``expected_revision`` (from :meth:`get_record`) the write fails
        with ``StaleSession`` if anything was written to the thread since,
        and with ``SessionNotFound`` if the thread does not exist.

        Returns the thread's new revision.
        """
        self._check_open()
        if not isinstance(delta, Mapping):
            raise TypeError(f"update_state takes a mapping, got {type(delta).__name__}")
        temp = sorted(k for k in delta if isinstance(k, str) and k.startswith(TEMP_PREFIX))
        if temp:
            raise ValueError(
                f"temp: keys are never stored ({', '.join(temp)}); a temp: key lives for one ADK "
                "invocation only. Use an un-prefixed key for state of this session."
            )
        try:
            return await self._store.update_state(
                self._key, delta, expected_revision=expected_revision
            )
        except SessionNotFound:
            if expected_revision is not None:
                raise
        try:
            record = await self._store.create_session(self._key, delta)
        except AlreadyExists:
            # Another writer created the thread between our two calls.
            return await self._store.update_state(self._key, delta)
        return record.revision

    # -- lifecycle ---------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the session; closes the store too if the session opened it from a URL.

        Idempotent. A session given a ``store=`` leaves it open for others.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_store:
            await self._store.aclose()

    async def close(self) -> None:
        """The same as :meth:`aclose`, under the name the SDK's async sessions use.

        ``RedisSession``, ``AsyncSQLiteSession``, ``MongoDBSession`` and
        ``DaprSession`` are closed with ``await session.close()``; code written
        for them runs unchanged. (``SQLiteSession.close()`` is synchronous:
        with an :class:`OmniSession`, write ``await session.close()``.)
        """
        await self.aclose()

    async def ping(self) -> bool:
        """``True`` if the store answers, ``False`` if it cannot be reached right now.

        Like ``RedisSession.ping()`` and ``MongoDBSession.ping()``: one cheap
        read of this thread's record. ``False`` only for an outage
        (:class:`~omnisession.errors.BackendUnavailable`: server down,
        restarting, stalled past the command timeout); a store that answers
        and refuses (wrong credentials, missing database: a permanent
        :class:`~omnisession.errors.BackendRejected`) raises, since retrying
        will not help. :class:`SessionClosed` after :meth:`aclose`.
        """
        self._check_open()
        try:
            await self._store.get_session(self._key, last=0)
        except BackendUnavailable:
            return False
        return True

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self._closed:
            # "<class> is closed", the wording of the SDK's own sessions.
            raise SessionClosed(
                f"{type(self).__name__} is closed: {self!r} cannot be used after close(); "
                "create a new OmniSession to keep using this thread"
            )


_REPLACE_ATTEMPTS = 16
"""How often :meth:`OmniSession._atomic_replace_items` re-reads the revision when
other writers keep committing first, before it gives up with ``StaleSession``."""
_MAX_PAGE = 10_000


def _capabilities(store: object) -> frozenset[Capability]:
    found: object = getattr(store, "capabilities", None)
    if not isinstance(found, (set, frozenset)):
        return frozenset()
    return frozenset(item for item in found if isinstance(item, Capability))


def _pruned(
    expired: int, kept: list[Event], from_seq: int, output: list[JSONObject]
) -> tuple[int, list[JSONObject]]:
    """The replacement once the prefix walk is done (see ``OmniSession._replacement``)."""
    if not expired:
        return from_seq, output
    return 0, [event.data for event in kept] + output


# -- instructions from state ----------------------------------------------------

# The same syntax as ADK's instruction templates: ``{key}``, ``{key?}``,
# ``{app:key}``, ``{user:key}``; braces preceded by ``$``, ``{`` or ``\`` and
# braces around anything that is not a state name are left as they are.
_TEMPLATE_VARIABLE = re.compile(r"(?<![\$\{\\]){+[^{}]*}+")
_STATE_PREFIXES = (APP_PREFIX, USER_PREFIX, TEMP_PREFIX)


def _is_state_name(name: str) -> bool:
    prefix, sep, rest = name.partition(":")
    if not sep:
        return name.isidentifier()
    return prefix + ":" in _STATE_PREFIXES and rest.isidentifier()


def render_state_template(
    template: str, state: Mapping[str, Any], *, session: OmniSession | None = None
) -> str:
    """Fill ``{key}`` placeholders of ``template`` from ``state`` (ADK's template rules).

    ``{name}`` is a session key, ``{user:name}`` / ``{app:name}`` the scoped
    ones; ``{name?}`` renders as empty when the key is absent. A ``None``
    value renders as empty, anything else as ``str(value)``. Braces around
    text that is not a state name (``{"json": 1}``, ``{not a name}``) are
    kept as written. A missing required key raises :class:`MissingStateKey`
    naming the key.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group().lstrip("{").rstrip("}").strip()
        optional = name.endswith("?")
        if optional:
            name = name[:-1]
        if not _is_state_name(name):
            return match.group()
        if name not in state:
            if optional:
                return ""
            raise MissingStateKey(name, session, list(state))
        value = state[name]
        return "" if value is None else str(value)

    if "{" not in template:
        return template
    return _TEMPLATE_VARIABLE.sub(replace, template)


SessionResolver = Callable[["RunContextWrapper[Any]"], OmniSession]
"""Picks the session from the run's context, for one agent shared by many threads."""


class StateInstructions:
    """Dynamic ``Agent(instructions=...)`` that renders a template from session state.

    Built by :func:`state_instructions`. The SDK calls it with ``(context,
    agent)`` before every model call, so the instructions always show the
    current state, including changes made by tools during the run.
    """

    def __init__(self, template: str, session: OmniSession | SessionResolver) -> None:
        if not isinstance(template, str):
            raise TypeError(f"template must be a str, got {type(template).__name__}")
        if not isinstance(session, OmniSession) and not callable(session):
            raise TypeError(
                "session must be an OmniSession or a callable (context) -> OmniSession, "
                f"got {type(session).__name__}"
            )
        self.template = template
        self._session = session

    async def __call__(self, context: RunContextWrapper[Any], agent: Agent[Any]) -> str:
        session = self._session
        if not isinstance(session, OmniSession):
            session = session(context)
            if not isinstance(session, OmniSession):
                raise TypeError(
                    "the session resolver of state_instructions must return an OmniSession, "
                    f"got {type(session).__name__}"
                )
        return render_state_template(self.template, await session.get_state(), session=session)

    def __repr__(self) -> str:
        return f"StateInstructions({self.template!r})"


def state_instructions(
    template: str, session: OmniSession | SessionResolver
) -> Callable[[RunContextWrapper[Any], Agent[Any]], Awaitable[str]]:
    """Agent instructions filled from session state, for ``Agent(instructions=...)``.

    ``state_instructions("Hello {user:name}", session)`` renders against
    ``session``'s state on every model call (see :func:`render_state_template`
    for the syntax). For one agent serving many threads, pass a callable that
    picks the session from the run context instead, e.g.
    ``state_instructions(template, lambda ctx: ctx.context.session)`` with
    ``Runner.run(..., context=my_context)``.

    A required key missing from the state raises :class:`MissingStateKey`
    (a ``KeyError``) naming the key, and the run stops before calling the
    model.
    """
    return StateInstructions(template, session)


if TYPE_CHECKING:

    def _is_an_agents_session(session: OmniSession) -> Session:
        # mypy proves here that OmniSession satisfies the SDK's Session protocol.
        return session
