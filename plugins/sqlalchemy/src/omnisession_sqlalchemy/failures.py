"""THE mapping from driver errors to omnisession's errors, for every SQL engine.

:func:`describe` turns anything a driver (aiosqlite/sqlite3, asyncpg, psycopg,
asyncmy, aiomysql) or SQLAlchemy raises into a :class:`Failure`: which project
error it is, its cause and its fix, and what the transaction runner may do
about it (retry on a new connection, retry a rolled-back deadlock, drop the
connection). It is called in one place, :mod:`omnisession_sqlalchemy.transactions`.

* **transient** (``BackendUnavailable``, retrying may help): the server
  refused or dropped the connection, is shutting down or restarting, did
  not answer within the command timeout, too many connections, a deadlock or
  serialization failure that kept coming back, a SQLite file locked longer
  than ``busy_timeout``;
* **permanent** (``BackendRejected``, retrying will not help): wrong
  credentials, unknown database or schema, missing table, missing
  privilege, a read-only, unopenable or corrupt SQLite file, a full disk, a
  read-only server, a statement the server rejects;
* ``EntryTooLarge`` (permanent): an entry over the server's limit
  (MySQL/MariaDB ``max_allowed_packet``, SQLite's 1 GB).
"""

from __future__ import annotations

import enum
import socket
import sqlite3
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from omnisession.errors import BackendError, BackendRejected, BackendUnavailable, EntryTooLarge

if TYPE_CHECKING:
    from .urls import EngineSpec

__all__ = [
    "Failure",
    "Retry",
    "StatementTooLarge",
    "describe",
    "driver_errors",
    "integrity_errors",
    "retries_exhausted",
    "timed_out",
]

_MAX_DETAIL = 400


class StatementTooLarge(Exception):
    """A statement measured over the server's packet limit before it was sent."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the statement is {size:,} bytes, the server accepts {limit:,}")
        self.size = size
        self.limit = limit


class Retry(enum.Enum):
    """What the transaction runner may do after a failure, if nothing was committed."""

    RECONNECT = "reconnect"
    """The connection was lost before COMMIT: run the operation again on a new one."""
    AGAIN = "again"
    """The engine rolled the transaction back (deadlock, serialization): run it again."""


@dataclass(frozen=True)
class Failure:
    """One failure, described: the project error it becomes and what may be done."""

    kind: type[BackendError]
    cause: str
    fix: str
    detail: str = ""
    retry: Retry | None = None
    broken: bool = False
    """The connection must not be used again."""
    reset: bool = False
    """The pooled connections are likely dead too (the server restarted or went away)."""

    def error(self, spec: EngineSpec) -> BackendError:
        detail = f" ({self.detail})" if self.detail else ""
        return self.kind(
            f"the {spec.product} database at {spec.where}: {self.cause}{detail}; {self.fix}"
        )


def _unavailable(cause: str, fix: str, **flags: object) -> Failure:
    return Failure(BackendUnavailable, cause, fix, **flags)  # type: ignore[arg-type]


def _rejected(cause: str, fix: str) -> Failure:
    return Failure(BackendRejected, cause, fix)


_UNREACHABLE_FIX = (
    "check that the server is running and reachable at that host and port, then retry"
)
_LOST = dict(retry=Retry.RECONNECT, broken=True, reset=True)
_REPORT = (
    "this is a bug in omnisession-sqlalchemy or an unsupported server version: report it "
    "with this message"
)
_MISSING_TABLE = _rejected(
    "the omnisession tables are missing (dropped after this store created them?)",
    "open a new store, which creates them, or restore the database",
)


def timed_out(spec: EngineSpec, seconds: float) -> BackendUnavailable:
    """The error of a call that ran past ``command_timeout``."""
    error = _unavailable(
        f"no answer within command_timeout={seconds:g} s (the server or the network is "
        "stalled, or the pool had no free connection)",
        "retry once the server answers again; if calls legitimately take longer, raise "
        "?command_timeout=SECONDS",
    ).error(spec)
    assert isinstance(error, BackendUnavailable)
    return error


def retries_exhausted(failure: Failure, attempts: int, spec: EngineSpec) -> BackendUnavailable:
    """The error of a deadlock or a lost connection that kept coming back."""
    error = _unavailable(
        f"{failure.cause}, {attempts} times in a row",
        "retry later; if this persists, look for long transactions holding locks on the server",
        detail=failure.detail,
    ).error(spec)
    assert isinstance(error, BackendUnavailable)
    return error


def _detail(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _original(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrappers."""
    while isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    cause = exc.__cause__
    # SQLAlchemy's asyncpg adapter raises its own DBAPI error from asyncpg's
    if cause is not None and type(exc).__module__.startswith("sqlalchemy"):
        return cause
    return exc


