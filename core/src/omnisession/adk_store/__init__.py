"""An omnisession store on top of any Google ADK ``BaseSessionService``.

This is the other direction of the ADK bridge: ``omnisession.adk`` lets ADK's
``Runner`` use any omnisession store, and :class:`ADKServiceStore` lets every
omnisession user (the OpenAI Agents bridge, the CLI, the conformance suite)
keep sessions in an existing ADK service -- ADK's own ``InMemorySessionService``,
``DatabaseSessionService``, ``SqliteSessionService``, ``VertexAiSessionService``
or a community one::

    store = ADKServiceStore(VertexAiSessionService(project, location, engine_id))
    store = omnisession.open_store("adk+vertexai://PROJECT/LOCATION/ENGINE_ID")
    store = omnisession.open_store("adk+db://postgresql+asyncpg://user@host/db")
    store = omnisession.open_store("adk+sqlite:///sessions.db")   # SqliteSessionService
    store = omnisession.open_store("adk+memory://")                # InMemorySessionService

How the contract is mapped onto ADK's API
-----------------------------------------
Every write is ONE ``service.append_event`` of one ADK ``Event`` (author
``omnisession``), so it is as atomic as the service's own append:

* the entries (one for ``append_event``, all of them for ``add_items``) travel
  as JSON text in ``event.custom_metadata["omnisession"]``, so payloads
  round-trip exactly whatever the service does to JSON (big ints, key order);
* ``state_delta`` travels in ``event.actions.state_delta``: ``app:`` / ``user:``
  keys go to the service's app and user scopes, ``temp:`` keys are dropped;
* the session's bookkeeping (``revision``, next ``seq``, ``created_at``) lives in
  the reserved session-state key ``__omnisession__``, written by the same delta,
  hidden from :attr:`SessionRecord.state` and refused in callers' state;
* ADK services have no way to delete an event, so ``pop_item`` appends a
  tombstone naming the popped ``seq`` and ``clear_session`` a marker hiding
  every older entry; reads skip both. ``update_state`` is an event without
  entries. Reads fetch the newest events and widen the window only while
  tombstones hide entries, so ``last=N`` costs what the service charges for
  ``num_recent_events`` (N plus hidden events), never the whole history.
* the ADK event's ``timestamp`` is the write's commit time, made strictly
  increasing per session (at least the previous update time plus 1 us, and
  never earlier than the caller's ``timestamp``). Services that order by
  timestamp (Database, Sqlite, Vertex AI) therefore keep append order, and
  stale-writer markers change on every write. ``append_event``'s
  ``timestamp`` (the time of the call when the caller gives none) is kept
  with the entry and is what :attr:`Event.timestamp` reports (``add_items``
  entries report the commit time); ``since`` uses the service's
  ``after_timestamp`` as a pre-filter and filters exactly.
  (An entry stamped in the future therefore moves the session's
  ``updated_at`` to that time.)

Concurrency: writes to one session are serialised per service object and event
loop by an asyncio lock (two stores wrapping the same service object share it),
then each write is a compare-and-set where the service offers one: the write
hands the service the session it just read, and a service that detects stale
writers (``DatabaseSessionService`` through its storage marker,
``SqliteSessionService`` through ``last_update_time``) raises
``StaleSessionError``, upon which the write is retried (or, with
``expected_revision``, reported as :class:`~omnisession.errors.StaleSession`).
``expected_revision`` is therefore exact within one process and only as good as
the service's stale-writer check across processes.

What each ADK service keeps -- the declared ``Capability`` set, and what the
conformance suites (store, ADK bridge, OpenAI bridge) measured through this
store in ``tests/adk_store``, where every failing case is an expected failure
carrying this reason:

``InMemorySessionService``
    base, large_entries. Passes every case, including the cross-instance ones
    for two stores on one service object (the service does no I/O, so each
    call is atomic within the event loop). Not persistent; not thread-safe
    (ADK's own limit).
``DatabaseSessionService`` (measured on SQLite + aiosqlite)
    base, large_entries, persistent (unless the URL is an in-memory SQLite).
    Fails two cross-instance cases: two services (engines) on one SQLite file
    both pass ADK's stale-marker check, because its read and its write are
    separate statements and SQLite takes no lock before the write, so racing
    writers through different services reuse one revision -- appends get
    duplicate ``seq`` (nothing lost or duplicated) and two pops return the same
    item. Within one service everything holds. Hence not cross_process. (On
    PostgreSQL/MySQL ADK reads the marker ``FOR UPDATE``; not measured here.)
    Two services creating the tables of a new database concurrently fail
    ("table ... already exists"): call ``prepare_tables()`` at start-up.
``SqliteSessionService``
    base, large_entries, persistent (file). The same two cross-instance
    failures, for the same reason (its ``last_update_time`` check).
``VertexAiSessionService`` (measured offline on a fake of the Agent Engine API)
    base, persistent. The API keeps state per session -- ``appendEvent`` merges
    ``stateDelta`` into that session's ``sessionState`` -- so ``app:`` /
    ``user:`` state is not shared between sessions (3 store cases, 5 ADK bridge
    cases); it has no conditional write and ADK no stale-writer check, so the
    two cross-instance cases fail as above. ``get_session`` lists the whole
    event history on every read (ADK applies ``num_recent_events`` client-side),
    so reads grow with history. Session ids must be short ``[A-Za-z0-9_-]``
    strings and the engine ignores ``app_name``: this store hashes the whole
    key into the id (:class:`HashedIds`). Large entries are not declared: the
    API's request size limit was not measured. The API stores state as a
    protobuf ``Struct``, whose numbers are doubles: integer state values past
    2**53 lose precision there (entries are unaffected: they travel as text).
any other service
    base only, until measured: bind ``StoreConformance`` to it and pass the
    measured ``capabilities``.

``get_app_state`` has no ADK counterpart. The store creates one bookkeeping
session per app, ``(app_name, "~", "~")`` (user and session ids starting with
``~`` are escaped, so no key maps there; ``list_sessions`` hides it), and reads
the app scope from its merged state, so app state stays readable after the
app's last session is deleted. Where there is no such session (an app whose
sessions were all created by something else) the app scope is read from the
app's most recently updated session. ``get_user_state`` uses the service's
``get_user_state`` and falls back the same way where the service raises
``NotImplementedError`` (Vertex AI, which has no shared scopes and so no
bookkeeping session). Sessions and events written to the service by anything
but this store (e.g. an ADK ``Runner`` using the service directly) are listed,
but their events are not entries and are skipped.
"""

from __future__ import annotations

from ._capabilities import capabilities_of
from ._ids import HashedIds, PlainIds, ServiceIds
from ._records import META_KEY
from ._store import ADKServiceStore
from ._urls import open_adk_store

__all__ = [
    "META_KEY",
    "ADKServiceStore",
    "HashedIds",
    "PlainIds",
    "ServiceIds",
    "capabilities_of",
    "open_adk_store",
]
