"""ADK services' exceptions translated into omnisession's errors, the original chained."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.sessions.base_session_service import BaseSessionService

from ..errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidEntry,
    OmnisessionError,
    SessionNotFound,
)


def _unavailable_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError, OSError]
    try:
        from google.genai import errors as genai_errors

        found.append(genai_errors.APIError)
    except ImportError:  # pragma: no cover - google-genai ships with google-adk
        pass
    try:
        import sqlalchemy.exc

        found.append(sqlalchemy.exc.DBAPIError)
    except ImportError:
        pass
    try:
        import sqlite3

        found.append(sqlite3.Error)
    except ImportError:  # pragma: no cover
        pass
    return tuple(found)


UNAVAILABLE = _unavailable_types()


def _status_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


@contextlib.contextmanager
def translated(key: object, service: BaseSessionService) -> Iterator[None]:
    """Map the service's exceptions onto omnisession's, chaining the original."""
    try:
        yield
    except OmnisessionError:
        raise
    except AlreadyExistsError as exc:
        raise AlreadyExists(key) from exc
    except SessionNotFoundError as exc:
        raise SessionNotFound(key) from exc
    except UNAVAILABLE as exc:
        code = _status_code(exc)
        if code == 409:
            raise AlreadyExists(key) from exc
        if code == 404:
            raise SessionNotFound(key) from exc
        if code in (400, 413):
            raise InvalidEntry(
                f"{type(service).__name__} refused the request for session {key} "
                f"({exc}); nothing was written"
            ) from exc
        raise BackendUnavailable(
            f"{type(service).__name__} failed for session {key}: "
            f"{type(exc).__name__}: {exc}; check the service is reachable and retry"
        ) from exc