def describe(exc: BaseException, spec: EngineSpec) -> Failure:
    """What ``exc`` (from a driver or SQLAlchemy) means for the store: the ONE mapping."""
    if isinstance(exc, StatementTooLarge):
        return Failure(
            EntryTooLarge,
            f"an entry (or this write's batch) is over the server's max_allowed_packet: "
            f"{exc.size:,} bytes to send, {exc.limit:,} accepted; nothing was written",
            "store smaller entries, or raise max_allowed_packet on the server (SET GLOBAL "
            "max_allowed_packet = 1073741824, and max_allowed_packet = 1G under [mysqld] "
            "in its configuration; MariaDB and MySQL accept up to 1 GiB)",
        )
    if isinstance(exc, sa.exc.TimeoutError):  # the pool's, not a driver's
        return _unavailable(
            "no free connection within pool_timeout: every pool_size + max_overflow "
            "connection was in use",
            "raise ?pool_size= / ?max_overflow=, or make fewer concurrent calls",
            detail=_detail(exc),
        )
    original = _original(exc)
    detail = _detail(original)
    found = (
        _sqlite(original)
        if isinstance(original, sqlite3.Error)
        else _postgresql(original)
        if spec.family == "postgresql"
        else _mysql(original)
        if spec.family == "mysql"
        else None
    )
    if found is None:
        found = _network(original)
    if found is None:
        found = (
            _unavailable("the connection failed", _UNREACHABLE_FIX, retry=None, broken=True)
            if isinstance(original, sa.exc.InterfaceError | sa.exc.ResourceClosedError)
            else None
        )
    if found is None:
        found = _rejected("the database rejected a statement", _REPORT)
    return Failure(
        found.kind, found.cause, found.fix, detail, found.retry, found.broken, found.reset
    )


def _network(exc: BaseException) -> Failure | None:
    """Failures below any database protocol: sockets, TLS, timeouts."""
    if isinstance(exc, TimeoutError):
        return _unavailable(
            "no answer in time (connect_timeout, or the server stalled)",
            "check that the server is running and not stalled, then retry",
            broken=True,
        )
    if isinstance(exc, ssl.SSLCertVerificationError | ssl.SSLError):
        return _rejected(
            "the TLS handshake failed (certificate or TLS settings)",
            "check the ssl options of the URL and the server's certificate",
        )
    if isinstance(exc, socket.gaierror):
        return _unavailable(
            "the host name does not resolve",
            "check the host in the URL and the DNS, then retry",
            broken=True,
        )
    if isinstance(exc, ConnectionRefusedError):
        return _unavailable("the server refused the connection", _UNREACHABLE_FIX, **_LOST)
    if isinstance(exc, OSError):
        return _unavailable("the connection failed", _UNREACHABLE_FIX, **_LOST)
    return None


# -- SQLite ----------------------------------------------------------------------------

_SQLITE_ERROR, _SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED = 1, 3, 5, 6
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL = 8, 10, 11, 13
_SQLITE_CANTOPEN, _SQLITE_TOOBIG, _SQLITE_AUTH, _SQLITE_NOTADB = 14, 18, 23, 26

_SQLITE = {
    _SQLITE_BUSY: _unavailable(
        "the database file stayed locked by another connection for longer than busy_timeout",
        "retry; raise ?busy_timeout=SECONDS if writers hold the lock that long",
    ),
    _SQLITE_READONLY: _rejected(
        "the database file is read-only for this process (file or directory permissions, "
        "or a read-only mount)",
        "make the file and its directory writable by this process, or use another path",
    ),
    _SQLITE_CANTOPEN: _rejected(
        "the database file cannot be opened or created (its directory is missing or not "
        "writable, or the path is a directory)",
        "create the directory or fix its permissions, or fix the path in the URL",
    ),
    _SQLITE_NOTADB: _rejected(
        "the file is not a SQLite database (or it is encrypted)",
        "point the URL at a SQLite database file, or at a new path",
    ),
    _SQLITE_CORRUPT: _rejected(
        "the database file is corrupt",
        "restore it from a backup (the sqlite3 shell's .recover can save what is left)",
    ),
    _SQLITE_FULL: _rejected("the disk holding the database is full", "free space on it"),
    _SQLITE_TOOBIG: Failure(
        EntryTooLarge,
        "an entry is over SQLite's size limit (SQLITE_MAX_LENGTH, 1 GB by default)",
        "store smaller entries",
    ),
    _SQLITE_IOERR: _unavailable("a disk I/O error", "check the disk, then retry"),
    _SQLITE_PERM: _rejected("access to the file was denied", "check the file's permissions"),
    _SQLITE_AUTH: _rejected("access to the file was denied", "check the file's permissions"),
}
_SQLITE[_SQLITE_LOCKED] = _SQLITE[_SQLITE_BUSY]


