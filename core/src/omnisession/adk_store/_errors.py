"""The ONE mapping from what an ADK service raises to omnisession's errors.

:func:`map_error` decides, for every exception a service (or the driver, HTTP
client or SQLite library under it) raises, which project error it is, with
the original chained; :func:`translated` applies it around a call. Transient
failures (a lost connection, a locked database, a 5xx or 429 from the API)
become :class:`~omnisession.errors.BackendUnavailable`; refusals that a retry
cannot fix (wrong credentials, a missing privilege, an unopenable or read-only
file, a missing table, a rejected request) become
:class:`~omnisession.errors.BackendRejected`. ``StaleSessionError`` is let
through untouched: the store's write loop handles it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.sessions.base_session_service import BaseSessionService

from ..errors import (
    AlreadyExists,
    BackendRejected,
    BackendUnavailable,
    EntryTooLarge,
    InvalidEntry,
    OmnisessionError,
    SessionNotFound,
)

__all__ = ["map_error", "translated"]

#: Messages of SQLite (ADK's SQLite service, or SQLAlchemy over SQLite) that a retry can fix.
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "busy")
#: Messages of SQLite that name a permanent problem of the file or schema.
_SQLITE_PERMANENT = (
    "unable to open",
    "readonly database",
    "read-only",
    "no such table",
    "no such column",
    "file is not a database",
    "malformed",
    "disk is full",
    "not authorized",
)
#: Words of a database server's refusal (credentials, database, privilege).
_SERVER_PERMANENT = (
    "password",
    "authentication",
    "access denied",
    "permission denied",
    "does not exist",
    "unknown database",
    "privilege",
    "no such table",
    "doesn't exist",
)

_REJECTED_FIX = (
    "the service refused the call; fix the cause above (credentials, permissions, the "
    "database file, URL or tables) -- retrying will not help"
)
_UNAVAILABLE_FIX = "check that the service is reachable and retry"


def _status_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _genai_api_error() -> type[BaseException] | None:
    try:
        from google.genai.errors import APIError
    except ImportError:  # pragma: no cover - google-genai ships with google-adk
        return None
    return APIError


def _google_auth_errors() -> tuple[type[BaseException], type[BaseException]] | None:
    try:
        from google.auth.exceptions import GoogleAuthError, TransportError
    except ImportError:  # pragma: no cover - google-auth ships with google-adk
        return None
    return GoogleAuthError, TransportError


def _sqlalchemy_errors() -> tuple[type[BaseException], ...] | None:
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
    except ImportError:  # adk+db needs SQLAlchemy; the other services do not
        return None
    return SQLAlchemyError, DBAPIError, OperationalError


_API_ERROR = _genai_api_error()
_AUTH_ERRORS = _google_auth_errors()
_SQLALCHEMY_ERRORS = _sqlalchemy_errors()


def _contains(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in words)


def _service_name(service: BaseSessionService) -> str:
    return type(service).__name__


def _unavailable(service: BaseSessionService, what: str, exc: BaseException) -> BackendUnavailable:
    return BackendUnavailable(
        f"{_service_name(service)} failed for {what}: {type(exc).__name__}: {exc}; "
        f"{_UNAVAILABLE_FIX}"
    )


def _rejected(service: BaseSessionService, what: str, exc: BaseException) -> BackendRejected:
    return BackendRejected(
        f"{_service_name(service)} refused {what}: {type(exc).__name__}: {exc}; {_REJECTED_FIX}"
    )


def map_error(
    exc: BaseException, service: BaseSessionService, what: str, key: object = None
) -> BaseException:
    """The project error for ``exc`` (raised by ``service`` during ``what``).

    ``key`` is the session the call was about (for ``AlreadyExists`` and
    ``SessionNotFound``). Returns ``exc`` itself when it is already a project
    error or a ``StaleSessionError`` (handled by the caller).
    """
    subject = key if key is not None else what
    if isinstance(exc, (OmnisessionError, StaleSessionError)):
        return exc
    if isinstance(exc, AlreadyExistsError):
        return AlreadyExists(subject)
    if isinstance(exc, SessionNotFoundError):
        return SessionNotFound(subject)
    if _API_ERROR is not None and isinstance(exc, _API_ERROR):
        code = _status_code(exc)
        if code == 409:
            return AlreadyExists(subject)
        if code == 404:
            return SessionNotFound(subject)
        if code == 413:
            return EntryTooLarge(
                f"{_service_name(service)} refused {what} as too large ({exc}); nothing was "
                "written: store smaller entries"
            )
        if code == 400:
            return InvalidEntry(
                f"{_service_name(service)} refused the request for {what} ({exc}); nothing "
                "was written"
            )
        if code is not None and 400 <= code < 500 and code not in (408, 429):
            return _rejected(service, what, exc)
        return _unavailable(service, what, exc)
    if _AUTH_ERRORS is not None and isinstance(exc, _AUTH_ERRORS[0]):
        if isinstance(exc, _AUTH_ERRORS[1]):
            return _unavailable(service, what, exc)
        return _rejected(service, what, exc)
    if _SQLALCHEMY_ERRORS is not None and isinstance(exc, _SQLALCHEMY_ERRORS[0]):
        _, dbapi, operational = _SQLALCHEMY_ERRORS
        text = str(exc)
        if isinstance(exc, dbapi) and getattr(exc, "connection_invalidated", False):
            return _unavailable(service, what, exc)
        if _contains(text, _SQLITE_TRANSIENT):
            return _unavailable(service, what, exc)
        if _contains(text, _SQLITE_PERMANENT) or _contains(text, _SERVER_PERMANENT):
            return _rejected(service, what, exc)
        if isinstance(exc, operational) or not isinstance(exc, dbapi):
            # lost connections, timeouts, a pool exhausted: a retry may help
            return _unavailable(service, what, exc)
        return _rejected(service, what, exc)  # ProgrammingError, IntegrityError, DataError...
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        if _contains(text, _SQLITE_TRANSIENT):
            return _unavailable(service, what, exc)
        if isinstance(exc, sqlite3.OperationalError) and not _contains(text, _SQLITE_PERMANENT):
            return _unavailable(service, what, exc)
        return _rejected(service, what, exc)
    if isinstance(exc, (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return _rejected(service, what, exc)
    if isinstance(exc, (OSError, TimeoutError, ConnectionError)):
        return _unavailable(service, what, exc)
    if isinstance(exc, ValueError):
        # a service's own refusal (e.g. ADK's "App state missing ..." on a database
        # whose tables were edited by hand, or stored data it cannot validate)
        return _rejected(service, what, exc)
    return exc


@contextlib.contextmanager
def translated(what: str, service: BaseSessionService, key: object = None) -> Iterator[None]:
    """Map whatever the service raises inside the block (see :func:`map_error`)."""
    try:
        yield
    except Exception as exc:
        mapped = map_error(exc, service, what, key)
        if mapped is exc:
            raise
        raise mapped from exc
