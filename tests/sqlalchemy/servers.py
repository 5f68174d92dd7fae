"""Private PostgreSQL and MariaDB servers for fault tests, never the shared ones.

Each runs from a temporary directory on a free loopback port, so a test can
freeze the whole server (``SIGSTOP`` to the server process and every process
it started: PostgreSQL's postmaster and backends) and resume it
(``SIGCONT``), as a stalled host or a network partition would. Everything is
removed afterwards.

PostgreSQL runs as the ``postgres`` system user (it refuses root) with
password authentication (scram-sha-256), so wrong-password errors are real.
MariaDB runs with ``--skip-grant-tables`` (any login works): it is used for
stalls only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

PASSWORD = "omni-secret"
_READY_WITHIN = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A running private server: its URL and its process group."""

    url: str
    process: subprocess.Popen[bytes]
    log: str

    def freeze(self) -> None:
        """Stop the server and every process it started (PostgreSQL's backends each
        lead a process group of their own)."""
        os.kill(self.process.pid, signal.SIGSTOP)  # first, so it starts no other
        for pid in _children(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in _children(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        os.kill(self.process.pid, signal.SIGCONT)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


def _children(parent: int) -> list[int]:
    """The pids of the processes whose parent is ``parent``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:  # the field after the state is the parent pid
            found.append(int(entry))
    return found


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: str) -> None:
    """Poll the port until the server accepts connections (startup, not a race)."""
    deadline = time.monotonic() + _READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited at startup:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not start within {_READY_WITHIN} s:\n{_tail(log)}")


def _tail(log: str) -> str:
    with contextlib.suppress(OSError), open(log, encoding="utf-8", errors="replace") as file:
        return file.read()[-3000:]
    return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    for pid in [*_children(process.pid), process.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid in _children(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()


def postgres_available() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    """A private PostgreSQL: superuser ``omni`` with :data:`PASSWORD`, database ``postgres``."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    root = tempfile.mkdtemp(prefix="omnisession-pg-")
    data, log = os.path.join(root, "data"), os.path.join(root, "server.log")
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        owner = pwd.getpwnam(user)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    process: subprocess.Popen[bytes] | None = None
    try:
        password_file = os.path.join(root, "password")
        with open(password_file, "w", encoding="utf-8") as file:
            file.write(PASSWORD)
        if user is not None:
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            [
                f"{binaries}/initdb",
                "-D",
                data,
                "-U",
                "omni",
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            user=user,
            check=True,
            capture_output=True,
        )
        port = free_port()
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [
                    f"{binaries}/postgres",
                    "-D",
                    data,
                    "-p",
                    str(port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={root}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=40",
                    "-c",
                    "shared_buffers=16MB",
                ],
                user=user,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_until_listening(port, process, log)
        yield Server(f"postgresql://omni:{PASSWORD}@127.0.0.1:{port}/postgres", process, log)
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def mariadb_available() -> bool:
    return shutil.which("mariadb-install-db") is not None and os.path.exists("/usr/sbin/mariadbd")


@contextlib.contextmanager
def mariadb_server() -> Iterator[Server]:
    """A private MariaDB with ``--skip-grant-tables``; database ``test``."""
    root = tempfile.mkdtemp(prefix="omnisession-mariadb-")
    data, log = os.path.join(root, "data"), os.path.join(root, "server.log")
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
                *as_root,
            ],
            check=True,
            capture_output=True,
        )
        os.mkdir(os.path.join(data, "test"))  # the database `test`
        port = free_port()
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [
                    "/usr/sbin/mariadbd",
                    "--no-defaults",
                    f"--datadir={data}",
                    f"--socket={root}/mariadb.sock",
                    f"--pid-file={root}/mariadb.pid",
                    f"--port={port}",
                    "--bind-address=127.0.0.1",
                    "--skip-grant-tables",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=16M",
                    "--innodb-log-file-size=8M",
                    "--skip-innodb-doublewrite",
                    *as_root,
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_until_listening(port, process, log)
        yield Server(f"mysql://root@127.0.0.1:{port}/test", process, log)
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)