def _sqlite(exc: sqlite3.Error) -> Failure:
    code = int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    text = str(exc).lower()
    if code in _SQLITE:
        return _SQLITE[code]
    if "no such table" in text:
        return _MISSING_TABLE
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in text:
        return _unavailable("the connection was closed", "retry", **_LOST)
    return _rejected("SQLite rejected a statement", _REPORT)


# -- PostgreSQL ------------------------------------------------------------------------

_POSTGRESQL = {
    "28P01": _rejected(
        "the server refused the password (28P01 invalid_password)",
        "fix the user name and password in the URL",
    ),
    "28000": _rejected(
        "the server refused the login (28000: the role does not exist, may not log in, or "
        "pg_hba.conf has no entry for this host, user and database)",
        "fix the user in the URL, ALTER ROLE ... LOGIN, or add a pg_hba.conf entry",
    ),
    "3D000": _rejected(
        "the database does not exist (3D000)",
        "create it (CREATE DATABASE ...) or fix the database name in the URL",
    ),
    "3F000": _rejected("the schema does not exist (3F000)", "create it or fix ?schema= in the URL"),
    "42P01": _MISSING_TABLE,
    "42501": _rejected(
        "the user lacks a privilege (42501 insufficient_privilege)",
        "GRANT the user USAGE and CREATE on the schema and SELECT, INSERT, UPDATE, DELETE "
        "on the omnisession tables (or use the schema's owner)",
    ),
    "25006": _rejected(
        "the server only accepts reads (25006: a standby, or default_transaction_read_only)",
        "point the URL at the primary server",
    ),
    "53100": _rejected("the server's disk is full (53100)", "free space on the server"),
    "54000": Failure(
        EntryTooLarge,
        "an entry is over a PostgreSQL limit (54000 program_limit_exceeded)",
        "store smaller entries",
    ),
    "22003": _rejected(
        "a number is out of the range the database stores (22003; sequence numbers end at "
        "2**63 - 1)",
        "this session has no sequence number left: start a new one",
    ),
    "57014": _unavailable(
        "the server cancelled the statement (57014: statement_timeout or a cancel request)",
        "retry; raise the server's statement_timeout if statements legitimately take longer",
    ),
    "55P03": _unavailable("a lock was not available (55P03)", "retry"),
}
_POSTGRESQL_CLASSES = {
    "08": _unavailable("the connection failed or was lost", _UNREACHABLE_FIX, **_LOST),
    "57": _unavailable("the server is shutting down or restarting", _UNREACHABLE_FIX, **_LOST),
    "53": _unavailable(
        "the server is out of resources (too many connections, memory)",
        "retry later; lower pool_size / max_overflow if this store opens many connections",
    ),
    "40": _unavailable(
        "the transaction kept failing on a deadlock or serialization conflict",
        "retry",
        retry=Retry.AGAIN,
    ),
    "22": _rejected("the server rejected a value (a data exception)", _REPORT),
}


def _postgresql(exc: BaseException) -> Failure | None:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str) and state:
        if state in _POSTGRESQL:
            return _POSTGRESQL[state]
        if state[:2] in _POSTGRESQL_CLASSES:
            return _POSTGRESQL_CLASSES[state[:2]]
        return _rejected("the server rejected a statement", _REPORT)
    name = type(exc).__name__
    if name in ("InterfaceError", "InternalClientError", "ConnectionDoesNotExistError"):
        return _unavailable("the connection was lost or is unusable", _UNREACHABLE_FIX, **_LOST)
    return None


# -- MySQL / MariaDB --------------------------------------------------------------------

