"""One exception hierarchy for every store, bridge and plugin.

Each message says what went wrong *and* what to do about it. Backends chain the
driver's exception (``raise BackendUnavailable(...) from exc``) so the root
cause is never lost.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BackendUnavailable",
    "IncompatibleSchema",
    "InvalidEntry",
    "InvalidKey",
    "OmnisessionError",
    "PluginLoadError",
    "SessionNotFound",
    "StaleSession",
    "UnknownBackend",
]


class OmnisessionError(Exception):
    """Base class of every error omnisession raises on purpose."""


class AlreadyExists(OmnisessionError):
    """``create_session`` was given a key that is already in the store."""

    def __init__(self, key: object) -> None:
        super().__init__(
            f"session {key} already exists; "
            "use get_session() to load it, or pick another session_id"
        )
        self.key = key


class SessionNotFound(OmnisessionError, LookupError):
    """A write addressed a session that does not exist."""

    def __init__(self, key: object) -> None:
        super().__init__(f"session {key} does not exist; create it with create_session() first")
        self.key = key


class StaleSession(OmnisessionError):
    """A conditional write found a newer revision than the caller had read."""

    def __init__(self, key: object, expected: int, actual: int) -> None:
        super().__init__(
            f"session {key} is at revision {actual}, not {expected}: "
            "another writer got there first; "
            "reload the session with get_session() and retry"
        )
        self.key = key
        self.expected = expected
        self.actual = actual


class InvalidKey(OmnisessionError, ValueError):
    """An app name, user id or session id is not a usable identifier."""


class InvalidEntry(OmnisessionError, ValueError):
    """An event payload or state value cannot be stored as JSON; nothing was written."""


class BackendUnavailable(OmnisessionError, ConnectionError):
    """The storage engine could not be reached or failed mid-call.

    The driver's exception is chained as ``__cause__``. Nothing is reported as
    committed that was not; the next call reconnects.
    """


class IncompatibleSchema(OmnisessionError):
    """The database was written by a newer omnisession than the one running."""


class UnknownBackend(OmnisessionError, LookupError):
    """No installed plugin handles the URL's scheme."""

    def __init__(self, scheme: str, known: list[str]) -> None:
        hint = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"no backend handles the scheme {scheme!r} (installed schemes: {hint}); "
            "install the plugin that provides it (e.g. pip install omnisession-sqlalchemy) "
            "and run `omnisession backends` to check it loaded"
        )
        self.scheme = scheme


class PluginLoadError(OmnisessionError):
    """A plugin's entry point could not be imported or registered."""
