"""omnisession: one session protocol for AI agents, any framework, any storage engine.

>>> import omnisession
>>> async with omnisession.open_store("memory://") as store:
...     key = omnisession.SessionKey("my-app", "user-1", "thread-1")
...     await store.create_session(key, {"user:name": "Ada"})
...     await store.append_event(key, {"role": "user", "content": "hi"})
"""

from __future__ import annotations

from .errors import (
    AlreadyExists,
    BackendUnavailable,
    IncompatibleSchema,
    InvalidEntry,
    InvalidKey,
    OmnisessionError,
    PluginLoadError,
    SessionNotFound,
    StaleSession,
    UnknownBackend,
)
from .model import (
    Appended,
    Event,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    split_state,
)
from .plugins import Backend, hookimpl, open_store
from .store import Capability, SessionStore

__all__ = [
    "AlreadyExists",
    "Appended",
    "Backend",
    "BackendUnavailable",
    "Capability",
    "Event",
    "IncompatibleSchema",
    "InvalidEntry",
    "InvalidKey",
    "JSONObject",
    "OmnisessionError",
    "Page",
    "PluginLoadError",
    "SessionKey",
    "SessionNotFound",
    "SessionRecord",
    "SessionStore",
    "StaleSession",
    "StateDelta",
    "UnknownBackend",
    "hookimpl",
    "merge_state",
    "open_store",
    "split_state",
]

__version__ = "0.1.0"