_MYSQL_LOST = _unavailable("the connection failed or was lost", _UNREACHABLE_FIX, **_LOST)
_MYSQL = {
    1045: _rejected(
        "the server denied access (1045: wrong user name or password, or the user may not "
        "connect from this host)",
        "fix the user name and password in the URL, or CREATE USER / GRANT it access from "
        "this host",
    ),
    3118: _rejected("the account is locked (3118)", "unlock it: ALTER USER ... ACCOUNT UNLOCK"),
    4151: _rejected("the account is locked (4151)", "unlock it: ALTER USER ... ACCOUNT UNLOCK"),
    1049: _rejected(
        "the database does not exist (1049)",
        "create it (CREATE DATABASE ... CHARACTER SET utf8mb4) or fix its name in the URL",
    ),
    1044: _rejected(
        "the user may not use this database (1044)",
        "GRANT the user ALL (or SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX) on it",
    ),
    1142: _rejected(
        "the user lacks a privilege on a table (1142)",
        "GRANT the user SELECT, INSERT, UPDATE, DELETE (and CREATE, ALTER, INDEX) on the database",
    ),
    1143: _rejected(
        "the user lacks a privilege on a column (1143)",
        "GRANT the user SELECT, INSERT, UPDATE, DELETE on the omnisession tables",
    ),
    1227: _rejected("the user lacks a privilege (1227)", "GRANT the missing privilege"),
    1146: _MISSING_TABLE,
    1153: Failure(
        EntryTooLarge,
        "an entry (or this write's batch) is over the server's max_allowed_packet (1153); "
        "nothing was written",
        "store smaller entries, or raise max_allowed_packet on the server (SET GLOBAL "
        "max_allowed_packet = 1073741824, and max_allowed_packet = 1G under [mysqld] in its "
        "configuration)",
        broken=True,
    ),
    1406: Failure(
        EntryTooLarge,
        "a value is longer than its column allows (1406; a state key name is limited to 64 KiB)",
        "store shorter keys or smaller entries",
    ),
    1366: _rejected(
        "a table cannot store these characters (1366: its character set is not utf8mb4)",
        "convert the table: ALTER TABLE ... CONVERT TO CHARACTER SET utf8mb4 COLLATE "
        "utf8mb4_bin (new omnisession tables are created that way)",
    ),
    1264: _rejected(
        "a number is out of the range the database stores (1264; sequence numbers end at "
        "2**63 - 1)",
        "this session has no sequence number left: start a new one",
    ),
    1290: _rejected(
        "the server only accepts reads (1290: --read-only)", "point the URL at the primary"
    ),
    1836: _rejected("the server only accepts reads (1836)", "point the URL at the primary"),
    1040: _unavailable(
        "the server has too many connections (1040)",
        "retry later; raise the server's max_connections or lower pool_size",
    ),
    1205: _unavailable("a lock wait timed out (1205)", "retry", retry=Retry.AGAIN),
    1213: _unavailable(
        "the transaction kept deadlocking with concurrent writers (1213)",
        "retry",
        retry=Retry.AGAIN,
    ),
    1053: _unavailable("the server is shutting down (1053)", _UNREACHABLE_FIX, **_LOST),
    1927: _unavailable("the connection was killed (1927)", _UNREACHABLE_FIX, **_LOST),
    4031: _unavailable("the server closed the idle connection (4031)", _UNREACHABLE_FIX, **_LOST),
    2026: _rejected(
        "the TLS handshake failed (2026)", "check the ssl options and the certificates"
    ),
}
for _code in (2002, 2003, 2005, 2006, 2013, 2014, 2055):
    _MYSQL[_code] = _MYSQL_LOST


def _mysql(exc: BaseException) -> Failure | None:
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    if code in _MYSQL:
        return _MYSQL[code]
    name = type(exc).__name__
    text = str(exc)
    if "Packet sequence number wrong" in text or (
        name == "InterfaceError" and ("Not connected" in text or code == 0)
    ):
        return _MYSQL_LOST
    if code is not None and 2000 <= code < 3000:  # client-side errors: the connection
        return _MYSQL_LOST
    if code is not None:
        return _rejected(f"the server rejected a statement ({code})", _REPORT)
    return None


def driver_errors(driver: str) -> tuple[type[BaseException], ...]:
    """Every exception class a statement through ``driver`` (or SQLAlchemy) can raise
    for a database failure: what the transaction runner catches and describes."""
    errors: tuple[type[BaseException], ...] = (
        sa.exc.SQLAlchemyError,
        sqlite3.Error,
        OSError,
        TimeoutError,
        StatementTooLarge,
    )
    if driver == "asyncpg":
        import asyncpg  # type: ignore[import-untyped,unused-ignore]

        errors += (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
    elif driver == "asyncmy":
        import asyncmy.errors  # type: ignore[import-untyped,unused-ignore]

        errors += (asyncmy.errors.MySQLError,)
    return errors


def integrity_errors(driver: str) -> tuple[type[BaseException], ...]:
    """What a duplicate key raises, whichever layer sent the statement."""
    errors: tuple[type[BaseException], ...] = (sa.exc.IntegrityError, sqlite3.IntegrityError)
    if driver == "asyncpg":
        import asyncpg  # type: ignore[import-untyped,unused-ignore]

        errors += (asyncpg.IntegrityConstraintViolationError,)
    elif driver == "asyncmy":
        import asyncmy.errors  # type: ignore[import-untyped,unused-ignore]

        errors += (asyncmy.errors.IntegrityError,)
    return errors
