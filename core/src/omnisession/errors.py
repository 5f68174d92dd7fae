"""One exception hierarchy for every store, bridge and plugin.

Each message says what went wrong *and* what to do about it. Backends chain the
driver's exception (``raise BackendUnavailable(...) from exc``) so the root
cause is never lost.

::

    OmnisessionError
    ├── InvalidKey        (ValueError)         a bad app name, user id or session id
    ├── InvalidEntry      (ValueError, TypeError)  a payload or state value not storable as JSON
    ├── InvalidOption     (ValueError)         an unknown or malformed store option
    ├── AlreadyExists                          create_session / fork_session of a taken key
    ├── SessionNotFound   (LookupError)        a write to a session that does not exist
    ├── StaleSession                           a conditional write lost to another writer
    ├── Unsupported       (NotImplementedError)  the backend cannot do this operation
    ├── UnknownBackend    (LookupError)        no installed plugin handles the URL's scheme
    ├── PluginLoadError                        a plugin failed to import or register
    └── BackendError                           the storage engine failed
        ├── BackendUnavailable  (ConnectionError)  TRANSIENT: retrying may help
        └── BackendRejected                        PERMANENT: retrying will not help
            ├── EntryTooLarge                      an entry over the engine's size limit
            └── IncompatibleSchema                 data written by a newer omnisession

Caller mistakes (the ``Invalid*`` errors, ``ValueError``/``TypeError`` for bad
arguments) are raised before any I/O, identically on every backend.
:class:`BackendError` carries ``transient``: ``True`` for an outage (the
server is down, restarting, stalled past the command timeout, or a connection
was lost), ``False`` when the engine answered and refused (wrong credentials,
unknown database, missing table, read-only file, missing privilege, an entry
over its limit, a rejected command).
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BackendError",
    "BackendRejected",
    "BackendUnavailable",
    "EntryTooLarge",
    "IncompatibleSchema",
    "InvalidEntry",
    "InvalidKey",
    "InvalidOption",
    "OmnisessionError",
    "PluginLoadError",
    "SessionNotFound",
    "StaleSession",
    "UnknownBackend",
    "Unsupported",
]


class OmnisessionError(Exception):
    """Base class of every error omnisession raises on purpose."""


class AlreadyExists(OmnisessionError):
    """``create_session`` (or a fork or import) was given a key already in the store."""

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


class InvalidEntry(OmnisessionError, ValueError, TypeError):
    """An event payload or state value cannot be stored as JSON; nothing was written.

    Also a ``TypeError``: the frameworks' own sessions serialise with
    ``json.dumps``, which raises ``TypeError`` for such a value, so code written
    against them (``except TypeError``) keeps working unchanged.
    """


class InvalidOption(OmnisessionError, ValueError):
    """A store option is unknown, misspelt or has a value of the wrong kind.

    Raised when the store is opened, before any I/O; the message names the
    options the backend accepts.
    """


class Unsupported(OmnisessionError, NotImplementedError):
    """The backend cannot perform this operation (it does not declare the capability)."""


class UnknownBackend(OmnisessionError, LookupError):
    """No installed plugin handles the URL's scheme."""

    def __init__(self, scheme: str, known: list[str], hint: str | None = None) -> None:
        installed = ", ".join(sorted(known)) or "none"
        install = hint or (
            "install the plugin that provides it and run `omnisession backends` to check it loaded"
        )
        super().__init__(
            f"no backend handles the scheme {scheme!r} (installed schemes: {installed}); {install}"
        )
        self.scheme = scheme


class PluginLoadError(OmnisessionError):
    """A plugin's entry point could not be imported or registered."""


class BackendError(OmnisessionError):
    """The storage engine failed; the driver's exception is chained as ``__cause__``.

    ``transient`` tells the two kinds apart: see :class:`BackendUnavailable`
    and :class:`BackendRejected`. Catch this class to handle both.
    """

    transient: bool = False


class BackendUnavailable(BackendError, ConnectionError):
    """TRANSIENT: the engine could not be reached, went away or stalled; retrying may help.

    The server is down or restarting, a connection was lost, or a command ran
    past the store's command timeout. Nothing is reported as committed that
    was not; the next call reconnects.
    """

    transient = True


class BackendRejected(BackendError):
    """PERMANENT: the engine answered and refused; retrying the same call will not help.

    Wrong credentials, an unknown database, bucket or table, a missing
    privilege, a read-only or unopenable file, a command the server rejects.
    The message names the cause and the fix.
    """

    transient = False


class EntryTooLarge(BackendRejected):
    """An entry (or one write's batch) is over the engine's size limit; nothing was written."""


class IncompatibleSchema(BackendRejected):
    """The database was written by a newer omnisession than the one running."""
