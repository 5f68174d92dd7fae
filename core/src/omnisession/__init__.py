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
    BackendError,
    BackendRejected,
    BackendUnavailable,
    EntryTooLarge,
    IncompatibleSchema,
    InvalidEntry,
    InvalidKey,
    InvalidOption,
    OmnisessionError,
    PluginLoadError,
    SessionNotFound,
    StaleSession,
    UnknownBackend,
    Unsupported,
)
from .model import (
    Appended,
    Event,
    EventPage,
    JSONObject,
    Page,
    SessionKey,
    SessionRecord,
    StateDelta,
    merge_state,
    split_state,
)
from .options import Option
from .plugins import Backend, hookimpl, open_store
from .store import Capability, LifecycleStore, SessionStore

__all__ = [
    "AlreadyExists",
    "Appended",
    "Backend",
    "BackendError",
    "BackendRejected",
    "BackendUnavailable",
    "Capability",
    "EntryTooLarge",
    "Event",
    "EventPage",
    "IncompatibleSchema",
    "InvalidEntry",
    "InvalidKey",
    "InvalidOption",
    "JSONObject",
    "LifecycleStore",
    "OmnisessionError",
    "Option",
    "Page",
    "PluginLoadError",
    "SessionKey",
    "SessionNotFound",
    "SessionRecord",
    "SessionStore",
    "StaleSession",
    "StateDelta",
    "UnknownBackend",
    "Unsupported",
    "hookimpl",
    "merge_state",
    "open_store",
    "split_state",
]

__version__ = "0.2.0"
