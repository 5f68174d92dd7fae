"""A SQLite file made ready for concurrent use before any pooled connection opens it.

The store runs SQLite in WAL mode. Switching a database into WAL takes a lock
that SQLite does not wait for under the busy handler: two connections (two
event loops, two processes) opening a file that does not exist yet and both
switching it fail with "database is locked" a few times in a hundred, however
long ``busy_timeout`` is. So the switch never races:

* a new file is created as a WAL database under a temporary name next to it,
  then linked into place with ``os.link``, which fails if the name exists: of
  concurrent openers exactly one file wins, already in WAL mode, and the
  others use it;
* an existing file that is not in WAL mode (created by another tool) is
  switched once, here, retrying while another connection holds the lock, for
  up to ``busy_timeout``, as the busy handler would.

Connections then only read the mode (:mod:`omnisession_sqlalchemy.engines`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid

__all__ = ["prepare"]

_FIRST_WAIT = 0.005
_LONGEST_WAIT = 0.1


def prepare(path: str, busy_timeout: float) -> None:
    """Make ``path`` a WAL database if it is not one yet (create it if missing)."""
    if not os.path.exists(path):
        _create(path)
    _switch_to_wal(path, busy_timeout)


def _create(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.new")
    try:
        # the mode SQLite itself creates files with (0o666 minus the umask)
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError:
        return  # directory missing or not writable: SQLite reports it when it opens the path
    try:
        connection = sqlite3.connect(temporary)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
        finally:
            connection.close()
        with contextlib.suppress(FileExistsError):  # another opener linked its file first
            os.link(temporary, path)
    except OSError:
        pass  # no hard links here (some network or FAT file systems): SQLite creates it
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _switch_to_wal(path: str, busy_timeout: float) -> None:
    try:
        connection = sqlite3.connect(path, timeout=busy_timeout)
    except sqlite3.Error:
        return  # the store's own connection reports why, through the one error mapping
    deadline = time.monotonic() + busy_timeout
    wait = _FIRST_WAIT
    try:
        while True:
            try:
                mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() == "wal":
                    return
                connection.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                busy = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (5, 6)
                if not busy or time.monotonic() >= deadline:
                    return  # reported by the store's own connection
                time.sleep(wait)
                wait = min(wait * 2, _LONGEST_WAIT)
            except sqlite3.Error:
                return
    finally:
        connection.close()
