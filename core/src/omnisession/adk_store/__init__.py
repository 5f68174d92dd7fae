"""An omnisession store on top of any Google ADK ``BaseSessionService``.

This is the other direction of the ADK bridge: ``omnisession.adk`` lets ADK's
``Runner`` use any omnisession store, and :class:`ADKServiceStore` lets every
omnisession user (the OpenAI Agents bridge, the CLI, ``omnisession copy``, the
conformance suite) keep sessions in, or read them from, an existing ADK service
-- ADK's own ``InMemorySessionService``, ``DatabaseSessionService``,
``SqliteSessionService``, ``VertexAiSessionService`` or a community one::

    store = ADKServiceStore(VertexAiSessionService(project, location, engine_id))
    store = omnisession.open_store("adk+vertexai://PROJECT/LOCATION/ENGINE_ID")
    store = omnisession.open_store("adk+db://postgresql+asyncpg://user@host/db")
    store = omnisession.open_store("adk+sqlite:///sessions.db")   # SqliteSessionService
    store = omnisession.open_store("adk+memory://")                # InMemorySessionService

How the contract is mapped onto ADK's API
-----------------------------------------
Every write (core's one write primitive, ``_write``) is ONE
``service.append_event`` of one ADK ``Event`` (author ``omnisession``), so it
is as atomic as the service's own append:

* the entries travel as JSON text in ``event.custom_metadata["omnisession"]``
  with their seq, timestamp and recorded state delta, so payloads round-trip
  exactly whatever the service does to JSON (big ints, key order);
* the write's state delta travels in ``event.actions.state_delta``: ``app:`` /
  ``user:`` keys reach the service's app and user scopes;
* the session's bookkeeping (revision, next seq, ``created_at``,
  ``updated_at``, the base state) lives in the reserved session-state key
  ``__omnisession__``, written by the same delta, hidden from
  :attr:`SessionRecord.state` and refused in callers' state;
* ADK services cannot delete an event, so ``pop_item`` appends a tombstone
  naming the popped seq, and a truncation (``clear_session``,
  ``replace_events``) a marker hiding every older entry from a seq on; reads
  skip what they hide. Nothing is ever rewritten, so history keeps its
  numbers (never reused) and a replacement is one atomic append.
* a creation with events (``add_items`` of a new session, ``fork_session``,
  ``import_session``) is a pending placeholder session completed by one
  append; until then every read through this store sees no session.
* the ADK event's ``timestamp`` is the write's commit time, strictly
  increasing per session and never before the entries' own timestamps:
  services that order by timestamp keep append order, their stale-writer
  markers change on every write, and ``since`` pre-selects with the
  service's ``after_timestamp``. ``updated_at`` is the write's own (an
  append's timestamp), kept in the bookkeeping.

Events the service holds that this store did not write -- a session an ADK
``Runner`` wrote through the service directly -- are entries too, so an
``adk+`` URL reads ADK's own data exactly (what ``omnisession copy`` moves off
ADK): each non-partial event is one entry whose payload is the event as the
ADK bridge stores it (``omnisession._adk_events.encode_event``), with its
timestamp and its state delta (``temp:`` dropped); they are numbered
``1, 2, ...`` in the service's order (after this store's newest write before
them, where it wrote too). Such a session reports revision 0 until this store
writes to it, ``created_at`` = ``updated_at`` = its last update time, and no
base state.

What each read costs
--------------------
ADK's API reads a session's newest N events, or its events from a time on,
never a range. ``get_session(last=N)`` and ``get_items(limit=N)`` fetch about
N events (more while tombstones hide entries); ``get_events`` pages newest
first cost what the events from the page to the newest cost, and
``oldest_first`` pages read the whole history: paging grows with the length
of the history on these services. A session ADK wrote itself is always read
whole (its entries are numbered from its first event). ``list_sessions``
lists every session of the app (ADK has no paging) and pages them in memory.
Vertex AI lists every event of a session on each read whatever is asked.

Concurrency
-----------
Writes to one session are serialised per service object and event loop by an
asyncio lock (stores wrapping the same service object share it), then each is
a compare-and-set where the service offers one: the write hands the service
the session it just read, and a service that detects stale writers
(``DatabaseSessionService`` through its storage marker, ``SqliteSessionService``
through ``last_update_time``) raises ``StaleSessionError``, upon which the
write is retried (or, with ``expected_revision``, reported as
:class:`~omnisession.errors.StaleSession`). ``expected_revision`` (and so
``replace_events``) is therefore exact within one process and only as good as
the service's stale-writer check across processes.

What each ADK service keeps
---------------------------
Every ``adk+`` store declares ``base`` and ``replace``; the rest per service
(measured by the conformance suites in ``tests/adk_store``, where every
failing case is a known failure carrying its reason):

``InMemorySessionService``
    base, replace, large_entries. Not persistent; not thread-safe (ADK's own
    limit).
``DatabaseSessionService`` (measured on SQLite + aiosqlite)
    base, replace, large_entries, persistent (unless the URL is SQLite in
    memory). Two services (engines) on one SQLite file both pass ADK's
    stale-marker check (the read and the write are separate statements and
    SQLite takes no lock before the write), so racing writers through
    different services can commit on one revision: not cross_process.
``SqliteSessionService``
    base, replace, large_entries, persistent (file). The same cross-instance
    limit (its ``last_update_time`` check).
``VertexAiSessionService`` (measured offline on a fake of the Agent Engine API)
    base, replace, persistent. The API keeps state per session, so ``app:`` /
    ``user:`` state is not shared between sessions; it has no conditional
    write and ADK no stale-writer check. Session ids must be short
    ``[A-Za-z0-9_-]`` strings and the engine ignores ``app_name``: by default
    this store hashes the whole key into the id (:class:`HashedIds`); open it
    with ``?ids=plain`` to read the sessions ADK's own Runner wrote there. The
    API stores state as a protobuf ``Struct``, whose numbers are doubles.
any other service
    base and replace, until measured: bind ``StoreConformance`` to it and pass
    the measured ``capabilities``.

The lifecycle operations (``Capability.LIFECYCLE`` is never declared)
-------------------------------------------------------------------------
* ``purge_sessions``: works on every service (a listing, then a check and a
  ``delete_session`` per idle session, under the store's lock: no write through
  a store on the same service object slips in between; a writer in another
  process can, as ADK has no conditional delete).
* ``fork_session`` and ``import_session``: work on every service (core's
  defaults, on the one write primitive).
* ``update_app_state`` / ``update_user_state``: on services with shared scopes,
  through a bookkeeping session of the app (``(app_name, "~", "~")``) or of the
  user (``(app_name, user_id, "~")``); ``Unsupported`` on Vertex AI (no scopes).
* ``erase_user`` / ``erase_app``: ``Unsupported`` on services with shared scopes
  (ADK's API cannot delete ``app:`` / ``user:`` state); on Vertex AI, where a
  user's state lives in their sessions, they delete every session.
* ``list_apps``: on ADK's three local services, read from what they keep
  (ADK's API has no list of apps; see ``_upstream.app_names``), so
  ``omnisession copy adk+db://... DST`` copies every app; ``Unsupported`` on
  Vertex AI (the Agent Engine has no apps) and other services.

``get_app_state`` has no ADK counterpart: the store reads the app scope from
the app's bookkeeping session, created when state is first written to the app
scope (``list_sessions`` hides it), so app state stays readable after the
app's last session is deleted; without one, from the app's most recently
updated session. ``get_user_state`` uses the service's own and falls back the
same way where the service raises ``NotImplementedError`` (Vertex AI).
"""

from __future__ import annotations

from ._capabilities import capabilities_of
from ._ids import HashedIds, PlainIds, ServiceIds
from ._open import open_adk_store
from ._records import META_KEY
from ._store import ADKServiceStore

__all__ = [
    "META_KEY",
    "ADKServiceStore",
    "HashedIds",
    "PlainIds",
    "ServiceIds",
    "capabilities_of",
    "open_adk_store",
]
